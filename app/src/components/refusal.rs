//! What a page shows where the member's role does not reach (or another business's page).

use crate::error::AppError;
use leptos::prelude::*;

/// Shown where the member's role does not reach.
#[component]
pub fn Refusal(error: AppError) -> impl IntoView {
    view! {
        <section class="refusal" data-testid="refusal">
            <h1>"Not available to your role"</h1>
            <p class="muted">{error.form_message().unwrap_or_else(|| error.to_string())}</p>
            <p class="muted">"Ask an owner of this business if you need access."</p>
        </section>
    }
}
