//! The review queue: every task a person must decide, most urgent first
//! (P1–P3), with filters, claim and release, bulk reassign and close for
//! operations, the reviewer's and operations' figures, and one task's page
//! with keyboard shortcuts (a approve · e edit and approve · r reject · n next).

use crate::components::edit_changes::EditChanges;
use crate::components::field::FormError;
use crate::components::offline_badge::OfflineBadge;
use crate::components::record::Record;
use crate::components::refusal::Refusal;
use crate::error::AppError;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueTaskView {
    pub id: String,
    pub run_id: String,
    pub priority: String,
    pub workflow: String,
    pub reason: String,
    pub why: String,
    pub age: String,
    pub assignee: Option<String>,
    pub escalated: bool,
    pub mine: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateView {
    pub who: String,
    pub decided: usize,
    pub agreement: String,
    pub median_minutes: String,
    pub escalated: usize,
    pub overrides: String,
}

/// The queue at the end of one day, for the operations chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueDayView {
    pub day: String,
    pub open: i64,
    pub oldest_hours: f64,
}

/// The most urgent tasks a queue page lists.
pub const QUEUE_PAGE: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueView {
    pub tasks: Vec<QueueTaskView>,
    /// Tasks that pass the filter (the page lists at most QUEUE_PAGE).
    pub total: usize,
    /// Every open task.
    pub open: usize,
    pub me: String,
    pub my_open: usize,
    pub near_sla: usize,
    pub escalated: usize,
    pub history: Vec<QueueDayView>,
    pub my_decisions_week: usize,
    pub oldest: String,
    pub per_reviewer: Vec<(String, usize)>,
    pub by_workflow: Vec<RateView>,
    pub by_reviewer: Vec<RateView>,
    pub supervisor: bool,
    pub reason_codes: Vec<String>,
}

#[cfg(feature = "ssr")]
mod backend {
    use crate::error::AppError;
    use crate::ssr::Ctx;
    use actix_web::http::StatusCode;

    pub fn task_id(cx: &Ctx, id: &str) -> Result<uuid::Uuid, AppError> {
        id.parse().map_err(|_| cx.refused(StatusCode::NOT_FOUND, "There is no such review task."))
    }

    pub fn task_ids(cx: &Ctx, ids: &str) -> Result<Vec<uuid::Uuid>, AppError> {
        let ids: Result<Vec<uuid::Uuid>, _> =
            ids.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect();
        match ids {
            Ok(ids) if !ids.is_empty() => Ok(ids),
            _ => Err(cx.invalid(vec![engine::FieldError::new("tasks", "Select at least one task.")])),
        }
    }

    pub fn age(minutes: f64) -> String {
        if minutes < 60.0 {
            format!("{:.0} min", minutes.max(0.0))
        } else if minutes < 48.0 * 60.0 {
            format!("{:.1} h", minutes / 60.0)
        } else {
            format!("{:.0} d", minutes / 1440.0)
        }
    }

