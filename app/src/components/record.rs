//! A record (an event, a draft) as labelled fields a person reads, with
//! its JSON one click away for whoever needs the exact shape.

use leptos::prelude::*;

/// Labelled fields (label, value) above the raw JSON, folded.
#[component]
pub fn Record(fields: Vec<(String, String)>, raw: String, testid: &'static str) -> impl IntoView {
    view! {
        <div class="record" data-testid=testid>
            {(!fields.is_empty()).then(|| view! {
                <dl class="fields">
                    {fields.into_iter().map(|(label, value)| view! { <div><dt>{label}</dt><dd>{value}</dd></div> }).collect_view()}
                </dl>
            })}
            <details class="raw"><summary>"Raw JSON"</summary><pre class="json small" tabindex="0">{raw}</pre></details>
        </div>
    }
}
