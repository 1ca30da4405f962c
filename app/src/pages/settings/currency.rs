//! Settings → Currency (owner only): the currency the business keeps its
//! figures in. Prices, budgets, costs and savings read in it; nothing is
//! converted, so the owner chooses it before typing prices.

use crate::components::field::FormError;
use crate::error::AppError;
use engine::money::CURRENCIES;
use leptos::prelude::*;

#[server(endpoint = "load_currency")]
pub async fn load_currency(slug: String) -> Result<String, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let currency = store::currency::currency(&cx.state.db, &me.tenant)
        .await
        .map_err(|e| cx.internal("reading the currency", e))?;
    Ok(currency.code().to_string())
}

#[server(endpoint = "choose_currency")]
pub async fn choose_currency(slug: String, currency: String) -> Result<(), AppError> {
    use store::currency::CurrencyError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    match store::currency::choose(&cx.state.db, &me, &currency).await {
        Ok(_) => Ok(()),
        Err(CurrencyError::Refused(why)) => Err(cx.refused(actix_web::http::StatusCode::FORBIDDEN, why)),
        Err(CurrencyError::Unknown(why)) => Err(cx.invalid(vec![engine::FieldError::new("currency", why)])),
        Err(CurrencyError::Storage(e)) => Err(cx.internal("saving the currency", e)),
    }
}

#[component]
pub fn BusinessCurrency(slug: Memo<String>) -> impl IntoView {
    let choose = ServerAction::<ChooseCurrency>::new();
    let current = crate::resource::new(move || (slug.get(), choose.version().get()), |(slug, _)| load_currency(slug));
    let message = Signal::derive(move || {
        choose.value().get().and_then(|r| r.err()).and_then(|e| e.form_message().or_else(|| e.field("currency")))
    });
    view! {
        <section class="card" data-testid="currency">
            <h2>"Currency"</h2>
            <p class="muted small">"The currency your prices, budgets, costs and savings are in. Steward converts nothing: choose it before you type prices."</p>
            <Suspense fallback=crate::components::field::Loading>
                {move || Suspend::new(async move {
                    let Ok(code) = current.await else { return ().into_any() };
                    let chosen = RwSignal::new(code.clone());
                    view! {
                        <form class="row-form" on:submit=move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            choose.dispatch(ChooseCurrency { slug: slug.get_untracked(), currency: chosen.get_untracked() });
                        }>
                            <div class="field"><label for="field-currency">"Currency"</label>
                                <select id="field-currency" name="currency" prop:value=move || chosen.get()
                                    on:change=move |ev| chosen.set(event_target_value(&ev))>
                                    {CURRENCIES.iter().map(|(c, symbol, name)| {
                                        let selected = *c == code;
                                        view! { <option value=*c selected=selected>{format!("{name} ({} {c})", symbol.trim_end_matches('\u{a0}'))}</option> }
                                    }).collect_view()}
                                </select></div>
                            <button class="button" type="submit" data-testid="save-currency" disabled=move || choose.pending().get()>"Save currency"</button>
                        </form>
                        <Show when=move || matches!(choose.value().get(), Some(Ok(())))>
                            <p class="notice" role="status" data-testid="currency-saved">"Saved: amounts now read in "{move || chosen.get()}"."</p>
                        </Show>
                    }.into_any()
                })}
            </Suspense>
            <FormError message />
        </section>
    }
}
