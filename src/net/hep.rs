//! HEP (Homer Encapsulation Protocol) v1/v2 and v3: capture agents
//! (Kamailio/OpenSIPS siptrace, heplify, sngrep, FreeSWITCH) send each SIP
//! message they see, with its ORIGINAL addresses, ports, transport and
//! time, inside a UDP packet to a HOMER collector (port 9060 by default).
//! A capture of that traffic is a capture of the SIP messages themselves.
//!
//! HEP3 is recognised by its "HEP3" magic on any port; the older binary
//! header (v1/v2, no magic) only when its fields are consistent and either
//! a port is 9060 or the payload starts like text.

use super::{PacketCtx, Payload, PayloadKind};
use crate::capture::{Transport, Ts};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The default HOMER collector port.
pub const HEP_PORT: u16 = 9060;

/// A SIP message carried in HEP, described as the agent saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HepSip<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport,
    /// When the agent saw it (`None` when HEP v1 carries no time).
    pub ts: Option<Ts>,
    pub payload: &'a [u8],
}

impl<'a> HepSip<'a> {
    /// The SIP message as a payload of the packet that carried it: its
    /// frame, but the agent's addresses, transport and time.
    pub fn payload_at(&self, ctx: PacketCtx) -> Payload<'a> {
        Payload {
            ctx: PacketCtx {
                ts: self.ts.unwrap_or(ctx.ts),
                ..ctx
            },
            src: self.src,
            dst: self.dst,
            transport: self.transport,
            kind: PayloadKind::Datagram,
            data: self.payload,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hep<'a> {
    Sip(HepSip<'a>),
    /// Valid HEP, but not plain SIP (RTCP, logs, QoS reports, compressed).
    Skipped,
}

/// Decodes `data` as HEP when it is HEP.
pub fn detect(data: &[u8], sport: u16, dport: u16) -> Option<Hep<'_>> {
    if data.starts_with(b"HEP3") {
        return v3(data);
    }
    let on_hep_port = sport == HEP_PORT || dport == HEP_PORT;
    let (sip, _) = v1v2(data)?;
    if on_hep_port || sip.payload.first().is_some_and(u8::is_ascii_alphabetic) {
        Some(Hep::Sip(sip))
    } else {
        None
    }
}

fn transport(proto: u8) -> Transport {
    match proto {
        6 => Transport::Tcp,
        17 => Transport::Udp,
        // Agents mark TLS with IPPROTO_IDP (22) for want of a number.
        22 => Transport::Tls,
        132 => Transport::Sctp,
        _ => Transport::Unknown,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn ipv4(b: &[u8], at: usize) -> Option<IpAddr> {
    let a: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(a)))
}

fn ipv6(b: &[u8], at: usize) -> Option<IpAddr> {
    let a: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(a)))
}

/// HEP v1/v2: `version, header length, family, protocol, sport, dport`,
/// the addresses, and for v2 `tv_sec, tv_usec, capture id` (12 bytes with
/// padding). Agents write the time fields in host order; the byte order
/// that gives a valid microsecond count is taken (little-endian first, as
/// nearly every agent runs on x86 or ARM).
fn v1v2(data: &[u8]) -> Option<(HepSip<'_>, u8)> {
    let version = *data.first()?;
    let hdr_len = usize::from(*data.get(1)?);
    let family = *data.get(2)?;
    let proto = *data.get(3)?;
    let addr_len = match family {
        2 => 8,
        // AF_INET6 is 10 on Linux, 24/28/30 on the BSDs and macOS.
        10 | 24 | 28 | 30 => 32,
        _ => return None,
    };
    if !matches!(version, 1 | 2) {
        return None;
    }
    // The header length is 8 + addresses; for v2 some agents count the
    // time header in it (sofia-sip: 10 or 12 bytes with padding), others
    // do not (Kamailio siptrace: the 12-byte time header follows anyway).
    let base = 8 + addr_len;
    let payload_at = match (version, hdr_len - base.min(hdr_len)) {
        (_, _) if hdr_len < base => return None,
        (1, 0) => base,
        (2, 0) => base + 12,
        (2, 10 | 12) => hdr_len,
        _ => return None,
    };
    if !matches!(proto, 6 | 17 | 22 | 132) {
        return None;
    }
    let payload = data.get(payload_at..)?;
    if payload.is_empty() {
        return None;
    }
    let (sport, dport) = (be16(data, 4)?, be16(data, 6)?);
    let (src, dst) = if addr_len == 8 {
        (ipv4(data, 8)?, ipv4(data, 12)?)
    } else {
        (ipv6(data, 8)?, ipv6(data, 24)?)
    };
    let ts = if version == 2 {
        let pick = |secs: u32, usecs: u32| {
            (usecs < 1_000_000)
                .then(|| Ts::from_secs_nanos(i64::from(secs), i64::from(usecs) * 1000))
        };
        pick(le32(data, base)?, le32(data, base + 4)?).or_else(|| {
            pick(
                be32(data, base).unwrap_or(0),
                be32(data, base + 4).unwrap_or(0),
            )
        })
    } else {
        None
    };
    Some((
        HepSip {
            src: SocketAddr::new(src, sport),
            dst: SocketAddr::new(dst, dport),
            transport: transport(proto),
            ts,
            payload,
        },
        version,
    ))
}

