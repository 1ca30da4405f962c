//! Data contracts: one per business object, editable as JSON, with a box to
//! test a record against them.

use crate::components::field::{Field, FormError};
use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::{DataContractDetailView, DataContractSummaryView, RecordVerdict};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;

#[cfg(feature = "ssr")]
fn map_error(cx: &crate::ssr::Ctx, e: store::data_contracts::DataContractError) -> AppError {
    use store::data_contracts::DataContractError::*;
    match e {
        Invalid(m) => cx.invalid(vec![engine::FieldError::new("document", m)]),
        NotFound(n) => {
            cx.refused(actix_web::http::StatusCode::NOT_FOUND, format!("There is no data contract named {n}."))
        }
        Storage(e) => cx.internal("working on the data contract", e),
    }
}

#[server(endpoint = "list_data_contracts")]
pub async fn list_data_contracts(slug: String) -> Result<Vec<DataContractSummaryView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::DataContracts).await?;
    let rows =
        store::data_contracts::list(&cx.state.db, &me).await.map_err(|e| cx.internal("listing data contracts", e))?;
    rows.into_iter()
        .map(|r| {
            // Contracts are checked when saved; one that no longer parses is a fault, not an empty row.
            let parsed = engine::data_contract::DataContract::from_json(&r.document)
                .map_err(|e| cx.internal("reading a data contract", e))?;
            Ok(DataContractSummaryView {
                name: r.name,
                object: parsed.object.clone(),
                fields: parsed.fields.len(),
                source_of_truth: parsed.source_of_truth.unwrap_or_else(|| "—".into()),
                updated: crate::ssr::short_time(&r.updated_at),
            })
        })
        .collect()
}

/// Adds a data contract from one of the templates; returns its name.
#[server(endpoint = "add_data_contract_template")]
pub async fn add_data_contract_template(slug: String, object: String) -> Result<String, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::DataContracts, crate::ssr::EDITORS).await?;
    let template = engine::data_contract::DataContract::template(&object).ok_or_else(|| {
        cx.invalid(vec![engine::FieldError::new("object", "Choose lead, account, ticket, invoice or task.")])
    })?;
    let document = serde_json::to_value(template).map_err(|e| cx.internal("preparing the template", e))?;
    store::data_contracts::save(&cx.state.db, &me, &object, &document, &format!("Added the {object} template"))
        .await
        .map_err(|e| map_error(&cx, e))?;
    Ok(object)
}

#[server(endpoint = "data_contract_detail")]
pub async fn data_contract_detail(slug: String, name: String) -> Result<DataContractDetailView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::DataContracts).await?;
    let row = store::data_contracts::get(&cx.state.db, &me, &name).await.map_err(|e| map_error(&cx, e))?;
    Ok(DataContractDetailView {
        name: row.name,
        document: serde_json::to_string_pretty(&row.document).unwrap_or_default(),
        can_edit: crate::ssr::EDITORS.contains(&me.role),
    })
}

#[server(endpoint = "save_data_contract")]
pub async fn save_data_contract(slug: String, name: String, document: String, why: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::DataContracts, crate::ssr::EDITORS).await?;
    let document = cx.json_field("document", &document)?;
    cx.require_reason("why", &why)?;
    store::data_contracts::save(&cx.state.db, &me, &name, &document, &why).await.map_err(|e| map_error(&cx, e))
}

#[server(endpoint = "test_data_contract")]
pub async fn test_data_contract(slug: String, name: String, record: String) -> Result<RecordVerdict, AppError> {
    use crate::views::ViolationView;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::DataContracts).await?;
    let record: serde_json::Value = serde_json::from_str(&record)
        .map_err(|e| cx.invalid(vec![engine::FieldError::new("record", format!("Paste a JSON object: {e}"))]))?;
    let verdict =
        store::data_contracts::test_record(&cx.state.db, &me, &name, &record).await.map_err(|e| map_error(&cx, e))?;
    Ok(match verdict {
        Ok(normalised) => RecordVerdict::Normalised(serde_json::to_string_pretty(&normalised).unwrap_or_default()),
        Err(violations) => RecordVerdict::Broken(
            violations
                .into_iter()
                .map(|v| ViolationView { field: v.field, rule: v.rule, message: v.message })
                .collect(),
        ),
    })
}

const OBJECTS: [&str; 5] = ["lead", "account", "ticket", "invoice", "task"];

