//! Outbound safety: the HTTP client a workflow's `api_call` steps use never
//! reaches private, loopback, link-local (cloud metadata), shared, multicast
//! or unspecified addresses — checked on the address in the URL, on every
//! address a name resolves to (the client connects only to the addresses
//! checked, so a name cannot change its answer in between), and on every
//! redirect. The installation's operator may allow hosts
//! (`STEWARD_OUTBOUND_ALLOW`); in development Steward's own address is
//! allowed, for the demo's company directory stand-in.
//!
//! The classification uses the standard library's address predicates; the
//! ranges they do not name (shared 100.64/10, benchmarking 198.18/15,
//! reserved 240/4, IPv4-mapped IPv6) are spelled out here.

use crate::config::{Environment, Settings};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Why an address is not one a workflow may call, or None when it may.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_private() {
        Some("private")
    } else if ip.is_link_local() {
        Some("link-local (cloud metadata)")
    } else if ip.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (carrier-grade NAT)")
    } else if a == 198 && (b == 18 || b == 19) {
        Some("benchmarking")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("multicast or reserved")
    } else if ip.is_documentation() {
        Some("documentation")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if ip.is_loopback() {
        Some("loopback")
    } else if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_unique_local() {
        Some("private (unique local)")
    } else if ip.is_unicast_link_local() {
        Some("link-local")
    } else if ip.is_multicast() {
        Some("multicast")
    } else {
        None
    }
}

/// A refused destination; found in a request error's sources, it says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl Refused {
    fn address(what: &str, ip: IpAddr, why: &str) -> Self {
        Refused(format!(
            "{what} is {ip}, a {why} address: workflows do not call private, loopback, link-local or metadata \
             addresses (an operator can allow a host with STEWARD_OUTBOUND_ALLOW)"
        ))
    }

    /// The refusal behind a request error, if that is what stopped it.
    pub fn in_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
        let mut cause = Some(error);
        while let Some(e) = cause {
            if let Some(refused) = e.downcast_ref::<Refused>() {
                return Some(refused);
            }
            cause = e.source();
        }
        None
    }
}