    pub fn rate(who: String, a: &engine::review::Agreement) -> super::RateView {
        super::RateView {
            who,
            decided: a.decided,
            agreement: a.agreement_rate.map(|r| format!("{:.0}%", r * 100.0)).unwrap_or_else(|| "—".into()),
            median_minutes: a.median_minutes_to_decision.map(age).unwrap_or_else(|| "—".into()),
            escalated: a.escalated,
            overrides: a
                .override_rate_by_reason
                .iter()
                .map(|(k, v)| format!("{k} {:.0}%", v * 100.0))
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

#[server(endpoint = "review_queue")]
pub async fn review_queue(
    slug: String,
    #[server(default)] priority: String,
    #[server(default)] workflow: String,
    #[server(default)] reason: String,
    #[server(default)] assignee: String,
    #[server(default)] older_than: String,
    #[server(default)] sort: String,
) -> Result<QueueView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ReviewQueue).await?;
    let some = |s: String| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let assignee = match assignee.as_str() {
        "me" => Some(me.email.clone()),
        other => some(other.to_owned()),
    };
    let min_age_minutes = match older_than.trim() {
        "" => None,
        m => Some(
            m.parse::<f64>()
                .map_err(|_| cx.invalid(vec![engine::FieldError::new("older_than", "Give the age in minutes.")]))?,
        ),
    };
    let filter = store::reviews::QueueFilter {
        priority: some(priority),
        workflow: some(workflow),
        reason: some(reason),
        assignee,
        min_age_minutes,
        sort,
    };
    let db = &cx.state.db;
    let page = store::reviews::queue(db, &me.tenant, &me.email, &filter, QUEUE_PAGE)
        .await
        .map_err(|e| cx.internal("reading the queue", e))?;
    let measures =
        store::reviews::measures(db, &me.tenant, 30).await.map_err(|e| cx.internal("reading the measures", e))?;
    let week = store::reviews::measures(db, &me.tenant, 7).await.map_err(|e| cx.internal("reading the measures", e))?;
    let supervisor = matches!(me.role, engine::Role::Operations | engine::Role::Owner);
    let history = if supervisor {
        store::reviews::history(db, &me.tenant, 14).await.map_err(|e| cx.internal("reading the queue history", e))?
    } else {
        Vec::new()
    };
    let f = &page.figures;
    Ok(QueueView {
        total: page.matching,
        open: f.open,
        my_open: f.claimed_by_me,
        near_sla: f.near_sla,
        escalated: f.escalated,
        my_decisions_week: week
            .by_reviewer
            .iter()
            .find(|(who, _)| *who == me.email)
            .map(|(_, a)| a.decided)
            .unwrap_or(0),
        oldest: f.oldest_minutes.map(backend::age).unwrap_or_else(|| "—".into()),
        per_reviewer: f.per_assignee.clone(),
        by_workflow: measures.by_workflow.iter().map(|(w, a)| backend::rate(w.clone(), a)).collect(),
        by_reviewer: measures.by_reviewer.iter().map(|(w, a)| backend::rate(w.clone(), a)).collect(),
        history: history
            .iter()
            .map(|d| QueueDayView {
                day: d.day.format("%b %-d").to_string(),
                open: d.open as i64,
                oldest_hours: d.oldest_minutes / 60.0,
            })
            .collect(),
        supervisor,
        reason_codes: store::reviews::reason_codes(db, &me.tenant)
            .await
            .map_err(|e| cx.internal("reading reason codes", e))?,
        tasks: page
            .tasks
            .iter()
            .map(|(t, detail)| QueueTaskView {
                id: t.id.to_string(),
                run_id: t.run_id.to_string(),
                priority: t.priority().as_str().into(),
                workflow: t.workflow_name.clone(),
                reason: t.reason.to_string(),
                why: engine::review::explain(t.reason, detail).join(" ").chars().take(160).collect(),
                age: backend::age(t.age_minutes),
                assignee: t.claimed_by.clone(),
                escalated: t.escalated_at.is_some(),
                mine: t.claimed_by.as_deref() == Some(me.email.as_str()),
            })
            .collect(),
        me: me.email,
    })
}

#[server(endpoint = "claim_task")]
pub async fn claim_task(slug: String, task: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ReviewQueue).await?;
    let id = backend::task_id(&cx, &task)?;
    store::reviews::claim(&cx.state.db, &me, id).await.map_err(|e| cx.review_error(e))
}

#[server(endpoint = "release_task")]
pub async fn release_task(slug: String, task: String) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ReviewQueue).await?;
    let id = backend::task_id(&cx, &task)?;
    store::reviews::release(&cx.state.db, &me, id).await.map_err(|e| cx.review_error(e))
}

/// Operations: hand tasks (comma-separated ids) to a reviewer.
#[server(endpoint = "reassign_tasks")]
pub async fn reassign_tasks(slug: String, tasks: String, assignee: String) -> Result<usize, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::ReviewQueue, store::reviews::SUPERVISORS).await?;
    let ids = backend::task_ids(&cx, &tasks)?;
    store::reviews::reassign(&cx.state.db, &me, &ids, &assignee).await.map_err(|e| cx.review_error(e))
}

/// Operations: close tasks nobody will decide, with a reason.
#[server(endpoint = "close_tasks")]
pub async fn close_tasks(
    slug: String,
    tasks: String,
    reason_code: String,
    #[server(default)] comment: String,
) -> Result<usize, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member_in(&slug, engine::Page::ReviewQueue, store::reviews::SUPERVISORS).await?;
    let ids = backend::task_ids(&cx, &tasks)?;
    let wakes =
        store::reviews::close(&cx.state.db, &me, &ids, &reason_code, &comment).await.map_err(|e| cx.review_error(e))?;
    for job in &wakes {
        cx.state.wake(job.clone());
    }
    Ok(ids.len())
}

/// A person's decision on a review task: approve, edit and approve (the
/// edited JSON must meet the response schema), or reject. Resumes the run.
#[server(endpoint = "decide_review")]
pub async fn decide_review(
    slug: String,
    task: String,
    decision: String,
    #[server(default)] edited_output: String,
    #[server(default)] reason_code: String,
    #[server(default)] comment: String,
) -> Result<(), AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ReviewQueue).await?;
    let task_id = backend::task_id(&cx, &task)?;
    let wake = store::reviews::decide(&cx.state.db, &me, task_id, &decision, &edited_output, &reason_code, &comment)
        .await
        .map_err(|e| cx.review_error(e))?;
    if let Some(job) = wake {
        cx.state.wake(job);
    }
    Ok(())
}

