//! What the benchmarks start from: a PostgreSQL database of their own at
//! `TEST_DATABASE_URL`, with the public schema and the seeded demo business
//! (Acme Plumbing), dropped again at the end.
// Each benchmark is its own crate and uses only part of this.
#![allow(dead_code)]

use sea_orm::{ConnectionTrait, DatabaseConnection};
use store::config::Settings;

pub struct BenchDatabase {
    /// The server's maintenance database, which creates and drops this one.
    pub admin: DatabaseConnection,
    pub db: DatabaseConnection,
    pub url: String,
    /// Development settings pointing at this database and `REDIS_URL`.
    pub settings: Settings,
    name: String,
}

impl BenchDatabase {
    /// A fresh database named after the benchmark and this process, seeded; `pool` connections.
    pub async fn seeded(tag: &str, pool: u32) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let admin_url =
            std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let redis_url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
        let name = format!("steward_bench_{tag}_{}", std::process::id());
        let admin = store::db::connect(&admin_url, 1).await.expect("PostgreSQL at TEST_DATABASE_URL");
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
        let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
        let db = store::db::connect(&url, pool).await.unwrap();
        migrations::migrate_public(&db).await.unwrap();
        let mut settings = Settings::for_development(url.clone(), redis_url);
        settings.redis_prefix = format!("steward_bench_{tag}_{}", std::process::id());
        store::seed::seed_demo(&db, &settings).await.unwrap();
        BenchDatabase { admin, db, url, settings, name }
    }

    /// Closes the pool, drops the database and forgets the benchmark's Redis keys.
    pub async fn drop(self) {
        self.db.close().await.ok();
        store::jobs::forget_prefix(&self.settings.redis_url, &self.settings.redis_prefix).await.ok();
        self.admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name)).await.ok();
    }
}

/// Starts the server on a free port; returns its address, which `settings` now names as public.
pub async fn serve(settings: &mut Settings) -> String {
    settings.bind = "127.0.0.1:0".into();
    let app = server::startup::Application::build(settings.clone()).await.unwrap();
    settings.public_url.set_port(Some(app.port())).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    base
}

/// Signs in the demo business's operations member; the answer carries the session cookie.
pub async fn sign_in_operations(http: &reqwest::Client, base: &str) -> reqwest::Response {
    let res = http
        .post(format!("{base}/api/sign_in"))
        .header("origin", base)
        .header("accept", "application/json")
        .form(&[
            ("slug", "acme-plumbing"),
            ("email", "ops@acme-plumbing.test"),
            ("password", store::seed::DEMO_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "sign-in: {}", res.status());
    res
}
