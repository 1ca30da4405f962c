//! A button that copies a block of text (a signed curl example, an embed
//! snippet) to the clipboard.

use leptos::prelude::*;

/// Copies the text of the element whose `data-testid` is `target`.
#[component]
pub fn CopyButton(target: &'static str) -> impl IntoView {
    let copied = RwSignal::new(false);
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let text = document()
                .query_selector(&format!("[data-testid={target}]"))
                .ok()
                .flatten()
                .and_then(|el| el.text_content())
                .unwrap_or_default();
            // The browser finishes the write on its own; nothing to wait for.
            let _ = window().navigator().clipboard().write_text(&text);
            copied.set(true);
        }
    };
    view! {
        <button class="button small copy" type="button" data-testid=format!("copy-{target}") on:click=copy>
            {move || if copied.get() { "Copied" } else { "Copy" }}
        </button>
    }
}
