//! Everything a business owns, as JSON lines, for its owner to keep before
//! deleting it: one line per row of every table in its schema (`{"table",
//! "row"}`), then its members. Stored secrets stay sealed (their ciphertext
//! is exported, never their value). The export is audited before it is read,
//! so it holds its own record.

use crate::{auth::CurrentMember, db::stmt};
use sea_orm::{DatabaseConnection, DbErr};

/// The export, one JSON document per line.
pub async fn export(db: &DatabaseConnection, owner: &CurrentMember) -> Result<String, DbErr> {
    let txn = owner.tenant.begin(db).await?;
    crate::audit::record_change(
        &txn,
        Some(owner),
        "business",
        "business.exported",
        &owner.tenant_slug,
        "everything the business owns, downloaded",
        serde_json::json!({}),
    )
    .await?;
    let tables: Vec<String> = crate::db::scalars(
        &txn,
        stmt(
            "SELECT table_name::text AS value FROM information_schema.tables
              WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name",
            vec![owner.tenant.schema().into()],
        ),
    )
    .await?;
    let mut out = String::new();
    for table in tables {
        // Names come from the catalogue of the business's own schema; quoted as identifiers.
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let rows: Vec<String> = crate::db::scalars(
            &txn,
            stmt(
                &format!(
                    "SELECT jsonb_build_object('table', $1::text, 'row', to_jsonb(t))::text AS value FROM {quoted} t"
                ),
                vec![table.clone().into()],
            ),
        )
        .await?;
        for row in rows {
            out.push_str(&row);
            out.push('\n');
        }
    }
    let members: Vec<String> = crate::db::scalars(
        &txn,
        stmt(
            "SELECT jsonb_build_object('table', 'members', 'row',
                    jsonb_build_object('email', u.email, 'role', m.role, 'since', m.created_at))::text AS value
               FROM public.memberships m JOIN public.users u ON u.id = m.user_id
              WHERE m.tenant_id = $1 ORDER BY u.email",
            vec![owner.tenant.id().into()],
        ),
    )
    .await?;
    for row in members {
        out.push_str(&row);
        out.push('\n');
    }
    txn.commit().await?;
    Ok(out)
}
