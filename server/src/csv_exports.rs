//! CSV downloads, behind the same role checks as their pages:
//! `GET /t/<slug>/changes.csv`, the change log with the page's filters, and
//! `GET /t/<slug>/costs.csv`, the Costs page's table for a period.

use crate::api_error::{member, ApiError, FieldProblem};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use engine::Page;
use store::{
    audit::{changes, to_csv, ChangeFilter},
    state::AppState,
};

#[derive(serde::Deserialize)]
pub struct CsvQuery {
    #[serde(default)]
    area: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    text: String,
}

/// A CSV file to download.
fn csv_file(name: &str, csv: Result<String, impl std::fmt::Display>) -> Result<HttpResponse, ApiError> {
    let csv = csv.map_err(|e| ApiError::Storage(format!("writing {name}: {e}")))?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")))
        .body(csv))
}

pub async fn changes_csv(
    req: HttpRequest,
    slug: web::Path<String>,
    query: web::Query<CsvQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let member = member(&req, &state, &slug, Page::ChangeLog).await?;
    let filter = ChangeFilter {
        area: Some(query.area.clone()),
        actor: Some(query.actor.clone()),
        text: Some(query.text.clone()),
    };
    let rows = changes(&state.db, &member.tenant, &filter, 100_000).await?;
    csv_file(&format!("steward-changes-{}.csv", member.tenant_slug), to_csv(&rows))
}

#[derive(serde::Deserialize)]
pub struct PeriodQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

pub async fn costs_csv(
    req: HttpRequest,
    slug: web::Path<String>,
    query: web::Query<PeriodQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let member = member(&req, &state, &slug, Page::Costs).await?;
    let today = store::local_time::today(&state.db, &member.tenant).await?;
    let (from, to) = engine::cost::period(&query.from, &query.to, today).map_err(|errors| {
        ApiError::Invalid(
            errors
                .into_iter()
                .map(|e| FieldProblem { field: e.field, rule: "range".into(), message: e.message })
                .collect(),
        )
    })?;
    let report = store::costs::report(&state.db, &member.tenant, from, to).await?;
    csv_file(&format!("steward-costs-{}-{from}-{to}.csv", member.tenant_slug), store::costs::to_csv(&report))
}