// HEP3 chunk types (vendor 0).
const FAMILY: u16 = 1;
const PROTO: u16 = 2;
const SRC_V4: u16 = 3;
const DST_V4: u16 = 4;
const SRC_V6: u16 = 5;
const DST_V6: u16 = 6;
const SRC_PORT: u16 = 7;
const DST_PORT: u16 = 8;
const TS_SEC: u16 = 9;
const TS_USEC: u16 = 10;
const PROTO_TYPE: u16 = 11;
const PAYLOAD: u16 = 15;
const PAYLOAD_COMPRESSED: u16 = 16;
/// HEP3 protocol type of SIP.
const TYPE_SIP: u8 = 1;

/// HEP3: "HEP3", total length, then chunks of `vendor, type, length`
/// (length includes the 6-byte chunk header), all big-endian.
fn v3(data: &[u8]) -> Option<Hep<'_>> {
    let total = usize::from(be16(data, 4)?);
    let data = data.get(..total.min(data.len()))?;
    let mut at = 6;
    let (mut proto, mut ptype) = (None, None);
    let (mut src, mut dst) = (None, None);
    let (mut sport, mut dport) = (None, None);
    let (mut secs, mut usecs) = (None, None);
    let mut payload = None;
    let mut compressed = false;
    while at + 6 <= data.len() {
        let vendor = be16(data, at)?;
        let kind = be16(data, at + 2)?;
        let len = usize::from(be16(data, at + 4)?);
        if len < 6 {
            return None;
        }
        let body = data.get(at + 6..at + len)?;
        if vendor == 0 {
            match kind {
                FAMILY => {}
                PROTO => proto = body.first().copied(),
                SRC_V4 => src = ipv4(body, 0),
                DST_V4 => dst = ipv4(body, 0),
                SRC_V6 => src = ipv6(body, 0),
                DST_V6 => dst = ipv6(body, 0),
                SRC_PORT => sport = be16(body, 0),
                DST_PORT => dport = be16(body, 0),
                TS_SEC => secs = be32(body, 0),
                TS_USEC => usecs = be32(body, 0),
                PROTO_TYPE => ptype = body.first().copied(),
                PAYLOAD => payload = Some(body),
                PAYLOAD_COMPRESSED => compressed = true,
                _ => {}
            }
        }
        at += len;
    }
    if ptype != Some(TYPE_SIP) || compressed {
        return Some(Hep::Skipped);
    }
    let (Some(src), Some(dst), Some(payload)) = (src, dst, payload) else {
        return Some(Hep::Skipped);
    };
    let ts = secs.map(|s| {
        Ts::from_secs_nanos(
            i64::from(s),
            i64::from(usecs.unwrap_or(0).min(999_999)) * 1000,
        )
    });
    Some(Hep::Sip(HepSip {
        src: SocketAddr::new(src, sport.unwrap_or(0)),
        dst: SocketAddr::new(dst, dport.unwrap_or(0)),
        transport: transport(proto.unwrap_or(17)),
        ts,
        payload,
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn chunk(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
        out.extend_from_slice(&0u16.to_be_bytes());
        out.extend_from_slice(&kind.to_be_bytes());
        out.extend_from_slice(&(6 + body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
    }

    /// A HEP3 packet as agents build it.
    pub(crate) fn hep3(proto: u8, ptype: u8, payload: &[u8]) -> Vec<u8> {
        let mut c = Vec::new();
        chunk(&mut c, FAMILY, &[2]);
        chunk(&mut c, PROTO, &[proto]);
        chunk(&mut c, SRC_V4, &[192, 0, 2, 10]);
        chunk(&mut c, DST_V4, &[198, 51, 100, 5]);
        chunk(&mut c, SRC_PORT, &5062u16.to_be_bytes());
        chunk(&mut c, DST_PORT, &5060u16.to_be_bytes());
        chunk(&mut c, TS_SEC, &1_700_000_000u32.to_be_bytes());
        chunk(&mut c, TS_USEC, &250_000u32.to_be_bytes());
        chunk(&mut c, PROTO_TYPE, &[ptype]);
        chunk(&mut c, 12, &7u32.to_be_bytes());
        chunk(&mut c, PAYLOAD, payload);
        let mut out = b"HEP3".to_vec();
        out.extend_from_slice(&(6 + c.len() as u16).to_be_bytes());
        out.extend_from_slice(&c);
        out
    }

    #[test]
    fn hep3_gives_the_original_addresses_transport_and_time() {
        let pkt = hep3(6, 1, b"REGISTER sip:x SIP/2.0\r\n\r\n");
        let Some(Hep::Sip(m)) = detect(&pkt, 40000, 9999) else {
            panic!("not decoded");
        };
        assert_eq!(m.src, "192.0.2.10:5062".parse().unwrap());
        assert_eq!(m.dst, "198.51.100.5:5060".parse().unwrap());
        assert_eq!(m.transport, Transport::Tcp);
        assert_eq!(m.ts, Some(Ts::from_secs_nanos(1_700_000_000, 250_000_000)));
        assert_eq!(m.payload, b"REGISTER sip:x SIP/2.0\r\n\r\n");
    }

    #[test]
    fn hep3_other_payload_types_are_skipped() {
        assert_eq!(detect(&hep3(17, 5, b"{}"), 1, 9060), Some(Hep::Skipped));
    }

    #[test]
    fn hep3_truncated_or_hostile_lengths_do_not_panic() {
        let pkt = hep3(17, 1, b"OPTIONS sip:x SIP/2.0\r\n\r\n");
        for cut in 0..pkt.len() {
            let _ = detect(&pkt[..cut], 9060, 9060);
        }
        let mut bad = pkt.clone();
        bad[10] = 0; // first chunk length 0
        bad[11] = 0;
        assert_eq!(detect(&bad, 9060, 9060), None);
    }

    fn hep2(payload: &[u8]) -> Vec<u8> {
        let mut p = vec![2, 28, 2, 17];
        p.extend_from_slice(&5060u16.to_be_bytes());
        p.extend_from_slice(&5070u16.to_be_bytes());
        p.extend_from_slice(&[10, 1, 1, 1, 10, 2, 2, 2]);
        p.extend_from_slice(&1_600_000_000u32.to_le_bytes());
        p.extend_from_slice(&123_456u32.to_le_bytes());
        p.extend_from_slice(&[1, 0, 0, 0]);
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn hep2_with_host_order_time() {
        let pkt = hep2(b"SIP/2.0 401 Unauthorized\r\n\r\n");
        let Some(Hep::Sip(m)) = detect(&pkt, 5000, 9060) else {
            panic!("not decoded");
        };
        assert_eq!(m.src, "10.1.1.1:5060".parse().unwrap());
        assert_eq!(m.dst, "10.2.2.2:5070".parse().unwrap());
        assert_eq!(m.transport, Transport::Udp);
        assert_eq!(m.ts, Some(Ts::from_secs_nanos(1_600_000_000, 123_456_000)));
        assert!(m.payload.starts_with(b"SIP/2.0 401"));
    }

    #[test]
    fn hep2_kamailio_layout_excludes_the_time_header_from_its_length() {
        let mut pkt = hep2(b"REGISTER sip:a SIP/2.0\r\n\r\n");
        pkt[1] = 16;
        let Some(Hep::Sip(m)) = detect(&pkt, 5060, 9060) else {
            panic!("not decoded");
        };
        assert!(m.payload.starts_with(b"REGISTER"));
        assert_eq!(m.ts, Some(Ts::from_secs_nanos(1_600_000_000, 123_456_000)));
    }

    #[test]
    fn binary_udp_is_not_taken_for_hep2_off_its_port() {
        // RTP-like payload after a plausible v2 header, not on 9060.
        let pkt = hep2(&[0x80, 0x00, 0x12]);
        assert_eq!(detect(&pkt, 5000, 6000), None);
        // Bad family or header length: never HEP.
        let mut bad = hep2(b"INVITE");
        bad[2] = 7;
        assert_eq!(detect(&bad, 9060, 9060), None);
        let mut bad = hep2(b"INVITE");
        bad[1] = 99;
        assert_eq!(detect(&bad, 9060, 9060), None);
    }
}
