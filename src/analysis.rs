//! The pipeline: inputs -> packets -> payloads -> SIP messages ->
//! exchanges -> findings. Data flows one way; each stage only sees the
//! borrowed output of the one before.

use crate::capture::{linktype, CaptureReader, Format, Record};
use crate::correlate::{AuthExchange, CorrelateConfig, CorrelateStats, Correlator, MessageMeta};
use crate::net::{NetDecoder, NetStats, Payload, PayloadKind};
use crate::rules::{self, Finding, RuleConfig};
use crate::sip::message::looks_like_sip;
use crate::sip::{Framing, HeaderKind, Message, ParseError, Status};
use memchr::memchr;
use serde::Serialize;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub correlate: CorrelateConfig,
    pub rules: RuleConfig,
    /// Keep a [`MessageRecord`] per SIP message in [`Analysis::messages`]
    /// (differential tests against other dissectors); off by default, so
    /// the hot path only tests one `Option`.
    pub record_messages: bool,
}

/// One SIP message as read, for comparing our framing with other tools.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MessageRecord {
    pub input: u16,
    pub frame: u64,
    pub method: Option<String>,
    pub status: Option<u16>,
    pub call_id: Option<String>,
    /// The CSeq header value as written, trimmed.
    pub cseq: Option<String>,
}

impl MessageRecord {
    fn of(meta: &MessageMeta, msg: &Message<'_>) -> MessageRecord {
        let text = |b: &[u8]| String::from_utf8_lossy(crate::sip::message::trim(b)).into_owned();
        MessageRecord {
            input: meta.input,
            frame: meta.frame,
            method: msg.method().map(text),
            status: msg.status(),
            call_id: msg.call_id().map(text),
            cseq: msg.header(HeaderKind::CSeq).map(text),
        }
    }
}

/// What one input contributed, for the report header.
#[derive(Clone, Debug, Serialize)]
pub struct InputSummary {
    pub name: String,
    pub format: Format,
    pub link_types: Vec<String>,
    pub packets: u64,
    pub sip_messages: u64,
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SipStats {
    pub messages: u64,
    pub broken: u64,
    pub skipped_stream_bytes: u64,
    /// Messages whose Content-Length promised more than followed.
    pub cut_bodies: u64,
}

pub struct Analysis {
    pub inputs: Vec<InputSummary>,
    pub exchanges: Vec<AuthExchange>,
    pub findings: Vec<Finding>,
    pub sip: SipStats,
    pub net: NetStats,
    pub correlate: CorrelateStats,
    /// Every SIP message read, when [`Options::record_messages`] asked.
    pub messages: Vec<MessageRecord>,
}

/// A named input, already opened.
pub struct Input {
    pub name: String,
    pub reader: Box<dyn CaptureReader>,
}

/// Most broken-SIP warnings listed per input; the rest are counted.
const MAX_LISTED_WARNINGS: usize = 20;

struct SipStage<'a> {
    correlator: &'a mut Correlator,
    stats: &'a mut SipStats,
    input_messages: u64,
    input_broken: u64,
    warnings: Vec<String>,
    index: Option<&'a mut Vec<MessageRecord>>,
}

