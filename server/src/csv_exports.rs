//! Downloads, behind the same role checks as their pages:
//! `GET /t/<slug>/changes.csv` and `GET /t/<slug>/audit.jsonl`, the audit log
//! with the page's filters (the JSON lines carry each event's chain fields
//! and canonical text, for verifying offline), and `GET /t/<slug>/costs.csv`,
//! the Costs page's table for a period. Every export is itself audited.

use crate::api_error::{member, ApiError, FieldProblem};
use actix_web::{http::header, web, HttpRequest, HttpResponse};
use engine::Page;
use store::{
    audit::{changes, export_lines, parse_day, to_csv, to_json_lines, ChangeFilter},
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
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
}

impl CsvQuery {
    fn filter(&self) -> Result<ChangeFilter, ApiError> {
        let (since, until) = match (parse_day("since", &self.since), parse_day("until", &self.until)) {
            (Ok(s), Ok(u)) => (s, u),
            (s, u) => {
                return Err(ApiError::Invalid(
                    [s.err(), u.err()]
                        .into_iter()
                        .flatten()
                        .map(|e| FieldProblem { field: e.field, rule: "date".into(), message: e.message })
                        .collect(),
                ))
            }
        };
        Ok(ChangeFilter {
            area: Some(self.area.clone()),
            actor: Some(self.actor.clone()),
            text: Some(self.text.clone()),
            since,
            until,
        })
    }
}

/// Records that a member downloads the audit log, with the filter they used
/// (before reading it, so the download holds its own record).
async fn audit_export(
    state: &AppState,
    member: &store::auth::CurrentMember,
    format: &str,
    query: &CsvQuery,
) -> Result<(), ApiError> {
    let txn = member.tenant.begin(&state.db).await?;
    store::audit::record_change(
        &txn,
        Some(member),
        "business",
        "audit.exported",
        format,
        "",
        serde_json::json!({ "area": query.area, "who": query.actor, "contains": query.text, "since": query.since, "until": query.until }),
    )
    .await?;
    txn.commit().await?;
    Ok(())
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
    let filter = query.filter()?;
    audit_export(&state, &member, "csv", &query).await?;
    let rows = changes(&state.db, &member.tenant, &filter, 100_000).await?;
    csv_file(&format!("steward-audit-{}.csv", member.tenant_slug), to_csv(&rows))
}

pub async fn audit_jsonl(
    req: HttpRequest,
    slug: web::Path<String>,
    query: web::Query<CsvQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let member = member(&req, &state, &slug, Page::ChangeLog).await?;
    let filter = query.filter()?;
    audit_export(&state, &member, "json lines", &query).await?;
    let lines = export_lines(&state.db, &member.tenant, &filter).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/jsonl; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"steward-audit-{}.jsonl\"", member.tenant_slug),
        ))
        .body(to_json_lines(&lines)))
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

/// `GET /t/<slug>/export.jsonl`: everything the business owns (owner only).
pub async fn business_jsonl(
    req: HttpRequest,
    slug: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let member = member(&req, &state, &slug, Page::Settings).await?;
    let body = store::business_export::export(&state.db, &member).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/jsonl; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"steward-{}-everything.jsonl\"", member.tenant_slug),
        ))
        .body(body))
}
