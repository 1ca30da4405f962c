//! One run as its page and a review task's page show it: the run, its
//! timeline with masked inputs and outputs, and its review tasks.

use crate::error::AppError;
use crate::ssr::Ctx;
use crate::views::RunDetailView;
use engine::review::TaskStatus;
use engine::{Role, RunStatus};
use store::auth::CurrentMember;

/// Who may send a failed run back to its failed step.
pub const RETRIERS: &[Role] = &[Role::Engineer, Role::Operations, Role::Owner];

/// How long from `from` to `to`; unfinished, what the run is doing.
pub fn duration(
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    status: impl std::fmt::Display,
) -> String {
    match (from, to) {
        (Some(a), Some(b)) => {
            let ms = (b - a).num_milliseconds().max(0);
            if ms < 1000 {
                format!("{ms} ms")
            } else {
                format!("{:.1} s", ms as f64 / 1000.0)
            }
        }
        (Some(_), None) => status.to_string().replace('_', " "),
        _ => "—".into(),
    }
}

pub fn pretty(v: &Option<serde_json::Value>) -> String {
    v.as_ref().map(|v| serde_json::to_string_pretty(v).unwrap_or_default()).unwrap_or_default()
}

/// One run as its page (and a review task's page) shows it.
pub async fn run_detail(cx: &Ctx, me: &CurrentMember, run_id: uuid::Uuid) -> Result<RunDetailView, AppError> {
    use actix_web::http::StatusCode;
    let d = store::runs::detail(&cx.state.db, &me.tenant, run_id)
        .await
        .map_err(|e| cx.internal("reading the run", e))?
        .ok_or_else(|| cx.refused(StatusCode::NOT_FOUND, "There is no such run."))?;
    // Sensitive fields in clear only for the people who decide (owners, reviewers).
    let hidden: &[String] = if engine::access::sees_sensitive_values(me.role) { &[] } else { &d.sensitive_keys };
    let source = d.run.event_raw.clone().unwrap_or_default();
    let currency = store::currency::currency(&cx.state.db, &me.tenant)
        .await
        .map_err(|e| cx.internal("reading the currency", e))?;
    let masked = |v: &Option<serde_json::Value>| pretty(&v.as_ref().map(|v| engine::run::mask_in(v, hidden, &source)));
    let readable = |v: &serde_json::Value, labels| engine::readable::fields(v, labels);
    Ok(RunDetailView {
        id: d.run.id.to_string(),
        workflow: d.run.workflow_name.clone(),
        version: d.run.workflow_version,
        created: crate::ssr::short_time(&d.run.created_at),
        finished: d.run.finished_at.as_ref().map(crate::ssr::short_time),
        duration: duration(Some(d.run.created_at), d.run.finished_at, d.run.status),
        error: d.run.error.clone(),
        tokens_in: d.run.tokens_in,
        tokens_out: d.run.tokens_out,
        cost: currency.precise(d.run.cost_micros),
        executions: d.run.executions,
        pinned: serde_json::to_string_pretty(&d.run.pinned).unwrap_or_default(),
        source_channel: d.run.event_channel.clone(),
        source_event: masked(&d.run.event_raw),
        event_fields: d
            .run
            .event_raw
            .as_ref()
            .map(|v| readable(&engine::run::mask_in(v, hidden, &source), &d.event_labels))
            .unwrap_or_default(),
        can_retry: d.run.status == RunStatus::Failed && RETRIERS.contains(&me.role),
        can_decide: store::reviews::may_decide(me.role),
        reason_codes: store::reviews::reason_codes(&cx.state.db, &me.tenant)
            .await
            .map_err(|e| cx.internal("reading reason codes", e))?,
        status: d.run.status.to_string(),
        steps: d
            .steps
            .iter()
            .map(|s| crate::views::RunStepView {
                index: s.index,
                id: s.step_id.clone(),
                kind: s.kind.to_string(),
                status: s.status.to_string(),
                attempts: s.attempts,
                started: s.started_at.map(|t| t.format("%H:%M:%S").to_string()).unwrap_or_default(),
                duration: duration(s.started_at, s.finished_at, s.status),
                input: masked(&s.input),
                output: masked(&s.output),
                error: s.error.clone(),
                tokens_in: s.tokens_in,
                tokens_out: s.tokens_out,
                cost: currency.precise(s.cost_micros),
                model: s.model.clone(),
                prompt_version: s.prompt_version,
                cache_hit: s.cache_hit,
                detail: serde_json::to_string_pretty(&s.detail).unwrap_or_default(),
                offline: s.detail["offline"] == true,
            })
            .collect(),
        tasks: d
            .tasks
            .iter()
            .map(|t| crate::views::ReviewTaskView {
                id: t.id.to_string(),
                step_index: t.step_index,
                reason: t.reason.to_string(),
                detail: serde_json::to_string_pretty(&t.detail).unwrap_or_default(),
                draft: t
                    .draft
                    .as_ref()
                    .map(|v| serde_json::to_string_pretty(&engine::run::mask(v, hidden)).unwrap_or_default()),
                draft_fields: t
                    .draft
                    .as_ref()
                    .map(|v| readable(&engine::run::mask(v, hidden), &t.draft_labels))
                    .unwrap_or_default(),
                open: t.status == TaskStatus::Open,
                decision: t.decision.map(|d| d.to_string()),
                reason_code: t.reason_code.clone(),
                comment: t.comment.clone(),
                decided_by: t.decided_by.clone(),
                decided_at: t.decided_at.as_ref().map(crate::ssr::short_time),
                created: crate::ssr::short_time(&t.created_at),
                why: engine::review::explain(t.reason, &t.detail),
                claimed_by: t.claimed_by.clone(),
                escalated_at: t.escalated_at.as_ref().map(crate::ssr::short_time),
                slack: t.slack.as_ref().map(store::runs::SlackNote::sentence),
                changes: t
                    .edit_changes
                    .iter()
                    .cloned()
                    .map(|c| {
                        let show = |v: &serde_json::Value| {
                            if v.is_null() {
                                "—".to_string()
                            } else {
                                engine::run::mask(v, hidden).to_string()
                            }
                        };
                        (c.path, show(&c.before), show(&c.after))
                    })
                    .collect(),
            })
            .collect(),
    })
}
