//! The pipeline: inputs -> packets -> payloads -> SIP messages ->
//! exchanges -> findings. Data flows one way; each stage only sees the
//! borrowed output of the one before.

use crate::capture::{linktype, CaptureReader, Format, Peek, Record};
use crate::correlate::{AuthExchange, CorrelateConfig, CorrelateStats, Correlator, MessageMeta};
use crate::net::{NetDecoder, NetStats, Payload, PayloadKind, Take};
use crate::rules::{self, Finding, RuleConfig};
use crate::sip::message::{looks_like_sip, START_LINE_WINDOW};
use crate::sip::{Framing, HeaderKind, Message, ParseError, Status};
use memchr::memchr;
use serde::Serialize;
use std::cmp::Reverse;

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub correlate: CorrelateConfig,
    pub rules: RuleConfig,
    /// Keep a [`MessageRecord`] per SIP message in [`Analysis::messages`]
    /// (differential tests against other dissectors); off by default, so
    /// the hot path only tests one `Option`.
    pub record_messages: bool,
    /// Hand exchanges over without running the rules (no findings): the
    /// first read of a redacted run needs only the exchanges' values.
    pub without_rules: bool,
    /// Run only the rules about the whole capture (brute force, nonce-count
    /// reuse, scanners, the network): exchanges come without findings. The
    /// first read of `--details`/`--ladder` needs no more.
    pub only_capture_rules: bool,
    /// The findings about the whole capture, known from a first read of
    /// the same inputs with the same options: a second read returns them
    /// instead of working them out again.
    pub capture_findings: Option<std::sync::Arc<Vec<Finding>>>,
    /// The exchanges whose per-exchange rules are wanted; the others come
    /// without findings. A second read that shows only what a first read
    /// selected needs no more (`None`: every exchange).
    pub exchange_rules_for: Option<ExchangeIds>,
    /// Everything on the caller's thread. By default reading, decoding,
    /// parsing and correlating run on a second thread, and the rules and
    /// the consumer on the caller's: the same result, in about two thirds
    /// of the time on two cores, for a tenth more CPU time.
    pub single_thread: bool,
}

/// Exchange ids, as a test shared with the options of a run.
#[derive(Clone)]
pub struct ExchangeIds(pub std::sync::Arc<dyn Fn(usize) -> bool + Send + Sync>);

impl ExchangeIds {
    pub fn contains(&self, id: usize) -> bool {
        (self.0)(id)
    }
}

impl std::fmt::Debug for ExchangeIds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExchangeIds(..)")
    }
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

/// An empty one (`Default`) is a capture without SIP.
#[derive(Default)]
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

/// What one input's SIP stage counted.
#[derive(Default)]
struct InputCounts {
    messages: u64,
    broken: u64,
    warnings: Vec<String>,
}

struct SipStage<'a> {
    correlator: &'a mut Correlator,
    stats: &'a mut SipStats,
    counts: &'a mut InputCounts,
    index: Option<&'a mut Vec<MessageRecord>>,
}

