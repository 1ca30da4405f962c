//! The words of a workflow's hosted form (heading, intro, field labels,
//! thank-you), which the owner writes for their customers, and the
//! business's name the form shows above them.

use crate::{audit, auth::CurrentMember, db::stmt, tenant::Tenant};
use engine::data_contract::DataContract;
use engine::form::FormWords;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, FromQueryResult};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum FormWordsError {
    #[error("the form's words have problems")]
    Invalid(Vec<(String, String)>),
    #[error("there is no such workflow")]
    NotFound,
    #[error(transparent)]
    Storage(#[from] DbErr),
}

#[derive(FromQueryResult)]
struct Row {
    business: String,
    heading: Option<String>,
    intro: Option<String>,
    thank_you: Option<String>,
    labels: Option<serde_json::Value>,
}

pub(crate) async fn read(txn: &DatabaseTransaction, workflow: &str) -> Result<Option<(String, FormWords)>, DbErr> {
    let row = Row::find_by_statement(stmt(
        "SELECT t.name AS business, f.heading, f.intro, f.thank_you, f.labels
           FROM public.tenants t
           JOIN workflows w ON w.name = $1
           LEFT JOIN hosted_form_words f ON f.workflow_id = w.id
          WHERE t.schema_name = current_schema()",
        vec![workflow.into()],
    ))
    .one(txn)
    .await?;
    Ok(row.map(|r| {
        let words = FormWords {
            heading: r.heading.unwrap_or_default(),
            intro: r.intro.unwrap_or_default(),
            thank_you: r.thank_you.unwrap_or_default(),
            labels: r.labels.and_then(|l| serde_json::from_value(l).ok()).unwrap_or_default(),
        };
        (r.business, words)
    }))
}

/// The business's name and the form's words, for the hosted form.
pub async fn words(db: &DatabaseConnection, tenant: &Tenant, workflow: &str) -> Result<(String, FormWords), DbErr> {
    let txn = tenant.begin(db).await?;
    let found = read(&txn, workflow).await?;
    txn.commit().await?;
    Ok(found.unwrap_or_default())
}

/// Saves what the owner wrote (checked against the form's fields); kept in the change log.
pub async fn save(
    db: &DatabaseConnection,
    member: &CurrentMember,
    workflow: &str,
    contract: &DataContract,
    words: FormWords,
) -> Result<FormWords, FormWordsError> {
    let words = words.checked(contract).map_err(FormWordsError::Invalid)?;
    let txn = member.tenant.begin(db).await?;
    let saved = txn
        .execute_raw(stmt(
            "INSERT INTO hosted_form_words (workflow_id, heading, intro, thank_you, labels)
             SELECT id, $2, $3, $4, $5 FROM workflows WHERE name = $1
             ON CONFLICT (workflow_id) DO UPDATE
                SET heading = $2, intro = $3, thank_you = $4, labels = $5, updated_at = now()",
            vec![
                workflow.into(),
                words.heading.clone().into(),
                words.intro.clone().into(),
                words.thank_you.clone().into(),
                json!(words.labels).into(),
            ],
        ))
        .await?;
    if saved.rows_affected() == 0 {
        return Err(FormWordsError::NotFound);
    }
    audit::record_change(
        &txn,
        Some(member),
        "workflow",
        "workflow.form_words_changed",
        workflow,
        "The hosted form's words changed",
        json!({ "heading": words.heading, "labels": words.labels.len() }),
    )
    .await?;
    txn.commit().await?;
    Ok(words)
}