#[component]
pub fn DataContractsPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let add = ServerAction::<AddDataContractTemplate>::new();
    let list = crate::resource::new(move || (slug.get(), add.version().get()), |(slug, _)| list_data_contracts(slug));
    let add_message = Signal::derive(move || add.value().get().and_then(|r| r.err()).map(|e| e.to_string()));
    view! {
        <Title text="Data contracts" />
        <section class="page-head">
            <h1>"Data contracts"</h1>
            <p class="muted">"What each business object must look like before automation touches it: required fields, allowed values, how to treat empty ones, how free text maps to your values, and how fresh it must be."</p>
        </section>
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(rows) => {
                        let existing: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
                        let empty = rows.is_empty();
                        view! {
                            <Show when=move || empty>
                                <section class="card" data-testid="data-contracts-empty">
                                    <p>"No data contracts yet. A contract says what a lead, ticket or invoice must look like before automation touches it: start from a template below, or install a workflow from the gallery, which brings its own."</p>
                                </section>
                            </Show>
                            <section class="card" class:hidden=empty>
                                <table class="table" data-testid="data-contracts">
                                    <thead><tr><th>"Contract"</th><th>"Object"</th><th>"Fields"</th><th>"Source of truth"</th><th>"Updated"</th></tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|r| view! {
                                            <tr>
                                                <td data-label="Contract"><a href=format!("/t/{}/data-contracts/{}", slug.get_untracked(), r.name)>{r.name.clone()}</a></td>
                                                <td data-label="Object">{r.object}</td>
                                                <td data-label="Fields">{r.fields}</td>
                                                <td data-label="Source of truth">{r.source_of_truth}</td>
                                                <td data-label="Updated">{r.updated}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                            <section class="card">
                                <h2>"Start from a template"</h2>
                                <div class="actions">
                                    {OBJECTS.into_iter().filter(|o| !existing.iter().any(|e| e == o)).map(|o| view! {
                                        <button class="button" type="button" data-testid=format!("add-{o}")
                                            on:click=move |_| { add.dispatch(AddDataContractTemplate { slug: slug.get_untracked(), object: o.to_string() }); }>
                                            {format!("Add {o}")}
                                        </button>
                                    }).collect_view()}
                                </div>
                                <FormError message=add_message />
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn DataContractPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let name = crate::route::param("name");
    let detail = crate::resource::new(move || (slug.get(), name.get()), |(s, n)| data_contract_detail(s, n));
    view! {
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(d) => view! { <Title text=d.name.clone() /><DataContractEditor slug=slug.get_untracked() detail=d /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn DataContractEditor(slug: String, detail: DataContractDetailView) -> impl IntoView {
    let document = RwSignal::new(detail.document.clone());
    let why = RwSignal::new(String::new());
    let record = RwSignal::new(String::new());
    let save = ServerAction::<SaveDataContract>::new();
    let test = ServerAction::<TestDataContract>::new();
    let field_error = move |action_err: Option<AppError>, field: &'static str| action_err.and_then(|e| e.field(field));
    let save_err = move || save.value().get().and_then(|r| r.err());
    let saved = move || matches!(save.value().get(), Some(Ok(())));
    let name = detail.name.clone();
    let _ = use_navigate();
    let (slug_s, name_s, slug_t, name_t) = (slug.clone(), name.clone(), slug.clone(), name.clone());
    view! {
        <section class="page-head">
            <p class="crumbs"><a href=format!("/t/{slug}/data-contracts")>"Data contracts"</a>" / "</p>
            <h1>{name.clone()}</h1>
        </section>
        <div class="editor-layout">
            <section class="card">
                <h2>"Contract"</h2>
                <textarea class="code-area" rows="24" spellcheck="false" aria-label="Data contract (JSON)" data-testid="contract-json"
                    prop:value=move || document.get() on:input=move |ev| document.set(event_target_value(&ev)) readonly=!detail.can_edit></textarea>
                <p class="field-error" role="alert">{move || field_error(save_err(), "document").unwrap_or_default()}</p>
                <Show when=move || detail.can_edit>
                    <form class="save-form" on:submit={
                        let (slug_s, name_s) = (slug_s.clone(), name_s.clone());
                        move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            save.dispatch(SaveDataContract { slug: slug_s.clone(), name: name_s.clone(), document: document.get_untracked(), why: why.get_untracked() });
                        }
                    }>
                        <Field name="why" label="Why this change?" value=why error=Signal::derive(move || field_error(save_err(), "why")) />
                        <button class="button primary" type="submit" data-testid="save-contract">"Save"</button>
                    </form>
                    <Show when=saved><p class="notice" role="status">"Saved."</p></Show>
                </Show>
            </section>
            <section class="card">
                <h2>"Test a record"</h2>
                <p class="muted small">"Paste a JSON record (for example a web form submission) to see exactly which rules it breaks, or the record as automation will see it."</p>
                <form on:submit=move |ev: leptos::ev::SubmitEvent| {
                    ev.prevent_default();
                    test.dispatch(TestDataContract { slug: slug_t.clone(), name: name_t.clone(), record: record.get_untracked() });
                }>
                    <textarea class="code-area" rows="12" spellcheck="false" aria-label="Record (JSON)" data-testid="record-json"
                        prop:value=move || record.get() on:input=move |ev| record.set(event_target_value(&ev))></textarea>
                    <p class="field-error" role="alert">{move || field_error(test.value().get().and_then(|r| r.err()), "record").unwrap_or_default()}</p>
                    <button class="button" type="submit" data-testid="test-record">"Test record"</button>
                </form>
                <div data-testid="verdict">
                    {move || match test.value().get() {
                        Some(Ok(RecordVerdict::Normalised(json))) => view! {
                            <p class="notice">"The record meets the contract. Normalised:"</p>
                            <pre class="code-block" tabindex="0">{json}</pre>
                        }.into_any(),
                        Some(Ok(RecordVerdict::Broken(list))) => view! {
                            <ul class="issues">
                                {list.into_iter().map(|v| view! {
                                    <li class="issue"><strong>{v.field}</strong>" ("{v.rule}"): "{v.message}</li>
                                }).collect_view()}
                            </ul>
                        }.into_any(),
                        _ => ().into_any(),
                    }}
                </div>
            </section>
        </div>
    }
}
