//! Checks a webhook delivery against its trigger's proof rule
//! (`engine::sender_proof`), implemented from each vendor's public
//! documentation: the HMAC and its encoding, the timestamp tolerance where
//! the scheme has one, and the vendor's own event id, which becomes the
//! idempotency key so a vendor's retry starts no second run.
//!
//! HMAC-SHA256 comes from the `hmac` crate; Standard Webhooks and Svix (the
//! same scheme under `svix-` headers) from the `standardwebhooks` crate. No
//! vendor crate covers the rest without pulling in its whole API client.

use crate::webhook_secrets::{self, SignatureHeaders};
use base64::Engine;
use engine::sender_proof::{Encoding, Scheme, Signature};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// A delivery as it arrived.
pub struct Delivery<'a> {
    pub method: &'a str,
    /// The address as the sender called it (origin, path and query), for HubSpot.
    pub url: &'a str,
    /// A request header by lower-case name.
    pub headers: &'a dyn Fn(&str) -> Option<&'a str>,
    pub body: &'a [u8],
    /// The last path segment, for `secret_path`.
    pub path_secret: Option<&'a str>,
    /// Unix seconds now.
    pub now: i64,
}

/// A delivery that proved itself, with the vendor's id for it when the scheme has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proven {
    pub vendor_id: Option<String>,
}

impl Delivery<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        (self.headers)(name).map(str::trim).filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str, scheme: Scheme) -> Result<&str, String> {
        self.header(name).ok_or_else(|| format!("unsigned request: missing {name} ({} signature)", scheme.as_str()))
    }

    fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(self.body).ok()
    }
}

