//! The demo business a fresh install starts with: Acme Plumbing, one person
//! per role, all with the same demo password.

use crate::{
    entities::{membership, user},
    password, tenants,
};
use engine::{signup::SignupForm, Role};
use sea_orm::{prelude::*, ActiveValue::Set, DatabaseConnection};

pub const DEMO_SLUG: &str = "acme-plumbing";
pub const DEMO_NAME: &str = "Acme Plumbing";
pub const DEMO_PASSWORD: &str = "steward-demo-password";

/// Each role's demo sign-in.
pub const DEMO_USERS: [(&str, Role); 5] = [
    ("owner@acme-plumbing.test", Role::Owner),
    ("engineer@acme-plumbing.test", Role::Engineer),
    ("reviewer@acme-plumbing.test", Role::Reviewer),
    ("ops@acme-plumbing.test", Role::Operations),
    ("exec@acme-plumbing.test", Role::Executive),
];

/// What a fresh demo business starts with that is shown only once.
#[derive(Debug, Clone)]
pub struct SeededDemo {
    /// The signing secret of the lead workflow's webhook.
    pub lead_webhook_secret: String,
}

/// Creates the demo business if it is missing. None: it existed already.
pub async fn seed_demo(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
) -> anyhow::Result<Option<SeededDemo>> {
    if tenants::find_by_slug(db, DEMO_SLUG).await?.is_some() {
        return Ok(None);
    }
    let form = SignupForm {
        business_name: DEMO_NAME.into(),
        slug: DEMO_SLUG.into(),
        email: DEMO_USERS[0].0.into(),
        password: DEMO_PASSWORD.into(),
    };
    let valid = form.validate().map_err(|e| anyhow::anyhow!("demo sign-up is invalid: {e:?}"))?;
    let created = tenants::create_business(db, &valid).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = password::hash(DEMO_PASSWORD);
    for (email, role) in DEMO_USERS.iter().skip(1) {
        let account = user::ActiveModel {
            id: Set(Uuid::new_v4()),
            email: Set((*email).into()),
            password_hash: Set(hash.clone()),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(db)
        .await?;
        membership::ActiveModel {
            user_id: Set(account.id),
            tenant_id: Set(created.tenant.id),
            role: Set(role.as_str().into()),
            created_at: Set(chrono::Utc::now()),
        }
        .insert(db)
        .await?;
    }
    let lead_webhook_secret = seed_automation(db, settings, &created).await?;
    Ok(Some(SeededDemo { lead_webhook_secret }))
}

/// The demo's first automation: the lead intake workflow from the gallery
/// (with its prompt template and the lead data contract), published, with
/// its webhook signing secret (returned) and its hosted form live.
async fn seed_automation(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
    created: &tenants::NewBusiness,
) -> anyhow::Result<String> {
    let owner = crate::auth::CurrentMember {
        user_id: created.owner.id,
        email: created.owner.email.clone(),
        session_id: Uuid::nil(),
        tenant: crate::tenant::Tenant::new(created.tenant.id, created.tenant.schema_name.clone())?,
        tenant_slug: created.tenant.slug.clone(),
        tenant_name: created.tenant.name.clone(),
        role: Role::Owner,
    };
    let name =
        crate::bundles::import_bundle(db, &owner, &crate::bundles::GALLERY[0].bundle(), "Installed from the playbook")
            .await
            .map_err(|e| anyhow::anyhow!("seeding the lead workflow: {e}"))?;
    crate::workflows::publish(db, &owner, &name, 1, "First version goes live", None)
        .await
        .map_err(|e| anyhow::anyhow!("publishing the lead workflow: {e}"))?;
    crate::webhook_secrets::rotate(db, settings, &owner, &name, 0)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the lead workflow vanished while seeding"))
}

/// The demo's inbox of website leads: mostly deals above the review
/// threshold, a few small ones, and three whose company lookup fails (the
/// demo directory does not answer for `.invalid` domains), so the review
/// queue starts with a mix of high-value, low-confidence and failed runs.
pub fn demo_leads(now: chrono::DateTime<chrono::Utc>) -> Vec<serde_json::Value> {
    const LEADS: [(&str, &str, &str, i64, &str); 24] = [
        (
            "Harbor Dental Group",
            "Dana Whitfield",
            "harbordental.example",
            60_000,
            "We run 4 clinics and chase appointment confirmations by phone. Budget approved, live before Q3.",
        ),
        (
            "Northwind Property Management",
            "Sam Okafor",
            "northwind-pm.example",
            84_000,
            "220 rental units; tenants report leaks by email and we lose track of them.",
        ),
        (
            "Blue Fern Hotels",
            "Priya Raman",
            "bluefern.example",
            120_000,
            "Three boutique hotels want faster maintenance triage across sites.",
        ),
        (
            "Cedar & Pine Builders",
            "Luis Ortega",
            "cedarpine.example",
            56_000,
            "Subcontractor scheduling is all spreadsheets; we want intake automated.",
        ),
        (
            "Glasshouse Cafés",
            "Mei Chen",
            "glasshouse-cafes.example",
            52_000,
            "Twelve cafés, recurring drain problems, would like a service contract.",
        ),
        (
            "Summit Senior Living",
            "Grace Adeyemi",
            "summitliving.example",
            190_000,
            "Two campuses, strict compliance, need documented response times.",
        ),
        (
            "Riverbend Schools",
            "Tom Becker",
            "riverbend-schools.example",
            75_000,
            "District of five schools looking for a planned maintenance partner.",
        ),
        (
            "Oak Street Clinic",
            "Hana Sato",
            "oakstreetclinic.example",
            58_000,
            "Medical practice, two floors, frequent after-hours call-outs.",
        ),
        (
            "Lumen Fitness",
            "Jordan Blake",
            "lumenfitness.example",
            64_000,
            "Showers in 6 gyms; members complain about pressure and heat.",
        ),
        (
            "Portside Logistics",
            "Ana Ruiz",
            "portside-logistics.example",
            98_000,
            "Warehouse washrooms and a canteen; budget for a yearly contract.",
        ),
        (
            "Maple Grove HOA",
            "Chris Novak",
            "maplegrove-hoa.example",
            71_000,
            "Homeowners association, 140 homes, shared sewer lines.",
        ),
        (
            "Brightside Dentistry",
            "Olivia Park",
            "brightside-dental.example",
            53_000,
            "Two practices, sterilisation rooms need reliable hot water.",
        ),
        (
            "Copper Kettle Restaurants",
            "Marco Bellini",
            "copperkettle.example",
            88_000,
            "Grease traps in 5 restaurants; inspections coming in spring.",
        ),
        (
            "Westfield Offices",
            "Ruth Klein",
            "westfield-offices.example",
            66_000,
            "Office park with 9 buildings; we want one vendor and an SLA.",
        ),
        (
            "Green Valley Farms",
            "Ike Mensah",
            "greenvalleyfarms.example",
            54_000,
            "Irrigation and farmhouse plumbing; seasonal peaks in summer.",
        ),
        (
            "Seaview Apartments",
            "Nora Lind",
            "seaview-apts.example",
            110_000,
            "Older building, frequent leaks, board approved a budget.",
        ),
        (
            "Atlas Storage",
            "Victor Hale",
            "atlas-storage.example",
            59_000,
            "Six storage sites with small offices; need preventive checks.",
        ),
        (
            "Quarry Hill Brewery",
            "Ella Moss",
            "quarryhill.invalid",
            72_000,
            "Brewery floor drains and glycol lines; expanding next year.",
        ),
        (
            "Pinecrest Vet Clinic",
            "Raj Patel",
            "pinecrest-vet.invalid",
            57_000,
            "Kennels need wash-down drains serviced monthly.",
        ),
        (
            "Harborview Marina",
            "Liam Doyle",
            "harborview-marina.invalid",
            63_000,
            "Marina washrooms and fuel dock; salt water corrosion issues.",
        ),
        (
            "Little Acorn Daycare",
            "Sofia Rossi",
            "littleacorn.example",
            9_000,
            "One site, small bathrooms, looking for a quote.",
        ),
        ("Corner Bookshop", "Ben Carter", "cornerbooks.example", 6_000, "A single leaking sink in the back room."),
        (
            "Studio Nine Salon",
            "Ava Müller",
            "studionine.example",
            14_000,
            "Salon basins clog often; want a monthly visit.",
        ),
        (
            "Tidewater Yoga",
            "Kai Nakamura",
            "tidewater-yoga.example",
            11_000,
            "Two studios, showers lose pressure in the mornings.",
        ),
    ];
    LEADS
        .iter()
        .map(|(company, contact, domain, value, inquiry)| {
            let first = contact.split(' ').next().unwrap_or(contact).to_lowercase();
            serde_json::json!({
                "companyName": company,
                "primaryContact": { "name": contact, "email": format!("{first}@{domain}"), "phone": "+1 415 555 0100" },
                "sourceChannel": "Web form",
                "lifecycleStage": "lead",
                "inquiry_text": inquiry,
                "annual_contract_value": value,
                "last_updated": now.to_rfc3339(),
                "source_of_truth": "crm"
            })
        })
        .collect()
}

/// Sends the demo leads through the lead workflow's front door, as a form
/// would; returns their queued runs for the caller to hand to the worker.
/// (`steward seed` does this; tests start from an empty inbox.)
pub async fn seed_leads(
    db: &DatabaseConnection,
    settings: &crate::config::Settings,
) -> anyhow::Result<Vec<crate::jobs::RunJob>> {
    use crate::ingest::{self, Accepted, Channel, Incoming};
    let target = ingest::target(db, settings, DEMO_SLUG, "lead-intake-qualification")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut runs = Vec::new();
    for (i, lead) in demo_leads(chrono::Utc::now()).into_iter().enumerate() {
        let incoming = Incoming {
            channel: Channel::Form,
            event_type: target.contract.trigger.event.clone(),
            idempotency_key: Some(format!("demo-lead-{i}")),
            raw: lead.clone(),
            record: lead,
        };
        match ingest::accept(db, settings, &target, &incoming, chrono::Utc::now()).await {
            Ok(Accepted::New { run_id, .. }) => runs.push(ingest::run_job(&target, run_id)),
            Ok(Accepted::Duplicate { .. }) => {}
            Err(e) => anyhow::bail!("demo lead {i} was refused: {e}"),
        }
    }
    Ok(runs)
}

/// A dataset of last month's reviewed leads and a replay of the live lead
/// workflow over it, so the Replays page opens on a comparison; returns the
/// replay's job for the caller to hand to the worker.
pub async fn seed_replay(db: &DatabaseConnection) -> anyhow::Result<Option<crate::jobs::ReplayJob>> {
    let owner = any_owner(db, DEMO_SLUG).await?;
    let pick = crate::datasets::Pick {
        how: engine::replay::DatasetPick::Reviewed,
        from: Some(chrono::Utc::now() - chrono::Duration::days(30)),
        to: None,
        size: 40,
    };
    let workflow = "lead-intake-qualification";
    let (dataset, added) = crate::datasets::create(db, &owner, workflow, "Reviewed leads, last 30 days", &pick)
        .await
        .map_err(|e| anyhow::anyhow!("the demo dataset: {e}"))?;
    if added == 0 {
        return Ok(None);
    }
    let replaying = crate::replays::Replaying { version: 1, ..Default::default() };
    let replay = crate::replays::start(db, &owner, dataset, &replaying)
        .await
        .map_err(|e| anyhow::anyhow!("the demo replay: {e}"))?;
    Ok(Some(crate::jobs::ReplayJob::new(&owner.tenant, replay)))
}

/// Some owner of the business, for read-only command-line work (exports).
pub async fn any_owner(db: &DatabaseConnection, slug: &str) -> anyhow::Result<crate::auth::CurrentMember> {
    use sea_orm::{DbBackend, FromQueryResult, Statement};
    #[derive(FromQueryResult)]
    struct Row {
        email: String,
    }
    let row = Row::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT u.email FROM public.memberships m JOIN public.users u ON u.id = m.user_id JOIN public.tenants t ON t.id = m.tenant_id
          WHERE t.slug = $1 AND m.role = 'owner' ORDER BY m.created_at LIMIT 1",
        [slug.into()],
    ))
    .one(db)
    .await?
    .ok_or_else(|| anyhow::anyhow!("there is no business at {slug}"))?;
    crate::auth::member_by_email(db, slug, &row.email).await.map_err(|e| anyhow::anyhow!("{e}"))
}

