//! Settings → review reason codes: the business's own list of why a
//! reviewer edited or rejected a draft, with the server functions that keep it.

use crate::components::field::FormError;
use crate::error::AppError;
use leptos::prelude::*;

#[server(endpoint = "add_reason_code")]
pub async fn add_reason_code(slug: String, code: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    store::reviews::add_reason_code(&cx.state.db, &me, &code).await.map_err(|e| cx.review_error(e))
}

#[server(endpoint = "remove_reason_code")]
pub async fn remove_reason_code(slug: String, code: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    store::reviews::remove_reason_code(&cx.state.db, &me, &code).await.map_err(|e| cx.review_error(e))
}

#[server(endpoint = "list_reason_codes")]
pub async fn list_reason_codes(slug: String) -> Result<Vec<String>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    store::reviews::reason_codes(&cx.state.db, &me.tenant).await.map_err(|e| cx.internal("reading reason codes", e))
}

/// Settings → reason codes (owners).
#[component]
pub fn ReasonCodes(#[prop(into)] slug: Signal<String>) -> impl IntoView {
    let add = ServerAction::<AddReasonCode>::new();
    let remove = ServerAction::<RemoveReasonCode>::new();
    let codes = RwSignal::new(Vec::<String>::new());
    Effect::new(move |_| {
        add.version().get();
        remove.version().get();
        leptos::task::spawn_local(async move {
            if let Ok(list) = list_reason_codes(slug.get_untracked()).await {
                codes.set(list);
            }
        });
    });
    let code = RwSignal::new(String::new());
    let error = Signal::derive(move || {
        add.value().get().and_then(|r| r.err()).and_then(|e| e.field("code").or_else(|| e.form_message()))
    });
    let remove_error =
        Signal::derive(move || remove.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    view! {
        <section class="card" data-testid="reason-codes">
            <h2>"Review reason codes"</h2>
            <p class="muted small">"Reviewers pick one when they edit or reject a draft; the override rate is counted per code."</p>
            <ul class="reason-codes">
                {move || codes.get().into_iter().map(|c| {
                    let c2 = c.clone();
                    view! { <li><code>{c.clone()}</code>" "<button class="button small" type="button" data-testid=format!("remove-{c}")
                        on:click=move |_| { remove.dispatch(RemoveReasonCode { slug: slug.get_untracked(), code: c2.clone() }); }>"Remove"</button></li> }
                }).collect_view()}
            </ul>
            <FormError message=remove_error />
            <form class="row-inline" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                add.dispatch(AddReasonCode { slug: slug.get_untracked(), code: code.get_untracked() });
                code.set(String::new());
            }>
                <div class="field" class:has-error=move || error.get().is_some()>
                    <label for="f-code">"New reason code"</label>
                    <input id="f-code" prop:value=move || code.get() on:input=move |ev| code.set(event_target_value(&ev)) placeholder="wrong_price" />
                    <p class="field-error" role="alert" data-testid="code-error">{move || error.get().unwrap_or_default()}</p>
                </div>
                <button class="button small" type="submit" data-testid="add-code">"Add"</button>
            </form>
        </section>
    }
}
