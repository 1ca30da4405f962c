//! A button for what cannot be undone (remove, revoke, delete): the first
//! click asks, the second does it.

use leptos::prelude::*;

#[component]
pub fn ConfirmButton(
    /// What the button says first ("Revoke").
    #[prop(into)]
    label: String,
    /// What it says once asked ("Confirm revoke").
    #[prop(into)]
    confirm: String,
    #[prop(into, optional)] testid: Option<String>,
    on_confirm: Callback<()>,
) -> impl IntoView {
    let asked = RwSignal::new(false);
    view! {
        <button class="button danger small" type="button" data-testid=testid
            on:click=move |_| {
                if asked.get() {
                    on_confirm.run(());
                } else {
                    asked.set(true);
                }
            }>{move || if asked.get() { confirm.clone() } else { label.clone() }}</button>
    }
}
