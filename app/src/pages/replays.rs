//! Replays: before a change is published, a workflow's version (or another
//! prompt version, or another model tier) is run in shadow over a dataset
//! of past events, and its drafts, decisions, review rate and cost are set
//! beside what production did and what the reviewers said. The workflow's
//! publish gate (owners set it) asks for a recent replay that is not worse.

use crate::components::confirm_button::ConfirmButton;
use crate::components::field::{Field, FormError, Loading};
use crate::components::refusal::Refusal;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

mod comparison;
pub use comparison::ReplayPage;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetLine {
    pub id: String,
    pub name: String,
    pub events: i64,
    pub picked: String,
    pub made: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayLine {
    pub id: String,
    pub dataset: String,
    /// "Version 3, lead_summary_v4 v5, premium tier".
    pub what: String,
    pub status: String,
    pub active: bool,
    pub progress: String,
    /// "Agreement 67% → 0%, 2 regressions", once finished.
    pub headline: Option<String>,
    pub started: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptChoice {
    pub name: String,
    pub versions: Vec<i32>,
    pub production: Option<i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateSettings {
    pub required: bool,
    pub within_days: u32,
    pub max_agreement_drop_points: f64,
    pub max_cost_increase_percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplaysView {
    pub workflow: String,
    pub versions: Vec<i32>,
    pub live_version: Option<i32>,
    pub prompts: Vec<PromptChoice>,
    pub datasets: Vec<DatasetLine>,
    pub gate: GateSettings,
    pub can_change: bool,
    pub is_owner: bool,
}

#[cfg(feature = "ssr")]
mod backend {
    pub fn percent(share: Option<f64>) -> String {
        share.map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_else(|| "–".into())
    }

    pub fn what(r: &store::replays::ReplayRow) -> String {
        let mut parts = vec![format!("Version {}", r.version)];
        parts.extend(r.prompt_versions.iter().map(|(name, v)| format!("{name} v{v}")));
        parts.extend(r.model_tier.iter().map(|t| format!("{t} tier")));
        parts.join(", ")
    }

    pub fn headline(s: &engine::replay::Summary) -> String {
        let regressions = match s.regressions {
            0 => "no regressions".to_owned(),
            1 => "1 regression".to_owned(),
            n => format!("{n} regressions"),
        };
        format!("Agreement {} → {}, {regressions}", percent(s.production.agreement), percent(s.replay.agreement))
    }
}

#[server(endpoint = "load_replays")]
pub async fn load_replays(slug: String, name: String) -> Result<ReplaysView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let o = store::replays::overview(&cx.state.db, &me, &name).await.map_err(|e| cx.dataset_error(e))?;
    Ok(ReplaysView {
        workflow: name,
        versions: o.versions,
        live_version: o.live_version,
        prompts: o
            .prompts
            .into_iter()
            .map(|(name, versions, production)| PromptChoice { name, versions, production })
            .collect(),
        datasets: o
            .datasets
            .into_iter()
            .map(|d| DatasetLine {
                id: d.id.to_string(),
                events: d.items,
                picked: serde_json::from_value::<store::datasets::Pick>(d.picked)
                    .map(|p| p.how.describe().to_owned())
                    .unwrap_or_else(|_| "picked one by one".into()),
                name: d.name,
                made: format!("{} by {}", crate::ssr::short_time(&d.created_at), d.created_by),
            })
            .collect(),
        gate: GateSettings {
            required: o.gate.required,
            within_days: o.gate.within_days,
            max_agreement_drop_points: o.gate.max_agreement_drop_points,
            max_cost_increase_percent: o.gate.max_cost_increase_percent,
        },
        can_change: crate::ssr::EDITORS.contains(&me.role),
        is_owner: me.role == engine::Role::Owner,
    })
}

/// The workflow's replays, newest first: what the page follows every second while one runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayLines {
    pub replays: Vec<ReplayLine>,
    pub can_cancel: bool,
}

#[server(endpoint = "list_replays")]
pub async fn list_replays(slug: String, name: String) -> Result<ReplayLines, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let rows = store::replays::list(&cx.state.db, &me, &name).await.map_err(|e| cx.dataset_error(e))?;
    Ok(ReplayLines {
        replays: rows
            .iter()
            .map(|r| ReplayLine {
                id: r.id.to_string(),
                dataset: r.dataset.clone(),
                what: backend::what(r),
                status: r.status.as_str().to_owned(),
                active: r.status.is_active(),
                progress: format!("{} of {}", r.done, r.total),
                headline: r.summary.as_ref().map(backend::headline),
                started: crate::ssr::short_time(&r.created_at),
            })
            .collect(),
        can_cancel: crate::ssr::EDITORS.contains(&me.role),
    })
}

/// `pick`: overridden, reviewed, failed, all or sample; `from`/`to`: dates (YYYY-MM-DD) or empty.
#[server(endpoint = "make_dataset")]
pub async fn make_dataset(
    slug: String,
    workflow: String,
    name: String,
    pick: String,
    from: String,
    to: String,
    size: String,
) -> Result<String, AppError> {
    use engine::FieldError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    let how = pick
        .parse::<engine::replay::DatasetPick>()
        .map_err(|_| cx.invalid(vec![FieldError::new("pick", "Choose which past runs to pick.")]))?;
    let day = |field: &'static str, text: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
        match text.trim() {
            "" => Ok(None),
            t => chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map(|d| Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
                .map_err(|_| cx.invalid(vec![FieldError::new(field, "Give a date as YYYY-MM-DD.")])),
        }
    };
    // The range's end day is included.
    let to = day("to", &to)?.map(|d| d + chrono::Duration::days(1));
    let size = size
        .trim()
        .parse::<u32>()
        .map_err(|_| cx.invalid(vec![FieldError::new("size", "Give a number of events.")]))?;
    let pick = store::datasets::Pick { how, from: day("from", &from)?, to, size };
    store::datasets::create(&cx.state.db, &me, &workflow, &name, &pick)
        .await
        .map(|(id, _)| id.to_string())
        .map_err(|e| cx.dataset_error(e))
}

#[server(endpoint = "delete_dataset")]
pub async fn delete_dataset(slug: String, dataset: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    let dataset = cx.uuid("dataset", &dataset)?;
    store::datasets::delete(&cx.state.db, &me, dataset).await.map_err(|e| cx.dataset_error(e))
}

/// `prompt_version`: a version of `prompt`, or empty for its production version; `model_tier`: empty, small or premium.
#[server(endpoint = "start_replay")]
pub async fn start_replay(
    slug: String,
    dataset: String,
    version: String,
    #[server(default)] prompt: String,
    #[server(default)] prompt_version: String,
    #[server(default)] model_tier: String,
) -> Result<String, AppError> {
    use engine::FieldError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    let dataset = cx.uuid("dataset", &dataset)?;
    let number = |field: &'static str, text: &str| {
        text.trim().parse::<i32>().map_err(|_| cx.invalid(vec![FieldError::new(field, "Choose a version.")]))
    };
    let mut replaying = store::replays::Replaying { version: number("version", &version)?, ..Default::default() };
    if !prompt.trim().is_empty() && !prompt_version.trim().is_empty() {
        replaying.prompt_versions.insert(prompt.trim().to_owned(), number("prompt_version", &prompt_version)?);
    }
    replaying.model_tier = match model_tier.trim() {
        "" => None,
        t => Some(t.parse().map_err(|_| cx.invalid(vec![FieldError::new("model_tier", "Choose small or premium.")]))?),
    };
    let id = store::replays::start(&cx.state.db, &me, dataset, &replaying).await.map_err(|e| cx.dataset_error(e))?;
    cx.state.wake_replay(store::jobs::ReplayJob::new(&me.tenant, id));
    Ok(id.to_string())
}

