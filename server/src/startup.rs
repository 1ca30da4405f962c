//! Builds the HTTP server from settings. `main` and the tests use the same
//! builder, so the code under test is the code that ships.

use crate::{csrf::csrf_guard, health, page_guard::page_guard, request_log::request_log};
use actix_web::{
    dev::Server,
    middleware::{from_fn, Compress},
    web, App, HttpServer,
};
use app::{shell, App as StewardApp};
use leptos::prelude::*;
use leptos_actix::{generate_route_list, LeptosRoutes};
use std::net::TcpListener;
use store::{config::Settings, state::AppState};

pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

impl Application {
    /// Binds `settings.bind`. With port 0 (tests) a free port is chosen and
    /// the public URL is pointed at it.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(&settings.bind)?;
        let port = listener.local_addr()?.port();
        if settings.bind.ends_with(":0") {
            settings.public_url.set_port(Some(port)).ok();
        }
        store::measure::name_businesses(settings.metrics.tenant_labels);
        store::measure::recorder();
        let state = AppState::connect(settings).await?;
        let server = run(listener, state.clone())?;
        Ok(Self { port, server, state })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

fn run(listener: TcpListener, state: AppState) -> anyhow::Result<Server> {
    let addr = listener.local_addr()?;
    let metrics_bind = state.settings.metrics.bind.clone();
    let site_root = state.settings.site_root.to_string_lossy().to_string();
    // A bundle prepared by `steward assets` has content-hashed names; Leptos
    // reads them from the manifest (the Rust tests' empty site has none).
    let manifest = app::ssr::assets::manifest_path(&site_root);
    let leptos_options = LeptosOptions::builder()
        .output_name("app")
        .site_root(site_root.as_str())
        .site_pkg_dir("pkg")
        .site_addr(addr)
        .hash_files(manifest.is_file())
        .hash_file(std::sync::Arc::from(manifest.to_string_lossy().as_ref()))
        .build();
    crate::page_head::set_site_root(&site_root);
    let routes = generate_route_list(StewardApp);
    let state = web::Data::new(state);
    let server = HttpServer::new(move || {
        let options = leptos_options.clone();
        App::new()
            .app_data(state.clone())
            .app_data(web::Data::new(leptos_options.clone()))
            // An address whose parts do not parse (a run id that is not a UUID) is a JSON 404,
            // and a query that does not parse a JSON 400, like every other API answer.
            .app_data(web::PathConfig::default().error_handler(|err, _| {
                crate::api_error::ApiError::NotFound(format!("there is no such address: {err}")).into()
            }))
            .app_data(web::QueryConfig::default().error_handler(|err, _| {
                crate::api_error::ApiError::bad_request("query", format!("the query cannot be read: {err}")).into()
            }))
            // Middleware runs bottom-up: security headers around everything, then the request log, CSRF, page access.
            .wrap(from_fn(crate::bad_input::bad_input_status))
            .wrap(from_fn(page_guard))
            .wrap(from_fn(csrf_guard))
            .wrap(from_fn(request_log))
            // HTML and JSON go out compressed; the bundle's files are precompressed (site_files).
            .wrap(Compress::default())
            // Outermost: every answer gets them, refusals and redirects included.
            .wrap(from_fn(crate::security_headers::security_headers))
            .route("/healthz", web::get().to(health::healthz))
            .route("/readyz", web::get().to(health::readyz))
            .route("/metrics", web::get().to(crate::metrics::metrics))
            .route("/api/openapi.json", web::get().to(crate::openapi::openapi_json))
            .route("/hooks/{slug}/{workflow}", web::post().to(crate::ingest::webhook))
            .route("/hooks/{slug}/{workflow}/outcomes", web::post().to(crate::reports::outcome_hook))
            .route("/hooks/{slug}/{workflow}/{secret}", web::post().to(crate::ingest::webhook_at_secret_path))
            .route("/api/v1/t/{slug}/workflows/{workflow}/events", web::post().to(crate::ingest::api_event))
            .route("/api/v1/t/{slug}/runs/{run_id}", web::get().to(crate::ingest::run_status))
            .route("/forms/{slug}/{workflow}", web::get().to(crate::forms::show))
            .route("/forms/{slug}/{workflow}", web::post().to(crate::forms::submit))
            .route("/api/v1/t/{slug}/review-tasks/{task}/decision", web::post().to(crate::review_api::decide))
            .route("/slack/interactions/{slug}", web::post().to(crate::slack_interactions::interaction))
            .route("/approve/{token}", web::get().to(crate::approve::show))
            .route("/approve/{token}", web::post().to(crate::approve::decide))
            .route("/demo/company-lookup", web::get().to(crate::ingest::demo_company_lookup))
            .route("/t/{slug}/changes.csv", web::get().to(crate::csv_exports::changes_csv))
            .route("/t/{slug}/audit.jsonl", web::get().to(crate::csv_exports::audit_jsonl))
            .route("/t/{slug}/export.jsonl", web::get().to(crate::csv_exports::business_jsonl))
            .route("/t/{slug}/costs.csv", web::get().to(crate::csv_exports::costs_csv))
            .route("/t/{slug}/reports/{file}", web::get().to(crate::reports::report_pdf))
            .route("/t/{slug}/workflows/{name}/bundle.yaml", web::get().to(crate::bundle_export::bundle_yaml))
            .route("/api/v1/t/{slug}/workflows/{name}/bundle.yaml", web::get().to(crate::bundle_export::bundle_yaml))
            .route(
                "/api/v1/t/{slug}/workflows/{name}/openapi.json",
                web::get().to(crate::workflow_api::workflow_openapi),
            )
            .route("/pkg/{file:.*}", web::get().to(crate::site_files::serve))
            .leptos_routes(routes.clone(), move || shell(options.clone()))
    })
    .listen(listener)?;
    // `/metrics` also answers on an address of its own, without a token.
    let server = match metrics_bind {
        Some(bind) => server.bind(&bind).map_err(|e| anyhow::anyhow!("STEWARD_METRICS_BIND {bind}: {e}"))?,
        None => server,
    };
    let server = server.shutdown_timeout(10).run();
    Ok(server)
}
