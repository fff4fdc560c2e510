//! GRE (RFC 2784/2890): plain GRE version 0 carrying IPv4, IPv6 or
//! Ethernet (transparent bridging), as used by tunnels and port mirroring
//! to a remote capture box. ERSPAN and PPTP's enhanced GRE are not decoded.

use super::link::{self, L3};
use crate::capture::linktype;

const CHECKSUM: u16 = 0x8000;
const ROUTING: u16 = 0x4000;
const KEY: u16 = 0x2000;
const SEQUENCE: u16 = 0x1000;
const VERSION: u16 = 0x0007;

const PROTO_IPV4: u16 = 0x0800;
const PROTO_IPV6: u16 = 0x86dd;
const PROTO_ETHERNET: u16 = 0x6558;

/// The packet inside a GRE header, or `None` for what we do not decode.
pub fn decapsulate(data: &[u8]) -> Option<L3<'_>> {
    let flags = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
    let proto = u16::from_be_bytes([*data.get(2)?, *data.get(3)?]);
    if flags & VERSION != 0 || flags & ROUTING != 0 {
        return None;
    }
    let mut off = 4;
    for bit in [CHECKSUM, KEY, SEQUENCE] {
        if flags & bit != 0 {
            off += 4;
        }
    }
    let inner = data.get(off..)?;
    match proto {
        PROTO_IPV4 => Some(L3::Ipv4(inner)),
        PROTO_IPV6 => Some(L3::Ipv6(inner)),
        PROTO_ETHERNET => link::strip(linktype::ETHERNET, inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_keyed_and_bridged() {
        assert_eq!(
            decapsulate(&[0, 0, 0x08, 0x00, 0x45]),
            Some(L3::Ipv4(&[0x45][..]))
        );
        // Key and sequence present: 8 more bytes.
        let mut g = vec![0x30, 0, 0x86, 0xdd];
        g.extend_from_slice(&[0; 8]);
        g.push(0x60);
        assert_eq!(decapsulate(&g), Some(L3::Ipv6(&[0x60][..])));
        // Transparent Ethernet bridging.
        let mut e = vec![0, 0, 0x65, 0x58];
        e.extend_from_slice(&[0; 12]);
        e.extend_from_slice(&[0x08, 0x00, 0x45]);
        assert_eq!(decapsulate(&e), Some(L3::Ipv4(&[0x45][..])));
        // Enhanced GRE (version 1), ERSPAN, truncated.
        assert_eq!(decapsulate(&[0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0]), None);
        assert_eq!(decapsulate(&[0, 0, 0x88, 0xbe, 0x10]), None);
        assert_eq!(decapsulate(&[0x80, 0, 0x08, 0x00, 0]), None);
        assert_eq!(decapsulate(&[0]), None);
    }
}
