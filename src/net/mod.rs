//! From link-layer frames to transport payloads: link headers, IPv4/IPv6,
//! UDP datagrams and reassembled TCP byte streams.
//!
//! Each layer is decoded from a borrowed slice with checked accessors
//! (etherparse for IP/UDP/TCP, small hand-written views for the link
//! headers etherparse does not cover); nothing is copied for UDP.

pub mod link;
pub mod tcp;

use crate::capture::{RawPacket, Transport, Ts};
use etherparse::{IpNumber, LaxIpv4Slice, LaxIpv6Slice, TcpSlice, UdpSlice};
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
    /// One datagram: SIP messages are framed by its end.
    Datagram,
    /// In-order bytes of one direction of a stream; the consumer says how
    /// many it used and gets the rest again with the next data. `end` marks
    /// the last delivery: what the consumer leaves then is dropped.
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

/// Counters for the input report.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct NetStats {
    pub packets: u64,
    pub udp: u64,
    pub tcp_segments: u64,
    pub ip_fragments: u64,
    pub unsupported_link: u64,
    pub undecodable: u64,
    pub other_protocols: u64,
    pub snaplen_cut: u64,
}

/// Sink for payloads: returns how many bytes of a stream payload it consumed
/// (ignored for datagrams).
pub type PayloadSink<'s> = dyn FnMut(&Payload<'_>) -> usize + 's;

pub struct NetDecoder {
    pub stats: NetStats,
    tcp: tcp::TcpReassembler,
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
        match link::strip(pkt.linktype, pkt.data) {
            Some(link::L3::Ipv4(b)) => self.ipv4(ctx, b, 0, sink),
            Some(link::L3::Ipv6(b)) => self.ipv6(ctx, b, 0, sink),
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
        if p.fragmented {
            self.stats.ip_fragments += 1;
            return;
        }
        self.l4(ctx, src, dst, p.ip_number, p.payload, depth, sink);
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
                let payload = Payload {
                    ctx,
                    src: SocketAddr::new(src, udp.source_port()),
                    dst: SocketAddr::new(dst, udp.destination_port()),
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
                    payload: tcp.payload(),
                };
                self.tcp.segment(ctx, &seg, sink);
            }
            // IP-in-IP and IPv6-in-IP: decapsulate (bounded depth).
            IpNumber::IPV4 if depth < 4 => self.ipv4(ctx, data, depth + 1, sink),
            IpNumber::IPV6 if depth < 4 => self.ipv6(ctx, data, depth + 1, sink),
            _ => self.stats.other_protocols += 1,
        }
    }

    /// End of all input: flush what streams still hold.
    pub fn finish(&mut self, sink: &mut PayloadSink<'_>) {
        self.tcp.finish(sink);
        self.warnings.extend(self.tcp.take_warnings());
        if self.stats.ip_fragments > 0 {
            self.warnings.push(format!(
                "{} IP fragments were not reassembled",
                self.stats.ip_fragments
            ));
        }
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}
