//! Settings → Models: providers, models and prices, tiers, encrypted keys.

mod secrets;
use crate::components::field::{Field, FormError};
use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::{ConnectionCheck, ModelView};
use leptos::prelude::*;
use leptos_meta::Title;

#[cfg(feature = "ssr")]
fn map_error(cx: &crate::ssr::Ctx, e: store::models::ModelError) -> AppError {
    use store::models::ModelError::*;
    match e {
        Invalid(fields) => cx.invalid(fields),
        NotFound => cx.refused(actix_web::http::StatusCode::NOT_FOUND, "There is no such model."),
        Storage(e) => cx.internal("working on models", e),
    }
}

#[cfg(feature = "ssr")]
fn price(micros: i64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000).trim_end_matches('0').trim_end_matches('.').to_string()
}

#[server(endpoint = "list_models")]
pub async fn list_models(slug: String) -> Result<Vec<ModelView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Models).await?;
    let rows = store::models::list(&cx.state.db, &me).await;
    cx.rows("listing models", rows, |m| ModelView {
        id: m.id.to_string(),
        provider_name: store::providers::display_name(&m.provider).to_owned(),
        provider: m.provider,
        label: m.label,
        base_url: m.base_url,
        model: m.model,
        input_price: price(m.input_micros_per_million),
        output_price: price(m.output_micros_per_million),
        has_key: m.has_key,
        tiers: m.tiers.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
    })
}

#[server(endpoint = "add_model")]
#[allow(clippy::too_many_arguments)]
pub async fn add_model(
    slug: String,
    provider: String,
    label: String,
    base_url: String,
    model: String,
    input_price: String,
    output_price: String,
    api_key: String,
) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Models).await?;
    let new = store::models::NewModel { provider, label, base_url, model, input_price, output_price, api_key };
    store::models::add(&cx.state.db, &cx.state.settings, &me, &new).await.map(|_| ()).map_err(|e| map_error(&cx, e))
}

/// "Test connection": one small call to the provider with the form's
/// values (nothing is saved); the verdict in words either way.
#[server(endpoint = "test_model_connection")]
pub async fn test_model_connection(
    slug: String,
    provider: String,
    base_url: String,
    model: String,
    api_key: String,
) -> Result<ConnectionCheck, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    cx.member(&slug, engine::Page::Models).await?;
    let verdict =
        store::providers::check_connection(&cx.state.outbound, &provider, &base_url, api_key.trim(), &model).await;
    Ok(match verdict {
        Ok(message) => ConnectionCheck { ok: true, message },
        Err(message) => ConnectionCheck { ok: false, message },
    })
}

#[server(endpoint = "set_model_tier")]
pub async fn set_model_tier(slug: String, tier: String, model_id: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Models).await?;
    let id = uuid::Uuid::parse_str(&model_id)
        .map_err(|_| cx.invalid(vec![engine::FieldError::new("model_id", "Not a model id.")]))?;
    store::models::set_tier(&cx.state.db, &me, &tier, id).await.map_err(|e| map_error(&cx, e))
}

