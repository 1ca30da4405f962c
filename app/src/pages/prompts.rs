//! Prompt templates: versions with a reason, production/staging labels, the
//! diff of two versions, and a try-it panel on the offline model.

use crate::components::field::{Field, FormError};
use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::{DiffRowView, PromptDetailView, PromptSummaryView, TryItView};
use leptos::prelude::*;
use leptos_meta::Title;

#[cfg(feature = "ssr")]
fn map_error(cx: &crate::ssr::Ctx, e: store::prompts::PromptError) -> AppError {
    use actix_web::http::StatusCode;
    use store::prompts::PromptError::*;
    match e {
        Invalid(problems) => cx.invalid(problems.into_iter().map(|p| engine::FieldError::new("document", p)).collect()),
        Refused(m) => cx.refused(StatusCode::CONFLICT, m),
        NotFound => cx.refused(StatusCode::NOT_FOUND, "There is no such prompt template or version."),
        Storage(e) => cx.internal("working on the prompt template", e),
    }
}

#[server(endpoint = "list_prompts")]
pub async fn list_prompts(slug: String) -> Result<Vec<PromptSummaryView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Prompts).await?;
    let rows = store::prompts::list(&cx.state.db, &me).await;
    cx.rows("listing prompt templates", rows, |r| PromptSummaryView {
        name: r.name,
        latest_version: r.latest_version,
        production: r.production,
        staging: r.staging,
        updated: crate::ssr::short_time(&r.updated_at),
    })
}

#[server(endpoint = "prompt_detail")]
pub async fn prompt_detail(slug: String, name: String) -> Result<PromptDetailView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Prompts).await?;
    let d = store::prompts::detail(&cx.state.db, &me, &name).await.map_err(|e| map_error(&cx, e))?;
    let keys = engine::prompt::PromptTemplate::from_json(&d.latest_document)
        .map(|t| t.required_context_keys)
        .unwrap_or_default();
    Ok(PromptDetailView {
        name: d.prompt.name,
        document: serde_json::to_string_pretty(&d.latest_document).unwrap_or_default(),
        versions: d
            .versions
            .into_iter()
            .map(|v| crate::views::PromptVersionView {
                number: v.number,
                note: v.change_note,
                author: v.author_email,
                created: crate::ssr::short_time(&v.created_at),
            })
            .collect(),
        production: d.prompt.production,
        staging: d.prompt.staging,
        required_context_keys: keys,
        can_edit: crate::ssr::EDITORS.contains(&me.role),
    })
}

#[server(endpoint = "save_prompt")]
pub async fn save_prompt(slug: String, name: String, document: String, why: String) -> Result<i32, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Prompts, crate::ssr::EDITORS).await?;
    let document = cx.json_field("document", &document)?;
    cx.require_reason("why", &why)?;
    store::prompts::save_version(&cx.state.db, &me, &name, &document, &why).await.map_err(|e| map_error(&cx, e))
}

#[server(endpoint = "move_prompt_label")]
pub async fn move_prompt_label(slug: String, name: String, label: String, number: i32) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Prompts, crate::ssr::EDITORS).await?;
    store::prompts::move_label(&cx.state.db, &me, &name, &label, number).await.map_err(|e| map_error(&cx, e))
}

#[server(endpoint = "prompt_diff")]
pub async fn prompt_diff(slug: String, name: String, a: i32, b: i32) -> Result<Vec<DiffRowView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Prompts).await?;
    let pretty = |v: serde_json::Value| serde_json::to_string_pretty(&v).unwrap_or_default();
    let old = store::prompts::version_document(&cx.state.db, &me, &name, a).await.map_err(|e| map_error(&cx, e))?;
    let new = store::prompts::version_document(&cx.state.db, &me, &name, b).await.map_err(|e| map_error(&cx, e))?;
    Ok(crate::components::diff::diff_rows(&pretty(old), &pretty(new)))
}

#[server(endpoint = "try_prompt")]
pub async fn try_prompt(
    slug: String,
    name: String,
    number: i32,
    tier: String,
    context: String,
) -> Result<TryItView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Prompts).await?;
    let context: serde_json::Value = serde_json::from_str(&context).map_err(|e| {
        cx.invalid(vec![engine::FieldError::new("context", format!("The context must be a JSON object: {e}"))])
    })?;
    let currency = store::currency::currency(&cx.state.db, &me.tenant)
        .await
        .map_err(|e| cx.internal("reading the currency", e))?;
    let run = store::prompts::try_it(&cx.state, &me, &name, number, &tier, &context).await.map_err(|e| match e {
        store::prompts::PromptError::Invalid(problems) => {
            cx.invalid(problems.into_iter().map(|p| engine::FieldError::new("context", p)).collect())
        }
        other => map_error(&cx, other),
    })?;
    Ok(TryItView {
        rendered: run.rendered,
        output: serde_json::to_string_pretty(&run.output).unwrap_or_default(),
        schema_errors: run.schema_errors,
        tokens_in: run.tokens_in,
        tokens_out: run.tokens_out,
        cost: currency.precise(run.cost_micros),
        model: run.model,
    })
}

