//! Test support: every test gets its own PostgreSQL database (cloned from a
//! migrated template), its own Redis key prefix, a real server on a free
//! port, and a real HTTP client. Nothing is mocked.

#![allow(dead_code)]

pub mod processes;

use reqwest::{header, redirect::Policy, Response, StatusCode};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use server::{smtp_capture, startup::Application};
use std::time::Duration;
use store::config::Settings;

pub const DEMO_PASSWORD: &str = store::seed::DEMO_PASSWORD;
pub const DEMO: &str = store::seed::DEMO_SLUG;

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn url_for_database(name: &str) -> String {
    let admin = admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{name}")
}

/// The template's name changes whenever the set of migrations does, so a
/// stale template is never used.
fn template_name() -> String {
    let names = migrations::migration_names();
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in names.join(",").bytes() {
        hash = (hash ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!("steward_test_template_{hash:016x}")
}

/// Creates the migrated template once, safely across parallel test processes.
async fn ensure_template() -> String {
    let name = template_name();
    let admin = store::db::connect(&admin_url(), 2).await.expect("connect to the test PostgreSQL server");
    let exists = |admin: &DatabaseConnection, name: String| {
        let admin = admin.clone();
        async move {
            admin
                .query_one_raw(sea_orm::Statement::from_sql_and_values(
                    sea_orm::DbBackend::Postgres,
                    "SELECT 1 AS one FROM pg_database WHERE datname = $1",
                    [name.into()],
                ))
                .await
                .unwrap()
                .is_some()
        }
    };
    if exists(&admin, name.clone()).await {
        return name;
    }
    // A session-level advisory lock on one connection of its own.
    let lock = store::db::connect(&admin_url(), 1).await.unwrap();
    lock.execute_unprepared("SELECT pg_advisory_lock(hashtext('steward-test-template'))").await.unwrap();
    if !exists(&admin, name.clone()).await {
        let building = format!("{name}_building");
        admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)")).await.unwrap();
        admin.execute_unprepared(&format!("CREATE DATABASE \"{building}\"")).await.unwrap();
        let db = store::db::connect(&url_for_database(&building), 2).await.unwrap();
        migrations::migrate_public(&db).await.expect("migrate the template");
        db.close().await.unwrap();
        admin.execute_unprepared(&format!("ALTER DATABASE \"{building}\" RENAME TO \"{name}\"")).await.unwrap();
    }
    lock.execute_unprepared("SELECT pg_advisory_unlock(hashtext('steward-test-template'))").await.unwrap();
    name
}

/// A database of its own for one test, dropped when the test ends.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let template = ensure_template().await;
        let name = format!("steward_test_{}", uuid::Uuid::new_v4().simple());
        let admin = store::db::connect(&admin_url(), 1).await.unwrap();
        admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\"")).await.unwrap();
        admin.close().await.ok();
        let url = url_for_database(&name);
        Self { name, url }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a small runtime of its own does the I/O.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok(admin) = store::db::connect(&admin_url(), 1).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).await;
                }
            });
        })
        .join();
    }
}

/// A test's Redis keys are forgotten with it: the machine's Redis is shared by every test run.
impl Drop for TestApp {
    fn drop(&mut self) {
        // A worker still running stops first, so that it writes nothing after. It gets three
        // seconds: this thread is the test's runtime, so a worker waiting on something the test
        // serves on it (the mailbox, a wiremock) cannot finish meanwhile, and its last keys stay.
        if let Some(stop) = self.stop_worker.take() {
            let _ = stop.send(());
            let deadline = std::time::Instant::now() + Duration::from_secs(3);
            while self.worker.as_ref().is_some_and(|w| !w.is_finished()) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let (url, prefix) = (self.settings.redis_url.clone(), self.settings.redis_prefix.clone());
        // Drop runs outside async; a small runtime of its own does the I/O.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            // A Redis the test paused or stopped is not waited for.
            rt.block_on(async {
                tokio::time::timeout(Duration::from_secs(5), store::jobs::forget_prefix(&url, &prefix)).await
            })
        })
        .join();
    }
}

