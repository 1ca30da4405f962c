//! Costs: the whole cost of every run for a period (model tokens, the
//! fallback model, enrichment calls, worker time, queue operations and
//! review minutes), charts of spend per day and cost per run against the
//! plan, the top workflows, the enrichment cache's savings, a sortable
//! table with a CSV export, open alerts, and each workflow's budget
//! (operations and owners edit it; executives read it).

use crate::components::cost_alerts::AlertBanner;
use crate::components::field::{Field, FormError, Loading};
use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::{BudgetView, CostAlertView, CostDayView, CostReportView, WorkflowCostView};
use engine::money::{self, Currency};
use engine::CostKind;
use leptos::prelude::*;
use leptos_meta::Title;

/// Colours of the kinds, in the order of `CostKind::ALL`.
const KIND_COLOURS: [&str; engine::cost_kind::COUNT] =
    ["#5b7fde", "#b38df0", "#3fb68b", "#e0a100", "#9aa5b1", "#e0635b"];

#[cfg(feature = "ssr")]
fn workflow_view(
    name: String,
    totals: &engine::cost::Totals,
    month_spent: i64,
    held: i64,
    budget: Option<&engine::cost::Budget>,
) -> WorkflowCostView {
    WorkflowCostView {
        name,
        runs: totals.runs,
        outcomes: totals.outcomes,
        exceptions: totals.exceptions,
        total: totals.total(),
        per_run: totals.per_run(),
        per_outcome: totals.per_outcome(),
        per_exception: totals.per_exception(),
        by_kind: totals.by_kind,
        per_run_by_kind: totals.split(totals.runs),
        month_spent,
        held,
        budget: budget.map(|b| BudgetView {
            expected_runs: b.expected_runs.to_string(),
            target_per_run: money::plain(b.target_per_run),
            overage_pct: b.overage_pct.to_string(),
            action: b.action.as_str().to_owned(),
            deviation_pct: b.deviation_pct.to_string(),
            batchable: b.batch_window.is_some(),
            window_start: b.batch_window.map(|w| w.0.to_string()).unwrap_or_else(|| "22".into()),
            window_end: b.batch_window.map(|w| w.1.to_string()).unwrap_or_else(|| "6".into()),
            planned: b.planned(),
            cap: b.cap(),
        }),
    }
}

/// The period's figures; `from` and `to` are dates (YYYY-MM-DD) in the
/// business's time zone, by default the last 30 days.
#[server(endpoint = "cost_report")]
pub async fn cost_report(slug: String, from: String, to: String) -> Result<CostReportView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member(&slug, engine::Page::Costs).await?;
    let state = &cx.state;
    let schema = &member.tenant;
    let today = store::local_time::today(&state.db, schema).await.map_err(|e| cx.internal("reading the date", e))?;
    let (from, to) = engine::cost::period(&from, &to, today).map_err(|errors| cx.invalid(errors))?;
    let report =
        store::costs::report(&state.db, schema, from, to).await.map_err(|e| cx.internal("reading the costs", e))?;
    let alerts = store::costs::alerts(&state.db, schema, 20).await.map_err(|e| cx.internal("reading the alerts", e))?;
    let currency =
        store::currency::currency(&state.db, schema).await.map_err(|e| cx.internal("reading the currency", e))?;
    let mut business = engine::cost::Totals::default();
    let mut workflows = Vec::new();
    let (mut planned, mut expected) = (0i64, 0i64);
    for w in &report.workflows {
        business.merge(&w.totals);
        if let Some(b) = &w.budget {
            planned += b.planned();
            expected += b.expected_runs;
        }
        workflows.push(workflow_view(w.workflow_name.clone(), &w.totals, w.month_spent, w.held, w.budget.as_ref()));
    }
    let month_spent = report.workflows.iter().map(|w| w.month_spent).sum();
    let held = report.workflows.iter().map(|w| w.held).sum();
    Ok(CostReportView {
        from: from.to_string(),
        to: to.to_string(),
        days: report
            .days
            .iter()
            .map(|d| CostDayView {
                day: d.day.format("%m-%d").to_string(),
                by_kind: d.by_kind,
                runs: d.runs,
                per_run: engine::cost::per(d.by_kind.iter().sum(), d.runs),
            })
            .collect(),
        workflows,
        business: workflow_view("All workflows".into(), &business, month_spent, held, None),
        target_per_run: engine::cost::per(planned, expected),
        cache_calls: report.cache_calls,
        cache_hits: report.cache_hits,
        cache_saved: report.cache_saved,
        alerts: alerts.into_iter().map(crate::components::cost_alerts::alert_view).collect(),
        may_edit: matches!(member.role, engine::Role::Owner | engine::Role::Operations),
        currency,
    })
}

