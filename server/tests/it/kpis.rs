//! Proof of value: the monthly job's snapshots of the seeded quarter and the
//! email owners and executives get (its figures are the report page's),
//! recomputes recorded as revisions, baselines as versions, outcomes
//! reported back through a signed hook, the report's PDF, the governance
//! page and the value-score backlog, and who may read and change each.

use crate::support::*;
use engine::kpi::Month;
use engine::Role;
use reqwest::StatusCode;
use serde_json::Value;
use std::time::Duration;

const LEAD: &str = "lead-intake-qualification";

fn last_month() -> Month {
    Month::at(chrono::Utc::now(), "UTC").previous()
}

async fn report(client: &Client, month: &str) -> Value {
    let res = client.call("monthly_report", &[("slug", DEMO), ("month", month)]).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", res.text().await.unwrap_or_default());
    res.json().await.unwrap()
}

/// The text, HTML and attachments of a captured message.
struct Parts {
    text: String,
    html: String,
    files: Vec<(String, String, Vec<u8>)>,
}

fn parts(raw: &str) -> Parts {
    fn walk(p: &mailparse::ParsedMail, out: &mut Parts) {
        if !p.subparts.is_empty() {
            for s in &p.subparts {
                walk(s, out);
            }
            return;
        }
        let disposition = p.get_content_disposition();
        if let Some(name) = disposition.params.get("filename") {
            out.files.push((name.clone(), p.ctype.mimetype.clone(), p.get_body_raw().unwrap()));
        } else if p.ctype.mimetype == "text/plain" {
            out.text = p.get_body().unwrap();
        } else if p.ctype.mimetype == "text/html" {
            out.html = p.get_body().unwrap();
        }
    }
    let parsed = mailparse::parse_mail(raw.as_bytes()).unwrap();
    let mut out = Parts { text: String::new(), html: String::new(), files: Vec::new() };
    walk(&parsed, &mut out);
    out
}

/// Signed in as the owner of another business.
async fn rival(app: &TestApp) -> Client {
    let c = app.client();
    c.sign_up("Rival Plumbing", "rival-plumbing", "boss@rival.test", "a long enough password").await;
    c
}

async fn seeded_with_worker() -> TestApp {
    let mut app = TestApp::spawn().await;
    store::seed::seed_history(&app.db, chrono::Utc::now()).await.unwrap();
    app.settings.runs.review_check_seconds = 1;
    app.start_worker();
    app
}