/// The task page: the task, its run, and the next open task for `n`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskPageView {
    pub task: crate::views::ReviewTaskView,
    pub run: crate::views::RunDetailView,
    pub priority: String,
    pub claimed_by: Option<String>,
    pub mine: bool,
    pub next: Option<String>,
}

#[server(endpoint = "review_task")]
pub async fn review_task(slug: String, id: String) -> Result<TaskPageView, AppError> {
    use actix_web::http::StatusCode;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ReviewQueue).await?;
    let task_id = backend::task_id(&cx, &id)?;
    let no_task = || cx.refused(StatusCode::NOT_FOUND, "There is no such review task.");
    let run_id = store::reviews::run_of(&cx.state.db, &me.tenant, task_id)
        .await
        .map_err(|e| cx.internal("reading the task", e))?
        .ok_or_else(no_task)?;
    let run = crate::ssr::run_detail::run_detail(&cx, &me, run_id).await?;
    let task = run.tasks.iter().find(|t| t.id == task_id.to_string()).cloned().ok_or_else(no_task)?;
    let (row, next) = store::reviews::neighbours(&cx.state.db, &me.tenant, task_id)
        .await
        .map_err(|e| cx.internal("reading the queue", e))?;
    Ok(TaskPageView {
        priority: row.as_ref().map(|t| t.priority().as_str().to_string()).unwrap_or_default(),
        mine: task.claimed_by.as_deref() == Some(me.email.as_str()),
        claimed_by: task.claimed_by.clone(),
        task,
        run,
        next: next.map(|n| n.to_string()),
    })
}

fn priority_badge(p: &str) -> impl IntoView {
    view! { <span class=format!("badge priority-{}", p.to_lowercase()) data-testid="priority">{p.to_string()}</span> }
}