/// Sets a workflow's budget (operations and owners). Runs it held are let go
/// and checked against the new budget.
#[server(endpoint = "save_budget")]
#[allow(clippy::too_many_arguments)]
pub async fn save_budget(
    slug: String,
    workflow: String,
    expected_runs: String,
    target_per_run: String,
    overage_pct: String,
    action: String,
    deviation_pct: String,
    batchable: Option<String>,
    window_start: Option<String>,
    window_end: Option<String>,
) -> Result<(), AppError> {
    use engine::Role;
    let cx = crate::ssr::Ctx::get().await?;
    let member = cx.member_in(&slug, engine::Page::Costs, &[Role::Owner, Role::Operations]).await?;
    let form = engine::cost::BudgetForm {
        expected_runs,
        target_per_run,
        overage_pct,
        action,
        deviation_pct,
        batchable: batchable.is_some_and(|b| !b.is_empty() && b != "false"),
        window_start: window_start.unwrap_or_default(),
        window_end: window_end.unwrap_or_default(),
    };
    let budget = engine::cost::Budget::parse(&form).map_err(|errors| cx.invalid(errors))?;
    let state = &cx.state;
    let released = match store::costs::save_budget(&state.db, &member, workflow.trim(), &budget).await {
        Ok(ids) => ids,
        Err(store::costs::BudgetError::NoWorkflow) => {
            return Err(cx.refused(actix_web::http::StatusCode::NOT_FOUND, "There is no such workflow."))
        }
        Err(store::costs::BudgetError::Storage(e)) => return Err(cx.internal("saving the budget", e)),
    };
    for run_id in released {
        // The sweeper queues any the queue does not take now.
        state.wake(store::jobs::RunJob::new(&member.tenant, run_id));
    }
    Ok(())
}

/// A per-run (or per-outcome) figure with the digits it needs, or a dash.
fn amount(c: Currency, m: Option<i64>) -> String {
    m.map(|m| c.precise(m)).unwrap_or_else(|| "–".into())
}

