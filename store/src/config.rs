//! Configuration from the environment, read once at start-up.

use std::{env, fs, path::PathBuf};

/// The secret a development install uses when none is configured. Production
/// refuses to start with it.
pub const DEVELOPMENT_SECRET: &str = "steward-development-secret-not-for-production-use";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone)]
pub struct Settings {
    pub environment: Environment,
    pub database_url: String,
    pub redis_url: String,
    pub smtp_url: String,
    /// Where people reach Steward; links in emails and the CSRF origin check use it.
    pub public_url: url::Url,
    /// The address the HTTP server binds to.
    pub bind: String,
    /// Signs session tokens, approval and invitation links (`APP_SECRET`).
    pub app_secret: Vec<u8>,
    /// The signing secret before the last change (`APP_SECRET_PREVIOUS`): what
    /// it signed is still accepted, so sessions and emailed links outlive a
    /// rotation until they expire. Remove it once they have.
    pub previous_app_secret: Option<Vec<u8>>,
    /// The keys that encrypt stored secrets (`STEWARD_ENCRYPTION_KEYS`); see `keyring`.
    pub keyring: crate::keyring::Keyring,
    pub mail_from: String,
    /// Prefix of every Redis key and queue name, so several installs (or
    /// parallel tests) can share one Redis without touching each other's data.
    pub redis_prefix: String,
    /// Folder holding `pkg/` (the hydrate wasm, its JS and the CSS).
    pub site_root: PathBuf,
    pub session_hours: i64,
    pub invitation_hours: i64,
    /// How the run engine keeps runs moving; see `RunTiming`.
    pub runs: RunTiming,
    /// Largest event body accepted at /hooks, /forms and the events API.
    pub max_event_bytes: usize,
    /// Who hears about a stalled worker queue (`STEWARD_OPERATIONS_EMAIL`);
    /// unset: the operations members of the businesses with work waiting.
    pub operations_email: Option<String>,
    /// Where the development mailbox keeps its email (`STEWARD_DEV_MAILBOX`,
    /// set by the run command); the sign-up page points there outside production.
    pub dev_mailbox: Option<String>,
    /// Where Prometheus reads Steward's metrics; see `MetricsSettings`.
    pub metrics: MetricsSettings,
    /// A proxy in front of Steward whose client-address header is believed
    /// (`STEWARD_CLIENT_ADDRESS_HEADER`, `STEWARD_TRUSTED_PROXIES`); unset: the TCP peer counts.
    pub trusted_proxy: Option<crate::client_address::TrustedProxy>,
    /// Slack's Web API (`STEWARD_SLACK_API_URL`, default `https://slack.com/api`);
    /// tests point it at a fake that speaks the same API.
    pub slack_api_url: String,
    /// Hosts (`host` or `host:port`) a workflow's api_call may reach although
    /// they are private or loopback (`STEWARD_OUTBOUND_ALLOW`, comma-separated);
    /// in development Steward's own address is allowed as well. See `outbound`.
    pub outbound_allow: Vec<String>,
    /// How many tenant schemas the server keeps prepared for sign-ups
    /// (`STEWARD_SPARE_SCHEMAS`, default 2; 0: each sign-up builds its own).
    pub spare_schemas: usize,
}

/// `/metrics`: off unless a token or an address of its own is set.
#[derive(Clone, Default, PartialEq)]
pub struct MetricsSettings {
    /// `STEWARD_METRICS_TOKEN`: the server answers `/metrics` to `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// `STEWARD_METRICS_BIND`: an address of its own (a private network) where the server
    /// answers `/metrics` without a token.
    pub bind: Option<String>,
    /// `STEWARD_WORKER_METRICS_BIND`: where a worker process answers `/metrics`.
    pub worker_bind: Option<String>,
    /// `STEWARD_METRICS_TENANT_LABELS=true`: series carry the business's address.
    pub tenant_labels: bool,
}

impl std::fmt::Debug for MetricsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsSettings")
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .field("bind", &self.bind)
            .field("worker_bind", &self.worker_bind)
            .field("tenant_labels", &self.tenant_labels)
            .finish()
    }
}

