//! Prompt templates as numbered versions, with `production` and `staging`
//! labels pointing at versions, and a try-it run on the offline model.

use crate::db::{scalar, stmt};
use crate::{audit, auth::CurrentMember};
use engine::prompt::PromptTemplate;
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction, DbBackend, FromQueryResult, Statement};
use serde_json::{json, Value};

pub const LABELS: [&str; 2] = ["production", "staging"];

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("the prompt template has problems")]
    Invalid(Vec<String>),
    #[error("{0}")]
    Refused(String),
    #[error("there is no such prompt template or version")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct PromptRow {
    pub name: String,
    pub latest_version: i32,
    pub production: Option<i32>,
    pub staging: Option<i32>,
    pub updated_at: DateTimeUtc,
}

const PROMPT_ROWS: &str = r#"
SELECT p.name, max(v.number) AS latest_version,
       (SELECT number FROM prompt_labels l WHERE l.prompt_id = p.id AND l.label = 'production') AS production,
       (SELECT number FROM prompt_labels l WHERE l.prompt_id = p.id AND l.label = 'staging') AS staging,
       max(v.created_at) AS updated_at
  FROM prompt_templates p JOIN prompt_versions v ON v.prompt_id = p.id
"#;

pub async fn list(db: &DatabaseConnection, member: &CurrentMember) -> Result<Vec<PromptRow>, DbErr> {
    let txn = member.tenant.begin(db).await?;
    let rows = PromptRow::find_by_statement(Statement::from_string(
        DbBackend::Postgres,
        format!("{PROMPT_ROWS} GROUP BY p.id ORDER BY p.name"),
    ))
    .all(&txn)
    .await?;
    txn.commit().await?;
    Ok(rows)
}

#[derive(Debug, Clone, FromQueryResult)]
pub struct PromptVersionRow {
    pub number: i32,
    pub change_note: String,
    pub author_email: String,
    pub created_at: DateTimeUtc,
}

pub struct PromptDetail {
    pub prompt: PromptRow,
    pub versions: Vec<PromptVersionRow>,
    pub latest_document: Value,
}

pub async fn detail(db: &DatabaseConnection, member: &CurrentMember, name: &str) -> Result<PromptDetail, PromptError> {
    let txn = member.tenant.begin(db).await?;
    let prompt = PromptRow::find_by_statement(stmt(
        &format!("{PROMPT_ROWS} WHERE p.name = $1 GROUP BY p.id"),
        vec![name.into()],
    ))
    .one(&txn)
    .await?
    .ok_or(PromptError::NotFound)?;
    let versions = PromptVersionRow::find_by_statement(stmt(
        "SELECT v.number, v.change_note, v.author_email, v.created_at FROM prompt_versions v JOIN prompt_templates p ON p.id = v.prompt_id
          WHERE p.name = $1 ORDER BY v.number DESC",
        vec![name.into()],
    ))
    .all(&txn)
    .await?;
    let latest_document = document_in(&txn, name, prompt.latest_version).await?;
    txn.commit().await?;
    Ok(PromptDetail { prompt, versions, latest_document })
}

async fn document_in(txn: &DatabaseTransaction, name: &str, number: i32) -> Result<Value, PromptError> {
    scalar(
        txn,
        stmt(
            "SELECT v.document AS value FROM prompt_versions v JOIN prompt_templates p ON p.id = v.prompt_id WHERE p.name = $1 AND v.number = $2",
            vec![name.into(), number.into()],
        ),
    )
    .await?
    .ok_or(PromptError::NotFound)
}

/// Version `number` of prompt template `name` (the one a run pinned), inside
/// the business's transaction. A stored version that no longer parses is an error.
pub async fn pinned_in(txn: &DatabaseTransaction, name: &str, number: i32) -> Result<Option<PromptTemplate>, DbErr> {
    let document = match document_in(txn, name, number).await {
        Ok(document) => document,
        Err(PromptError::NotFound) => return Ok(None),
        Err(PromptError::Storage(e)) => return Err(e),
        Err(other) => return Err(DbErr::Custom(other.to_string())),
    };
    PromptTemplate::from_json(&document)
        .map(Some)
        .map_err(|problems| DbErr::Type(format!("{name} version {number} does not parse: {}", problems.join("; "))))
}

pub async fn version_document(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
    number: i32,
) -> Result<Value, PromptError> {
    let txn = member.tenant.begin(db).await?;
    let doc = document_in(&txn, name, number).await?;
    txn.commit().await?;
    Ok(doc)
}

