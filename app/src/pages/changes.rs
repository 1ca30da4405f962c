//! The business's change log: who changed what, when and why. Filterable,
//! and downloadable as CSV.

use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::ChangeView;
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "list_changes")]
pub async fn list_changes(
    slug: String,
    area: String,
    actor: String,
    text: String,
) -> Result<Vec<ChangeView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ChangeLog).await?;
    let filter = store::audit::ChangeFilter { area: Some(area), actor: Some(actor), text: Some(text) };
    let rows = store::audit::changes(&cx.state.db, &me.tenant, &filter, 500).await;
    cx.rows("reading the change log", rows, |r| ChangeView {
        at: crate::ssr::short_time(&r.at),
        who: r.actor_email.unwrap_or_else(|| "Steward".into()),
        area: r.area,
        action: r.action,
        subject: r.subject,
        why: r.why,
    })
}

#[component]
pub fn ChangeLogPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let area = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let changes = Resource::new(
        move || (slug.get(), area.get(), actor.get(), text.get()),
        |(slug, area, actor, text)| list_changes(slug, area, actor, text),
    );
    let csv_href =
        move || format!("/t/{}/changes.csv?area={}&actor={}&text={}", slug.get(), area.get(), actor.get(), text.get());
    view! {
        <Title text="Change log" />
        <section class="page-head row">
            <div>
                <h1>"Change log"</h1>
                <p class="muted">"Every change to workflows, prompts, models, thresholds and members: who, when, what and why."</p>
            </div>
            <a class="button" href=csv_href data-testid="export-csv" rel="external">"Export CSV"</a>
        </section>
        <section class="card filters">
            <div class="field">
                <label for="filter-area">"Area"</label>
                <select id="filter-area" on:change=move |ev| area.set(event_target_value(&ev))>
                    <option value="">"Everything"</option>
                    {["workflow", "prompt", "model", "threshold", "fallback", "cost", "kpi", "business", "token"].into_iter()
                        .map(|a| view! { <option value=a>{a}</option> }).collect_view()}
                </select>
            </div>
            <div class="field">
                <label for="filter-actor">"Who"</label>
                <input id="filter-actor" placeholder="email" on:input=move |ev| actor.set(event_target_value(&ev)) />
            </div>
            <div class="field">
                <label for="filter-text">"Contains"</label>
                <input id="filter-text" placeholder="workflow, reason…" on:input=move |ev| text.set(event_target_value(&ev)) />
            </div>
        </section>
        <Transition fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match changes.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! {
                        <section class="empty-state"><h2>"No changes match"</h2><p>"Changes appear here as people edit workflows, prompts and settings."</p></section>
                    }.into_any(),
                    Ok(rows) => view! {
                        <section class="card">
                            <table class="table" data-testid="changes">
                                <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Why"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|c| view! {
                                        <tr>
                                            <td data-label="When">{c.at}</td>
                                            <td data-label="Who">{c.who}</td>
                                            <td data-label="What"><span class="badge">{c.area}</span>" "{c.action}" · "{c.subject}</td>
                                            <td data-label="Why">{c.why}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table>
                        </section>
                    }.into_any(),
                }
            })}
        </Transition>
    }
}
