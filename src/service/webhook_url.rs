//! Where a webhook may point: `https://` (or `http://` when
//! `ATS_WEBHOOK_ALLOW_HTTP` is set), and never at a loopback, private,
//! link-local or otherwise internal address unless
//! `ATS_WEBHOOK_ALLOW_PRIVATE` is set — a webhook is not a way into the
//! server's network. The address rule is checked when a webhook is saved
//! (on what its host resolves to then) and again at every delivery, on the
//! addresses the connection may use ([`GuardedResolver`]), so a name that
//! later resolves elsewhere is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

use super::validate;
use crate::error::{Error, Result};

/// Longest URL accepted.
pub const MAX_URL: usize = 2048;

/// The URL and address policy of webhooks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    /// `http://` URLs are allowed (`ATS_WEBHOOK_ALLOW_HTTP`).
    pub allow_http: bool,
    /// Internal addresses are allowed (`ATS_WEBHOOK_ALLOW_PRIVATE`).
    pub allow_private: bool,
}

impl UrlPolicy {
    /// Parses `raw` and checks its scheme and form (not yet its addresses).
    pub fn parse(&self, raw: &str) -> Result<Url> {
        validate::no_nul(raw)?;
        if raw.len() > MAX_URL {
            return Err(Error::validation(format!(
                "url must be at most {MAX_URL} bytes"
            )));
        }
        let url = Url::parse(raw.trim())
            .map_err(|e| Error::validation(format!("url is not a valid URL: {e}")))?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(Error::validation(
                    "url must be https:// (this server does not allow http:// webhooks)",
                ));
            }
            other => {
                return Err(Error::validation(format!(
                    "url must be https://, not {other}://"
                )));
            }
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::validation("url must name a host"));
        }
        // Credentials in a URL would be shown in every listing of it.
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::validation(
                "url must not hold a user name or password",
            ));
        }
        Ok(url)
    }

    /// Parses `raw`, then resolves its host and refuses an internal address
    /// (unless allowed) with 422.
    pub async fn check(&self, raw: &str) -> Result<Url> {
        let url = self.parse(raw)?;
        if self.allow_private {
            return Ok(url);
        }
        let addrs = resolve(&url)
            .await
            .map_err(|e| Error::validation(format!("url's host does not resolve: {e}")))?;
        if let Some(ip) = addrs.iter().map(SocketAddr::ip).find(|ip| !is_public(*ip)) {
            return Err(Error::validation(format!(
                "url resolves to {ip}, a loopback, private or link-local address, which webhooks may not reach"
            )));
        }
        Ok(url)
    }

    /// Whether a delivery may connect to `ip`.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

/// The addresses `url`'s host resolves to (an address literal is itself).
async fn resolve(url: &Url) -> std::io::Result<Vec<SocketAddr>> {
    let port = url.port_or_known_default().unwrap_or(443);
    match url.host() {
        Some(url::Host::Ipv4(ip)) => Ok(vec![SocketAddr::new(IpAddr::V4(ip), port)]),
        Some(url::Host::Ipv6(ip)) => Ok(vec![SocketAddr::new(IpAddr::V6(ip), port)]),
        Some(url::Host::Domain(name)) => {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name, port)).await?.collect();
            if found.is_empty() {
                return Err(std::io::Error::other("no address"));
            }
            Ok(found)
        }
        None => Err(std::io::Error::other("no host")),
    }
}

/// The IP literal of `url`'s host, if it is one.
pub(crate) fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// True for an address on the public internet: not loopback, private,
/// link-local, shared (CGNAT), unspecified, broadcast, multicast,
/// documentation or reserved space, nor an IPv6 form of one.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return public_v4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first & 0xffc0) == 0xfec0
        || first == 0x2001 && ip.segments()[1] == 0x0db8
        || first == 0x0064 && ip.segments()[1] == 0xff9b
        // IPv4-compatible (deprecated) ::a.b.c.d
        || ip.segments()[..6].iter().all(|s| *s == 0))
}

/// The resolver of the delivery client: resolves as the system does, then
/// refuses a name any of whose addresses the policy forbids, so the
/// connection can only go where the check looked.
#[derive(Clone)]
pub struct GuardedResolver {
    pub policy: UrlPolicy,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if let Some(ip) = found
                .iter()
                .map(SocketAddr::ip)
                .find(|ip| !policy.allows(*ip))
            {
                return Err(
                    format!("{host} resolves to {ip}, an address webhooks may not reach").into(),
                );
            }
            let addrs: reqwest::dns::Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

impl GuardedResolver {
    /// The resolver as the client builder takes it.
    pub fn shared(policy: UrlPolicy) -> Arc<Self> {
        Arc::new(Self { policy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn schemes_follow_the_policy() {
        let strict = UrlPolicy::default();
        assert!(strict.parse("https://example.com/hook").is_ok());
        assert!(strict.parse("http://example.com/hook").is_err());
        assert!(strict.parse("ftp://example.com/hook").is_err());
        assert!(strict.parse("https://user:pw@example.com/").is_err());
        let lax = UrlPolicy {
            allow_http: true,
            allow_private: false,
        };
        assert!(lax.parse("http://example.com/hook").is_ok());
    }
}
