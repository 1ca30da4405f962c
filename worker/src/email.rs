//! The email job. An outbox email is sent at most once per claim and its
//! send recorded before the job is acknowledged; a transient failure
//! (connection refused, 4xx) is retried with exponential backoff, a
//! permanent one (5xx, bad address) is not.

use apalis::layers::retry::{
    backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff},
    BackoffRetryPolicy, HasherRng, RetryPolicy,
};
use apalis::prelude::*;
use std::time::Duration;
use store::jobs::EmailJob;
use store::mailer::{DeliveryError, Mailer, SMTP_TIMEOUT};
use tracing::Instrument;

/// Total attempts (first try and every retry) before a message is given up.
pub const MAX_ATTEMPTS: usize = 6;

/// The apalis handler for the email queue.
pub async fn send_email(job: EmailJob, cx: Data<crate::context::Context>, attempt: Attempt) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("email", tenant_id = %job.tenant_id, outbox_id = ?job.outbox_id, attempt = attempt.current());
    let result = async {
        match job.outbox_id {
            Some(id) => deliver_once(&cx, &job, id, attempt).await,
            None => deliver(&job, &cx.mailer, attempt).await.map_err(|(e, _)| e),
        }
    }
    .instrument(span)
    .await;
    cx.consumers.email.consumed(format_args!("email {}", job.outbox_id.map(|i| i.to_string()).unwrap_or_default()));
    result
}

/// How long a worker holds an outbox email while it sends it (longer than
/// an SMTP conversation may take); a worker killed mid-send leaves it to be
/// taken over after this.
const CLAIM_SECONDS: i64 = SMTP_TIMEOUT.as_secs() as i64 + 5;

/// Sends an outbox email unless it was sent, given up, or is being sent
/// by another worker; records the send before the job is acknowledged.
async fn deliver_once(
    cx: &crate::context::Context,
    job: &EmailJob,
    id: uuid::Uuid,
    attempt: Attempt,
) -> Result<(), BoxDynError> {
    use store::outbox::{self, Claim};
    // Off the queue: no longer counted as waiting (best-effort).
    let _ = tokio::time::timeout(Duration::from_secs(1), cx.mail.taken(&[id.to_string()])).await;
    let tenant = store::tenants::by_id(&cx.db, job.tenant_id).await?;
    match outbox::claim(&cx.db, &tenant, id, &cx.owner, CLAIM_SECONDS).await? {
        Claim::Mine { .. } => {}
        other => {
            tracing::info!(state = ?other, "outbox email not sent by this job: {}", match other {
                Claim::Sent => "it was sent already",
                Claim::Failed => "it was given up",
                Claim::Taken => "another worker is sending it",
                _ => "it no longer exists",
            });
            return Ok(());
        }
    }
    match deliver(job, &cx.mailer, attempt).await {
        Ok(()) => {
            // Recorded before the job is acknowledged; tried hard, because
            // a send not recorded is a send that may be repeated.
            let mut pause = Duration::from_millis(200);
            for _ in 0..8 {
                match outbox::mark_sent(&cx.db, &tenant, id).await {
                    Ok(()) => return Ok(()),
                    Err(e) => {
                        tracing::warn!(error = %e, "the send could not be recorded yet; trying again");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(5));
                    }
                }
            }
            tracing::error!(
                "the email was sent but the send could not be recorded; it may be sent again after its claim lapses"
            );
            Ok(())
        }
        Err((e, final_failure)) => {
            let reason = e.to_string();
            let recorded = if final_failure {
                outbox::mark_failed(&cx.db, &tenant, id, &reason).await
            } else {
                outbox::release(&cx.db, &tenant, id, &reason).await
            };
            if let Err(db) = recorded {
                tracing::warn!(error = %db, "could not record the failed send; the claim lapses and the sweeper retries");
            }
            Err(e)
        }
    }
}

/// One SMTP attempt. On failure: the error, and whether it is final.
async fn deliver(job: &EmailJob, mailer: &Mailer, attempt: Attempt) -> Result<(), (BoxDynError, bool)> {
    match mailer.send(job).await {
        Ok(()) => {
            tracing::info!("email sent");
            Ok(())
        }
        Err(e @ DeliveryError::Permanent(_)) => {
            tracing::error!(error = %e, "email cannot be delivered; giving up");
            Err((AbortError::new(e).into(), true))
        }
        Err(e) if attempt.current() >= MAX_ATTEMPTS => {
            tracing::error!(error = %e, "email still failing after {MAX_ATTEMPTS} attempts; giving up");
            Err((AbortError::new(e).into(), true))
        }
        Err(e) => {
            tracing::warn!(error = %e, "email delivery failed; will retry");
            Err((e.into(), false))
        }
    }
}

/// In-process retries with exponential backoff (1 s, 2 s, 4 s … capped at
/// 30 s, jittered); after those, apalis-redis schedules later attempts.
pub fn retry_policy() -> BackoffRetryPolicy<ExponentialBackoff<HasherRng>> {
    let backoff =
        ExponentialBackoffMaker::new(Duration::from_secs(1), Duration::from_secs(30), 0.5, HasherRng::default())
            .expect("valid backoff bounds")
            .make_backoff();
    RetryPolicy::retries(3).with_backoff(backoff)
}
