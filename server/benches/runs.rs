//! Ingestion and run-engine throughput on this machine, in one run:
//!
//! (a) accepted webhooks per second with p50/p99 latency at several
//!     concurrency levels (signed Standard Webhooks, data contract checked,
//!     event + run committed before the 202), next to a raw single-row
//!     INSERT into the same PostgreSQL at the same concurrency, and the
//!     same acceptance called without HTTP (data contract + the statement),
//!     and HTTP alone (a request that stores nothing, through the same
//!     client and middleware: the most the door could answer);
//! (b) end-to-end runs per second and the median engine overhead of a
//!     4-step workflow (normalise, cached api_call, llm on the offline
//!     provider, rules) with one worker, next to (a)'s raw INSERT rate at
//!     concurrency 8;
//! (c) a backlog of accepted runs drained by one worker, then by two.
//!
//! `cargo bench -p server --bench runs` (PostgreSQL at TEST_DATABASE_URL,
//! Redis at REDIS_URL). Prints figures; asserts nothing about time.

use sea_orm::ConnectionTrait;
use std::sync::Arc;
use std::time::{Duration, Instant};

// Large enough that each figure spans seconds, not a fraction of one: with 600 events and
// 1 000 runs (until the twentieth session) the same build's end-to-end rate moved by a
// quarter from run to run, and a worker's first connections (each a new PostgreSQL backend
// loading its caches) weighed on phases that lasted under a second.
const PER_LEVEL: usize = 2_000;
const LEVELS: [usize; 3] = [1, 8, 32];
const RUNS: usize = 5_000;
const BACKLOG: usize = 3_000;

/// A worker on its own runtime and thread, as a separate process would be; stops when sent ().
fn start_worker(settings: store::config::Settings) -> (tokio::sync::oneshot::Sender<()>, std::thread::JoinHandle<()>) {
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime
            .block_on(worker::run(settings, async move {
                let _ = stop_rx.await;
            }))
            .unwrap();
    });
    (stop_tx, handle)
}

