//! On a run's page: keep the run for replays, in one of its workflow's
//! datasets (engineers and owners; nothing shows for other roles).

use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Adds a past run to a dataset of its workflow (from the run's page).
#[server(endpoint = "add_run_to_dataset")]
pub async fn add_run_to_dataset(slug: String, dataset: String, run: String) -> Result<bool, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    let (dataset, run) = (cx.uuid("dataset", &dataset)?, cx.uuid("run_id", &run)?);
    store::datasets::add_run(&cx.state.db, &me, dataset, run).await.map_err(|e| cx.dataset_error(e))
}

/// The datasets a run could join (its workflow's), and whether the viewer may add it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetChoices {
    pub datasets: Vec<(String, String)>,
    pub can_add: bool,
}

/// Nothing is offered to a role that does not change datasets (and nothing is refused: the run's page is theirs to read).
#[server(endpoint = "datasets_for_run")]
pub async fn datasets_for_run(slug: String, run: String) -> Result<DatasetChoices, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Runs).await?;
    if !crate::ssr::EDITORS.contains(&me.role) {
        return Ok(DatasetChoices { datasets: vec![], can_add: false });
    }
    let run = cx.uuid("run_id", &run)?;
    let rows = store::datasets::for_run(&cx.state.db, &me, run).await.map_err(|e| cx.dataset_error(e))?;
    Ok(DatasetChoices {
        datasets: rows
            .unwrap_or_default()
            .into_iter()
            .map(|d| (d.id.to_string(), format!("{} ({} events)", d.name, d.items)))
            .collect(),
        can_add: true,
    })
}

/// On a run's page: add the run to one of its workflow's datasets (engineers and owners).
#[component]
pub fn AddToDataset(slug: Memo<String>, run: Memo<String>) -> impl IntoView {
    let add = ServerAction::<AddRunToDataset>::new();
    let choices = crate::resource::new(move || (slug.get(), run.get()), |(slug, run)| datasets_for_run(slug, run));
    let outcome = Signal::derive(move || match add.value().get() {
        Some(Ok(true)) => Some("Added to the dataset.".to_owned()),
        Some(Ok(false)) => Some("The run is already in that dataset.".to_owned()),
        Some(Err(e)) => e.form_message().or_else(|| e.field("dataset")).or_else(|| e.field("run_id")),
        None => None,
    });
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match choices.await {
                    Ok(c) if c.can_add && !c.datasets.is_empty() => {
                        let chosen = RwSignal::new(c.datasets[0].0.clone());
                        view! {
                            <section class="card">
                                <h2>"Keep for replays"</h2>
                                <form class="inline-form" data-testid="add-to-dataset" on:submit=move |ev: leptos::ev::SubmitEvent| {
                                    ev.prevent_default();
                                    add.dispatch(AddRunToDataset { slug: slug.get_untracked(), dataset: chosen.get_untracked(), run: run.get_untracked() });
                                }>
                                    <label for="field-add-dataset">"Add this run to the dataset"</label>
                                    <select id="field-add-dataset" prop:value=move || chosen.get() on:change=move |ev| chosen.set(event_target_value(&ev))>
                                        {c.datasets.iter().map(|(id, name)| view! { <option value=id.clone()>{name.clone()}</option> }).collect_view()}
                                    </select>
                                    <button class="button small" type="submit" disabled=move || add.pending().get()>"Add"</button>
                                </form>
                                <p class="small" role="status" data-testid="add-to-dataset-outcome">{move || outcome.get().unwrap_or_default()}</p>
                            </section>
                        }.into_any()
                    }
                    // Not a role that adds, or no dataset yet: nothing to offer.
                    _ => ().into_any(),
                }
            })}
        </Suspense>
    }
}
