//! The emails around a review task: the reviewers' links when it opens
//! (written with the task, in its transaction), and the owners' escalation
//! when it is past its SLA. Written to the outbox, then handed to the mail queue.

use crate::context::Context;
use engine::form::escape;
use engine::readable::Field;
use engine::review::{fields_text, short_fields};
use sea_orm::prelude::*;
use store::approval_links::{NewLink, LINK_HOURS};
use store::outbox::{self, OutboxEmail};
use store::runs::{NewReviewTask, ReviewLetters};
use store::Tenant;

/// The single-use link and email for every eligible reviewer of a task
/// about to be opened; `runs::wait_for_review` writes them with the task.
/// The email carries the task's `shown_draft` (sensitive fields masked): a
/// mailbox is no place for a customer's contact details, and the link's
/// page shows them to the reviewer who decides.
/// With nobody to decide (no member has the reviewer role, or those named
/// left), the business's owners and the workflow's owner are asked: a
/// one-person business is told what waits for it.
pub async fn letters(
    cx: &Context,
    tenant: &Tenant,
    task: &NewReviewTask,
    reviewers: &[String],
    shown: &Shown,
) -> anyhow::Result<ReviewLetters> {
    let task_id = Uuid::new_v4();
    let slug = store::tenants::slug_of(&cx.db, tenant).await?;
    let mut emails = Vec::new();
    for r in reviewers {
        match r.strip_prefix("role:") {
            Some(role) => emails.extend(cx.members_with_role(tenant, role.trim()).await?),
            // Only a member who may decide gets a link (the contract names members; one may have left since).
            None => match store::auth::member_by_email(&cx.db, &slug, r).await {
                Ok(member) if store::reviews::may_decide(member.role) => emails.push(member.email),
                _ => {
                    tracing::warn!(reviewer = %r, "a reviewer named by the workflow is not a member who may decide; no email")
                }
            },
        }
    }
    emails.sort();
    emails.dedup();
    if emails.is_empty() {
        emails = store::members::fallback_deciders(&cx.db, tenant, &task.workflow_name).await?;
    }
    let public = cx.public_url().to_owned();
    let draft = short_fields(shown.draft.clone());
    let event = short_fields(shown.event.clone());
    let no_draft = "(no draft: the run stopped on an error or before a message)";
    let (draft_text, draft_html) = if draft.is_empty() {
        (no_draft.to_string(), format!("<p>{}</p>", escape(no_draft)))
    } else {
        (fields_text(&draft), table(&draft))
    };
    // In words: "Confidence 0.62 is below 0.78", not "low_confidence".
    let reasons = engine::review::explain(task.reason, &task.detail);
    let why = reasons
        .first()
        .map(|r| r.trim_end_matches('.').to_owned())
        .unwrap_or_else(|| task.reason.as_str().replace('_', " "));
    let what = shown.title.clone().unwrap_or_else(|| format!("A {} run", task.workflow_name));
    let mut letters = ReviewLetters { task_id, ..Default::default() };
    for email in emails {
        let link = NewLink::new(&cx.settings, &slug, task_id, &email);
        let url = format!("{public}/approve/{}", link.token);
        let queue = format!("{public}/t/{slug}/review/{task_id}");
        let enquiry_text =
            if event.is_empty() { String::new() } else { format!("\n\nWhat came in:\n{}", fields_text(&event)) };
        let text = format!(
            "{what} needs your decision ({workflow}).\n\nWhy: {reasons}\n\nDraft:\n{draft_text}{enquiry_text}\n\nReview and decide: {url}\n(Opening the link changes nothing; you decide on the page. It works once and expires in {hours} hours.)\n\nOr open it in the review queue: {queue}\n",
            workflow = task.workflow_name,
            reasons = reasons.join(" "),
            hours = LINK_HOURS
        );
        let enquiry_html =
            if event.is_empty() { String::new() } else { format!("<h3>What came in</h3>{}", table(&event)) };
        let html = format!(
            "<p><strong>{}</strong> needs your decision ({}).</p><p>{}</p><h3>Draft</h3>{draft_html}{enquiry_html}\
             <p><a href=\"{url}\" style=\"display:inline-block;padding:10px 16px;background:#2457d6;color:#fff;border-radius:8px;text-decoration:none\">Review and decide</a></p>\
             <p style=\"color:#616e7c;font-size:13px\">Opening the link changes nothing; you decide on the page. It works once and expires in {} hours. Or open the task in the <a href=\"{queue}\">review queue</a>.</p>",
            escape(&what),
            escape(&task.workflow_name),
            escape(&reasons.join(" ")),
            LINK_HOURS
        );
        letters.mails.push(OutboxEmail {
            to: email,
            subject: format!("Decision needed: {what} ({why})"),
            text,
            html,
            ..Default::default()
        });
        letters.links.push(link);
    }
    Ok(letters)
}

/// Labelled fields as an email's table (mail clients need the styles inline).
fn table(fields: &[Field]) -> String {
    let rows: String = fields
        .iter()
        .map(|(label, value)| {
            format!(
                "<tr><th scope=\"row\" style=\"text-align:left;vertical-align:top;font-weight:normal;color:#52606d;padding:4px 12px 4px 0\">{}</th>\
                 <td style=\"padding:4px 0;white-space:pre-wrap\">{}</td></tr>",
                escape(label),
                escape(value)
            )
        })
        .collect();
    format!("<table style=\"border-collapse:collapse;font-family:system-ui,sans-serif;font-size:14px\">{rows}</table>")
}

/// What a task's emails show: the record's name, the draft and the enquiry
/// as labelled fields, all masked like the draft.
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub title: Option<String>,
    pub draft: Vec<Field>,
    pub event: Vec<Field>,
}

/// Tells a workflow's owners that a task is past its SLA.
pub async fn escalation(cx: &Context, tenant: &Tenant, overdue: &store::reviews::Overdue) -> anyhow::Result<()> {
    let slug = store::tenants::slug_of(&cx.db, tenant).await?;
    let public = cx.public_url().to_owned();
    let link = format!("{public}/t/{slug}/review/{}", overdue.task_id);
    let subject = format!("Escalated: a {} review is past its SLA", overdue.workflow);
    let text = format!(
        "A {} task ({}) has waited {:.0} minutes, past its review SLA. It is marked escalated in the queue.\n\nOpen it: {link}\n",
        overdue.workflow,
        overdue.reason.as_str().replace('_', " "),
        overdue.age_minutes
    );
    let html = format!(
        "<p>{}</p><p><a href=\"{link}\">Open the task</a></p>",
        escape(text.lines().next().unwrap_or_default())
    );
    let mails: Vec<OutboxEmail> = overdue
        .notify
        .iter()
        .map(|to| OutboxEmail {
            to: to.clone(),
            subject: subject.clone(),
            text: text.clone(),
            html: html.clone(),
            ..Default::default()
        })
        .collect();
    let ids = outbox::add(&cx.db, tenant, Some(overdue.run_id), &mails).await?;
    cx.hand_over(tenant, &mails, &ids).await;
    Ok(())
}
