//! SMTP with lettre: one `Mailer` per worker process. A transient failure
//! (connection refused, 4xx) is told apart from a permanent one (5xx, bad
//! address) so the email job knows whether to try again.

use crate::{config::Settings, jobs::EmailJob};
use lettre::{
    message::{header::ContentType, Attachment, Mailbox, MultiPart, SinglePart},
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};
use std::time::Duration;

/// How long one SMTP conversation may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&settings.smtp_url)
            .map_err(|e| anyhow::anyhow!("SMTP_URL is not valid: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = settings.mail_from.parse().map_err(|e| anyhow::anyhow!("STEWARD_MAIL_FROM is not valid: {e}"))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, job: &EmailJob) -> Result<(), DeliveryError> {
        let to: Mailbox = job.to.parse().map_err(|e| DeliveryError::Permanent(format!("bad recipient: {e}")))?;
        let body = MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(job.text.clone()))
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(job.html.clone()));
        let mut builder = Message::builder().from(self.from.clone()).to(to).subject(job.subject.clone());
        if let Some(id) = job.outbox_id {
            // One Message-ID per outbox email: a mail system can tell a repeat.
            builder = builder.message_id(Some(format!("<{}@{}>", id.simple(), self.from.email.domain())));
        }
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
