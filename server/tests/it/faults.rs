//! Faults are normal. Each test runs Steward against processes it owns (a
//! Redis, sometimes a PostgreSQL cluster, `steward-worker`), sends a stream
//! of signed events the way a sender with retries does, breaks something
//! in the middle, and then checks what a business relies on: every
//! accepted event has exactly one run, every run finished, and each run's
//! side effects (its booking call, its email) happened once.

use crate::support::processes::{PostgresCluster, RedisServer, WorkerProcess};
use crate::support::*;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use uuid::Uuid;
use wiremock::{matchers, Mock, MockServer, ResponseTemplate};

const DRILL: &str = "fault-drill";

/// A business's workflow with two side effects per run: a booking call to
/// an outside API (wiremock) and an email to operations.
fn drill_yaml(booking: &str) -> String {
    format!(
        "workflow: {DRILL}\nversion: 1\ntrigger: {{ source: webhook, event: lead.created }}\nsteps:\n  \
         - {{ id: book, type: api_call, method: POST, url: '{booking}/book', timeout: 30, output: booking }}\n  \
         - {{ id: tell, type: notify, to: ['role:operations'], subject: 'Drill booked {{{{ steward.run_id }}}}', template: 'booked', output: told }}\n"
    )
}

struct Drill {
    app: TestApp,
    booking: MockServer,
    secret: String,
    redis: RedisServer,
    postgres: Option<PostgresCluster>,
    worker: Option<WorkerProcess>,
    /// Workers killed outright (SIGKILL) during the drill.
    kills: usize,
}

/// What the sender saw.
#[derive(Debug, Default)]
struct Sent {
    /// Event id → the run Steward answered with.
    runs: BTreeMap<String, Uuid>,
    /// Answers that were not 2xx, by status (the sender retried them).
    refusals: BTreeMap<u16, usize>,
    /// Every refusal came with a JSON body and `Retry-After`.
    refusals_explained: bool,
    /// The slowest answer, for the log.
    slowest: Duration,
}

impl Drill {
    async fn start(own_postgres: bool, worker_env: &[(&str, &str)]) -> Self {
        Self::start_tuned(own_postgres, worker_env, None).await
    }

    async fn start_tuned(own_postgres: bool, worker_env: &[(&str, &str)], tune: Option<Tune>) -> Self {
        let redis = RedisServer::start();
        let postgres = own_postgres.then(PostgresCluster::start);
        let app = TestApp::spawn_with(Options {
            worker: false,
            database_url: postgres.as_ref().map(|p| p.url()),
            redis_url: Some(redis.url()),
            tune,
        })
        .await;
        let booking = MockServer::start().await;
        Mock::given(matchers::any())
            .respond_with(
                ResponseTemplate::new(200).set_body_string(r#"{"booked":true}"#).set_delay(Duration::from_millis(30)),
            )
            .mount(&booking)
            .await;
        let engineer = app.demo_current_member(engine::Role::Engineer).await;
        let (name, n) = store::workflows::save_version(&app.db, &engineer, &drill_yaml(&booking.uri()), "drill")
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        store::workflows::publish(&app.db, &engineer, &name, n, "drill", None)
            .await
            .map_err(|e| format!("{e:?}"))
            .unwrap();
        let secret = app.webhook_secret(DRILL).await;
        let worker = Some(WorkerProcess::start(&app.settings, worker_env));
        Drill { app, booking, secret, redis, postgres, worker, kills: 0 }
    }

    fn start_worker(&mut self, env: &[(&str, &str)]) {
        self.worker = Some(WorkerProcess::start(&self.app.settings, env));
    }

    fn worker(&mut self) -> &mut WorkerProcess {
        self.worker.as_mut().expect("a worker is running")
    }

    /// Sends `count` events, four at a time and `pause` apart, each retried
    /// with the same webhook-id until Steward answers 2xx (for at most a minute).
    fn stream(&self, count: usize, pause: Duration) -> tokio::task::JoinHandle<Sent> {
        let (base, secret) = (self.app.base.clone(), self.secret.clone());
        let tag = Uuid::new_v4().simple().to_string();
        tokio::spawn(async move {
            let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let senders = (0..4).map(|_| {
                let (base, secret, tag, next) = (base.clone(), secret.clone(), tag.clone(), next.clone());
                tokio::spawn(async move {
                    let mut sent = Sent { refusals_explained: true, ..Default::default() };
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= count {
                            return sent;
                        }
                        let id = format!("drill_{tag}_{i}");
                        let run = deliver(&base, &secret, &id, &mut sent).await;
                        sent.runs.insert(id, run);
                        tokio::time::sleep(pause).await;
                    }
                })
            });
            let mut all = Sent { refusals_explained: true, ..Default::default() };
            for s in futures::future::join_all(senders).await {
                let s = s.unwrap();
                all.runs.extend(s.runs);
                for (k, v) in s.refusals {
                    *all.refusals.entry(k).or_default() += v;
                }
                all.refusals_explained &= s.refusals_explained;
                all.slowest = all.slowest.max(s.slowest);
            }
            all
        })
    }

