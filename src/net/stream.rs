//! What rides on a reassembled TCP direction, decided from its first bytes:
//! TLS (counted, not readable), HTTP (dropped, unless it upgrades to a
//! WebSocket), SSH (dropped), WebSocket frames (unwrapped into one payload
//! per message, transport `Ws`), or anything else, handed to the consumer
//! as plain stream bytes.

use super::hep::{self, Hep};
use super::websocket::{self, Step, WsDirection};
use super::{EncryptedFlow, Payload, PayloadKind, PayloadSink, Take, Warnings};
use crate::capture::Transport;
use memchr::memmem;
use rustc_hash::{FxHashMap, FxHashSet};
use std::net::SocketAddr;

/// TLS flows listed by address (the rest are counted).
pub const MAX_LISTED_FLOWS: usize = 100;
/// Distinct TLS flows remembered to count each connection once.
const MAX_KNOWN_FLOWS: usize = 10_000;
/// Longest HTTP header block looked at for an Upgrade.
const MAX_HTTP_HEAD: usize = 8 * 1024;
/// Bytes needed before a direction is classified (unless it ends first).
const CLASSIFY_BYTES: usize = 16;
/// Ports where SIP over TLS is expected even when the handshake was missed.
const SIP_TLS_PORT: u16 = 5061;

#[derive(Clone, Debug, Default)]
pub struct StreamStats {
    pub websocket_messages: u64,
    pub tls_flows: u64,
    pub non_sip_streams: u64,
    /// HEP packets read from TCP streams (agents that send HEP over TCP).
    pub hep_packets: u64,
    pub hep_skipped: u64,
    pub encrypted_flows: Vec<EncryptedFlow>,
}

enum Proto {
    /// Not enough bytes seen yet.
    Unknown,
    /// Handed to the consumer as they are.
    Plain,
    WebSocket(Box<WsDirection>),
    /// HEP3 packets back to back (HEP over TCP to a collector).
    Hep,
}

/// The per-direction protocol decisions of all live TCP directions.
pub struct StreamLayer {
    dirs: FxHashMap<u64, Proto>,
    known_flows: FxHashSet<(SocketAddr, SocketAddr)>,
    stats: StreamStats,
    ws_dropped: websocket::WsDropped,
    warnings: Warnings,
}

impl Default for StreamLayer {
    fn default() -> Self {
        Self::new()
    }
}

/// What the first bytes of a direction are.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Tls,
    /// An HTTP head of `len` bytes that switches to WebSocket.
    WebSocketUpgrade(usize),
    /// WebSocket frames without the upgrade (capture started later).
    WebSocketFrames,
    /// HEP3 packets.
    Hep,
    /// HTTP, SSH: not SIP.
    NotSip,
    Plain,
}

fn is_tls_record(b: &[u8], port_hint: bool) -> bool {
    // ContentType (change_cipher_spec .. heartbeat), version 3.x. A
    // handshake record is enough on any port; other record types only on
    // the SIP TLS port (a capture that starts mid-connection).
    match b {
        [0x16, 0x03, 0..=4, ..] => true,
        [0x14..=0x18, 0x03, 0..=4, ..] => port_hint,
        _ => false,
    }
}

fn head_has(head: &[u8], name: &[u8], value: &[u8]) -> bool {
    head.split(|&c| c == b'\n').any(|line| {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            return false;
        };
        line[..colon].trim_ascii().eq_ignore_ascii_case(name)
            && line[colon + 1..]
                .to_ascii_lowercase()
                .windows(value.len())
                .any(|w| w == value)
    })
}

