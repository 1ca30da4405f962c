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
pub async fn seed_demo(db: &DatabaseConnection, settings: &crate::config::Settings) -> anyhow::Result<Option<SeededDemo>> {
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
async fn seed_automation(db: &DatabaseConnection, settings: &crate::config::Settings, created: &tenants::NewBusiness) -> anyhow::Result<String> {
    let owner = crate::auth::CurrentMember {
        user_id: created.owner.id,
        email: created.owner.email.clone(),
        session_id: Uuid::nil(),
        tenant_id: created.tenant.id,
        tenant_slug: created.tenant.slug.clone(),
        tenant_name: created.tenant.name.clone(),
        schema_name: created.tenant.schema_name.clone(),
        role: Role::Owner,
    };
    let name = crate::bundles::import_bundle(db, &owner, &crate::bundles::GALLERY[0].bundle(), "Installed from the playbook")
        .await
        .map_err(|e| anyhow::anyhow!("seeding the lead workflow: {e}"))?;
    crate::workflows::publish(db, &owner, &name, 1, "First version goes live")
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
        ("Harbor Dental Group", "Dana Whitfield", "harbordental.example", 60_000, "We run 4 clinics and chase appointment confirmations by phone. Budget approved, live before Q3."),
        ("Northwind Property Management", "Sam Okafor", "northwind-pm.example", 84_000, "220 rental units; tenants report leaks by email and we lose track of them."),
        ("Blue Fern Hotels", "Priya Raman", "bluefern.example", 120_000, "Three boutique hotels want faster maintenance triage across sites."),
        ("Cedar & Pine Builders", "Luis Ortega", "cedarpine.example", 56_000, "Subcontractor scheduling is all spreadsheets; we want intake automated."),
        ("Glasshouse Cafés", "Mei Chen", "glasshouse-cafes.example", 52_000, "Twelve cafés, recurring drain problems, would like a service contract."),
        ("Summit Senior Living", "Grace Adeyemi", "summitliving.example", 190_000, "Two campuses, strict compliance, need documented response times."),
        ("Riverbend Schools", "Tom Becker", "riverbend-schools.example", 75_000, "District of five schools looking for a planned maintenance partner."),
        ("Oak Street Clinic", "Hana Sato", "oakstreetclinic.example", 58_000, "Medical practice, two floors, frequent after-hours call-outs."),
        ("Lumen Fitness", "Jordan Blake", "lumenfitness.example", 64_000, "Showers in 6 gyms; members complain about pressure and heat."),
        ("Portside Logistics", "Ana Ruiz", "portside-logistics.example", 98_000, "Warehouse washrooms and a canteen; budget for a yearly contract."),
        ("Maple Grove HOA", "Chris Novak", "maplegrove-hoa.example", 71_000, "Homeowners association, 140 homes, shared sewer lines."),
        ("Brightside Dentistry", "Olivia Park", "brightside-dental.example", 53_000, "Two practices, sterilisation rooms need reliable hot water."),
        ("Copper Kettle Restaurants", "Marco Bellini", "copperkettle.example", 88_000, "Grease traps in 5 restaurants; inspections coming in spring."),
        ("Westfield Offices", "Ruth Klein", "westfield-offices.example", 66_000, "Office park with 9 buildings; we want one vendor and an SLA."),
        ("Green Valley Farms", "Ike Mensah", "greenvalleyfarms.example", 54_000, "Irrigation and farmhouse plumbing; seasonal peaks in summer."),
        ("Seaview Apartments", "Nora Lind", "seaview-apts.example", 110_000, "Older building, frequent leaks, board approved a budget."),
        ("Atlas Storage", "Victor Hale", "atlas-storage.example", 59_000, "Six storage sites with small offices; need preventive checks."),
        ("Quarry Hill Brewery", "Ella Moss", "quarryhill.invalid", 72_000, "Brewery floor drains and glycol lines; expanding next year."),
        ("Pinecrest Vet Clinic", "Raj Patel", "pinecrest-vet.invalid", 57_000, "Kennels need wash-down drains serviced monthly."),
        ("Harborview Marina", "Liam Doyle", "harborview-marina.invalid", 63_000, "Marina washrooms and fuel dock; salt water corrosion issues."),
        ("Little Acorn Daycare", "Sofia Rossi", "littleacorn.example", 9_000, "One site, small bathrooms, looking for a quote."),
        ("Corner Bookshop", "Ben Carter", "cornerbooks.example", 6_000, "A single leaking sink in the back room."),
        ("Studio Nine Salon", "Ava Müller", "studionine.example", 14_000, "Salon basins clog often; want a monthly visit."),
        ("Tidewater Yoga", "Kai Nakamura", "tidewater-yoga.example", 11_000, "Two studios, showers lose pressure in the mornings."),
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
pub async fn seed_leads(db: &DatabaseConnection, settings: &crate::config::Settings) -> anyhow::Result<Vec<crate::jobs::RunJob>> {
    use crate::ingest::{self, Accepted, Channel, Incoming};
    let target = ingest::target(db, DEMO_SLUG, "lead-intake-qualification").await.map_err(|e| anyhow::anyhow!("{e}"))?;
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
