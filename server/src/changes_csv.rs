//! `GET /t/<slug>/changes.csv`: the change log as a CSV download, with the
//! same filters as the page and the same role check.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use engine::Page;
use store::{
    audit::{changes, to_csv, ChangeFilter},
    auth::{authorize, AuthError, SESSION_COOKIE},
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

pub async fn changes_csv(
    req: HttpRequest,
    slug: web::Path<String>,
    query: web::Query<CsvQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let token = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
    let member = match authorize(&state.db, &state.settings, token.as_deref(), &slug, Page::ChangeLog).await {
        Ok(m) => m,
        Err(e) if e.needs_sign_in() => return HttpResponse::Unauthorized().json(serde_json::json!({ "error": "sign in to continue" })),
        Err(AuthError::OtherBusiness | AuthError::Forbidden) => {
            return HttpResponse::Forbidden().json(serde_json::json!({ "error": "your role does not allow this" }))
        }
        Err(e) => {
            tracing::error!(error = %e, "change log export: access check failed");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    let filter = ChangeFilter { area: Some(query.area.clone()), actor: Some(query.actor.clone()), text: Some(query.text.clone()) };
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
            .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"steward-changes-{}.csv\"", member.tenant_slug)))
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
