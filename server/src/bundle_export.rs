//! `GET /t/<slug>/workflows/<name>/bundle.yaml` (also under `/api/v1`, for
//! API tokens with the export scope): a workflow with its prompts
//! and data contracts as one YAML file, for keeping automations in git.

use crate::api_error::{api_caller, ApiError};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use engine::token_scope::TokenScope;
use engine::Page;
use store::{
    bundles::{export, to_yaml, BundleError},
    state::AppState,
};

#[utoipa::path(
    get,
    path = "/api/v1/t/{business}/workflows/{workflow}/bundle.yaml",
    tag = "workflows",
    params(("business" = String, Path), ("workflow" = String, Path)),
    responses((status = 200, description = "The workflow, its prompts and data contracts as one YAML file", content_type = "application/yaml", body = String), ApiError),
    security(("session" = []), ("token" = []))
)]
pub async fn bundle_yaml(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (slug, name) = path.into_inner();
    let caller = api_caller(&req, &state, &slug, Page::Workflows, TokenScope::ExportBundles).await?;
    let bundle = export(&state.db, caller.member(), &name).await.map_err(|e| match e {
        BundleError::NotFound(n) => ApiError::NotFound(format!("there is no workflow named {n}")),
        BundleError::Invalid(problems) => {
            ApiError::Storage(format!("the stored workflow {name}: {}", problems.join("; ")))
        }
        BundleError::Storage(e) => e.into(),
    })?;
    Ok(HttpResponse::Ok()
        .content_type("application/yaml; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.bundle.yaml\"")))
        .body(to_yaml(&bundle)))
}
