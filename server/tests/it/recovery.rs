//! Crash safety: a worker killed in the middle of a run, and a run whose
//! job vanished from Redis, both end up completed, and a step that had
//! finished is not executed again.

use crate::support::*;
use redis::AsyncCommands;
use reqwest::StatusCode;
use sea_orm::ConnectionTrait;
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::Duration;
use wiremock::{matchers, Mock, MockServer, ResponseTemplate};

/// Short leases and a quick sweeper, so recovery happens within a test.
fn quick(settings: &mut store::config::Settings) {
    settings.runs.lease_seconds = 2;
    settings.runs.sweep_seconds = 1;
    settings.runs.stale_seconds = 1;
}

#[tokio::test]
async fn a_worker_killed_mid_run_is_replaced_and_the_finished_step_is_not_repeated() {
    let side_effect = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"booked":true}"#))
        .mount(&side_effect)
        .await;
    let slow = MockServer::start().await;
    // The first call hangs (the worker dies during it); later calls answer at once.
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"ok":1}"#).set_delay(Duration::from_secs(30)))
        .up_to_n_times(1)
        .mount(&slow)
        .await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"ok":2}"#))
        .mount(&slow)
        .await;

    let mut app = TestApp::spawn().await;
    quick(&mut app.settings);
    app.publish_workflow(&format!(
            "workflow: crash-test\nversion: 1\ntrigger: {{ source: webhook, event: lead.created }}\nsteps:\n  - {{ id: book, type: api_call, method: POST, url: '{}/book', output: booking }}\n  - {{ id: wait, type: api_call, url: '{}/slow', timeout: 60, output: slow }}\n  - {{ id: done, type: rules, rules: [ {{ when: 'booking.booked', then: 'booked' }} ], output: result }}\n",
            side_effect.uri(),
            slow.uri()
        ),
    )
    .await;

    // The worker as its own process, as in production.
    let mut worker = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("worker")
        .env("DATABASE_URL", &app.settings.database_url)
        .env("REDIS_URL", &app.settings.redis_url)
        .env("SMTP_URL", &app.settings.smtp_url)
        .env("STEWARD_REDIS_PREFIX", &app.settings.redis_prefix)
        .env("STEWARD_RUN_LEASE_SECONDS", "2")
        .env("STEWARD_SWEEP_SECONDS", "1")
        .env("STEWARD_STALE_SECONDS", "1")
        .env("STEWARD_OUTBOUND_ALLOW", app.settings.outbound_allow.join(","))
        .env("RUST_LOG", "warn")
        .env_remove("STEWARD_ENV")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the steward binary");

    let secret = app.webhook_secret("crash-test").await;
    let res = app
        .signed_post(DEMO, "crash-test", &secret, "c1", chrono::Utc::now().timestamp(), &fresh_lead().to_string(), &[])
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let run_id: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();

    // Wait until the worker is inside the slow step, then kill it outright.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while slow.received_requests().await.unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "the worker never reached the slow step");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Command::new("kill").args(["-KILL", &worker.id().to_string()]).status().unwrap();
    worker.wait().unwrap();
    let status: String = app.demo_value("SELECT status FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap();
    assert_eq!(status, "running", "the dead worker's lease still holds the run");

    // A new worker takes over once the lease lapses.
    app.start_worker();
    assert_eq!(app.wait_for_run(run_id, &["completed", "failed"]).await, "completed");
    assert_eq!(side_effect.received_requests().await.unwrap().len(), 1, "the finished side effect ran exactly once");
    assert_eq!(slow.received_requests().await.unwrap().len(), 2, "the interrupted step ran again");
    let executions: i32 =
        app.demo_value("SELECT executions FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap();
    assert_eq!(executions, 2);
    let result: Value = app
        .demo_value("SELECT output FROM run_steps WHERE run_id = $1 AND step_id = 'done'", vec![run_id.into()])
        .await
        .unwrap();
    assert_eq!(result["decision"], "booked");
}

#[tokio::test]
async fn the_sweeper_recovers_a_run_whose_job_was_lost_from_redis() {
    let mut app = TestApp::spawn().await;
    quick(&mut app.settings);
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run_id = app.send_lead(&secret, &fresh_lead()).await;
    // Redis loses everything the queue held.
    let mut redis =
        redis::Client::open(app.settings.redis_url.as_str()).unwrap().get_connection_manager().await.unwrap();
    // The door wakes the worker in the background, just after the 202: wait for the job to be queued.
    let sent = format!("{}:runs:sent", app.settings.redis_prefix);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while redis.zscore::<_, _, Option<f64>>(&sent, run_id.to_string()).await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the job was queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let keys: Vec<String> = redis.keys(format!("{}:runs*", app.settings.redis_prefix)).await.unwrap();
    let _: () = redis.del(keys).await.unwrap();
    let still: Vec<String> = redis.keys(format!("{}:runs*", app.settings.redis_prefix)).await.unwrap();
    assert!(still.is_empty());

    app.start_worker();
    let status = app.wait_for_run(run_id, &["completed", "waiting_for_review", "failed"]).await;
    assert_ne!(status, "failed");
    let steps: i64 = app
        .demo_value("SELECT count(*) FROM run_steps WHERE run_id = $1 AND status = 'completed'", vec![run_id.into()])
        .await
        .unwrap();
    assert!(steps >= 3, "the run was executed after the sweeper re-sent it");
}

#[tokio::test]
async fn a_business_at_rest_is_left_alone_until_work_appears_and_then_its_lost_mail_is_sent() {
    let mut app = TestApp::spawn().await;
    quick(&mut app.settings);
    let signup = engine::signup::SignupForm {
        business_name: "Quiet Bakery".into(),
        slug: "quiet-bakery".into(),
        email: "owner@quiet-bakery.test".into(),
        password: "copper kettle harbor 42".into(),
    };
    let quiet = store::tenants::create_business(&app.db, &signup.validate().unwrap()).await.unwrap();
    let busy = |db: sea_orm::DatabaseConnection| async move {
        store::tenants::with_work(&db).await.unwrap().iter().map(|t| t.id()).collect::<Vec<_>>()
    };

    // The worker's first pass visits every business and rests those with nothing to do.
    let cx = worker::context::Context::connect(&app.settings).await.unwrap();
    worker::sweeper::sweep(&cx).await.unwrap();
    assert!(!busy(app.db.clone()).await.contains(&quiet.tenant.id), "a business with no work is at rest");

    // Work appears: the owner invites someone; the invitation email is written but its job never
    // reaches the queue (as if the server died right after the commit).
    let owner = store::auth::member_by_email(&app.db, "quiet-bakery", "owner@quiet-bakery.test").await.unwrap();
    store::invitations::invite(&app.db, &app.settings, &owner, "baker@quiet-bakery.test", "engineer", |_, link| {
        store::outbox::OutboxEmail {
            to: "baker@quiet-bakery.test".into(),
            subject: "Join Quiet Bakery".into(),
            text: link.to_owned(),
            html: link.to_owned(),
            attachments: vec![],
        }
    })
    .await
    .map_err(|e| format!("{e:?}"))
    .unwrap();
    assert!(busy(app.db.clone()).await.contains(&quiet.tenant.id), "new mail marks the business busy");

    // The next pass is not a full one (that comes every 10 minutes), yet it finds the mail.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let swept = worker::sweeper::sweep(&cx).await.unwrap();
    assert_eq!(swept.mail_queued, 1, "the sweeper queued the invitation nobody had queued");
    let txn = store::db::tenant_txn(&app.db, &quiet.tenant.schema_name).await.unwrap();
    let row = txn
        .query_one_raw(store::db::stmt(
            "SELECT queued_at FROM outbox WHERE recipient = 'baker@quiet-bakery.test'",
            vec![],
        ))
        .await
        .unwrap()
        .expect("the invitation email is in the outbox");
    txn.commit().await.unwrap();
    let queued: Option<chrono::DateTime<chrono::Utc>> = row.try_get("", "queued_at").unwrap();
    assert!(queued.is_some(), "the email was handed to the mail queue");
    assert!(busy(app.db.clone()).await.contains(&quiet.tenant.id), "it stays busy until the email is sent");
}

#[tokio::test]
async fn of_two_workers_that_read_one_queued_run_only_the_first_to_write_ends_it() {
    use store::runs::{self, Claim, Ending, Progress};
    let app = TestApp::spawn().await;
    let tenant = app.demo_current_member(engine::Role::Owner).await.tenant;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let context = serde_json::json!({});
    let done = Some((Ending::Completed, None));

    // A run read while queued is ended by its one write, which claims it: one execution, a start and an end.
    let run_id = app.send_lead(&secret, &fresh_lead()).await;
    let a = runs::open(&app.db, &tenant, run_id, "worker-a", 30).await.unwrap().expect("a queued run opens");
    let b = runs::open(&app.db, &tenant, run_id, "worker-b", 30).await.unwrap().expect("and opens for a second worker");
    assert!(matches!(a.claim, Claim::Unclaimed { executions: 0, .. }));
    assert!(matches!(b.claim, Claim::Unclaimed { executions: 0, .. }));
    let wrote = runs::advance(&app.db, &tenant, run_id, "worker-a", a.claim, &Progress::default(), &context, 3, done)
        .await
        .unwrap();
    assert!(wrote.is_some(), "the first write ends the run");
    let lost = runs::advance(&app.db, &tenant, run_id, "worker-b", b.claim, &Progress::default(), &context, 3, done)
        .await
        .unwrap();
    assert!(lost.is_none(), "the second worker's write changes nothing");
    assert!(
        !runs::claim(&app.db, &tenant, run_id, "worker-b", 30, b.claim).await.unwrap(),
        "nor may it take the lease"
    );
    let (status, executions, started): (String, i32, bool) = (
        app.demo_value("SELECT status FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap(),
        app.demo_value("SELECT executions FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap(),
        // Started when it was read, not when it was written.
        app.demo_value("SELECT started_at < finished_at FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap(),
    );
    assert_eq!((status.as_str(), executions, started), ("completed", 1, true));
    assert!(runs::open(&app.db, &tenant, run_id, "worker-c", 30).await.unwrap().is_none(), "a finished run stays shut");

    // A worker that takes the lease (before a step reaches the outside world) shuts out the other's write.
    let run_id = app.send_lead(&secret, &fresh_lead()).await;
    let a = runs::open(&app.db, &tenant, run_id, "worker-a", 30).await.unwrap().unwrap();
    let b = runs::open(&app.db, &tenant, run_id, "worker-b", 30).await.unwrap().unwrap();
    assert!(runs::claim(&app.db, &tenant, run_id, "worker-b", 30, b.claim).await.unwrap());
    let lost = runs::advance(&app.db, &tenant, run_id, "worker-a", a.claim, &Progress::default(), &context, 3, done)
        .await
        .unwrap();
    assert!(lost.is_none(), "a write on a run another worker claimed changes nothing");
    let status: String = app.demo_value("SELECT status FROM runs WHERE id = $1", vec![run_id.into()]).await.unwrap();
    assert_eq!(status, "running");
    assert!(runs::open(&app.db, &tenant, run_id, "worker-a", 30).await.unwrap().is_none(), "its lease holds");
    let wrote =
        runs::advance(&app.db, &tenant, run_id, "worker-b", Claim::Held, &Progress::default(), &context, 3, done)
            .await
            .unwrap();
    assert!(wrote.is_some(), "the lease holder ends it");
}

#[tokio::test]
async fn a_burst_of_events_wakes_a_worker_for_each_run_and_the_worker_notes_each_job_taken() {
    let mut app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    // Twenty events at once: their wake-ups reach Redis in batches, none lost on the way.
    let leads: Vec<Value> = (0..20).map(|_| fresh_lead()).collect();
    let sends = leads.iter().map(|lead| app.send_lead(&secret, lead));
    let runs: Vec<uuid::Uuid> = futures::future::join_all(sends).await;
    let mut redis =
        redis::Client::open(app.settings.redis_url.as_str()).unwrap().get_connection_manager().await.unwrap();
    let sent = format!("{}:runs:sent", app.settings.redis_prefix);
    let noted = |redis: &mut redis::aio::ConnectionManager| {
        let (mut redis, sent, runs) = (redis.clone(), sent.clone(), runs.clone());
        async move {
            let ids: Vec<String> = runs.iter().map(|r| r.to_string()).collect();
            let scores: Vec<Option<f64>> =
                redis::cmd("ZMSCORE").arg(&sent).arg(&ids).query_async(&mut redis).await.unwrap();
            scores.iter().filter(|s| s.is_some()).count()
        }
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while noted(&mut redis).await < runs.len() {
        assert!(std::time::Instant::now() < deadline, "every run's job was sent and noted as waiting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The sweeper would only re-send after a minute: each run rests because its own job woke a worker.
    app.start_worker();
    for run_id in &runs {
        let status = app.wait_for_run(*run_id, &["completed", "waiting_for_review", "failed"]).await;
        assert_ne!(status, "failed");
    }
    // ... and the worker noted every job as taken, so the sweeper and the stall watch see none waiting.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while noted(&mut redis).await > 0 {
        assert!(std::time::Instant::now() < deadline, "every job was noted as taken");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn runs_opened_and_ended_in_groups_each_end_once_and_a_run_another_worker_took_is_left_alone() {
    use engine::workflow::StepKind;
    use engine::StepStatus;
    use store::runs::{self, Ending, Finish, Progress, StepRecord};
    let app = TestApp::spawn().await;
    let tenant = app.demo_current_member(engine::Role::Owner).await.tenant;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let groups = store::run_groups::RunGroups::new(app.db.clone(), "worker-a".into(), 30, 8);
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(app.send_lead(&secret, &fresh_lead()).await);
    }

    // Six runs opened at once: each is read while queued, nothing written.
    let opened = futures::future::join_all(ids.iter().map(|id| groups.open(&tenant, *id))).await;
    let leases: Vec<runs::Lease> =
        opened.into_iter().map(|o| o.unwrap().expect("a queued run opens in a group")).collect();
    assert!(leases.iter().all(|l| matches!(l.claim, runs::Claim::Unclaimed { executions: 0, .. })));
    // Meanwhile another worker reads the last one and takes its lease (a step of it reaches the outside world).
    let other = runs::open(&app.db, &tenant, ids[5], "worker-b", 30).await.unwrap().unwrap();
    assert!(runs::claim(&app.db, &tenant, ids[5], "worker-b", 30, other.claim).await.unwrap());

    // All six end at once, the fifth failed with its reason; each with one step record.
    let finishes = ids.iter().zip(&leases).enumerate().map(|(i, (id, lease))| {
        let mut step = StepRecord::new(0, "normalize", StepKind::Function, StepStatus::Completed);
        step.started_at = Some(chrono::Utc::now());
        let progress = Progress { records: vec![step], ..Default::default() };
        let (ending, error) =
            if i == 4 { (Ending::Failed, Some("the lookup said no")) } else { (Ending::Completed, None) };
        let context = serde_json::json!({ "event": { "n": i } });
        Finish::new(*id, lease.claim, &progress, &context, 1, ending, error).expect("an unclaimed end without mail")
    });
    let ended = futures::future::join_all(finishes.map(|f| groups.end(&tenant, f))).await;
    let ended: Vec<bool> = ended.into_iter().map(|e| e.unwrap()).collect();
    assert_eq!(ended, [true, true, true, true, true, false], "every run ends but the one another worker took");

    for (i, id) in ids.iter().enumerate() {
        let row = |sql: &'static str| app.demo_value::<String>(sql, vec![(*id).into()]);
        let status =
            row("SELECT status || '/' || executions || '/' || coalesce(error, '') FROM runs WHERE id = $1").await;
        let steps: i64 =
            app.demo_value("SELECT count(*) FROM run_steps WHERE run_id = $1", vec![(*id).into()]).await.unwrap();
        let context = row("SELECT context::text FROM runs WHERE id = $1").await.unwrap();
        match i {
            5 => {
                assert_eq!(status.unwrap(), "running/1/", "the other worker's run is untouched");
                assert_eq!(steps, 0);
            }
            4 => assert_eq!((status.unwrap().as_str(), steps), ("failed/1/the lookup said no", 1)),
            _ => {
                assert_eq!((status.unwrap().as_str(), steps), ("completed/1/", 1), "run {i}");
                assert_eq!(context, format!("{{\"event\": {{\"n\": {i}}}}}"), "each run keeps its own context");
            }
        }
    }
    assert!(groups.open(&tenant, ids[0]).await.unwrap().is_none(), "an ended run stays shut");
}

#[tokio::test]
async fn a_business_whose_run_writes_wait_on_a_lock_holds_up_only_its_own_runs() {
    use store::runs::{Claim, Ending, Finish, Progress};
    let app = TestApp::spawn().await;
    let tenant = app.demo_current_member(engine::Role::Owner).await.tenant;
    let signup = engine::signup::SignupForm {
        business_name: "Quiet Bakery".into(),
        slug: "quiet-bakery".into(),
        email: "owner@quiet-bakery.test".into(),
        password: "copper kettle harbor 42".into(),
    };
    store::tenants::create_business(&app.db, &signup.validate().unwrap()).await.unwrap();
    let bakery = store::auth::member_by_email(&app.db, "quiet-bakery", "owner@quiet-bakery.test").await.unwrap().tenant;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let (first, second) = (app.send_lead(&secret, &fresh_lead()).await, app.send_lead(&secret, &fresh_lead()).await);
    let groups = store::run_groups::RunGroups::new(app.db.clone(), "worker-a".into(), 30, 8);
    let finish = |run_id, claim| {
        Finish::new(run_id, claim, &Progress::default(), &serde_json::json!({}), 1, Ending::Completed, None).unwrap()
    };

    // Someone holds both runs' rows (a long transaction), so each ending waits, in groups of its own.
    let holder = store::db::tenant_txn(&app.db, tenant.schema()).await.unwrap();
    holder
        .execute_unprepared(&format!("SELECT 1 FROM runs WHERE id IN ('{first}', '{second}') FOR UPDATE"))
        .await
        .unwrap();
    let mut endings = Vec::new();
    for run_id in [first, second] {
        let claim = groups.open(&tenant, run_id).await.unwrap().expect("a queued run opens").claim;
        let (groups, tenant) = (groups.clone(), tenant.clone());
        endings.push(tokio::spawn(async move { groups.end(&tenant, finish(run_id, claim)).await }));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(endings.iter().all(|e| !e.is_finished()), "both endings wait for the lock");

    // Meanwhile another business's runs are opened and ended as usual.
    let elsewhere = uuid::Uuid::new_v4();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        assert!(groups.open(&bakery, elsewhere).await.unwrap().is_none(), "no such run there");
        let claim = Claim::Unclaimed { executions: 0, read_at: chrono::Utc::now() };
        groups.end(&bakery, finish(elsewhere, claim)).await.unwrap()
    })
    .await
    .expect("another business is not held up by this one's lock");
    assert!(!ended, "nothing to end there");

    holder.rollback().await.unwrap();
    for ending in endings {
        assert!(ending.await.unwrap().unwrap(), "the waiting endings go through once the lock is gone");
    }
    for run_id in [first, second] {
        let status = app.demo_value::<String>("SELECT status FROM runs WHERE id = $1", vec![run_id.into()]).await;
        assert_eq!(status.as_deref(), Some("completed"));
    }
}

#[tokio::test]
async fn a_step_that_cannot_reach_storage_leaves_its_run_to_be_resumed_not_failed() {
    let app = TestApp::spawn().await;
    let tenant = app.demo_current_member(engine::Role::Owner).await.tenant;
    // The normalize step reads the business's data contract when it first runs; the lead named
    // "Tidy Co" is the first to need it.
    let (name, _) = app
        .publish_workflow(
            "workflow: storage-blink\nversion: 1\ntrigger: { source: webhook, event: lead.created }\nsteps:\n  \
             - { id: tidy, type: function, function: normalize, data_contract: lead, when: \"event.companyName == 'Tidy Co'\", output: lead }\n",
        )
        .await;
    let secret = app.webhook_secret(&name).await;
    let send = |lead: Value| {
        let (app, secret, name) = (&app, secret.clone(), name.clone());
        async move {
            let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
            let res = app
                .signed_post(DEMO, &name, &secret, &id, chrono::Utc::now().timestamp(), &lead.to_string(), &[])
                .await;
            assert_eq!(res.status(), StatusCode::ACCEPTED);
            res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap()
        }
    };
    let status = |id: uuid::Uuid| app.demo_value::<String>("SELECT status FROM runs WHERE id = $1", vec![id.into()]);

    // A first run reads the workflow, its masked keys and the rates into the worker's memory.
    let cx = worker::context::Context::connect(&app.settings).await.unwrap();
    let first = send(fresh_lead()).await;
    worker::executor::execute(&cx, &store::jobs::RunJob::new(&tenant, first)).await.unwrap();
    assert_eq!(status(first).await.as_deref(), Some("completed"));

    // Then the database refuses the steps' connections (the runs' own writes still go through).
    let mut refused = sea_orm::ConnectOptions::new("postgres://postgres@127.0.0.1:1/steward".to_owned());
    refused.connect_lazy(true).connect_timeout(Duration::from_secs(1)).acquire_timeout(Duration::from_secs(1));
    let blinking = worker::context::Context { db: sea_orm::Database::connect(refused).await.unwrap(), ..cx.clone() };
    let mut lead = fresh_lead();
    lead["companyName"] = "Tidy Co".into();
    let second = send(lead).await;
    let job = store::jobs::RunJob::new(&tenant, second);
    assert!(
        worker::executor::execute(&blinking, &job).await.is_err(),
        "the execution stops on the storage error, for the sweeper to resume"
    );
    assert_eq!(status(second).await.as_deref(), Some("queued"), "the run is not failed for a storage error");
    let failed_steps: i64 = app
        .demo_value("SELECT count(*) FROM run_steps WHERE run_id = $1 AND status = 'failed'", vec![second.into()])
        .await
        .unwrap();
    assert_eq!(failed_steps, 0, "no step is recorded as failed");

    // Storage answers again: the run completes, normalised.
    worker::executor::execute(&cx, &job).await.unwrap();
    assert_eq!(status(second).await.as_deref(), Some("completed"));
    let normalised: Option<String> =
        app.demo_value("SELECT context -> 'lead' ->> 'companyName' FROM runs WHERE id = $1", vec![second.into()]).await;
    assert!(normalised.is_some(), "the normalize step ran once storage answered");
}

#[tokio::test]
async fn redis_keeps_nothing_of_the_jobs_a_worker_finished() {
    // The worker's own sweeps are an hour apart: this test sweeps when it is ready to look.
    let app = TestApp::spawn_with(Options {
        worker: true,
        tune: Some(Box::new(|s| s.runs.sweep_seconds = 3600)),
        ..Default::default()
    })
    .await;
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let mut runs = Vec::new();
    for _ in 0..3 {
        runs.push(app.send_lead(&secret, &fresh_lead()).await);
    }
    for run in &runs {
        app.wait_for_run(*run, &["completed", "waiting_for_review", "failed"]).await;
    }
    let mut redis =
        redis::Client::open(app.settings.redis_url.as_str()).unwrap().get_connection_manager().await.unwrap();
    let queue = format!("{}:runs", app.settings.redis_prefix);
    let kept = |mut redis: redis::aio::ConnectionManager, queue: String| async move {
        let done: usize = redis.scard(format!("{queue}:done")).await.unwrap();
        let arguments: usize = redis.hlen(format!("{queue}:data")).await.unwrap();
        let meta: Vec<String> = redis.keys(format!("{queue}:meta:*")).await.unwrap();
        (done, arguments, meta.len())
    };
    // apalis records each finished job (its id, arguments and metadata) and keeps it.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while kept(redis.clone(), queue.clone()).await.0 < runs.len() {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker acknowledged its jobs: {:?}",
            kept(redis.clone(), queue.clone()).await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, arguments, meta) = kept(redis.clone(), queue.clone()).await;
    assert!(arguments >= runs.len() && meta >= runs.len(), "each finished job is still in Redis before a sweep");

    // A sweep forgets them all, and a job given up (dead) too; a job waiting its turn is left alone.
    let mut app = app;
    app.stop_worker().await.unwrap();
    let _: () = redis.sadd(format!("{queue}:dead"), "given-up").await.unwrap();
    let _: () = redis.hset(format!("{queue}:data"), "given-up", "{}").await.unwrap();
    let _: () = redis.hset(format!("{queue}:meta:given-up"), "status", "Killed").await.unwrap();
    let cx = worker::context::Context::connect(&app.settings).await.unwrap();
    let tenant = app.demo_current_member(engine::Role::Owner).await.tenant;
    cx.runs.wake(store::jobs::RunJob::new(&tenant, runs[0])).await.unwrap();
    worker::sweeper::sweep(&cx).await.unwrap();
    let dead: usize = redis.scard(format!("{queue}:dead")).await.unwrap();
    assert_eq!(dead, 0, "the given-up job is forgotten");
    assert_eq!(
        kept(redis.clone(), queue.clone()).await,
        (0, 1, 1),
        "nothing is left of ended jobs, and the job waiting its turn keeps its arguments and metadata"
    );
}

#[tokio::test]
async fn an_answer_storage_cannot_keep_fails_its_step_once_and_is_not_called_again() {
    let vendor = MockServer::start().await;
    // A NUL character in a value: valid JSON, which PostgreSQL stores in no text or JSON column.
    Mock::given(matchers::path("/company"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"company": {"name": "Acme\u0000 Ltd"}}"#))
        .mount(&vendor)
        .await;
    Mock::given(matchers::path("/huge"))
        .respond_with(ResponseTemplate::new(200).set_body_string(format!(r#"{{"blob": "{}"}}"#, "x".repeat(1_100_000))))
        .mount(&vendor)
        .await;
    let app = TestApp::spawn_with(Options { worker: true, tune: Some(Box::new(quick)), ..Default::default() }).await;
    let (name, _) = app
        .publish_workflow(&format!(
            "workflow: odd-answers\nversion: 1\ntrigger: {{ source: webhook, event: lead.created }}\nsteps:\n  \
             - {{ id: lookup, type: api_call, url: \"{}{{{{ event.path }}}}\", deterministic: true, output: company }}\n",
            vendor.uri()
        ))
        .await;
    let secret = app.webhook_secret(&name).await;
    let send = async |path: &str| {
        let mut lead = fresh_lead();
        lead["path"] = path.into();
        let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
        let res =
            app.signed_post(DEMO, &name, &secret, &id, chrono::Utc::now().timestamp(), &lead.to_string(), &[]).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
        res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap()
    };
    let (nul, huge) = (send("/company").await, send("/huge").await);
    let step_error = |run: uuid::Uuid| {
        app.demo_value::<String>(
            "SELECT error FROM run_steps WHERE run_id = $1 AND step_id = 'lookup'",
            vec![run.into()],
        )
    };

    assert_eq!(app.wait_for_run(nul, &["completed", "failed"]).await, "failed");
    let error = step_error(nul).await.expect("the step's failure is recorded");
    assert!(error.contains("NUL character") && error.contains("`company.name`"), "{error}");
    assert_eq!(app.wait_for_run(huge, &["completed", "failed"]).await, "failed");
    let error = step_error(huge).await.expect("the step's failure is recorded");
    assert!(error.contains("larger than 1024 kB"), "{error}");

    // Leases of 2 s and a sweep every second: a run left to be resumed would have called again by now.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let calls = |path: &'static str| {
        let vendor = &vendor;
        async move { vendor.received_requests().await.unwrap().iter().filter(|r| r.url.path() == path).count() }
    };
    assert_eq!(calls("/company").await, 1, "the call whose answer cannot be kept is made once");
    assert_eq!(calls("/huge").await, 1, "a too-large answer is not asked for again");
    for run in [nul, huge] {
        let status = app.demo_value::<String>("SELECT status FROM runs WHERE id = $1", vec![run.into()]).await;
        assert_eq!(status.as_deref(), Some("failed"), "the run rests failed");
    }
    // The unstorable answer was not cached: the next run asks the vendor again.
    let again = send("/company").await;
    assert_eq!(app.wait_for_run(again, &["completed", "failed"]).await, "failed");
    assert_eq!(calls("/company").await, 2);
}

#[tokio::test]
async fn a_run_whose_progress_storage_refuses_ends_failed_with_the_reason_instead_of_being_resumed_for_ever() {
    let app = TestApp::spawn().await;
    let tenant = app.demo_current_member(engine::Role::Owner).await.tenant;
    let (name, _) = app
        .publish_workflow(
            "workflow: refused-end\nversion: 1\ntrigger: { source: webhook, event: lead.created }\nsteps:\n  \
             - { id: route, type: rules, rules: [ { when: 'true', then: sales } ], output: owner }\n",
        )
        .await;
    // The business's storage refuses any run's completion (as a full quota or a broken
    // constraint would): not an outage, so waiting does not help.
    let schema = tenant.schema().to_owned();
    app.db
        .execute_unprepared(&format!(
            "CREATE FUNCTION \"{schema}\".refuse_completion() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN RAISE EXCEPTION 'the business''s storage quota is spent'; END $$;
             CREATE TRIGGER refuse_completion BEFORE UPDATE ON \"{schema}\".runs FOR EACH ROW
               WHEN (NEW.status = 'completed') EXECUTE FUNCTION \"{schema}\".refuse_completion();"
        ))
        .await
        .unwrap();
    let secret = app.webhook_secret(&name).await;
    let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
    let res = app
        .signed_post(DEMO, &name, &secret, &id, chrono::Utc::now().timestamp(), &fresh_lead().to_string(), &[])
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let run: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();

    let cx = worker::context::Context::connect(&app.settings).await.unwrap();
    let job = store::jobs::RunJob::new(&tenant, run);
    worker::executor::execute(&cx, &job).await.expect("the refusal is the run's end, not an error to retry");
    let (status, error): (Option<String>, Option<String>) = (
        app.demo_value("SELECT status FROM runs WHERE id = $1", vec![run.into()]).await,
        app.demo_value("SELECT error FROM runs WHERE id = $1", vec![run.into()]).await,
    );
    assert_eq!(status.as_deref(), Some("failed"));
    let error = error.unwrap_or_default();
    assert!(error.contains("storage quota is spent"), "the reason is kept: {error}");
    // Delivered again (the sweeper, a duplicate job), the run is at rest: nothing to do.
    worker::executor::execute(&cx, &job).await.unwrap();
    let status: Option<String> = app.demo_value("SELECT status FROM runs WHERE id = $1", vec![run.into()]).await;
    assert_eq!(status.as_deref(), Some("failed"));
}

#[tokio::test]
async fn a_run_whose_executions_keep_ending_without_finishing_it_is_given_up_after_the_set_number_of_takeovers() {
    // The call never answers in time: each execution of the run ends there (as if its worker
    // were killed at that step every time), and the next one calls again.
    let hangs = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"ok":1}"#).set_delay(Duration::from_secs(60)))
        .mount(&hangs)
        .await;
    let app = TestApp::spawn().await;
    let tenant = app.demo_current_member(engine::Role::Owner).await.tenant;
    let (name, _) = app
        .publish_workflow(&format!(
            "workflow: never-ends\nversion: 1\ntrigger: {{ source: webhook, event: lead.created }}\nsteps:\n  \
             - {{ id: tidy, type: rules, rules: [ {{ when: 'true', then: sales }} ], output: owner }}\n  \
             - {{ id: call, type: api_call, url: '{}/hang', timeout: 90, output: answer }}\n",
            hangs.uri()
        ))
        .await;
    let secret = app.webhook_secret(&name).await;
    let res = app
        .signed_post(
            DEMO,
            &name,
            &secret,
            "msg_never_ends",
            chrono::Utc::now().timestamp(),
            &fresh_lead().to_string(),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let run: uuid::Uuid = res.json::<Value>().await.unwrap()["run_id"].as_str().unwrap().parse().unwrap();

    let mut settings = app.settings.clone();
    quick(&mut settings);
    settings.runs.lease_seconds = 1;
    settings.runs.most_takeovers = 2;
    let cx = worker::context::Context::connect(&settings).await.unwrap();
    let job = store::jobs::RunJob::new(&tenant, run);
    let calls = || async { hangs.received_requests().await.unwrap().len() };
    // One execution, stopped outright once it has made its call.
    let execute_until_the_call = |n: usize| {
        let (cx, job) = (cx.clone(), job.clone());
        async move {
            let execution = tokio::spawn(async move { worker::executor::execute(&cx, &job).await });
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while calls().await < n {
                assert!(std::time::Instant::now() < deadline, "execution {n} never made its call");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            execution.abort();
            let _ = execution.await;
        }
    };
    // The sweeps until one finds the run under its lapsed lease.
    let sweep_until_lapsed = || async {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let swept = worker::sweeper::sweep(&cx).await.unwrap();
            if swept.runs_resent + swept.runs_given_up > 0 {
                return swept;
            }
            assert!(std::time::Instant::now() < deadline, "the run's lease never lapsed");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    let status = || app.demo_value::<String>("SELECT status FROM runs WHERE id = $1", vec![run.into()]);

    execute_until_the_call(1).await;
    for takeover in 1..=2 {
        let swept = sweep_until_lapsed().await;
        assert_eq!(
            (swept.runs_resent, swept.runs_given_up),
            (1, 0),
            "taken over {} time(s) so far: sent again",
            takeover - 1
        );
        assert_eq!(status().await.as_deref(), Some("running"));
        execute_until_the_call(takeover + 1).await;
    }
    let takeovers: i32 = app.demo_value("SELECT takeovers FROM runs WHERE id = $1", vec![run.into()]).await.unwrap();
    assert_eq!(takeovers, 2);

    // Its lease lapses a third time: the run ends failed, saying why and how far it got (the
    // rules step before the call is kept in memory until the run's next write, so not recorded).
    let swept = sweep_until_lapsed().await;
    assert_eq!((swept.runs_resent, swept.runs_given_up), (0, 1));
    assert_eq!(status().await.as_deref(), Some("failed"));
    let error: String = app.demo_value("SELECT error FROM runs WHERE id = $1", vec![run.into()]).await.unwrap();
    assert!(
        error.contains("Stopped after 3 executions") && error.contains("before any step was recorded as done"),
        "{error}"
    );
    // The job sent before is delivered: nothing is called again.
    worker::executor::execute(&cx, &job).await.unwrap();
    assert_eq!(calls().await, 3, "the call was made once per execution and not after the run was given up");
    assert_eq!(status().await.as_deref(), Some("failed"));
    // What the business reads of the run says why.
    let shown: Value = app
        .demo_member(engine::Role::Operations)
        .await
        .get(&format!("/api/v1/t/{DEMO}/runs/{run}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(shown["status"], "failed");
    assert!(shown["error"].as_str().unwrap_or_default().contains("Stopped after 3 executions"), "{shown}");
}

#[tokio::test]
async fn storage_that_asks_to_be_tried_again_is_an_outage_and_a_refused_statement_is_not() {
    let app = TestApp::spawn().await;
    let error = |sql: &'static str| {
        let db = app.db.clone();
        async move {
            let txn = sea_orm::TransactionTrait::begin(&db).await.unwrap();
            let e = txn.execute_unprepared(sql).await.expect_err("PostgreSQL refuses it");
            txn.rollback().await.unwrap();
            e
        }
    };
    let passes = |e: &sea_orm::DbErr| store::db::is_outage(e) && !store::db::is_refusal(e);
    // A statement past the role's `statement_timeout` (57014) goes through later.
    let timed_out = error("SET LOCAL statement_timeout = '50ms'; SELECT pg_sleep(1)").await;
    assert!(passes(&timed_out), "{timed_out}");
    // A lock not granted within `lock_timeout` (55P03) too.
    let holder = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    holder.execute_unprepared("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE").await.unwrap();
    let waited = error("SET LOCAL lock_timeout = '50ms'; SELECT count(*) FROM t_acme_plumbing.runs").await;
    holder.rollback().await.unwrap();
    assert!(passes(&waited), "{waited}");
    // A write sent to a read-only server (a standby after a failover, 25006), and a table a
    // migration has not made yet (42P01, an upgrade under way): waited out as well.
    let read_only = error("SET LOCAL transaction_read_only = on; CREATE TABLE t_acme_plumbing.nothing (x int)").await;
    assert!(passes(&read_only), "{read_only}");
    let behind = error("SELECT * FROM t_acme_plumbing.table_of_a_later_release").await;
    assert!(passes(&behind), "{behind}");
    // What would fail the same way every time is a refusal, and no outage.
    for sql in
        ["SELECT 1 / 0", "SELECT '{\"a\": \"\\u0000\"}'::jsonb", "DO $$ BEGIN RAISE EXCEPTION 'quota spent'; END $$"]
    {
        let refused = error(sql).await;
        assert!(!store::db::is_outage(&refused) && store::db::is_refusal(&refused), "{sql}: {refused}");
    }
    // An error that is not PostgreSQL's answer (a lost group of writes in the worker) is neither:
    // the run is left to the sweeper, never failed for it.
    let lost = sea_orm::DbErr::Custom("the group ending this run was lost".into());
    assert!(!store::db::is_refusal(&lost));
}

#[tokio::test]
async fn a_finished_test_leaves_nothing_in_the_shared_redis() {
    let mut app = TestApp::spawn().await;
    app.start_worker();
    let secret = app.webhook_secret(LEAD_WORKFLOW).await;
    let run = app.send_lead(&secret, &fresh_lead()).await;
    app.wait_for_run(run, &["completed", "waiting_for_review", "failed"]).await;
    let (url, prefix) = (app.settings.redis_url.clone(), app.settings.redis_prefix.clone());
    let redis = redis::Client::open(url.as_str()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let count = |mut redis: redis::aio::MultiplexedConnection, prefix: String| async move {
        let keys: Vec<String> = redis.keys(format!("{prefix}:*")).await.unwrap();
        keys.len()
    };
    assert!(count(redis.clone(), prefix.clone()).await > 0, "the worker and the door use Redis under the prefix");
    drop(app);
    assert_eq!(count(redis, prefix).await, 0, "every key under the test's prefix is forgotten");
}

#[tokio::test]
async fn the_periodic_jobs_rotation_visits_every_business_a_share_at_a_time_and_goes_round_again() {
    let app = TestApp::spawn().await;
    for name in ["Quiet Bakery", "Calm Florist", "Still Framers", "Slow Cobbler"] {
        let slug = name.to_lowercase().replace(' ', "-");
        let signup = engine::signup::SignupForm {
            business_name: name.into(),
            slug: slug.clone(),
            email: format!("owner@{slug}.test"),
            password: "copper kettle harbor 42".into(),
        };
        store::tenants::create_business(&app.db, &signup.validate().unwrap()).await.unwrap();
    }
    let oldest_first: Vec<uuid::Uuid> = store::tenants::all(&app.db).await.unwrap().iter().map(|t| t.id()).collect();
    assert_eq!(oldest_first.len(), 5, "the demo business and four more");
    let ids = |turn: &[store::Tenant]| turn.iter().map(|t| t.id()).collect::<Vec<_>>();

    // A first pass takes every business.
    let (all, mark) = store::tenants::next_in_rotation(&app.db, None, 1.0).await.unwrap();
    assert_eq!(ids(&all), oldest_first);

    // Then two fifths at a time: on from the last one visited, round again from the oldest, none twice in a turn.
    let (first, mark) = store::tenants::next_in_rotation(&app.db, mark, 0.4).await.unwrap();
    let (second, mark) = store::tenants::next_in_rotation(&app.db, mark, 0.4).await.unwrap();
    let (third, mark) = store::tenants::next_in_rotation(&app.db, mark, 0.4).await.unwrap();
    assert_eq!(ids(&first), oldest_first[0..2]);
    assert_eq!(ids(&second), oldest_first[2..4]);
    assert_eq!(ids(&third), vec![oldest_first[4], oldest_first[0]], "round again from the oldest");

    // No time passed: nobody; a moment: one business at least, the next in turn.
    let (none, same) = store::tenants::next_in_rotation(&app.db, mark, 0.0).await.unwrap();
    assert!(none.is_empty());
    assert_eq!(same, mark, "the rotation stays where it was");
    let (one, _) = store::tenants::next_in_rotation(&app.db, mark, 0.01).await.unwrap();
    assert_eq!(ids(&one), vec![oldest_first[1]]);
    // However long it was: each business once.
    let (whole, _) = store::tenants::next_in_rotation(&app.db, mark, 1.0).await.unwrap();
    let mut seen = ids(&whole);
    seen.sort();
    let mut expected = oldest_first.clone();
    expected.sort();
    assert_eq!(seen, expected);
}