pub struct TestApp {
    pub base: String,
    pub db: DatabaseConnection,
    pub settings: Settings,
    pub mailbox: smtp_capture::Mailbox,
    stop_worker: Option<tokio::sync::oneshot::Sender<()>>,
    worker: Option<std::thread::JoinHandle<anyhow::Result<()>>>,
    /// The lead workflow's signing secret the seed printed.
    pub demo_webhook_secret: String,
    _database: Option<TestDatabase>,
}

/// Changes to the server's settings before it starts.
pub type Tune = Box<dyn FnOnce(&mut Settings) + Send>;

#[derive(Default)]
pub struct Options {
    pub worker: bool,
    /// A PostgreSQL database of the test's own (empty), instead of a clone of the template.
    pub database_url: Option<String>,
    /// A Redis of the test's own.
    pub redis_url: Option<String>,
    /// Changes to the server's settings before it starts.
    pub tune: Option<Tune>,
}

impl TestApp {
    /// A running server on a fresh, seeded database (Acme Plumbing with one
    /// member per role), without a worker.
    pub async fn spawn() -> Self {
        Self::spawn_with(Options::default()).await
    }

    /// The same, with a worker sending email to a local SMTP capture server.
    pub async fn spawn_with_worker() -> Self {
        Self::spawn_with(Options { worker: true, ..Default::default() }).await
    }

    pub async fn spawn_with(options: Options) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let _ = server::telemetry::init("warn");
        let (database, database_url) = match &options.database_url {
            Some(url) => (None, url.clone()),
            None => {
                let database = TestDatabase::create().await;
                let url = database.url.clone();
                (Some(database), url)
            }
        };
        let (smtp_port, mailbox) = smtp_capture::start("127.0.0.1:0", None).await.unwrap();
        let mut settings =
            Settings::for_development(database_url.clone(), options.redis_url.clone().unwrap_or_else(redis_url));
        settings.bind = "127.0.0.1:0".into();
        settings.smtp_url = format!("smtp://127.0.0.1:{smtp_port}");
        settings.redis_prefix = format!("steward_test_{}", uuid::Uuid::new_v4().simple());
        // The fakes of outside services (wiremock) listen on loopback: the operator's allow-list lets workflows call them.
        settings.outbound_allow = vec!["127.0.0.1".into()];
        let db = store::db::connect(&database_url, 5).await.unwrap();
        if options.database_url.is_some() {
            migrations::migrate_public(&db).await.expect("migrate the test's own database");
        }
        if let Some(tune) = options.tune {
            tune(&mut settings);
        }
        let demo =
            store::seed::seed_demo(&db, &settings).await.expect("seed the demo business").expect("a fresh database");
        let app = Application::build(settings.clone()).await.expect("build the server");
        let port = app.port();
        settings.public_url.set_port(Some(port)).unwrap();
        tokio::spawn(app.run_until_stopped());
        let mut app = TestApp {
            base: format!("http://127.0.0.1:{port}"),
            db,
            settings,
            mailbox,
            stop_worker: None,
            worker: None,
            demo_webhook_secret: demo.lead_webhook_secret,
            _database: database,
        };
        if options.worker {
            app.start_worker();
        }
        app
    }

    /// Starts a worker on a runtime of its own, on its own thread, as the
    /// separate process it is in production.
    pub fn start_worker(&mut self) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let settings = self.settings.clone();
        let handle = std::thread::spawn(move || {
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?.block_on(worker::run(
                settings,
                async move {
                    let _ = rx.await;
                },
            ))
        });
        self.stop_worker = Some(tx);
        self.worker = Some(handle);
    }

    /// A browser-like client with its own cookie jar, sending the Origin a
    /// Steward page would, and not following redirects (tests look at them).
    pub fn client(&self) -> Client {
        Client {
            http: reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap(),
            base: self.base.clone(),
            origin: Some(self.base.clone()),
            mailbox: self.mailbox.clone(),
        }
    }

    /// A client that presents exactly this session token, as a stolen or
    /// remembered cookie would.
    pub fn client_with_token(&self, token: &str) -> Client {
        let mut headers = header::HeaderMap::new();
        headers.insert(header::COOKIE, header::HeaderValue::from_str(&format!("steward_session={token}")).unwrap());
        Client {
            http: reqwest::Client::builder().default_headers(headers).redirect(Policy::none()).build().unwrap(),
            base: self.base.clone(),
            origin: Some(self.base.clone()),
            mailbox: self.mailbox.clone(),
        }
    }

    /// A client already signed in to `slug` as `email`.
    pub async fn signed_in(&self, slug: &str, email: &str, password: &str) -> Client {
        let client = self.client();
        let res = client.sign_in(slug, email, password).await;
        assert_eq!(res.status(), StatusCode::OK, "sign-in of {email} failed: {}", res.text().await.unwrap_or_default());
        client
    }

    /// A client signed in to the demo business with the member of `role`.
    pub async fn demo_member(&self, role: engine::Role) -> Client {
        let email = store::seed::DEMO_USERS.iter().find(|(_, r)| *r == role).unwrap().0;
        self.signed_in(DEMO, email, DEMO_PASSWORD).await
    }

    /// Stops the worker the way SIGTERM does and waits for it to finish.
    pub async fn stop_worker(&mut self) -> anyhow::Result<()> {
        if let Some(tx) = self.stop_worker.take() {
            let _ = tx.send(());
        }
        match self.worker.take() {
            Some(handle) => {
                let joined = tokio::task::spawn_blocking(move || handle.join());
                tokio::time::timeout(Duration::from_secs(30), joined)
                    .await??
                    .map_err(|_| anyhow::anyhow!("the worker panicked"))?
            }
            None => Ok(()),
        }
    }
}

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub origin: Option<String>,
    /// Where the server's email arrives (sign-up codes).
    pub mailbox: smtp_capture::Mailbox,
}

