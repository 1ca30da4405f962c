//! The replay job: a workflow version run in shadow over a dataset, one
//! event after another, each result committed as it comes. A cancelled
//! replay stops after the event in hand; a replay whose worker died is
//! taken up by another (the sweeper sends its job again when its lease
//! lapses) and goes on with the events it has no result for.

use crate::context::Context;
use crate::executor::shadow;
use crate::lease::LeaseKeeper;
use apalis::prelude::*;
use engine::cost::{CapAction, Verdict};
use store::jobs::ReplayJob;
use store::replays;
use tracing::Instrument;

/// The apalis handler for the replays queue.
pub async fn execute_replay(job: ReplayJob, cx: Data<Context>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("replay", replay_id = %job.replay_id, tenant_id = %job.tenant_id);
    let result = replay(&cx, &job).instrument(span).await.map_err(|e| {
        tracing::error!(error = %e, "the replay stopped on an infrastructure error; the sweeper will resume it");
        BoxDynError::from(e.to_string())
    });
    cx.consumers.replays.consumed(format_args!("replay {}", job.replay_id));
    result
}

/// Replays the job's replay to its end, if it is this worker's to run.
pub async fn replay(cx: &Context, job: &ReplayJob) -> anyhow::Result<()> {
    let tenant = job.tenant()?;
    if let Ok(Err(e)) =
        tokio::time::timeout(std::time::Duration::from_secs(1), cx.replays.taken(&[job.replay_id.to_string()])).await
    {
        tracing::debug!(error = %e, "could not note the replay's job as taken");
    }
    let lease = cx.settings.runs.lease_seconds;
    let Some(leased) = replays::lease(&cx.db, &tenant, job.replay_id, &cx.owner, lease).await? else {
        tracing::debug!("the replay is held, finished or cancelled; nothing to do");
        return Ok(());
    };
    // A replay is long: the stall watch hears that the queue is being worked on as each event is done.
    cx.consumers.replays.working(format_args!("replay {}", leased.id));
    let _keeper = {
        let (db, tenant, owner, id) = (cx.db.clone(), tenant.clone(), cx.owner.clone(), leased.id);
        LeaseKeeper::start(lease, move || {
            let (db, tenant, owner) = (db.clone(), tenant.clone(), owner.clone());
            async move { matches!(replays::renew(&db, &tenant, id, &owner, lease).await, Ok(true)) }
        })
    };
    // The business's budget is checked as for a run; what the replay spends is its own.
    let mut downgrade = None;
    if let Some(state) = &leased.budget {
        if let Some(budget) = &state.budget {
            match engine::cost::before_run(budget, state.month.spent, state.forecast()) {
                Verdict::AtCap(CapAction::Pause) => {
                    let why = format!(
                        "the workflow's budget is at its cap ({} spent of {}) and pauses runs, so models are not called for a replay",
                        state.currency.cents(state.month.spent),
                        state.currency.cents(budget.cap())
                    );
                    replays::fail(&cx.db, &tenant, leased.id, &cx.owner, &why).await?;
                    return Ok(());
                }
                Verdict::AtCap(CapAction::Downgrade) => {
                    downgrade = Some("the workflow's budget is at its cap, so premium steps use the small tier".into())
                }
                Verdict::AtCap(CapAction::AlertOnly) | Verdict::Proceed => {}
            }
        }
    }
    let config = cx.config.business(&tenant, leased.generation);
    let sensitive = config.sensitive_keys(&cx.db, &leased.workflow_name, leased.version, &leased.contract).await?;
    let rates = config.rates(&cx.db).await?;
    let pending = replays::pending(&cx.db, &tenant, &leased).await?;
    let setup = shadow::Setup { replay: leased, config, sensitive, rates, downgrade };
    tracing::info!(events = pending.len(), version = setup.replay.version, "replaying");
    for item in pending {
        let outcome = shadow::run(cx, &tenant, &setup, &item).await?;
        let comparison = engine::replay::compare(&item.production, &outcome);
        if !replays::record(&cx.db, &tenant, setup.replay.id, &cx.owner, item.run_id, &outcome, &comparison).await? {
            tracing::info!("the replay was cancelled or taken over; stopping here");
            return Ok(());
        }
        cx.consumers.replays.working(format_args!("replay {}", setup.replay.id));
    }
    if let Some(summary) = replays::finish(&cx.db, &tenant, &setup.replay, &cx.owner).await? {
        tracing::info!(events = summary.events, regressions = summary.regressions, "replay finished");
    }
    Ok(())
}
