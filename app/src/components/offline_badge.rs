//! The badge on a draft the built-in offline model wrote.

use leptos::prelude::*;

/// Marks a draft written by the built-in offline model.
#[component]
pub fn OfflineBadge() -> impl IntoView {
    view! {
        <span class="badge offline" data-testid="offline-model"
            title="Written by Steward's built-in offline model: deterministic placeholder text, not an AI model's answer. Choose a model in Settings → Models.">
            "offline model"
        </span>
    }
}
