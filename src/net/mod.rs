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
use etherparse::{IpFragOffset, IpNumber, Ipv6ExtensionSlice, LaxIpv4Slice, LaxIpv6Slice, TcpSlice, UdpSlice};
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

    fn link(&mut self, ctx: PacketCtx, l3: Option<link::L3<'_>>, depth: u8, sink: &mut PayloadSink<'_>) {
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
        // etherparse 0.18 reads the IPv6 fragment header's offset and M
        // flag with the IPv4 bit layout (RFC 8200 has 13 offset bits, 2
        // reserved, then M), so its `fragmented` flag cannot be trusted:
        // read the header's bytes here.
        let frag_header = ip.extensions().clone().into_iter().find_map(|e| match e {
            Ipv6ExtensionSlice::Fragment(f) => Some(f.slice()),
            _ => None,
        });
        let fragmenting = frag_header.and_then(|fh| {
            let bits = u16::from_be_bytes([*fh.get(2)?, *fh.get(3)?]);
            let (offset, more) = (bits >> 3, bits & 1 == 1);
            (offset != 0 || more).then_some((fh, offset, more))
        });
        if let Some((fh, offset, more)) = fragmenting {
            self.stats.ip_fragments += 1;
            // The fragmentable part starts right after the fragment header;
            // etherparse may have read on into it as if it were headers.
            let start = (fh.as_ptr() as usize)
                .saturating_sub(data.as_ptr() as usize)
                .saturating_add(fh.len());
            let end = (40 + usize::from(h.payload_length())).min(data.len());
            let (Some(frag_data), Some(&next), Ok(offset), Some(id)) = (
                data.get(start..end),
                fh.first(),
                IpFragOffset::try_new(offset),
                fh.get(4..8).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes),
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
            self.l4(ctx, key.src, key.dst, IpNumber(key.proto), &datagram, depth, sink);
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
        self.stats.hep_packets += 1;
        match h {
            hep::Hep::Sip(m) => {
                let payload = Payload {
                    ctx: PacketCtx {
                        ts: m.ts.unwrap_or(ctx.ts),
                        ..ctx
                    },
                    src: m.src,
                    dst: m.dst,
                    transport: m.transport,
                    kind: PayloadKind::Datagram,
                    data: m.payload,
                };
                sink(&payload);
            }
            hep::Hep::Skipped => self.stats.hep_skipped += 1,
        }
    }

    /// End of all input: flush what streams and fragment buffers still hold.
    pub fn finish(&mut self, sink: &mut PayloadSink<'_>) {
        let streams = &mut self.streams;
        self.tcp
            .finish(&mut |p: &Payload<'_>| streams.payload(p, sink));
        self.defrag.finish();
        self.sync_stats();
        self.warnings.extend(self.tcp.take_warnings());
        self.warnings.extend(self.streams.take_warnings());
        self.warnings.extend(self.defrag.take_warnings());
        if self.stats.hep_skipped > 0 {
            self.warnings.push(format!(
                "{} HEP packets carried something other than plain SIP (RTCP, logs, compressed payloads) and were skipped",
                self.stats.hep_skipped
            ));
        }
    }

    fn sync_stats(&mut self) {
        self.stats.tcp = self.tcp.stats.clone();
        self.stats.ip_incomplete = self.defrag.incomplete();
        let s = self.streams.stats();
        self.stats.websocket_messages = s.websocket_messages;
        self.stats.tls_flows = s.tls_flows;
        self.stats.non_sip_streams = s.non_sip_streams + self.tcp.stats.not_sip_directions;
        self.stats.encrypted_flows = s.encrypted_flows.clone();
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}
