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

/// Creates the demo business if it is missing. Returns whether it was created.
pub async fn seed_demo(db: &DatabaseConnection) -> anyhow::Result<bool> {
    if tenants::find_by_slug(db, DEMO_SLUG).await?.is_some() {
        return Ok(false);
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
    Ok(true)
}
