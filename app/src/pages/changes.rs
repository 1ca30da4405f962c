//! The business's audit log: who did what, when and why — sign-ins, members,
//! tokens and secrets, workflow and prompt changes, decisions, budgets.
//! Filterable by area, person, text and days; downloadable as CSV and as
//! JSON lines with the hash-chain fields; the chain can be verified here.

use crate::components::refusal::Refusal;
use crate::error::AppError;
use crate::views::{ChainCheckView, ChangeView};
use leptos::prelude::*;
use leptos_meta::Title;

#[server(endpoint = "list_changes")]
pub async fn list_changes(
    slug: String,
    area: String,
    actor: String,
    text: String,
    since: String,
    until: String,
) -> Result<Vec<ChangeView>, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ChangeLog).await?;
    let days = (store::audit::parse_day("since", &since), store::audit::parse_day("until", &until));
    let (since, until) = match days {
        (Ok(s), Ok(u)) => (s, u),
        (s, u) => return Err(cx.invalid([s.err(), u.err()].into_iter().flatten().collect())),
    };
    let filter = store::audit::ChangeFilter { area: Some(area), actor: Some(actor), text: Some(text), since, until };
    let rows = store::audit::changes(&cx.state.db, &me.tenant, &filter, 500).await;
    cx.rows("reading the audit log", rows, crate::ssr::change_view)
}

/// Recomputes the business's hash chain and checks it against the daily anchors.
#[server(endpoint = "verify_audit_chain")]
pub async fn verify_audit_chain(slug: String) -> Result<ChainCheckView, AppError> {
    use store::audit::ChainVerdict;
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::ChangeLog).await?;
    let verdict =
        store::audit::verify(&cx.state.db, &me.tenant).await.map_err(|e| cx.internal("verifying the audit log", e))?;
    Ok(match verdict {
        ChainVerdict::Intact { events, head } => ChainCheckView {
            intact: true,
            message: format!(
                "The chain holds: all {events} events are unchanged and in order. Head {}…",
                &head[..head.len().min(16)]
            ),
        },
        ChainVerdict::Broken { seq, reason, .. } => {
            ChainCheckView { intact: false, message: format!("The chain is broken at event #{seq}: {reason}.") }
        }
    })
}

#[component]
pub fn ChangeLogPage() -> impl IntoView {
    let slug = crate::route::param("slug");
    let area = RwSignal::new(String::new());
    let actor = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let until = RwSignal::new(String::new());
    let verify = ServerAction::<VerifyAuditChain>::new();
    let changes = crate::resource::new(
        move || (slug.get(), area.get(), actor.get(), text.get(), since.get(), until.get()),
        |(slug, area, actor, text, since, until)| list_changes(slug, area, actor, text, since, until),
    );
    let query = move || {
        format!(
            "area={}&actor={}&text={}&since={}&until={}",
            urlencode(&area.get()),
            urlencode(&actor.get()),
            urlencode(&text.get()),
            urlencode(&since.get()),
            urlencode(&until.get())
        )
    };
    let csv_href = move || format!("/t/{}/changes.csv?{}", slug.get(), query());
    let jsonl_href = move || format!("/t/{}/audit.jsonl?{}", slug.get(), query());
    let verdict = Signal::derive(move || verify.value().get());
    view! {
        <Title text="Audit log" />
        <section class="page-head row">
            <div>
                <h1>"Audit log"</h1>
                <p class="muted">"Sign-ins, members, tokens and secrets, workflow and prompt changes, decisions and budgets: who, when, what and why. Nothing here can be changed or deleted."</p>
            </div>
            <div class="actions tight">
                <button class="button" type="button" data-testid="verify-chain" disabled=move || verify.pending().get()
                    on:click=move |_| { verify.dispatch(VerifyAuditChain { slug: slug.get_untracked() }); }>
                    {move || if verify.pending().get() { "Verifying…" } else { "Verify the chain" }}
                </button>
                <a class="button" href=csv_href data-testid="export-csv" rel="external">"Export CSV"</a>
                <a class="button" href=jsonl_href data-testid="export-jsonl" rel="external">"Export JSON lines"</a>
            </div>
        </section>
        {move || verdict.get().map(|v| match v {
            Ok(v) => view! {
                <p class=if v.intact { "notice" } else { "form-error" } role="status" data-testid="chain-verdict">{v.message}</p>
            }.into_any(),
            Err(e) => view! { <Refusal error=e /> }.into_any(),
        })}
        <section class="card filters">
            <div class="field">
                <label for="filter-area">"Area"</label>
                <select id="filter-area" on:change=move |ev| area.set(event_target_value(&ev))>
                    <option value="">"Everything"</option>
                    {engine::audit::AREAS.iter().map(|a| view! { <option value=*a>{*a}</option> }).collect_view()}
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
            <div class="field">
                <label for="filter-since">"From"</label>
                <input id="filter-since" type="date" on:change=move |ev| since.set(event_target_value(&ev)) />
            </div>
            <div class="field">
                <label for="filter-until">"To"</label>
                <input id="filter-until" type="date" on:change=move |ev| until.set(event_target_value(&ev)) />
            </div>
        </section>
        <Transition fallback=crate::components::field::Loading>
            {move || Suspend::new(async move {
                match changes.await {
                    Err(e) => view! { <Refusal error=e /> }.into_any(),
                    Ok(rows) if rows.is_empty() => view! {
                        <section class="empty-state"><h2>"No events match"</h2><p>"Events appear here as people sign in, change workflows, prompts and settings, and decide review tasks."</p></section>
                    }.into_any(),
                    Ok(rows) => view! {
                        <section class="card">
                            <table class="table" data-testid="changes">
                                <thead><tr><th>"#"</th><th>"When"</th><th>"Who"</th><th>"What"</th><th>"Why"</th></tr></thead>
                                <tbody>
                                    {rows.into_iter().map(|c| view! {
                                        <tr>
                                            <td data-label="#" class="muted">{c.seq}</td>
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

/// Percent-encodes a query value.
fn urlencode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