/// Waits until each of `runs` has left `queued` and `running`. It reads the
/// oldest still unfinished, a window at a time, by key (runs finish in about
/// the order they came), so that waiting takes next to nothing from the
/// worker it waits for. (Until the twentieth session it asked whether any
/// run of the workflow was unfinished: PostgreSQL read the workflow's runs
/// for it, about 7 ms a poll, a fifth of a core at fifty polls a second,
/// taken from the phase being measured.)
async fn drained(db: &sea_orm::DatabaseConnection, runs: Vec<uuid::Uuid>) {
    let mut pending = std::collections::VecDeque::from(runs);
    while !pending.is_empty() {
        let window: Vec<uuid::Uuid> = pending.drain(..pending.len().min(64)).collect();
        let txn = store::db::tenant_txn(db, "t_acme_plumbing").await.unwrap();
        let rows = txn
            .query_all_raw(store::db::stmt(
                "SELECT id FROM runs WHERE id = ANY($1) AND status IN ('queued', 'running')",
                vec![window.clone().into()],
            ))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        let unfinished: std::collections::HashSet<uuid::Uuid> =
            rows.iter().map(|row| row.try_get("", "id").unwrap()).collect();
        for id in window.into_iter().rev().filter(|id| unfinished.contains(id)) {
            pending.push_front(id);
        }
        if !unfinished.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Collects the runs that accepted events made, in the order their 202s came.
#[derive(Clone, Default)]
struct Accepted(Arc<std::sync::Mutex<Vec<uuid::Uuid>>>);

impl Accepted {
    fn note(&self, run: uuid::Uuid) {
        self.0.lock().unwrap().push(run);
    }
    fn take(&self) -> Vec<uuid::Uuid> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Where PostgreSQL's write-ahead log stands (the whole server's), in bytes: exact, unlike
/// `pg_stat_wal`'s record counts, which other connections report only when they are idle.
async fn wal_position(db: &sea_orm::DatabaseConnection) -> f64 {
    let row = db
        .query_one_raw(store::db::stmt("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::float8 AS at", vec![]))
        .await
        .unwrap()
        .unwrap();
    row.try_get("", "at").unwrap()
}

fn percentiles(mut samples: Vec<Duration>) -> (f64, f64) {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(samples[samples.len() / 2]), ms(samples[(samples.len() * 99 / 100).min(samples.len() - 1)]))
}

/// Runs `total` calls of `op` with `concurrency` in flight; returns (per second, latencies).
async fn drive<F, Fut>(concurrency: usize, total: usize, op: F) -> (f64, Vec<Duration>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let op = Arc::new(op);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (op, next) = (op.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = Instant::now();
                op(i).await;
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (total as f64 / started.elapsed().as_secs_f64(), all)
}

mod support;

#[tokio::main]
async fn main() {
    let bench = support::BenchDatabase::seeded("runs", 4).await;
    let (db, url, mut settings) = (bench.db.clone(), bench.url.clone(), bench.settings.clone());
    let base = support::serve(&mut settings).await;
    // The worker's runs at once, as in production (`STEWARD_RUN_CONCURRENCY`, default 16).
    if let Some(n) = std::env::var("STEWARD_RUN_CONCURRENCY").ok().and_then(|v| v.parse().ok()) {
        settings.runs.concurrency = n;
    }

    let engineer = store::auth::member_by_email(&db, "acme-plumbing", "engineer@acme-plumbing.test").await.unwrap();
    // The prompt needs `normalized_lead` and `company_context`.
    let yaml = "workflow: bench-four-steps
version: 1
trigger: { source: webhook, event: lead.created, data_contract: lead }
steps:
  - { id: normalize, type: function, function: normalize, output: normalized_lead }
  - { id: enrich, type: api_call, url: '{{ steward.public_url }}/demo/company-lookup?email={{ normalized_lead.primaryContact.email }}', deterministic: true, cache_ttl: 3600, output: company_context }
  - { id: summarize, type: llm, prompt_template: lead_summary_v4, model: small, output: summary }
  - { id: route, type: rules, rules: [ { when: 'summary.fit_score >= 50.0', then: sales } ], default: nurture, output: owner }
";
    let (wf, n) =
        store::workflows::save_version(&db, &engineer, yaml, "benchmark").await.map_err(|e| format!("{e:?}")).unwrap();
    store::workflows::publish(&db, &engineer, &wf, n, "benchmark", None).await.map_err(|e| format!("{e:?}")).unwrap();
    let lead_secret = store::webhook_secrets::rotate(&db, &settings, &engineer, "lead-intake-qualification", 24)
        .await
        .unwrap()
        .unwrap();
    let bench_secret =
        store::webhook_secrets::rotate(&db, &settings, &engineer, "bench-four-steps", 24).await.unwrap().unwrap();

    let mut lead =
        serde_json::from_str::<serde_json::Value>(include_str!("../../engine/tests/fixtures/lead.website_form.json"))
            .unwrap();
    lead["last_updated"] = serde_json::json!(chrono::Utc::now().to_rfc3339());
    let body = Arc::new(lead.to_string());
    // Idle connections are dropped before the server's keep-alive (5 s) closes them: a request sent
    // on a connection the server is closing fails (seen once between this bench's phases).
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .pool_idle_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let accepted = Accepted::default();
    let send = {
        let (http, base, body, accepted) = (http.clone(), base.clone(), body.clone(), accepted.clone());
        move |workflow: &'static str, secret: String, id: String| {
            let (http, base, body, accepted) = (http.clone(), base.clone(), body.clone(), accepted.clone());
            async move {
                let ts = chrono::Utc::now().timestamp();
                let sig = store::webhook_secrets::sign(&secret, &id, ts, body.as_bytes()).unwrap();
                let res = http
                    .post(format!("{base}/hooks/acme-plumbing/{workflow}"))
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .header("webhook-signature", sig)
                    .body(body.as_str().to_owned())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status().as_u16(), 202, "{}", res.text().await.unwrap_or_default());
                let answer: serde_json::Value = res.json().await.unwrap();
                accepted.note(answer["run_id"].as_str().unwrap().parse().unwrap());
            }
        }
    };

    println!(
        "Steward ingestion and run engine benchmark ({} cores)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!("\n(a) accepted webhooks (signed, contract-checked, event + run committed before 202) vs a raw INSERT");
    db.execute_unprepared("CREATE TABLE bench_rows (id uuid PRIMARY KEY, payload jsonb NOT NULL)").await.unwrap();
    // As the door has it: from its memory, with the workflow's accept groups.
    let target = store::ingest::Targets::default()
        .get(&db, &settings, "acme-plumbing", "lead-intake-qualification")
        .await
        .map_err(|e| format!("{e:?}"))
        .unwrap();
    let (mut raw_at_8, mut raw_wal_per_row) = (0.0, 0.0);
    for level in LEVELS {
        let send = send.clone();
        let secret = lead_secret.clone();
        let (rate, lat) = drive(level, PER_LEVEL, move |i| {
            send("lead-intake-qualification", secret.clone(), format!("msg_{level}_{i}"))
        })
        .await;
        let (p50, p99) = percentiles(lat);
        let pool = store::db::connect(&url, level as u32 + 1).await.unwrap();
        let payload = Arc::new(lead.clone());
        let wal_before = wal_position(&db).await;
        let (raw_rate, raw_lat) = drive(level, PER_LEVEL, move |_| {
            let (pool, payload) = (pool.clone(), payload.clone());
            async move {
                pool.execute_raw(store::db::stmt(
                    "INSERT INTO bench_rows (id, payload) VALUES ($1, $2)",
                    vec![uuid::Uuid::new_v4().into(), (*payload).clone().into()],
                ))
                .await
                .unwrap();
            }
        })
        .await;
        let raw_wal = (wal_position(&db).await - wal_before) / PER_LEVEL as f64;
        let (raw50, raw99) = percentiles(raw_lat);
        if level == 8 {
            (raw_at_8, raw_wal_per_row) = (raw_rate, raw_wal);
        }
        // The same acceptance without HTTP and signature: the data contract and the statement (in groups, as the door writes).
        let (direct_rate, direct_lat) = {
            let (db, settings, target, record) = (db.clone(), Arc::new(settings.clone()), target.clone(), lead.clone());
            drive(level, PER_LEVEL, move |i| {
                let (db, settings, target) = (db.clone(), settings.clone(), target.clone());
                let incoming = store::ingest::Incoming {
                    channel: store::ingest::Channel::Webhook,
                    event_type: "lead.created".into(),
                    idempotency_key: Some(format!("direct_{level}_{i}")),
                    record: record.clone(),
                    raw: record.clone(),
                };
                async move {
                    let accepted =
                        store::ingest::accept(&db, &settings, &target, &incoming, chrono::Utc::now()).await.unwrap();
                    assert!(matches!(accepted, store::ingest::Accepted::New { .. }));
                }
            })
            .await
        };
        let (direct50, _) = percentiles(direct_lat);
        // HTTP alone, through the same middleware, storing nothing: the most the door could answer.
        let (http_rate, http_lat) = {
            let (http, base) = (http.clone(), base.clone());
            drive(level, PER_LEVEL, move |_| {
                let (http, base) = (http.clone(), base.clone());
                async move {
                    let res = http.get(format!("{base}/healthz")).send().await.unwrap();
                    assert_eq!(res.status().as_u16(), 200);
                    res.bytes().await.unwrap();
                }
            })
            .await
        };
        let (http50, _) = percentiles(http_lat);
        println!(
            "  concurrency {level:>2}: webhooks {rate:>7.1}/s  p50 {p50:>6.2} ms  p99 {p99:>7.2} ms   |  raw INSERT {raw_rate:>7.1}/s  p50 {raw50:>5.2} ms  p99 {raw99:>6.2} ms   |  webhooks = {:.0}% of raw",
            rate / raw_rate * 100.0
        );
        println!(
            "                  without HTTP: {direct_rate:>7.1}/s  p50 {direct50:>6.2} ms (data contract + the statement) = {:.0}% of raw",
            direct_rate / raw_rate * 100.0
        );
        println!(
            "                  HTTP alone:   {http_rate:>7.1}/s  p50 {http50:>6.2} ms (GET /healthz, same client and middleware, nothing stored) = {:.0}% of raw",
            http_rate / raw_rate * 100.0
        );
    }

    println!(
        "\n(b) end-to-end runs of a 4-step workflow (normalise, cached api_call, offline llm, rules), one worker running {} at once",
        settings.runs.concurrency
    );
    // Clear the backlog of (a) so the worker starts on the benchmark's runs only.
    let txn = store::db::tenant_txn(&db, "t_acme_plumbing").await.unwrap();
    txn.execute_unprepared("UPDATE runs SET status = 'cancelled' WHERE workflow_name = 'lead-intake-qualification'")
        .await
        .unwrap();
    txn.commit().await.unwrap();
    // ... and drop their jobs from Redis, which the worker would otherwise fetch and skip first.
    let mut redis =
        redis::Client::open(settings.redis_url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", settings.redis_prefix)).query_async(&mut redis).await.unwrap();
    if !keys.is_empty() {
        redis::cmd("DEL").arg(&keys).query_async::<()>(&mut redis).await.unwrap();
    }
    let one = start_worker(settings.clone());
    // Warm up: the worker's first sweep and the enrichment cache.
    let sender = send.clone();
    let secret = bench_secret.clone();
    accepted.take();
    drive(4, 20, move |i| sender("bench-four-steps", secret.clone(), format!("warm_{i}"))).await;
    drained(&db, accepted.take()).await;
    let wal_before = wal_position(&db).await;
    let started = Instant::now();
    let send_runs = send.clone();
    let secret = bench_secret.clone();
    drive(8, RUNS, move |i| send_runs("bench-four-steps", secret.clone(), format!("run_{i}"))).await;
    let accepted_in = started.elapsed();
    drained(&db, accepted.take()).await;
    let total = started.elapsed();
    let wal_per_run = (wal_position(&db).await - wal_before) / RUNS as f64;
    let txn = store::db::tenant_txn(&db, "t_acme_plumbing").await.unwrap();
    let row = txn
        .query_one_raw(store::db::stmt(
            "WITH per_run AS (
               SELECT r.id, r.status,
                      (extract(epoch FROM r.finished_at - r.started_at) * 1000)::float8 AS run_ms,
                      (extract(epoch FROM r.started_at - r.created_at) * 1000)::float8 AS wait_ms,
                      (SELECT sum(extract(epoch FROM s.finished_at - s.started_at) * 1000)::float8 FROM run_steps s WHERE s.run_id = r.id) AS steps_ms,
                      (SELECT bool_or(s.cache_hit) FROM run_steps s WHERE s.run_id = r.id) AS hit
                 FROM runs r JOIN events e ON e.id = r.event_id
                WHERE r.workflow_name = 'bench-four-steps' AND e.idempotency_key LIKE 'run\\_%')
             SELECT count(*) FILTER (WHERE status = 'completed') AS completed,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY run_ms) AS run_ms,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY run_ms - steps_ms) AS overhead_ms,
                    percentile_cont(0.5) WITHIN GROUP (ORDER BY wait_ms) AS wait_ms,
                    count(*) FILTER (WHERE hit) AS hits
               FROM per_run",
            vec![],
        ))
        .await
        .unwrap()
        .unwrap();
    txn.commit().await.unwrap();
    let completed: i64 = row.try_get("", "completed").unwrap();
    let run_ms: f64 = row.try_get("", "run_ms").unwrap();
    let overhead_ms: f64 = row.try_get("", "overhead_ms").unwrap();
    let wait_ms: f64 = row.try_get("", "wait_ms").unwrap();
    let hits: i64 = row.try_get("", "hits").unwrap();
    println!(
        "  {RUNS} events accepted in {:.2} s; all {completed} runs completed in {:.2} s",
        accepted_in.as_secs_f64(),
        total.as_secs_f64()
    );
    let end_to_end = completed as f64 / total.as_secs_f64();
    println!(
        "  end-to-end: {end_to_end:.1} runs/s = 1/{:.1} of the raw INSERT rate at concurrency 8 ({raw_at_8:.0}/s)",
        raw_at_8 / end_to_end
    );
    println!("  per run (median): {run_ms:.1} ms executing, of which engine overhead {overhead_ms:.1} ms (state writes, leases, loading); queue wait {wait_ms:.1} ms");
    println!("  enrichment cache hits: {hits} of {completed} runs");
    println!(
        "  write-ahead log per run (accept, lease, steps, state): {:.1} kB = {:.0}x a raw INSERT's row ({:.2} kB)",
        wal_per_run / 1024.0,
        wal_per_run / raw_wal_per_row,
        raw_wal_per_row / 1024.0
    );

    let _ = one.0.send(());
    let _ = one.1.join();

    println!("\n(c) a backlog of {BACKLOG} accepted runs of the same workflow, drained by one worker, then by two");
    let mut rates = Vec::new();
    for workers in [1usize, 2] {
        let sender = send.clone();
        let secret = bench_secret.clone();
        drive(8, BACKLOG, move |i| sender("bench-four-steps", secret.clone(), format!("backlog_{workers}_{i}"))).await;
        let backlog = accepted.take();
        let started = Instant::now();
        let running: Vec<_> = (0..workers).map(|_| start_worker(settings.clone())).collect();
        drained(&db, backlog).await;
        let rate = BACKLOG as f64 / started.elapsed().as_secs_f64();
        for (stop, handle) in running {
            let _ = stop.send(());
            let _ = handle.join();
        }
        println!("  {workers} worker(s): {rate:>6.1} runs/s");
        rates.push(rate);
    }
    println!(
        "  two workers drain {:.2}x as fast as one ({} cores shared with PostgreSQL, Redis and this process)",
        rates[1] / rates[0],
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );

    bench.drop().await;
}