#[tokio::test]
async fn the_monthly_job_snapshots_the_seeded_quarter_and_emails_owners_and_executives_the_figures_the_page_shows() {
    let app = seeded_with_worker().await;
    let last = last_month();
    let mail = app
        .mailbox
        .wait_for("exec@acme-plumbing.test", Duration::from_secs(90))
        .await
        .expect("the executive gets the scorecard");
    assert_eq!(mail.subject().as_deref(), Some(format!("Acme Plumbing: your {} scorecard", last.label()).as_str()));
    assert!(
        app.mailbox.wait_for("owner@acme-plumbing.test", Duration::from_secs(10)).await.is_some(),
        "owners get it too"
    );
    let months: i64 = app.demo_value("SELECT count(DISTINCT month) FROM scorecards", vec![]).await.unwrap();
    assert_eq!(months, 3, "the month that ended and the two before it (for the trend)");
    let by: String = app
        .demo_value("SELECT computed_by FROM scorecards WHERE month = $1", vec![last.first_day().into()])
        .await
        .unwrap();
    assert_eq!(by, "steward (monthly job)");

    // The email's figures are the page's, in text and HTML, and the PDF is attached.
    let exec = app.demo_member(Role::Executive).await;
    let page = report(&exec, &last.to_string()).await;
    assert_eq!(page["live"], false);
    assert!(
        page["provenance"].as_str().unwrap().starts_with(&format!("Snapshot 1 of {}", last.label())),
        "{}",
        page["provenance"]
    );
    let p = parts(&mail.data);
    let headlines = page["headlines"].as_array().unwrap();
    assert_eq!(headlines.len(), 7);
    for h in headlines {
        let (key, label, value) =
            (h["key"].as_str().unwrap(), h["label"].as_str().unwrap(), h["value"].as_str().unwrap());
        assert!(p.html.contains(&format!("data-headline=\"{key}\">{value}<")), "{key} = {value} in the HTML");
        assert!(
            p.text.contains(&format!("{label}: {value} ({}", h["vs_last_month"].as_str().unwrap())),
            "{label} = {value} in the text:\n{}",
            p.text
        );
    }
    assert_eq!(p.html.matches("<svg").count(), 5, "the charts are inline");
    assert!(p.text.contains(&format!("/t/{DEMO}/reports?month={last}")), "a link to the report page");
    let (name, mime, pdf) = p.files.first().expect("a PDF is attached");
    assert_eq!(name, &format!("steward-scorecard-{last}.pdf"));
    assert_eq!(mime, "application/pdf");
    assert!(pdf.starts_with(b"%PDF-"));
    let pdf_text = String::from_utf8_lossy(pdf);
    let hours = headlines.iter().find(|h| h["key"] == "hours_saved").unwrap()["value"].as_str().unwrap();
    assert!(pdf_text.contains(&format!("({hours})")), "the PDF says {hours} saved");

    // A believable quarter: time and money saved, and better than the month before.
    let row = page["rows"].as_array().unwrap().last().unwrap();
    assert_eq!(row[0], "All workflows");
    let runs: i64 = row[1].as_str().unwrap().parse().unwrap();
    let (start, end) = last.bounds("UTC");
    let in_db: i64 = app
        .demo_value(
            "SELECT count(*) FROM runs WHERE created_at >= $1 AND created_at < $2",
            vec![start.into(), end.into()],
        )
        .await
        .unwrap();
    assert_eq!(runs, in_db, "every run of the month is counted once");
    assert!(!hours.starts_with('-') && hours != "0.0 h", "hours were saved: {hours}");
    let exceptions = headlines.iter().find(|h| h["key"] == "exception_rate").unwrap();
    assert_eq!(exceptions["better"], true, "fewer exceptions than the month before: {exceptions}");
    assert!(page["months"].as_array().unwrap().len() >= 4, "this month and three stored months to pick from");

    // Nobody else got it, and nobody gets it twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = app.mailbox.messages().await;
    let scorecards: Vec<_> = all.iter().filter(|m| m.subject().is_some_and(|s| s.contains("scorecard"))).collect();
    let mut to: Vec<String> = scorecards.iter().flat_map(|m| m.to.clone()).collect();
    to.sort();
    assert_eq!(to, ["exec@acme-plumbing.test", "owner@acme-plumbing.test"]);
    let revisions: i64 = app
        .demo_value("SELECT count(*) FROM scorecards WHERE month = $1", vec![last.first_day().into()])
        .await
        .unwrap();
    assert_eq!(revisions, 1);

    // Snapshots are immutable.
    let txn = store::db::tenant_txn(&app.db, "t_acme_plumbing").await.unwrap();
    let changed =
        sea_orm::ConnectionTrait::execute_raw(&txn, store::db::stmt("UPDATE scorecards SET reason = 'edited'", vec![]))
            .await;
    assert!(changed.is_err(), "a stored scorecard cannot be changed");
}

