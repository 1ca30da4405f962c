//! 1,000 businesses on one PostgreSQL, in one run:
//!
//! (a) webhook and page latency (p50, p95) with 1 business and with 1,000:
//!     once in one database before its 999 sign-ups and after them, and
//!     again after them against a second database that keeps its single
//!     business (same PostgreSQL, same process), the two interleaved a few
//!     requests at a time, so that the machine's drift and stalls reach
//!     both sides of the ratio alike;
//! (b) opening 999 businesses (each: rows, argon2id hash, and its schema
//!     with every tenant migration, in one transaction): every other one
//!     from a spare schema prepared just before (untimed, measured apart),
//!     the others building their own;
//! (c) what the worker's periodic jobs (sweeper, review escalations, cost
//!     watch, scorecard check) cost at 1,000 businesses: the first pass,
//!     which visits every business, a steady pass, which visits the
//!     businesses with work, and a pass that also takes a minute's turn
//!     of the rotation that visits every business in 10 minutes;
//! (d) `migrate` over 1,000 schemas that are current, over 1,000 schemas
//!     that lack the newest tenant migration (what an upgrade does), and
//!     over 100 empty schemas that need every tenant migration;
//! (e) the worker's CPU while there is no work, once its first pass over
//!     every business is done.
//!
//! `cargo bench -p server --bench tenants` (PostgreSQL at TEST_DATABASE_URL,
//! Redis at REDIS_URL). Prints figures; asserts nothing about time.

use sea_orm::ConnectionTrait;
use std::sync::Arc;
use std::time::{Duration, Instant};

const BUSINESSES: usize = 1000;
const REQUESTS: usize = 400;

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn p(samples: &mut [Duration], q: f64) -> f64 {
    samples.sort();
    ms(samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)])
}