/// Three months of the demo lead workflow's history before today, with the
/// cost lines each run would have written (priced with the engine's own
/// arithmetic at the business's rates), the people's decisions on the big
/// leads, the model's confidence, the deals won afterwards, one cost alert
/// that came and went, the workflow's budget and baseline, and a backlog of
/// what to automate next, so the Costs, Reports and Governance pages open
/// on a believable quarter that gets better month by month. Runs here are
/// finished; the live inbox comes from `seed_leads`. Returns how many runs
/// it wrote.
pub async fn seed_history(db: &DatabaseConnection, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<usize> {
    use crate::db::{scalar, stmt};
    use crate::ledger::CostLine;
    use engine::review::Decision;
    use engine::workflow::StepKind;
    use engine::{cost, CostKind, RunStatus, StepStatus};
    let (tenant, _) =
        tenants::tenant_at(db, DEMO_SLUG).await?.ok_or_else(|| anyhow::anyhow!("seed the demo business first"))?;
    let txn = tenant.begin(db).await?;
    let workflow = "lead-intake-qualification";
    let workflow_id: Uuid =
        scalar(&txn, stmt("SELECT id AS value FROM workflows WHERE name = $1", vec![workflow.into()]))
            .await?
            .ok_or_else(|| anyhow::anyhow!("the demo lead workflow is missing"))?;
    let rates = crate::costs::rates_in(&txn).await?;
    // The history was drafted by a priced small model (gpt-4o-mini at 0.15/0.60 per million tokens).
    let (price_in, price_out, enrichment_price) = (150_000, 600_000, 2_000);
    let leads = demo_leads(now);
    let steps = [
        ("normalize", StepKind::Function),
        ("enrich", StepKind::ApiCall),
        ("summarize", StepKind::Llm),
        ("route", StepKind::Rules),
    ];
    let reviewer = DEMO_USERS[2].0;
    let mut written = 0;
    for day in 1..=91i64 {
        // Volume grows and quality improves as the team tunes the workflow.
        let age = day / 30; // 0 this month … 3 three months ago
        let per_day = 5 + (3 - age.min(3)) + (day * 7 % 5);
        let failure_one_in = [18, 12, 9, 9][age.min(3) as usize];
        let agree_in_ten = [9, 8, 7, 7][age.min(3) as usize];
        let wins_in_hundred = [22, 18, 14, 14][age.min(3) as usize];
        for n in 0..per_day {
            // A small deterministic generator: the same history on every install.
            let seed = (day * 31 + n * 17) as u64;
            let pick = |m: u64, salt: u64| splitmix(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % m;
            let lead = &leads[(seed % leads.len() as u64) as usize];
            let created = now - chrono::Duration::days(day) + chrono::Duration::minutes(n * 83 % 600 - 300);
            let failed = pick(failure_one_in, 1) == 0;
            let reviewed = !failed && lead["annual_contract_value"].as_i64().unwrap_or(0) > 50_000 && pick(10, 2) < 8;
            let status = if failed { RunStatus::Failed } else { RunStatus::Completed };
            let (tokens_in, tokens_out) = (1100 + pick(400, 3) as i64, 200 + pick(150, 4) as i64);
            let cache_hit = pick(4, 5) == 0;
            let run_id = Uuid::new_v4();
            let review_seconds = if reviewed { 60 + pick(360, 6) as i64 } else { 0 };
            // A reviewed lead waits for its reviewer (20 to 80 minutes) before the decision.
            let waited = if reviewed { 1200 + pick(3600, 10) as i64 } else { 0 };
            let finished = created + chrono::Duration::seconds(3 + waited);
            let confidence =
                if reviewed { 0.60 + pick(25, 11) as f64 / 100.0 } else { 0.80 + pick(19, 12) as f64 / 100.0 };
            let mut lines = vec![CostLine::new(
                CostKind::Queue,
                None,
                cost::queue(1 + reviewed as i64, rates.queue_op),
                1 + reviewed as i64,
                "delivery",
            )];
            let mut step_rows = Vec::new();
            for (i, (id, kind)) in steps.iter().enumerate() {
                if failed && i > 1 {
                    break;
                }
                let ms = 20 + pick(if *kind == StepKind::Llm { 2400 } else { 300 }, 7 + i as u64) as i64;
                lines.push(CostLine::new(
                    CostKind::Orchestration,
                    Some(i as i32),
                    cost::orchestration(ms, rates.orchestration_per_hour),
                    ms,
                    *id,
                ));
                let (step_status, t_in, t_out, model_cost) = match *kind {
                    StepKind::ApiCall if failed => (StepStatus::Failed, 0, 0, 0),
                    StepKind::ApiCall => {
                        let line = CostLine::new(
                            CostKind::Enrichment,
                            Some(i as i32),
                            cost::enrichment(enrichment_price, cache_hit),
                            1,
                            *id,
                        );
                        lines.push(CostLine {
                            cache_hit: Some(cache_hit),
                            saved: if cache_hit { enrichment_price } else { 0 },
                            ..line
                        });
                        (StepStatus::Completed, 0, 0, 0)
                    }
                    StepKind::Llm => {
                        let c = cost::model(tokens_in, tokens_out, price_in, price_out);
                        lines.push(CostLine::new(
                            CostKind::Model,
                            Some(i as i32),
                            c,
                            tokens_in + tokens_out,
                            "gpt-4o-mini",
                        ));
                        (StepStatus::Completed, tokens_in, tokens_out, c)
                    }
                    StepKind::Function | StepKind::Rules | StepKind::Approval | StepKind::Notify => {
                        (StepStatus::Completed, 0, 0, 0)
                    }
                };
                step_rows.push((i as i32, *id, *kind, step_status, t_in, t_out, model_cost, ms));
            }
            if reviewed {
                lines.push(CostLine::new(
                    CostKind::Review,
                    Some(2),
                    cost::review(review_seconds, rates.reviewer_hourly),
                    review_seconds,
                    reviewer,
                ));
            }
            // What the run produced, as a replay reads it: the lookup's answer, the draft, where the rules sent it.
            let name = lead["companyName"].as_str().unwrap_or("The lead");
            let employees = 5 + pick(400, 15) as i64;
            let fit_score = 35 + pick(60, 16) as i64;
            let draft = serde_json::json!({
                "fit_score": fit_score,
                "summary": format!("{name} looks like a fit."),
                "risks": if lead["budget_signal"].is_null() { vec!["Budget not stated"] } else { vec![] },
                "next_step": format!("Call {}", lead["primaryContact"]["name"].as_str().unwrap_or("them")),
                "confidence": confidence,
            });
            // As the route step writes it: the rule that matched, and its decision.
            let matched = |rule: i64, decision: serde_json::Value| serde_json::json!({ "matched_rule": rule, "then": decision.clone(), "decision": decision });
            let owner = if fit_score >= 70 && employees >= 50 {
                matched(1, serde_json::json!({ "owner": "senior-sales", "queue": "priority" }))
            } else if fit_score >= 40 {
                matched(2, serde_json::json!({ "owner": "sales", "queue": "standard" }))
            } else {
                serde_json::json!({ "matched_rule": null, "decision": { "owner": "nurture", "queue": "marketing" } })
            };
            let mut context = serde_json::json!({ "event": lead });
            if !failed {
                context["company_context"] = serde_json::json!({ "employees": employees, "industry": "dental care" });
                context["qualification_summary"] = draft.clone();
                context["owner_assignment"] = owner;
            }
            txn.execute_raw(stmt(
                "INSERT INTO runs (id, workflow_id, workflow_name, workflow_version, status, context, next_step, pinned, executions, error,
                                   tokens_in, tokens_out, created_at, started_at, finished_at, updated_at)
                 VALUES ($1, $2, $3, 1, $4, $5, $6, '{}', 1, $7, $8, $9, $10, $10, $11, $11)",
                vec![
                    run_id.into(),
                    workflow_id.into(),
                    workflow.into(),
                    status.into(),
                    context.into(),
                    (step_rows.len() as i32).into(),
                    failed.then(|| "the company lookup answered 503 three times".to_string()).into(),
                    if failed { 0i64 } else { tokens_in }.into(),
                    if failed { 0i64 } else { tokens_out }.into(),
                    created.into(),
                    finished.into(),
                ],
            ))
            .await?;
            for (i, id, kind, step_status, t_in, t_out, c, ms) in step_rows {
                let started = created + chrono::Duration::milliseconds(i as i64 * 900);
                let output = (kind == StepKind::Llm).then(|| draft.clone());
                txn.execute_raw(stmt(
                    "INSERT INTO run_steps (run_id, step_index, step_id, kind, status, attempts, started_at, finished_at, tokens_in, tokens_out, cost_micros,
                                            model, error, detail, output)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, '{}', $14)",
                    vec![
                        run_id.into(),
                        i.into(),
                        id.into(),
                        kind.into(),
                        step_status.into(),
                        if step_status == StepStatus::Failed { 3 } else if pick(20, 13 + i as u64) == 0 { 2 } else { 1 }.into(),
                        started.into(),
                        (started + chrono::Duration::milliseconds(ms)).into(),
                        t_in.into(),
                        t_out.into(),
                        c.into(),
                        (kind == StepKind::Llm).then(|| "gpt-4o-mini".to_string()).into(),
                        (step_status == StepStatus::Failed).then(|| "GET company-lookup answered 503".to_string()).into(),
                        output.into(),
                    ],
                ))
                .await?;
            }
            if reviewed {
                let decision = if pick(10, 8) < agree_in_ten { Decision::Approve } else { Decision::EditAndApprove };
                let asked = created + chrono::Duration::seconds(3);
                let decided = finished;
                let escalated = (waited > 4500).then(|| asked + chrono::Duration::minutes(60));
                txn.execute_raw(stmt(
                    "INSERT INTO review_tasks (id, run_id, step_index, reason, status, decision, reason_code, decided_by, decided_at, created_at,
                                               workflow_name, claimed_by, claimed_at, escalated_at, value, output_name, draft, edited_output)
                     VALUES ($1, $2, 2, 'high_value', 'decided', $3, $4, $5, $6, $7, $8, $5, $9, $10, $11, 'qualification_summary', $12, $13)",
                    vec![
                        Uuid::new_v4().into(),
                        run_id.into(),
                        decision.into(),
                        (decision != Decision::Approve).then(|| "missing_context".to_string()).into(),
                        reviewer.into(),
                        decided.into(),
                        asked.into(),
                        workflow.into(),
                        (decided - chrono::Duration::seconds(review_seconds)).into(),
                        escalated.into(),
                        lead["annual_contract_value"].as_f64().into(),
                        draft.clone().into(),
                        (decision == Decision::EditAndApprove)
                            .then(|| {
                                let mut edited = draft.clone();
                                edited["fit_score"] = serde_json::json!((fit_score - 20).max(0));
                                edited["next_step"] = serde_json::json!("Send the case study first, then call");
                                edited
                            })
                            .into(),
                    ],
                ))
                .await?;
            }
            // Some qualified leads turn into deals days later, reported back by the CRM.
            if !failed && pick(100, 9) < wins_in_hundred {
                let won = finished + chrono::Duration::hours(24 + pick(200, 14) as i64);
                if won < now {
                    txn.execute_raw(stmt(
                        "INSERT INTO outcome_events (id, workflow_name, run_id, outcome, value, idempotency_key, occurred_at, received_at)
                         VALUES ($1, $2, $3, 'deal.won', $4, $5, $6, $6)",
                        vec![Uuid::new_v4().into(), workflow.into(), run_id.into(), lead["annual_contract_value"].as_f64().into(), format!("crm-{run_id}").into(), won.into()],
                    ))
                    .await?;
                }
            }
            crate::ledger::add_lines(&txn, run_id, &lines).await?;
            // The lines were paid when the run happened.
            txn.execute_raw(stmt(
                "UPDATE cost_lines SET at = $2 WHERE run_id = $1",
                vec![run_id.into(), finished.into()],
            ))
            .await?;
            written += 1;
        }
    }
    // A cost alert that came and went last month, as the cost watch logged it.
    let opened = now - chrono::Duration::days(18);
    let cleared = opened + chrono::Duration::hours(20);
    let message = "Cost per run is $2.46 against a target of $2.00 (23% over; alerts above 15%).";
    txn.execute_raw(stmt(
        "INSERT INTO cost_alerts (id, workflow_name, condition, message, opened_at, cleared_at) VALUES ($1, $2, 'cost_per_run', $3, $4, $5)",
        vec![Uuid::new_v4().into(), workflow.into(), message.into(), opened.into(), cleared.into()],
    ))
    .await?;
    for (action, why, at) in [
        ("cost.alert_opened", message.to_string(), opened),
        ("cost.alert_cleared", format!("Recovered: {message}"), cleared),
    ] {
        txn.execute_raw(stmt(
            "INSERT INTO audit_events (at, action, subject, detail, area, why) VALUES ($1, $2, $3, '{\"condition\": \"cost_per_run\"}', 'cost', $4)",
            vec![at.into(), action.into(), workflow.into(), why.into()],
        ))
        .await?;
    }
    txn.execute_raw(stmt(
        "INSERT INTO budgets (workflow_name, expected_runs, target_micros, overage_pct, action, deviation_pct, updated_by)
         VALUES ($1, 240, 2000000, 10, 'alert_only', 15, 'seed') ON CONFLICT (workflow_name) DO NOTHING",
        vec![workflow.into()],
    ))
    .await?;
    txn.commit().await?;
    let owner = any_owner(db, DEMO_SLUG).await?;
    let baseline = engine::kpi::Baseline {
        manual_minutes: 25.0,
        error_rate: 0.09,
        response_minutes: 240.0,
        monthly_volume: 220,
        hourly_cost: 38_000_000,
        outcome: "deal.won".into(),
        outcome_rate: Some(0.12),
    };
    crate::kpis::save_baseline(db, &owner, workflow, &baseline, "Measured by hand over the summer, before launch")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (name, volume, minutes, errors, revenue, risk, metric) in DEMO_BACKLOG {
        let candidate = engine::kpi::Candidate {
            name: name.into(),
            inputs: engine::kpi::ValueScoreInputs {
                monthly_volume: volume,
                minutes_per_task: minutes,
                error_rate: errors,
                revenue_impact: revenue,
                compliance_risk: risk,
            },
            success_metric: metric.into(),
        };
        crate::backlog::save(db, &owner, &candidate).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(written)
}

/// A well-mixed 64-bit hash (SplitMix64), so the seeded history has no visible pattern.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The demo backlog: name, volume a month, minutes a task, error rate,
/// revenue impact, compliance risk, success metric (one is missing).
pub const DEMO_BACKLOG: [(&str, f64, f64, f64, f64, f64, &str); 4] = [
    ("Support ticket triage", 420.0, 6.0, 0.07, 20.0, 15.0, "Tickets answered within 1 hour"),
    ("Invoice reminders", 180.0, 12.0, 0.04, 60.0, 40.0, "Days sales outstanding below 30"),
    ("Appointment confirmations", 600.0, 3.0, 0.10, 30.0, 5.0, ""),
    ("Supplier quote comparison", 40.0, 45.0, 0.12, 50.0, 25.0, "Quotes compared within a day"),
];