#[server(endpoint = "cancel_replay")]
pub async fn cancel_replay(slug: String, replay: String) -> Result<bool, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, crate::ssr::EDITORS).await?;
    let replay = cx.uuid("replay", &replay)?;
    store::replays::cancel(&cx.state.db, &me, replay).await.map_err(|e| cx.dataset_error(e))
}

#[server(endpoint = "set_publish_gate")]
pub async fn set_publish_gate(
    slug: String,
    workflow: String,
    #[server(default)] required: bool,
    within_days: String,
    max_agreement_drop_points: String,
    max_cost_increase_percent: String,
) -> Result<(), AppError> {
    use engine::FieldError;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::Workflows, &[engine::Role::Owner]).await?;
    let number = |field: &'static str, text: &str| {
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .ok_or_else(|| cx.invalid(vec![FieldError::new(field, "Give a number.")]))
    };
    let gate = engine::replay::PublishGate {
        required,
        within_days: number("within_days", &within_days)?.round().clamp(0.0, 10_000.0) as u32,
        max_agreement_drop_points: number("max_agreement_drop_points", &max_agreement_drop_points)?,
        max_cost_increase_percent: number("max_cost_increase_percent", &max_cost_increase_percent)?,
    };
    store::replays::set_gate(&cx.state.db, &me, &workflow, &gate).await.map_err(|e| cx.dataset_error(e))
}

