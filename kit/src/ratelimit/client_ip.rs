//! The real client address behind trusted reverse proxies, with Werkzeug ProxyFix
//! `x_for` semantics: with `hops = N`, each of the N trusted proxies appended the address
//! it saw to `X-Forwarded-For`, so the client is the N-th entry from the right; with
//! `N = 0` it is the TCP peer. Entries left of that are written by the client and are
//! never trusted (a spoofed left-most address changes nothing).
//!
//! Several `X-Forwarded-For` headers are one list, concatenated in order (RFC 9110
//! §5.3). When the list has fewer than N entries, or the chosen entry is not an IP
//! address, the result is the TCP peer: that is the nearest proxy, so such requests share
//! one (stricter) bucket instead of letting the client pick its own identity. ProxyFix
//! does the same (it leaves `REMOTE_ADDR` untouched).
//!
//! A limit keyed by client address counts [`limit_key`] of it: an IPv6 client by its
//! /64 (one subscriber is routinely given a whole /64, so counting full addresses
//! would give it 2^64 fresh buckets), an IPv4-mapped IPv6 address as the IPv4 address.

use actix_web::http::header::HeaderMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The peer address used when the connection has none (unit tests, unix sockets).
pub const UNKNOWN_PEER: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);

/// Resolves the client address of a request from its peer and headers.
pub fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted_hops: u8) -> IpAddr {
    let peer = peer.unwrap_or(UNKNOWN_PEER);
    if trusted_hops == 0 {
        return peer;
    }
    let values = headers
        .get_all("x-forwarded-for")
        .map(|v| v.to_str().unwrap_or(""));
    from_forwarded_for(peer, values, trusted_hops)
}

/// The address a per-client limit counts: IPv4 as is, an IPv4-mapped IPv6 address
/// (`::ffff:a.b.c.d`) as its IPv4 address, any other IPv6 address as its /64 network
/// (the interface half zeroed).
pub fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(Ipv6Addr::from(segments))
            }
        },
    }
}

/// The ProxyFix choice over already-extracted header values (in arrival order).
pub fn from_forwarded_for<'a>(
    peer: IpAddr,
    values: impl IntoIterator<Item = &'a str>,
    trusted_hops: u8,
) -> IpAddr {
    if trusted_hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = values
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let hops = trusted_hops as usize;
    if entries.len() < hops {
        return peer;
    }
    parse_entry(entries[entries.len() - hops]).unwrap_or(peer)
}

/// An entry is an address, optionally with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const PEER: &str = "10.0.0.1";

    fn pick(values: &[&str], hops: u8) -> IpAddr {
        from_forwarded_for(ip(PEER), values.iter().copied(), hops)
    }

    #[test]
    fn with_zero_hops_the_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(pick(&["203.0.113.9"], 0), ip(PEER));
        assert_eq!(pick(&[], 0), ip(PEER));
    }

    #[test]
    fn with_one_hop_the_right_most_entry_is_the_client() {
        assert_eq!(pick(&["203.0.113.9"], 1), ip("203.0.113.9"));
        // A spoofed left-most entry, then what nginx appended.
        assert_eq!(pick(&["1.1.1.1, 203.0.113.9"], 1), ip("203.0.113.9"));
        assert_eq!(
            pick(&["6.6.6.6,7.7.7.7, 203.0.113.9"], 1),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn with_two_hops_the_second_from_the_right_is_the_client() {
        assert_eq!(
            pick(&["1.1.1.1, 203.0.113.9, 10.0.0.7"], 2),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn several_headers_are_one_list_in_order() {
        assert_eq!(pick(&["1.1.1.1", "203.0.113.9"], 1), ip("203.0.113.9"));
        assert_eq!(
            pick(&["1.1.1.1, 203.0.113.9", "10.0.0.7"], 2),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn too_few_entries_fall_back_to_the_peer() {
        assert_eq!(pick(&["203.0.113.9"], 2), ip(PEER));
        assert_eq!(pick(&[], 1), ip(PEER));
    }

    #[test]
    fn a_garbage_chosen_entry_falls_back_to_the_peer() {
        assert_eq!(pick(&["203.0.113.9, unknown"], 1), ip(PEER));
        assert_eq!(pick(&["203.0.113.9,"], 1), ip(PEER));
    }

    #[test]
    fn ipv6_and_ports_are_understood() {
        assert_eq!(pick(&["2001:db8::1"], 1), ip("2001:db8::1"));
        assert_eq!(pick(&["[2001:db8::1]:443"], 1), ip("2001:db8::1"));
        assert_eq!(pick(&["[2001:db8::1]"], 1), ip("2001:db8::1"));
        assert_eq!(pick(&["203.0.113.9:5555"], 1), ip("203.0.113.9"));
    }

    #[test]
    fn limits_key_ipv6_by_its_64_and_mapped_ipv4_as_ipv4() {
        let key = |s: &str| limit_key(ip(s));
        assert_eq!(key("203.0.113.9"), ip("203.0.113.9"));
        assert_eq!(key("::ffff:203.0.113.9"), ip("203.0.113.9"));
        assert_eq!(key("2001:db8:7:8::1"), ip("2001:db8:7:8::"));
        assert_eq!(
            key("2001:db8:7:8:ffff:ffff:ffff:ffff"),
            key("2001:db8:7:8:1:2:3:4")
        );
        assert_ne!(key("2001:db8:7:8::1"), key("2001:db8:7:9::1"));
        assert_eq!(key("::1"), ip("::"));
        // Idempotent: a key keys to itself.
        for s in ["203.0.113.9", "::ffff:1.2.3.4", "2001:db8::5", "fe80::1"] {
            assert_eq!(limit_key(key(s)), key(s), "{s}");
        }
    }

    #[test]
    fn header_map_values_are_read_in_arrival_order() {
        let mut headers = HeaderMap::new();
        use actix_web::http::header::{HeaderName, HeaderValue};
        let name = HeaderName::from_static("x-forwarded-for");
        headers.append(name.clone(), HeaderValue::from_static("9.9.9.9"));
        headers.append(name, HeaderValue::from_static("203.0.113.9"));
        assert_eq!(client_ip(Some(ip(PEER)), &headers, 1), ip("203.0.113.9"));
        assert_eq!(client_ip(Some(ip(PEER)), &headers, 2), ip("9.9.9.9"));
        assert_eq!(client_ip(None, &headers, 0), UNKNOWN_PEER);
    }
}
