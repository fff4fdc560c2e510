//! From link-layer frames to transport payloads: link headers, IPv4/IPv6
//! (with fragment reassembly), tunnels (IP-in-IP, GRE), HEP (HOMER)
//! encapsulation, UDP datagrams, reassembled TCP byte streams and the
//! framing that rides on TCP (WebSocket; TLS is recognised and counted).
//!
//! Each layer is decoded from a borrowed slice with checked accessors
//! (etherparse for IP/UDP/TCP, small hand-written views for the headers
//! etherparse does not cover); nothing is copied for plain UDP. Every
//! buffer that holds bytes across packets has a cap, and what is dropped at
//! a cap is counted and reported as an input warning.
//!
//! This layer knows nothing about SIP: the consumer (the SIP stage in
//! `analysis.rs`) frames messages and tells the stream layer what it did
//! with the bytes through [`Take`].

pub mod defrag;
pub mod gre;
pub mod hep;
pub mod link;
pub mod stream;
pub mod tcp;
pub mod websocket;

use crate::capture::{RawPacket, Transport, Ts};
use etherparse::{IpFragOffset, IpNumber, LaxIpv4Slice, LaxIpv6Slice, TcpSlice, UdpSlice};
use std::net::{IpAddr, SocketAddr};

/// Where a payload sits in the capture.
#[derive(Clone, Copy, Debug)]
pub struct PacketCtx {
    pub input: u16,
    pub frame: u64,
    pub ts: Ts,
}

/// How the payload bytes are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadKind {
    /// One self-delimited unit (a UDP datagram, a HEP packet, a WebSocket
    /// message): SIP messages are framed by its end.
    Datagram,
    /// In-order bytes of one direction of a stream; the consumer says what
    /// it did with them ([`Take`]) and gets the rest again with the next
    /// data. `end` marks the last delivery: what the consumer leaves then is
    /// dropped.
    Stream { stream: u64, end: bool },
}

/// A transport payload ready for SIP framing.
#[derive(Clone, Copy, Debug)]
pub struct Payload<'a> {
    pub ctx: PacketCtx,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub transport: Transport,
    pub kind: PayloadKind,
    pub data: &'a [u8],
}

/// What a consumer did with the front of a stream payload. A count of 0
/// means "not enough yet, call again with more". Ignored for datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Take {
    /// `n` bytes were messages of the consumer's protocol (or keep-alives).
    Framed(usize),
    /// `n` bytes were skipped as not the consumer's protocol.
    Skipped(usize),
    /// This direction is not the consumer's protocol: stop delivering it.
    Ignore,
}

/// One TLS flow seen (one entry per connection, both directions).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EncryptedFlow {
    pub input: u16,
    pub client: SocketAddr,
    pub server: SocketAddr,
    /// First frame of the flow in which TLS was recognised.
    pub first_frame: u64,
}

/// Counters for the input report.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct NetStats {
    pub packets: u64,
    pub udp: u64,
    pub tcp_segments: u64,
    /// IP fragments seen (each one, not datagrams).
    pub ip_fragments: u64,
    /// Datagrams rebuilt from fragments and decoded like unfragmented ones.
    pub ip_reassembled: u64,
    /// Datagrams whose fragments never all arrived (or broke a cap).
    pub ip_incomplete: u64,
    pub gre_packets: u64,
    pub hep_packets: u64,
    /// HEP packets that carry something other than SIP, or compressed SIP.
    pub hep_skipped: u64,
    pub websocket_messages: u64,
    /// TLS connections (both directions count once).
    pub tls_flows: u64,
    /// The first TLS flows, for the `encrypted-signalling` finding.
    pub encrypted_flows: Vec<EncryptedFlow>,
    /// TCP directions dropped because they are not SIP (HTTP, SSH, ...).
    pub non_sip_streams: u64,
    pub unsupported_link: u64,
    pub undecodable: u64,
    pub other_protocols: u64,
    pub snaplen_cut: u64,
    pub tcp: tcp::TcpStats,
}