/// Classifies a direction from its first bytes; `None` = need more.
fn classify(b: &[u8], end: bool, port_hint: bool) -> Option<Kind> {
    if b.len() < CLASSIFY_BYTES && !end && !b.contains(&b'\n') {
        return None;
    }
    if is_tls_record(b, port_hint) {
        return Some(Kind::Tls);
    }
    if b.starts_with(b"HEP3") {
        return Some(Kind::Hep);
    }
    if b.starts_with(b"SSH-") {
        return Some(Kind::NotSip);
    }
    let line_end = memchr::memchr(b'\n', &b[..b.len().min(MAX_HTTP_HEAD)]);
    if line_end.is_none() && !end && b.len() < MAX_HTTP_HEAD {
        // A request line that is still arriving: wait for its end to tell
        // HTTP from SIP (OPTIONS is both).
        const METHODS: [&[u8]; 8] = [
            b"GET ",
            b"POST ",
            b"HEAD ",
            b"PUT ",
            b"DELETE ",
            b"CONNECT ",
            b"PATCH ",
            b"OPTIONS ",
        ];
        if METHODS.iter().any(|m| b.starts_with(m)) {
            return None;
        }
    }
    let first = line_end.map(|i| b[..i].trim_ascii_end());
    let http_request =
        first.is_some_and(|l| l.ends_with(b" HTTP/1.1") || l.ends_with(b" HTTP/1.0"));
    let http_response = b.starts_with(b"HTTP/1.");
    if http_request || http_response {
        let Some(head_end) = memmem::find(&b[..b.len().min(MAX_HTTP_HEAD)], b"\r\n\r\n") else {
            return if end || b.len() >= MAX_HTTP_HEAD {
                Some(Kind::NotSip)
            } else {
                None
            };
        };
        let head = &b[..head_end];
        let switching = http_request || head.get(9..12) == Some(b"101");
        return Some(if switching && head_has(head, b"upgrade", b"websocket") {
            Kind::WebSocketUpgrade(head_end + 4)
        } else {
            Kind::NotSip
        });
    }
    if let Some(h) = websocket::header(b) {
        let data_frame = matches!(h.opcode, websocket::OP_TEXT | websocket::OP_BINARY);
        if data_frame && h.fin && !h.compressed && (b[0] & 0x30) == 0 {
            // The first payload byte of a SIP message is a letter.
            let first = b.get(h.header_len).map(|&c| c ^ h.mask.map_or(0, |m| m[0]));
            if first.is_some_and(|c| c.is_ascii_uppercase()) {
                return Some(Kind::WebSocketFrames);
            }
        }
    }
    Some(Kind::Plain)
}

impl StreamLayer {
    pub fn new() -> StreamLayer {
        StreamLayer {
            dirs: FxHashMap::default(),
            known_flows: FxHashSet::default(),
            stats: StreamStats::default(),
            ws_dropped: websocket::WsDropped::default(),
            warnings: Warnings::default(),
        }
    }

    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// Takes one stream payload from the reassembler.
    pub fn payload(&mut self, p: &Payload<'_>, sink: &mut PayloadSink<'_>) -> Take {
        let PayloadKind::Stream { stream, end } = p.kind else {
            return sink(p);
        };
        let proto = self.dirs.entry(stream).or_insert(Proto::Unknown);
        if let Proto::Unknown = proto {
            let port_hint = p.src.port() == SIP_TLS_PORT || p.dst.port() == SIP_TLS_PORT;
            match classify(p.data, end, port_hint) {
                None => return Take::Framed(0),
                Some(Kind::Plain) => *proto = Proto::Plain,
                Some(Kind::WebSocketFrames) => *proto = Proto::WebSocket(Box::default()),
                Some(Kind::Hep) => *proto = Proto::Hep,
                Some(Kind::WebSocketUpgrade(len)) => {
                    *proto = Proto::WebSocket(Box::default());
                    return if end {
                        self.ended(stream, Take::Framed(len))
                    } else {
                        Take::Framed(len)
                    };
                }
                Some(Kind::Tls) => {
                    self.dirs.remove(&stream);
                    self.tls(p);
                    return Take::Ignore;
                }
                Some(Kind::NotSip) => {
                    self.dirs.remove(&stream);
                    self.stats.non_sip_streams += 1;
                    return Take::Ignore;
                }
            }
        }
        let take = match self.dirs.get_mut(&stream) {
            Some(Proto::WebSocket(ws)) => match ws.next(p.data) {
                Step::Wait => Take::Framed(0),
                Step::Used { used, message } => {
                    if let Some(m) = message {
                        self.stats.websocket_messages += 1;
                        sink(&Payload {
                            transport: Transport::Ws,
                            kind: PayloadKind::Datagram,
                            data: m,
                            ..*p
                        });
                    }
                    Take::Framed(used)
                }
            },
            Some(Proto::Hep) => self.hep(p, sink),
            _ => sink(p),
        };
        if end {
            self.ended(stream, take)
        } else {
            take
        }
    }

