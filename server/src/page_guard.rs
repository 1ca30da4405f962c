//! Page access on the server. Every workspace page (`/t/<slug>/...`) is
//! checked before it renders: no session → sign in; another business or a
//! role that may not open the page → 403 (the page itself explains).

use actix_web::{
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::{header, Method, StatusCode},
    middleware::Next,
    web, Error, HttpResponse,
};
use engine::Page;
use store::{
    auth::{authorize, AuthError, SESSION_COOKIE},
    state::AppState,
};

/// The business and page a path names, for workspace pages only.
pub fn workspace_page(path: &str) -> Option<(&str, Option<Page>)> {
    let rest = path.strip_prefix("/t/")?.trim_end_matches('/');
    let mut parts = rest.splitn(2, '/');
    let slug = parts.next().filter(|s| !s.is_empty())?;
    match parts.next() {
        None => Some((slug, Some(Page::Dashboard))),
        Some("login") => None,
        // Sub-pages (`workflows/<name>`) follow their section's roles.
        Some(section) => Some((slug, Page::from_path_segment(section.split('/').next().unwrap_or(section)))),
    }
}

pub async fn page_guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let target = (req.method() == Method::GET).then(|| workspace_page(req.path())).flatten();
    let (Some((slug, page)), Some(state)) = (target, req.app_data::<web::Data<AppState>>().cloned()) else {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    };
    let slug = slug.to_owned();
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    // An unknown section still needs a member of this business to see the 404.
    let page = page.unwrap_or(Page::Dashboard);
    let verdict = authorize(&state.db, &state.settings, token.as_deref(), &slug, page).await;
    let status = match verdict {
        Ok(_) => None,
        Err(e) if e.needs_sign_in() => {
            let response =
                HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/t/{slug}/login"))).finish();
            return Ok(req.into_response(response).map_into_right_body());
        }
        Err(AuthError::OtherBusiness | AuthError::Forbidden) => Some(StatusCode::FORBIDDEN),
        Err(e) => {
            tracing::error!(error = %e, "page access check failed");
            Some(StatusCode::SERVICE_UNAVAILABLE)
        }
    };
    let mut res = next.call(req).await?;
    if let Some(status) = status {
        *res.response_mut().status_mut() = status;
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_workspace_pages() {
        assert_eq!(workspace_page("/t/acme"), Some(("acme", Some(Page::Dashboard))));
        assert_eq!(workspace_page("/t/acme/settings"), Some(("acme", Some(Page::Settings))));
        assert_eq!(workspace_page("/t/acme/nope"), Some(("acme", None)));
        assert_eq!(workspace_page("/t/acme/workflows/lead-intake"), Some(("acme", Some(Page::Workflows))));
        assert_eq!(workspace_page("/t/acme/login"), None);
        assert_eq!(workspace_page("/signup"), None);
    }
}
