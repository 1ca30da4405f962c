//! Bundles: a workflow with the prompt templates and data contracts it
//! uses, as one YAML file a business can keep in git. Importing checks
//! everything first and changes nothing unless all of it is valid; the
//! template gallery installs through the same path.

use crate::db::{scalar, stmt};
use crate::{
    auth::CurrentMember,
    data_contracts, prompts,
    workflows::{self, WorkflowError},
};
use engine::{data_contract::DataContract, prompt::PromptTemplate, workflow::WorkflowContract};
use sea_orm::{prelude::*, DatabaseConnection, DatabaseTransaction};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

pub const FORMAT: &str = "steward/bundle/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    pub bundle: String,
    /// The workflow contract, as its YAML text.
    pub workflow: String,
    #[serde(default)]
    pub prompts: BTreeMap<String, Value>,
    #[serde(default)]
    pub data_contracts: BTreeMap<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle has problems")]
    Invalid(Vec<String>),
    #[error("there is no workflow named {0}")]
    NotFound(String),
    #[error(transparent)]
    Storage(#[from] DbErr),
}

pub fn to_yaml(bundle: &Bundle) -> String {
    serde_norway::to_string(bundle).unwrap_or_default()
}

pub fn parse(yaml: &str) -> Result<Bundle, Vec<String>> {
    let bundle: Bundle = serde_norway::from_str(yaml).map_err(|e| vec![format!("bundle: {e}")])?;
    if bundle.bundle != FORMAT {
        return Err(vec![format!("bundle: expected format '{FORMAT}', found '{}'", bundle.bundle)]);
    }
    Ok(bundle)
}

async fn latest_prompt(txn: &DatabaseTransaction, name: &str) -> Result<Option<Value>, DbErr> {
    scalar(
        txn,
        stmt(
            "SELECT v.document AS value FROM prompt_versions v JOIN prompt_templates p ON p.id = v.prompt_id
              WHERE p.name = $1 ORDER BY v.number DESC LIMIT 1",
            vec![name.into()],
        ),
    )
    .await
}

async fn current_contract(txn: &DatabaseTransaction, name: &str) -> Result<Option<Value>, DbErr> {
    scalar(txn, stmt("SELECT document AS value FROM data_contracts WHERE name = $1", vec![name.into()])).await
}

/// Imports a bundle in one transaction: new or changed prompts become new
/// versions (a new prompt's first version is labelled production), data
/// contracts are created or updated, and the workflow gets a new draft
/// version. Returns the workflow's name. On any problem nothing changes.
pub async fn import(
    db: &DatabaseConnection,
    member: &CurrentMember,
    yaml: &str,
    why: &str,
) -> Result<String, BundleError> {
    let bundle = parse(yaml).map_err(BundleError::Invalid)?;
    import_bundle(db, member, &bundle, why).await
}