impl NetStats {
    /// Adds another input's counters to these. Destructured in full so a
    /// new counter cannot be forgotten here.
    pub fn add(&mut self, s: &NetStats) {
        let NetStats {
            packets,
            udp,
            tcp_segments,
            ip_fragments,
            ip_reassembled,
            ip_incomplete,
            gre_packets,
            hep_packets,
            hep_skipped,
            websocket_messages,
            tls_flows,
            encrypted_flows,
            non_sip_streams,
            unsupported_link,
            undecodable,
            other_protocols,
            snaplen_cut,
            tcp,
        } = s;
        self.packets += packets;
        self.udp += udp;
        self.tcp_segments += tcp_segments;
        self.ip_fragments += ip_fragments;
        self.ip_reassembled += ip_reassembled;
        self.ip_incomplete += ip_incomplete;
        self.gre_packets += gre_packets;
        self.hep_packets += hep_packets;
        self.hep_skipped += hep_skipped;
        self.websocket_messages += websocket_messages;
        self.tls_flows += tls_flows;
        let room = stream::MAX_LISTED_FLOWS.saturating_sub(self.encrypted_flows.len());
        self.encrypted_flows
            .extend(encrypted_flows.iter().take(room).cloned());
        self.non_sip_streams += non_sip_streams;
        self.unsupported_link += unsupported_link;
        self.undecodable += undecodable;
        self.other_protocols += other_protocols;
        self.snaplen_cut += snaplen_cut;
        self.tcp.add(tcp);
    }
}

/// Sink for payloads: says what it did with a stream payload ([`Take`];
/// ignored for datagrams).
pub type PayloadSink<'s> = dyn FnMut(&Payload<'_>) -> Take + 's;

/// Input warnings with a cap: the first ones are kept word for word, the
/// rest are counted and summarised.
#[derive(Debug, Default)]
pub(crate) struct Warnings {
    list: Vec<String>,
    more: u64,
}

/// Most warnings of one kind listed per input.
const MAX_LISTED: usize = 20;

impl Warnings {
    pub(crate) fn push(&mut self, w: String) {
        if self.list.len() < MAX_LISTED {
            self.list.push(w);
        } else {
            self.more += 1;
        }
    }

    pub(crate) fn take(&mut self, what: &str) -> Vec<String> {
        let mut out = std::mem::take(&mut self.list);
        if self.more > 0 {
            out.push(format!("... and {} more {what}", self.more));
            self.more = 0;
        }
        out
    }
}

/// Most nested encapsulations (IP-in-IP, GRE) followed.
const MAX_DEPTH: u8 = 4;

pub struct NetDecoder {
    pub stats: NetStats,
    tcp: tcp::TcpReassembler,
    defrag: defrag::Defragmenter,
    streams: stream::StreamLayer,
    /// HEP packets over UDP (all, skipped); TCP ones are the stream layer's.
    hep_udp: (u64, u64),
    hep_skipped_reported: u64,
    warnings: Vec<String>,
}

impl Default for NetDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl NetDecoder {
    pub fn new() -> NetDecoder {
        NetDecoder {
            stats: NetStats::default(),
            tcp: tcp::TcpReassembler::new(tcp::TcpLimits::default()),
            defrag: defrag::Defragmenter::new(defrag::DefragLimits::default()),
            streams: stream::StreamLayer::new(),
            hep_udp: (0, 0),
            hep_skipped_reported: 0,
            warnings: Vec::new(),
        }
    }

    /// Decodes one captured packet and hands every payload to `sink`.
    pub fn packet(&mut self, input: u16, pkt: &RawPacket<'_>, sink: &mut PayloadSink<'_>) {
        self.stats.packets += 1;
        if (pkt.orig_len as usize) > pkt.data.len() {
            self.stats.snaplen_cut += 1;
        }
        let ctx = PacketCtx {
            input,
            frame: pkt.frame,
            ts: pkt.ts,
        };
        self.link(ctx, link::strip(pkt.linktype, pkt.data), 0, sink);
    }

