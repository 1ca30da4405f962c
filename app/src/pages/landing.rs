use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn LandingPage() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let deleted = move || query.read().get("deleted").is_some();
    view! {
        <Title text="" />
        <main class="landing">
            <header class="landing-bar">
                <span class="brand">"Steward"</span>
                <nav>
                    <a href="/login">"Sign in"</a>
                </nav>
            </header>
            <Show when=deleted>
                <p class="notice" role="status" data-testid="business-deleted">"Your business and everything it owned were deleted."</p>
            </Show>
            <section class="hero">
                <h1>"AI workflows your business can trust"</h1>
                <p class="lead">
                    "Wire web forms, CRM events and support tickets into workflows where models draft, "
                    "rules decide, and a person approves what matters. Every run is measured."
                </p>
                <div class="actions">
                    <a class="button primary" href="/signup">"Open your business"</a>
                    <a class="button" href="/login">"Sign in"</a>
                </div>
            </section>
            <section class="pillars">
                <div class="pillar">
                    <h2>"Contracts, not prompts"</h2>
                    <p>"Each workflow is a versioned contract of typed steps with a change log and rollback."</p>
                </div>
                <div class="pillar">
                    <h2>"People on the judgment calls"</h2>
                    <p>"Low confidence, high value or outside messages wait for your reviewers."</p>
                </div>
                <div class="pillar">
                    <h2>"Measured every month"</h2>
                    <p>"Cycle time, exceptions, cost against budget and hours saved, in one scorecard."</p>
                </div>
            </section>
        </main>
    }
}