/// Leases, the sweeper, and concurrency of the run engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunTiming {
    /// A worker's lease on a run; renewed while it works, so only a dead
    /// worker's lease lapses (`STEWARD_RUN_LEASE_SECONDS`, default 60).
    pub lease_seconds: i64,
    /// How often the sweeper looks for runs whose job was lost (`STEWARD_SWEEP_SECONDS`, default 15).
    pub sweep_seconds: u64,
    /// A queued run untouched this long has lost its job (`STEWARD_STALE_SECONDS`, default 60).
    pub stale_seconds: i64,
    /// Runs one worker executes at once (`STEWARD_RUN_CONCURRENCY`, default 16).
    pub concurrency: usize,
    /// How often overdue review tasks are escalated and stale ones closed
    /// (`STEWARD_REVIEW_CHECK_SECONDS`, default 60, at most 60).
    pub review_check_seconds: u64,
    /// Failures in a row after which a worker's queue consumer gives up and
    /// the process exits non-zero to be restarted (`STEWARD_WORKER_RESTARTS`, default 8).
    pub worker_restarts: u32,
    /// How often a worker writes its heartbeat (`STEWARD_HEARTBEAT_SECONDS`, default 5).
    pub heartbeat_seconds: u64,
    /// The sweeper and the scheduled jobs visit the businesses with work in
    /// progress; every business is visited this often too, as a safety net,
    /// a few at each pass in rotation (`STEWARD_FULL_SWEEP_SECONDS`, default 600).
    pub full_sweep_seconds: u64,
    /// A queue with work waiting and no job consumed for this long is
    /// stalled: `/readyz` fails and operations get one email (`STEWARD_STALL_SECONDS`, default 120).
    pub stall_seconds: i64,
    /// A run taken over this many times from an execution that ended without
    /// finishing it (its worker was killed, crashed or hung mid-run, found
    /// by its lapsed lease) ends failed the next time instead of being
    /// started again: a run that stops its worker must not do so, or repeat
    /// its calls, for ever (`STEWARD_RUN_MOST_TAKEOVERS`, default 5).
    pub most_takeovers: i32,
}

impl Default for RunTiming {
    fn default() -> Self {
        Self {
            lease_seconds: 60,
            sweep_seconds: 15,
            stale_seconds: 60,
            concurrency: 16,
            review_check_seconds: 60,
            worker_restarts: 8,
            heartbeat_seconds: 5,
            full_sweep_seconds: 600,
            stall_seconds: 120,
            most_takeovers: 5,
        }
    }
}