pub async fn import_bundle(
    db: &DatabaseConnection,
    member: &CurrentMember,
    bundle: &Bundle,
    why: &str,
) -> Result<String, BundleError> {
    let mut problems = Vec::new();
    if why.trim().is_empty() {
        problems.push("why: say why you are importing this bundle".to_string());
    }
    for (name, doc) in &bundle.prompts {
        if let Err(errs) = PromptTemplate::from_json(doc) {
            problems.extend(errs.into_iter().map(|e| format!("prompts.{name}: {e}")));
        }
    }
    for (name, doc) in &bundle.data_contracts {
        if let Err(e) = DataContract::from_json(doc) {
            problems.push(format!("data_contracts.{name}: {e}"));
        }
    }
    let txn = member.tenant.begin(db).await?;
    let mut catalog = workflows::catalog(&txn, &member.tenant).await?;
    catalog.prompts.extend(bundle.prompts.keys().cloned());
    catalog.data_contracts.extend(bundle.data_contracts.keys().cloned());
    if let Err(issues) = WorkflowContract::parse(&bundle.workflow, &catalog) {
        problems.extend(
            issues.into_iter().map(|i| format!("workflow line {}, column {}: {}", i.line, i.column, i.message)),
        );
    }
    if !problems.is_empty() {
        txn.rollback().await?;
        return Err(BundleError::Invalid(problems));
    }
    let fail = |e: String| BundleError::Invalid(vec![e]);
    for (name, doc) in &bundle.prompts {
        let existing = latest_prompt(&txn, name).await?;
        if existing.as_ref() != Some(doc) {
            let number = prompts::save_version_in(&txn, member, name, doc, why)
                .await
                .map_err(|e| fail(format!("prompts.{name}: {e}")))?;
            if existing.is_none() {
                txn.execute_raw(stmt(
                    "INSERT INTO prompt_labels (prompt_id, label, number) SELECT id, 'production', $2 FROM prompt_templates WHERE name = $1",
                    vec![name.clone().into(), number.into()],
                ))
                .await?;
            }
        }
    }
    for (name, doc) in &bundle.data_contracts {
        if current_contract(&txn, name).await?.as_ref() != Some(doc) {
            data_contracts::save_in(&txn, member, name, doc, why)
                .await
                .map_err(|e| fail(format!("data_contracts.{name}: {e}")))?;
        }
    }
    let (name, _) =
        workflows::save_version_in(&txn, member, &bundle.workflow, why, &catalog).await.map_err(|e| match e {
            WorkflowError::Invalid(issues) => {
                BundleError::Invalid(issues.into_iter().map(|i| format!("workflow: {}", i.message)).collect())
            }
            WorkflowError::Storage(e) => BundleError::Storage(e),
            other => fail(other.to_string()),
        })?;
    txn.commit().await?;
    Ok(name)
}

/// The bundle of a workflow: its live version (or latest draft), the
/// prompts it uses at their production version (or latest), and its data contracts.
pub async fn export(db: &DatabaseConnection, member: &CurrentMember, workflow: &str) -> Result<Bundle, BundleError> {
    let txn = member.tenant.begin(db).await?;
    let yaml: String = scalar(
        &txn,
        stmt(
            "SELECT v.yaml AS value FROM workflows w JOIN workflow_versions v ON v.workflow_id = w.id
              WHERE w.name = $1 ORDER BY (v.number = w.live_version) DESC, v.number DESC LIMIT 1",
            vec![workflow.into()],
        ),
    )
    .await?
    .ok_or_else(|| BundleError::NotFound(workflow.to_owned()))?;
    let contract = WorkflowContract::structure(&yaml)
        .ok_or_else(|| BundleError::Invalid(vec!["the stored workflow no longer parses".into()]))?;
    let mut bundle =
        Bundle { bundle: FORMAT.into(), workflow: yaml, prompts: BTreeMap::new(), data_contracts: BTreeMap::new() };
    for step in &contract.steps {
        if let Some(p) = &step.prompt_template {
            let doc: Option<Value> = scalar(
                &txn,
                stmt(
                    "SELECT v.document AS value FROM prompt_templates p JOIN prompt_versions v ON v.prompt_id = p.id
                       LEFT JOIN prompt_labels l ON l.prompt_id = p.id AND l.label = 'production'
                      WHERE p.name = $1 ORDER BY (v.number = l.number) DESC NULLS LAST, v.number DESC LIMIT 1",
                    vec![p.clone().into()],
                ),
            )
            .await?;
            if let Some(doc) = doc {
                bundle.prompts.insert(p.clone(), doc);
            }
        }
        if let Some(c) = &step.data_contract {
            if let Some(doc) = current_contract(&txn, c).await? {
                bundle.data_contracts.insert(c.clone(), doc);
            }
        }
    }
    txn.commit().await?;
    Ok(bundle)
}

/// A ready workflow from the product's playbook.
impl Bundle {
    /// The prompts and data contracts the bundle brings, as the workflow sees them.
    pub fn catalog(&self) -> engine::workflow::Catalog {
        engine::workflow::Catalog {
            prompts: self.prompts.keys().cloned().collect(),
            data_contracts: self.data_contracts.keys().cloned().collect(),
            ..Default::default()
        }
    }
}

