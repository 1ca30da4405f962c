//! A notify step: an email to people inside or outside the business,
//! written to the outbox with the step's completion (outside recipients
//! only after a person approved, see `policy`).

use super::{policy, Done, Execution, Failed, Stop};
use crate::context::Context;
use engine::run as logic;
use engine::workflow::Step;
use serde_json::{json, Value};
use store::outbox::OutboxEmail;

pub(super) async fn run(cx: &Context, x: &Execution, step: &Step) -> Result<Done, Stop> {
    let to = recipients(cx, x, step).await?;
    let subject_template = step.subject.clone().unwrap_or_else(|| format!("{}: {}", x.run.workflow_name, step.id));
    let subject = logic::render_text(&subject_template, &x.run.context).map_err(Failed::now)?;
    let text = match &step.template {
        Some(t) => logic::render_text(t, &x.run.context).map_err(Failed::now)?,
        None => {
            let (_, draft) = policy::latest_draft(&x.run.contract, &x.run.context, x.run.contract.steps.len());
            serde_json::to_string_pretty(&draft.unwrap_or(Value::Null)).unwrap_or_default()
        }
    };
    let html = format!(
        "<pre style=\"font-family:system-ui,sans-serif;white-space:pre-wrap\">{}</pre>",
        engine::form::escape(&text)
    );
    let outbox = to
        .iter()
        .map(|r| OutboxEmail {
            to: r.clone(),
            subject: subject.clone(),
            text: text.clone(),
            html: html.clone(),
            ..Default::default()
        })
        .collect();
    let mut done = Done::output(
        json!({ "sent_to": to, "subject": subject }),
        json!({ "to": step.to, "subject": subject_template }),
    );
    done.outbox = outbox;
    // Its emails are written (to the outbox) before the run goes on.
    done.effectful = true;
    Ok(done)
}

/// Recipients of a notify step, rendered; `role:<role>` becomes that role's members.
pub(super) async fn recipients(cx: &Context, x: &Execution, step: &Step) -> Result<Vec<String>, Stop> {
    let mut out = Vec::new();
    for to in &step.to {
        let to = logic::render_text(to, &x.run.context).map_err(Failed::now)?;
        match to.strip_prefix("role:") {
            Some(role) => out.extend(cx.members_with_role(&x.tenant, role).await?),
            None => out.push(to.trim().to_owned()),
        }
    }
    Ok(out)
}

/// The step's recipients outside the business (templated ones as rendered).
pub(super) async fn external_recipients(cx: &Context, x: &Execution, step: &Step) -> anyhow::Result<Vec<String>> {
    let catalog = store::workflows::catalog_of(&cx.db, &x.tenant).await?;
    let rendered = match recipients(cx, x, step).await {
        Ok(rendered) => rendered,
        Err(Stop::Storage(e)) => return Err(e.into()),
        // A recipient that does not render is the step's own failure, met when it runs.
        Err(Stop::Failed(_)) => step.to.clone(),
    };
    Ok(rendered.into_iter().filter(|r| engine::workflow::is_external(r, &catalog)).collect())
}
