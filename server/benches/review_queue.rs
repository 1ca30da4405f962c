//! How long the review queue takes with 10,000 open tasks on this machine:
//! the queue's server function (every open task read, prioritised, the 200
//! most urgent listed with the figures), the whole queue page rendered on
//! the server (what a browser waits for on first load), and one task's page.
//!
//! `cargo bench -p server --bench review_queue` (PostgreSQL at
//! TEST_DATABASE_URL, Redis at REDIS_URL). Prints figures; asserts nothing
//! about time.

use sea_orm::ConnectionTrait;
use std::time::{Duration, Instant};

const OPEN_TASKS: usize = 10_000;
const SAMPLES: usize = 30;

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.1} ms · p90 {:.1} ms · max {:.1} ms",
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() * 9 / 10]),
        ms(samples[samples.len() - 1])
    )
}

mod support;

#[tokio::main]
async fn main() {
    let bench = support::BenchDatabase::seeded("queue", 4).await;
    let (db, mut settings) = (bench.db.clone(), bench.settings.clone());

    // 10,000 open tasks of the lead workflow: a mix of reasons, values and ages up to two days.
    let started = Instant::now();
    let txn = store::db::tenant_txn(&db, "t_acme_plumbing").await.unwrap();
    txn.execute_unprepared(&format!(
        "INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, status, context, created_at)
         SELECT md5('run' || i)::uuid, w.id, w.name, 1, 'waiting_for_review', '{{}}', now() - (i % 2880) * interval '1 minute'
           FROM generate_series(1, {OPEN_TASKS}) i, workflows w WHERE w.name = 'lead-intake-qualification';
         INSERT INTO review_tasks (id, run_id, step_index, reason, detail, output_name, draft, workflow_name, value, claimed_by, created_at)
         SELECT md5('task' || i)::uuid, md5('run' || i)::uuid, 3,
                (ARRAY['low_confidence', 'high_value', 'error', 'external_message'])[1 + i % 4],
                jsonb_build_object('policy', jsonb_build_array(jsonb_build_object('reason', 'low_confidence', 'rule', 'confidence_below: 0.78',
                    'detail', jsonb_build_object('confidence', (i % 78) / 100.0, 'threshold', 0.78)))),
                'qualification_summary',
                jsonb_build_object('fit_score', i % 100, 'summary', 'Four clinics, budget approved, wants to go live before Q3.', 'confidence', (i % 78) / 100.0),
                'lead-intake-qualification', 20000 + (i % 9) * 10000,
                CASE WHEN i % 7 = 0 THEN 'reviewer@acme-plumbing.test' END,
                now() - (i % 2880) * interval '1 minute'
           FROM generate_series(1, {OPEN_TASKS}) i;"
    ))
    .await
    .unwrap();
    txn.commit().await.unwrap();
    println!("inserted {OPEN_TASKS} open review tasks in {:.1} s", started.elapsed().as_secs_f64());

    let base = support::serve(&mut settings).await;
    let http = reqwest::Client::builder().cookie_store(true).build().unwrap();
    support::sign_in_operations(&http, &base).await;
    let origin = base.clone();
    let one_task: String = db
        .query_one_raw(store::db::stmt("SELECT md5('task1')::uuid::text AS task", vec![]))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "task")
        .unwrap();

    let time = |what: &'static str| {
        let (http, base, origin, one_task) = (http.clone(), base.clone(), origin.clone(), one_task.clone());
        async move {
            let mut samples = Vec::new();
            let mut bytes = 0;
            for i in 0..SAMPLES + 3 {
                let t = Instant::now();
                let res = match what {
                    "function" => http
                        .post(format!("{base}/api/review_queue"))
                        .header("origin", &origin)
                        .header("accept", "application/json")
                        .form(&[("slug", "acme-plumbing")])
                        .send()
                        .await
                        .unwrap(),
                    "page" => http.get(format!("{base}/t/acme-plumbing/review")).send().await.unwrap(),
                    _ => http
                        .post(format!("{base}/api/review_task"))
                        .header("origin", &origin)
                        .header("accept", "application/json")
                        .form(&[("slug", "acme-plumbing"), ("id", one_task.as_str())])
                        .send()
                        .await
                        .unwrap(),
                };
                assert!(res.status().is_success(), "{what}: {}", res.status());
                bytes = res.bytes().await.unwrap().len();
                if i >= 3 {
                    samples.push(t.elapsed());
                }
            }
            (summary(samples), bytes)
        }
    };
    println!("\nreview queue with {OPEN_TASKS} open tasks (operations member, debug figures only if not built with --release)");
    let (f, bytes) = time("function").await;
    println!("  queue server function (200 listed + figures + 14-day chart): {f} ({} KB)", bytes / 1024);
    let (p, bytes) = time("page").await;
    println!("  whole queue page rendered on the server:                      {p} ({} KB)", bytes / 1024);
    let (t, _) = time("task").await;
    println!("  one task's page (task, run, next task):                       {t}");

    drop(db);
    bench.drop().await;
}