impl SipStage<'_> {
    fn emit(&mut self, meta: &MessageMeta, msg: &Message<'_>) {
        self.stats.messages += 1;
        self.counts.messages += 1;
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
        self.counts.broken += 1;
        if self.counts.warnings.len() < MAX_LISTED_WARNINGS {
            let announced = msg
                .header(HeaderKind::ContentLength)
                .map(|v| String::from_utf8_lossy(crate::sip::message::trim(v)).into_owned())
                .unwrap_or_default();
            self.counts.warnings.push(format!(
                "frame {}: Content-Length {} but only {} bytes follow; the message was read up to there",
                meta.frame,
                crate::report::sanitize::term(&announced),
                msg.body.len()
            ));
        }
    }

    fn broken(&mut self, frame: u64, err: ParseError) {
        self.stats.broken += 1;
        self.counts.broken += 1;
        if self.counts.warnings.len() < MAX_LISTED_WARNINGS {
            self.counts
                .warnings
                .push(format!("frame {frame}: broken SIP message skipped ({err})"));
        }
    }

    fn trailing(&mut self, frame: u64, len: usize) {
        if self.counts.warnings.len() < MAX_LISTED_WARNINGS {
            self.counts.warnings.push(format!(
                "frame {frame}: {len} bytes after the end of the SIP message (beyond its Content-Length) ignored"
            ));
        }
    }

    fn incomplete_at_end(&mut self, meta: &MessageMeta, len: usize) {
        self.stats.broken += 1;
        self.counts.broken += 1;
        if self.counts.warnings.len() < MAX_LISTED_WARNINGS {
            let (src, dst) = (
                crate::correlate::endpoint(meta.src),
                crate::correlate::endpoint(meta.dst),
            );
            self.counts.warnings.push(format!(
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
            // When the first line ends within what `looks_like_sip` reads,
            // `parse_into` reads the same line and fails with a start-line
            // error (NotSip or BadStartLine, which nothing later in a
            // datagram's parse returns) exactly when `looks_like_sip` says
            // no: the start line is parsed once instead of twice.
            let one_parse = rest.len() <= START_LINE_WINDOW
                || memchr(b'\n', &rest[..START_LINE_WINDOW]).is_some();
            if !one_parse && !looks_like_sip(rest) {
                self.not_sip(meta, rest, first);
                return;
            }
            // Parsed in place: a `Message` is a few KiB (its header
            // slots), and returning one by value costs a copy.
            let mut m = Message::blank();
            match m.parse_into(rest, Framing::Datagram) {
                Ok(Status::Complete(())) => {
                    self.emit(meta, &m);
                    let used = m.raw.len().max(1);
                    rest = skip_blank(&rest[used.min(rest.len())..]);
                }
                Ok(Status::Partial) => return,
                Err(ParseError::BadStartLine | ParseError::NotSip) if one_parse => {
                    self.not_sip(meta, rest, first);
                    return;
                }
                Err(e) => {
                    self.broken(meta.frame, e);
                    return;
                }
            }
            first = false;
        }
    }

    /// A datagram's bytes that do not start with a SIP start line. Not SIP
    /// at all (RTP, DNS, ...) is skipped quietly; SIP whose start line is
    /// damaged is reported; bytes after a complete message (some stacks
    /// pad datagrams) are noted.
    fn not_sip(&mut self, meta: &MessageMeta, rest: &[u8], first: bool) {
        if looks_damaged_sip(rest) {
            self.broken(meta.frame, ParseError::BadStartLine);
        } else if !first {
            self.trailing(meta.frame, rest.len());
        }
    }

    /// SIP at the front of a stream's pending bytes; says how many bytes
    /// were SIP (or keep-alives) and how many were skipped as not SIP.
    fn stream(&mut self, meta: &MessageMeta, data: &[u8]) -> Take {
        let blank = data.len() - skip_blank(data).len();
        let rest = &data[blank..];
        if rest.is_empty() {
            return Take::Framed(blank);
        }
        let mut m = Message::blank();
        match m.parse_into(rest, Framing::Stream) {
            Ok(Status::Complete(())) => {
                self.emit(meta, &m);
                Take::Framed(blank + m.raw.len())
            }
            Ok(Status::Partial) => Take::Framed(blank),
            Err(ParseError::NotSip) => {
                let skip = resync(rest);
                self.stats.skipped_stream_bytes += skip as u64;
                Take::Skipped(blank + skip)
            }
            Err(e) => {
                self.broken(meta.frame, e);
                // Drop the damaged start line and look for the next one.
                let line = memchr(b'\n', rest).map(|i| i + 1).unwrap_or(rest.len());
                Take::Framed(blank + line.max(1))
            }
        }
    }

    fn payload(&mut self, p: &Payload<'_>) -> Take {
        let meta = Self::meta(p);
        match p.kind {
            PayloadKind::Datagram => {
                self.datagram(&meta, p.data);
                Take::Framed(p.data.len())
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
                Take::Framed(p.data.len())
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

/// One input while the analysis runs: its reader, its own network
/// decoder (TCP streams of different inputs never mix) and its counters.
struct InputRun {
    name: String,
    reader: Box<dyn CaptureReader>,
    net: NetDecoder,
    counts: InputCounts,
    packets: u64,
    saw_time: bool,
    saw_addr: bool,
    done: bool,
}

impl InputRun {
    fn new(i: Input) -> InputRun {
        InputRun {
            name: i.name,
            reader: i.reader,
            net: NetDecoder::new(),
            counts: InputCounts::default(),
            packets: 0,
            saw_time: true,
            saw_addr: true,
            done: false,
        }
    }
}

/// Which input holds the next record overall: the earliest timestamp;
/// records without a time come first (they cannot be placed, so their
/// inputs are read in file order before the timed ones); ties go to the
/// input named first. `None` when every input has ended.
fn next_input(runs: &mut [InputRun]) -> Option<usize> {
    let mut best: Option<(Reverse<bool>, crate::capture::Ts, usize)> = None;
    for (i, run) in runs.iter_mut().enumerate() {
        if run.done {
            continue;
        }
        let key = match run.reader.peek() {
            Peek::End => {
                run.done = true;
                continue;
            }
            Peek::Untimed => (Reverse(true), crate::capture::Ts(i64::MIN), i),
            Peek::At(ts) => (Reverse(false), ts, i),
        };
        if best.is_none_or(|b| key < b) {
            best = Some(key);
        }
    }
    best.map(|(_, _, i)| i)
}

/// Runs the whole analysis over already opened inputs and keeps every
/// exchange and finding. Several inputs are merged by time into one
/// analysis (a k-way merge on [`CaptureReader::peek`]); frame numbers and
/// summaries stay per input.
pub fn analyze(inputs: Vec<Input>, opts: &Options) -> Analysis {
    let mut exchanges = Vec::new();
    let mut findings = Vec::new();
    let mut a = run(inputs, opts, &mut |ex, mut f| {
        exchanges.push(ex);
        findings.append(&mut f);
    });
    // Findings about single exchanges first, in exchange order, then those
    // about the capture as a whole.
    findings.append(&mut a.findings);
    a.exchanges = exchanges;
    a.findings = findings;
    a
}

/// Gets each exchange, with the findings of the per-exchange rules, as
/// soon as it finishes.
pub type ExchangeConsumer<'c> = dyn FnMut(AuthExchange, Vec<Finding>) + 'c;

/// Packets between two hand-overs of finished exchanges.
const STREAM_EVERY_PACKETS: u64 = 1024;

/// The analysis in bounded memory: exchanges flow to `consumer` as they
/// finish (closed, or idle for twice the answer timeout) with the findings
/// of the per-exchange rules, instead of being collected. Exchange ids
/// number them in that order. The returned [`Analysis`] has the inputs,
/// the counters and the findings about the capture as a whole (brute
/// force, nonce-count reuse, scanners, encrypted signalling; some of them
/// name exchanges already handed over), but no exchanges.
pub fn analyze_streaming(
    inputs: Vec<Input>,
    opts: &Options,
    consumer: &mut ExchangeConsumer<'_>,
) -> Analysis {
    run(inputs, opts, consumer)
}

/// Rules for exchanges that just finished: the per-exchange rules, pure
/// functions of one exchange, and the capture-wide rules' collectors,
/// which keep what they need of it for the end of the capture.
fn hand_over(
    finished: impl Iterator<Item = AuthExchange>,
    opts: &Options,
    capture: &mut rules::CaptureRules,
    consumer: &mut ExchangeConsumer<'_>,
) {
    for ex in finished {
        let mut findings = Vec::new();
        if !opts.without_rules {
            let wanted = (opts.exchange_rules_for.as_ref()).is_none_or(|ids| ids.contains(ex.id));
            if !opts.only_capture_rules && wanted {
                rules::evaluate_exchange(&ex, &opts.rules, &mut findings);
            }
            if opts.capture_findings.is_none() {
                capture.add(&ex);
            }
        }
        consumer(ex, findings);
    }
}

/// Reads, decodes, frames and correlates; finished exchanges go through
/// the rules to the consumer as they come. Unless
/// [`Options::single_thread`], that is two stages on two threads: reading
/// to finished exchanges on one, the rules, the capture-wide collectors
/// and the consumer on the caller's (docs/performance.md, "Two threads").
fn run(inputs: Vec<Input>, opts: &Options, consumer: &mut ExchangeConsumer<'_>) -> Analysis {
    let mut capture = rules::CaptureRules::new(&opts.rules);
    let mut hand = |finished: &mut Vec<AuthExchange>| {
        hand_over(finished.drain(..), opts, &mut capture, consumer);
    };
    let (mut a, agents) = if opts.single_thread {
        read_and_correlate(inputs, opts, &mut hand)
    } else {
        in_two_stages(inputs, opts, &mut hand)
    };
    if !opts.without_rules {
        match &opts.capture_findings {
            Some(known) => a.findings.extend(known.iter().cloned()),
            None => {
                if opts.single_thread {
                    capture.finish(&agents, &opts.rules, &mut a.findings);
                } else {
                    capture.finish_on_two_threads(&agents, &opts.rules, &mut a.findings);
                }
                a.findings.extend(rules::evaluate_net(&a.net, &opts.rules));
            }
        }
    }
    a
}

/// Where finished exchanges go, a batch at a time: it takes them out of
/// the vector (its buffer may be swapped for another; the caller goes on
/// with whatever buffer is left).
type Hand<'h> = dyn FnMut(&mut Vec<AuthExchange>) + 'h;

/// Batches of finished exchanges (one per hand-over of the correlator)
/// the correlating thread may have waiting for the rules.
const HAND_OVERS_AHEAD: usize = 2;

/// [`read_and_correlate`] on a thread of its own, handing finished
/// exchanges over in batches to `hand`, which runs here. Exchanges reach
/// `hand` in the same order and with the same ids as on one thread, so
/// the report is the same byte for byte. When no thread can be had, all
/// of it runs here.
fn in_two_stages(
    inputs: Vec<Input>,
    opts: &Options,
    hand: &mut Hand<'_>,
) -> (Analysis, Vec<crate::correlate::AgentSighting>) {
    std::thread::scope(|s| {
        let (to, from) = std::sync::mpsc::sync_channel::<Vec<AuthExchange>>(HAND_OVERS_AHEAD);
        // Emptied batches go back, so that their buffers take the next
        // exchanges: no allocation and no copy of an exchange per batch.
        let (give_back, given_back) = std::sync::mpsc::channel::<Vec<AuthExchange>>();
        let correlating =
            crate::threads::spawn_or_give_back(s, "correlate", inputs, move |inputs| {
                let mut send = |finished: &mut Vec<AuthExchange>| {
                    if finished.is_empty() {
                        return;
                    }
                    let empty = given_back.try_recv().unwrap_or_default();
                    let batch = std::mem::replace(finished, empty);
                    // The receiver goes away only if the rules panicked.
                    let _ = to.send(batch);
                };
                read_and_correlate(inputs, opts, &mut send)
            });
        match correlating {
            Ok(thread) => {
                for mut batch in from {
                    hand(&mut batch);
                    // Gone only once the correlating thread is done.
                    let _ = give_back.send(batch);
                }
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            }
            Err(inputs) => read_and_correlate(inputs, opts, hand),
        }
    })
}

/// Everything up to finished exchanges, which go to `hand`; returns the
/// analysis without findings, and the request summary.
fn read_and_correlate(
    inputs: Vec<Input>,
    opts: &Options,
    hand: &mut Hand<'_>,
) -> (Analysis, Vec<crate::correlate::AgentSighting>) {
    let mut correlator = Correlator::new(opts.correlate);
    let mut sip = SipStats::default();
    let mut runs: Vec<InputRun> = inputs.into_iter().map(InputRun::new).collect();
    let mut records = 0u64;
    let mut messages = Vec::new();
    let mut batch = Vec::new();
    while let Some(at) = next_input(&mut runs) {
        if records % STREAM_EVERY_PACKETS == 0 && correlator.swap_finished(&mut batch) {
            hand(&mut batch);
        }
        records += 1;
        let idx = u16::try_from(at).unwrap_or(u16::MAX);
        let run = &mut runs[at];
        let mut stage = SipStage {
            correlator: &mut correlator,
            stats: &mut sip,
            counts: &mut run.counts,
            index: opts.record_messages.then_some(&mut messages),
        };
        match run.reader.next() {
            Some(Record::Packet(pkt)) => {
                run.packets += 1;
                run.net
                    .packet(idx, &pkt, &mut |p: &Payload<'_>| stage.payload(p));
            }
            Some(Record::Message(m)) => {
                run.packets += 1;
                run.saw_time &= m.ts.is_some();
                run.saw_addr &= m.src.is_some() || m.dst.is_some();
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
            None => run.done = true,
        }
        if run.done || matches!(run.reader.peek(), Peek::End) {
            // Streams of this input end with it.
            run.done = true;
            let mut stage = SipStage {
                correlator: &mut correlator,
                stats: &mut sip,
                counts: &mut run.counts,
                index: opts.record_messages.then_some(&mut messages),
            };
            run.net.finish(&mut |p: &Payload<'_>| stage.payload(p));
        }
    }
    let mut net_total = NetStats::default();
    let mut summaries = Vec::new();
    for mut run in runs {
        net_total.add(&run.net.stats);
        let mut warnings: Vec<String> = run
            .reader
            .warnings()
            .iter()
            .map(|w| w.what.clone())
            .collect();
        warnings.extend(run.net.take_warnings());
        let counts = &mut run.counts;
        if counts.broken as usize > counts.warnings.len() {
            let more = counts.broken as usize - counts.warnings.len();
            counts
                .warnings
                .push(format!("... and {more} more broken SIP messages"));
        }
        warnings.append(&mut counts.warnings);
        if run.packets == 0 {
            warnings.push("no packets".into());
        }
        if !run.saw_time {
            warnings
                .push("the input has no timestamps; timing-based rules are less certain".into());
        }
        if !run.saw_addr {
            warnings.push(
                "the input has no addresses; exchanges are linked by SIP headers only".into(),
            );
        }
        let mut link_types: Vec<String> = run
            .reader
            .linktypes()
            .into_iter()
            .map(linktype::name)
            .collect();
        link_types.dedup();
        summaries.push(InputSummary {
            name: run.name,
            format: run.reader.format(),
            link_types,
            packets: run.packets,
            sip_messages: counts.messages,
            warnings,
        });
    }
    // What the correlator gave up is about all inputs; say it once.
    let given_up = correlator.take_warnings();
    if let Some(first) = summaries.first_mut() {
        first.warnings.extend(given_up);
    }
    let agents = correlator.take_agents();
    let (mut exchanges, correlate) = correlator.finish();
    hand(&mut exchanges);
    let a = Analysis {
        inputs: summaries,
        exchanges: Vec::new(),
        findings: Vec::new(),
        sip,
        net: net_total,
        correlate,
        messages,
    };
    (a, agents)
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

    use crate::capture::{InputWarning, TextMessage, Transport, Ts};
    use crate::correlate::Outcome;

    /// A text-like input of literal messages with optional times.
    struct Literal {
        msgs: Vec<(Option<i64>, String)>,
        next: usize,
    }

    impl CaptureReader for Literal {
        fn format(&self) -> Format {
            Format::PlainSip
        }
        fn next(&mut self) -> Option<Record<'_>> {
            let (ts, text) = self.msgs.get(self.next)?;
            self.next += 1;
            Some(Record::Message(TextMessage {
                frame: self.next as u64,
                ts: ts.map(|s| Ts::from_secs_nanos(s, 0)),
                src: None,
                dst: None,
                transport: Transport::Udp,
                data: text.as_bytes(),
            }))
        }
        fn peek(&mut self) -> Peek {
            match self.msgs.get(self.next) {
                None => Peek::End,
                Some((Some(s), _)) => Peek::At(Ts::from_secs_nanos(*s, 0)),
                Some((None, _)) => Peek::Untimed,
            }
        }
        fn warnings(&self) -> &[InputWarning] {
            &[]
        }
        fn linktypes(&self) -> Vec<u32> {
            Vec::new()
        }
    }

    fn sip(start: &str, cseq: u32, extra: &str) -> String {
        format!(
            "{start}\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{cseq}\r\nFrom: <sip:a@example.org>;tag=1\r\nTo: <sip:a@example.org>\r\nCall-ID: merge-1\r\nCSeq: {cseq} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n"
        )
    }

    fn input(name: &str, msgs: Vec<(Option<i64>, String)>) -> Input {
        Input {
            name: name.into(),
            reader: Box::new(Literal { msgs, next: 0 }),
        }
    }

    #[test]
    fn trailing_bytes_are_noted_not_counted_as_broken() {
        let padded = sip("REGISTER sip:example.org SIP/2.0", 1, "") + "abc";
        let damaged = "SIP/2.0 4x1 Unauthorized\r\nCall-ID: x\r\n\r\n".to_string();
        // NUL padding counts as blank; binary is not SIP, quietly.
        let zeros = sip("REGISTER sip:example.org SIP/2.0", 2, "") + "\0\0\0";
        let binary = "\u{80}\u{1}\0\0\0\0\0\0".to_string();
        // A start line longer than `looks_like_sip` reads (2 048 bytes) is
        // not taken for SIP, and nothing in its window looks damaged.
        let long = format!(
            "INVITE sip:{}@example.org SIP/2.0\r\n\r\n",
            "a".repeat(3000)
        );
        let a = analyze(
            vec![input(
                "t",
                vec![
                    (Some(1), padded),
                    (Some(2), damaged),
                    (Some(3), zeros),
                    (Some(4), binary),
                    (Some(5), long),
                ],
            )],
            &Options::default(),
        );
        assert_eq!(a.sip.messages, 2);
        let w = &a.inputs[0].warnings;
        assert!(
            w.iter()
                .any(|w| w.contains("frame 1: 3 bytes after the end")),
            "{w:?}"
        );
        assert!(w.iter().any(|w| w.contains("frame 2: broken SIP")), "{w:?}");
        for quiet in ["frame 3", "frame 4", "frame 5"] {
            assert!(!w.iter().any(|w| w.contains(quiet)), "{quiet}: {w:?}");
        }
        assert_eq!(a.sip.broken, 1);
    }

    #[test]
    fn inputs_are_merged_by_time_with_frames_per_input() {
        let reg = "REGISTER sip:example.org SIP/2.0";
        let challenge = "WWW-Authenticate: Digest realm=\"example.org\", nonce=\"n1\"\r\n";
        let creds = "Authorization: Digest username=\"a\", realm=\"example.org\", nonce=\"n1\", uri=\"sip:example.org\", response=\"00112233445566778899aabbccddeeff\"\r\n";
        // Requests in one input, responses in the other, named first.
        let requests = input(
            "requests",
            vec![
                (Some(100), sip(reg, 1, "")),
                (Some(102), sip(reg, 2, creds)),
            ],
        );
        let responses = input(
            "responses",
            vec![
                (Some(101), sip("SIP/2.0 401 Unauthorized", 1, challenge)),
                (Some(103), sip("SIP/2.0 200 OK", 2, "")),
            ],
        );
        let a = analyze(vec![responses, requests], &Options::default());
        assert_eq!(a.exchanges.len(), 1);
        let ex = &a.exchanges[0];
        assert_eq!(ex.outcome, Outcome::Succeeded);
        assert_eq!(ex.rounds.len(), 2);
        assert_eq!(ex.first_ts, Ts::from_secs_nanos(100, 0));
        assert_eq!(a.inputs[0].name, "responses");
        assert_eq!(a.inputs[0].sip_messages, 2);
        assert_eq!(a.inputs[1].sip_messages, 2);
        assert_eq!(a.sip.messages, 4);
    }

    #[test]
    fn untimed_records_come_first_in_input_order() {
        let mk = |msgs: Vec<Option<i64>>| Input {
            name: String::new(),
            reader: Box::new(Literal {
                msgs: msgs.into_iter().map(|t| (t, String::new())).collect(),
                next: 0,
            }),
        };
        let mut runs: Vec<InputRun> = [
            mk(vec![Some(5), Some(7)]),
            mk(vec![None, Some(1)]),
            mk(vec![Some(5)]),
        ]
        .into_iter()
        .map(InputRun::new)
        .collect();
        let mut order = Vec::new();
        while let Some(i) = next_input(&mut runs) {
            order.push(i);
            runs[i].reader.next();
        }
        // Untimed first; then by time; equal times by input order.
        assert_eq!(order, vec![1, 1, 0, 2, 0]);
    }
}