fn hmac(secret: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

fn encode(digest: &[u8], encoding: Encoding) -> String {
    match encoding {
        Encoding::Hex => hex::encode(digest),
        Encoding::Base64 => base64::engine::general_purpose::STANDARD.encode(digest),
    }
}

/// Constant-time equality of two texts.
fn same(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

pub use engine::sender_proof::path_form;

fn stale(scheme: Scheme, tolerance: i64) -> String {
    format!(
        "stale timestamp: more than {tolerance} seconds from Steward's clock ({} signature); a replay is refused",
        scheme.as_str()
    )
}

/// A HubSpot event's own id (`eventId`, a number or text).
pub fn hubspot_event_id(event: &serde_json::Value) -> Option<String> {
    match &event["eventId"] {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// Checks `delivery` against `rule` with any of `secrets` (newest first).
pub fn verify(rule: &Signature, secrets: &[String], d: &Delivery) -> Result<Proven, String> {
    let scheme = rule.scheme;
    if secrets.is_empty() {
        return Err(
            "this workflow has no signing secret yet; an engineer creates or pastes one on the workflow page".into()
        );
    }
    let wrong = || format!("the {} signature does not match any of this workflow's secrets", scheme.as_str());
    let any = |check: &dyn Fn(&str) -> bool| secrets.iter().any(|s| check(s));
    match scheme {
        Scheme::StandardWebhooks | Scheme::Svix => {
            let prefix = if scheme == Scheme::Svix { "svix" } else { "webhook" };
            let headers = SignatureHeaders {
                id: d.header(&format!("{prefix}-id")).map(str::to_owned),
                timestamp: d.header(&format!("{prefix}-timestamp")).map(str::to_owned),
                signature: d.header(&format!("{prefix}-signature")).map(str::to_owned),
            };
            if scheme == Scheme::Svix && (headers.id.is_none() || headers.signature.is_none()) {
                return Err(
                    "unsigned request: missing svix-id, svix-timestamp or svix-signature (svix signature)".into()
                );
            }
            webhook_secrets::verify(secrets, &headers, d.body)?;
            Ok(Proven { vendor_id: headers.id })
        }
        Scheme::Stripe | Scheme::Calendly => {
            // https://docs.stripe.com/webhooks#verify-manually;
            // https://developer.calendly.com/api-docs/4c305798a61d3-webhook-signatures (the same t=,v1= form)
            let name = if scheme == Scheme::Stripe { "stripe-signature" } else { "calendly-webhook-signature" };
            let header = d.required(name, scheme)?;
            let mut timestamp = None;
            let mut signatures = Vec::new();
            for pair in header.split(',') {
                match pair.trim().split_once('=') {
                    Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
                    Some(("v1", v)) => signatures.push(v.to_owned()),
                    _ => {}
                }
            }
            let t = timestamp.ok_or_else(|| format!("{name} has no t= timestamp"))?;
            if (d.now - t).abs() > rule.tolerance() {
                return Err(stale(scheme, rule.tolerance()));
            }
            let signed = format!("{t}.");
            let ok = any(&|secret| {
                let expected = hex::encode(hmac(secret.as_bytes(), &[signed.as_bytes(), d.body]));
                signatures.iter().any(|s| same(s, &expected))
            });
            if !ok {
                return Err(wrong());
            }
            // Stripe's event id; Calendly's event names what happened to which invitee.
            let vendor_id = d.body_json().and_then(|b| match scheme {
                Scheme::Stripe => b["id"].as_str().map(str::to_owned),
                _ => {
                    b["payload"]["uri"].as_str().map(|uri| format!("{}:{uri}", b["event"].as_str().unwrap_or_default()))
                }
            });
            Ok(Proven { vendor_id })
        }
        Scheme::Github | Scheme::Shopify | Scheme::Typeform | Scheme::HmacSha256 => {
            let (header, encoding, prefix, id_header) = match scheme {
                // https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
                Scheme::Github => {
                    ("x-hub-signature-256".to_owned(), Encoding::Hex, "sha256=".to_owned(), Some("x-github-delivery"))
                }
                // https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook
                Scheme::Shopify => {
                    ("x-shopify-hmac-sha256".to_owned(), Encoding::Base64, String::new(), Some("x-shopify-webhook-id"))
                }
                // https://www.typeform.com/developers/webhooks/secure-your-webhooks/
                Scheme::Typeform => ("typeform-signature".to_owned(), Encoding::Base64, "sha256=".to_owned(), None),
                _ => (
                    rule.header.clone().unwrap_or_default().to_ascii_lowercase(),
                    rule.encoding.unwrap_or(Encoding::Hex),
                    rule.prefix.clone().unwrap_or_default(),
                    None,
                ),
            };
            let given = d.required(&header, scheme)?;
            let given =
                given.strip_prefix(prefix.as_str()).ok_or_else(|| format!("{header} does not start with {prefix}"))?;
            let ok = any(&|secret| {
                let expected = encode(&hmac(secret.as_bytes(), &[d.body]), encoding);
                // Hex digests are compared without regard to case.
                if encoding == Encoding::Hex {
                    same(&given.to_ascii_lowercase(), &expected)
                } else {
                    same(given, &expected)
                }
            });
            if !ok {
                return Err(wrong());
            }
            let vendor_id = match scheme {
                Scheme::Typeform => d.body_json().and_then(|b| b["event_id"].as_str().map(str::to_owned)),
                _ => id_header.and_then(|h| d.header(h)).map(str::to_owned),
            };
            Ok(Proven { vendor_id })
        }
        Scheme::Hubspot => {
            // https://developers.hubspot.com/docs/api/webhooks/validating-requests (v3)
            let given = d.required("x-hubspot-signature-v3", scheme)?;
            let timestamp = d.required("x-hubspot-request-timestamp", scheme)?;
            let ms: i64 =
                timestamp.parse().map_err(|_| "X-HubSpot-Request-Timestamp is not milliseconds".to_string())?;
            if (d.now * 1000 - ms).abs() > rule.tolerance() * 1000 {
                return Err(stale(scheme, rule.tolerance()));
            }
            let url = percent_encoding::percent_decode_str(d.url).decode_utf8_lossy();
            let ok = any(&|secret| {
                let expected = encode(
                    &hmac(secret.as_bytes(), &[d.method.as_bytes(), url.as_bytes(), d.body, timestamp.as_bytes()]),
                    Encoding::Base64,
                );
                same(given, &expected)
            });
            if !ok {
                return Err(wrong());
            }
            let body = d.body_json();
            let event = body.as_ref().map(|b| if b.is_array() { &b[0] } else { b });
            Ok(Proven { vendor_id: event.and_then(hubspot_event_id) })
        }
        Scheme::Zendesk => {
            // https://developer.zendesk.com/documentation/webhooks/verifying/
            let given = d.required("x-zendesk-webhook-signature", scheme)?;
            let timestamp = d.required("x-zendesk-webhook-signature-timestamp", scheme)?;
            let at = chrono::DateTime::parse_from_rfc3339(timestamp)
                .map_err(|_| "X-Zendesk-Webhook-Signature-Timestamp is not an ISO 8601 time".to_string())?;
            if (d.now - at.timestamp()).abs() > rule.tolerance() {
                return Err(stale(scheme, rule.tolerance()));
            }
            let ok = any(&|secret| {
                same(given, &encode(&hmac(secret.as_bytes(), &[timestamp.as_bytes(), d.body]), Encoding::Base64))
            });
            if !ok {
                return Err(wrong());
            }
            Ok(Proven { vendor_id: d.header("x-zendesk-webhook-invocation-id").map(str::to_owned) })
        }
        Scheme::HeaderSecret => {
            let header = rule.header.clone().unwrap_or_default().to_ascii_lowercase();
            let given = d.required(&header, scheme)?;
            if !any(&|secret| same(given, secret)) {
                return Err(format!("{header} does not hold this workflow's secret"));
            }
            Ok(Proven { vendor_id: None })
        }
        Scheme::BasicAuth => {
            let header = d.required("authorization", scheme)?;
            let decoded = header
                .strip_prefix("Basic ")
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or("Authorization is not HTTP Basic (Basic base64(user:password))")?;
            let (user, password) = decoded.split_once(':').ok_or("Basic credentials are user:password")?;
            let user_ok = same(user, rule.username.as_deref().unwrap_or_default());
            if !(any(&|secret| same(password, secret)) && user_ok) {
                return Err("the Basic user name or password is not this workflow's".into());
            }
            Ok(Proven { vendor_id: None })
        }
        Scheme::SecretPath => {
            let given = d.path_secret.ok_or(
                "this workflow takes events at its secret address only (…/hooks/<business>/<workflow>/<secret>)",
            )?;
            if !any(&|secret| same(given, &path_form(secret))) {
                return Err("the address does not hold this workflow's secret".into());
            }
            Ok(Proven { vendor_id: None })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    fn delivery<'a>(headers: &'a dyn Fn(&str) -> Option<&'a str>, body: &'a [u8], now: i64) -> Delivery<'a> {
        Delivery {
            method: "POST",
            url: "https://steward.example/hooks/acme/leads",
            headers,
            body,
            path_secret: None,
            now,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn github_example_from_its_documentation_verifies() {
        // The test values GitHub's "Validating webhook deliveries" page gives.
        let map = headers(&[(
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        let map = |n: &str| map.get(n).and_then(|v| v.to_str().ok());
        let rule = Signature::of(Scheme::Github);
        let secrets = vec!["It's a Secret to Everybody".to_string()];
        assert!(verify(&rule, &secrets, &delivery(&map, b"Hello, World!", 0)).is_ok());
        assert!(verify(&rule, &secrets, &delivery(&map, b"Hello, World?", 0)).is_err());
    }

    #[test]
    fn stripe_checks_the_timestamp_and_any_v1_signature() {
        let secret = "whsec_test_secret".to_string();
        let body = br#"{"id":"evt_1","type":"invoice.payment_failed"}"#;
        let t = 1_700_000_000;
        let sig = hex::encode(hmac(secret.as_bytes(), &[format!("{t}.").as_bytes(), body]));
        let map = headers(&[("stripe-signature", &format!("t={t},v1=deadbeef,v1={sig},v0=old"))]);
        let map = |n: &str| map.get(n).and_then(|v| v.to_str().ok());
        let rule = Signature::of(Scheme::Stripe);
        let proven = verify(&rule, std::slice::from_ref(&secret), &delivery(&map, body, t + 10)).unwrap();
        assert_eq!(proven.vendor_id.as_deref(), Some("evt_1"));
        let late = verify(&rule, std::slice::from_ref(&secret), &delivery(&map, body, t + 301)).unwrap_err();
        assert!(late.contains("stale"), "{late}");
        assert!(verify(&rule, &["whsec_other".into()], &delivery(&map, body, t)).is_err());
    }
}
