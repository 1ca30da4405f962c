#![recursion_limit = "256"]
//! Steward's browser UI. Pages are components with their server functions
//! beside them; `ssr`-only code (database, secrets) stays behind the `ssr`
//! feature and never reaches the WebAssembly bundle.

pub mod components;
pub mod error;
pub mod pages;
pub mod resource;
pub mod route;
#[cfg(feature = "ssr")]
pub mod ssr;
pub mod views;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{ParentRoute, Route, Router, Routes},
    path, SsrMode,
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
    #[cfg(feature = "ssr")]
    let hydration = ssr::assets::hydration_script(&options.site_root);
    #[cfg(not(feature = "ssr"))]
    let hydration = {
        let _ = &options;
        String::new()
    };
    let nonce = leptos::nonce::use_nonce();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light" />
                <link rel="icon" href=icon type="image/svg+xml" />
                <link rel="stylesheet" id="steward-css" href=stylesheet />
                // The page paints from the server's HTML at once; the app loads and hydrates when
                // the browser is idle, with no preload competing with the first paint.
                <script type="module" nonce=nonce>{hydration}</script>
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
        // Every page renders `Async`: the server loads all of a page's data before it sends the
        // HTML, so the data the browser hydrates with is always in the document it hydrates.
        // That alone did not stop a review queue with one more row than its HTML: the page sat
        // inside the workspace's Suspense, which the server builds twice (see `WorkspaceLayout`).
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/") ssr=SsrMode::Async view=LandingPage />
                <Route path=path!("/signup") ssr=SsrMode::Async view=SignupPage />
                <Route path=path!("/login") ssr=SsrMode::Async view=LoginPage />
                <Route path=path!("/invite/:token") ssr=SsrMode::Async view=AcceptInvitationPage />
                <Route path=path!("/t/:slug/login") ssr=SsrMode::Async view=BusinessLoginPage />
                <ParentRoute path=path!("/t/:slug") ssr=SsrMode::Async view=WorkspaceLayout>
                    <Route path=path!("") ssr=SsrMode::Async view=DashboardPage />
                    <Route path=path!("settings") ssr=SsrMode::Async view=SettingsPage />
                    <Route path=path!("account") ssr=SsrMode::Async view=pages::account::AccountPage />
                    <Route path=path!("tokens") ssr=SsrMode::Async view=pages::api_tokens::ApiTokensPage />
                    <Route path=path!("changes") ssr=SsrMode::Async view=ChangeLogPage />
                    <Route path=path!("costs") ssr=SsrMode::Async view=pages::costs::CostsPage />
                    <Route path=path!("reports") ssr=SsrMode::Async view=pages::reports::ReportsPage />
                    <Route path=path!("governance") ssr=SsrMode::Async view=pages::governance::GovernancePage />
                    <Route path=path!("models") ssr=SsrMode::Async view=ModelsPage />
                    <Route path=path!("prompts") ssr=SsrMode::Async view=PromptsPage />
                    <Route path=path!("prompts/:name") ssr=SsrMode::Async view=PromptPage />
                    <Route path=path!("prompts/:name/diff") ssr=SsrMode::Async view=PromptDiffPage />
                    <Route path=path!("data-contracts") ssr=SsrMode::Async view=DataContractsPage />
                    <Route path=path!("data-contracts/:name") ssr=SsrMode::Async view=DataContractPage />
                    <Route path=path!("workflows") ssr=SsrMode::Async view=WorkflowsPage />
                    <Route path=path!("workflows/gallery") ssr=SsrMode::Async view=GalleryPage />
                    <Route path=path!("workflows/:name") ssr=SsrMode::Async view=WorkflowEditorPage />
                    <Route path=path!("workflows/:name/diff") ssr=SsrMode::Async view=WorkflowDiffPage />
                    <Route path=path!("workflows/:name/replays") ssr=SsrMode::Async view=pages::replays::ReplaysPage />
                    <Route path=path!("workflows/:name/replays/:id") ssr=SsrMode::Async view=pages::replays::ReplayPage />
                    <Route path=path!("review") ssr=SsrMode::Async view=ReviewQueuePage />
                    <Route path=path!("review/:id") ssr=SsrMode::Async view=ReviewTaskPage />
                    <Route path=path!("runs") ssr=SsrMode::Async view=RunsPage />
                    <Route path=path!("runs/exceptions") ssr=SsrMode::Async view=ExceptionsPage />
                    <Route path=path!("runs/:id") ssr=SsrMode::Async view=RunPage />
                    <Route path=path!(":section") ssr=SsrMode::Async view=EmptyStatePage />
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
