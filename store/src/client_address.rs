//! The client's address, for rate limits and sign-in throttling: the TCP
//! peer, unless the peer is a proxy the operator trusts. Behind such a
//! proxy (`STEWARD_TRUSTED_PROXIES`) the address comes from the header it
//! sets (`STEWARD_CLIENT_ADDRESS_HEADER`: `X-Forwarded-For`, `X-Real-IP`,
//! `CF-Connecting-IP`, ...). A header from anyone else is ignored: anybody
//! can write one.

use std::net::IpAddr;

/// A proxy in front of Steward that reports the client's address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedProxy {
    /// The header it writes the client's address in (lower case).
    pub header: String,
    /// The proxies' own addresses: only a request from one of them is believed.
    pub proxies: Vec<IpAddr>,
}

impl TrustedProxy {
    /// From `STEWARD_CLIENT_ADDRESS_HEADER` and `STEWARD_TRUSTED_PROXIES` (comma-separated
    /// addresses; default the loopback addresses, for a proxy on the same host).
    pub fn from_settings(header: Option<String>, proxies: Option<String>) -> Result<Option<Self>, String> {
        let Some(header) = header.map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()) else {
            return Ok(None);
        };
        let proxies = match proxies {
            None => vec![IpAddr::from([127, 0, 0, 1]), IpAddr::from(std::net::Ipv6Addr::LOCALHOST)],
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| p.parse::<IpAddr>().map_err(|_| format!("'{p}' is not an IP address")))
                .collect::<Result<_, _>>()?,
        };
        Ok(Some(TrustedProxy { header, proxies }))
    }

    /// The client behind this proxy: the right-most address in the header
    /// that is not one of the trusted proxies (a client can prepend anything
    /// to `X-Forwarded-For`; only what the proxies appended is believed).
    fn client_in(&self, value: &str) -> Option<IpAddr> {
        value
            .rsplit(',')
            .map(|part| part.trim().trim_matches('"'))
            .filter_map(|part| {
                part.parse::<IpAddr>().ok().or_else(|| part.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
            })
            .find(|ip| !self.proxies.contains(ip))
    }
}

/// The address to count a request against: the peer's, or the one a trusted
/// proxy reports (`header` looks a request header up by lower-case name).
pub fn client_address<'a>(
    proxy: Option<&TrustedProxy>,
    peer: Option<IpAddr>,
    header: impl Fn(&str) -> Option<&'a str>,
) -> String {
    let from_proxy = match (proxy, peer) {
        (Some(proxy), Some(peer)) if proxy.proxies.contains(&peer) => {
            header(&proxy.header).and_then(|v| proxy.client_in(v))
        }
        _ => None,
    };
    from_proxy.or(peer).map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy() -> TrustedProxy {
        TrustedProxy::from_settings(Some("X-Forwarded-For".into()), Some("10.0.0.5".into())).unwrap().unwrap()
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn without_a_trusted_proxy_the_peer_counts_and_forwarded_headers_are_ignored() {
        assert_eq!(client_address(None, ip("203.0.113.9"), |_| Some("198.51.100.1")), "203.0.113.9");
        assert_eq!(client_address(Some(&proxy()), ip("203.0.113.9"), |_| Some("198.51.100.1")), "203.0.113.9");
    }

    #[test]
    fn behind_the_trusted_proxy_the_address_it_appended_counts_not_what_the_client_wrote() {
        let p = proxy();
        let header = |name: &str| (name == "x-forwarded-for").then_some("1.2.3.4, 198.51.100.7");
        assert_eq!(client_address(Some(&p), ip("10.0.0.5"), header), "198.51.100.7");
        // A chain of trusted proxies is skipped.
        let chained = |_: &str| Some("198.51.100.7, 10.0.0.5");
        assert_eq!(client_address(Some(&p), ip("10.0.0.5"), chained), "198.51.100.7");
        // No usable header: the proxy's own address.
        assert_eq!(client_address(Some(&p), ip("10.0.0.5"), |_| None), "10.0.0.5");
        assert_eq!(client_address(Some(&p), ip("10.0.0.5"), |_| Some("garbage")), "10.0.0.5");
    }

    #[test]
    fn the_proxy_list_must_be_addresses_and_defaults_to_loopback() {
        assert!(TrustedProxy::from_settings(Some("X-Real-IP".into()), Some("proxy.local".into())).is_err());
        let p = TrustedProxy::from_settings(Some("X-Real-IP".into()), None).unwrap().unwrap();
        assert_eq!(p.header, "x-real-ip");
        assert!(p.proxies.contains(&"127.0.0.1".parse().unwrap()));
        assert_eq!(TrustedProxy::from_settings(None, Some("10.0.0.1".into())).unwrap(), None);
    }
}