    fn link(
        &mut self,
        ctx: PacketCtx,
        l3: Option<link::L3<'_>>,
        depth: u8,
        sink: &mut PayloadSink<'_>,
    ) {
        match l3 {
            Some(link::L3::Ipv4(b)) => self.ipv4(ctx, b, depth, sink),
            Some(link::L3::Ipv6(b)) => self.ipv6(ctx, b, depth, sink),
            Some(link::L3::Other) => self.stats.other_protocols += 1,
            None => self.stats.unsupported_link += 1,
        }
    }

    fn ipv4(&mut self, ctx: PacketCtx, data: &[u8], depth: u8, sink: &mut PayloadSink<'_>) {
        let Ok((ip, _)) = LaxIpv4Slice::from_slice(data) else {
            self.stats.undecodable += 1;
            return;
        };
        let h = ip.header();
        let src = IpAddr::V4(h.source_addr());
        let dst = IpAddr::V4(h.destination_addr());
        let p = ip.payload();
        if p.fragmented {
            self.stats.ip_fragments += 1;
            let frag = defrag::Fragment {
                key: defrag::FragKey {
                    src,
                    dst,
                    proto: p.ip_number.0,
                    id: u32::from(h.identification()),
                },
                offset: h.fragments_offset(),
                more: h.more_fragments(),
                data: p.payload,
            };
            self.reassembled(ctx, &frag, depth, sink);
            return;
        }
        self.l4(ctx, src, dst, p.ip_number, p.payload, depth, sink);
    }

    fn ipv6(&mut self, ctx: PacketCtx, data: &[u8], depth: u8, sink: &mut PayloadSink<'_>) {
        let Ok((ip, _)) = LaxIpv6Slice::from_slice(data) else {
            self.stats.undecodable += 1;
            return;
        };
        let h = ip.header();
        let src = IpAddr::V6(h.source_addr());
        let dst = IpAddr::V6(h.destination_addr());
        let p = ip.payload();
        // The fragment header is found by our own walk of the extension
        // headers: etherparse 0.18's extension iterator over a lax slice
        // reads past the slice on a truncated chain (found by fuzzing), and
        // it reads the fragment offset and M flag with the IPv4 bit layout
        // (RFC 8200 has 13 offset bits, 2 reserved, then M).
        let frag_header = ipv6_fragment_header(data);
        let fragmenting = frag_header.and_then(|(at, fh)| {
            let bits = u16::from_be_bytes([*fh.get(2)?, *fh.get(3)?]);
            let (offset, more) = (bits >> 3, bits & 1 == 1);
            (offset != 0 || more).then_some(((at, fh), offset, more))
        });
        if let Some(((at, fh), offset, more)) = fragmenting {
            self.stats.ip_fragments += 1;
            // The fragmentable part starts right after the fragment header.
            let start = at + fh.len();
            let end = (40 + usize::from(h.payload_length())).min(data.len());
            let (Some(frag_data), Some(&next), Ok(offset), Some(id)) = (
                data.get(start..end),
                fh.first(),
                IpFragOffset::try_new(offset),
                fh.get(4..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_be_bytes),
            ) else {
                self.stats.undecodable += 1;
                return;
            };
            let frag = defrag::Fragment {
                key: defrag::FragKey {
                    src,
                    dst,
                    proto: next,
                    id,
                },
                offset,
                more,
                data: frag_data,
            };
            self.reassembled(ctx, &frag, depth, sink);
            return;
        }
        self.l4(ctx, src, dst, p.ip_number, p.payload, depth, sink);
    }

