//! `POST /slack/interactions/{business}`: Slack's Interactivity Request URL
//! for the business's Slack app. A click on Approve or Reject in a task's
//! message is checked with the business's signing secret, mapped to the
//! member linked to the Slack user, and decided with the review queue's
//! rules (role, claims, a reason to reject, one decision). Slack gets its
//! 200 at once; the message is then updated with the outcome, and a click
//! that decided nothing is answered in the message's thread.

use crate::api_error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse};
use engine::slack_message::{read_interaction, Click, Interaction};
use sea_orm::prelude::Uuid;
use store::reviews::{self, Actor, ReviewError};
use store::state::AppState;
use store::Tenant;

/// What a click came to.
enum Answer {
    /// Decided: the message shows the outcome.
    Decided(Uuid),
    /// Nothing decided; this sentence goes in the message's thread.
    Reply(String),
    /// Nothing to do (a reason chosen in the list).
    Nothing,
}

#[utoipa::path(
    post,
    path = "/slack/interactions/{business}",
    tag = "review",
    description = "Slack's Interactivity Request URL for the business's Slack app: the Approve and Reject buttons of review tasks \
                   posted to Slack. The body is Slack's `payload=<JSON>` form, signed with the app's signing secret \
                   (`X-Slack-Signature: v0=<hex HMAC-SHA256 of v0:{timestamp}:{body}>`, `X-Slack-Request-Timestamp` within five minutes).",
    params(("business" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "payload=<the block_actions interaction as JSON>"),
    responses((status = 200, description = "Taken; the message is updated, or the click answered in its thread"), ApiError)
)]
pub async fn interaction(
    req: HttpRequest,
    business: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let slug = business.into_inner();
    let Some(tenant) = store::slack::business(&state.db, &slug).await? else {
        return Err(ApiError::NotFound("there is no such business".into()));
    };
    let Some(secret) = store::slack::signing_secret(&state.db, &state.settings, &tenant).await? else {
        return Err(ApiError::NotFound("this business has not connected Slack (Settings → Slack)".into()));
    };
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    store::slack::verify(&secret, header("x-slack-request-timestamp"), header("x-slack-signature"), &body, now)
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    let payload = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == "payload")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| ApiError::bad_request("payload", "the body has no payload field"))?;
    let payload: serde_json::Value = serde_json::from_str(&payload)
        .map_err(|e| ApiError::bad_request("payload", format!("the payload is not JSON: {e}")))?;
    let interaction = read_interaction(&payload).map_err(|m| ApiError::bad_request("payload", m))?;
    match decide(&state, &tenant, &slug, &interaction).await? {
        Answer::Decided(task_id) => show_outcome(&state, tenant, task_id),
        Answer::Reply(text) => {
            if let (Some(channel), Some(ts)) = (interaction.channel, interaction.message_ts) {
                let state = state.clone();
                tokio::spawn(async move {
                    store::slack_messages::reply_in_thread(
                        &state.db,
                        &state.settings,
                        &state.http,
                        &tenant,
                        &channel,
                        &ts,
                        &text,
                    )
                    .await;
                });
            }
        }
        Answer::Nothing => {}
    }
    Ok(HttpResponse::Ok().finish())
}

/// Updates the message with the outcome, after Slack has its answer; what
/// fails here the sweeper shows later.
fn show_outcome(state: &web::Data<AppState>, tenant: Tenant, task_id: Uuid) {
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = store::slack_messages::deliver(&state.db, &state.settings, &state.http, &tenant, task_id).await
        {
            tracing::warn!(error = %e, %task_id, "could not show a decision in Slack; the sweeper will");
        }
    });
}

async fn decide(state: &AppState, tenant: &Tenant, slug: &str, interaction: &Interaction) -> Result<Answer, ApiError> {
    let who = format!("<@{}>", interaction.user_id);
    let (task, decision, reason_code) = match &interaction.click {
        Click::ChoseReason => return Ok(Answer::Nothing),
        Click::Approve { task_id } => (task_id, "approve", String::new()),
        Click::Reject { task_id, reason_code: Some(code) } => (task_id, "reject", code.clone()),
        Click::Reject { reason_code: None, .. } => {
            return Ok(Answer::Reply(format!(
                "{who}: choose a reason in the list first, then press Reject. Nothing was decided."
            )))
        }
    };
    let Ok(task_id) = Uuid::parse_str(task) else {
        return Ok(Answer::Reply(format!("{who}: this button does not name a Steward review task.")));
    };
    let Some(member) = store::slack::member_for(&state.db, tenant, slug, &interaction.user_id).await? else {
        return Ok(Answer::Reply(format!(
            "{who}: your Slack user is not linked to a member of this business in Steward (an owner links it in Settings → Slack). Nothing was decided."
        )));
    };
    if !reviews::may_decide(member.role) {
        return Ok(Answer::Reply(format!(
            "{who}: as {} you may not decide review tasks; reviewers, operations and owners do. Nothing was decided.",
            member.role.label()
        )));
    }
    let actor = Actor::member(&member);
    match reviews::decide_as(&state.db, tenant, &actor, task_id, decision, "", &reason_code, "Decided in Slack").await {
        Ok(wake) => {
            if let Some(job) = wake {
                state.wake(job);
            }
            Ok(Answer::Decided(task_id))
        }
        Err(ReviewError::AlreadyDecided { by, decision, at }) => Ok(Answer::Reply(format!(
            "{who}: {by} already decided this task ({}) at {} UTC. Nothing was changed.",
            decision.as_str().replace('_', " "),
            at.format("%Y-%m-%d %H:%M")
        ))),
        Err(ReviewError::NotFound) => {
            Ok(Answer::Reply(format!("{who}: this task is not in this business's review queue.")))
        }
        Err(ReviewError::Invalid(errors)) => Ok(Answer::Reply(format!(
            "{who}: {} Nothing was decided.",
            errors.iter().map(|e| e.message.as_str()).collect::<Vec<_>>().join(" ")
        ))),
        Err(e @ (ReviewError::Claimed { .. } | ReviewError::Refused(_))) => {
            Ok(Answer::Reply(format!("{who}: {e} Nothing was decided.")))
        }
        Err(ReviewError::Storage(e)) => Err(e.into()),
    }
}
