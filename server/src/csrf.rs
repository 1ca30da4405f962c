//! CSRF protection: a state-changing request must come from a page of
//! Steward itself, as its `Origin` (or, failing that, `Referer`) shows.
//! Combined with SameSite=Lax cookies this stops cross-site form posts.

use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{header, Method},
    middleware::Next,
    web, Error, HttpResponse,
};
use store::state::AppState;

pub async fn csrf_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    // Webhooks and Slack's button clicks prove themselves by signature; forms
    // are public by design (embedded on the business's own site). None uses the session.
    let public_door = req.path().starts_with("/hooks/")
        || req.path().starts_with("/forms/")
        || req.path().starts_with("/slack/interactions/");
    // An API call with a bearer token is authenticated by the token alone (the
    // session cookie is then ignored), and a browser cannot add that header to a
    // cross-site request without CORS, which Steward does not allow.
    let bearer = req.path().starts_with("/api/v1/") && req.headers().contains_key(header::AUTHORIZATION);
    let public_door = public_door || bearer;
    if public_door || matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let Some(state) = req.app_data::<web::Data<AppState>>() else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let expected = state.settings.public_origin();
    let header_origin = |name: header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| url::Url::parse(v).ok())
            .map(|u| u.origin().ascii_serialization())
    };
    let origin = header_origin(header::ORIGIN).or_else(|| header_origin(header::REFERER));
    if origin.as_deref() == Some(expected.as_str()) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    tracing::warn!(origin = ?origin, "refused a state-changing request from another origin");
    let response = HttpResponse::Forbidden().json(serde_json::json!({
        "error": "cross_site_request",
        "message": "This request did not come from a Steward page, so it was refused. Reload the page and try again."
    }));
    Ok(req.into_response(response).map_into_right_body())
}
