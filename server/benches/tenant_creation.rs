//! How long opening a business takes, and which way of creating the tenant
//! schema is faster: applying the tenant migrations (what Steward does) or
//! cloning a migrated template schema table by table.
//!
//! `cargo bench -p server --bench tenant_creation` (needs PostgreSQL at
//! TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/postgres).
//! Prints figures; asserts nothing about time.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};
use std::time::{Duration, Instant};

const ROUNDS: usize = 40;

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mean = samples.iter().map(|d| ms(*d)).sum::<f64>() / samples.len() as f64;
    println!(
        "{label:<44} n={:<3} mean {:>7.2} ms  median {:>7.2} ms  p95 {:>7.2} ms",
        samples.len(),
        mean,
        ms(samples[samples.len() / 2]),
        ms(samples[(samples.len() * 95 / 100).min(samples.len() - 1)])
    );
}

async fn tables_of(db: &DatabaseConnection, schema: &str) -> Vec<String> {
    db.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT table_name::text AS table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
        [schema.into()],
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| r.try_get::<String>("", "table_name").unwrap())
    .collect()
}

#[tokio::main]
async fn main() {
    let admin_url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("steward_bench_{}", std::process::id());
    let admin = store::db::connect(&admin_url, 1).await.expect("PostgreSQL at TEST_DATABASE_URL");
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\"")).await.unwrap();
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let db = store::db::connect(&url, 4).await.unwrap();
    migrations::migrate_public(&db).await.unwrap();

    // 1. The whole sign-up: rows, argon2id hash, schema and migrations, one transaction.
    let mut signup = Vec::new();
    for i in 0..ROUNDS {
        let form = engine::signup::SignupForm {
            business_name: format!("Bench {i}"),
            slug: format!("bench-{i}"),
            email: format!("owner{i}@bench.example"),
            password: "copper kettle harbor 42".into(),
        };
        let valid = form.validate().unwrap();
        let started = Instant::now();
        store::tenants::create_business(&db, &valid).await.unwrap();
        signup.push(started.elapsed());
    }

    // 2. Only the schema, by applying the tenant migrations (Steward's path).
    let mut by_migrations = Vec::new();
    for i in 0..ROUNDS {
        let started = Instant::now();
        let txn = db.begin().await.unwrap();
        migrations::create_tenant_schema(&txn, &format!("t_mig_{i}")).await.unwrap();
        txn.commit().await.unwrap();
        by_migrations.push(started.elapsed());
    }

    // 3. Only the schema, by cloning a migrated template table by table.
    let txn = db.begin().await.unwrap();
    migrations::create_tenant_schema(&txn, "t_template").await.unwrap();
    txn.commit().await.unwrap();
    let tables = tables_of(&db, "t_template").await;
    let mut by_clone = Vec::new();
    for i in 0..ROUNDS {
        let schema = format!("t_clone_{i}");
        let started = Instant::now();
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared(&format!("CREATE SCHEMA {schema}")).await.unwrap();
        for table in &tables {
            txn.execute_unprepared(&format!("CREATE TABLE {schema}.{table} (LIKE t_template.{table} INCLUDING ALL)"))
                .await
                .unwrap();
        }
        txn.execute_unprepared(&format!(
            "INSERT INTO {schema}.tenant_migrations SELECT * FROM t_template.tenant_migrations"
        ))
        .await
        .unwrap();
        txn.commit().await.unwrap();
        by_clone.push(started.elapsed());
    }

    println!("tenant creation ({} tenant tables)", tables.len());
    summary("sign-up: rows + argon2id + schema (migrations)", signup);
    summary("schema only, applying tenant migrations", by_migrations);
    summary("schema only, cloning a template schema", by_clone);

    // 4. `steward migrate` over every tenant created above, nothing pending.
    let started = Instant::now();
    let report = migrations::migrate_all(&db, 4).await.unwrap();
    println!(
        "migrate_all over {} tenant schemas (all current), parallelism 4: {:.1} ms",
        report.already_current.len() + report.upgraded.len(),
        started.elapsed().as_secs_f64() * 1000.0
    );

    db.close().await.ok();
    admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await.unwrap();
}
