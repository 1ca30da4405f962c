//! A span per request with a fresh request id, and one log line when it ends.
//! Paths are logged with secrets (invitation and approval tokens) cut out.

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    Error,
};
use tracing::Instrument;

pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!("request", request_id = %request_id, method = %req.method(), path = %redact_path(req.path()));
    let started = std::time::Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    span.in_scope(|| match &result {
        Ok(res) => tracing::info!(
            status = res.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request finished"
        ),
        Err(e) => tracing::warn!(error = %e, elapsed_ms = started.elapsed().as_millis() as u64, "request failed"),
    });
    result.map(|mut res| {
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
        }
        res
    })
}

/// `/invite/<token>` → `/invite/[redacted]`: links that act as credentials never reach the logs.
pub fn redact_path(path: &str) -> String {
    const SECRET_SEGMENTS_AFTER: &[&str] = &["invite", "approve"];
    let mut out = Vec::new();
    let mut redact_next = false;
    for seg in path.split('/') {
        if redact_next && !seg.is_empty() {
            out.push("[redacted]");
            redact_next = false;
            continue;
        }
        redact_next = SECRET_SEGMENTS_AFTER.contains(&seg);
        out.push(seg);
    }
    out.join("/")
}

#[cfg(test)]
mod tests {
    #[test]
    fn invitation_tokens_are_cut_from_logged_paths() {
        assert_eq!(super::redact_path("/invite/abc.def"), "/invite/[redacted]");
        assert_eq!(super::redact_path("/t/acme/settings"), "/t/acme/settings");
    }
}
