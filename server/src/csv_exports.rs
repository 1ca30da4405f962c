//! CSV downloads, behind the same role checks as their pages:
//! `GET /t/<slug>/changes.csv`, the change log with the page's filters, and
//! `GET /t/<slug>/costs.csv`, the Costs page's table for a period.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use engine::Page;
use store::{
    audit::{changes, to_csv, ChangeFilter},
    auth::{authorize, AuthError, CurrentMember, SESSION_COOKIE},
    db::tenant_txn,
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

/// The signed-in member who may download from `page`, or the refusal to send.
pub async fn member_for_download(
    req: &HttpRequest,
    state: &AppState,
    slug: &str,
    page: Page,
) -> Result<CurrentMember, HttpResponse> {
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    match authorize(&state.db, &state.settings, token.as_deref(), slug, page).await {
        Ok(m) => Ok(m),
        Err(e) if e.needs_sign_in() => {
            Err(HttpResponse::Unauthorized().json(serde_json::json!({ "error": "sign in to continue" })))
        }
        Err(AuthError::OtherBusiness | AuthError::Forbidden) => {
            Err(HttpResponse::Forbidden().json(serde_json::json!({ "error": "your role does not allow this" })))
        }
        Err(e) => {
            tracing::error!(error = %e, "export: access check failed");
            Err(HttpResponse::ServiceUnavailable().finish())
        }
    }
}

pub async fn changes_csv(
    req: HttpRequest,
    slug: web::Path<String>,
    query: web::Query<CsvQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let member = match member_for_download(&req, &state, &slug, Page::ChangeLog).await {
        Ok(m) => m,
        Err(refusal) => return refusal,
    };
    let filter = ChangeFilter {
        area: Some(query.area.clone()),
        actor: Some(query.actor.clone()),
        text: Some(query.text.clone()),
    };
    let result = async {
        let txn = tenant_txn(&state.db, &member.schema_name).await?;
        let rows = changes(&txn, &filter, 100_000).await?;
        txn.commit().await?;
        Ok::<_, sea_orm::DbErr>(rows)
    }
    .await;
    match result.map(|rows| to_csv(&rows)) {
        Ok(Ok(csv)) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"steward-changes-{}.csv\"", member.tenant_slug),
            ))
            .body(csv),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "change log export: writing CSV failed");
            HttpResponse::InternalServerError().finish()
        }
        Err(e) => {
            tracing::error!(error = %e, "change log export: reading failed");
            HttpResponse::InternalServerError().finish()
        }
    }
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
) -> HttpResponse {
    let member = match member_for_download(&req, &state, &slug, Page::Costs).await {
        Ok(m) => m,
        Err(refusal) => return refusal,
    };
    let today = match store::costs::today(&state.db, &member.schema_name).await {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "cost export: reading the date failed");
            return HttpResponse::InternalServerError().finish();
        }
    };
    let (from, to) = match engine::cost::period(&query.from, &query.to, today) {
        Ok(p) => p,
        Err(errors) => {
            let first = &errors[0];
            return HttpResponse::UnprocessableEntity()
                .json(serde_json::json!({ "error": first.message, "field": first.field }));
        }
    };
    match store::costs::report(&state.db, &member.schema_name, from, to).await.map(|r| store::costs::to_csv(&r)) {
        Ok(Ok(csv)) => HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"steward-costs-{}-{from}-{to}.csv\"", member.tenant_slug),
            ))
            .body(csv),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "cost export: writing CSV failed");
            HttpResponse::InternalServerError().finish()
        }
        Err(e) => {
            tracing::error!(error = %e, "cost export: reading failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}
