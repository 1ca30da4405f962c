//! The monthly scorecard: a scheduled job (apalis-cron) that, once a month
//! has ended in a business's time zone (so on the 1st, or at the first
//! tick after a stop), computes the month from its day tallies, stores it
//! as an immutable snapshot and, in the same transaction, writes the report
//! email (HTML with its charts, plain text and the PDF) to every executive
//! and owner. Older months still missing (up to three back) are stored
//! without email, so a new install has its trend.

use crate::context::Context;
use engine::kpi::{Month, Scorecard};
use engine::report::Report;
use store::jobs::Attachment;
use store::outbox::OutboxEmail;

/// Where a month's report lives.
pub fn report_url(public_url: &str, slug: &str, month: Month) -> String {
    format!("{}/t/{slug}/reports?month={month}", public_url.trim_end_matches('/'))
}

/// The report email for `card`, with the months before it for the trend.
pub fn report_mail(card: &Scorecard, history: &[Scorecard], url: &str) -> OutboxEmail {
    let report = Report { card, history };
    let (subject, text, html) = report.email(url);
    let pdf = engine::report_pdf::render(&report, url);
    OutboxEmail {
        subject,
        text,
        html,
        attachments: vec![Attachment::new(&format!("steward-scorecard-{}.pdf", card.month), "application/pdf", &pdf)],
        ..Default::default()
    }
}

/// One pass over the businesses whose month may have ended since this
/// process last looked (after a business is checked, it is not looked at
/// again until its current month ends). Returns how many scorecards it stored.
pub async fn check(cx: &Context, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<usize> {
    let mut stored = 0;
    for tenant in store::tenants::all(&cx.db).await? {
        let next = cx.scorecards_next.lock().unwrap_or_else(|p| p.into_inner()).get(&tenant.id()).copied();
        if next.is_some_and(|next| now < next) {
            continue;
        }
        let (due, month_ends) = store::kpis::due_months(&cx.db, &tenant, now).await?;
        // Looked at again when its month ends; a failure below leaves it to the next tick.
        let checked = || cx.scorecards_next.lock().unwrap_or_else(|p| p.into_inner()).insert(tenant.id(), month_ends);
        if due.is_empty() {
            checked();
            continue;
        }
        let slug = store::tenants::slug_of(&cx.db, &tenant).await?;
        let just_ended = store::local_time::current_month(&cx.db, &tenant, now).await?.previous();
        for month in due {
            let url = report_url(cx.settings.public_url.as_str(), &slug, month);
            let compose = move |card: &Scorecard, history: &[Scorecard]| report_mail(card, history, &url);
            // Only the month that just ended is emailed; older ones fill in the trend.
            let mail = (month == just_ended).then_some(&compose as &store::kpis::ComposeReport);
            let (revision, card, outbox, ids) =
                store::kpis::snapshot_month(&cx.db, &tenant, month, now, "steward (monthly job)", "", mail).await?;
            tracing::info!(%month, revision, runs = card.business.runs, emails = outbox.len(), "scorecard stored");
            cx.hand_over(&tenant, &outbox, &ids).await;
            stored += 1;
        }
        checked();
    }
    Ok(stored)
}

/// The apalis handler run on the schedule.
pub async fn on_tick(
    _: apalis_cron::Tick,
    cx: apalis::prelude::Data<Context>,
) -> Result<(), apalis::prelude::BoxDynError> {
    cx.consumers.schedule.consumed("scorecard check");
    match check(&cx, chrono::Utc::now()).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(scorecards = n, "monthly scorecards"),
        Err(e) => tracing::warn!(error = %e, "the scorecard job failed; trying again next tick"),
    }
    Ok(())
}
