//! `/approve/<token>`: the page an emailed review link opens. A GET only
//! shows the draft and the decision buttons (mail scanners and link
//! previewers fetch links), a POST from that page decides, once. Used,
//! expired, tampered and foreign links get a page that says which.

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use engine::form::escape;
use serde::Deserialize;
use store::approval_links::{self, LinkState, LinkTask};
use store::auth::{resolve_session, SESSION_COOKIE};
use store::reviews::{self, ReviewError};
use store::state::AppState;

/// `same-origin`: the token in the address never goes to another site, and
/// the decision POST still carries an Origin for the CSRF check (with
/// `no-referrer` browsers send `Origin: null`).
fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").insert_header(("cache-control", "no-store")).insert_header(("referrer-policy", "same-origin")).body(format!(
        "<!DOCTYPE html><html lang=\"en\">{}<body class=\"hosted-form\"><main class=\"centered\"><div class=\"card narrow\" data-testid=\"approval-page\">{body}</div></main></body></html>",
        crate::page_head::head(&format!("{} · Steward", escape(title)), "<meta name=\"robots\" content=\"noindex\">")
    ))
}

/// The email of whoever is signed in in this browser, if anyone.
async fn signed_in(req: &HttpRequest, state: &AppState) -> Option<String> {
    let token = req.cookie(SESSION_COOKIE)?.value().to_owned();
    resolve_session(&state.db, &state.settings, &token).await.ok().map(|m| m.email)
}

/// The page for every state but an open task.
fn closed(state: &LinkState) -> HttpResponse {
    let (status, title, text) = match state {
        LinkState::Decided { by, decision, at } => (
            StatusCode::OK,
            "Already decided",
            format!("{by} already decided this task ({}) on {} UTC. Nothing was changed.", decision.as_str().replace('_', " "), at.format("%Y-%m-%d %H:%M")),
        ),
        LinkState::Used { at } => (StatusCode::GONE, "Link already used", format!("This link was used on {} UTC. Each link works once.", at.format("%Y-%m-%d %H:%M"))),
        LinkState::Expired => (StatusCode::GONE, "Link expired", "This link has expired. Open the task in the review queue instead.".to_string()),
        LinkState::Foreign => (
            StatusCode::FORBIDDEN,
            "Not your link",
            "This link was sent to another reviewer. Sign out, or open the task from your own email or the review queue.".to_string(),
        ),
        LinkState::Invalid | LinkState::Open(_) => (
            StatusCode::NOT_FOUND,
            "Link not valid",
            "This link is not valid: it may have been changed or cut short. Nothing was changed.".to_string(),
        ),
    };
    page(status, title, &format!("<h1 data-testid=\"link-state\">{}</h1><p>{}</p>", escape(title), escape(&text)))
}

fn confirmation(token: &str, task: &LinkTask, preselect: &str, codes: &[String], error: Option<&str>) -> HttpResponse {
    use engine::readable::html_table;
    // Labelled fields first, the JSON one click away.
    let record = |fields: &[engine::readable::Field], raw: Option<&serde_json::Value>, testid: &str| {
        match raw {
        Some(raw) => format!(
            "{}<details class=\"raw\"><summary>Raw JSON</summary><pre class=\"json small\" tabindex=\"0\">{}</pre></details>",
            html_table(fields, testid),
            escape(&serde_json::to_string_pretty(raw).unwrap_or_default())
        ),
        None => format!("<p class=\"muted\" data-testid=\"{testid}\">None: a step failed before one was written.</p>"),
    }
    };
    let draft = record(&task.draft_fields, task.draft.as_ref(), "link-draft");
    let enquiry = if task.event_fields.is_empty() {
        String::new()
    } else {
        format!("<h2>What came in</h2>{}", html_table(&task.event_fields, "link-event"))
    };
    let queue = format!("/t/{}/review/{}", task.slug, task.task_id);
    let why = serde_json::to_string_pretty(&task.detail).unwrap_or_default();
    let reasons: String =
        engine::review::explain(task.reason, &task.detail).iter().map(|r| format!("<li>{}</li>", escape(r))).collect();
    let options: String = codes
        .iter()
        .map(|c| format!("<option value=\"{0}\">{1}</option>", escape(c), escape(&c.replace('_', " "))))
        .collect();
    let error = error
        .map(|e| format!("<p class=\"form-error\" role=\"alert\" data-testid=\"link-error\">{}</p>", escape(e)))
        .unwrap_or_default();
    let primary =
        |d: &str| if d == preselect || (d == "approve" && preselect != "reject") { "button primary" } else { "button" };
    page(
        if error.is_empty() { StatusCode::OK } else { StatusCode::UNPROCESSABLE_ENTITY },
        "Review",
        &format!(
            "<h1>Review: {}</h1><p class=\"muted\">{} · for {}</p><ul class=\"why\" data-testid=\"link-why\">{reasons}</ul>{error}\
             <h2>Draft</h2>{draft}{enquiry}<details><summary>Policy detail</summary><pre class=\"json small\" tabindex=\"0\">{}</pre></details>\
             <form method=\"post\" action=\"/approve/{}\" class=\"stack decision-form\">\
             <div class=\"field\"><label for=\"reason_code\">Reason (needed to reject)</label><select id=\"reason_code\" name=\"reason_code\"><option value=\"\">—</option>{options}</select></div>\
             <div class=\"field\"><label for=\"comment\">Comment</label><input id=\"comment\" name=\"comment\" /></div>\
             <div class=\"actions\"><button class=\"{}\" type=\"submit\" name=\"decision\" value=\"approve\" data-testid=\"link-approve\">Approve</button>\
             <button class=\"{} danger\" type=\"submit\" name=\"decision\" value=\"reject\" data-testid=\"link-reject\">Reject</button></div></form>\
             <p class=\"muted small\">To edit the draft, <a href=\"{}\" data-testid=\"link-queue\">open the task in the review queue</a>.</p>",
            escape(&task.workflow),
            escape(&task.reason.as_str().replace('_', " ")),
            escape(&task.reviewer.email),
            escape(&why),
            escape(token),
            primary("approve"),
            primary("reject"),
            escape(&queue),
        ),
    )
}