fn number<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .map_err(|_| ConfigError::Invalid { name, reason: format!("'{v}' is not a positive number") }),
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Deliberately omits the secret and credentials inside URLs.
        f.debug_struct("Settings")
            .field("environment", &self.environment)
            .field("public_url", &self.public_url.as_str())
            .field("bind", &self.bind)
            .field("redis_prefix", &self.redis_prefix)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name} is not valid: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("refusing to start in production: {0}")]
    UnsafeForProduction(String),
}

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    /// Reads `STEWARD_ENV`, `DATABASE_URL`, `REDIS_URL`, `SMTP_URL`, `PUBLIC_URL`,
    /// `APP_SECRET` (or `APP_SECRET_FILE`), `STEWARD_BIND`, `STEWARD_MAIL_FROM`,
    /// `STEWARD_REDIS_PREFIX` and `STEWARD_SITE_ROOT`.
    pub fn from_env() -> Result<Self, ConfigError> {
        let environment = match var("STEWARD_ENV").as_deref() {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "STEWARD_ENV",
                    reason: format!("'{other}' is neither 'development' nor 'production'"),
                })
            }
        };
        let app_secret = match (var("APP_SECRET"), var("APP_SECRET_FILE")) {
            (Some(s), _) => s.into_bytes(),
            (None, Some(path)) => fs::read(&path).map(|b| b.trim_ascii().to_vec()).map_err(|e| {
                ConfigError::Invalid { name: "APP_SECRET_FILE", reason: format!("cannot read {path}: {e}") }
            })?,
            (None, None) => DEVELOPMENT_SECRET.as_bytes().to_vec(),
        };
        let keyring = match (var("STEWARD_ENCRYPTION_KEYS"), var("STEWARD_ENCRYPTION_KEYS_FILE")) {
            (Some(spec), _) => crate::keyring::Keyring::parse(&spec, &app_secret)
                .map_err(|reason| ConfigError::Invalid { name: "STEWARD_ENCRYPTION_KEYS", reason })?,
            (None, Some(path)) => {
                let spec = fs::read_to_string(&path).map_err(|e| ConfigError::Invalid {
                    name: "STEWARD_ENCRYPTION_KEYS_FILE",
                    reason: format!("cannot read {path}: {e}"),
                })?;
                crate::keyring::Keyring::parse(&spec, &app_secret)
                    .map_err(|reason| ConfigError::Invalid { name: "STEWARD_ENCRYPTION_KEYS_FILE", reason })?
            }
            (None, None) => crate::keyring::Keyring::derived(&app_secret),
        };
        let public_url = var("PUBLIC_URL").unwrap_or_else(|| "http://127.0.0.1:3000".into());
        let public_url = url::Url::parse(&public_url)
            .map_err(|e| ConfigError::Invalid { name: "PUBLIC_URL", reason: e.to_string() })?;
        let default_bind = format!(
            "{}:{}",
            public_url.host_str().filter(|h| *h == "localhost" || h.starts_with("127.")).unwrap_or("0.0.0.0"),
            public_url.port_or_known_default().unwrap_or(3000)
        );
        let settings = Settings {
            environment,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/steward".into()),
            redis_url: var("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into()),
            smtp_url: var("SMTP_URL").unwrap_or_else(|| "smtp://127.0.0.1:2525".into()),
            public_url,
            bind: var("STEWARD_BIND").unwrap_or(default_bind),
            app_secret,
            previous_app_secret: var("APP_SECRET_PREVIOUS").map(String::into_bytes),
            keyring,
            mail_from: var("STEWARD_MAIL_FROM").unwrap_or_else(|| "Steward <no-reply@steward.localhost>".into()),
            redis_prefix: var("STEWARD_REDIS_PREFIX").unwrap_or_else(|| "steward".into()),
            site_root: var("STEWARD_SITE_ROOT").unwrap_or_else(|| "target/site".into()).into(),
            session_hours: 12,
            invitation_hours: 72,
            runs: RunTiming {
                lease_seconds: number("STEWARD_RUN_LEASE_SECONDS", 60)?,
                sweep_seconds: number("STEWARD_SWEEP_SECONDS", 15)?,
                stale_seconds: number("STEWARD_STALE_SECONDS", 60)?,
                concurrency: number("STEWARD_RUN_CONCURRENCY", 16)?,
                review_check_seconds: number("STEWARD_REVIEW_CHECK_SECONDS", 60)?,
                worker_restarts: number("STEWARD_WORKER_RESTARTS", 8)?,
                heartbeat_seconds: number("STEWARD_HEARTBEAT_SECONDS", 5)?,
                full_sweep_seconds: number("STEWARD_FULL_SWEEP_SECONDS", 600)?,
                stall_seconds: number("STEWARD_STALL_SECONDS", 120)?,
                most_takeovers: number("STEWARD_RUN_MOST_TAKEOVERS", 5)?,
            },
            operations_email: var("STEWARD_OPERATIONS_EMAIL"),
            dev_mailbox: var("STEWARD_DEV_MAILBOX"),
            metrics: MetricsSettings {
                token: var("STEWARD_METRICS_TOKEN"),
                bind: var("STEWARD_METRICS_BIND"),
                worker_bind: var("STEWARD_WORKER_METRICS_BIND"),
                tenant_labels: matches!(var("STEWARD_METRICS_TENANT_LABELS").as_deref(), Some("1" | "true" | "yes")),
            },
            max_event_bytes: number("STEWARD_MAX_EVENT_BYTES", 256 * 1024)?,
            trusted_proxy: crate::client_address::TrustedProxy::from_settings(
                var("STEWARD_CLIENT_ADDRESS_HEADER"),
                var("STEWARD_TRUSTED_PROXIES"),
            )
            .map_err(|reason| ConfigError::Invalid { name: "STEWARD_TRUSTED_PROXIES", reason })?,
            slack_api_url: var("STEWARD_SLACK_API_URL").unwrap_or_else(|| crate::slack_api::SLACK_API.into()),
            outbound_allow: var("STEWARD_OUTBOUND_ALLOW")
                .map(|v| v.split(',').map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect())
                .unwrap_or_default(),
            spare_schemas: number("STEWARD_SPARE_SCHEMAS", 2)?,
        };
        settings.check_production()?;
        Ok(settings)
    }

    /// In production, development conveniences become vulnerabilities.
    pub fn check_production(&self) -> Result<(), ConfigError> {
        if self.environment != Environment::Production {
            return Ok(());
        }
        if self.app_secret == DEVELOPMENT_SECRET.as_bytes() {
            return Err(ConfigError::UnsafeForProduction(
                "APP_SECRET is not set, so the development secret would sign sessions and links; set APP_SECRET or APP_SECRET_FILE to at least 32 random bytes".into(),
            ));
        }
        if self.app_secret.len() < 32 {
            return Err(ConfigError::UnsafeForProduction(
                "APP_SECRET is shorter than 32 bytes; generate one with `openssl rand -base64 48`".into(),
            ));
        }
        if self.public_url.scheme() != "https" {
            return Err(ConfigError::UnsafeForProduction(
                "PUBLIC_URL is not https, so session cookies would travel in clear text".into(),
            ));
        }
        if !self.keyring.is_configured() {
            return Err(ConfigError::UnsafeForProduction(
                "STEWARD_ENCRYPTION_KEYS is not set, so stored secrets would be encrypted with a key derived from APP_SECRET; generate one with `steward keys generate`".into(),
            ));
        }
        Ok(())
    }

    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The secrets whose signatures are accepted: the current one, then the
    /// previous one during a rotation's grace period.
    pub fn signing_secrets(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.app_secret.as_slice()).chain(self.previous_app_secret.as_deref())
    }

    /// `scheme://host[:port]` of the public URL, as browsers send it in `Origin`.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }

    /// An absolute link for a path, built from the public URL so it stays right behind a proxy.
    pub fn link(&self, path: &str) -> String {
        format!("{}{}", self.public_url.as_str().trim_end_matches('/'), path)
    }

    /// The settings tests and the development command start from.
    pub fn for_development(database_url: String, redis_url: String) -> Self {
        Settings {
            environment: Environment::Development,
            database_url,
            redis_url,
            smtp_url: "smtp://127.0.0.1:2525".into(),
            public_url: url::Url::parse("http://127.0.0.1:3000").expect("static url"),
            bind: "127.0.0.1:3000".into(),
            app_secret: DEVELOPMENT_SECRET.as_bytes().to_vec(),
            previous_app_secret: None,
            keyring: crate::keyring::Keyring::derived(DEVELOPMENT_SECRET.as_bytes()),
            mail_from: "Steward <no-reply@steward.localhost>".into(),
            redis_prefix: "steward".into(),
            site_root: "target/site".into(),
            session_hours: 12,
            invitation_hours: 72,
            runs: RunTiming::default(),
            max_event_bytes: 256 * 1024,
            operations_email: None,
            dev_mailbox: None,
            metrics: MetricsSettings::default(),
            trusted_proxy: None,
            slack_api_url: crate::slack_api::SLACK_API.into(),
            outbound_allow: Vec::new(),
            spare_schemas: 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production() -> Settings {
        let mut s = Settings::for_development("postgres://x".into(), "redis://x".into());
        s.environment = Environment::Production;
        s.public_url = url::Url::parse("https://steward.example").unwrap();
        s.keyring = crate::keyring::Keyring::parse(&crate::keyring::Keyring::generate_entry("k1"), b"x").unwrap();
        s
    }

    #[test]
    fn production_refuses_the_development_secret_and_says_why() {
        let err = production().check_production().unwrap_err().to_string();
        assert!(err.contains("APP_SECRET"), "{err}");
    }

    #[test]
    fn production_refuses_a_short_secret_and_plain_http() {
        let mut s = production();
        s.app_secret = b"short".to_vec();
        assert!(s.check_production().unwrap_err().to_string().contains("32 bytes"));
        s.app_secret = vec![7; 48];
        s.public_url = url::Url::parse("http://steward.example").unwrap();
        assert!(s.check_production().unwrap_err().to_string().contains("https"));
    }

    #[test]
    fn production_refuses_secrets_encrypted_by_the_signing_secret() {
        let mut s = production();
        s.app_secret = vec![7; 48];
        s.keyring = crate::keyring::Keyring::derived(&s.app_secret);
        assert!(s.check_production().unwrap_err().to_string().contains("STEWARD_ENCRYPTION_KEYS"));
    }

    #[test]
    fn production_starts_with_a_real_secret_over_https() {
        let mut s = production();
        s.app_secret = vec![7; 48];
        assert!(s.check_production().is_ok());
    }
}