    /// One HEP3 packet at the front of a HEP-over-TCP stream.
    fn hep(&mut self, p: &Payload<'_>, sink: &mut PayloadSink<'_>) -> Take {
        let Some(len) = p.data.get(4..6) else {
            return Take::Framed(0);
        };
        let total = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if !p.data.starts_with(b"HEP3") || total < 6 {
            // Lost the packet boundaries (bytes missing): give up on it.
            self.stats.non_sip_streams += 1;
            return Take::Ignore;
        }
        let Some(packet) = p.data.get(..total) else {
            return Take::Framed(0);
        };
        match hep::detect(packet, hep::HEP_PORT, hep::HEP_PORT) {
            Some(Hep::Sip(m)) => {
                self.stats.hep_packets += 1;
                sink(&m.payload_at(p.ctx));
            }
            Some(Hep::Skipped) => {
                self.stats.hep_packets += 1;
                self.stats.hep_skipped += 1;
            }
            None => {}
        }
        Take::Framed(total)
    }

    fn ended(&mut self, stream: u64, take: Take) -> Take {
        // Every direction's state goes with its end.
        if let Some(Proto::WebSocket(mut ws)) = self.dirs.remove(&stream) {
            ws.end();
            let d = &ws.dropped;
            self.ws_dropped.oversized += d.oversized;
            self.ws_dropped.compressed += d.compressed;
            self.ws_dropped.orphan_continuations += d.orphan_continuations;
            self.ws_dropped.unfinished += d.unfinished;
        }
        take
    }

    /// Records a TLS flow once per connection, client first.
    fn tls(&mut self, p: &Payload<'_>) {
        // A ClientHello (handshake type 1) is sent by the client, a
        // ServerHello (2) by the server; otherwise the well-known or lower
        // port is the server's.
        let from_client = match p.data.get(5) {
            Some(1) if p.data[0] == 0x16 => true,
            Some(2) if p.data[0] == 0x16 => false,
            _ => {
                p.dst.port() == SIP_TLS_PORT
                    || (p.src.port() != SIP_TLS_PORT && p.dst.port() < p.src.port())
            }
        };
        let (client, server) = if from_client {
            (p.src, p.dst)
        } else {
            (p.dst, p.src)
        };
        let pair = if p.src < p.dst {
            (p.src, p.dst)
        } else {
            (p.dst, p.src)
        };
        if self.known_flows.contains(&pair) {
            return;
        }
        if self.known_flows.len() < MAX_KNOWN_FLOWS {
            self.known_flows.insert(pair);
        }
        self.stats.tls_flows += 1;
        if self.stats.encrypted_flows.len() < MAX_LISTED_FLOWS {
            self.stats.encrypted_flows.push(EncryptedFlow {
                input: p.ctx.input,
                client,
                server,
                first_frame: p.ctx.frame,
            });
        }
    }

