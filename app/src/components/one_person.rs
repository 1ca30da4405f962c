//! Settings → one-person business: the owner of a business nobody else
//! works in says so (with a reason, audited), so that workflows needing a
//! second approver can still go live with an explicit confirmation.

use crate::components::field::FormError;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnePersonView {
    /// "Declared by … on …: reason", when the business is declared one person.
    pub declared: Option<String>,
    /// Engineers and owners, the people who could approve a version.
    pub approvers: i64,
}

#[server(endpoint = "load_one_person")]
pub async fn load_one_person(slug: String) -> Result<OnePersonView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    let read = |e| cx.internal("reading the one-person declaration", e);
    let declaration = store::one_person::declaration(&cx.state.db, &me).await.map_err(read)?;
    let approvers = store::one_person::possible_approvers(&cx.state.db, &me).await.map_err(read)?;
    Ok(OnePersonView {
        declared: declaration.map(|d| {
            format!("Declared by {} on {}: {}", d.declared_by_email, crate::ssr::short_time(&d.declared_at), d.reason)
        }),
        approvers,
    })
}

#[server(endpoint = "declare_one_person")]
pub async fn declare_one_person(slug: String, one_person: bool, reason: String) -> Result<(), AppError> {
    use store::one_person::OnePersonError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Settings).await?;
    store::one_person::declare(&cx.state.db, &me, one_person, &reason).await.map_err(|e| match e {
        OnePersonError::Refused(m) => cx.refused(actix_web::http::StatusCode::FORBIDDEN, m),
        OnePersonError::Invalid { field, reason } => cx.invalid(vec![engine::FieldError::new(field, reason)]),
        OnePersonError::Storage(e) => cx.internal("saving the one-person declaration", e),
    })
}

#[component]
pub fn OnePersonBusiness(#[prop(into)] slug: Signal<String>) -> impl IntoView {
    let declare = ServerAction::<DeclareOnePerson>::new();
    let state = crate::resource::new(move || (slug.get(), declare.version().get()), |(slug, _)| load_one_person(slug));
    let reason = RwSignal::new(String::new());
    let reason_error =
        Signal::derive(move || declare.value().get().and_then(|r| r.err()).and_then(|e| e.field("reason")));
    let message = Signal::derive(move || declare.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    view! {
        <section class="card" id="one-person" data-testid="one-person">
            <h2>"One-person business"</h2>
            <p class="muted small">
                "Workflows that email outside the business or write financial records need a second engineer or owner to approve each version before it goes live. "
                "If nobody else works in the business, say so here: such versions then go live when the person publishing confirms it and says why. Both are kept in the change log."
            </p>
            <Suspense fallback=crate::components::field::Loading>
                {move || Suspend::new(async move {
                    let Ok(view_data) = state.await else { return ().into_any() };
                    match view_data.declared {
                        Some(declared) => view! {
                            <p class="notice" role="status" data-testid="one-person-declared">{declared}</p>
                            <button class="button" type="button" data-testid="withdraw-one-person"
                                disabled=move || declare.pending().get()
                                on:click=move |_| { declare.dispatch(DeclareOnePerson { slug: slug.get_untracked(), one_person: false, reason: String::new() }); }>
                                "Withdraw: a second approver is needed again"
                            </button>
                        }.into_any(),
                        None => view! {
                            <p class="small">{match view_data.approvers {
                                0 | 1 => "You are the only person here who can approve a version.".to_string(),
                                n => format!("{n} people here can approve a version (engineers and owners)."),
                            }}</p>
                            <form class="row-inline" on:submit=move |ev: leptos::ev::SubmitEvent| {
                                ev.prevent_default();
                                declare.dispatch(DeclareOnePerson { slug: slug.get_untracked(), one_person: true, reason: reason.get_untracked() });
                            }>
                                <div class="field" class:has-error=move || reason_error.get().is_some()>
                                    <label for="f-one-person-reason">"Why nobody else can approve"</label>
                                    <input id="f-one-person-reason" prop:value=move || reason.get()
                                        on:input=move |ev| reason.set(event_target_value(&ev)) placeholder="I run the business alone" />
                                    <p class="field-error" role="alert">{move || reason_error.get().unwrap_or_default()}</p>
                                </div>
                                <button class="button" type="submit" data-testid="declare-one-person" disabled=move || declare.pending().get()>
                                    "Declare a one-person business"
                                </button>
                            </form>
                        }.into_any(),
                    }
                })}
            </Suspense>
            <FormError message />
        </section>
    }
}