/// This process's CPU time (user + system), from /proc.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, r)| r.split_whitespace().collect()).unwrap_or_default();
    let ticks: u64 = fields.get(11).and_then(|u| u.parse().ok()).unwrap_or(0)
        + fields.get(12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

struct Door {
    http: reqwest::Client,
    base: String,
    secret: String,
    cookie: String,
    body: Arc<String>,
}

/// Latencies gathered over several rounds.
#[derive(Default)]
struct Samples {
    webhook: Vec<Duration>,
    pages: Vec<Duration>,
}

impl Samples {
    fn line(&mut self) -> ((f64, f64), (f64, f64)) {
        ((p(&mut self.webhook, 0.5), p(&mut self.webhook, 0.95)), (p(&mut self.pages, 0.5), p(&mut self.pages, 0.95)))
    }
}

impl Door {
    /// Serves the seeded business of `bench` on a server of its own, signed in as its operations member.
    async fn open(bench: &support::BenchDatabase, body: Arc<String>) -> (Door, store::config::Settings) {
        let (db, mut settings) = (bench.db.clone(), bench.settings.clone());
        let base = support::serve(&mut settings).await;
        let engineer = store::auth::member_by_email(&db, "acme-plumbing", "engineer@acme-plumbing.test").await.unwrap();
        let secret = store::webhook_secrets::rotate(&db, &settings, &engineer, "lead-intake-qualification", 24)
            .await
            .unwrap()
            .unwrap();
        // Idle connections are dropped before the server's keep-alive (5 s) closes them: a request sent
        // on a connection the server is closing fails (seen once between this bench's phases).
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(16)
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let signed_in = support::sign_in_operations(&http, &base).await;
        let cookie = signed_in
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
            .collect::<Vec<_>>()
            .join("; ");
        (Door { http, base, secret, cookie, body }, settings)
    }

    /// `n` signed webhooks, four at a time; their latencies.
    async fn webhooks(&self, tag: &str, n: usize) -> Vec<Duration> {
        let mut lat = Vec::new();
        for chunk in (0..n).collect::<Vec<_>>().chunks(4) {
            let calls = chunk.iter().map(|i| {
                let id = format!("tenants_{tag}_{i}");
                let ts = chrono::Utc::now().timestamp();
                let sig = store::webhook_secrets::sign(&self.secret, &id, ts, self.body.as_bytes()).unwrap();
                let req = self
                    .http
                    .post(format!("{}/hooks/acme-plumbing/lead-intake-qualification", self.base))
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", sig)
                    .body(self.body.as_str().to_owned());
                async move {
                    let t = Instant::now();
                    let res = req.send().await.unwrap();
                    assert_eq!(res.status().as_u16(), 202);
                    t.elapsed()
                }
            });
            lat.extend(futures::future::join_all(calls).await);
        }
        lat
    }

    /// The Runs page and the dashboard, rendered on the server, `n` times each; their latencies.
    async fn pages(&self, n: usize) -> Vec<Duration> {
        let mut lat = Vec::new();
        for _ in 0..n {
            for path in ["/t/acme-plumbing/runs", "/t/acme-plumbing"] {
                let t = Instant::now();
                let res =
                    self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await.unwrap();
                assert_eq!(res.status().as_u16(), 200);
                res.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
        }
        lat
    }

    /// One round: `REQUESTS` webhooks and 100 of each page, added to `into`.
    async fn round(&self, tag: &str, into: &mut Samples) {
        into.webhook.extend(self.webhooks(tag, REQUESTS).await);
        into.pages.extend(self.pages(100).await);
    }
}

mod support;

#[tokio::main]
async fn main() {
    let bench = support::BenchDatabase::seeded("tenants", 8).await;
    let db = bench.db.clone();
    let mut lead =
        serde_json::from_str::<serde_json::Value>(include_str!("../../engine/tests/fixtures/lead.website_form.json"))
            .unwrap();
    lead["last_updated"] = serde_json::json!(chrono::Utc::now().to_rfc3339());
    let body = Arc::new(lead.to_string());
    let (door, settings) = Door::open(&bench, body.clone()).await;

    println!(
        "Steward with {BUSINESSES} businesses ({} cores)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    door.webhooks("warm", REQUESTS).await;
    let mut before = Samples::default();
    door.round("one", &mut before).await;
    let ((hook1_50, hook1_95), (page1_50, page1_95)) = before.line();

    // Every other sign-up finds a spare schema prepared (as the server
    // prepares them when a sign-up starts); the others build their own.
    let (mut from_spare, mut built, mut prepared) = (Vec::new(), Vec::new(), Vec::new());
    for i in 1..BUSINESSES {
        let form = engine::signup::SignupForm {
            business_name: format!("Business {i}"),
            slug: format!("business-{i:04}"),
            email: format!("owner{i}@business.example"),
            password: "copper kettle harbor 42".into(),
        };
        let valid = form.validate().unwrap();
        let spare = i % 2 == 1;
        if spare {
            let started = Instant::now();
            assert_eq!(migrations::spare::top_up(&db, 1).await.unwrap(), 1);
            prepared.push(started.elapsed());
        }
        let started = Instant::now();
        store::tenants::create_business(&db, &valid).await.unwrap();
        (if spare { &mut from_spare } else { &mut built }).push(started.elapsed());
    }
    assert_eq!(migrations::spare::waiting(&db).await.unwrap(), 0, "every spare was taken");
    let opening = |samples: &mut Vec<Duration>| {
        let slowest = samples.iter().max().copied().unwrap_or_default();
        format!("p50 {:.1} ms  p95 {:.1} ms  slowest {:.1} ms", p(samples, 0.5), p(samples, 0.95), ms(slowest))
    };
    let (spare_line, built_line, prepared_line) =
        (opening(&mut from_spare), opening(&mut built), opening(&mut prepared));

    // Measure the steady state, not the aftermath of 999 sign-ups in a row:
    // their write-ahead log checkpointed and the grown catalog analysed.
    db.execute_unprepared("CHECKPOINT").await.unwrap();
    db.execute_unprepared(
        "VACUUM ANALYZE pg_catalog.pg_class, pg_catalog.pg_attribute, pg_catalog.pg_type, pg_catalog.pg_depend, \
         pg_catalog.pg_index, pg_catalog.pg_constraint, pg_catalog.pg_trigger, pg_catalog.pg_namespace, public.tenants",
    )
    .await
    .unwrap();
    door.webhooks("warm_thousand", REQUESTS).await;
    let mut after = Samples::default();
    door.round("thousand", &mut after).await;
    let ((hook_50, hook_95), (page_50, page_95)) = after.line();

    // The same, against a database that kept its one business, round by round.
    let alone = support::BenchDatabase::seeded("tenants_alone", 8).await;
    let (door_alone, _) = Door::open(&alone, body.clone()).await;
    // As many runs in its business as the other has by now, for the Runs page and the dashboard.
    door_alone.webhooks("warm", 4 * REQUESTS).await;
    door_alone.pages(20).await;
    // Interleaved four webhooks and one visit of each page at a time, the
    // side going first alternating: a stall of the machine (a checkpoint,
    // the disk) lands on both sides alike instead of on one side's round.
    // (Until the twenty-third session: four rounds of 400 webhooks and 200
    // pages a side, whose p95 ratios followed such stalls: 0.93 to 1.59.)
    const ROUNDS: usize = 4;
    let (mut one, mut thousand) = (Samples::default(), Samples::default());
    for turn in 0..ROUNDS * REQUESTS / 4 {
        let mut sides = [(&door_alone, &mut one, "alone"), (&door, &mut thousand, "thousand")];
        if turn % 2 == 1 {
            sides.reverse();
        }
        for (side, into, tag) in sides {
            into.webhook.extend(side.webhooks(&format!("{tag}_{turn}"), 4).await);
            into.pages.extend(side.pages(1).await);
        }
    }
    let ((a_hook_50, a_hook_95), (a_page_50, a_page_95)) = one.line();
    let ((b_hook_50, b_hook_95), (b_page_50, b_page_95)) = thousand.line();

    println!("\n(a) latency, 1 business → {BUSINESSES} businesses (p50 / p95)");
    println!("  one database, before and after its sign-ups ({REQUESTS} webhooks, 200 pages each):");
    println!(
        "  webhook   {hook1_50:>6.2} / {hook1_95:>6.2} ms  →  {hook_50:>6.2} / {hook_95:>6.2} ms   (p95 ratio {:.2})",
        hook_95 / hook1_95
    );
    println!(
        "  pages     {page1_50:>6.2} / {page1_95:>6.2} ms  →  {page_50:>6.2} / {page_95:>6.2} ms   (p95 ratio {:.2})",
        page_95 / page1_95
    );
    println!(
        "  a database of 1 business and the one of {BUSINESSES}, interleaved ({} webhooks, {} pages each):",
        ROUNDS * REQUESTS,
        ROUNDS * 200
    );
    println!(
        "  webhook   {a_hook_50:>6.2} / {a_hook_95:>6.2} ms  →  {b_hook_50:>6.2} / {b_hook_95:>6.2} ms   (p95 ratio {:.2})",
        b_hook_95 / a_hook_95
    );
    println!(
        "  pages     {a_page_50:>6.2} / {a_page_95:>6.2} ms  →  {b_page_50:>6.2} / {b_page_95:>6.2} ms   (p95 ratio {:.2})",
        b_page_95 / a_page_95
    );
    alone.drop().await;
    println!("\n(b) opening a business (sign-up: rows, password hash, schema, migrations), {} of them", BUSINESSES - 1);
    println!("  from a spare schema ({}):   {spare_line}", from_spare.len());
    println!("  building its schema ({}):   {built_line}", built.len());
    println!("  preparing a spare schema, before the sign-up ({}): {prepared_line}", prepared.len());

    // (c) The periodic jobs. A worker's context, no consumers: the jobs are called directly.
    let cx = worker::context::Context::connect(&settings).await.unwrap();
    // Settle what the benchmark itself queued, so only a handful of businesses have work.
    let txn = store::db::tenant_txn(&db, "t_acme_plumbing").await.unwrap();
    txn.execute_unprepared("UPDATE runs SET status = 'cancelled' WHERE status IN ('queued', 'running')").await.unwrap();
    txn.commit().await.unwrap();
    // Each job's pass as if its last one began `since` ago: with the default 10-minute round,
    // none (nearly: at least one business in turn) or a minute's share, a tenth of them.
    let jobs = |cx: worker::context::Context, since: Duration| async move {
        let mut times = Vec::new();
        cx.set_last_passes_ago(since);
        let t = Instant::now();
        worker::sweeper::sweep(&cx).await.unwrap();
        times.push(("sweeper", t.elapsed()));
        cx.set_last_passes_ago(since);
        let t = Instant::now();
        worker::stale_reviews::check(&cx).await.unwrap();
        times.push(("review escalations", t.elapsed()));
        cx.set_last_passes_ago(since);
        let t = Instant::now();
        worker::cost_watch::check(&cx).await.unwrap();
        times.push(("cost watch", t.elapsed()));
        let t = Instant::now();
        worker::scorecards::check(&cx, chrono::Utc::now()).await.unwrap();
        times.push(("scorecard check", t.elapsed()));
        times
    };
    let first = jobs(cx.clone(), Duration::ZERO).await;
    let busy = store::tenants::with_work(&db).await.unwrap().len();
    let steady = jobs(cx.clone(), Duration::ZERO).await;
    let rotating = jobs(cx.clone(), Duration::from_secs(60)).await;
    println!("\n(c) the worker's periodic jobs at {BUSINESSES} businesses ({busy} with work after the first pass)");
    println!(
        "  {:<20} {:>19} {:>18} {:>32}",
        "", "first pass (all)", "busy (+1 in turn)", "busy + a minute's turn (100)"
    );
    for (((job, a), (_, b)), (_, c)) in first.iter().zip(&steady).zip(&rotating) {
        println!("  {job:<20} {:>16.1} ms {:>15.1} ms {:>29.1} ms", ms(*a), ms(*b), ms(*c));
    }
    // The sweeper passes four times a minute, its rotation's share split between them.
    let per_minute: Duration = rotating.iter().map(|(_, d)| *d).sum::<Duration>() + steady[0].1 * 3;
    println!(
        "  per minute, steady (sweeper every 15 s, the rest every minute; each job's rotation over every business \
         in 10 minutes): {:.1} ms (the first pass of a process: {:.1} ms)",
        ms(per_minute),
        ms(first.iter().map(|(_, d)| *d).sum::<Duration>())
    );

    // (d) migrate.
    let t = Instant::now();
    let report = migrations::migrate_all(&db, 4).await.unwrap();
    let current = t.elapsed();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    // An upgrade: take one tenant migration (the busy marks) back out of every schema, then migrate.
    // One schema per statement: in one transaction the 1,000 schemas' locks overflow the lock table.
    let schemas: Vec<String> = db
        .query_all_raw(store::db::stmt("SELECT schema_name FROM public.tenants", vec![]))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get("", "schema_name").unwrap())
        .collect();
    for s in &schemas {
        db.execute_unprepared(&format!(
            "DROP FUNCTION {s}.mark_busy() CASCADE; DELETE FROM {s}.tenant_migrations WHERE version = 'm20261202_000010_busy'"
        ))
        .await
        .unwrap();
    }
    let t = Instant::now();
    let report = migrations::migrate_all(&db, 4).await.unwrap();
    let upgrade = t.elapsed();
    assert_eq!(report.upgraded.len(), BUSINESSES, "{:?}", report.failed);
    const EMPTY: usize = 100;
    for i in 0..EMPTY {
        db.execute_unprepared(&format!(
            "CREATE SCHEMA t_empty_{i:04}; INSERT INTO public.tenants (id, slug, name, schema_name) VALUES ('{}', 'empty-{i:04}', 'Empty {i}', 't_empty_{i:04}')",
            uuid::Uuid::new_v4()
        ))
        .await
        .unwrap();
    }
    let t = Instant::now();
    let report = migrations::migrate_all(&db, 4).await.unwrap();
    let from_nothing = t.elapsed();
    assert_eq!(report.upgraded.len(), EMPTY, "{:?}", report.failed);
    println!("\n(d) migrate (4 schemas at a time)");
    println!("  {BUSINESSES} schemas already current: {:.1} s", current.as_secs_f64());
    println!("  {BUSINESSES} schemas, one new migration (an upgrade): {:.1} s", upgrade.as_secs_f64());
    println!(
        "  {EMPTY} empty schemas, every tenant migration: {:.1} s ({:.0} ms per schema)",
        from_nothing.as_secs_f64(),
        ms(from_nothing) / EMPTY as f64
    );

    // (e) The worker with no work: its CPU over 30 s.
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker_settings = settings.clone();
    let worker = std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(worker::run(
            worker_settings,
            async move {
                let _ = stop_rx.await;
            },
        ))
    });
    // Its first pass visits every business (the sweeper at once, the other
    // jobs on their first minute's tick); measure once that is over.
    let started = Instant::now();
    while !store::tenants::with_work(&db).await.unwrap().is_empty() || started.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let before = cpu();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let idle = cpu() - before;
    println!(
        "\n(e) the worker with no work, after its first pass: {:.0} ms of CPU in 60 s ({:.2}% of one core; the server idle in the same process)",
        ms(idle),
        idle.as_secs_f64() / 60.0 * 100.0
    );
    let _ = stop_tx.send(());
    let _ = worker.join();

    bench.drop().await;
}
