//! Sending email over SMTP with lettre. A transient failure (connection
//! refused, 4xx) is retried with exponential backoff; a permanent one (5xx,
//! bad address) is not.

use apalis::layers::retry::{
    backoff::{ExponentialBackoff, ExponentialBackoffMaker, MakeBackoff},
    BackoffRetryPolicy, HasherRng, RetryPolicy,
};
use apalis::prelude::*;
use lettre::{
    message::{header::ContentType, Attachment, Mailbox, MultiPart, SinglePart},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use std::time::Duration;
use store::{config::Settings, jobs::EmailJob};
use tracing::Instrument;

/// Total attempts (first try and every retry) before a message is given up.
pub const MAX_ATTEMPTS: usize = 6;

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .map_err(|e| anyhow::anyhow!("SMTP_URL is not valid: {e}"))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from = settings.mail_from.parse().map_err(|e| anyhow::anyhow!("STEWARD_MAIL_FROM is not valid: {e}"))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, job: &EmailJob) -> Result<(), DeliveryError> {
        let to: Mailbox = job.to.parse().map_err(|e| DeliveryError::Permanent(format!("bad recipient: {e}")))?;
        let body = MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(job.text.clone()))
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(job.html.clone()));
        let builder = Message::builder().from(self.from.clone()).to(to).subject(job.subject.clone());
        let message = if job.attachments.is_empty() {
            builder.multipart(body)
        } else {
            let mut mixed = MultiPart::mixed().multipart(body);
            for a in &job.attachments {
                let bytes = a
                    .bytes()
                    .map_err(|e| DeliveryError::Permanent(format!("attachment {} is not base64: {e}", a.filename)))?;
                let kind = ContentType::parse(&a.content_type)
                    .map_err(|e| DeliveryError::Permanent(format!("attachment {}: {e}", a.filename)))?;
                mixed = mixed.singlepart(Attachment::new(a.filename.clone()).body(bytes, kind));
            }
            builder.multipart(mixed)
        }
        .map_err(|e| DeliveryError::Permanent(format!("cannot build the message: {e}")))?;
        self.transport.send(message).await.map(|_| ()).map_err(|e| {
            if e.is_permanent() {
                DeliveryError::Permanent(e.to_string())
            } else {
                DeliveryError::Transient(e.to_string())
            }
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
    #[error("transient delivery failure: {0}")]
    Transient(String),
}

/// The apalis handler for the email queue.
pub async fn send_email(job: EmailJob, mailer: Data<Mailer>, attempt: Attempt) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("email", tenant_id = %job.tenant_id, attempt = attempt.current());
    deliver(&job, &mailer, attempt).instrument(span).await
}

async fn deliver(job: &EmailJob, mailer: &Mailer, attempt: Attempt) -> Result<(), BoxDynError> {
    match mailer.send(job).await {
        Ok(()) => {
            tracing::info!("email sent");
            Ok(())
        }
        Err(e @ DeliveryError::Permanent(_)) => {
            tracing::error!(error = %e, "email cannot be delivered; giving up");
            Err(AbortError::new(e).into())
        }
        Err(e) if attempt.current() >= MAX_ATTEMPTS => {
            tracing::error!(error = %e, "email still failing after {MAX_ATTEMPTS} attempts; giving up");
            Err(AbortError::new(e).into())
        }
        Err(e) => {
            tracing::warn!(error = %e, "email delivery failed; will retry");
            Err(e.into())
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