#[derive(Deserialize)]
pub struct Preselect {
    #[serde(default)]
    decision: String,
}

/// `GET /approve/{token}`: shows; never changes anything.
pub async fn show(
    req: HttpRequest,
    token: web::Path<String>,
    query: web::Query<Preselect>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let me = signed_in(&req, &state).await;
    match approval_links::open(&state.db, &state.settings, &token, me.as_deref()).await {
        Ok(LinkState::Open(task)) => {
            let codes = reviews::reason_codes(&state.db, &task.reviewer.tenant).await.unwrap_or_default();
            confirmation(&token, &task, &query.decision, &codes, None)
        }
        Ok(other) => closed(&other),
        Err(e) => {
            tracing::error!(error = %e, "reading an approval link failed");
            page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "<h1>Try again shortly</h1><p>Steward could not read this link just now.</p>",
            )
        }
    }
}

#[derive(Deserialize)]
pub struct DecisionForm {
    decision: String,
    #[serde(default)]
    reason_code: String,
    #[serde(default)]
    comment: String,
}

/// `POST /approve/{token}`: decides (the CSRF middleware has checked that
/// the form came from Steward's own page).
pub async fn decide(
    req: HttpRequest,
    token: web::Path<String>,
    form: web::Form<DecisionForm>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let me = signed_in(&req, &state).await;
    let task = match approval_links::open(&state.db, &state.settings, &token, me.as_deref()).await {
        Ok(LinkState::Open(task)) => task,
        Ok(other) => return closed(&other),
        Err(e) => {
            tracing::error!(error = %e, "reading an approval link failed");
            return page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "<h1>Try again shortly</h1>");
        }
    };
    if form.decision != "approve" && form.decision != "reject" {
        let codes = reviews::reason_codes(&state.db, &task.reviewer.tenant).await.unwrap_or_default();
        return confirmation(&token, &task, "", &codes, Some("Choose approve or reject."));
    }
    match approval_links::decide(&state.db, &task, &form.decision, form.reason_code.trim(), &form.comment).await {
        Ok(wake) => {
            if let Some(job) = wake {
                state.wake(job);
            }
            let done = if form.decision == "approve" { "Approved" } else { "Rejected" };
            page(
                StatusCode::OK,
                done,
                &format!(
                    "<h1 data-testid=\"link-state\">{done}</h1><p>Thank you. The {} run continues{}.</p>",
                    escape(&task.workflow),
                    if form.decision == "approve" { "" } else { " as rejected and goes back to a person" }
                ),
            )
        }
        Err(ReviewError::Invalid(errors)) => {
            let codes = reviews::reason_codes(&state.db, &task.reviewer.tenant).await.unwrap_or_default();
            let message = errors.iter().map(|e| e.message.clone()).collect::<Vec<_>>().join(" ");
            confirmation(&token, &task, &form.decision, &codes, Some(&message))
        }
        Err(ReviewError::AlreadyDecided { by, decision, at }) => closed(&LinkState::Decided { by, decision, at }),
        Err(e @ (ReviewError::Claimed { .. } | ReviewError::Refused(_))) => page(
            StatusCode::CONFLICT,
            "Not decided",
            &format!("<h1 data-testid=\"link-state\">Not decided</h1><p>{}</p>", escape(&e.to_string())),
        ),
        Err(e) => {
            tracing::error!(error = %e, "deciding through a link failed");
            page(StatusCode::SERVICE_UNAVAILABLE, "Try again", "<h1>Try again shortly</h1>")
        }
    }
}
