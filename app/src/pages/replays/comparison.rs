//! One replay: production beside the replayed version, in figures (agreement
//! with the reviewers, share sent to a person, model cost and tokens per
//! run, time, confidence histograms) and event by event, regressions first,
//! with the drafts' field-by-field differences.

#[cfg(feature = "ssr")]
use super::backend;
use super::{poll_while, CancelReplay};
use crate::components::field::Loading;
use crate::components::refusal::Refusal;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

/// One figure, production beside the replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FigureRow {
    pub label: String,
    pub production: String,
    pub replay: String,
    pub change: String,
    /// The change is for the worse.
    pub worse: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDiffRow {
    pub field: String,
    pub production: String,
    pub replay: String,
    pub similarity: Option<String>,
}

/// One event, production beside the replay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventRow {
    pub run_id: String,
    pub title: String,
    pub production_path: String,
    pub replay_path: String,
    pub path_changed: bool,
    /// What the reviewer said: "approved", "edited", "rejected (wrong_facts)", "not reviewed".
    pub answer: String,
    pub production_agrees: Option<bool>,
    pub replay_agrees: Option<bool>,
    pub regressions: Vec<String>,
    pub improved: bool,
    pub changes: Vec<FieldDiffRow>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayDetailView {
    pub id: String,
    pub workflow: String,
    pub what: String,
    pub dataset: String,
    pub status: String,
    pub active: bool,
    pub progress: String,
    pub error: Option<String>,
    pub figures: Vec<FigureRow>,
    pub counts: Vec<(String, String)>,
    pub confidence_production: Vec<u32>,
    pub confidence_replay: Vec<u32>,
    pub events: Vec<EventRow>,
    pub can_cancel: bool,
}

/// A draft's field path as a label: `next_step` → "Next step", `contact.email` → "Contact email".
#[cfg(feature = "ssr")]
fn field_label(path: &str) -> String {
    let words = path.replace(['_', '.'], " ");
    let mut chars = words.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[server(endpoint = "replay_detail")]
pub async fn replay_detail(slug: String, replay: String) -> Result<ReplayDetailView, AppError> {
    use engine::replay::ReviewerAnswer;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Workflows).await?;
    let id = cx.uuid("replay", &replay)?;
    let d = store::replays::detail(&cx.state.db, &me, id).await.map_err(|e| cx.dataset_error(e))?;
    let currency = d.currency;
    let s = &d.summary;
    let (p, r) = (&s.production, &s.replay);
    let points = |change: Option<f64>| change.map(|c| format!("{c:+.1} points")).unwrap_or_else(|| "–".into());
    let to_person_change = (r.to_person - p.to_person) * 100.0;
    let figures = vec![
        FigureRow {
            label: "Agreement with the reviewers".into(),
            production: backend::percent(p.agreement),
            replay: backend::percent(r.agreement),
            change: points(s.agreement_change_points()),
            worse: s.agreement_change_points().is_some_and(|c| c < -0.05),
        },
        FigureRow {
            label: "Sent to a person".into(),
            production: backend::percent(Some(p.to_person)),
            replay: backend::percent(Some(r.to_person)),
            change: format!("{to_person_change:+.1} points"),
            worse: false,
        },
        FigureRow {
            label: "Model cost per run".into(),
            production: currency.precise(p.cost_per_run_micros),
            replay: currency.precise(r.cost_per_run_micros),
            change: match s.cost_change_percent() {
                Some(c) => format!("{c:+.0}%"),
                None => "up from nothing".into(),
            },
            worse: s.cost_change_percent().is_none_or(|c| c > 0.5),
        },
        FigureRow {
            label: "Tokens per run".into(),
            production: p.tokens_per_run.to_string(),
            replay: r.tokens_per_run.to_string(),
            change: format!("{:+}", r.tokens_per_run - p.tokens_per_run),
            worse: false,
        },
        FigureRow {
            label: "Median time in steps".into(),
            production: format!("{} ms", p.median_latency_ms),
            replay: format!("{} ms", r.median_latency_ms),
            change: format!("{:+} ms", r.median_latency_ms - p.median_latency_ms),
            worse: false,
        },
        FigureRow {
            label: "Could not finish".into(),
            production: p.errors.to_string(),
            replay: r.errors.to_string(),
            change: format!("{:+}", r.errors as i64 - p.errors as i64),
            worse: r.errors > p.errors,
        },
    ];
    let counts = vec![
        ("Events".to_owned(), s.events.to_string()),
        ("Approved or edited by a reviewer".to_owned(), s.answered.to_string()),
        ("Rejected by a reviewer".to_owned(), s.rejected.to_string()),
        ("Drafts that change".to_owned(), s.drafts_changed.to_string()),
        ("Paths that change".to_owned(), s.paths_changed.to_string()),
        ("Regressions".to_owned(), s.regressions.to_string()),
        ("Improvements".to_owned(), s.improvements.to_string()),
    ];
    let show = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "—".into(),
        other => other.to_string(),
    };
    let events = d
        .results
        .iter()
        .map(|e| EventRow {
            run_id: e.run_id.to_string(),
            title: engine::record_title::record_title(&e.event).unwrap_or_else(|| e.run_id.to_string()),
            production_path: e.production.outcome.path.describe(),
            replay_path: e.outcome.path.describe(),
            path_changed: e.comparison.path_changed,
            answer: match &e.production.answer {
                Some(ReviewerAnswer::Approved) => "approved".into(),
                Some(ReviewerAnswer::Edited { .. }) => "edited".into(),
                Some(ReviewerAnswer::Rejected { reason_code }) => match reason_code {
                    Some(code) => format!("rejected ({code})"),
                    None => "rejected".into(),
                },
                None => "not reviewed".into(),
            },
            production_agrees: e.comparison.production_agrees,
            replay_agrees: e.comparison.replay_agrees,
            regressions: e.comparison.regressions.clone(),
            improved: e.comparison.improved,
            changes: e
                .comparison
                .draft_changes
                .iter()
                .map(|c| FieldDiffRow {
                    field: field_label(&c.path),
                    production: show(&c.before),
                    replay: show(&c.after),
                    similarity: c.similarity.map(|s| format!("{:.0}% alike", s * 100.0)),
                })
                .collect(),
            error: e.outcome.error.clone(),
        })
        .collect();
    Ok(ReplayDetailView {
        id: d.replay.id.to_string(),
        workflow: d.replay.workflow_name.clone(),
        what: backend::what(&d.replay),
        dataset: d.replay.dataset.clone(),
        status: d.replay.status.as_str().to_owned(),
        active: d.replay.status.is_active(),
        progress: format!("{} of {}", d.replay.done, d.replay.total),
        error: d.replay.error.clone(),
        figures,
        counts,
        confidence_production: p.confidence.to_vec(),
        confidence_replay: r.confidence.to_vec(),
        events,
        can_cancel: crate::ssr::EDITORS.contains(&me.role) && d.replay.status.is_active(),
    })
}

