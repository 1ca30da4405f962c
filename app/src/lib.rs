#![recursion_limit = "256"]
//! Steward's browser UI. Pages are components with their server functions
//! beside them; `ssr`-only code (database, secrets) stays behind the `ssr`
//! feature and never reaches the WebAssembly bundle.

pub mod components;
pub mod error;
pub mod pages;
pub mod route;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod views;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path,
};

use pages::{
    changes::ChangeLogPage,
    data_contracts::{DataContractPage, DataContractsPage},
    invitation::AcceptInvitationPage,
    landing::LandingPage,
    login::{BusinessLoginPage, LoginPage},
    models::ModelsPage,
    prompts::{PromptDiffPage, PromptPage, PromptsPage},
    review::{ReviewQueuePage, ReviewTaskPage},
    runs::{ExceptionsPage, RunPage, RunsPage},
    settings::SettingsPage,
    signup::SignupPage,
    workflows::{GalleryPage, WorkflowDiffPage, WorkflowEditorPage, WorkflowsPage},
    workspace::{DashboardPage, EmptyStatePage, WorkspaceLayout},
};

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::content_security_policy();
    // Server-rendered only: the bundle's file names carry content hashes (see `ssr::assets`).
    #[cfg(feature = "ssr")]
    let (stylesheet, icon) =
        (ssr::assets::href(&options.site_root, "steward.css"), ssr::assets::href(&options.site_root, "favicon.svg"));
    #[cfg(not(feature = "ssr"))]
    let (stylesheet, icon) = ("/pkg/steward.css".to_string(), "/pkg/favicon.svg".to_string());
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <link rel="icon" href=icon type="image/svg+xml" />
                <link rel="stylesheet" id="steward-css" href=stylesheet />
                // `defer`: the page paints from the server's HTML at once and the wasm loads at low
                // priority, then hydrates when the browser is idle (Lighthouse's LCP no longer waits for it).
                <HydrationScripts options defer=true />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Title formatter=|page: String| if page.is_empty() { "Steward".to_string() } else { format!("{page} · Steward") } />
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") view=LandingPage />
                <Route path=path!("/signup") view=SignupPage />
                <Route path=path!("/login") view=LoginPage />
                <Route path=path!("/invite/:token") view=AcceptInvitationPage />
                <Route path=path!("/t/:slug/login") view=BusinessLoginPage />
                <ParentRoute path=path!("/t/:slug") view=WorkspaceLayout>
                    <Route path=path!("") view=DashboardPage />
                    <Route path=path!("settings") view=SettingsPage />
                    <Route path=path!("account") view=pages::account::AccountPage />
                    <Route path=path!("tokens") view=pages::api_tokens::ApiTokensPage />
                    <Route path=path!("changes") view=ChangeLogPage />
                    <Route path=path!("costs") view=pages::costs::CostsPage />
                    <Route path=path!("reports") view=pages::reports::ReportsPage />
                    <Route path=path!("governance") view=pages::governance::GovernancePage />
                    <Route path=path!("models") view=ModelsPage />
                    <Route path=path!("prompts") view=PromptsPage />
                    <Route path=path!("prompts/:name") view=PromptPage />
                    <Route path=path!("prompts/:name/diff") view=PromptDiffPage />
                    <Route path=path!("data-contracts") view=DataContractsPage />
                    <Route path=path!("data-contracts/:name") view=DataContractPage />
                    <Route path=path!("workflows") view=WorkflowsPage />
                    <Route path=path!("workflows/gallery") view=GalleryPage />
                    <Route path=path!("workflows/:name") view=WorkflowEditorPage />
                    <Route path=path!("workflows/:name/diff") view=WorkflowDiffPage />
                    <Route path=path!("review") view=ReviewQueuePage />
                    <Route path=path!("review/:id") view=ReviewTaskPage />
                    <Route path=path!("runs") view=RunsPage />
                    <Route path=path!("runs/exceptions") view=ExceptionsPage />
                    <Route path=path!("runs/:id") view=RunPage />
                    <Route path=path!(":section") view=EmptyStatePage />
                </ParentRoute>
            </Routes>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(res) = use_context::<leptos_actix::ResponseOptions>() {
            res.set_status(actix_web::http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found" />
        <main class="centered">
            <div class="card narrow">
                <h1>"Page not found"</h1>
                <p class="muted">"There is nothing at this address. Check the link, or start from the home page."</p>
                <a class="button" href="/">"Go to the home page"</a>
            </div>
        </main>
    }
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen(
    inline_js = "export function mark_hydrated() { window.__stewardHydrated = true; }"
)]
extern "C" {
    /// Lets browser tests (and curious engineers) see that the page is interactive.
    fn mark_hydrated();
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    // Readable panics in the console while developing; the release bundle goes without the hook's code.
    #[cfg(debug_assertions)]
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    mark_hydrated();
}