impl Client {
    pub fn without_origin(mut self) -> Self {
        self.origin = None;
        self
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(format!("{}{}", self.base, path)).send().await.unwrap()
    }

    /// Calls a server function the way the hydrated page does.
    pub async fn call(&self, endpoint: &str, form: &[(&str, &str)]) -> Response {
        let mut req = self
            .http
            .post(format!("{}/api/{}", self.base, endpoint))
            .header(header::ACCEPT, "application/json")
            .form(form);
        if let Some(origin) = &self.origin {
            req = req.header(header::ORIGIN, origin);
        }
        req.send().await.unwrap()
    }

    pub async fn sign_in(&self, slug: &str, email: &str, password: &str) -> Response {
        self.call("sign_in", &[("slug", slug), ("email", email), ("password", password)]).await
    }

    /// Opens a business as a person does: the form, then the code from the
    /// email. A refused form is answered as it was; else the code's answer.
    pub async fn sign_up(&self, name: &str, slug: &str, email: &str, password: &str) -> Response {
        let res = self.start_sign_up(name, slug, email, password).await;
        if res.status() != StatusCode::OK {
            return res;
        }
        let code = self.sign_up_code(email).await;
        self.confirm_sign_up(email, &code).await
    }

    /// The sign-up form alone.
    pub async fn start_sign_up(&self, name: &str, slug: &str, email: &str, password: &str) -> Response {
        self.call("sign_up", &[("business_name", name), ("slug", slug), ("email", email), ("password", password)]).await
    }

    pub async fn confirm_sign_up(&self, email: &str, code: &str) -> Response {
        self.call("confirm_sign_up", &[("email", email), ("code", code)]).await
    }

    /// The code in the latest sign-up email to `email` (sent before the form's answer).
    pub async fn sign_up_code(&self, email: &str) -> String {
        let mail = self.mailbox.latest_to(email).await.unwrap_or_else(|| panic!("no sign-up email to {email}"));
        let subject = mail.subject().unwrap_or_default();
        subject
            .split_whitespace()
            .next()
            .filter(|c| c.len() == 6)
            .unwrap_or_else(|| panic!("no code in {subject:?}"))
            .to_owned()
    }
}