/// Version `number` of prompt template `name`, in a transaction of its own.
pub async fn pinned(
    db: &DatabaseConnection,
    tenant: &crate::Tenant,
    name: &str,
    number: i32,
) -> Result<Option<PromptTemplate>, DbErr> {
    let txn = tenant.begin(db).await?;
    let found = pinned_in(&txn, name, number).await?;
    txn.commit().await?;
    Ok(found)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Saves a new version (creating the template on first save); returns its number.
pub async fn save_version(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
    document: &Value,
    why: &str,
) -> Result<i32, PromptError> {
    if !valid_name(name) {
        return Err(PromptError::Refused("Name the template with lowercase letters, digits, '-' or '_'.".into()));
    }
    if why.trim().is_empty() {
        return Err(PromptError::Refused("Say why you made this change; the change log keeps it.".into()));
    }
    let txn = member.tenant.begin(db).await?;
    let number = save_version_in(&txn, member, name, document, why).await?;
    txn.commit().await?;
    Ok(number)
}

/// `save_version` inside the caller's tenant transaction.
pub async fn save_version_in(
    txn: &DatabaseTransaction,
    member: &CurrentMember,
    name: &str,
    document: &Value,
    why: &str,
) -> Result<i32, PromptError> {
    if !valid_name(name) {
        return Err(PromptError::Refused("Name the template with lowercase letters, digits, '-' or '_'.".into()));
    }
    PromptTemplate::from_json(document).map_err(PromptError::Invalid)?;
    txn.execute_raw(stmt(
        "INSERT INTO prompt_templates (id, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        vec![Uuid::new_v4().into(), name.into()],
    ))
    .await?;
    let prompt_id: Uuid =
        scalar(txn, stmt("SELECT id AS value FROM prompt_templates WHERE name = $1 FOR UPDATE", vec![name.into()]))
            .await?
            .ok_or(PromptError::NotFound)?;
    let number: i32 = scalar(
        txn,
        stmt(
            "SELECT coalesce(max(number), 0) + 1 AS value FROM prompt_versions WHERE prompt_id = $1",
            vec![prompt_id.into()],
        ),
    )
    .await?
    .ok_or(PromptError::NotFound)?;
    txn.execute_raw(stmt(
        "INSERT INTO prompt_versions (prompt_id, number, document, change_note, author_email) VALUES ($1, $2, $3, $4, $5)",
        vec![prompt_id.into(), number.into(), document.clone().into(), why.trim().into(), member.email.clone().into()],
    ))
    .await?;
    audit::record_change(
        txn,
        Some(member),
        "prompt",
        "prompt.version_saved",
        name,
        why.trim(),
        json!({ "version": number }),
    )
    .await?;
    Ok(number)
}

/// Points `production` or `staging` at a version; a recorded change.
pub async fn move_label(
    db: &DatabaseConnection,
    member: &CurrentMember,
    name: &str,
    label: &str,
    number: i32,
) -> Result<(), PromptError> {
    if !LABELS.contains(&label) {
        return Err(PromptError::Refused("The labels are production and staging.".into()));
    }
    let txn = member.tenant.begin(db).await?;
    let prompt_id: Uuid = scalar(
        &txn,
        stmt(
            "SELECT p.id AS value FROM prompt_templates p JOIN prompt_versions v ON v.prompt_id = p.id WHERE p.name = $1 AND v.number = $2",
            vec![name.into(), number.into()],
        ),
    )
    .await?
    .ok_or(PromptError::NotFound)?;
    let previous: Option<i32> = scalar(
        &txn,
        stmt(
            "SELECT number AS value FROM prompt_labels WHERE prompt_id = $1 AND label = $2",
            vec![prompt_id.into(), label.into()],
        ),
    )
    .await?;
    txn.execute_raw(stmt(
        "INSERT INTO prompt_labels (prompt_id, label, number) VALUES ($1, $2, $3)
         ON CONFLICT (prompt_id, label) DO UPDATE SET number = excluded.number",
        vec![prompt_id.into(), label.into(), number.into()],
    ))
    .await?;
    audit::record_change(
        &txn,
        Some(member),
        "prompt",
        "prompt.label_moved",
        name,
        &format!("{label} now points at version {number}"),
        json!({ "label": label, "from": previous, "to": number }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// What a try-it run produced.
#[derive(Debug, Clone)]
pub struct TryResult {
    pub rendered: String,
    pub output: Value,
    /// Empty when the output meets the response schema.
    pub schema_errors: Vec<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    /// Estimated cost in millionths of the currency unit (the offline model is free).
    pub cost_micros: i64,
    pub model: String,
}

/// Renders a version with the given context and runs it on the model of
/// `tier` (the offline model until the business configures another).
pub async fn try_it(
    state: &crate::state::AppState,
    member: &CurrentMember,
    name: &str,
    number: i32,
    tier: &str,
    context: &Value,
) -> Result<TryResult, PromptError> {
    let (db, settings, outbound) = (&state.db, &state.settings, &state.outbound);
    let document = version_document(db, member, name, number).await?;
    let template = PromptTemplate::from_json(&document).map_err(PromptError::Invalid)?;
    let rendered = template.render(context).map_err(PromptError::Invalid)?;
    let schema = template.response_json_schema().map_err(|e| PromptError::Invalid(vec![e]))?;
    let model = crate::models::for_tier(db, settings, member, tier).await.map_err(|e| match e {
        crate::models::ModelError::Storage(e) => PromptError::Storage(e),
        other => PromptError::Refused(format!("The {tier} tier has no model: {other}")),
    })?;
    let system = template.system_instructions(&schema);
    let completion = crate::providers::complete(outbound, &model, &system, &rendered, &schema)
        .await
        .map_err(PromptError::Refused)?;
    let (output, schema_errors) = match serde_json::from_str::<Value>(&completion.text) {
        Ok(output) => {
            let errors = template.check_output(&output).err().unwrap_or_default();
            (output, errors)
        }
        Err(e) => (Value::String(completion.text.clone()), vec![format!("the answer is not JSON: {e}")]),
    };
    Ok(TryResult {
        cost_micros: crate::providers::cost_micros(&model, completion.tokens_in, completion.tokens_out),
        tokens_in: completion.tokens_in,
        tokens_out: completion.tokens_out,
        model: model.label,
        rendered,
        output,
        schema_errors,
    })
}