/// The hosts an operator allowed, and Steward's own address in development.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Allowed {
    /// A host (lower case, IPv6 without brackets) and its port, or any port.
    hosts: Vec<(String, Option<u16>)>,
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` or a bare IPv6 address.
fn entry(text: &str) -> (String, Option<u16>) {
    let text = text.trim().to_lowercase();
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (host.to_owned(), after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => match port.parse() {
            Ok(port) => (host.to_owned(), Some(port)),
            Err(_) => (text.clone(), None),
        },
        _ => (text, None),
    }
}

fn bare(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').to_lowercase()
}

impl Allowed {
    pub fn from_settings(settings: &Settings) -> Self {
        let mut hosts: Vec<(String, Option<u16>)> = settings.outbound_allow.iter().map(|h| entry(h)).collect();
        if settings.environment == Environment::Development {
            if let Some(host) = settings.public_url.host_str() {
                hosts.push((bare(host), settings.public_url.port_or_known_default()));
            }
        }
        Allowed { hosts }
    }

    /// The name is allowed on some port (the resolver does not know the port; the URL check does).
    fn host(&self, host: &str) -> bool {
        let host = bare(host);
        self.hosts.iter().any(|(h, _)| *h == host)
    }

    fn host_port(&self, host: &str, port: u16) -> bool {
        let host = bare(host);
        self.hosts.iter().any(|(h, p)| *h == host && p.is_none_or(|p| p == port))
    }

    /// Checks a URL before it is called (and each redirect): its scheme, and
    /// its host when that is an address. Names are checked when they resolve.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused(format!("{}: only http and https addresses are called", url.scheme())));
        }
        let Some(host) = url.host() else { return Err(Refused("the address has no host".into())) };
        let port = url.port_or_known_default().unwrap_or(0);
        let ip = match host {
            url::Host::Ipv4(ip) => IpAddr::V4(ip),
            url::Host::Ipv6(ip) => IpAddr::V6(ip),
            url::Host::Domain(_) => return Ok(()),
        };
        if self.host_port(&ip.to_string(), port) {
            return Ok(());
        }
        match forbidden(ip) {
            Some(why) => Err(Refused::address("the address", ip, why)),
            None => Ok(()),
        }
    }
}

/// Resolves names like the system does, then refuses a name any of whose
/// addresses is forbidden (unless the name is allowed).
struct GuardedResolver {
    allowed: Arc<Allowed>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allowed = self.allowed.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if !allowed.host(&host) {
                if let Some((ip, why)) = addrs.iter().find_map(|a| forbidden(a.ip()).map(|why| (a.ip(), why))) {
                    return Err(Box::new(Refused::address(&host, ip, why)) as Box<dyn std::error::Error + Send + Sync>);
                }
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// How a workflow reaches the world: the destinations allowed, and a client
/// that checks them on names and redirects as well.
#[derive(Clone)]
pub struct Outbound {
    pub allowed: Arc<Allowed>,
    pub client: reqwest::Client,
}

impl Outbound {
    pub fn new(settings: &Settings) -> reqwest::Result<Outbound> {
        let allowed = Arc::new(Allowed::from_settings(settings));
        Ok(Outbound { client: client(allowed.clone())?, allowed })
    }
}

/// The client for calls a workflow makes: guarded names, guarded redirects (at most 10).
fn client(allowed: Arc<Allowed>) -> reqwest::Result<reqwest::Client> {
    let on_redirect = allowed.clone();
    reqwest::Client::builder()
        .user_agent("Steward/1")
        .dns_resolver(GuardedResolver { allowed })
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 10 {
                return attempt.error(Refused("more than 10 redirects".into()));
            }
            match on_redirect.check_url(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(refused) => attempt.error(refused),
            }
        }))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_refused_public_ones_are_not() {
        for ip in [
            "127.0.0.1",
            "127.9.9.9",
            "10.0.0.1",
            "172.16.5.4",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(forbidden(ip.parse().unwrap()).is_some(), "{ip} is refused");
        }
        for ip in ["8.8.8.8", "93.184.216.34", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111"] {
            assert_eq!(forbidden(ip.parse().unwrap()), None, "{ip} may be called");
        }
        assert_eq!(forbidden("169.254.169.254".parse().unwrap()), Some("link-local (cloud metadata)"));
    }

    #[test]
    fn urls_are_checked_by_scheme_and_address_and_the_allow_list_is_by_host_and_port() {
        let none = Allowed::default();
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(none.check_url(&url("http://127.0.0.1:8080/x")).unwrap_err().0.contains("127.0.0.1, a loopback"));
        assert!(none.check_url(&url("http://[::1]/x")).is_err());
        assert!(none.check_url(&url("file:///etc/passwd")).is_err());
        assert!(none.check_url(&url("https://api.example.com/x")).is_ok(), "names are checked when they resolve");
        let some = Allowed { hosts: ["127.0.0.1:8080", "directory.internal", "[::1]:81"].map(entry).to_vec() };
        assert!(some.check_url(&url("http://[::1]:81/x")).is_ok());
        assert!(some.check_url(&url("http://127.0.0.1:8080/x")).is_ok());
        assert!(some.check_url(&url("http://127.0.0.1:9090/x")).is_err(), "another port is not allowed");
        assert!(some.host("directory.internal") && some.host("127.0.0.1") && !some.host("localhost"));
        let mut dev = Settings::for_development("x".into(), "y".into());
        dev.outbound_allow = vec![];
        assert!(Allowed::from_settings(&dev).check_url(&url("http://127.0.0.1:3000/demo")).is_ok(), "Steward itself");
        dev.environment = Environment::Production;
        assert!(Allowed::from_settings(&dev).check_url(&url("http://127.0.0.1:3000/demo")).is_err());
    }
}