#[component]
pub fn ReviewQueuePage() -> impl IntoView {
    let query = use_query_map();
    let slug = crate::route::param("slug");
    let q = move |k: &str| query.read().get(k).unwrap_or_default();
    let claim = ServerAction::<ClaimTask>::new();
    let release = ServerAction::<ReleaseTask>::new();
    let reassign = ServerAction::<ReassignTasks>::new();
    let close = ServerAction::<CloseTasks>::new();
    // A bulk action that was refused keeps the ticked tasks and what was typed; one that worked redraws the list.
    let selected = RwSignal::new(Vec::<String>::new());
    let bulk_done = RwSignal::new(0u32);
    for worked in [
        Signal::derive(move || matches!(reassign.value().get(), Some(Ok(_)))),
        Signal::derive(move || matches!(close.value().get(), Some(Ok(_)))),
    ] {
        Effect::new(move |_| {
            if worked.get() {
                selected.set(Vec::new());
                bulk_done.update(|n| *n += 1);
            }
        });
    }
    let queue = crate::resource::new(
        move || {
            (
                slug.get(),
                [q("priority"), q("workflow"), q("reason"), q("assignee"), q("older_than"), q("sort")],
                claim.version().get(),
                release.version().get(),
                bulk_done.get(),
            )
        },
        |(slug, [priority, workflow, reason, assignee, older_than, sort], ..)| {
            review_queue(slug, priority, workflow, reason, assignee, older_than, sort)
        },
    );
    let message = Signal::derive(move || {
        [claim.value().get(), release.value().get()]
            .into_iter()
            .flatten()
            .find_map(|r| r.err())
            .and_then(|e| e.form_message())
            .or_else(|| {
                reassign
                    .value()
                    .get()
                    .and_then(|r| r.err())
                    .and_then(|e| e.form_message().or_else(|| e.field("assignee")).or_else(|| e.field("tasks")))
            })
            .or_else(|| {
                close
                    .value()
                    .get()
                    .and_then(|r| r.err())
                    .and_then(|e| e.form_message().or_else(|| e.field("reason_code")).or_else(|| e.field("tasks")))
            })
    });
    view! {
        <Title text="Review queue" />
        <section class="page-head">
            <h1>"Review queue"</h1>
            <p class="muted">"Every decision a person makes, most urgent first. Claim a task so nobody else works it."</p>
        </section>
        <Transition fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match queue.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(v) => {
                        let slug = slug.get();
                        view! {
                            <div class="tiles review-figures" data-testid="review-figures">
                                <div class="tile"><strong data-testid="open-count">{v.open}</strong><span>" open tasks"</span></div>
                                <div class="tile"><strong>{v.my_open}</strong><span>" claimed by me"</span></div>
                                <div class="tile"><strong>{v.near_sla}</strong><span>" near or past SLA"</span></div>
                                <div class="tile"><strong>{v.escalated}</strong><span>" escalated"</span></div>
                                <div class="tile"><strong>{v.my_decisions_week}</strong><span>" my decisions this week"</span></div>
                                <div class="tile"><strong>{v.oldest.clone()}</strong><span>" oldest task"</span></div>
                            </div>
                            <form class="filters card" method="get" data-testid="queue-filters">
                                <div class="field"><label for="q-priority">"Priority"</label>
                                    <select id="q-priority" name="priority">
                                        <option value="">"Any"</option>
                                        {["P1", "P2", "P3"].into_iter().map(|p| view! { <option value=p selected=move || q("priority") == p>{p}</option> }).collect_view()}
                                    </select></div>
                                <div class="field"><label for="q-reason">"Reason"</label>
                                    <select id="q-reason" name="reason">
                                        <option value="">"Any"</option>
                                        {["error", "high_value", "low_confidence", "external_message", "policy", "approval_step"].into_iter().map(|r| view! { <option value=r selected=move || q("reason") == r>{r.replace('_', " ")}</option> }).collect_view()}
                                    </select></div>
                                <div class="field"><label for="q-workflow">"Workflow"</label><input id="q-workflow" name="workflow" value=move || q("workflow") /></div>
                                <div class="field"><label for="q-assignee">"Assignee"</label>
                                    <select id="q-assignee" name="assignee">
                                        <option value="">"Anyone"</option>
                                        <option value="me" selected=move || q("assignee") == "me">"Me"</option>
                                        <option value="none" selected=move || q("assignee") == "none">"Unclaimed"</option>
                                    </select></div>
                                <div class="field"><label for="q-older">"Older than"</label>
                                    <select id="q-older" name="older_than">
                                        <option value="">"Any age"</option>
                                        {[("60", "1 hour"), ("240", "4 hours"), ("1440", "1 day")].into_iter().map(|(m, label)| view! { <option value=m selected=move || q("older_than") == m>{label}</option> }).collect_view()}
                                    </select></div>
                                <div class="field"><label for="q-sort">"Sort"</label>
                                    <select id="q-sort" name="sort">
                                        <option value="priority">"Priority"</option>
                                        <option value="age" selected=move || q("sort") == "age">"Oldest first"</option>
                                        <option value="workflow" selected=move || q("sort") == "workflow">"Workflow"</option>
                                    </select></div>
                                <button class="button" type="submit">"Filter"</button>
                            </form>
                            <FormError message />
                            {if v.tasks.is_empty() {
                                view! { <div class="card empty" data-testid="queue-empty"><p>"Nothing waits for a person. Tasks appear here when a run needs a decision."</p></div> }.into_any()
                            } else {
                                let supervisor = v.supervisor;
                                view! {
                                    <table class="table queue" data-testid="queue">
                                        <thead><tr>{supervisor.then(|| view! { <th><span class="sr-only">"Select"</span></th> })}<th>"Priority"</th><th>"Workflow"</th><th>"Why"</th><th>"Age"</th><th>"Assignee"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                                        <tbody>
                                            {v.tasks.iter().map(|t| {
                                                let (slug_c, slug_r, id_c, id_r, id_s) = (slug.clone(), slug.clone(), t.id.clone(), t.id.clone(), t.id.clone());
                                                view! {
                                                    <tr data-testid="queue-row" data-task=t.id.clone() data-priority=t.priority.clone()>
                                                        {supervisor.then(|| {
                                                            let id_k = id_s.clone();
                                                            view! { <td><input type="checkbox" aria-label="Select task"
                                                                prop:checked=move || selected.with(|s| s.contains(&id_k))
                                                                on:change=move |ev| {
                                                                    let on = event_target_checked(&ev);
                                                                    let id = id_s.clone();
                                                                    selected.update(|s| if on { if !s.contains(&id) { s.push(id) } } else { s.retain(|x| *x != id) });
                                                                } /></td> }
                                                        })}
                                                        <td data-label="Priority">{priority_badge(&t.priority)}{t.escalated.then(|| view! { <span class="badge status-failed">"escalated"</span> })}</td>
                                                        <td data-label="Workflow">{t.workflow.clone()}</td>
                                                        <td data-label="Why">{t.reason.replace('_', " ")}<div class="muted small">{t.why.clone()}</div></td>
                                                        <td data-label="Age">{t.age.clone()}</td>
                                                        <td data-label="Assignee">{t.assignee.clone().unwrap_or_else(|| "—".into())}</td>
                                                        <td class="actions">
                                                            <a class="button small primary" href=format!("/t/{}/review/{}", slug, t.id)>"Open"</a>
                                                            {if t.mine {
                                                                view! { <button class="button small" type="button" data-testid="release"
                                                                    on:click=move |_| { release.dispatch(ReleaseTask { slug: slug_r.clone(), task: id_r.clone() }); }>"Release"</button> }.into_any()
                                                            } else if t.assignee.is_none() {
                                                                view! { <button class="button small" type="button" data-testid="claim"
                                                                    on:click=move |_| { claim.dispatch(ClaimTask { slug: slug_c.clone(), task: id_c.clone() }); }>"Claim"</button> }.into_any()
                                                            } else { ().into_any() }}
                                                        </td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                    {(v.total > v.tasks.len()).then(|| view! { <p class="muted small">{format!("Showing the {} most urgent of {}.", v.tasks.len(), v.total)}</p> })}
                                    {supervisor.then(|| {
                                        let (slug_a, slug_b) = (slug.clone(), slug.clone());
                                        let assignee = RwSignal::new(String::new());
                                        let code = RwSignal::new(String::new());
                                        let codes = v.reason_codes.clone();
                                        view! {
                                            <section class="card bulk" data-testid="bulk-actions">
                                                <h2>"Selected tasks"</h2>
                                                <div class="row-inline">
                                                    <input aria-label="Reassign to (email)" placeholder="reviewer@…" prop:value=move || assignee.get() on:input=move |ev| assignee.set(event_target_value(&ev)) />
                                                    <button class="button small" type="button" data-testid="reassign" on:click=move |_| {
                                                        reassign.dispatch(ReassignTasks { slug: slug_a.clone(), tasks: selected.get_untracked().join(","), assignee: assignee.get_untracked() });
                                                    }>"Reassign"</button>
                                                </div>
                                                <div class="row-inline">
                                                    <select aria-label="Reason to close" on:change=move |ev| code.set(event_target_value(&ev))>
                                                        <option value="">"Reason…"</option>
                                                        {codes.into_iter().map(|c| view! { <option value=c.clone()>{c.replace('_', " ")}</option> }).collect_view()}
                                                    </select>
                                                    <button class="button small danger" type="button" data-testid="close-tasks" on:click=move |_| {
                                                        close.dispatch(CloseTasks { slug: slug_b.clone(), tasks: selected.get_untracked().join(","), reason_code: code.get_untracked(), comment: "Closed from the queue".into() });
                                                    }>"Close with fallback"</button>
                                                </div>
                                            </section>
                                        }
                                    })}
                                }.into_any()
                            }}
                            {(!v.history.is_empty()).then(|| view! {
                                <section class="card" data-testid="queue-history">
                                    <h2>"Queue over the last two weeks"</h2>
                                    <QueueChart days=v.history.clone() />
                                    <h3>"Open tasks per reviewer"</h3>
                                    <ul class="per-reviewer" data-testid="per-reviewer">{v.per_reviewer.iter().map(|(who, n)| view! { <li><span>{who.clone()}</span><strong>{*n}</strong></li> }).collect_view()}</ul>
                                </section>
                            })}
                            <section class="card">
                                <h2>"How people and drafts agree (30 days)"</h2>
                                <RateTable title="Per workflow" rows=v.by_workflow.clone() />
                                <RateTable title="Per reviewer" rows=v.by_reviewer.clone() />
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// Open tasks per day as bars and the oldest task's age as a line, in SVG
/// that scales to the width of the card (readable on a phone).
#[component]
fn QueueChart(days: Vec<QueueDayView>) -> impl IntoView {
    let (w, h, left, bottom) = (640.0_f64, 200.0_f64, 36.0_f64, 24.0_f64);
    let plot_h = h - bottom - 10.0;
    let max_open = days.iter().map(|d| d.open).max().unwrap_or(0).max(1) as f64;
    let max_age = days.iter().map(|d| d.oldest_hours).fold(0.0_f64, f64::max).max(1.0);
    let step = (w - left - 8.0) / days.len().max(1) as f64;
    let bar_w = (step * 0.6).max(2.0);
    let y_open = move |n: f64| 10.0 + plot_h - n / max_open * plot_h;
    let y_age = move |a: f64| 10.0 + plot_h - a / max_age * plot_h;
    let line: String = days
        .iter()
        .enumerate()
        .map(|(i, d)| format!("{:.1},{:.1}", left + step * i as f64 + step / 2.0, y_age(d.oldest_hours)))
        .collect::<Vec<_>>()
        .join(" ");
    let label_every = (days.len() / 7).max(1);
    let last = days.len().saturating_sub(1);
    view! {
        <svg class="chart" viewBox=format!("0 0 {w} {h}") role="img" aria-label="Open review tasks per day and the age of the oldest" data-testid="queue-chart">
            <line x1=left y1=y_open(0.0) x2=w - 8.0 y2=y_open(0.0) class="axis" />
            <text x=left - 6.0 y=y_open(max_open) + 4.0 class="tick" text-anchor="end">{format!("{max_open:.0}")}</text>
            <text x=left - 6.0 y=y_open(0.0) + 4.0 class="tick" text-anchor="end">"0"</text>
            {days.iter().enumerate().map(|(i, d)| {
                let x = left + step * i as f64 + (step - bar_w) / 2.0;
                view! {
                    <rect x=x y=y_open(d.open as f64) width=bar_w height=(y_open(0.0) - y_open(d.open as f64)).max(0.0) class="bar" data-testid="queue-bar">
                        <title>{format!("{}: {} open, oldest {:.1} h", d.day, d.open, d.oldest_hours)}</title>
                    </rect>
                    {((last - i).is_multiple_of(label_every)).then(|| view! { <text x=x + bar_w / 2.0 y=h - 6.0 class="tick" text-anchor="middle">{d.day.clone()}</text> })}
                }
            }).collect_view()}
            <polyline points=line class="line" />
        </svg>
        <p class="legend small"><span class="swatch bar"></span>" open tasks at the day's end "<span class="swatch line"></span>{format!(" oldest task's age (top of the chart = {max_age:.1} h)")}</p>
    }
}

#[component]
fn RateTable(title: &'static str, rows: Vec<RateView>) -> impl IntoView {
    // "Per workflow" → "Workflow", "Per reviewer" → "Reviewer": the first column's header.
    let who = title.trim_start_matches("Per ").to_string();
    let who = format!("{}{}", who[..1].to_uppercase(), &who[1..]);
    view! {
        <h3>{title}</h3>
        {if rows.is_empty() {
            view! { <p class="muted small">"No decisions yet."</p> }.into_any()
        } else {
            view! {
                <table class="table rates" data-testid=format!("rates-{}", title.to_lowercase().replace(' ', "-"))>
                    <thead><tr><th>{who.clone()}</th><th>"Decided"</th><th>"Agreement"</th><th>"Median time"</th><th>"Escalated"</th><th>"Overrides by reason"</th></tr></thead>
                    <tbody>{rows.into_iter().map(|r| view! {
                        <tr><td data-label=who.clone()>{r.who}</td><td data-label="Decided">{r.decided}</td><td data-label="Agreement">{r.agreement}</td>
                            <td data-label="Median time">{r.median_minutes}</td><td data-label="Escalated">{r.escalated}</td><td data-label="Overrides">{r.overrides}</td></tr>
                    }).collect_view()}</tbody>
                </table>
            }.into_any()
        }}
    }
}

#[component]
pub fn ReviewTaskPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let id = crate::route::param("id");
    let decide = ServerAction::<DecideReview>::new();
    let claim = ServerAction::<ClaimTask>::new();
    let release = ServerAction::<ReleaseTask>::new();
    // Reload after a decision only when it was taken: a refused edit stays in the box to be fixed.
    let decided = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(decide.value().get(), Some(Ok(()))) {
            decided.update(|n| *n += 1);
        }
    });
    let page = crate::resource::new(
        move || (slug.get(), id.get(), decided.get(), claim.version().get(), release.version().get()),
        |(slug, id, ..)| review_task(slug, id),
    );
    let edited = RwSignal::new(String::new());
    let reason_code = RwSignal::new(String::new());
    let comment = RwSignal::new(String::new());
    // A new task starts with no reason and no comment.
    Effect::new(move |_| {
        id.get();
        reason_code.set(String::new());
        comment.set(String::new());
    });
    let message = Signal::derive(move || {
        decide.value().get().and_then(|r| r.err()).and_then(|e| e.form_message()).or_else(|| {
            [claim.value().get(), release.value().get()]
                .into_iter()
                .flatten()
                .find_map(|r| r.err())
                .and_then(|e| e.form_message())
        })
    });
    let field_error = move |f: &'static str| {
        Signal::derive(move || decide.value().get().and_then(|r| r.err()).and_then(|e| e.field(f)))
    };
    // Keyboard shortcuts: a approve · e edit and approve · r reject · n next task.
    #[cfg(feature = "hydrate")]
    {
        let navigate = use_navigate();
        let handle = window_event_listener(leptos::ev::keydown, move |ev| {
            let typing = ev
                .target()
                .and_then(|t| wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::Element>(t).ok())
                .map(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"))
                .unwrap_or(false);
            if typing || ev.ctrl_key() || ev.meta_key() || ev.alt_key() {
                return;
            }
            let click = |testid: &str| {
                if let Some(el) = document().query_selector(&format!("[data-testid={testid}]")).ok().flatten() {
                    if let Ok(button) = wasm_bindgen::JsCast::dyn_into::<leptos::web_sys::HtmlElement>(el) {
                        button.click();
                    }
                }
            };
            match ev.key().as_str() {
                "a" => click("approve"),
                "e" => click("edit-approve"),
                "r" => click("reject"),
                "n" => {
                    if let Some(next) = document()
                        .query_selector("[data-testid=next-task]")
                        .ok()
                        .flatten()
                        .and_then(|el| el.get_attribute("href"))
                    {
                        navigate(&next, Default::default());
                    }
                }
                _ => {}
            }
        });
        on_cleanup(move || handle.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = use_navigate;
    view! {
        <Title text="Review" />
        <Transition fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match page.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(p) => {
                        let slug = slug.get();
                        let t = p.task.clone();
                        let r = p.run.clone();
                        let (slug_c, slug_r, id_c, id_r) = (slug.clone(), slug.clone(), t.id.clone(), t.id.clone());
                        view! {
                            <section class="page-head">
                                <p class="crumbs"><a href=format!("/t/{slug}/review")>"Review queue"</a>" / "</p>
                                <h1>{format!("{} — {}", r.workflow, t.reason.replace('_', " "))}" "{(!p.priority.is_empty()).then(|| priority_badge(&p.priority))}</h1>
                                <p class="muted">{format!("Opened {} · run ", t.created)}<a href=format!("/t/{slug}/runs/{}", r.id)>{r.id[..8].to_string()}</a>
                                    {p.claimed_by.clone().map(|c| format!(" · claimed by {c}"))}</p>
                                <p class="muted small shortcuts">"Shortcuts: "<kbd>"a"</kbd>" approve · "<kbd>"e"</kbd>" edit and approve · "<kbd>"r"</kbd>" reject · "<kbd>"n"</kbd>" next task"</p>
                                {p.next.clone().map(|n| view! { <a class="button small" data-testid="next-task" href=format!("/t/{slug}/review/{n}")>"Next task →"</a> })}
                                {t.open.then(|| if p.mine {
                                    view! { <button class="button small" type="button" data-testid="release" on:click=move |_| { release.dispatch(ReleaseTask { slug: slug_r.clone(), task: id_r.clone() }); }>"Release"</button> }.into_any()
                                } else if p.claimed_by.is_none() {
                                    view! { <button class="button small" type="button" data-testid="claim" on:click=move |_| { claim.dispatch(ClaimTask { slug: slug_c.clone(), task: id_c.clone() }); }>"Claim"</button> }.into_any()
                                } else { ().into_any() })}
                                <FormError message />
                            </section>
                            {if t.open {
                                let (slug_f, id_f) = (slug.clone(), t.id.clone());
                                edited.set(t.draft.clone().unwrap_or_default());
                                let send = std::sync::Arc::new(move |decision: &str| {
                                    decide.dispatch(DecideReview {
                                        slug: slug_f.clone(),
                                        task: id_f.clone(),
                                        decision: decision.to_string(),
                                        edited_output: edited.get_untracked(),
                                        reason_code: reason_code.get_untracked(),
                                        comment: comment.get_untracked(),
                                    });
                                });
                                view! {
                                    <section class="card review-task" data-testid="open-task">
                                        <h2>"Why a person decides"</h2>
                                        <ul class="why" data-testid="why">{t.why.iter().map(|w| view! { <li>{w.clone()}</li> }).collect_view()}</ul>
                                        {t.escalated_at.clone().map(|at| view! { <p class="badge status-failed">{format!("escalated {at}")}</p> })}
                                        {t.slack.clone().map(|s| view! { <p class="muted small" data-testid="task-slack">{s}</p> })}
                                        <details><summary>"Policy detail"</summary><pre class="json small" tabindex="0">{t.detail.clone()}</pre></details>
                                        <h2>"Draft"{r.steps.iter().any(|s| s.offline).then(|| view! { <OfflineBadge /> })}</h2>
                                        {match t.draft.clone() {
                                            Some(raw) => view! { <Record fields=t.draft_fields.clone() raw testid="draft" /> }.into_any(),
                                            None => view! { <p class="muted" data-testid="draft">"No draft: a step failed before one was written."</p> }.into_any(),
                                        }}
                                        <div class="decision-form">
                                            <div class="field">
                                                <label for="f-reason">"Reason (for edits and rejections)"</label>
                                                <select id="f-reason" prop:value=move || reason_code.get() on:change=move |ev| reason_code.set(event_target_value(&ev))>
                                                    <option value="">"—"</option>
                                                    {r.reason_codes.iter().map(|c| view! { <option value=c.clone()>{c.replace('_', " ")}</option> }).collect_view()}
                                                </select>
                                                <p class="field-error" role="alert" data-testid="reason-error">{move || field_error("reason_code").get().unwrap_or_default()}</p>
                                            </div>
                                            <details class="edit-draft" data-testid="edit-draft" prop:open=move || field_error("edited_output").get().is_some()>
                                                <summary>"Edit the draft before approving"</summary>
                                                <div class="field">
                                                    <label for="f-edited">"Edited output (JSON; it must still meet the response schema)"</label>
                                                    <textarea id="f-edited" rows="10" prop:value=move || edited.get() on:input=move |ev| edited.set(event_target_value(&ev))></textarea>
                                                    <p class="field-error" role="alert" data-testid="edit-error">{move || field_error("edited_output").get().unwrap_or_default()}</p>
                                                </div>
                                            </details>
                                            <div class="field"><label for="f-comment">"Comment"</label>
                                                <input id="f-comment" prop:value=move || comment.get() on:input=move |ev| comment.set(event_target_value(&ev)) /></div>
                                            <div class="actions">
                                                <button class="button primary" type="button" data-testid="approve" disabled=move || decide.pending().get()
                                                    on:click={let send = send.clone(); move |_| send("approve")}>"Approve (a)"</button>
                                                <button class="button" type="button" data-testid="edit-approve" disabled=move || decide.pending().get()
                                                    on:click={let send = send.clone(); move |_| send("edit_and_approve")}>"Edit and approve (e)"</button>
                                                <button class="button danger" type="button" data-testid="reject" disabled=move || decide.pending().get()
                                                    on:click={let send = send.clone(); move |_| send("reject")}>"Reject (r)"</button>
                                            </div>
                                        </div>
                                    </section>
                                }.into_any()
                            } else {
                                view! {
                                    <section class="card" data-testid="task-decided">
                                        <h2>{format!("{} by {}", t.decision.clone().unwrap_or_default().replace('_', " "), t.decided_by.clone().unwrap_or_default())}</h2>
                                        <p class="muted">{format!("at {}{}", t.decided_at.clone().unwrap_or_default(), t.reason_code.clone().map(|c| format!(" · {c}")).unwrap_or_default())}</p>
                                        {t.comment.clone().map(|c| view! { <p>{c}</p> })}
                                        {t.slack.clone().map(|s| view! { <p class="muted small" data-testid="task-slack">{s}</p> })}
                                        <EditChanges changes=t.changes.clone() />
                                        <p class="notice" data-testid="what-next">{what_happens_next(t.decision.as_deref())}</p>
                                        {match p.next.clone() {
                                            Some(n) => view! { <a class="button primary" data-testid="decided-next" href=format!("/t/{slug}/review/{n}")>"Next task →"</a> }.into_any(),
                                            None => view! { <a class="button" data-testid="decided-next" href=format!("/t/{slug}/review")>"Back to the queue: nothing else waits"</a> }.into_any(),
                                        }}
                                    </section>
                                }.into_any()
                            }}
                            <section class="card">
                                <h2>"Source event"</h2>
                                <Record fields=r.event_fields.clone() raw=r.source_event.clone() testid="task-event" />
                                <h2>"Run timeline"</h2>
                                <ol class="timeline">
                                    {r.steps.iter().cloned().map(|s| view! {
                                        <li class=format!("step step-{}", s.status)><strong>{s.id}</strong>" "<span class="kind">{s.kind}</span>
                                            <span class="muted small">{format!(" {} · {}", s.status, s.duration)}</span></li>
                                    }).collect_view()}
                                </ol>
                            </section>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// What a decision sets in motion, in words, for the page after it.
fn what_happens_next(decision: Option<&str>) -> &'static str {
    match decision {
        Some("approve") => {
            "Approved: the run goes on with this draft from the next step; anything it sends, it sends now."
        }
        Some("edit_and_approve") => {
            "Approved with your changes: the run goes on with the edited draft from the next step."
        }
        Some("reject") => "Rejected: the run stops here and nothing more is sent; the reason is kept for the reports.",
        _ => "Closed without a decision by a person.",
    }
}