/// The session token a response sets in its cookie.
pub fn session_token(res: &Response) -> Option<String> {
    res.headers().get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|c| {
        c.strip_prefix("steward_session=")
            .map(|rest| rest.split(';').next().unwrap_or("").to_owned())
            .filter(|t| !t.is_empty())
    })
}

/// The error body of a server function refusal.
pub async fn error_body(res: Response) -> serde_json::Value {
    let text = res.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("expected a JSON error body, got {text}"))
}

/// The fields named in a 422 `Invalid` error body.
pub async fn invalid_fields(res: Response) -> Vec<(String, String)> {
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = error_body(res).await;
    body["Invalid"]
        .as_array()
        .unwrap_or_else(|| panic!("expected field errors, got {body}"))
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_owned(), e["message"].as_str().unwrap().to_owned()))
        .collect()
}

pub const LEAD_WORKFLOW: &str = "lead-intake-qualification";

/// The fixture events every issue shares.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/../engine/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))).unwrap()
}

/// A good lead, updated just now (the lead contract refuses stale records).
pub fn fresh_lead() -> serde_json::Value {
    let mut lead = fixture("lead.website_form.json");
    lead["last_updated"] = serde_json::json!(chrono::Utc::now().to_rfc3339());
    lead
}

impl TestApp {
    /// A member of the demo business, as the store sees them.
    pub async fn demo_current_member(&self, role: engine::Role) -> store::auth::CurrentMember {
        let email = store::seed::DEMO_USERS.iter().find(|(_, r)| *r == role).unwrap().0;
        store::auth::member_by_email(&self.db, DEMO, email).await.unwrap()
    }

    /// Saves `yaml` as a new version of its workflow and publishes it, as the
    /// demo's engineer (with the owner's approval when it needs four eyes); its name and number.
    pub async fn publish_workflow(&self, yaml: &str) -> (String, i32) {
        let engineer = self.demo_current_member(engine::Role::Engineer).await;
        let (name, number) = store::workflows::save_version(&self.db, &engineer, yaml, "test")
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        if store::workflows::publish(&self.db, &engineer, &name, number, "go", None).await.is_err() {
            let owner = self.demo_current_member(engine::Role::Owner).await;
            store::workflows::approve(&self.db, &owner, &name, number, "ok")
                .await
                .map_err(|e| format!("{e:?}"))
                .unwrap();
            store::workflows::publish(&self.db, &engineer, &name, number, "go", None)
                .await
                .map_err(|e| format!("{e:?}"))
                .unwrap();
        }
        (name, number)
    }

    /// Adds `model` to the demo business and puts it behind `tier` (small or premium), as its owner.
    pub async fn use_model(&self, tier: &str, model: store::models::NewModel) {
        let owner = self.demo_current_member(engine::Role::Owner).await;
        let id =
            store::models::add(&self.db, &self.settings, &owner, &model).await.map_err(|e| format!("{e:?}")).unwrap();
        store::models::set_tier(&self.db, &owner, tier, id).await.map_err(|e| format!("{e:?}")).unwrap();
    }

    /// Creates (or rotates) a workflow's signing secret and returns it.
    pub async fn webhook_secret(&self, workflow: &str) -> String {
        let owner = self.demo_current_member(engine::Role::Engineer).await;
        store::webhook_secrets::rotate(&self.db, &self.settings, &owner, workflow, 24)
            .await
            .unwrap()
            .expect("the workflow exists")
    }

