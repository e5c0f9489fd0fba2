//! The client address of a request: the TCP peer, or, when the peer is one
//! of `ATS_TRUSTED_PROXIES`, the address that proxy says it forwarded for
//! (`X-Forwarded-For`). Resolved once per request by [`resolve`], which
//! records it in the request's span; handlers read it with [`ClientIp`].

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::AppState;
use crate::config::TrustedProxies;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum::response::Response;

/// The address a request came from, as far as the server can trust it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The address used when the server was not told the peer's (a router
/// served without connect info): every such request counts as one client.
const UNKNOWN: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientIp>()
            .copied()
            .unwrap_or_else(|| ClientIp(peer(parts).unwrap_or(UNKNOWN))))
    }
}

fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| canonical(addr.ip()))
}

/// Middleware: works out the client address, keeps it in the request's
/// extensions and records it in the current (request) span as `client_ip`.
pub async fn resolve(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    let client = match peer(&parts) {
        Some(peer) => client_of(peer, &parts.headers, &s.config.trusted_proxies),
        None => UNKNOWN,
    };
    tracing::Span::current().record("client_ip", tracing::field::display(client));
    parts.extensions.insert(ClientIp(client));
    next.run(axum::extract::Request::from_parts(parts, body))
        .await
}

/// The client of a request from `peer` with `headers`: `peer` itself unless
/// it is a trusted proxy; then the right-most `X-Forwarded-For` entry that is
/// not a trusted proxy (each trusted hop vouches for the one before it). If
/// every entry is trusted, the left-most; an unreadable entry stops the walk
/// at the last address read.
pub fn client_of(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.contains(ip);
    if !is_trusted(&peer) {
        return peer;
    }
    // Several X-Forwarded-For headers read as one list, in order.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_entry(entry) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`
/// or `[2001:db8::1]:5678`.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|a| a.ip()))
        .ok()
        .map(canonical)
}

/// IPv4-mapped IPv6 addresses (a dual-stack listener's IPv4 peers) as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies() {
        let trusted = TrustedProxies(vec!["10.0.0.0/8".parse().unwrap()]);
        let h = headers(&["6.6.6.6, 1.2.3.4"]);
        // Not a proxy: the header is the client's own claim.
        assert_eq!(
            client_of(ip("203.0.113.9"), &h, &trusted),
            ip("203.0.113.9")
        );
        let none = TrustedProxies::default();
        assert_eq!(client_of(ip("10.0.0.2"), &h, &none), ip("10.0.0.2"));
        // A trusted proxy: the right-most address it did not add itself.
        assert_eq!(client_of(ip("10.0.0.2"), &h, &trusted), ip("1.2.3.4"));
        // Chains of trusted proxies are walked through.
        let h = headers(&["6.6.6.6, 1.2.3.4, 10.1.1.1", "10.2.2.2"]);
        assert_eq!(client_of(ip("10.0.0.2"), &h, &trusted), ip("1.2.3.4"));
        // Only trusted hops: the furthest one.
        let h = headers(&["10.9.9.9, 10.1.1.1"]);
        assert_eq!(client_of(ip("10.0.0.2"), &h, &trusted), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(
            client_of(ip("10.0.0.2"), &HeaderMap::new(), &trusted),
            ip("10.0.0.2")
        );
        // Garbage stops the walk at the last address read.
        let h = headers(&["1.2.3.4, nonsense, 10.1.1.1"]);
        assert_eq!(client_of(ip("10.0.0.2"), &h, &trusted), ip("10.1.1.1"));
        // Ports and brackets are read.
        let h = headers(&["[2001:db8::7]:443, 1.2.3.4:5678"]);
        assert_eq!(client_of(ip("10.0.0.2"), &h, &trusted), ip("1.2.3.4"));
        let h = headers(&["[2001:db8::7]:443"]);
        assert_eq!(client_of(ip("10.0.0.2"), &h, &trusted), ip("2001:db8::7"));
    }
}