/// Reloads `version` every second while `active` says there is something to watch (in the browser).
pub(crate) fn poll_while(active: Signal<bool>, version: RwSignal<u32>) {
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if !active.get() {
            return;
        }
        if let Ok(handle) =
            set_interval_with_handle(move || version.update(|v| *v += 1), std::time::Duration::from_secs(1))
        {
            on_cleanup(move || handle.clear());
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (active, version);
}

#[component]
pub fn ReplaysPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let name = crate::route::param("name");
    let make = ServerAction::<MakeDataset>::new();
    let start = ServerAction::<StartReplay>::new();
    let cancel = ServerAction::<CancelReplay>::new();
    let remove = ServerAction::<DeleteDataset>::new();
    let gate = ServerAction::<SetPublishGate>::new();
    // The forms reload after their own actions only; the list of replays follows running replays every second.
    let page = crate::resource::new(
        move || (slug.get(), name.get(), make.version().get(), remove.version().get(), gate.version().get()),
        |(slug, name, ..)| load_replays(slug, name),
    );
    let tick = RwSignal::new(0u32);
    let list = crate::resource::new(
        move || {
            (
                slug.get(),
                name.get(),
                make.version().get(),
                remove.version().get(),
                start.version().get(),
                cancel.version().get(),
                tick.get(),
            )
        },
        |(slug, name, ..)| list_replays(slug, name),
    );
    let active =
        Signal::derive(move || list.get().and_then(|p| p.ok()).is_some_and(|p| p.replays.iter().any(|r| r.active)));
    poll_while(active, tick);
    view! {
        <Title text=move || format!("Replays · {}", name.get()) />
        <section class="page-head">
            <p class="muted"><a href=move || format!("/t/{}/workflows/{}", slug.get(), name.get())>{move || format!("← {}", name.get())}</a></p>
            <h1>"Replays"</h1>
            <p class="muted">"Before you publish a change, run it over past events: Steward runs the new version's steps in shadow (models and rules for real, outside calls answered as production's were, no email, no Slack, no CRM update) and sets what it would have done beside what production did and what your reviewers said."</p>
        </section>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match page.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(v) => view! {
                        <Datasets slug=slug.get_untracked() view=v.clone() make remove />
                        <Show when={let can = v.can_change && !v.datasets.is_empty(); move || can}>
                            <StartReplayForm slug=slug.get_untracked() view=v.clone() start />
                        </Show>
                    }.into_any(),
                }
            })}
        </Suspense>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match list.await {
                    // The refusal is shown once, above.
                    Err(_) => ().into_any(),
                    Ok(v) => view! { <ReplayList slug=slug.get_untracked() workflow=name.get_untracked() lines=v cancel /> }.into_any(),
                }
            })}
        </Transition>
        <Suspense fallback=Loading>
            {move || Suspend::new(async move {
                match page.await {
                    Err(_) => ().into_any(),
                    Ok(v) => view! { <GateCard slug=slug.get_untracked() view=v gate /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

const PICKS: [(&str, &str); 5] = [
    ("overridden", "Runs a reviewer edited or rejected"),
    ("reviewed", "Runs a reviewer decided"),
    ("failed", "Runs that failed"),
    ("all", "Every finished run"),
    ("sample", "A random sample of finished runs"),
];

#[component]
fn Datasets(
    slug: String,
    view: ReplaysView,
    make: ServerAction<MakeDataset>,
    remove: ServerAction<DeleteDataset>,
) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let pick = RwSignal::new("overridden".to_string());
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let size = RwSignal::new("100".to_string());
    let error = move |field: &'static str| {
        Signal::derive(move || make.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let message = Signal::derive(move || {
        make.value()
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.form_message())
            .or_else(|| remove.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()))
    });
    let workflow = view.workflow.clone();
    let slug_make = slug.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        make.dispatch(MakeDataset {
            slug: slug_make.clone(),
            workflow: workflow.clone(),
            name: name.get(),
            pick: pick.get(),
            from: from.get(),
            to: to.get(),
            size: size.get(),
        });
    };
    let can_change = view.can_change;
    let rows = view
        .datasets
        .iter()
        .map(|d| {
            let (slug, id) = (slug.clone(), d.id.clone());
            view! {
                <tr data-testid="dataset-row">
                    <td data-label="Dataset">{d.name.clone()}</td>
                    <td data-label="Events" data-testid="dataset-events">{d.events}</td>
                    <td data-label="Picked">{d.picked.clone()}</td>
                    <td data-label="Made">{d.made.clone()}</td>
                    <td class="actions">
                        <Show when=move || can_change>
                            <ConfirmButton label="Delete" confirm="Confirm delete" testid="delete-dataset"
                                on_confirm=Callback::new({
                                    let (slug, id) = (slug.clone(), id.clone());
                                    move |_| { remove.dispatch(DeleteDataset { slug: slug.clone(), dataset: id.clone() }); }
                                }) />
                        </Show>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let empty = view.datasets.is_empty();
    view! {
        <section class="card">
            <h2>"Datasets"</h2>
            <p class="muted">"A dataset is a set of this workflow's past events, each kept with what production did: the draft, whether a person was asked, what the reviewer finally said, and what the models cost. Add a single run from its page."</p>
            {if empty {
                view! { <p class="muted" data-testid="no-datasets">"No datasets yet."</p> }.into_any()
            } else {
                view! {
                    <table class="table">
                        <thead><tr><th>"Dataset"</th><th>"Events"</th><th>"Picked"</th><th>"Made"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                        <tbody>{rows}</tbody>
                    </table>
                }.into_any()
            }}
            <Show when=move || can_change>
                <form class="stacked-form" data-testid="make-dataset" on:submit=on_submit.clone() novalidate>
                    <h3>"Make a dataset"</h3>
                    <Field name="name" label="Name" value=name error=error("name") hint="e.g. Overrides in November" />
                    <div class="field">
                        <label for="field-pick">"Which past runs"</label>
                        <select id="field-pick" name="pick" prop:value=move || pick.get() on:change=move |ev| pick.set(event_target_value(&ev))>
                            {PICKS.iter().map(|(value, label)| view! { <option value=*value>{*label}</option> }).collect_view()}
                        </select>
                        <p class="field-error" role="alert">{move || error("pick").get().unwrap_or_default()}</p>
                    </div>
                    <div class="field-row">
                        <Field name="from" label="From (optional)" kind="date" value=from error=error("from") />
                        <Field name="to" label="To (optional)" kind="date" value=to error=error("to") />
                        <Field name="size" label="At most" kind="number" value=size error=error("size") hint="events, newest first" />
                    </div>
                    <button class="button primary" type="submit" disabled=move || make.pending().get()>"Make dataset"</button>
                </form>
            </Show>
            <FormError message=message />
        </section>
    }
}

#[component]
fn StartReplayForm(slug: String, view: ReplaysView, start: ServerAction<StartReplay>) -> impl IntoView {
    let dataset = RwSignal::new(view.datasets.first().map(|d| d.id.clone()).unwrap_or_default());
    let version = RwSignal::new(view.versions.first().map(|v| v.to_string()).unwrap_or_default());
    let prompt = view.prompts.first().cloned();
    let prompt_version = RwSignal::new(String::new());
    let tier = RwSignal::new(String::new());
    let message = Signal::derive(move || start.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let error = move |field: &'static str| {
        Signal::derive(move || start.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let prompt_name = prompt.as_ref().map(|p| p.name.clone()).unwrap_or_default();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        start.dispatch(StartReplay {
            slug: slug.clone(),
            dataset: dataset.get(),
            version: version.get(),
            prompt: prompt_name.clone(),
            prompt_version: prompt_version.get(),
            model_tier: tier.get(),
        });
    };
    let live = view.live_version;
    view! {
        <section class="card">
            <h2>"Replay a change"</h2>
            <form class="stacked-form" data-testid="start-replay" on:submit=on_submit novalidate>
                <div class="field-row">
                    <div class="field">
                        <label for="field-dataset">"Over the dataset"</label>
                        <select id="field-dataset" name="dataset" prop:value=move || dataset.get() on:change=move |ev| dataset.set(event_target_value(&ev))>
                            {view.datasets.iter().map(|d| view! { <option value=d.id.clone()>{format!("{} ({} events)", d.name, d.events)}</option> }).collect_view()}
                        </select>
                        <p class="field-error" role="alert">{move || error("dataset").get().unwrap_or_default()}</p>
                    </div>
                    <div class="field">
                        <label for="field-version">"Workflow version"</label>
                        <select id="field-version" name="version" prop:value=move || version.get() on:change=move |ev| version.set(event_target_value(&ev))>
                            {view.versions.iter().map(|v| {
                                let label = if Some(*v) == live { format!("{v} (live)") } else { v.to_string() };
                                view! { <option value=v.to_string()>{label}</option> }
                            }).collect_view()}
                        </select>
                        <p class="field-error" role="alert">{move || error("version").get().unwrap_or_default()}</p>
                    </div>
                </div>
                <div class="field-row">
                    {prompt.map(|p| {
                        let production = p.production;
                        view! {
                            <div class="field">
                                <label for="field-prompt-version">{format!("Prompt {}", p.name)}</label>
                                <select id="field-prompt-version" name="prompt_version" prop:value=move || prompt_version.get() on:change=move |ev| prompt_version.set(event_target_value(&ev))>
                                    <option value="">{match production { Some(n) => format!("as in production (v{n})"), None => "the newest".into() }}</option>
                                    {p.versions.iter().map(|n| view! { <option value=n.to_string()>{format!("version {n}")}</option> }).collect_view()}
                                </select>
                                <p class="field-error" role="alert">{move || error("prompt_versions").get().or_else(|| error("prompt_version").get()).unwrap_or_default()}</p>
                            </div>
                        }
                    })}
                    <div class="field">
                        <label for="field-tier">"Model"</label>
                        <select id="field-tier" name="model_tier" prop:value=move || tier.get() on:change=move |ev| tier.set(event_target_value(&ev))>
                            <option value="">"as each step says"</option>
                            <option value="small">"the small tier for every step"</option>
                            <option value="premium">"the premium tier for every step"</option>
                        </select>
                        <p class="field-error" role="alert">{move || error("model_tier").get().unwrap_or_default()}</p>
                    </div>
                </div>
                <button class="button primary" type="submit" disabled=move || start.pending().get()>"Start replay"</button>
            </form>
            <FormError message=message />
        </section>
    }
}

#[component]
fn ReplayList(slug: String, workflow: String, lines: ReplayLines, cancel: ServerAction<CancelReplay>) -> impl IntoView {
    if lines.replays.is_empty() {
        return view! {
            <section class="card">
                <h2>"Replays"</h2>
                <p class="muted" data-testid="no-replays">"No replays yet. Make a dataset, then replay a version over it."</p>
            </section>
        }
        .into_any();
    }
    let can_change = lines.can_cancel;
    let rows = lines
        .replays
        .into_iter()
        .map(|r| {
            let href = format!("/t/{slug}/workflows/{workflow}/replays/{}", r.id);
            let (slug, id, active) = (slug.clone(), r.id.clone(), r.active);
            view! {
                <tr data-testid="replay-row">
                    <td data-label="Started">{r.started.clone()}</td>
                    <td data-label="Replayed">{r.what.clone()}<br /><span class="muted small">{format!("over {}", r.dataset)}</span></td>
                    <td data-label="Progress"><span class=format!("badge status-{}", r.status) data-testid="replay-status">{r.status.clone()}</span>" "<span data-testid="replay-progress">{r.progress.clone()}</span></td>
                    <td data-label="Result" data-testid="replay-headline">{r.headline.clone().unwrap_or_default()}</td>
                    <td class="actions">
                        <a class="button small" href=href data-testid="open-replay">"Compare"</a>
                        <Show when=move || can_change && active>
                            <button class="button danger small" type="button" data-testid="cancel-replay" on:click={
                                let (slug, id) = (slug.clone(), id.clone());
                                move |_| { cancel.dispatch(CancelReplay { slug: slug.clone(), replay: id.clone() }); }
                            }>"Cancel"</button>
                        </Show>
                    </td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <section class="card">
            <h2>"Replays"</h2>
            <table class="table">
                <thead><tr><th>"Started"</th><th>"Replayed"</th><th>"Progress"</th><th>"Result"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </section>
    }
    .into_any()
}

#[component]
fn GateCard(slug: String, view: ReplaysView, gate: ServerAction<SetPublishGate>) -> impl IntoView {
    let g = view.gate.clone();
    let required = RwSignal::new(g.required);
    let days = RwSignal::new(g.within_days.to_string());
    let drop = RwSignal::new(format!("{}", g.max_agreement_drop_points));
    let cost = RwSignal::new(format!("{}", g.max_cost_increase_percent));
    let error = move |field: &'static str| {
        Signal::derive(move || gate.value().get().and_then(|r| r.err()).and_then(|e| e.field(field)))
    };
    let message = Signal::derive(move || gate.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let saved = Signal::derive(move || matches!(gate.value().get(), Some(Ok(()))));
    let workflow = view.workflow.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        gate.dispatch(SetPublishGate {
            slug: slug.clone(),
            workflow: workflow.clone(),
            required: required.get(),
            within_days: days.get(),
            max_agreement_drop_points: drop.get(),
            max_cost_increase_percent: cost.get(),
        });
    };
    let rule = if g.required {
        format!(
            "A new version is published only after a replay in the last {} days whose agreement with reviewers is at most {} points lower than production's and whose model cost per run is at most {}% higher. A version that was live before can be restored without one.",
            g.within_days, g.max_agreement_drop_points, g.max_cost_increase_percent
        )
    } else {
        "Publishing does not ask for a replay.".to_owned()
    };
    view! {
        <section class="card">
            <h2>"Publish gate"</h2>
            <p data-testid="gate-rule">{rule}</p>
            {if view.is_owner {
                view! {
                    <form class="stacked-form" data-testid="gate-form" on:submit=on_submit novalidate>
                        <label class="check">
                            <input type="checkbox" name="required" data-testid="gate-required" prop:checked=move || required.get() on:change=move |ev| required.set(event_target_checked(&ev)) />
                            "Ask for a replay before a version is published"
                        </label>
                        <div class="field-row">
                            <Field name="within_days" label="Replay within (days)" kind="number" value=days error=error("within_days") />
                            <Field name="max_agreement_drop_points" label="Agreement may drop by at most (points)" kind="number" value=drop error=error("max_agreement_drop_points") />
                            <Field name="max_cost_increase_percent" label="Cost per run may rise by at most (%)" kind="number" value=cost error=error("max_cost_increase_percent") />
                        </div>
                        <button class="button primary" type="submit" disabled=move || gate.pending().get()>"Save the gate"</button>
                        <Show when=move || saved.get()><p class="notice" role="status">"Saved."</p></Show>
                    </form>
                    <FormError message=message />
                }.into_any()
            } else {
                view! { <p class="muted">"Owners set the gate."</p> }.into_any()
            }}
        </section>
    }
}