    /// Outbox rows not recorded as sent: (status, attempts, error).
    async fn unsent_mail(&self) -> Vec<(String, i32, Option<String>)> {
        let txn = store::db::tenant_txn(&self.app.db, "t_acme_plumbing").await.unwrap();
        let rows = txn
            .query_all_raw(store::db::stmt("SELECT status, attempts, error FROM outbox WHERE status <> 'sent'", vec![]))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        rows.iter()
            .map(|r| {
                (r.try_get("", "status").unwrap(), r.try_get("", "attempts").unwrap(), r.try_get("", "error").unwrap())
            })
            .collect()
    }

    async fn drill_rows(&self) -> Vec<(Uuid, String)> {
        let txn = store::db::tenant_txn(&self.app.db, "t_acme_plumbing").await.unwrap();
        let rows = txn
            .query_all_raw(store::db::stmt("SELECT id, status FROM runs WHERE workflow_name = $1", vec![DRILL.into()]))
            .await
            .unwrap();
        txn.commit().await.unwrap();
        rows.iter().map(|r| (r.try_get("", "id").unwrap(), r.try_get("", "status").unwrap())).collect()
    }

    /// Waits until every accepted event's run is finished, then checks
    /// that nothing was lost, duplicated or left behind, and that each
    /// run's email went out once. Returns how many booking calls were
    /// repeats (same idempotency key: a step cut short and run again).
    async fn settle(&mut self, sent: &Sent) -> usize {
        let accepted: BTreeSet<Uuid> = sent.runs.values().copied().collect();
        assert_eq!(accepted.len(), sent.runs.len(), "every event made a run of its own");
        let deadline = Instant::now() + Duration::from_secs(120);
        let rows = loop {
            let rows = self.drill_rows().await;
            let resting = rows.iter().all(|(_, s)| !matches!(s.as_str(), "queued" | "running"));
            if resting && rows.len() >= accepted.len() {
                break rows;
            }
            if Instant::now() > deadline {
                let mut by_status = BTreeMap::new();
                rows.iter().for_each(|(_, s)| *by_status.entry(s.clone()).or_insert(0) += 1);
                let log = self.worker.as_ref().map(|w| w.log_text()).unwrap_or_default();
                let tail: String =
                    log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                panic!("runs stuck: {by_status:?} of {} accepted\nworker log tail:\n{tail}", accepted.len());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let stored: BTreeSet<Uuid> = rows.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            stored, accepted,
            "0 lost and 0 extra: the runs stored are exactly the runs the sender was told about"
        );
        let not_completed: Vec<_> = rows.iter().filter(|(_, s)| s != "completed").collect();
        assert!(not_completed.is_empty(), "every run completed: {not_completed:?}");

        // The booking API heard from every run, always with the run's idempotency key.
        let requests = self.booking.received_requests().await.unwrap();
        let mut keys: BTreeMap<String, usize> = BTreeMap::new();
        for r in &requests {
            let key = r.headers.get("idempotency-key").expect("every booking call carries its idempotency key");
            *keys.entry(key.to_str().unwrap().to_owned()).or_default() += 1;
        }
        let expected_keys: BTreeSet<String> = accepted.iter().map(|id| format!("{id}:book")).collect();
        assert_eq!(
            keys.keys().cloned().collect::<BTreeSet<_>>(),
            expected_keys,
            "one booking per run, no booking lost"
        );
        let repeats = requests.len() - keys.len();

        // One email per run: wait for them all, then a little longer to catch a repeat.
        // Each run's email is one message (one Message-ID); a worker killed in
        // the middle of an SMTP conversation may repeat that conversation, and the
        // repeat carries the same Message-ID, which mail systems drop.
        let count_mail = |messages: Vec<server::smtp_capture::CapturedMail>| {
            let mut per_run: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for m in messages {
                if let Some(run) = m.subject().and_then(|s| s.strip_prefix("Drill booked ").map(str::to_owned)) {
                    per_run.entry(run).or_default().push(m.header("Message-ID").expect("every email has a Message-ID"));
                }
            }
            per_run
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        while count_mail(self.app.mailbox.messages().await).len() < accepted.len() {
            if Instant::now() > deadline {
                let outbox = self.unsent_mail().await;
                panic!(
                    "{} of {} emails arrived; unsent outbox rows: {outbox:?}",
                    count_mail(self.app.mailbox.messages().await).len(),
                    accepted.len()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Past the claim of a send cut short (15 s) and a sweep: any repeat would be here by now.
        tokio::time::sleep(Duration::from_secs(if self.kills > 0 { 18 } else { 3 })).await;
        let per_run = count_mail(self.app.mailbox.messages().await);
        let expected_runs: BTreeSet<String> = accepted.iter().map(Uuid::to_string).collect();
        assert_eq!(per_run.keys().cloned().collect::<BTreeSet<_>>(), expected_runs, "an email for every run");
        let two_messages: Vec<_> =
            per_run.iter().filter(|(_, ids)| ids.iter().collect::<BTreeSet<_>>().len() > 1).collect();
        assert!(two_messages.is_empty(), "no run's email was written twice: {two_messages:?}");
        let repeated: usize = per_run.values().map(|ids| ids.len() - 1).sum();
        assert!(
            repeated <= 4 * self.kills,
            "only a conversation cut short by a kill (at most one per email in flight) is repeated: {repeated}"
        );
        if self.kills == 0 {
            assert_eq!(repeated, 0, "without a kill no email is sent twice");
        }
        let unsent = self.unsent_mail().await;
        assert!(unsent.is_empty(), "every outbox row is recorded as sent: {unsent:?}");
        repeats
    }
}

/// Delivers one event until Steward answers 2xx; notes each refusal.
async fn deliver(base: &str, secret: &str, id: &str, sent: &mut Sent) -> Uuid {
    let body = fresh_lead().to_string();
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ts = chrono::Utc::now().timestamp();
        let signature = store::webhook_secrets::sign(secret, id, ts, body.as_bytes()).unwrap();
        let started = Instant::now();
        let res = http
            .post(format!("{base}/hooks/{DEMO}/{DRILL}"))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", signature)
            .body(body.clone())
            .send()
            .await;
        sent.slowest = sent.slowest.max(started.elapsed());
        match res {
            Ok(res) if res.status().is_success() => {
                let body: Value = res.json().await.unwrap();
                return body["run_id"].as_str().unwrap().parse().unwrap();
            }
            Ok(res) => {
                let status = res.status();
                assert_eq!(
                    status,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "only 503 while a backend is down: {}",
                    res.text().await.unwrap_or_default()
                );
                let explained = res.headers().contains_key("retry-after")
                    && res.json::<Value>().await.is_ok_and(|b| b["error"].is_string() || b["message"].is_string());
                sent.refusals_explained &= explained;
                *sent.refusals.entry(status.as_u16()).or_default() += 1;
            }
            Err(e) => panic!("the door did not answer: {e}"),
        }
        assert!(Instant::now() < deadline, "event {id} was never accepted");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test]
async fn a_worker_killed_mid_stream_loses_nothing_and_sends_each_email_once() {
    let mut drill = Drill::start(false, &[]).await;
    let stream = drill.stream(60, Duration::from_millis(40));
    // Let runs get under way, then kill the worker outright.
    while drill.booking.received_requests().await.unwrap().len() < 10 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drill.worker().signal("KILL");
    drill.kills += 1;
    assert!(drill.worker().exited_within(Duration::from_secs(10)).await.is_some());
    tokio::time::sleep(Duration::from_millis(500)).await;
    drill.start_worker(&[]);
    let sent = stream.await.unwrap();
    assert!(sent.refusals.is_empty(), "a dead worker does not stop the door: {:?}", sent.refusals);
    let repeats = drill.settle(&sent).await;
    // Only a step cut short by the kill runs again (with the same key); at most one per run in flight.
    assert!(repeats <= 8, "{repeats} booking calls repeated");
}

#[tokio::test]
async fn redis_killed_and_restarted_empty_loses_nothing() {
    let mut drill = Drill::start(false, &[]).await;
    let stream = drill.stream(60, Duration::from_millis(40));
    while drill.booking.received_requests().await.unwrap().len() < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drill.redis.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    drill.redis.start_again();
    let sent = stream.await.unwrap();
    assert!(sent.refusals.is_empty(), "the door accepts what it commits while Redis is down: {:?}", sent.refusals);
    eprintln!("slowest answer while Redis was down: {:?}", sent.slowest);
    assert_eq!(drill.settle(&sent).await, 0, "no booking repeated");
    assert!(drill.worker().exited_within(Duration::ZERO).await.is_none(), "the worker kept running");
}

#[tokio::test]
async fn redis_unresponsive_past_the_client_timeout_does_not_stop_the_worker() {
    let mut drill = Drill::start(false, &[]).await;
    let stream = drill.stream(60, Duration::from_millis(40));
    while drill.booking.received_requests().await.unwrap().len() < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Longer than the two-second response timeout: the case that left workers "Dead" for good.
    drill.redis.pause(6000).await;
    let sent = stream.await.unwrap();
    assert!(sent.refusals.is_empty(), "{:?}", sent.refusals);
    assert_eq!(drill.settle(&sent).await, 0, "no booking repeated");
    assert!(drill.worker().exited_within(Duration::ZERO).await.is_none(), "the worker kept running");
    let restarts: Option<i32> = crate::support::scalar(
        &drill.app.db,
        "SELECT max(restarts) AS value FROM public.worker_heartbeats WHERE queue = 'runs'",
    )
    .await;
    assert!(restarts.unwrap_or(0) >= 1, "the run consumer felt the pause and was started again");
}

#[tokio::test]
async fn postgres_stopped_and_started_again_loses_nothing_and_the_door_says_503() {
    let mut drill = Drill::start(true, &[]).await;
    let stream = drill.stream(200, Duration::from_millis(50));
    while drill.booking.received_requests().await.unwrap().len() < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drill.postgres.as_ref().unwrap().stop_immediately();
    // /readyz answers promptly and names the dependency that failed.
    let ready = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .unwrap()
        .get(format!("{}/readyz", drill.app.base))
        .send()
        .await
        .expect("/readyz answers during the outage");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["failed"], serde_json::json!(["postgres"]), "{body}");
    // Longer than a request waits for a connection, so senders hear 503.
    tokio::time::sleep(Duration::from_secs(6)).await;
    drill.postgres.as_ref().unwrap().start_again();
    let sent = stream.await.unwrap();
    assert!(sent.refusals.contains_key(&503), "the sender met the outage: {:?}", sent.refusals);
    assert!(sent.refusals_explained, "every 503 said why and when to retry");
    drill.settle(&sent).await;
    assert!(drill.worker().exited_within(Duration::ZERO).await.is_none(), "the worker kept running");
}

#[tokio::test]
async fn sigterm_mid_stream_finishes_what_is_in_flight_and_a_new_worker_continues() {
    let mut drill = Drill::start(false, &[]).await;
    let stream = drill.stream(40, Duration::from_millis(40));
    while drill.booking.received_requests().await.unwrap().len() < 5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drill.worker().signal("TERM");
    let status = drill.worker().exited_within(Duration::from_secs(30)).await.expect("the worker stops on SIGTERM");
    assert!(status.success(), "a clean exit: {}", drill.worker().log_text());
    drill.start_worker(&[]);
    let sent = stream.await.unwrap();
    assert_eq!(drill.settle(&sent).await, 0, "a clean stop cuts no step short");
}

#[tokio::test]
async fn fifty_concurrent_copies_of_one_delivery_make_one_run_and_one_of_each_side_effect() {
    let mut drill = Drill::start(false, &[]).await;
    let (base, secret) = (drill.app.base.clone(), drill.secret.clone());
    let copies = (0..50).map(|_| {
        let (base, secret) = (base.clone(), secret.clone());
        tokio::spawn(async move {
            let mut sent = Sent::default();
            deliver(&base, &secret, "drill_storm_1", &mut sent).await
        })
    });
    let runs: BTreeSet<Uuid> = futures::future::join_all(copies).await.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(runs.len(), 1, "every copy was answered with the same run");
    let sent = Sent { runs: [("drill_storm_1".to_string(), *runs.first().unwrap())].into(), ..Default::default() };
    assert_eq!(drill.settle(&sent).await, 0);
}

#[tokio::test]
async fn a_worker_that_cannot_reach_redis_exits_non_zero_to_be_restarted() {
    let mut drill = Drill::start(false, &[("STEWARD_WORKER_RESTARTS", "2")]).await;
    // Wait until it is consuming, then take Redis away for good.
    let deadline = Instant::now() + Duration::from_secs(20);
    while crate::support::scalar::<i64>(&drill.app.db, "SELECT count(*) AS value FROM public.worker_heartbeats").await
        == Some(0)
    {
        assert!(Instant::now() < deadline, "the worker never beat");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drill.redis.kill();
    let status = drill.worker().exited_within(Duration::from_secs(60)).await.expect("the worker gives up and exits");
    assert!(!status.success(), "a non-zero exit, so whatever runs it starts it again");
    assert!(drill.worker().log_text().contains("giving up"), "the log says why");
}

#[tokio::test]
async fn a_stalled_queue_fails_readiness_on_request_and_tells_operations_once() {
    // One run at a time, and the booking API hangs: work waits and nothing is consumed.
    let mut drill = Drill::start_tuned(
        false,
        &[("STEWARD_RUN_CONCURRENCY", "1"), ("STEWARD_STALL_SECONDS", "2")],
        Some(Box::new(|s| s.runs.stall_seconds = 2)),
    )
    .await;
    drill.booking.reset().await;
    Mock::given(matchers::any())
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"booked":true}"#).set_delay(Duration::from_secs(10)),
        )
        .mount(&drill.booking)
        .await;
    // The first run hangs on the API for ten seconds while the second waits behind it.
    let stream = drill.stream(2, Duration::ZERO);
    let sent = stream.await.unwrap();
    assert_eq!(sent.runs.len(), 2);
    let alert = drill
        .app
        .mailbox
        .wait_for("ops@acme-plumbing.test", Duration::from_secs(30))
        .await
        .expect("operations hear about the stall");
    assert!(alert.subject().unwrap_or_default().contains("no worker is taking it"), "{:?}", alert.subject());
    assert!(alert.decoded().contains("runs jobs are waiting"), "{}", alert.decoded());
    // The door stays open; a monitor that asks for the workers hears 503.
    let client = drill.app.client();
    let plain: Value = client.get("/readyz").await.json().await.unwrap();
    assert_eq!(plain["status"], "degraded", "{plain}");
    assert_eq!(plain["stalled"], serde_json::json!(["runs"]));
    let strict = client.get("/readyz?workers=required").await;
    assert_eq!(strict.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Operations see it on the Runs page.
    let ops = drill.app.signed_in(DEMO, "ops@acme-plumbing.test", DEMO_PASSWORD).await;
    let line: Value = ops.call("delivery_health", &[("slug", DEMO)]).await.json().await.unwrap();
    let runs = line["queues"].as_array().unwrap().iter().find(|q| q["queue"] == "runs").unwrap().clone();
    assert!(runs["stalled"].as_str().is_some_and(|s| s.contains("no worker has taken one")), "{line}");
    // The runs finish once the API answers; the stall alert went out once.
    drill.settle(&sent).await;
    let alerts = drill
        .app
        .mailbox
        .messages()
        .await
        .into_iter()
        .filter(|m| m.subject().is_some_and(|s| s.contains("no worker is taking it")))
        .count();
    assert_eq!(alerts, 1, "one email per stall");
}
