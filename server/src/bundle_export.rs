//! `GET /t/<slug>/workflows/<name>/bundle.yaml`: a workflow with its prompts
//! and data contracts as one YAML file, for keeping automations in git.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use engine::Page;
use store::{
    auth::{authorize, AuthError, SESSION_COOKIE},
    bundles::{export, to_yaml, BundleError},
    state::AppState,
};

pub async fn bundle_yaml(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let (slug, name) = path.into_inner();
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let member = match authorize(&state.db, &state.settings, token.as_deref(), &slug, Page::Workflows).await {
        Ok(m) => m,
        Err(e) if e.needs_sign_in() => {
            return HttpResponse::Unauthorized().json(serde_json::json!({ "error": "sign in to continue" }))
        }
        Err(AuthError::OtherBusiness | AuthError::Forbidden) => {
            return HttpResponse::Forbidden().json(serde_json::json!({ "error": "your role does not allow this" }))
        }
        Err(e) => {
            tracing::error!(error = %e, "bundle export: access check failed");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    match export(&state.db, &member, &name).await {
        Ok(bundle) => HttpResponse::Ok()
            .content_type("application/yaml; charset=utf-8")
            .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.bundle.yaml\"")))
            .body(to_yaml(&bundle)),
        Err(BundleError::NotFound(n)) => {
            HttpResponse::NotFound().json(serde_json::json!({ "error": format!("there is no workflow named {n}") }))
        }
        Err(e) => {
            tracing::error!(error = %e, "bundle export failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
