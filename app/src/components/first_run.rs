//! The owner's first-run checklist on the dashboard: ticks that follow the
//! business's real state, a link to where each step is done, gone when
//! everything is done or the owner dismisses it.

use crate::error::AppError;
use crate::resource::Workspace;
use crate::views::ChecklistView;
use engine::first_run::FirstRunStep;
use leptos::prelude::*;

/// The checklist, or None when it is done, dismissed, or not the owner's to see.
#[server(endpoint = "load_checklist")]
pub async fn load_checklist(slug: String) -> Result<Option<ChecklistView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Dashboard, &[engine::Role::Owner]).await?;
    let list =
        store::first_run::checklist(&cx.state.db, &me).await.map_err(|e| cx.internal("reading the checklist", e))?;
    Ok((!list.dismissed && !list.done())
        .then_some(ChecklistView { steps: list.steps, first_workflow: list.first_workflow }))
}

/// Hides the checklist for good, or ticks the model step with the offline model.
#[server(endpoint = "first_run_choice")]
pub async fn first_run_choice(slug: String, keep_offline_model: bool) -> Result<(), AppError> {
    use store::first_run::Choice;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Dashboard, &[engine::Role::Owner]).await?;
    let choice = if keep_offline_model { Choice::KeepOfflineModel } else { Choice::Dismiss };
    store::first_run::choose(&cx.state.db, &me, choice).await.map_err(|e| cx.internal("saving your choice", e))
}

/// The checklist, shown to the business's owner (`workspace`: the signed-in member).
#[component]
pub fn FirstRunChecklist(#[prop(into)] slug: Signal<String>, workspace: Workspace) -> impl IntoView {
    let choice = ServerAction::<FirstRunChoice>::new();
    let list = crate::resource::new(
        move || (slug.get(), choice.version().get()),
        move |(slug, _)| async move {
            match workspace.await {
                Ok(ws) if ws.role == engine::Role::Owner => load_checklist(slug).await,
                _ => Ok(None),
            }
        },
    );
    view! {
        <Suspense fallback=|| ()>
            {move || {
                let slug = slug.get();
                Suspend::new(async move {
                    let Ok(Some(list)) = list.await else { return ().into_any() };
                    let done = list.steps.iter().filter(|(_, d)| *d).count();
                    let total = list.steps.len();
                    let workflow = list.first_workflow.clone();
                    let (slug_keep, slug_dismiss) = (slug.clone(), slug.clone());
                    view! {
                        <section class="card checklist" data-testid="checklist">
                            <div class="row-inline spread">
                                <h2>"Your first hour"</h2>
                                <span class="muted small" data-testid="checklist-progress">{format!("{done} of {total} done")}</span>
                            </div>
                            <ol>
                                {list.steps.into_iter().map(|(step, ticked)| {
                                    let href = step.href(&slug, workflow.as_deref());
                                    let keep = (step == FirstRunStep::ChooseModel && !ticked).then(|| {
                                        let slug = slug_keep.clone();
                                        view! {
                                            <button class="button small" type="button" data-testid="keep-offline"
                                                on:click=move |_| { choice.dispatch(FirstRunChoice { slug: slug.clone(), keep_offline_model: true }); }>
                                                "Keep the offline model"
                                            </button>
                                        }
                                    });
                                    view! {
                                        <li class:done=ticked data-testid=format!("step-{step:?}") data-done=ticked.to_string()>
                                            <span class="tick" aria-hidden="true">{if ticked { "✓" } else { "" }}</span>
                                            <div>
                                                <a href=href>{step.title()}</a>
                                                <span class="sr-only">{if ticked { " (done)" } else { " (to do)" }}</span>
                                                <p class="muted small">{step.hint()}</p>
                                                {keep}
                                            </div>
                                        </li>
                                    }
                                }).collect_view()}
                            </ol>
                            <button class="button subtle small" type="button" data-testid="dismiss-checklist"
                                on:click=move |_| { choice.dispatch(FirstRunChoice { slug: slug_dismiss.clone(), keep_offline_model: false }); }>
                                "Hide this checklist"
                            </button>
                        </section>
                    }.into_any()
                })
            }}
        </Suspense>
    }
}
