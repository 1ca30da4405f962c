//! Security headers on every answer (pages, JSON, hooks, downloads, static
//! files, refusals): `X-Content-Type-Options: nosniff`, a `Referrer-Policy`
//! (pages that carry a token in their address set a stricter one), no
//! framing (`X-Frame-Options: DENY` and CSP `frame-ancestors 'none'`)
//! except the hosted forms, which businesses embed on their own sites by
//! design, HSTS when Steward is served over https, and `charset=utf-8` on
//! HTML. Pages set their own Content-Security-Policy as they render
//! (`app::ssr::content_security_policy`: scripts by nonce); every other
//! answer gets one that shuts `<base>`, plugins, framing and form posts to
//! other sites.

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderValue},
    middleware::Next,
    web, Error,
};
use store::state::AppState;

/// What every page and answer may do, and may not.
const POLICY: &str = "base-uri 'none'; object-src 'none'; form-action 'self'; frame-ancestors 'none'";
/// The same for the hosted forms, which any site may frame.
const EMBEDDABLE_POLICY: &str = "base-uri 'none'; object-src 'none'; form-action 'self'";

pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let embeddable = req.path().starts_with("/forms/");
    let https = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.settings.is_https());
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    }
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        let policy = if embeddable { EMBEDDABLE_POLICY } else { POLICY };
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(policy));
    }
    if !embeddable {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    if https {
        headers
            .insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    let bare_html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("text/html"));
    if bare_html {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    }
    Ok(res)
}