pub struct GalleryItem {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    workflow: &'static str,
    prompts: &'static [(&'static str, &'static str)],
    data_contracts: &'static [&'static str],
}

impl GalleryItem {
    /// Whether the workflow needs a second person's approval before it goes
    /// live (it emails outside the business or writes financial records),
    /// said on its gallery card before anyone installs it.
    pub fn needs_second_approver(&self) -> bool {
        let bundle = self.bundle();
        let catalog = bundle.catalog();
        WorkflowContract::parse(&bundle.workflow, &catalog).is_ok_and(|c| c.requires_four_eyes(&catalog))
    }

    pub fn bundle(&self) -> Bundle {
        Bundle {
            bundle: FORMAT.into(),
            workflow: self.workflow.to_owned(),
            prompts: self
                .prompts
                .iter()
                .map(|(name, json)| {
                    ((*name).to_owned(), serde_json::from_str(json).expect("gallery prompt is valid JSON"))
                })
                .collect(),
            data_contracts: self
                .data_contracts
                .iter()
                .filter_map(|o| {
                    DataContract::template(o).map(|c| ((*o).to_owned(), serde_json::to_value(c).unwrap_or_default()))
                })
                .collect(),
        }
    }
}

pub const GALLERY: [GalleryItem; 3] = [
    GalleryItem {
        name: "lead-intake-qualification",
        title: "Lead intake qualification",
        description: "Normalise a web-form lead, enrich it, have a model summarise and score it, and route it to an owner. A person approves low-confidence or high-value leads.",
        workflow: include_str!("gallery/lead-intake-qualification.yaml"),
        prompts: &[("lead_summary_v4", include_str!("gallery/lead_summary_v4.json"))],
        data_contracts: &["lead"],
    },
    GalleryItem {
        name: "support-ticket-triage",
        title: "Support ticket triage",
        description: "Classify each new ticket; common requests (billing, password resets, shipping status) are routed automatically, everything else is escalated to a person.",
        workflow: include_str!("gallery/support-ticket-triage.yaml"),
        prompts: &[("ticket_triage_v1", include_str!("gallery/ticket_triage_v1.json"))],
        data_contracts: &["ticket"],
    },
    GalleryItem {
        name: "invoice-reminder-sequence",
        title: "Invoice reminder sequence",
        description: "Draft a reminder for each overdue invoice; a person approves it before anything is sent to the customer. Publishing needs a second person's approval.",
        workflow: include_str!("gallery/invoice-reminder-sequence.yaml"),
        prompts: &[("invoice_reminder_v1", include_str!("gallery/invoice_reminder_v1.json"))],
        data_contracts: &["invoice"],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gallery_bundle_is_valid_on_its_own() {
        for item in &GALLERY {
            let bundle = item.bundle();
            let mut catalog = engine::workflow::Catalog::default();
            catalog.prompts.extend(bundle.prompts.keys().cloned());
            catalog.data_contracts.extend(bundle.data_contracts.keys().cloned());
            let contract =
                WorkflowContract::parse(&bundle.workflow, &catalog).unwrap_or_else(|e| panic!("{}: {e:?}", item.name));
            assert_eq!(contract.workflow, item.name);
            for (name, doc) in &bundle.prompts {
                assert!(PromptTemplate::from_json(doc).is_ok(), "{name}");
            }
            // Round trip through the YAML file format.
            assert_eq!(parse(&to_yaml(&bundle)).unwrap(), bundle);
        }
    }

    #[test]
    fn the_invoice_reminder_needs_four_eyes_and_the_triage_does_not() {
        let invoice = GALLERY[2].bundle();
        assert!(WorkflowContract::parse(&invoice.workflow, &invoice.catalog())
            .unwrap()
            .requires_four_eyes(&invoice.catalog()));
        assert!(GALLERY[2].needs_second_approver());
        let triage = GALLERY[1].bundle();
        assert!(!WorkflowContract::parse(&triage.workflow, &triage.catalog())
            .unwrap()
            .requires_four_eyes(&triage.catalog()));
        assert!(!GALLERY[1].needs_second_approver());
    }
}