#[component]
pub fn CostsPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let from = RwSignal::new(String::new());
    let to = RwSignal::new(String::new());
    let saved = ServerAction::<SaveBudget>::new();
    // Reload after a budget is saved, not after a refused one (its errors stay beside the fields).
    let reload = RwSignal::new(0u32);
    Effect::new(move |_| {
        if matches!(saved.value().get(), Some(Ok(()))) {
            reload.update(|n| *n += 1);
        }
    });
    let report = crate::resource::new(
        move || (slug.get(), from.get(), to.get(), reload.get()),
        |(slug, from, to, _)| cost_report(slug, from, to),
    );
    // The workflow whose budget was last submitted: its card shows the answer, also after the reload.
    let last = RwSignal::new(None::<String>);
    view! {
        <Title text="Costs" />
        <section class="page-head">
            <h1>"Costs"</h1>
            <p class="muted">"The whole cost of every run, against each workflow's budget."</p>
        </section>
        <Transition fallback=Loading>
            {move || Suspend::new(async move {
                match report.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(v) => view! { <Report v slug=slug.get_untracked() from to saved last /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn Report(
    v: CostReportView,
    slug: String,
    from: RwSignal<String>,
    to: RwSignal<String>,
    saved: ServerAction<SaveBudget>,
    last: RwSignal<Option<String>>,
) -> impl IntoView {
    let b = v.business.clone();
    let c = v.currency;
    let hit_rate = if v.cache_calls > 0 { format!("{}%", v.cache_hits * 100 / v.cache_calls) } else { "–".into() };
    let csv = format!("/t/{slug}/costs.csv?from={}&to={}", v.from, v.to);
    let from_input = RwSignal::new(v.from.clone());
    let to_input = RwSignal::new(v.to.clone());
    let open_alerts: Vec<CostAlertView> = v.alerts.iter().filter(|a| a.cleared.is_none()).cloned().collect();
    let past_alerts: Vec<CostAlertView> = v.alerts.iter().filter(|a| a.cleared.is_some()).cloned().collect();
    view! {
        {(!open_alerts.is_empty()).then(|| view! { <AlertBanner alerts=open_alerts /> })}
        <form class="filters card" data-testid="cost-period" on:submit=move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            from.set(from_input.get());
            to.set(to_input.get());
        }>
            <div class="field"><label for="cost-from">"From"</label>
                <input id="cost-from" type="date" prop:value=move || from_input.get() on:input=move |ev| from_input.set(event_target_value(&ev)) /></div>
            <div class="field"><label for="cost-to">"To"</label>
                <input id="cost-to" type="date" prop:value=move || to_input.get() on:input=move |ev| to_input.set(event_target_value(&ev)) /></div>
            <button class="button" type="submit">"Show period"</button>
        </form>
        <div class="tiles review-figures" data-testid="cost-figures">
            <div class="tile"><strong data-testid="cost-total">{c.cents(b.total)}</strong><span>" spent"</span></div>
            <div class="tile"><strong>{b.runs}</strong><span>" runs"</span></div>
            <div class="tile"><strong data-testid="cost-per-run">{amount(c, b.per_run)}</strong><span>" per run"</span></div>
            <div class="tile"><strong>{amount(c, b.per_outcome)}</strong><span>" per completed outcome"</span></div>
            <div class="tile"><strong>{amount(c, b.per_exception)}</strong><span>" per exception"</span></div>
            <div class="tile"><strong data-testid="cache-hit-rate">{hit_rate}</strong><span>{format!(" cache hits, {} saved", c.cents(v.cache_saved))}</span></div>
        </div>
        <section class="card">
            <h2>"Spend per day"</h2>
            <SpendChart days=v.days.clone() totals=v.business.by_kind c />
        </section>
        <section class="card">
            <h2>"Cost per run against the plan"</h2>
            <PerRunChart days=v.days.clone() target=v.target_per_run c />
        </section>
        <section class="card">
            <h2>"Top workflows by spend"</h2>
            <TopWorkflows workflows=v.workflows.clone() c />
        </section>
        <section class="card">
            <div class="row-inline"><h2>"By workflow"</h2>
                <a class="button small" href=csv download="costs.csv" rel="external" data-testid="cost-csv">"Export CSV"</a></div>
            <CostTable rows=v.workflows.clone() business=v.business.clone() c />
        </section>
        <section class="card">
            <h2>"Budgets"</h2>
            <p class="muted small">"Before each run the engine checks the forecast against what is left this month. At the cap it alerts, routes premium steps to the small tier, or pauses new runs (their events are kept and run once the budget allows or the month rolls over)."</p>
            {v.workflows.iter().cloned().map(|w| view! { <BudgetCard slug=slug.clone() w may_edit=v.may_edit saved last c /> }).collect_view()}
        </section>
        {(!past_alerts.is_empty()).then(|| view! {
            <section class="card">
                <h2>"Recent alerts"</h2>
                <ul class="plain">{past_alerts.into_iter().map(|a| view! {
                    <li><strong>{a.workflow}</strong>": "{a.message}<span class="muted small">{format!(" opened {}, cleared {}", a.opened, a.cleared.unwrap_or_default())}</span></li>
                }).collect_view()}</ul>
            </section>
        })}
    }
}

/// The kinds with their colour and the period's total of each.
fn legend(totals: [i64; 6], c: Currency) -> impl IntoView {
    view! {
        <p class="legend small" data-testid="kind-legend">{CostKind::ALL.iter().enumerate().map(|(i, k)| view! {
            <span class="legend-item"><span class="swatch" style=format!("background:{}", KIND_COLOURS[i])></span>
                {format!(" {} {}", k.label(), c.cents(totals[i]))}</span>
        }).collect_view()}</p>
    }
}

/// Spend per day as bars stacked by kind, in SVG that scales to the card.
#[component]
fn SpendChart(days: Vec<CostDayView>, totals: [i64; 6], c: Currency) -> impl IntoView {
    let (w, h, left, bottom) = (640.0_f64, 220.0_f64, 56.0_f64, 24.0_f64);
    let plot_h = h - bottom - 10.0;
    let tallest = days.iter().map(|d| d.by_kind.iter().sum::<i64>()).max().unwrap_or(0);
    if tallest == 0 {
        return view! { <p class="muted empty-chart" data-testid="spend-chart-empty">"Not enough data yet: spend appears here after the first priced run."</p> }.into_any();
    }
    // A round top a little above the tallest day, so the label reads as a scale.
    let max = engine::scale::nice_ceiling(tallest as f64 * 1.05);
    let step = (w - left - 8.0) / days.len().max(1) as f64;
    let bar_w = (step * 0.7).max(2.0);
    let y = move |m: f64| 10.0 + plot_h - m / max * plot_h;
    let label_every = (days.len() / 7).max(1);
    let last = days.len().saturating_sub(1);
    view! {
        <div class="chart-scroll" tabindex="0"><svg class="chart" viewBox=format!("0 0 {w} {h}") role="img" aria-label="Spend per day, stacked by kind of cost" data-testid="spend-chart">
            <line x1=left y1=y(0.0) x2=w - 8.0 y2=y(0.0) class="axis" />
            <text x=left - 6.0 y=y(max) + 4.0 class="tick" text-anchor="end">{c.precise(max as i64)}</text>
            <text x=left - 6.0 y=y(0.0) + 4.0 class="tick" text-anchor="end">"0"</text>
            {days.iter().enumerate().map(|(i, d)| {
                let x = left + step * i as f64 + (step - bar_w) / 2.0;
                let mut base = 0.0;
                let segments = d.by_kind.iter().enumerate().filter(|(_, m)| **m > 0).map(|(k, m)| {
                    let top = base + *m as f64;
                    let seg = view! {
                        <rect x=x y=y(top) width=bar_w height=(y(base) - y(top)).max(0.0) fill=KIND_COLOURS[k] data-testid="spend-bar">
                            <title>{format!("{}: {} {}", d.day, CostKind::ALL[k].label(), c.precise(*m))}</title>
                        </rect>
                    };
                    base = top;
                    seg
                }).collect_view();
                view! {
                    {segments}
                    {((last - i).is_multiple_of(label_every)).then(|| view! { <text x=x + bar_w / 2.0 y=h - 6.0 class="tick" text-anchor="middle">{d.day.clone()}</text> })}
                }
            }).collect_view()}
        </svg></div>
        {legend(totals, c)}
    }
    .into_any()
}

/// Cost per run each day as a line, with the plan's target dashed.
#[component]
fn PerRunChart(days: Vec<CostDayView>, target: Option<i64>, c: Currency) -> impl IntoView {
    let (w, h, left, bottom) = (640.0_f64, 200.0_f64, 56.0_f64, 24.0_f64);
    let plot_h = h - bottom - 10.0;
    let tallest = days.iter().filter_map(|d| d.per_run).max().unwrap_or(0);
    if tallest == 0 {
        return view! { <p class="muted empty-chart" data-testid="per-run-chart-empty">"Not enough data yet: cost per run appears here after the first completed run."</p> }.into_any();
    }
    let max = engine::scale::nice_ceiling(tallest.max(target.unwrap_or(0)) as f64 * 1.05);
    let step = (w - left - 8.0) / days.len().max(1) as f64;
    let y = move |m: f64| 10.0 + plot_h - m / max * plot_h;
    let points: String = days
        .iter()
        .enumerate()
        .filter_map(|(i, d)| {
            d.per_run.map(|p| format!("{:.1},{:.1}", left + step * i as f64 + step / 2.0, y(p as f64)))
        })
        .collect::<Vec<_>>()
        .join(" ");
    let label_every = (days.len() / 7).max(1);
    let last = days.len().saturating_sub(1);
    view! {
        <div class="chart-scroll" tabindex="0"><svg class="chart" viewBox=format!("0 0 {w} {h}") role="img" aria-label="Cost per run per day against the target" data-testid="per-run-chart">
            <line x1=left y1=y(0.0) x2=w - 8.0 y2=y(0.0) class="axis" />
            <text x=left - 6.0 y=y(max) + 4.0 class="tick" text-anchor="end">{c.precise(max as i64)}</text>
            <text x=left - 6.0 y=y(0.0) + 4.0 class="tick" text-anchor="end">"0"</text>
            {target.map(|t| view! {
                <line x1=left y1=y(t as f64) x2=w - 8.0 y2=y(t as f64) class="target" data-testid="target-line" />
                <text x=w - 10.0 y=y(t as f64) - 4.0 class="tick" text-anchor="end">{format!("target {}", c.precise(t))}</text>
            })}
            <polyline points=points class="line" />
            {days.iter().enumerate().filter(|(i, _)| (last - i).is_multiple_of(label_every)).map(|(i, d)| view! {
                <text x=left + step * i as f64 + step / 2.0 y=h - 6.0 class="tick" text-anchor="middle">{d.day.clone()}</text>
            }).collect_view()}
        </svg></div>
        <p class="legend small"><span class="swatch line"></span>" cost per run "<span class="swatch target"></span>{if target.is_some() { " planned cost per run" } else { " set a budget to see the plan" }}</p>
    }
    .into_any()
}

#[component]
fn TopWorkflows(workflows: Vec<WorkflowCostView>, c: Currency) -> impl IntoView {
    let mut top: Vec<WorkflowCostView> = workflows.into_iter().filter(|w| w.total > 0).collect();
    top.sort_by_key(|w| std::cmp::Reverse(w.total));
    top.truncate(5);
    if top.is_empty() {
        return view! { <p class="muted">"No spend in this period."</p> }.into_any();
    }
    let max = top[0].total.max(1) as f64;
    let (w, row) = (640.0_f64, 34.0_f64);
    let h = row * top.len() as f64;
    view! {
        <div class="chart-scroll" tabindex="0"><svg class="chart" viewBox=format!("0 0 {w} {h}") role="img" aria-label="Top workflows by spend" data-testid="top-workflows">
            {top.into_iter().enumerate().map(|(i, wf)| {
                let y = i as f64 * row;
                let width = (wf.total as f64 / max * (w - 260.0)).max(2.0);
                view! {
                    <text x=0 y=y + 21.0 class="tick label">{wf.name.clone()}</text>
                    <rect x=170 y=y + 8.0 width=width height=18 class="bar"><title>{format!("{}: {}", wf.name, c.cents(wf.total))}</title></rect>
                    <text x=176.0 + width y=y + 21.0 class="tick">{c.cents(wf.total)}</text>
                }
            }).collect_view()}
        </svg></div>
    }
    .into_any()
}

/// Columns of the table: header and the figure it sorts by.
const COLUMNS: [&str; 14] = [
    "Workflow",
    "Runs",
    "Outcomes",
    "Exceptions",
    "Spend",
    "Per run",
    "Per outcome",
    "Per exception",
    "Model",
    "Fallback",
    "Enrichment",
    "Worker",
    "Queue",
    "Review",
];

fn sort_value(w: &WorkflowCostView, column: usize) -> i64 {
    match column {
        1 => w.runs,
        2 => w.outcomes,
        3 => w.exceptions,
        4 => w.total,
        5 => w.per_run.unwrap_or(-1),
        6 => w.per_outcome.unwrap_or(-1),
        7 => w.per_exception.unwrap_or(-1),
        k @ 8..=13 => w.by_kind[k - 8],
        _ => 0,
    }
}

#[component]
fn CostTable(rows: Vec<WorkflowCostView>, business: WorkflowCostView, c: Currency) -> impl IntoView {
    let sort = RwSignal::new((4usize, true));
    let rows = StoredValue::new(rows);
    let sorted = move || {
        let (column, desc) = sort.get();
        let mut r = rows.get_value();
        if column == 0 {
            r.sort_by(|a, b| a.name.cmp(&b.name));
        } else {
            r.sort_by_key(|w| sort_value(w, column));
        }
        if desc {
            r.reverse();
        }
        r
    };
    let row_view = move |w: WorkflowCostView, total: bool| {
        view! {
            <tr data-testid=if total { "cost-total-row" } else { "cost-row" } class:total=total>
                <td data-label="Workflow">{w.name.clone()}{(w.held > 0).then(|| view! { <span class="badge review">{format!("{} held", w.held)}</span> })}</td>
                <td data-label="Runs">{w.runs}</td>
                <td data-label="Outcomes">{w.outcomes}</td>
                <td data-label="Exceptions">{w.exceptions}</td>
                <td data-label="Spend" data-testid="row-spend">{c.cents(w.total)}</td>
                <td data-label="Per run">{amount(c, w.per_run)}</td>
                <td data-label="Per outcome">{amount(c, w.per_outcome)}</td>
                <td data-label="Per exception">{amount(c, w.per_exception)}</td>
                {w.by_kind.iter().enumerate().map(|(k, m)| view! { <td data-label=COLUMNS[8 + k]>{c.cents(*m)}</td> }).collect_view()}
            </tr>
        }
    };
    view! {
        <div class="table-scroll" tabindex="0">
            <table class="table costs" data-testid="cost-table">
                <thead><tr>{COLUMNS.iter().enumerate().map(|(i, title)| view! {
                    <th><button type="button" class="sort" data-testid=format!("sort-{i}")
                        on:click=move |_| sort.update(|(c, d)| if *c == i { *d = !*d } else { *c = i; *d = i != 0 })>
                        {*title}{move || match sort.get() { (c, true) if c == i => " ▾", (c, false) if c == i => " ▴", _ => "" }}
                    </button></th>
                }).collect_view()}</tr></thead>
                <tbody>
                    {move || sorted().into_iter().map(|w| row_view(w, false)).collect_view()}
                    {row_view(business.clone(), true)}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn BudgetCard(
    slug: String,
    w: WorkflowCostView,
    may_edit: bool,
    saved: ServerAction<SaveBudget>,
    last: RwSignal<Option<String>>,
    c: Currency,
) -> impl IntoView {
    let b = w.budget.clone();
    let summary = match &b {
        Some(b) => format!(
            "{} runs a month at {} a run: plan {}, cap {}. Spent this month: {}.",
            b.expected_runs,
            c.precise(money::parse(&b.target_per_run).unwrap_or(0)),
            c.cents(b.planned),
            c.cents(b.cap),
            c.cents(w.month_spent)
        ),
        None => format!("No budget yet. Spent this month: {}.", c.cents(w.month_spent)),
    };
    let testid = format!("budget-{}", w.name);
    if !may_edit {
        return view! {
            <div class="budget" data-testid=testid>
                <h3>{w.name.clone()}</h3>
                <p data-testid="budget-summary">{summary}</p>
                {b.map(|b| view! { <p class="muted small">{format!("At the cap: {}.", engine_action_label(&b.action))}</p> })}
            </div>
        }
        .into_any();
    }
    let b = b.unwrap_or(BudgetView {
        expected_runs: String::new(),
        target_per_run: String::new(),
        overage_pct: "10".into(),
        action: "alert_only".into(),
        deviation_pct: "15".into(),
        batchable: false,
        window_start: "22".into(),
        window_end: "6".into(),
        planned: 0,
        cap: 0,
    });
    let expected = RwSignal::new(b.expected_runs.clone());
    let target = RwSignal::new(b.target_per_run.clone());
    let overage = RwSignal::new(b.overage_pct.clone());
    let action = RwSignal::new(b.action.clone());
    let deviation = RwSignal::new(b.deviation_pct.clone());
    let batchable = RwSignal::new(b.batchable);
    let start = RwSignal::new(b.window_start.clone());
    let end = RwSignal::new(b.window_end.clone());
    let name = w.name.clone();
    let this = StoredValue::new(w.name.clone());
    let result = move || if last.get() == Some(this.get_value()) { saved.value().get() } else { None };
    let error =
        move |field: &'static str| Signal::derive(move || result().and_then(|r| r.err()).and_then(|e| e.field(field)));
    let message = Signal::derive(move || result().and_then(|r| r.err()).and_then(|e| e.form_message()));
    let ok = move || matches!(result(), Some(Ok(())));
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        last.set(Some(name.clone()));
        saved.dispatch(SaveBudget {
            slug: slug.clone(),
            workflow: name.clone(),
            expected_runs: expected.get(),
            target_per_run: target.get(),
            overage_pct: overage.get(),
            action: action.get(),
            deviation_pct: deviation.get(),
            batchable: batchable.get().then(|| "on".to_string()),
            window_start: Some(start.get()),
            window_end: Some(end.get()),
        });
    };
    view! {
        <form class="budget budget-form" data-testid=testid on:submit=on_submit novalidate>
            <h3>{w.name.clone()}</h3>
            <p data-testid="budget-summary">{summary}</p>
            <Field name=format!("expected_runs-{}", w.name) label="Expected runs a month" value=expected error=error("expected_runs") />
            <Field name=format!("target_per_run-{}", w.name) label="Target cost per run" value=target error=error("target_per_run") hint="e.g. 0.25" />
            <Field name=format!("overage_pct-{}", w.name) label="Acceptable overage (%)" value=overage error=error("overage_pct") />
            <div class="field">
                <label for=format!("action-{}", w.name)>"At the cap"</label>
                <select id=format!("action-{}", w.name) prop:value=move || action.get() on:change=move |ev| action.set(event_target_value(&ev))>
                    {["alert_only", "downgrade", "pause"].into_iter().map(|a| view! { <option value=a selected=b.action == a>{engine_action_label(a)}</option> }).collect_view()}
                </select>
                <p class="field-error" role="alert">{move || error("action").get().unwrap_or_default()}</p>
            </div>
            <Field name=format!("deviation_pct-{}", w.name) label="Alert beyond (%)" value=deviation error=error("deviation_pct") />
            <div class="field check">
                <label><input type="checkbox" prop:checked=move || batchable.get() on:change=move |ev| batchable.set(event_target_checked(&ev)) />
                    " Batchable: run in an off-peak window"</label>
            </div>
            <Show when=move || batchable.get()>
                <Field name=format!("window_start-{}", w.name) label="Window opens (hour)" value=start error=error("window_start") />
                <Field name=format!("window_end-{}", w.name) label="Window closes (hour)" value=end error=error("window_end") />
            </Show>
            <button class="button primary" type="submit" disabled=move || saved.pending().get()>"Save budget"</button>
            <FormError message=message />
            <Show when=ok><p class="notice" role="status" data-testid="budget-saved">"Budget saved; held runs are checked against it now."</p></Show>
        </form>
    }
    .into_any()
}

fn engine_action_label(action: &str) -> &'static str {
    match action {
        "downgrade" => "Route to the cheaper model tier",
        "pause" => "Pause new runs (events are kept and queued)",
        _ => "Alert only",
    }
}
