//! How a webhook trigger's senders prove who they are. Each business tool
//! signs its webhooks its own way; a trigger names the scheme (`signature:
//! stripe`) or spells a generic one out (`signature: { scheme: hmac_sha256,
//! header: X-Signature, encoding: hex, prefix: "sha256=" }`). Verification
//! itself lives in `store::sender_proof`; this is the contract's word for it.

use serde::{Deserialize, Serialize};

/// The schemes a trigger can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`): the default.
    StandardWebhooks,
    /// Svix-powered senders: Standard Webhooks with `svix-` headers.
    Svix,
    /// Stripe: `Stripe-Signature: t=…,v1=…`, HMAC-SHA256 of `t.body`, hex.
    Stripe,
    /// Calendly-style schedulers: `Calendly-Webhook-Signature: t=…,v1=…`, as Stripe's.
    Calendly,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    Github,
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`.
    Shopify,
    /// Typeform: `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body>`.
    Typeform,
    /// Any HMAC-SHA256 of the body in a named header (`header`, `encoding`, `prefix`).
    HmacSha256,
    /// HubSpot v3: `X-HubSpot-Signature-v3`, base64 HMAC-SHA256 of method + URI + body + timestamp.
    Hubspot,
    /// Zendesk: `X-Zendesk-Webhook-Signature`, base64 HMAC-SHA256 of timestamp + body.
    Zendesk,
    /// The secret itself in a named header (`header`), for senders that can only add a header.
    HeaderSecret,
    /// HTTP Basic auth (`username`; the secret is the password).
    BasicAuth,
    /// The secret as the last segment of the URL: the weakest (it travels in logs and proxies).
    SecretPath,
}

impl Scheme {
    pub const ALL: [Scheme; 13] = [
        Scheme::StandardWebhooks,
        Scheme::Svix,
        Scheme::Stripe,
        Scheme::Calendly,
        Scheme::Github,
        Scheme::Shopify,
        Scheme::Typeform,
        Scheme::HmacSha256,
        Scheme::Hubspot,
        Scheme::Zendesk,
        Scheme::HeaderSecret,
        Scheme::BasicAuth,
        Scheme::SecretPath,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::StandardWebhooks => "standard_webhooks",
            Scheme::Svix => "svix",
            Scheme::Stripe => "stripe",
            Scheme::Calendly => "calendly",
            Scheme::Github => "github",
            Scheme::Shopify => "shopify",
            Scheme::Typeform => "typeform",
            Scheme::HmacSha256 => "hmac_sha256",
            Scheme::Hubspot => "hubspot",
            Scheme::Zendesk => "zendesk",
            Scheme::HeaderSecret => "header_secret",
            Scheme::BasicAuth => "basic_auth",
            Scheme::SecretPath => "secret_path",
        }
    }

    /// The scheme in words, for the trigger page.
    pub fn label(self) -> &'static str {
        match self {
            Scheme::StandardWebhooks => "Standard Webhooks (signed by your own code)",
            Scheme::Svix => "Svix-powered sender",
            Scheme::Stripe => "Stripe",
            Scheme::Calendly => "Calendly (or a scheduler signing like it)",
            Scheme::Github => "GitHub (X-Hub-Signature-256)",
            Scheme::Shopify => "Shopify",
            Scheme::Typeform => "Typeform",
            Scheme::HmacSha256 => "Another tool that signs the body (HMAC-SHA256 header)",
            Scheme::Hubspot => "HubSpot (signature v3)",
            Scheme::Zendesk => "Zendesk",
            Scheme::HeaderSecret => "A secret in a header",
            Scheme::BasicAuth => "HTTP Basic auth",
            Scheme::SecretPath => "A secret in the address (weakest)",
        }
    }

    /// Parses the scheme's name (`stripe`, `basic_auth`, …).
    pub fn named(name: &str) -> Option<Scheme> {
        Scheme::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether the sender's tool makes the secret (paste theirs into Steward) rather than Steward.
    pub fn vendor_makes_the_secret(self) -> bool {
        matches!(self, Scheme::Stripe | Scheme::Svix | Scheme::Shopify | Scheme::Hubspot | Scheme::Zendesk)
    }

    /// Whether the scheme carries a timestamp, so a replay outside the tolerance is refused.
    pub fn has_timestamp(self) -> bool {
        matches!(
            self,
            Scheme::StandardWebhooks
                | Scheme::Svix
                | Scheme::Stripe
                | Scheme::Calendly
                | Scheme::Hubspot
                | Scheme::Zendesk
        )
    }
}

/// Digest encodings of a generic HMAC header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    Hex,
    Base64,
}

/// A trigger's proof rule, as the contract spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "SignatureInput")]
pub struct Signature {
    pub scheme: Scheme,
    /// hmac_sha256 and header_secret: the header that carries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// hmac_sha256: how the digest is written (default hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// hmac_sha256: text before the digest, e.g. `sha256=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// basic_auth: the user name senders use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Schemes with a timestamp: seconds of difference from Steward's clock allowed (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_seconds: Option<i64>,
}