#[component]
pub fn ReplayPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let name = crate::route::param("name");
    let id = crate::route::param("id");
    let cancel = ServerAction::<CancelReplay>::new();
    let tick = RwSignal::new(0u32);
    let detail = crate::resource::new(
        move || (slug.get(), id.get(), cancel.version().get(), tick.get()),
        |(slug, id, ..)| replay_detail(slug, id),
    );
    let active = Signal::derive(move || detail.get().and_then(|d| d.ok()).is_some_and(|d| d.active));
    poll_while(active, tick);
    view! {
        <Title text="Replay" />
        <section class="page-head">
            <p class="muted"><a href=move || format!("/t/{}/workflows/{}/replays", slug.get(), name.get())>"← Replays"</a></p>
            <h1>"Replay"</h1>
        </section>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(d) => view! { <Comparison slug=slug.get_untracked() detail=d cancel /> }.into_any(),
                }
            })}
        </Transition>
    }
}

fn histogram(label: &'static str, counts: Vec<u32>, testid: &'static str) -> impl IntoView {
    let most = counts.iter().copied().max().unwrap_or(0).max(1);
    let described = format!(
        "{label}: {}",
        counts
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{}–{}%: {n}", i * 10, i * 10 + 10))
            .collect::<Vec<_>>()
            .join(", ")
    );
    view! {
        <div class="histogram" data-testid=testid>
            <p class="small muted">{label}</p>
            <div class="bars" role="img" aria-label=described>
                {counts.into_iter().map(|n| {
                    let height = format!("height:{}%", (n as f64 / most as f64 * 100.0).round());
                    view! { <span class="bar" style=height title=n.to_string()></span> }
                }).collect_view()}
            </div>
            <div class="axis small muted" aria-hidden="true"><span>"0"</span><span>"0.5"</span><span>"1"</span></div>
        </div>
    }
}