#[component]
pub fn ModelsPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let add = ServerAction::<AddModel>::new();
    let tier = ServerAction::<SetModelTier>::new();
    let models =
        crate::resource::new(move || (slug.get(), add.version().get(), tier.version().get()), |(s, ..)| list_models(s));
    let tier_message = Signal::derive(move || tier.value().get().and_then(|r| r.err()).map(|e| e.to_string()));
    view! {
        <Title text="Models" />
        <section class="page-head">
            <h1>"Models"</h1>
            <p class="muted">"The models llm steps can use, what they cost per million tokens, and which one each tier uses. Keys are stored encrypted and never shown again."</p>
            <p class="muted" data-testid="offline-explained">"Until you connect a provider, every tier uses the built-in offline model: it writes sample drafts in the right shape, so you can try every workflow end to end at no cost. Its drafts are placeholders, not real answers."</p>
        </section>
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match models.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(list) => {
                        let options = list.clone();
                        view! {
                            <section class="card">
                                <h2>"Tiers"</h2>
                                <div class="tiers">
                                    {["small", "premium"].into_iter().map(|t| {
                                        let current = list.iter().find(|m| m.tiers.iter().any(|x| x == t)).map(|m| m.id.clone()).unwrap_or_default();
                                        let options = options.clone();
                                        view! {
                                            <div class="field">
                                                <label for=format!("tier-{t}")>{format!("{t} tier")}</label>
                                                <select id=format!("tier-{t}") data-testid=format!("tier-{t}") on:change=move |ev| {
                                                    tier.dispatch(SetModelTier { slug: slug.get_untracked(), tier: t.to_string(), model_id: event_target_value(&ev) });
                                                }>
                                                    {options.into_iter().map(|m| view! { <option value=m.id.clone() selected=m.id == current>{m.label}</option> }).collect_view()}
                                                </select>
                                            </div>
                                        }
                                    }).collect_view()}
                                </div>
                                <FormError message=tier_message />
                            </section>
                            <section class="card">
                                <table class="table" data-testid="models">
                                    <thead><tr><th>"Model"</th><th>"Provider"</th><th>"Per million tokens (in / out)"</th><th>"Key"</th><th>"Tiers"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|m| view! {
                                            <tr>
                                                <td data-label="Model"><strong>{m.label}</strong><div class="muted small">{m.model}</div></td>
                                                <td data-label="Provider">{m.provider_name}<div class="muted small">{m.base_url}</div></td>
                                                <td data-label="Price">{format!("{} / {}", m.input_price, m.output_price)}</td>
                                                <td data-label="Key">{if m.has_key { "stored (hidden)" } else { "—" }}</td>
                                                <td data-label="Tiers">{m.tiers.join(", ")}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
        <AddModelForm slug action=add />
        <secrets::Secrets slug />
    }
}

#[component]
fn AddModelForm(slug: Memo<String>, action: ServerAction<AddModel>) -> impl IntoView {
    let provider = RwSignal::new("openai_compatible".to_string());
    let label = RwSignal::new(String::new());
    let base_url = RwSignal::new("https://api.openai.com/v1".to_string());
    let model = RwSignal::new(String::new());
    let input_price = RwSignal::new(String::new());
    let output_price = RwSignal::new(String::new());
    let api_key = RwSignal::new(String::new());
    let error = move |f: &'static str| {
        Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.field(f)))
    };
    let message = Signal::derive(move || action.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    // The key field empties after a save: it is never shown again. The page says what was saved.
    let saved = RwSignal::new(None::<String>);
    Effect::new(move |_| {
        if matches!(action.value().get(), Some(Ok(()))) {
            saved.set(Some(label.get_untracked()));
            api_key.set(String::new());
            label.set(String::new());
        }
    });
    let check = ServerAction::<TestModelConnection>::new();
    let verdict = Signal::derive(move || match check.value().get() {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => Some(ConnectionCheck { ok: false, message: e.to_string() }),
        None => None,
    });
    let test = move |_| {
        saved.set(None);
        check.dispatch(TestModelConnection {
            slug: slug.get_untracked(),
            provider: provider.get_untracked(),
            base_url: base_url.get_untracked(),
            model: model.get_untracked(),
            api_key: api_key.get_untracked(),
        });
    };
    view! {
        <section class="card">
            <h2>"Add a model"</h2>
            <form class="model-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                ev.prevent_default();
                saved.set(None);
                action.dispatch(AddModel {
                    slug: slug.get_untracked(), provider: provider.get_untracked(), label: label.get_untracked(),
                    base_url: base_url.get_untracked(), model: model.get_untracked(), input_price: input_price.get_untracked(),
                    output_price: output_price.get_untracked(), api_key: api_key.get_untracked(),
                });
            }>
                <div class="field">
                    <label for="field-provider">"Provider"</label>
                    <select id="field-provider" on:change=move |ev| provider.set(event_target_value(&ev))>
                        <option value="openai_compatible">"OpenAI-compatible (OpenAI, Ollama, vLLM, llama.cpp, OpenRouter…)"</option>
                        <option value="anthropic">"Anthropic"</option>
                        <option value="offline">"Offline (built in)"</option>
                    </select>
                </div>
                <Field name="label" label="Name" value=label error=error("label") hint="How people will recognise it, e.g. GPT-4o mini" />
                <Field name="base_url" label="Base URL" value=base_url error=error("base_url") />
                <Field name="model" label="Model id" value=model error=error("model") />
                <Field name="input_price" label="Input price per million tokens" value=input_price error=error("input_price") />
                <Field name="output_price" label="Output price per million tokens" value=output_price error=error("output_price") />
                <Field name="api_key" label="API key" kind="password" value=api_key error=error("api_key") autocomplete="off"
                    hint="Stored encrypted (AES-256-GCM); it is never shown again." />
                <FormError message />
                {move || verdict.get().map(|v| view! {
                    <p class=if v.ok { "notice" } else { "form-error" } role="status" data-testid="connection-result">{v.message}</p>
                })}
                {move || saved.get().map(|name| view! {
                    <p class="notice" role="status" data-testid="model-saved">{format!("Saved {name}. Choose it for a tier above to put it to work.")}</p>
                })}
                <div class="row-inline">
                    <button class="button" type="button" data-testid="test-connection" on:click=test disabled=move || check.pending().get()>
                        {move || if check.pending().get() { "Testing…" } else { "Test connection" }}
                    </button>
                    <button class="button primary" type="submit" data-testid="add-model" disabled=move || action.pending().get()>"Add model"</button>
                </div>
            </form>
        </section>
    }
}
