//! The labels a run's event and a review task's draft are read with (see
//! `engine::readable`): the trigger's data contract with the hosted form's
//! words for the event, the response schema of the prompt that drafted it
//! (the version the run pinned) for a draft.

use engine::prompt::PromptTemplate;
use engine::readable::Labels;
use engine::workflow::WorkflowContract;
use sea_orm::{DatabaseTransaction, DbErr};
use serde_json::Value;

/// The labels of a run's event: its trigger's data contract, in the hosted form's order and words.
pub async fn event_labels_in(
    txn: &DatabaseTransaction,
    workflow: &str,
    contract: &WorkflowContract,
) -> Result<Labels, DbErr> {
    let Some(name) = contract.trigger.contract_name() else { return Ok(Labels::default()) };
    let Some(data_contract) = crate::data_contracts::find_in(txn, &name).await? else { return Ok(Labels::default()) };
    let words = crate::hosted_forms::read(txn, workflow).await?.map(|(_, words)| words).unwrap_or_default();
    Ok(Labels::for_event(&data_contract, &words))
}

/// The prompt (the version the run pinned) of the llm step whose output is `output`.
pub async fn drafting_prompt_in(
    txn: &DatabaseTransaction,
    contract: &WorkflowContract,
    pinned: &Value,
    output: Option<&str>,
) -> Result<Option<PromptTemplate>, DbErr> {
    let Some(output) = output else { return Ok(None) };
    let producer = contract.steps.iter().find(|s| s.output.as_deref() == Some(output));
    let Some(prompt) = producer.and_then(|s| s.prompt_template.as_deref()) else { return Ok(None) };
    let number = pinned["prompts"][prompt].as_i64().unwrap_or(1) as i32;
    crate::prompts::pinned_in(txn, prompt, number).await
}

/// The labels of the draft named `output`: its prompt's response schema.
pub async fn draft_labels_in(
    txn: &DatabaseTransaction,
    contract: &WorkflowContract,
    pinned: &Value,
    output: Option<&str>,
) -> Result<Labels, DbErr> {
    let schema = drafting_prompt_in(txn, contract, pinned, output).await?.and_then(|p| p.response_json_schema().ok());
    Ok(schema.map(|s| Labels::for_draft(&s)).unwrap_or_default())
}

/// How a task about to open reads (its event, its draft), in a transaction of its own: for its emails.
pub async fn task_labels(
    db: &sea_orm::DatabaseConnection,
    tenant: &crate::Tenant,
    workflow: &str,
    contract: &WorkflowContract,
    pinned: &Value,
    output: Option<&str>,
) -> Result<(Labels, Labels), DbErr> {
    let txn = tenant.begin(db).await?;
    let event = event_labels_in(&txn, workflow, contract).await?;
    let draft = draft_labels_in(&txn, contract, pinned, output).await?;
    txn.commit().await?;
    Ok((event, draft))
}
