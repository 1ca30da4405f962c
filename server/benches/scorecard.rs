//! How long the monthly scorecard takes for a business with a million runs
//! in the month (override with BENCH_RUNS): the first computation of the
//! whole month from its runs, steps, decisions, cost lines and outcomes
//! (what a recompute does), the same month again once its days are settled
//! (what the page and the job do afterwards: only unsettled days are
//! tallied), and tallying one busy day (what the current month costs on
//! each visit).
//!
//! `cargo bench -p server --bench scorecard` (PostgreSQL at
//! TEST_DATABASE_URL). Prints figures; asserts nothing about time.

use engine::kpi::Month;
use sea_orm::ConnectionTrait;
use std::time::Instant;

#[tokio::main]
async fn main() {
    let runs: i64 = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let admin_url =
        std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("steward_bench_scorecard_{}", std::process::id());
    let admin = store::db::connect(&admin_url, 1).await.expect("PostgreSQL at TEST_DATABASE_URL");
    admin.execute_unprepared(&format!("CREATE DATABASE \"{name}\"")).await.unwrap();
    let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
    let db = store::db::connect(&url, 4).await.unwrap();
    migrations::migrate_public(&db).await.unwrap();
    let settings = store::config::Settings::for_development(url.clone(), "redis://127.0.0.1:6379".into());
    store::seed::seed_demo(&db, &settings).await.unwrap();
    let schema = "t_acme_plumbing";
    let now = chrono::Utc::now();
    let month = Month::at(now, "UTC").previous();
    let (start, end) = month.bounds("UTC");
    // Runs are spread evenly over the month.
    let spacing = (end - start).num_milliseconds() / runs.max(1);

    // A month of runs: 92% completed, 8% failed; three steps each (the model's
    // with a confidence); two cost lines; a fifth decided by a person; 15% won.
    let started = Instant::now();
    let txn = store::db::tenant_txn(&db, schema).await.unwrap();
    txn.execute_unprepared(&format!(
        "INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, status, context, created_at, finished_at)
         SELECT md5('run' || i)::uuid, w.id, w.name, 1, CASE WHEN i % 12 = 0 THEN 'failed' ELSE 'completed' END, '{{}}',
                '{start}'::timestamptz + ((i - 1)::bigint * {spacing}) * interval '1 millisecond',
                '{start}'::timestamptz + ((i - 1)::bigint * {spacing}) * interval '1 millisecond' + (30 + i % 3000) * interval '1 second'
           FROM generate_series(1, {runs}) i, workflows w WHERE w.name = 'lead-intake-qualification';
         INSERT INTO run_steps (run_id, step_index, step_id, kind, status, attempts, started_at, finished_at, output)
         SELECT md5('run' || i)::uuid, s, (ARRAY['normalize', 'summarize', 'route'])[s + 1], (ARRAY['function', 'llm', 'rules'])[s + 1], 'completed',
                CASE WHEN (i + s) % 19 = 0 THEN 2 ELSE 1 END,
                '{start}'::timestamptz + ((i - 1)::bigint * {spacing} + s * 900) * interval '1 millisecond',
                '{start}'::timestamptz + ((i - 1)::bigint * {spacing} + s * 900 + 400) * interval '1 millisecond',
                CASE WHEN s = 1 THEN jsonb_build_object('confidence', (55 + i % 45) / 100.0) END
           FROM generate_series(1, {runs}) i, generate_series(0, 2) s;
         INSERT INTO cost_lines (run_id, workflow_name, step_index, kind, amount_micros, quantity, at)
         SELECT md5('run' || i)::uuid, 'lead-intake-qualification', 1, k, CASE WHEN k = 'model' THEN 450 ELSE 2000 END, 1,
                '{start}'::timestamptz + ((i - 1)::bigint * {spacing}) * interval '1 millisecond'
           FROM generate_series(1, {runs}) i, unnest(ARRAY['model', 'enrichment']) k;
         INSERT INTO review_tasks (id, run_id, step_index, reason, status, decision, decided_at, created_at, workflow_name)
         SELECT md5('task' || i)::uuid, md5('run' || i)::uuid, 1, 'high_value', 'decided', CASE WHEN i % 10 = 0 THEN 'edit_and_approve' ELSE 'approve' END,
                '{start}'::timestamptz + ((i - 1)::bigint * {spacing}) * interval '1 millisecond' + interval '20 minutes',
                '{start}'::timestamptz + ((i - 1)::bigint * {spacing}) * interval '1 millisecond', 'lead-intake-qualification'
           FROM generate_series(1, {runs}) i WHERE i % 5 = 0;
         INSERT INTO outcome_events (id, workflow_name, run_id, outcome, occurred_at)
         SELECT md5('won' || i)::uuid, 'lead-intake-qualification', md5('run' || i)::uuid, 'deal.won', '{start}'::timestamptz + ((i - 1)::bigint * {spacing}) * interval '1 millisecond'
           FROM generate_series(1, {runs}) i WHERE i % 7 = 0;
         ANALYZE;"
    ))
    .await
    .unwrap();
    txn.commit().await.unwrap();
    println!(
        "inserted {runs} runs (with {} steps, {} cost lines) for {month} in {:.1} s",
        runs * 3,
        runs * 2,
        started.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let tenant = store::tenants::all(&db).await.unwrap().into_iter().find(|t| t.schema() == schema).unwrap();
    let card = store::kpis::compute(&db, &tenant, month, now).await.unwrap();
    let cold = t.elapsed();
    assert_eq!(card.business.runs, runs, "every run is counted");
    println!("whole month, first computation (every day tallied): {:.2} s", cold.as_secs_f64());

    let t = Instant::now();
    let again = store::kpis::compute(&db, &tenant, month, now).await.unwrap();
    let warm = t.elapsed();
    assert_eq!(again.business, card.business, "settled days give the same month");
    println!("whole month again, days settled (sum of day tallies): {:.1} ms", warm.as_secs_f64() * 1000.0);

    let txn = store::db::tenant_txn(&db, schema).await.unwrap();
    let day = month.first_day() + chrono::Duration::days(14);
    let t = Instant::now();
    let tallies = store::kpis::tally_days(&txn, "UTC", day, day).await.unwrap();
    let one_day = t.elapsed();
    txn.commit().await.unwrap();
    let day_runs: i64 = tallies.values().map(|t| t.runs).sum();
    println!("one day ({day_runs} runs) tallied: {:.1} ms", one_day.as_secs_f64() * 1000.0);
    println!(
        "scorecard for {month}: {} runs, {:.1} h saved (no baseline: {}), exception rate {:.1}%",
        card.business.runs,
        card.business.hours_saved.unwrap_or(0.0),
        card.business.hours_saved.is_none(),
        card.business.exception_rate.unwrap_or(0.0) * 100.0
    );

    drop(db);
    if std::env::var("BENCH_KEEP").is_ok() {
        println!("kept the database {name} (BENCH_KEEP)");
    } else {
        admin.execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)")).await.unwrap();
    }
}