/// A scheme by name alone, or spelled out.
#[derive(Deserialize)]
#[serde(untagged)]
enum SignatureInput {
    Name(Scheme),
    Fields(SignatureFields),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFields {
    scheme: Scheme,
    #[serde(default)]
    header: Option<String>,
    #[serde(default)]
    encoding: Option<Encoding>,
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    tolerance_seconds: Option<i64>,
}

impl From<SignatureInput> for Signature {
    fn from(input: SignatureInput) -> Self {
        match input {
            SignatureInput::Name(scheme) => Signature::of(scheme),
            SignatureInput::Fields(f) => Signature {
                scheme: f.scheme,
                header: f.header,
                encoding: f.encoding,
                prefix: f.prefix,
                username: f.username,
                tolerance_seconds: f.tolerance_seconds,
            },
        }
    }
}

impl Default for Signature {
    fn default() -> Self {
        Signature::of(Scheme::StandardWebhooks)
    }
}

/// Seconds of clock difference allowed by default (what Stripe, HubSpot and Standard Webhooks use).
pub const DEFAULT_TOLERANCE_SECONDS: i64 = 300;

impl Signature {
    pub fn of(scheme: Scheme) -> Self {
        Signature { scheme, header: None, encoding: None, prefix: None, username: None, tolerance_seconds: None }
    }

    pub fn tolerance(&self) -> i64 {
        self.tolerance_seconds.unwrap_or(DEFAULT_TOLERANCE_SECONDS)
    }

    /// What the rule lacks or has too much of, as (field, reason).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let needs_header = matches!(self.scheme, Scheme::HmacSha256 | Scheme::HeaderSecret);
        match (&self.header, needs_header) {
            (None, true) => out.push(("header", format!("{} needs the header its senders use", self.scheme.as_str()))),
            (Some(h), true)
                if !h.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') || h.is_empty() =>
            {
                out.push(("header", format!("'{h}' is not a header name")))
            }
            (Some(_), false) => out.push(("header", format!("{} has its own headers", self.scheme.as_str()))),
            _ => {}
        }
        if self.scheme != Scheme::HmacSha256 && (self.encoding.is_some() || self.prefix.is_some()) {
            out.push(("encoding", "encoding and prefix belong to hmac_sha256".into()));
        }
        match (&self.username, self.scheme == Scheme::BasicAuth) {
            (None, true) => out.push(("username", "basic_auth needs the user name its senders use".into())),
            (Some(_), false) => out.push(("username", "a user name belongs to basic_auth".into())),
            _ => {}
        }
        if let Some(t) = self.tolerance_seconds {
            if !self.scheme.has_timestamp() {
                out.push(("tolerance_seconds", format!("{} carries no timestamp", self.scheme.as_str())));
            } else if !(30..=3600).contains(&t) {
                out.push(("tolerance_seconds", "a tolerance is 30 to 3600 seconds".into()));
            }
        }
        out
    }
}

/// The secret as it goes in a URL path (`secret_path`): URL-safe letters only.
pub fn path_form(secret: &str) -> String {
    secret.trim_start_matches("whsec_").replace('+', "-").replace('/', "_").trim_end_matches('=').to_owned()
}