impl SipStage<'_> {
    fn emit(&mut self, meta: &MessageMeta, msg: &Message<'_>) {
        self.stats.messages += 1;
        self.input_messages += 1;
        if msg.notes.body_truncated {
            self.body_cut(meta, msg);
        }
        if let Some(index) = self.index.as_mut() {
            index.push(MessageRecord::of(meta, msg));
        }
        self.correlator.message(meta, msg);
    }

    /// Content-Length promised more than the datagram or stream held: the
    /// message was framed to what exists.
    fn body_cut(&mut self, meta: &MessageMeta, msg: &Message<'_>) {
        self.stats.cut_bodies += 1;
        self.input_broken += 1;
        if self.warnings.len() < MAX_LISTED_WARNINGS {
            let announced = msg
                .header(HeaderKind::ContentLength)
                .map(|v| String::from_utf8_lossy(crate::sip::message::trim(v)).into_owned())
                .unwrap_or_default();
            self.warnings.push(format!(
                "frame {}: Content-Length {} but only {} bytes follow; the message was read up to there",
                meta.frame,
                crate::report::sanitize::term(&announced),
                msg.body.len()
            ));
        }
    }

    fn broken(&mut self, frame: u64, err: ParseError) {
        self.stats.broken += 1;
        self.input_broken += 1;
        if self.warnings.len() < MAX_LISTED_WARNINGS {
            self.warnings
                .push(format!("frame {frame}: broken SIP message skipped ({err})"));
        }
    }

    fn incomplete_at_end(&mut self, meta: &MessageMeta, len: usize) {
        self.stats.broken += 1;
        self.input_broken += 1;
        if self.warnings.len() < MAX_LISTED_WARNINGS {
            let (src, dst) = (
                crate::correlate::endpoint(meta.src),
                crate::correlate::endpoint(meta.dst),
            );
            self.warnings.push(format!(
                "{} stream {src} -> {dst} ends inside a SIP message ({len} bytes after frame {}); it was not analysed",
                meta.transport, meta.frame
            ));
        }
    }

    fn meta(p: &Payload<'_>) -> MessageMeta {
        MessageMeta {
            input: p.ctx.input,
            frame: p.ctx.frame,
            ts: p.ctx.ts,
            src: Some(p.src),
            dst: Some(p.dst),
            transport: p.transport,
        }
    }

    /// SIP in one datagram (normally one message; keep-alives skipped).
    fn datagram(&mut self, meta: &MessageMeta, data: &[u8]) {
        let mut rest = skip_blank(data);
        let mut first = true;
        while !rest.is_empty() {
            if !looks_like_sip(rest) {
                // Not SIP at all (RTP, DNS, ...) is skipped quietly; SIP
                // whose start line is damaged is reported.
                if !first || looks_damaged_sip(rest) {
                    self.broken(meta.frame, ParseError::BadStartLine);
                }
                return;
            }
            match Message::parse(rest, Framing::Datagram) {
                Ok(Status::Complete(m)) => {
                    self.emit(meta, &m);
                    let used = m.raw.len().max(1);
                    rest = skip_blank(&rest[used.min(rest.len())..]);
                }
                Ok(Status::Partial) => return,
                Err(e) => {
                    self.broken(meta.frame, e);
                    return;
                }
            }
            first = false;
        }
    }

    /// SIP at the front of a stream's pending bytes; returns bytes used.
    fn stream(&mut self, meta: &MessageMeta, data: &[u8]) -> usize {
        let blank = data.len() - skip_blank(data).len();
        let rest = &data[blank..];
        if rest.is_empty() {
            return blank;
        }
        match Message::parse(rest, Framing::Stream) {
            Ok(Status::Complete(m)) => {
                self.emit(meta, &m);
                blank + m.raw.len()
            }
            Ok(Status::Partial) => blank,
            Err(ParseError::NotSip) => {
                let skip = resync(rest);
                self.stats.skipped_stream_bytes += skip as u64;
                blank + skip
            }
            Err(e) => {
                self.broken(meta.frame, e);
                // Drop the damaged start line and look for the next one.
                let line = memchr(b'\n', rest).map(|i| i + 1).unwrap_or(rest.len());
                blank + line.max(1)
            }
        }
    }

    fn payload(&mut self, p: &Payload<'_>) -> usize {
        let meta = Self::meta(p);
        match p.kind {
            PayloadKind::Datagram => {
                self.datagram(&meta, p.data);
                0
            }
            PayloadKind::Stream { end: false, .. } => self.stream(&meta, p.data),
            PayloadKind::Stream { end: true, .. } => {
                let rest = skip_blank(p.data);
                if looks_like_sip(rest) {
                    // A complete header section whose body was cut by the
                    // end of the stream is still read, up to there.
                    match Message::parse(rest, Framing::Datagram) {
                        Ok(Status::Complete(m)) if m.notes.body_truncated => self.emit(&meta, &m),
                        _ => self.incomplete_at_end(&meta, rest.len()),
                    }
                }
                p.data.len()
            }
        }
    }
}

fn skip_blank(mut b: &[u8]) -> &[u8] {
    while let [c, rest @ ..] = b {
        if matches!(c, b'\r' | b'\n' | b' ' | b'\t' | 0) {
            b = rest;
        } else {
            break;
        }
    }
    b
}

/// A payload whose first line ends in "SIP/2.0" or starts with "SIP/":
/// meant to be SIP, but its start line did not parse.
fn looks_damaged_sip(b: &[u8]) -> bool {
    let end = memchr(b'\n', b).unwrap_or(b.len()).min(512);
    let line = &b[..end];
    line.len() >= 4 && line[..4].eq_ignore_ascii_case(b"SIP/")
        || line.windows(7).any(|w| w.eq_ignore_ascii_case(b"SIP/2.0"))
}