    /// Adds a fragment; a completed datagram goes on exactly like an
    /// unfragmented one (in the frame of its last fragment).
    fn reassembled(
        &mut self,
        ctx: PacketCtx,
        frag: &defrag::Fragment<'_>,
        depth: u8,
        sink: &mut PayloadSink<'_>,
    ) {
        if let Some(datagram) = self.defrag.add(ctx, frag) {
            self.stats.ip_reassembled += 1;
            let key = frag.key;
            self.l4(
                ctx,
                key.src,
                key.dst,
                IpNumber(key.proto),
                &datagram,
                depth,
                sink,
            );
            self.defrag.recycle(datagram);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn l4(
        &mut self,
        ctx: PacketCtx,
        src: IpAddr,
        dst: IpAddr,
        proto: IpNumber,
        data: &[u8],
        depth: u8,
        sink: &mut PayloadSink<'_>,
    ) {
        match proto {
            IpNumber::UDP => {
                let Ok(udp) = UdpSlice::from_slice_lax(data) else {
                    self.stats.undecodable += 1;
                    return;
                };
                self.stats.udp += 1;
                let (sport, dport) = (udp.source_port(), udp.destination_port());
                if let Some(h) = hep::detect(udp.payload(), sport, dport) {
                    self.hep(ctx, h, sink);
                    return;
                }
                let payload = Payload {
                    ctx,
                    src: SocketAddr::new(src, sport),
                    dst: SocketAddr::new(dst, dport),
                    transport: Transport::Udp,
                    kind: PayloadKind::Datagram,
                    data: udp.payload(),
                };
                sink(&payload);
            }
            IpNumber::TCP => {
                let Ok(tcp) = TcpSlice::from_slice(data) else {
                    self.stats.undecodable += 1;
                    return;
                };
                self.stats.tcp_segments += 1;
                let seg = tcp::Segment {
                    src: SocketAddr::new(src, tcp.source_port()),
                    dst: SocketAddr::new(dst, tcp.destination_port()),
                    seq: tcp.sequence_number(),
                    syn: tcp.syn(),
                    fin: tcp.fin(),
                    rst: tcp.rst(),
                    ack: tcp.ack().then(|| tcp.acknowledgment_number()),
                    payload: tcp.payload(),
                };
                let streams = &mut self.streams;
                self.tcp
                    .segment(ctx, &seg, &mut |p: &Payload<'_>| streams.payload(p, sink));
            }
            // IP-in-IP and IPv6-in-IP: decapsulate (bounded depth).
            IpNumber::IPV4 if depth < MAX_DEPTH => self.ipv4(ctx, data, depth + 1, sink),
            IpNumber::IPV6 if depth < MAX_DEPTH => self.ipv6(ctx, data, depth + 1, sink),
            IpNumber::GRE if depth < MAX_DEPTH => match gre::decapsulate(data) {
                Some(inner) => {
                    self.stats.gre_packets += 1;
                    self.link(ctx, Some(inner), depth + 1, sink);
                }
                None => self.stats.other_protocols += 1,
            },
            _ => self.stats.other_protocols += 1,
        }
    }

    /// SIP carried in HEP: the message is reported with the addresses,
    /// transport and time the capture agent recorded, not the HEP packet's.
    fn hep(&mut self, ctx: PacketCtx, h: hep::Hep<'_>, sink: &mut PayloadSink<'_>) {
        self.hep_udp.0 += 1;
        match h {
            hep::Hep::Sip(m) => {
                sink(&m.payload_at(ctx));
            }
            hep::Hep::Skipped => self.hep_udp.1 += 1,
        }
    }

    /// End of all input: flush what streams and fragment buffers still hold.
    pub fn finish(&mut self, sink: &mut PayloadSink<'_>) {
        let streams = &mut self.streams;
        self.tcp
            .finish(&mut |p: &Payload<'_>| streams.payload(p, sink));
        self.defrag.finish();
        self.streams.end_of_input();
        self.sync_stats();
        self.warnings.extend(self.tcp.take_warnings());
        self.warnings.extend(self.streams.take_warnings());
        self.warnings.extend(self.defrag.take_warnings());
        // Counters run over all inputs; the warning is about this one.
        let skipped = self.stats.hep_skipped - self.hep_skipped_reported;
        self.hep_skipped_reported = self.stats.hep_skipped;
        if skipped > 0 {
            self.warnings.push(format!(
                "{skipped} HEP packets carried something other than plain SIP (RTCP, logs, compressed payloads) and were skipped"
            ));
        }
    }

    fn sync_stats(&mut self) {
        self.stats.tcp = self.tcp.stats.clone();
        self.stats.ip_incomplete = self.defrag.incomplete();
        let s = self.streams.stats();
        self.stats.websocket_messages = s.websocket_messages;
        self.stats.hep_packets = self.hep_udp.0 + s.hep_packets;
        self.stats.hep_skipped = self.hep_udp.1 + s.hep_skipped;
        self.stats.tls_flows = s.tls_flows;
        self.stats.non_sip_streams = s.non_sip_streams + self.tcp.stats.not_sip_directions;
        self.stats.encrypted_flows = s.encrypted_flows.clone();
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

/// The IPv6 fragment header (its offset in `packet` and its 8 bytes), by a
/// walk of the extension headers (RFC 8200 §4) with every length checked;
/// `None` when the packet has none, or the chain is cut or too long.
fn ipv6_fragment_header(packet: &[u8]) -> Option<(usize, &[u8])> {
    const FRAGMENT: u8 = 44;
    let mut next = *packet.get(6)?;
    let mut at = 40usize;
    // More headers than any real packet carries: a crafted loop ends here.
    for _ in 0..16 {
        let len = match next {
            // Hop-by-hop, routing, destination options: 8-byte units after
            // the first 8.
            0 | 43 | 60 => (usize::from(*packet.get(at + 1)?) + 1) * 8,
            // Authentication header: 4-byte units, minus 2.
            51 => (usize::from(*packet.get(at + 1)?) + 2) * 4,
            FRAGMENT => return Some((at, packet.get(at..at.checked_add(8)?)?)),
            _ => return None,
        };
        next = *packet.get(at)?;
        at = at.checked_add(len)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::linktype;
    use etherparse::PacketBuilder;

    const SIP: &[u8] = b"REGISTER sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n";

    fn udp_v4(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4(src, dst, 64)
            .udp(sport, dport)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    /// (transport, src, dst, kind, data, ts) of every payload.
    type Got = Vec<(Transport, SocketAddr, SocketAddr, PayloadKind, Vec<u8>, Ts)>;

    fn decode(packets: &[Vec<u8>]) -> (Got, NetDecoder) {
        let mut net = NetDecoder::new();
        let mut got = Got::new();
        let mut sink = |p: &Payload<'_>| {
            got.push((p.transport, p.src, p.dst, p.kind, p.data.to_vec(), p.ctx.ts));
            match p.kind {
                PayloadKind::Datagram => Take::Framed(0),
                PayloadKind::Stream { .. } => Take::Framed(p.data.len()),
            }
        };
        for (i, data) in packets.iter().enumerate() {
            let pkt = RawPacket {
                frame: i as u64 + 1,
                ts: Ts::from_secs_nanos(1000 + i as i64, 0),
                linktype: linktype::RAW,
                data,
                orig_len: data.len() as u32,
            };
            net.packet(0, &pkt, &mut sink);
        }
        net.finish(&mut sink);
        (got, net)
    }

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn gre_tunnel_is_decapsulated() {
        let inner = udp_v4([10, 0, 0, 1], [10, 0, 0, 2], 5062, 5060, SIP);
        let mut gre = vec![0x20, 0, 0x08, 0x00, 0, 0, 0, 42]; // keyed GRE
        gre.extend_from_slice(&inner);
        let mut outer = Vec::new();
        PacketBuilder::ipv4([192, 0, 2, 1], [192, 0, 2, 2], 64)
            .write(&mut outer, IpNumber::GRE, &gre)
            .unwrap();
        let (got, net) = decode(&[outer]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1, addr("10.0.0.1:5062"));
        assert_eq!(got[0].2, addr("10.0.0.2:5060"));
        assert_eq!(got[0].4, SIP);
        assert_eq!(net.stats.gre_packets, 1);
    }

    /// Splits an IPv4 UDP packet into fragments of `size` payload bytes,
    /// returned in the order given by `order`.
    fn fragments_v4(packet: &[u8], size: usize, order: &[usize]) -> Vec<Vec<u8>> {
        let (ip, _) = etherparse::Ipv4Header::from_slice(packet).unwrap();
        let payload = &packet[ip.header_len()..];
        let pieces: Vec<&[u8]> = payload.chunks(size).collect();
        order
            .iter()
            .map(|&i| {
                let mut h = ip.clone();
                h.fragment_offset =
                    etherparse::IpFragOffset::try_new((i * size / 8) as u16).unwrap();
                h.more_fragments = i + 1 < pieces.len();
                h.set_payload_len(pieces[i].len()).unwrap();
                h.header_checksum = h.calc_header_checksum();
                let mut out = h.to_bytes().to_vec();
                out.extend_from_slice(pieces[i]);
                out
            })
            .collect()
    }

    #[test]
    fn ipv4_fragments_out_of_order_flow_on_as_one_datagram() {
        let big: Vec<u8> = SIP
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', 3000))
            .collect();
        let pkt = udp_v4([10, 0, 0, 1], [10, 0, 0, 2], 5062, 5060, &big);
        let (got, net) = decode(&fragments_v4(&pkt, 1480, &[2, 0, 1]));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Transport::Udp);
        assert_eq!(got[0].2, addr("10.0.0.2:5060"));
        assert_eq!(got[0].4, big);
        // Delivered in the frame (and at the time) of the fragment that
        // completed it.
        assert_eq!(got[0].5, Ts::from_secs_nanos(1002, 0));
        assert_eq!(net.stats.ip_fragments, 3);
        assert_eq!(net.stats.ip_reassembled, 1);
    }

    #[test]
    fn missing_fragment_is_reported() {
        let big: Vec<u8> = SIP
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', 3000))
            .collect();
        let pkt = udp_v4([10, 0, 0, 1], [10, 0, 0, 2], 5062, 5060, &big);
        let (got, mut net) = decode(&fragments_v4(&pkt, 1480, &[0, 2]));
        assert!(got.is_empty());
        assert_eq!(net.stats.ip_incomplete, 1);
        let w = net.take_warnings();
        assert!(
            w.iter()
                .any(|w| w.contains("never completed") && w.contains("port 5060")),
            "{w:?}"
        );
    }

    /// An IPv6 fragment as RFC 8200 lays it out (offset in 8-byte units,
    /// M flag in the lowest bit).
    fn fragment_v6(offset: usize, more: bool, id: u32, data: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
        p.extend_from_slice(&[44, 64]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let bits = ((offset / 8) as u16) << 3 | u16::from(more);
        p.extend_from_slice(&[17, 0]);
        p.extend_from_slice(&bits.to_be_bytes());
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(data);
        p
    }

    /// An IPv6 header whose next header is `next`, then `rest`.
    fn ipv6_with(next: u8, payload_len: u16, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&payload_len.to_be_bytes());
        p.extend_from_slice(&[next, 64]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        p.extend_from_slice(rest);
        p
    }

    #[test]
    fn ipv6_extension_chains_are_walked_with_checked_lengths() {
        let frag = [17, 0, 0, 1, 0, 0, 0, 7];
        // Fragment header right after the fixed header.
        let p = ipv6_with(44, 8, &frag);
        assert_eq!(ipv6_fragment_header(&p), Some((40, &frag[..])));
        // Hop-by-hop (16 bytes), then authentication (12 bytes), then it.
        let mut chain = vec![51, 1];
        chain.extend_from_slice(&[0; 14]);
        chain.extend_from_slice(&[44, 1]);
        chain.extend_from_slice(&[0; 10]);
        chain.extend_from_slice(&frag);
        let p = ipv6_with(0, chain.len() as u16, &chain);
        assert_eq!(ipv6_fragment_header(&p), Some((68, &frag[..])));
        // No fragment header; a chain cut short; a header claiming more
        // bytes than the packet has; a fragment header cut short.
        assert_eq!(ipv6_fragment_header(&ipv6_with(17, 8, &[0; 8])), None);
        assert_eq!(ipv6_fragment_header(&ipv6_with(0, 16, &[44])), None);
        assert_eq!(
            ipv6_fragment_header(&ipv6_with(0, 16, &[44, 255, 0, 0])),
            None
        );
        assert_eq!(ipv6_fragment_header(&ipv6_with(44, 8, &[17, 0, 0])), None);
        assert_eq!(
            ipv6_fragment_header(&[0x60; 20]),
            None,
            "shorter than a header"
        );
        // A chain of 20 empty destination-options headers ends the walk.
        let mut long = Vec::new();
        for _ in 0..20 {
            long.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(
            ipv6_fragment_header(&ipv6_with(60, long.len() as u16, &long)),
            None
        );
    }

    #[test]
    fn truncated_ipv6_extension_chains_are_decoded_without_reading_past_them() {
        // Hop-by-hop headers of several lengths, cut at every length: never
        // a panic; a fragment only where the whole chain is there: the
        // 8 bytes after the hop-by-hop header read as a fragment header
        // (lengths 200 and 255 claim more than the capture holds).
        for claim in [0u8, 1, 2, 200, 255] {
            let mut chain = vec![44, claim, 0, 0, 0, 0, 0, 0];
            chain.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 9]);
            chain.extend_from_slice(b"INVITE sip:x SIP/2.0");
            for cut in 0..=chain.len() {
                let p = ipv6_with(0, 1000, &chain[..cut]);
                let (_, net) = decode(&[p]);
                let hbh = (usize::from(claim) + 1) * 8;
                let whole = cut >= hbh + 8 && chain[hbh + 2..hbh + 4] != [0, 0];
                assert_eq!(
                    net.stats.ip_fragments,
                    u64::from(whole),
                    "claim {claim} cut {cut}"
                );
            }
        }
    }

    #[test]
    fn ipv6_fragment_headers_are_read_per_rfc_8200() {
        let mut udp = Vec::new();
        let body: Vec<u8> = SIP
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'y', 2000))
            .collect();
        udp.extend_from_slice(&5062u16.to_be_bytes());
        udp.extend_from_slice(&5060u16.to_be_bytes());
        udp.extend_from_slice(&((8 + body.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&body);
        let (a, b) = udp.split_at(1448);
        let (got, net) = decode(&[fragment_v6(1448, false, 7, b), fragment_v6(0, true, 7, a)]);
        assert_eq!(got.len(), 1, "{:?}", net.stats);
        assert_eq!(got[0].1, addr("[2001:db8::1]:5062"));
        assert_eq!(got[0].4, body);
    }

    #[test]
    fn hep3_message_keeps_the_agent_view() {
        let hep = hep::tests::hep3(6, 1, SIP);
        let pkt = udp_v4([172, 16, 0, 9], [172, 16, 0, 10], 40000, 9060, &hep);
        let (got, net) = decode(&[pkt]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, Transport::Tcp);
        assert_eq!(got[0].1, addr("192.0.2.10:5062"));
        assert_eq!(got[0].2, addr("198.51.100.5:5060"));
        assert_eq!(got[0].5, Ts::from_secs_nanos(1_700_000_000, 250_000_000));
        assert_eq!(net.stats.hep_packets, 1);
    }

    #[test]
    fn hep_that_is_not_sip_is_counted_and_reported() {
        let rtcp = hep::tests::hep3(17, 5, b"{}");
        let pkt = udp_v4([172, 16, 0, 9], [172, 16, 0, 10], 40000, 9060, &rtcp);
        let (got, mut net) = decode(&[pkt]);
        assert!(got.is_empty());
        assert_eq!(net.stats.hep_skipped, 1);
        let w = net.take_warnings();
        assert!(w.iter().any(|w| w.starts_with("1 HEP packets")), "{w:?}");
    }

    fn tcp_v4(sport: u16, dport: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .tcp(sport, dport, seq, 65535)
            .ack(1)
            .write(&mut out, payload)
            .unwrap();
        out
    }

    #[test]
    fn websocket_on_tcp_becomes_one_ws_payload_per_message() {
        let up = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Protocol: sip\r\n\r\n";
        let f = websocket::tests::frame(true, 1, Some([5, 6, 7, 8]), SIP);
        // The frame split over two segments, delivered out of order.
        let (f1, f2) = f.split_at(10);
        let s1 = tcp_v4(40000, 8080, 1, up);
        let s2 = tcp_v4(40000, 8080, 1 + up.len() as u32, f1);
        let s3 = tcp_v4(40000, 8080, 1 + (up.len() + f1.len()) as u32, f2);
        let (got, net) = decode(&[s1, s3, s2]);
        let ws: Vec<_> = got.iter().filter(|g| g.0 == Transport::Ws).collect();
        assert_eq!(ws.len(), 1);
        assert_eq!(ws[0].3, PayloadKind::Datagram);
        assert_eq!(ws[0].4, SIP);
        assert_eq!(net.stats.websocket_messages, 1);
        // The HTTP handshake never reached the consumer.
        assert!(got.iter().all(|g| !g.4.starts_with(b"GET")));
    }

    #[test]
    fn tls_and_http_streams_do_not_reach_the_consumer() {
        let hello = [
            0x16, 0x03, 0x01, 0x00, 0x30, 0x01, 0, 0, 0x2c, 3, 3, 0, 0, 0, 0, 0, 0, 0,
        ];
        let http = b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n";
        let (got, net) = decode(&[tcp_v4(40000, 5061, 1, &hello), tcp_v4(40001, 80, 1, http)]);
        assert!(got.iter().all(|g| g.4.is_empty()), "{got:?}");
        assert_eq!(net.stats.tls_flows, 1);
        assert_eq!(net.stats.non_sip_streams, 1);
        assert_eq!(net.stats.encrypted_flows[0].server, addr("10.0.0.2:5061"));
    }

    #[test]
    fn hostile_packets_do_not_panic() {
        // Deterministic pseudo-random packets that pass the first checks of
        // each layer: IPv4/IPv6 with every protocol we decode, fragment
        // bits set, and truncations of well-formed packets.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut packets = Vec::new();
        let good = [
            udp_v4(
                [1, 1, 1, 1],
                [2, 2, 2, 2],
                9060,
                9060,
                &hep::tests::hep3(17, 1, SIP),
            ),
            tcp_v4(
                1,
                2,
                3,
                b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\xfe\xff",
            ),
            fragment_v6(8, true, 1, &[0; 16]),
        ];
        for g in &good {
            for cut in 0..g.len() {
                packets.push(g[..cut].to_vec());
            }
        }
        for _ in 0..3000 {
            let len = (next() % 200) as usize;
            let mut p: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if p.len() > 20 {
                if next() % 2 == 0 {
                    p[0] = 0x45;
                    p[9] = [4, 6, 17, 41, 47][(next() % 5) as usize];
                    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                } else {
                    p[0] = 0x60;
                    p[6] = [6, 17, 44, 47, 4][(next() % 5) as usize];
                }
            }
            packets.push(p);
        }
        let (_, net) = decode(&packets);
        assert_eq!(net.stats.packets, packets.len() as u64);
        assert_eq!(net.tcp.held_bytes(), 0);
        assert_eq!(net.defrag.in_flight(), 0);
    }
}