#[component]
pub fn PromptsPage() -> impl IntoView {
    let (slug, _) = (crate::route::param("slug"), crate::route::param("name"));
    let list = crate::resource::new(move || slug.get(), list_prompts);
    view! {
        <Title text="Prompts" />
        <section class="page-head">
            <h1>"Prompt templates"</h1>
            <p class="muted">"Each template states its objective, the context it needs, the shape of the answer and the rules; labels say which version production and staging use."</p>
        </section>
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    // A new business: say what will appear here and where it comes from.
                    Ok(rows) if rows.is_empty() => view! {
                        <section class="empty-state" data-testid="prompts-empty">
                            <h2>"No prompt templates yet"</h2>
                            <p>"Each workflow from the template gallery brings the prompts it uses; they appear here to edit, try on the offline model and label for production."</p>
                            <a class="button primary" href=format!("/t/{}/workflows/gallery", slug.get_untracked())>"Open the template gallery"</a>
                        </section>
                    }.into_any(),
                    Ok(rows) => view! {
                        <section class="card">
                            <table class="table" data-testid="prompts">
                                <thead><tr><th>"Template"</th><th>"Production"</th><th>"Staging"</th><th>"Versions"</th><th>"Updated"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|r| view! {
                                        <tr>
                                            <td data-label="Template"><a href=format!("/t/{}/prompts/{}", slug.get_untracked(), r.name)>{r.name.clone()}</a></td>
                                            <td data-label="Production">{r.production.map(|v| format!("v{v}")).unwrap_or_else(|| "—".into())}</td>
                                            <td data-label="Staging">{r.staging.map(|v| format!("v{v}")).unwrap_or_else(|| "—".into())}</td>
                                            <td data-label="Versions">{r.latest_version}</td>
                                            <td data-label="Updated">{r.updated}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </section>
                    }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn PromptPage() -> impl IntoView {
    let (slug, name) = (crate::route::param("slug"), crate::route::param("name"));
    let detail = crate::resource::new(move || (slug.get(), name.get()), |(s, n)| prompt_detail(s, n));
    let reload = Callback::new(move |_: ()| detail.refetch());
    view! {
        <Suspense fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(d) => view! { <Title text=d.name.clone() /><PromptEditor slug=slug.get_untracked() detail=d reload /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

#[component]
fn PromptEditor(slug: String, detail: PromptDetailView, reload: Callback<()>) -> impl IntoView {
    let document = RwSignal::new(detail.document.clone());
    let why = RwSignal::new(String::new());
    let save = ServerAction::<SavePrompt>::new();
    let label = ServerAction::<MovePromptLabel>::new();
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(_))) || matches!(label.value().get(), Some(Ok(()))) {
            reload.run(());
        }
    });
    let save_err = move || save.value().get().and_then(|r| r.err());
    let label_message =
        Signal::derive(move || label.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let name = detail.name.clone();
    let newest = detail.versions.first().map(|v| v.number).unwrap_or(1);
    let (slug_s, name_s) = (slug.clone(), name.clone());
    view! {
        <section class="page-head">
            <p class="crumbs"><a href=format!("/t/{slug}/prompts")>"Prompts"</a>" / "</p>
            <h1>{name.clone()}</h1>
            <p class="muted">{format!("production: {} · staging: {}",
                detail.production.map(|v| format!("v{v}")).unwrap_or_else(|| "—".into()),
                detail.staging.map(|v| format!("v{v}")).unwrap_or_else(|| "—".into()))}</p>
        </section>
        <div class="editor-layout">
            <div>
                <section class="card">
                    <h2>{format!("Version {newest}")}</h2>
                    <textarea class="code-area" rows="22" spellcheck="false" aria-label="Prompt template (JSON)" data-testid="prompt-json"
                        prop:value=move || document.get() on:input=move |ev| document.set(event_target_value(&ev)) readonly=!detail.can_edit></textarea>
                    <ul class="issues">
                        {move || match save_err() {
                            Some(crate::error::AppError::Invalid(list)) => list.into_iter().filter(|f| f.field == "document")
                                .map(|f| view! { <li class="issue">{f.message}</li> }).collect_view().into_any(),
                            _ => ().into_any(),
                        }}
                    </ul>
                    <Show when=move || detail.can_edit>
                        <form class="save-form" on:submit={
                            let (slug_s, name_s) = (slug_s.clone(), name_s.clone());
                            move |ev: leptos::ev::SubmitEvent| {
                                ev.prevent_default();
                                save.dispatch(SavePrompt { slug: slug_s.clone(), name: name_s.clone(), document: document.get_untracked(), why: why.get_untracked() });
                            }
                        }>
                            <Field name="why" label="Why this change?" value=why error=Signal::derive(move || save_err().and_then(|e| e.field("why"))) />
                            <button class="button primary" type="submit" data-testid="save-prompt">"Save as new version"</button>
                        </form>
                    </Show>
                </section>
                <TryIt slug=slug.clone() name=name.clone() newest keys=detail.required_context_keys.clone() />
            </div>
            <section class="card">
                <h2>"Versions"</h2>
                <FormError message=label_message />
                <table class="table versions" data-testid="prompt-versions">
                    <thead><tr><th>"v"</th><th>"Why"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                    <tbody>
                        {detail.versions.iter().map(|v| {
                            let number = v.number;
                            let labels: Vec<&str> = [("production", detail.production), ("staging", detail.staging)]
                                .into_iter().filter(|(_, at)| *at == Some(number)).map(|(l, _)| l).collect();
                            let (slug_p, name_p, slug_q, name_q) = (slug.clone(), name.clone(), slug.clone(), name.clone());
                            let diff = (number > 1).then(|| format!("/t/{}/prompts/{}/diff?a={}&b={}", slug, name, number - 1, number));
                            view! {
                                <tr data-testid=format!("prompt-version-{number}")>
                                    <td data-label="Version">{format!("v{number}")}
                                        {labels.into_iter().map(|l| view! { <span class="badge live">{l}</span> }).collect_view()}</td>
                                    <td data-label="Why">{v.note.clone()}<div class="muted small">{format!("{} · {}", v.author, v.created)}</div></td>
                                    <td class="actions">
                                        {diff.map(|h| view! { <a class="button small" href=h>"Diff"</a> })}
                                        {(detail.can_edit && detail.staging != Some(number)).then(|| view! {
                                            <button class="button small" type="button" data-testid=format!("staging-{number}")
                                                on:click=move |_| { label.dispatch(MovePromptLabel { slug: slug_p.clone(), name: name_p.clone(), label: "staging".into(), number }); }>"→ staging"</button>
                                        })}
                                        {(detail.can_edit && detail.production != Some(number)).then(|| view! {
                                            <button class="button small primary" type="button" data-testid=format!("production-{number}")
                                                on:click=move |_| { label.dispatch(MovePromptLabel { slug: slug_q.clone(), name: name_q.clone(), label: "production".into(), number }); }>"→ production"</button>
                                        })}
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </section>
        </div>
    }
}

#[component]
fn TryIt(slug: String, name: String, newest: i32, keys: Vec<String>) -> impl IntoView {
    let starter =
        format!("{{\n{}\n}}", keys.iter().map(|k| format!("  \"{k}\": {{}}")).collect::<Vec<_>>().join(",\n"));
    let context = RwSignal::new(starter);
    let tier = RwSignal::new("small".to_string());
    let run = ServerAction::<TryPrompt>::new();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        run.dispatch(TryPrompt {
            slug: slug.clone(),
            name: name.clone(),
            number: newest,
            tier: tier.get_untracked(),
            context: context.get_untracked(),
        });
    };
    view! {
        <section class="card" data-testid="try-it">
            <h2>"Try it"</h2>
            <p class="muted small">{format!("Fill in the context keys and run version {newest} on a tier's model (the built-in offline model needs no key).")}</p>
            <form on:submit=on_submit>
                <textarea class="code-area" rows="8" spellcheck="false" aria-label="Context (JSON)" data-testid="try-context"
                    prop:value=move || context.get() on:input=move |ev| context.set(event_target_value(&ev))></textarea>
                <ul class="issues">
                    {move || match run.value().get() {
                        Some(Err(crate::error::AppError::Invalid(list))) => list.into_iter()
                            .map(|f| view! { <li class="issue">{f.message}</li> }).collect_view().into_any(),
                        Some(Err(e)) => view! { <li class="issue">{e.to_string()}</li> }.into_any(),
                        _ => ().into_any(),
                    }}
                </ul>
                <div class="row-inline">
                    <select aria-label="Model tier" data-testid="try-tier" on:change=move |ev| tier.set(event_target_value(&ev))>
                        <option value="small">"small tier"</option>
                        <option value="premium">"premium tier"</option>
                    </select>
                    <button class="button" type="submit" data-testid="try-run" disabled=move || run.pending().get()>"Run"</button>
                </div>
            </form>
            {move || run.value().get().and_then(|r| r.ok()).map(|t| view! {
                <div class="try-result" data-testid="try-result">
                    <h3>"Rendered prompt"</h3>
                    <pre class="code-block" tabindex="0">{t.rendered}</pre>
                    <h3>{format!("Output ({})", t.model)}</h3>
                    <pre class="code-block" tabindex="0">{t.output}</pre>
                    {if t.schema_errors.is_empty() {
                        view! { <p class="notice" data-testid="schema-ok">"The output meets the response schema."</p> }.into_any()
                    } else {
                        view! { <ul class="issues">{t.schema_errors.into_iter().map(|e| view! { <li class="issue">{e}</li> }).collect_view()}</ul> }.into_any()
                    }}
                    <p class="muted small" data-testid="try-usage">{format!("{} tokens in, {} tokens out · estimated cost {}", t.tokens_in, t.tokens_out, t.cost)}</p>
                </div>
            })}
        </section>
    }
}

/// `/t/<slug>/prompts/<name>/diff?a=1&b=2`: two versions side by side.
#[component]
pub fn PromptDiffPage() -> impl IntoView {
    view! { <crate::components::diff::VersionDiff section="prompts" title="Prompts" load=prompt_diff /> }
}
