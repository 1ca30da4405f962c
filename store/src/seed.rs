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