#[tokio::test]
async fn an_owner_recomputes_a_past_month_as_a_new_revision_with_a_reason_in_the_change_log() {
    let app = seeded_with_worker().await;
    let last = last_month();
    app.mailbox.wait_for("owner@acme-plumbing.test", Duration::from_secs(90)).await.expect("the job ran");
    let owner = app.demo_member(Role::Owner).await;
    let month = last.to_string();
    let current = Month::at(chrono::Utc::now(), "UTC").to_string();
    assert_eq!(
        invalid_fields(owner.call("recompute_scorecard", &[("slug", DEMO), ("month", &month), ("reason", " ")]).await)
            .await,
        [("reason".to_string(), "Say why the month is recomputed; the change log keeps it.".to_string())]
    );
    assert_eq!(
        invalid_fields(
            owner.call("recompute_scorecard", &[("slug", DEMO), ("month", &current), ("reason", "now")]).await
        )
        .await,
        [("month".to_string(), "Only a month that has ended can be recomputed.".to_string())]
    );
    assert_eq!(
        invalid_fields(
            owner.call("recompute_scorecard", &[("slug", DEMO), ("month", "2026-13"), ("reason", "x")]).await
        )
        .await[0]
            .0,
        "month"
    );
    for role in [Role::Executive, Role::Operations, Role::Engineer, Role::Reviewer] {
        let res = app
            .demo_member(role)
            .await
            .call("recompute_scorecard", &[("slug", DEMO), ("month", &month), ("reason", "mine")])
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{role} may not recompute");
    }
    let stranger = rival(&app).await;
    assert_eq!(
        stranger.call("recompute_scorecard", &[("slug", DEMO), ("month", &month), ("reason", "x")]).await.status(),
        StatusCode::FORBIDDEN
    );

    let res = owner
        .call(
            "recompute_scorecard",
            &[("slug", DEMO), ("month", &month), ("reason", "Late deal outcomes from the CRM")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<i32>().await.unwrap(), 2);
    let page = report(&owner, &month).await;
    assert!(page["provenance"].as_str().unwrap().contains("Snapshot 2"), "{}", page["provenance"]);
    assert!(page["provenance"].as_str().unwrap().contains("owner@acme-plumbing.test"));
    let revisions: Vec<String> = serde_json::from_value(page["revisions"].clone()).unwrap();
    assert_eq!(revisions.len(), 2);
    assert!(revisions[1].ends_with("by owner@acme-plumbing.test: Late deal outcomes from the CRM"), "{revisions:?}");
    let logged: String = app
        .demo_value(
            "SELECT why FROM audit_events WHERE action = 'kpi.scorecard_recomputed' AND subject = $1",
            vec![month.clone().into()],
        )
        .await
        .unwrap();
    assert_eq!(logged, "Late deal outcomes from the CRM");
    // The first revision is kept as it was.
    let kept: i64 = app
        .demo_value("SELECT count(*) FROM scorecards WHERE month = $1", vec![last.first_day().into()])
        .await
        .unwrap();
    assert_eq!(kept, 2);
}

#[tokio::test]
async fn outcomes_reported_through_the_signed_hook_count_once_as_conversions_against_the_baseline() {
    let app = TestApp::spawn().await;
    let secret = app.webhook_secret(LEAD).await;
    let owner = app.demo_member(Role::Owner).await;
    let baseline = [
        ("slug", DEMO),
        ("workflow", LEAD),
        ("manual_minutes", "25"),
        ("error_rate", "9"),
        ("response_minutes", "240"),
        ("monthly_volume", "220"),
        ("hourly_cost", "38.00"),
        ("outcome", "deal.won"),
        ("outcome_rate", "12"),
        ("why", "Measured in March"),
    ];
    assert_eq!(owner.call("save_baseline", &baseline).await.status(), StatusCode::OK);
    // Two leads completed this month.
    let mut runs = Vec::new();
    for _ in 0..2 {
        let id: uuid::Uuid = app
            .demo_value(
                "INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, status, context, created_at, finished_at)
                 SELECT gen_random_uuid(), id, name, 1, 'completed', '{}', now() - interval '30 minutes', now() - interval '10 minutes' FROM workflows WHERE name = $1
                 RETURNING id",
                vec![LEAD.into()],
            )
            .await
            .unwrap();
        runs.push(id);
    }
    let path = format!("{LEAD}/outcomes");
    let now = chrono::Utc::now().timestamp();
    let body = serde_json::json!({ "type": "deal.won", "run_id": runs[0].to_string(), "value": 60000 }).to_string();
    let res = app.signed_post(DEMO, &path, &secret, "crm-1", now, &body, &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "recorded");
    let again = app.signed_post(DEMO, &path, &secret, "crm-1", now, &body, &[]).await;
    assert_eq!(again.status(), StatusCode::OK, "a repeat is not counted twice");
    assert_eq!(again.json::<Value>().await.unwrap()["status"], "duplicate");
    let linked: Option<uuid::Uuid> = app.demo_value("SELECT run_id FROM outcome_events", vec![]).await.unwrap();
    assert_eq!(linked, Some(runs[0]));

    // Bad reports say which field and why, and are not stored.
    let bad = serde_json::json!({ "run_id": "nope", "value": "lots", "occurred_at": "yesterday" }).to_string();
    let res = app.signed_post(DEMO, &path, &secret, "crm-2", now, &bad, &[]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = res.json::<Value>().await.unwrap()["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fields, ["type", "run_id", "value", "occurred_at"]);
    let res = app.signed_post(DEMO, &path, &secret, "crm-3", now, "not json", &[]).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app.signed_post(DEMO, &path, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "crm-4", now, &body, &[]).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "signed with the wrong secret");
    let res = app.signed_post(DEMO, "no-such-workflow/outcomes", &secret, "crm-5", now, &body, &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.signed_post("other-biz", &path, &secret, "crm-6", now, &body, &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "another business's hook does not take this one's outcomes");
    let stored: i64 = app.demo_value("SELECT count(*) FROM outcome_events", vec![]).await.unwrap();
    assert_eq!(stored, 1);

    // One of two completed leads won: 50%, 38 points above the 12% by hand.
    let page = report(&owner, "").await;
    assert_eq!(page["live"], true);
    let conversion = page["headlines"].as_array().unwrap().iter().find(|h| h["key"] == "conversion").unwrap().clone();
    assert_eq!(conversion["value"], "50%");
    assert_eq!(conversion["vs_baseline"], "+38.0 pts over 12% by hand");
}

#[tokio::test]
async fn baselines_are_versioned_in_the_change_log_refused_field_by_field_and_kept_by_owners_and_operations() {
    let app = TestApp::spawn().await;
    let ops = app.demo_member(Role::Operations).await;
    let mut form = vec![
        ("slug", DEMO),
        ("workflow", LEAD),
        ("manual_minutes", "abc"),
        ("error_rate", "120"),
        ("response_minutes", "240"),
        ("monthly_volume", "220"),
        ("hourly_cost", "0"),
        ("outcome", "deal won"),
        ("outcome_rate", ""),
        ("why", "Measured in March"),
    ];
    let fields: Vec<String> =
        invalid_fields(ops.call("save_baseline", &form).await).await.into_iter().map(|(f, _)| f).collect();
    assert_eq!(fields, ["manual_minutes", "error_rate", "hourly_cost", "outcome"]);
    let nothing: i64 = app.demo_value("SELECT count(*) FROM workflow_baselines", vec![]).await.unwrap();
    assert_eq!(nothing, 0, "nothing is saved from a refused form");
    form[2].1 = "25";
    form[3].1 = "9";
    form[6].1 = "38.00";
    form[7].1 = "deal.won";
    form[9].1 = "";
    assert_eq!(invalid_fields(ops.call("save_baseline", &form).await).await[0].0, "why");
    form[9].1 = "Measured in March";
    assert_eq!(ops.call("save_baseline", &form).await.json::<i32>().await.unwrap(), 1);
    form[2].1 = "30";
    form[9].1 = "Re-measured with the new hire";
    assert_eq!(ops.call("save_baseline", &form).await.json::<i32>().await.unwrap(), 2, "each save is the next version");
    let logged: i64 = app
        .demo_value(
            "SELECT count(*) FROM audit_events WHERE action = 'kpi.baseline_saved' AND subject = $1",
            vec![LEAD.into()],
        )
        .await
        .unwrap();
    assert_eq!(logged, 2);
    let first: Value = app
        .demo_value("SELECT detail FROM audit_events WHERE action = 'kpi.baseline_saved' ORDER BY id LIMIT 1", vec![])
        .await
        .unwrap();
    assert_eq!(first["baseline"]["manual_minutes"], 25.0, "the change log keeps what each version said");
    let page = report(&app.demo_member(Role::Executive).await, "").await;
    let b = page["baselines"].as_array().unwrap().iter().find(|b| b["workflow"] == LEAD).unwrap().clone();
    assert_eq!(b["version"], 2);
    assert_eq!(b["manual_minutes"], "30");
    assert_eq!(page["may_edit_baselines"], false, "executives read baselines");

    let mut missing = form.clone();
    missing[1].1 = "no-such-workflow";
    assert_eq!(ops.call("save_baseline", &missing).await.status(), StatusCode::NOT_FOUND);
    for role in [Role::Executive, Role::Engineer, Role::Reviewer] {
        assert_eq!(
            app.demo_member(role).await.call("save_baseline", &form).await.status(),
            StatusCode::FORBIDDEN,
            "{role}"
        );
    }
    let stranger = rival(&app).await;
    assert_eq!(stranger.call("save_baseline", &form).await.status(), StatusCode::FORBIDDEN);
    let version: i32 = app.demo_value("SELECT version FROM workflow_baselines", vec![]).await.unwrap();
    assert_eq!(version, 2, "refused saves changed nothing");
}

#[tokio::test]
async fn reports_governance_and_the_pdf_are_for_owners_operations_and_executives_only() {
    let app = TestApp::spawn().await;
    store::seed::seed_history(&app.db, chrono::Utc::now()).await.unwrap();
    let last = last_month().to_string();
    let pdf_path = format!("/t/{DEMO}/reports/{last}.pdf");
    for role in Role::ALL {
        let client = app.demo_member(role).await;
        let reads = matches!(role, Role::Owner | Role::Operations | Role::Executive);
        let expect = |ok: bool| if ok { StatusCode::OK } else { StatusCode::FORBIDDEN };
        assert_eq!(
            client.call("monthly_report", &[("slug", DEMO), ("month", &last)]).await.status(),
            expect(reads),
            "{role} reads the report"
        );
        assert_eq!(
            client.call("governance_review", &[("slug", DEMO), ("month", "")]).await.status(),
            expect(reads),
            "{role} reads governance"
        );
        let pdf = client.get(&pdf_path).await;
        assert_eq!(pdf.status(), expect(reads), "{role} downloads the PDF");
        if reads {
            assert_eq!(pdf.headers()["content-type"], "application/pdf");
            assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
        }
    }
    let exec = app.demo_member(Role::Executive).await;
    assert_eq!(exec.get(&format!("/t/{DEMO}/reports/not-a-month.pdf")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(exec.get(&format!("/t/{DEMO}/reports/2999-01.pdf")).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        invalid_fields(exec.call("monthly_report", &[("slug", DEMO), ("month", "2999-01")]).await).await[0].0,
        "month"
    );
    assert_eq!(
        invalid_fields(exec.call("governance_review", &[("slug", DEMO), ("month", "soon")]).await).await[0].0,
        "month"
    );

    let stranger = rival(&app).await;
    assert_eq!(stranger.call("monthly_report", &[("slug", DEMO), ("month", "")]).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        stranger.call("governance_review", &[("slug", DEMO), ("month", "")]).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(stranger.get(&pdf_path).await.status(), StatusCode::FORBIDDEN);
    let anonymous = app.client();
    assert_eq!(
        anonymous.call("monthly_report", &[("slug", DEMO), ("month", "")]).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_ne!(anonymous.get(&pdf_path).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_governance_page_lists_the_months_incidents_and_changes() {
    let app = TestApp::spawn().await;
    store::seed::seed_history(&app.db, chrono::Utc::now()).await.unwrap();
    let ops = app.demo_member(Role::Operations).await;
    let res = ops.call("governance_review", &[("slug", DEMO), ("month", &last_month().to_string())]).await;
    let v: Value = res.json().await.unwrap();
    let (start, end) = last_month().bounds("UTC");
    let failed: i64 = app
        .demo_value(
            "SELECT count(*) FROM runs WHERE status = 'failed' AND created_at >= $1 AND created_at < $2",
            vec![start.into(), end.into()],
        )
        .await
        .unwrap();
    assert!(failed > 0);
    assert_eq!(v["failed_runs"], failed);
    let escalated: i64 = app
        .demo_value(
            "SELECT count(*) FROM review_tasks WHERE escalated_at >= $1 AND escalated_at < $2",
            vec![start.into(), end.into()],
        )
        .await
        .unwrap();
    assert_eq!(v["escalations"], escalated);
    let incidents = v["incidents"].as_array().unwrap();
    assert!(incidents
        .iter()
        .any(|i| i["kind"] == "failed_run" && i["href"].as_str().unwrap().starts_with(&format!("/t/{DEMO}/runs/"))));
    // This month's changes include the baseline the seed recorded.
    let now: Value = ops.call("governance_review", &[("slug", DEMO), ("month", "")]).await.json().await.unwrap();
    assert!(
        now["changes"].as_array().unwrap().iter().any(|c| c["action"] == "kpi.baseline_saved"),
        "{}",
        now["changes"]
    );
}

#[tokio::test]
async fn the_backlog_is_ranked_by_the_value_score_and_a_candidate_without_a_success_metric_cannot_start() {
    let app = TestApp::spawn().await;
    store::seed::seed_history(&app.db, chrono::Utc::now()).await.unwrap();
    let ops = app.demo_member(Role::Operations).await;
    let v: Value = ops.call("governance_review", &[("slug", DEMO), ("month", "")]).await.json().await.unwrap();
    let ranked: Vec<(String, String)> = v["backlog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().into(), c["score"].as_str().unwrap().into()))
        .collect();
    // 420 × 6 × 0.35 + 7 × 0.2 + 20 × 0.3 − 15 × 0.25 = 882 + 1.4 + 6 − 3.75, and so on.
    assert_eq!(
        ranked,
        [
            ("Support ticket triage".to_string(), "885.65".to_string()),
            ("Invoice reminders".into(), "764.80".into()),
            ("Supplier quote comparison".into(), "641.15".into()),
            ("Appointment confirmations".into(), "639.75".into()),
        ]
    );
    let id_of = |name: &str| {
        v["backlog"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap()["id"].as_str().unwrap().to_owned()
    };

    // No success metric: it cannot start, and says so next to the field.
    let appointments = id_of("Appointment confirmations");
    let res = ops
        .call("start_candidate", &[("slug", DEMO), ("id", &appointments), ("template", "support-ticket-triage")])
        .await;
    let errors = invalid_fields(res).await;
    assert_eq!(errors[0].0, "success_metric");
    assert!(errors[0].1.contains("postpone"), "{errors:?}");

    // A new candidate with the same score as another ranks by name, every time.
    let form = |name: &'static str, metric: &'static str| {
        vec![
            ("slug", DEMO),
            ("name", name),
            ("monthly_volume", "600"),
            ("minutes_per_task", "3"),
            ("error_rate", "10"),
            ("revenue_impact", "30"),
            ("compliance_risk", "5"),
            ("success_metric", metric),
        ]
    };
    assert_eq!(
        ops.call("save_candidate", &form("Appointment reminders", "No-shows below 5%")).await.status(),
        StatusCode::OK
    );
    for _ in 0..3 {
        let v: Value = ops.call("governance_review", &[("slug", DEMO), ("month", "")]).await.json().await.unwrap();
        let names: Vec<&str> = v["backlog"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
        assert_eq!(&names[3..], ["Appointment confirmations", "Appointment reminders"]);
    }
    let bad = invalid_fields(
        ops.call(
            "save_candidate",
            &[
                ("slug", DEMO),
                ("name", ""),
                ("monthly_volume", "x"),
                ("minutes_per_task", "3"),
                ("error_rate", "200"),
                ("revenue_impact", "1"),
                ("compliance_risk", "1"),
                ("success_metric", ""),
            ],
        )
        .await,
    )
    .await;
    assert_eq!(bad.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(), ["name", "monthly_volume", "error_rate"]);

    // With a metric, it starts as a draft workflow from the gallery.
    let triage = id_of("Support ticket triage");
    assert_eq!(
        invalid_fields(ops.call("start_candidate", &[("slug", DEMO), ("id", &triage), ("template", LEAD)]).await).await
            [0],
        ("template".to_string(), format!("The workflow {LEAD} is installed already; pick another template."))
    );
    let res =
        ops.call("start_candidate", &[("slug", DEMO), ("id", &triage), ("template", "support-ticket-triage")]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.json::<String>().await.unwrap(), "support-ticket-triage");
    let live: Option<i32> = app
        .demo_value("SELECT live_version FROM workflows WHERE name = 'support-ticket-triage'", vec![])
        .await
        .unwrap();
    assert_eq!(live, None, "a draft, not published");
    let why: String = app
        .demo_value("SELECT why FROM audit_events WHERE action = 'backlog.candidate_started'", vec![])
        .await
        .unwrap();
    assert_eq!(why, "Started from the backlog: Support ticket triage (success: Tickets answered within 1 hour)");
    let again = invalid_fields(
        ops.call("start_candidate", &[("slug", DEMO), ("id", &triage), ("template", "invoice-reminder-sequence")])
            .await,
    )
    .await;
    assert_eq!(again[0].0, "candidate", "it started already");

    // Executives read the backlog; only owners and operations change it.
    for role in [Role::Executive, Role::Engineer, Role::Reviewer] {
        let client = app.demo_member(role).await;
        assert_eq!(client.call("save_candidate", &form("Mine", "x")).await.status(), StatusCode::FORBIDDEN, "{role}");
        assert_eq!(
            client
                .call(
                    "start_candidate",
                    &[("slug", DEMO), ("id", &appointments), ("template", "support-ticket-triage")]
                )
                .await
                .status(),
            StatusCode::FORBIDDEN,
            "{role}"
        );
    }
    let stranger = rival(&app).await;
    assert_eq!(stranger.call("save_candidate", &form("Mine", "x")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        stranger
            .call("start_candidate", &[("slug", DEMO), ("id", &appointments), ("template", "support-ticket-triage")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let count: i64 = app.demo_value("SELECT count(*) FROM backlog_candidates", vec![]).await.unwrap();
    assert_eq!(count, 5, "only the permitted save added a candidate");
}