    /// End of one input: its connections are over, so a flow with the
    /// same addresses in the next input is another flow.
    pub fn end_of_input(&mut self) {
        self.known_flows.clear();
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        let d = std::mem::take(&mut self.ws_dropped);
        if d.oversized > 0 {
            self.warnings.push(format!(
                "{} WebSocket messages larger than {} KiB were skipped",
                d.oversized,
                websocket::MAX_MESSAGE / 1024
            ));
        }
        if d.compressed > 0 {
            self.warnings.push(format!(
                "{} compressed (permessage-deflate) WebSocket messages were skipped",
                d.compressed
            ));
        }
        if d.unfinished + d.orphan_continuations > 0 {
            self.warnings.push(format!(
                "{} WebSocket messages were incomplete (frames missing from the capture)",
                d.unfinished + d.orphan_continuations
            ));
        }
        self.warnings.take("stream warnings")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Ts;
    use crate::net::websocket::tests::frame;
    use crate::net::PacketCtx;

    fn payload(data: &[u8], stream: u64, end: bool, sport: u16, dport: u16) -> Payload<'_> {
        Payload {
            ctx: PacketCtx {
                input: 0,
                frame: 3,
                ts: Ts(0),
            },
            src: SocketAddr::from(([10, 0, 0, 1], sport)),
            dst: SocketAddr::from(([10, 0, 0, 2], dport)),
            transport: Transport::Tcp,
            kind: PayloadKind::Stream { stream, end },
            data,
        }
    }