/// Bytes to skip to reach the next line that starts a SIP message.
fn resync(b: &[u8]) -> usize {
    let mut pos = 0;
    while let Some(i) = memchr(b'\n', &b[pos..]) {
        let next = pos + i + 1;
        if next >= b.len() {
            return next;
        }
        if looks_like_sip(&b[next..]) {
            return next;
        }
        pos = next;
    }
    // No line end yet: keep a tail that may become a start line.
    if b.len() > 2048 {
        b.len()
    } else {
        0
    }
}

/// Runs the whole analysis over already opened inputs.
pub fn analyze(inputs: Vec<Input>, opts: &Options) -> Analysis {
    let mut correlator = Correlator::new(opts.correlate);
    let mut net = NetDecoder::new();
    let mut sip = SipStats::default();
    let mut summaries = Vec::new();
    let mut messages = Vec::new();
    for (idx, mut input) in inputs.into_iter().enumerate() {
        let idx = u16::try_from(idx).unwrap_or(u16::MAX);
        let mut stage = SipStage {
            correlator: &mut correlator,
            stats: &mut sip,
            input_messages: 0,
            input_broken: 0,
            warnings: Vec::new(),
            index: opts.record_messages.then_some(&mut messages),
        };
        let mut packets = 0u64;
        let mut saw_time = true;
        let mut saw_addr = true;
        while let Some(rec) = input.reader.next() {
            match rec {
                Record::Packet(pkt) => {
                    packets += 1;
                    net.packet(idx, &pkt, &mut |p: &Payload<'_>| stage.payload(p));
                }
                Record::Message(m) => {
                    packets += 1;
                    saw_time &= m.ts.is_some();
                    saw_addr &= m.src.is_some();
                    let meta = MessageMeta {
                        input: idx,
                        frame: m.frame,
                        ts: m.ts.unwrap_or_default(),
                        src: m.src,
                        dst: m.dst,
                        transport: m.transport,
                    };
                    stage.datagram(&meta, m.data);
                }
            }
        }
        // Streams of this input end with it.
        net.finish(&mut |p: &Payload<'_>| stage.payload(p));
        let mut warnings: Vec<String> = input
            .reader
            .warnings()
            .iter()
            .map(|w| w.what.clone())
            .collect();
        warnings.extend(net.take_warnings());
        warnings.extend(stage.correlator.take_warnings());
        if stage.input_broken as usize > stage.warnings.len() {
            let more = stage.input_broken as usize - stage.warnings.len();
            stage
                .warnings
                .push(format!("... and {more} more broken SIP messages"));
        }
        warnings.append(&mut stage.warnings);
        if packets == 0 {
            warnings.push("no packets".into());
        }
        if !saw_time {
            warnings
                .push("the input has no timestamps; timing-based rules are less certain".into());
        }
        if !saw_addr {
            warnings.push(
                "the input has no addresses; exchanges are linked by SIP headers only".into(),
            );
        }
        let mut link_types: Vec<String> = input
            .reader
            .linktypes()
            .into_iter()
            .map(linktype::name)
            .collect();
        link_types.dedup();
        summaries.push(InputSummary {
            name: input.name,
            format: input.reader.format(),
            link_types,
            packets,
            sip_messages: stage.input_messages,
            warnings,
        });
    }
    let (exchanges, correlate) = correlator.finish();
    let findings = rules::evaluate(&exchanges, &opts.rules);
    Analysis {
        inputs: summaries,
        exchanges,
        findings,
        sip,
        net: net.stats.clone(),
        correlate,
        messages,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resync_finds_next_start_line() {
        let b = b"tail of a lost message\r\nmore\r\nREGISTER sip:a SIP/2.0\r\n";
        let n = resync(b);
        assert!(b[n..].starts_with(b"REGISTER"));
        assert_eq!(resync(b"no newline yet"), 0);
    }

    #[test]
    fn damaged_sip_is_recognised() {
        assert!(looks_damaged_sip(b"SIP/2.0 4x1 Unauthorized\r\n"));
        assert!(looks_damaged_sip(b"REGISTER  SIP/2.0\r\n"));
        assert!(!looks_damaged_sip(b"\x80\x00RTP"));
    }
}
