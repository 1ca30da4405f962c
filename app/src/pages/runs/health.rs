//! The delivery line on the Runs page: whether workers are taking work
//! (shared by every business on this install), and this business's mail
//! and runs that are waiting longer than they should.

use crate::error::AppError;
use crate::views::{DeliveryHealthView, QueueHealthView};
use leptos::prelude::*;

#[server(endpoint = "delivery_health")]
pub async fn delivery_health(slug: String) -> Result<DeliveryHealthView, AppError> {
    let cx = crate::ssr::Ctx::get().await?;
    let me = cx.member(&slug, engine::Page::Runs).await?;
    let state = &cx.state;
    let deadline = std::time::Duration::from_millis(500);
    let queues =
        store::workers::overview(&state.db, &state.runs, &state.mail, &state.replays, &state.settings, deadline)
            .await
            .map_err(|e| cx.internal("reading the workers' heartbeats", e))?;
    let mail = store::outbox::backlog(&state.db, &me.tenant).await.map_err(|e| cx.internal("reading the outbox", e))?;
    let (runs_undelivered, runs_undelivered_reason) =
        store::runs::undelivered(&state.db, &me.tenant).await.map_err(|e| cx.internal("reading the runs", e))?;
    let now = chrono::Utc::now();
    Ok(DeliveryHealthView {
        queues: queues
            .into_iter()
            .map(|q| QueueHealthView {
                queue: q.health.queue.to_string(),
                consumers: q.health.consumers,
                restarting: q.health.restarting,
                last_active: q.health.idle_seconds(now).filter(|_| q.health.consumers > 0).map(ago),
                waiting: q.backlog.map(|b| b.waiting),
                stalled: q.stalled,
            })
            .collect(),
        mail_waiting: mail.open,
        mail_oldest: mail.oldest_seconds.map(|s| ago(s as i64)),
        mail_failed: mail.failed_recently,
        mail_failed_reason: mail.last_failure,
        runs_undelivered,
        runs_undelivered_reason,
    })
}

/// "3 s", "4 min", "2 h".
#[cfg(feature = "ssr")]
fn ago(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}

fn queue_line(q: &QueueHealthView) -> (bool, String) {
    let name = match q.queue.as_str() {
        "runs" => "Runs",
        "email" => "Email",
        "replays" => "Replays",
        _ => "Scheduled jobs",
    };
    if let Some(why) = &q.stalled {
        return (true, format!("{name}: stalled — {why}"));
    }
    match (q.consumers, &q.last_active) {
        (0, _) if q.restarting > 0 => (true, format!("{name}: a worker is restarting")),
        (0, _) => (q.waiting.unwrap_or(0) > 0, format!("{name}: no worker running")),
        (n, Some(at)) => {
            let workers = if n == 1 { "1 worker".to_string() } else { format!("{n} workers") };
            let waiting = q.waiting.filter(|w| *w > 0).map(|w| format!(", {w} waiting")).unwrap_or_default();
            (false, format!("{name}: {workers}, last active {at} ago{waiting}"))
        }
        (n, None) => (false, format!("{name}: {n} workers")),
    }
}

#[component]
pub fn DeliveryHealth() -> impl IntoView {
    let slug = crate::route::param("slug");
    let health = crate::resource::new(move || slug.get(), delivery_health);
    super::poll_every_two_seconds(move || health.refetch());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                // The line is advice on a page about runs: when it cannot be read, the page goes on without it.
                health.await.ok().map(|h| {
                    let lines: Vec<(bool, String)> = h.queues.iter().map(queue_line).collect();
                    let mut trouble: Vec<String> = lines.iter().filter(|(bad, _)| *bad).map(|(_, l)| l.clone()).collect();
                    if h.mail_failed > 0 {
                        let why = h.mail_failed_reason.clone().map(|r| format!(": {r}")).unwrap_or_default();
                        trouble.push(format!("{} emails could not be delivered this week{why}", h.mail_failed));
                    }
                    if h.runs_undelivered > 0 {
                        let why = h.runs_undelivered_reason.clone().map(|r| format!(": {r}")).unwrap_or_default();
                        trouble.push(format!("{} runs could not be handed to a worker{why}", h.runs_undelivered));
                    }
                    let mail = match (h.mail_waiting, &h.mail_oldest) {
                        (0, _) => "all email sent".to_string(),
                        (n, Some(oldest)) => format!("{n} emails waiting (oldest {oldest})"),
                        (n, None) => format!("{n} emails waiting"),
                    };
                    let troubled = !trouble.is_empty();
                    let calm: Vec<String> = lines.iter().filter(|(bad, _)| !*bad).map(|(_, l)| l.clone()).collect();
                    view! {
                        <section class="card delivery-health" class:trouble=troubled data-testid="delivery-health"
                            role=if troubled { "alert" } else { "status" }>
                            {troubled.then(|| view! {
                                <ul class="trouble" data-testid="delivery-trouble">
                                    {trouble.into_iter().map(|t| view! { <li>{t}</li> }).collect_view()}
                                </ul>
                            })}
                            <p class="small muted" data-testid="delivery-calm">{calm.join(" · ")}{format!(" · {mail}")}</p>
                        </section>
                    }
                })
            })}
        </Transition>
    }
}