    /// Posts `body` to a workflow's webhook, signed with `secret` at `timestamp`.
    #[allow(clippy::too_many_arguments)] // every part of a signed delivery is a test's to vary
    pub async fn signed_post(
        &self,
        slug: &str,
        workflow: &str,
        secret: &str,
        id: &str,
        timestamp: i64,
        body: &str,
        extra: &[(&str, &str)],
    ) -> Response {
        let signature = store::webhook_secrets::sign(secret, id, timestamp, body.as_bytes()).unwrap();
        let content_type = extra
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| *v)
            .unwrap_or("application/json");
        let mut req = reqwest::Client::new()
            .post(format!("{}/hooks/{slug}/{workflow}", self.base))
            .header("content-type", content_type)
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body.to_owned());
        for (k, v) in extra.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("content-type")) {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    /// Sends a lead to the demo's lead workflow, signed now, and returns the run id.
    pub async fn send_lead(&self, secret: &str, lead: &serde_json::Value) -> uuid::Uuid {
        send_lead_to(&self.base, secret, lead).await
    }

    /// A SQL query in the demo business's schema that answers one column: its value in the first row.
    pub async fn demo_value<T: sea_orm::TryGetable>(&self, sql: &str, values: Vec<sea_orm::Value>) -> Option<T> {
        let txn = store::db::tenant_txn(&self.db, "t_acme_plumbing").await.unwrap();
        let row = txn.query_one_raw(store::db::stmt(sql, values)).await.unwrap();
        txn.commit().await.unwrap();
        row.map(|r| {
            let columns = r.column_names();
            assert_eq!(columns.len(), 1, "demo_value reads one column: {sql}");
            r.try_get::<T>("", &columns[0]).unwrap()
        })
    }

    /// A SQL query in the demo business's schema whose column is named `value`: every row's value.
    pub async fn demo_values<T: sea_orm::TryGetable>(&self, sql: &str, values: Vec<sea_orm::Value>) -> Vec<T> {
        let txn = store::db::tenant_txn(&self.db, "t_acme_plumbing").await.unwrap();
        let rows = store::db::scalars(&txn, store::db::stmt(sql, values)).await.unwrap();
        txn.commit().await.unwrap();
        rows
    }

    /// Waits (up to 30 s) until the run reaches one of `statuses`; returns the status.
    pub async fn wait_for_run(&self, run_id: uuid::Uuid, statuses: &[&str]) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let status: String = self
                .demo_value("SELECT status FROM runs WHERE id = $1", vec![run_id.into()])
                .await
                .expect("the run exists");
            if statuses.contains(&status.as_str()) {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let error: Option<String> =
                    self.demo_value("SELECT error FROM runs WHERE id = $1", vec![run_id.into()]).await;
                panic!("run {run_id} is still {status} (error: {error:?}); wanted {statuses:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl TestApp {
    /// Adds a member to the demo business and returns a client signed in as them.
    pub async fn add_demo_member(&self, email: &str, role: engine::Role) -> Client {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        let tenant = store::tenants::find_by_slug(&self.db, DEMO).await.unwrap().unwrap();
        let user = store::entities::user::ActiveModel {
            id: Set(uuid::Uuid::new_v4()),
            email: Set(email.into()),
            password_hash: Set(store::password::hash(DEMO_PASSWORD)),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(&self.db)
        .await
        .unwrap();
        store::entities::membership::ActiveModel {
            user_id: Set(user.id),
            tenant_id: Set(tenant.id),
            role: Set(role.as_str().into()),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(&self.db)
        .await
        .unwrap();
        self.signed_in(DEMO, email, DEMO_PASSWORD).await
    }
}

/// Sends a lead to the demo's lead workflow of the server at `base` (this
/// test's, or a server process of its own), signed now; returns the run id.
pub async fn send_lead_to(base: &str, secret: &str, lead: &serde_json::Value) -> uuid::Uuid {
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let body = lead.to_string();
    let ts = chrono::Utc::now().timestamp();
    let signature = store::webhook_secrets::sign(secret, &id, ts, body.as_bytes()).unwrap();
    let res = reqwest::Client::new()
        .post(format!("{base}/hooks/{DEMO}/{LEAD_WORKFLOW}"))
        .header("content-type", "application/json")
        .header("webhook-id", &id)
        .header("webhook-timestamp", ts.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap_or_default());
    let body: serde_json::Value = res.json().await.unwrap();
    body["run_id"].as_str().unwrap().parse().unwrap()
}

/// A query outside any tenant (`SELECT … AS value`): its value in the first row.
pub async fn scalar<T: sea_orm::TryGetable>(db: &DatabaseConnection, sql: &str) -> Option<T> {
    store::db::scalar(db, store::db::stmt(sql, vec![])).await.unwrap()
}
