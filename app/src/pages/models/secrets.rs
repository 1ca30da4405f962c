//! Secrets that api_call steps use by name (`secret: clearbit_key`):
//! stored encrypted, listed by name only, never shown again.

use crate::components::field::Field;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecretView {
    pub name: String,
    pub created: String,
}

#[server(endpoint = "list_secrets")]
pub async fn list_secrets(slug: String) -> Result<Vec<SecretView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Models, crate::ssr::EDITORS).await?;
    let rows = store::secrets::list(&cx.state.db, &me).await;
    cx.rows("listing secrets", rows, |r| SecretView { name: r.name, created: crate::ssr::short_time(&r.created_at) })
}

#[server(endpoint = "set_secret")]
pub async fn set_secret(slug: String, name: String, value: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Models, crate::ssr::EDITORS).await?;
    store::secrets::set(&cx.state.db, &cx.state.settings, &me, name.trim(), &value)
        .await
        .map_err(|e| cx.internal("storing the secret", e))?
        .map_err(|errors| cx.invalid(errors))
}

/// The secrets card (loaded after hydration, beside the models list).
#[component]
pub fn Secrets(#[prop(into)] slug: Signal<String>) -> impl IntoView {
    let rows = RwSignal::new(Vec::<SecretView>::new());
    let set = ServerAction::<SetSecret>::new();
    let load = move || {
        leptos::task::spawn_local(async move {
            if let Ok(list) = list_secrets(slug.get_untracked()).await {
                rows.set(list);
            }
        })
    };
    Effect::new(move |_| {
        set.version().get();
        load();
    });
    let name = RwSignal::new(String::new());
    let value = RwSignal::new(String::new());
    let field_error =
        move |f: &'static str| Signal::derive(move || set.value().get().and_then(|r| r.err()).and_then(|e| e.field(f)));
    Effect::new(move |_| {
        if matches!(set.value().get(), Some(Ok(()))) {
            name.set(String::new());
            value.set(String::new());
        }
    });
    view! {
        <section class="card" data-testid="secrets">
            <h2>"Secrets"</h2>
            <p class="muted small">"Keys for the services your api_call steps call, used by name (secret: clearbit_key). Stored encrypted; never shown again."</p>
            <ul class="secret-list">
                {move || rows.get().into_iter().map(|s| view! { <li><code>{s.name}</code><span class="muted small">{format!(" set {}", s.created)}</span></li> }).collect_view()}
            </ul>
            <form class="model-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                set.dispatch(SetSecret { slug: slug.get_untracked(), name: name.get_untracked(), value: value.get_untracked() });
            }>
                <Field name="secret-name" label="Name" value=name error=field_error("name") />
                <Field name="secret-value" label="Value" kind="password" value=value error=field_error("value") autocomplete="off" />
                <button class="button" type="submit" data-testid="save-secret">"Store secret"</button>
            </form>
        </section>
    }
}