fn agrees(v: Option<bool>) -> &'static str {
    match v {
        Some(true) => "matches",
        Some(false) => "differs",
        None => "–",
    }
}

#[component]
fn Comparison(slug: String, detail: ReplayDetailView, cancel: ServerAction<CancelReplay>) -> impl IntoView {
    let d = detail;
    let figures = d
        .figures
        .into_iter()
        .map(|f| {
            view! {
                <tr class:worse=f.worse data-testid="figure">
                    <th scope="row">{f.label}</th>
                    <td data-label="Production">{f.production}</td>
                    <td data-label="Replay">{f.replay}</td>
                    <td data-label="Change">{f.change}</td>
                </tr>
            }
        })
        .collect_view();
    let counts = d
        .counts
        .into_iter()
        .map(|(label, n)| view! { <div class="count"><dt>{label}</dt><dd>{n}</dd></div> })
        .collect_view();
    let events = d
        .events
        .into_iter()
        .map(|e| {
            let run_href = format!("/t/{slug}/runs/{}", e.run_id);
            let changes = e
                .changes
                .into_iter()
                .map(|c| {
                    view! {
                        <tr>
                            <th scope="row">{c.field}</th>
                            <td data-label="Production">{c.production}</td>
                            <td data-label="Replay">{c.replay}</td>
                            <td data-label="Alike">{c.similarity.unwrap_or_default()}</td>
                        </tr>
                    }
                })
                .collect_view();
            let badge = if !e.regressions.is_empty() {
                Some(("regression", "Regression"))
            } else if e.improved {
                Some(("improved", "Improved"))
            } else {
                None
            };
            view! {
                <article class="card replay-event" data-testid="replay-event">
                    <header>
                        <h3><a href=run_href>{e.title}</a></h3>
                        {badge.map(|(class, text)| view! { <span class=format!("badge status-{class}") data-testid="event-badge">{text}</span> })}
                    </header>
                    <ul class="regressions">{e.regressions.into_iter().map(|r| view! { <li>{r}</li> }).collect_view()}</ul>
                    <dl class="pairs">
                        <div><dt>"Production"</dt><dd>{e.production_path}</dd></div>
                        <div><dt>"Replay"</dt><dd class:changed=e.path_changed>{e.replay_path}</dd></div>
                        <div><dt>"Reviewer"</dt><dd>{format!("{} · production's draft {} · the replay's {}", e.answer, agrees(e.production_agrees), agrees(e.replay_agrees))}</dd></div>
                    </dl>
                    {e.error.map(|err| view! { <p class="form-error">{err}</p> })}
                    {(!changes.is_empty()).then(|| view! {
                        <table class="table compact" data-testid="draft-changes">
                            <thead><tr><th>"Field"</th><th>"Production's draft"</th><th>"Replay's draft"</th><th>"Alike"</th></tr></thead>
                            <tbody>{changes}</tbody>
                        </table>
                    })}
                </article>
            }
        })
        .collect_view();
    let (id, can_cancel) = (d.id.clone(), d.can_cancel);
    view! {
        <section class="card">
            <h2 data-testid="replay-what">{format!("{} over {}", d.what, d.dataset)}</h2>
            <p>
                <span class=format!("badge status-{}", d.status) data-testid="replay-status">{d.status.clone()}</span>
                " "<span data-testid="replay-progress">{d.progress}</span>" events"
            </p>
            {d.error.map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            <Show when=move || can_cancel>
                <button class="button danger small" type="button" data-testid="cancel-replay" on:click={
                    let (slug, id) = (slug.clone(), id.clone());
                    move |_| { cancel.dispatch(CancelReplay { slug: slug.clone(), replay: id.clone() }); }
                }>"Cancel the replay"</button>
            </Show>
            <table class="table figures" data-testid="replay-figures">
                <thead><tr><th>"Figure"</th><th>"Production"</th><th>"Replay"</th><th>"Change"</th></tr></thead>
                <tbody>{figures}</tbody>
            </table>
            <dl class="counts" data-testid="replay-counts">{counts}</dl>
            <div class="histograms">
                {histogram("Confidence, production", d.confidence_production, "confidence-production")}
                {histogram("Confidence, replay", d.confidence_replay, "confidence-replay")}
            </div>
        </section>
        <h2 class="section-title">"Event by event, regressions first"</h2>
        {events}
    }
}