    #[test]
    fn classification() {
        let ch = [
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(classify(&ch, false, false), Some(Kind::Tls));
        let app = [
            0x17, 0x03, 0x03, 0x00, 0x20, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
        ];
        assert_eq!(classify(&app, false, true), Some(Kind::Tls));
        assert_eq!(classify(&app, false, false), Some(Kind::Plain));
        assert_eq!(
            classify(b"SSH-2.0-OpenSSH_9.2\r\n", false, false),
            Some(Kind::NotSip)
        );
        assert_eq!(
            classify(b"GET / HTTP/1.1\r\nHost: x\r\n", false, false),
            None
        );
        assert_eq!(
            classify(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", false, false),
            Some(Kind::NotSip)
        );
        let up = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: sip\r\n\r\nrest";
        assert_eq!(
            classify(up, false, false),
            Some(Kind::WebSocketUpgrade(up.len() - 4))
        );
        let ok = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\n\r\n";
        assert_eq!(
            classify(ok, false, false),
            Some(Kind::WebSocketUpgrade(ok.len()))
        );
        assert_eq!(
            classify(
                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                false,
                false
            ),
            Some(Kind::NotSip)
        );
        // SIP OPTIONS is not HTTP, even with the same method name.
        assert_eq!(
            classify(b"OPTIONS sip:a@b SIP/2.0\r\n", false, false),
            Some(Kind::Plain)
        );
        assert_eq!(classify(b"\r\n\r\n", false, false), Some(Kind::Plain));
        assert_eq!(classify(b"INV", false, false), None);
        assert_eq!(classify(b"INV", true, false), Some(Kind::Plain));
        let f = frame(true, 1, Some([7, 7, 7, 7]), b"INVITE sip:x SIP/2.0\r\n\r\n");
        assert_eq!(classify(&f, false, false), Some(Kind::WebSocketFrames));
    }

    #[test]
    fn websocket_after_upgrade_gives_one_payload_per_message() {
        let mut layer = StreamLayer::new();
        let mut got: Vec<(Transport, PayloadKind, Vec<u8>)> = Vec::new();
        let mut sink = |p: &Payload<'_>| {
            got.push((p.transport, p.kind, p.data.to_vec()));
            Take::Framed(p.data.len())
        };
        let mut data =
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: sip\r\n\r\n"
                .to_vec();
        data.extend(frame(
            true,
            1,
            Some([1, 2, 3, 4]),
            b"REGISTER sip:x SIP/2.0\r\n\r\n",
        ));
        let mut rest = &data[..];
        while !rest.is_empty() {
            match layer.payload(&payload(rest, 1, false, 40000, 8080), &mut sink) {
                Take::Framed(n) if n > 0 => rest = &rest[n..],
                other => panic!("{other:?}"),
            }
        }
        layer.payload(&payload(&[], 1, true, 40000, 8080), &mut sink);
        assert_eq!(
            got,
            vec![(
                Transport::Ws,
                PayloadKind::Datagram,
                b"REGISTER sip:x SIP/2.0\r\n\r\n".to_vec()
            )]
        );
        assert_eq!(layer.stats().websocket_messages, 1);
        assert!(layer.dirs.is_empty());
    }

    #[test]
    fn hep_over_tcp_is_framed_by_its_length() {
        let mut layer = StreamLayer::new();
        let mut got = Vec::new();
        let mut sink = |p: &Payload<'_>| {
            got.push((p.src, p.transport, p.data.to_vec()));
            Take::Framed(0)
        };
        let one = crate::net::hep::tests::hep3(17, 1, b"OPTIONS sip:a SIP/2.0\r\n\r\n");
        let mut data = one.clone();
        data.extend_from_slice(&one);
        // Fed as the reassembler would: growing buffer, consumed prefix.
        let mut used = 0;
        for have in [3, 20, one.len() + 5, data.len()] {
            loop {
                let p = payload(&data[used..have], 1, false, 40000, 9060);
                match layer.payload(&p, &mut sink) {
                    Take::Framed(0) => break,
                    Take::Framed(n) => used += n,
                    other => panic!("{other:?}"),
                }
                if used == have {
                    break;
                }
            }
        }
        assert_eq!(used, data.len());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].0, SocketAddr::from(([192, 0, 2, 10], 5062)));
        assert_eq!(got[0].1, Transport::Udp);
        assert_eq!(layer.stats().hep_packets, 2);
    }

    #[test]
    fn tls_flows_are_counted_once_with_client_and_server() {
        let mut layer = StreamLayer::new();
        let mut sink = |_: &Payload<'_>| Take::Framed(0);
        let ch = [
            0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let sh = [
            0x16, 0x03, 0x03, 0x00, 0x50, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(
            layer.payload(&payload(&ch, 1, false, 40000, 5061), &mut sink),
            Take::Ignore
        );
        // The server's answer comes from the other side of the same flow.
        let mut back = payload(&sh, 2, false, 5061, 40000);
        std::mem::swap(&mut back.src, &mut back.dst);
        back.src = SocketAddr::from(([10, 0, 0, 2], 5061));
        back.dst = SocketAddr::from(([10, 0, 0, 1], 40000));
        assert_eq!(layer.payload(&back, &mut sink), Take::Ignore);
        let s = layer.stats();
        assert_eq!(s.tls_flows, 1);
        assert_eq!(
            s.encrypted_flows[0].client,
            SocketAddr::from(([10, 0, 0, 1], 40000))
        );
        assert_eq!(
            s.encrypted_flows[0].server,
            SocketAddr::from(([10, 0, 0, 2], 5061))
        );
        assert_eq!(s.encrypted_flows[0].first_frame, 3);
    }

    #[test]
    fn http_and_ssh_are_ignored_plain_passes_through() {
        let mut layer = StreamLayer::new();
        let mut seen = 0;
        let mut sink = |_: &Payload<'_>| {
            seen += 1;
            Take::Skipped(0)
        };
        let http = b"GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n";
        assert_eq!(
            layer.payload(&payload(http, 1, false, 40000, 80), &mut sink),
            Take::Ignore
        );
        assert_eq!(
            layer.payload(&payload(b"SSH-2.0-x\r\n", 2, false, 40000, 22), &mut sink),
            Take::Ignore
        );
        assert_eq!(
            layer.payload(
                &payload(b"REGISTER sip:a SIP/2.0\r\n", 3, false, 40000, 5060),
                &mut sink
            ),
            Take::Skipped(0)
        );
        assert_eq!(seen, 1);
        assert_eq!(layer.stats().non_sip_streams, 2);
    }
}
