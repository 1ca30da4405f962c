//! Public forms: every published workflow whose trigger source is a form
//! gets a hosted page at `/forms/<business>/<workflow>` and accepts posts
//! there (also from the snippet embedded on the business's own site). The
//! fields come from the workflow's data contract; a broken record is shown
//! again with the reason next to each field. Spam meets a honeypot field
//! and a per-address rate limit.

use crate::api_error::ApiError;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use engine::data_contract::{DataContract, FieldType};
use redis::AsyncCommands;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use store::ingest::{self, Accepted, Channel, Incoming, IngestError, Target};
use store::state::AppState;

/// Posts per address per workflow per minute.
pub const RATE_PER_MINUTE: i64 = 10;

use engine::form::{escape, inputs_html, FormWords, HONEYPOT};

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\">{}<body class=\"hosted-form\"><main class=\"centered\"><div class=\"card narrow\">{body}</div></main></body></html>",
        crate::page_head::head(&escape(title), "")
    )
}

/// The business's name and the owner's words for the form (the defaults if
/// they cannot be read: a customer still gets a working form).
async fn form_words(state: &AppState, target: &Target) -> (String, FormWords) {
    match store::hosted_forms::words(&state.db, &target.tenant, &target.workflow_name).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "reading the hosted form's words; showing the defaults");
            (String::new(), FormWords::default())
        }
    }
}

fn business_line(business: &str) -> String {
    if business.is_empty() {
        String::new()
    } else {
        format!("<p class=\"form-business\" data-testid=\"form-business\">{}</p>", escape(business))
    }
}

fn page_title(words_heading: &str, business: &str) -> String {
    if business.is_empty() {
        words_heading.to_string()
    } else {
        format!("{words_heading} · {business}")
    }
}

fn form_page(
    contract: &DataContract,
    (business, words): &(String, FormWords),
    values: &BTreeMap<String, String>,
    errors: &BTreeMap<String, String>,
    banner: &str,
) -> String {
    let submission = uuid::Uuid::new_v4();
    page(
        &page_title(words.heading(), business),
        &format!(
            "{}<h1>{}</h1><p class=\"form-intro\" data-testid=\"form-intro\">{}</p>{banner}<form method=\"post\" class=\"stack\" novalidate>\
             <input type=\"hidden\" name=\"submission_id\" value=\"{submission}\" />{}<button class=\"button primary\" type=\"submit\">Send</button></form>",
            business_line(business),
            escape(words.heading()),
            escape(words.intro()),
            inputs_html(contract, words, values, errors)
        ),
    )
}

async fn form_target(state: &AppState, slug: &str, workflow: &str) -> Result<(Arc<Target>, DataContract), ApiError> {
    crate::ingest::no_nul_in_path("business", slug)?;
    crate::ingest::no_nul_in_path("workflow", workflow)?;
    let target = state.targets.get(&state.db, &state.settings, slug, workflow).await?;
    if !target.contract.trigger.is_form() {
        return Err(ApiError::NotFound(format!("{workflow} is not triggered by a form")));
    }
    let contract = target
        .data_contract
        .clone()
        .ok_or_else(|| ApiError::NotFound(format!("{workflow} has no data contract to build a form from")))?;
    Ok((target, contract))
}

fn html_error(e: &ApiError) -> HttpResponse {
    HttpResponse::build(e.status_code())
        .content_type("text/html; charset=utf-8")
        .body(page("Form", &format!("<h1>Sorry</h1><p>{}</p>", escape(&e.body().message))))
}

/// `GET /forms/{business}/{workflow}`: the hosted form.
pub async fn show(path: web::Path<(String, String)>, state: web::Data<AppState>) -> HttpResponse {
    let (slug, workflow) = path.into_inner();
    match form_target(&state, &slug, &workflow).await {
        Ok((target, contract)) => {
            let words = form_words(&state, &target).await;
            HttpResponse::Ok().content_type("text/html; charset=utf-8").body(form_page(
                &contract,
                &words,
                &BTreeMap::new(),
                &BTreeMap::new(),
                "",
            ))
        }
        Err(e) => html_error(&e),
    }
}

/// Form fields → the record: dotted names nest, numbers become numbers.
fn record_from(fields: &BTreeMap<String, String>, contract: &DataContract) -> Value {
    let mut record = Value::Object(Map::new());
    for (path, raw) in fields {
        let Some(rule) = contract.fields.get(path) else { continue };
        let text = raw.trim();
        let value = if text.is_empty() {
            Value::Null
        } else {
            match rule.kind {
                FieldType::Number => text.parse::<f64>().map(|n| json!(n)).unwrap_or_else(|_| json!(text)),
                FieldType::Integer => text.parse::<i64>().map(|n| json!(n)).unwrap_or_else(|_| json!(text)),
                FieldType::Boolean => json!(matches!(text, "true" | "on" | "yes")),
                _ => json!(text),
            }
        };
        let mut cur = &mut record;
        let parts: Vec<&str> = path.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            let map = cur.as_object_mut().expect("objects all the way down");
            cur = map.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
        }
        if let Some(map) = cur.as_object_mut() {
            map.insert(parts[parts.len() - 1].to_owned(), value);
        }
    }
    record
}