impl Signature {
    /// What to set in the sending tool, in words an owner can follow.
    pub fn instructions(&self) -> String {
        let header = self.header.clone().unwrap_or_default();
        match self.scheme {
            Scheme::StandardWebhooks => "Sign each delivery per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature) with this workflow's secret; the curl example below shows how.".into(),
            Scheme::Svix => "In the sending tool's webhook (Svix) settings, add this URL as an endpoint, then paste the endpoint's signing secret (whsec_…) here.".into(),
            Scheme::Stripe => "In Stripe: Developers → Webhooks → Add endpoint. Paste this URL, choose the events, then reveal the endpoint's signing secret (whsec_…) and paste it here.".into(),
            Scheme::Calendly => "In Calendly: create a webhook subscription (API: POST /webhook_subscriptions) with this URL as its url and this workflow's secret as its signing_key.".into(),
            Scheme::Github => "In GitHub: Settings → Webhooks → Add webhook. Paste this URL, choose content type application/json, and put this workflow's secret in Secret.".into(),
            Scheme::Shopify => "In Shopify: Settings → Notifications → Webhooks (or your app's configuration). Add this URL, then paste the signing secret Shopify shows here.".into(),
            Scheme::Typeform => "In Typeform: Connect → Webhooks → Add a webhook. Paste this URL, then under Edit → Secret put this workflow's secret.".into(),
            Scheme::HmacSha256 => format!(
                "Set the tool to send the HMAC-SHA256 of the body, {}-encoded, in the {header} header{}, keyed with this workflow's secret.",
                match self.encoding.unwrap_or(Encoding::Hex) { Encoding::Hex => "hex", Encoding::Base64 => "base64" },
                self.prefix.as_ref().map(|p| format!(" after \"{p}\"")).unwrap_or_default()
            ),
            Scheme::Hubspot => "In HubSpot: your app's Webhooks settings, set the target URL to this URL and paste the app's client secret here (HubSpot signs with X-HubSpot-Signature-v3).".into(),
            Scheme::Zendesk => "In Zendesk: Admin Center → Apps and integrations → Webhooks. Set the endpoint URL to this URL; after creating it, reveal its signing secret and paste it here.".into(),
            Scheme::HeaderSecret => format!("Set the tool to send this workflow's secret in the {header} header."),
            Scheme::BasicAuth => format!(
                "Set the tool to use HTTP Basic auth: user name {}, password this workflow's secret.",
                self.username.clone().unwrap_or_default()
            ),
            Scheme::SecretPath => "Give the tool the address with the secret in it (shown once when the secret is made). This is the weakest proof: the address travels in logs and proxies, so use a signature scheme when the tool has one.".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_path_form_is_url_safe() {
        assert_eq!(path_form("whsec_ab+c/d=="), "ab-c_d");
    }

    #[test]
    fn a_scheme_is_named_or_spelled_out() {
        let named: Signature = serde_json::from_str("\"stripe\"").unwrap();
        assert_eq!(named, Signature::of(Scheme::Stripe));
        let spelled: Signature =
            serde_json::from_str(r#"{"scheme":"hmac_sha256","header":"X-Sig","encoding":"base64","prefix":"sha256="}"#)
                .unwrap();
        assert_eq!(spelled.header.as_deref(), Some("X-Sig"));
        assert_eq!(spelled.encoding, Some(Encoding::Base64));
        assert!(spelled.problems().is_empty());
        assert!(serde_json::from_str::<Signature>("\"carrier_pigeon\"").is_err());
    }

    #[test]
    fn a_rule_missing_what_its_scheme_needs_says_which_field() {
        let fields = |s: Signature| s.problems().into_iter().map(|(f, _)| f).collect::<Vec<_>>();
        assert_eq!(fields(Signature::of(Scheme::HmacSha256)), ["header"]);
        assert_eq!(fields(Signature::of(Scheme::BasicAuth)), ["username"]);
        let odd = Signature { tolerance_seconds: Some(10), ..Signature::of(Scheme::Github) };
        assert_eq!(fields(odd), ["tolerance_seconds"]);
        let header = Signature { header: Some("X Bad".into()), ..Signature::of(Scheme::HeaderSecret) };
        assert_eq!(fields(header), ["header"]);
        for scheme in Scheme::ALL {
            let sig: Signature = serde_json::from_value(serde_json::json!(scheme.as_str())).unwrap();
            assert_eq!(sig.scheme, scheme);
        }
    }
}
