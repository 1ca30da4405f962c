//! What an edit-and-approve changed in a draft, field by field (a run's
//! timeline and a review task's page).

use leptos::prelude::*;

/// What an edit-and-approve changed in the draft.
#[component]
pub fn EditChanges(changes: Vec<(String, String, String)>) -> impl IntoView {
    (!changes.is_empty()).then(|| view! {
        <table class="table changes" data-testid="edit-changes">
            <thead><tr><th>"Field"</th><th>"Draft"</th><th>"Edited"</th></tr></thead>
            <tbody>{changes.into_iter().map(|(path, before, after)| view! {
                <tr><td data-label="Field"><code>{path}</code></td><td data-label="Draft" class="removed">{before}</td><td data-label="Edited" class="added">{after}</td></tr>
            }).collect_view()}</tbody>
        </table>
    })
}