/// `POST /forms/{business}/{workflow}`
pub async fn submit(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, workflow) = path.into_inner();
    let wants_json =
        req.headers().get("accept").and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json"));
    let (target, contract) = match form_target(&state, &slug, &workflow).await {
        Ok(t) => t,
        Err(e) => return if wants_json { e.error_response() } else { html_error(&e) },
    };
    let body = match crate::ingest::read_body(payload, state.settings.max_event_bytes).await {
        Ok(b) => b,
        Err(e) => return if wants_json { e.error_response() } else { html_error(&e) },
    };
    let fields: BTreeMap<String, String> = match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
        Ok(pairs) => pairs.into_iter().collect(),
        Err(e) => {
            let e = ApiError::bad_request("body", format!("the form could not be read: {e}"));
            return if wants_json { e.error_response() } else { html_error(&e) };
        }
    };
    if let Some((name, _)) = fields.iter().find(|(k, v)| k.contains('\0') || v.contains('\0')) {
        let e = crate::ingest::nul_refusal(engine::no_nul::visible(name).into_owned());
        return if wants_json { e.error_response() } else { html_error(&e) };
    }
    let address = crate::client_address(&state, &req);
    let key = format!("{}:formrate:{}:{}:{address}", state.settings.redis_prefix, target.tenant.schema(), workflow);
    let mut redis = state.redis.clone();
    let count: i64 = redis.incr(&key, 1).await.unwrap_or(0);
    if count == 1 {
        let _: Result<(), _> = redis.expire(&key, 60).await;
    }
    if count > RATE_PER_MINUTE {
        let _ = ingest::record_delivery(
            &state.db,
            &target.tenant,
            &workflow,
            Channel::Form,
            "rejected",
            429,
            "rate limited",
            None,
        )
        .await;
        let e =
            ApiError::RateLimited("Too many submissions from your address; wait a minute and send it again.".into());
        return if wants_json { e.error_response() } else { html_error(&e) };
    }
    let words = if wants_json { Default::default() } else { form_words(&state, &target).await };
    let thanks = |run_id: uuid::Uuid| {
        if wants_json {
            HttpResponse::Accepted().json(json!({ "run_id": run_id, "status": "queued" }))
        } else {
            let (business, text) = (&words.0, &words.1);
            HttpResponse::Ok().content_type("text/html; charset=utf-8").body(page(
                &page_title("Thank you", business),
                &format!(
                    "{}<h1>Thank you</h1><p data-testid=\"form-thanks\">{}</p><p class=\"muted small\">Reference {run_id}</p>",
                    business_line(business),
                    escape(text.thank_you())
                ),
            ))
        }
    };
    if fields.get(HONEYPOT).is_some_and(|v| !v.trim().is_empty()) {
        // Looks like success to the bot; stored nowhere but the count.
        let _ = ingest::record_delivery(
            &state.db,
            &target.tenant,
            &workflow,
            Channel::Form,
            "spam",
            200,
            "honeypot field filled",
            None,
        )
        .await;
        return thanks(uuid::Uuid::nil());
    }
    let mut record = record_from(&fields, &contract);
    if let (Some(stamp), Some(map)) = (&contract.last_updated, record.as_object_mut()) {
        map.entry(stamp.field.clone()).or_insert_with(|| json!(chrono::Utc::now().to_rfc3339()));
    }
    let incoming = Incoming {
        channel: Channel::Form,
        event_type: target.contract.trigger.event.clone(),
        idempotency_key: fields.get("submission_id").filter(|s| !s.is_empty()).map(|s| format!("form:{s}")),
        raw: json!(fields.iter().filter(|(k, _)| k.as_str() != HONEYPOT).collect::<BTreeMap<_, _>>()),
        record,
    };
    let mut target = target;
    let mut accepted = ingest::accept(&state.db, &state.settings, &target, &incoming, chrono::Utc::now()).await;
    for _ in 0..2 {
        if !matches!(accepted, Err(IngestError::Stale)) {
            break;
        }
        // The business changed the workflow since the door read it: read it again.
        target = match state.targets.reload(&state.db, &state.settings, &slug, &workflow).await {
            Ok(t) => t,
            Err(e) => {
                let e = ApiError::from(e);
                return if wants_json { e.error_response() } else { html_error(&e) };
            }
        };
        accepted = ingest::accept(&state.db, &state.settings, &target, &incoming, chrono::Utc::now()).await;
    }
    match accepted {
        Ok(Accepted::New { run_id, .. }) => {
            state.wake(ingest::run_job(&target, run_id));
            thanks(run_id)
        }
        Ok(Accepted::Duplicate { run_id }) => thanks(run_id),
        Err(IngestError::Invalid(violations)) if !wants_json => {
            let errors: BTreeMap<String, String> =
                violations.iter().map(|v| (v.field.clone(), v.message.clone())).collect();
            let banner = "<p class=\"form-error\" role=\"alert\">Please correct the fields marked below.</p>";
            HttpResponse::UnprocessableEntity()
                .content_type("text/html; charset=utf-8")
                .body(form_page(&contract, &words, &fields, &errors, banner))
        }
        Err(e) => {
            let e = ApiError::from(e);
            if wants_json {
                e.error_response()
            } else {
                html_error(&e)
            }
        }
    }
}

/// Documentation only: the form post as the OpenAPI document describes it.
#[utoipa::path(
    post,
    path = "/forms/{business}/{workflow}",
    tag = "ingestion",
    params(("business" = String, Path), ("workflow" = String, Path)),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
                 description = "The data contract's fields by dotted name (primaryContact.email=…), plus an optional submission_id that makes a double submit count once"),
    responses(
        (status = 200, description = "HTML thank-you page (or 202 JSON with Accept: application/json); a refused record shows the form again with the reason next to each field (422)"),
        ApiError,
    )
)]
#[allow(dead_code)]
pub(crate) fn submit_doc() {}
