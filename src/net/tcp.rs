//! TCP reassembly, one direction at a time.
//!
//! Segments are put in sequence order; retransmissions and overlaps are cut
//! away; out-of-order segments wait (bounded) for the gap to fill. The
//! consumer sees the contiguous, not yet consumed bytes of a direction and
//! says what it did with them ([`Take`]), so several messages in one
//! segment and one message across many segments both work. A capture that
//! starts mid-stream simply starts at the first segment seen; the consumer
//! resynchronises at its next message start. Gaps that never fill are
//! skipped with a warning. FIN closes a direction once every byte before it
//! has arrived; RST closes it at once.
//!
//! Memory is bounded per direction (in-order and out-of-order bytes), in
//! total over all directions, and in the number of directions tracked; the
//! least recently active direction is evicted first, and every byte given
//! up is counted and reported. A direction whose consumer only ever skips
//! bytes (it is not the consumer's protocol) is dropped early and then
//! costs one hash lookup per segment.

use super::{PacketCtx, Payload, PayloadKind, PayloadSink, Take, Warnings};
use crate::capture::{Transport, Ts};
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Directions tracked at once (closed ones included, as tombstones
    /// that absorb late retransmissions); the least recently active goes.
    pub max_streams: usize,
    /// Unconsumed in-order bytes one direction may hold (a SIP message is
    /// far smaller; more means the consumer cannot frame it).
    pub max_buffered: usize,
    /// Out-of-order bytes one direction may hold while waiting for a gap.
    pub max_out_of_order: usize,
    /// Bytes held by all directions together.
    pub max_total: usize,
    /// Bytes the consumer may skip before its first message before the
    /// direction is judged not to be its protocol and dropped.
    pub max_unframed: usize,
    /// Capture-time nanoseconds out-of-order data waits for a missing
    /// segment before the gap is skipped (a retransmission comes within a
    /// few retransmission timeouts; what the capture lost never comes).
    pub max_gap_wait_ns: i64,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_streams: 100_000,
            max_buffered: 1024 * 1024,
            max_out_of_order: 256 * 1024,
            max_total: 64 * 1024 * 1024,
            max_unframed: 32 * 1024,
            max_gap_wait_ns: 3_000_000_000,
        }
    }
}

/// One TCP segment as decoded from the packet.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub seq: u32,
    pub syn: bool,
    pub fin: bool,
    pub rst: bool,
    /// The acknowledgment number, when the ACK flag is set.
    pub ack: Option<u32>,
    pub payload: &'a [u8],
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TcpStats {
    /// Directions that carried data.
    pub streams: u64,
    pub retransmitted_segments: u64,
    pub out_of_order_segments: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    /// Open directions closed early to stay within the caps.
    pub evicted_streams: u64,
    /// Bytes given up at a cap (buffer overflow, eviction).
    pub dropped_bytes: u64,
    /// Directions the consumer never found a message in.
    pub not_sip_directions: u64,
}

impl TcpStats {
    pub fn add(&mut self, s: &TcpStats) {
        let TcpStats {
            streams,
            retransmitted_segments,
            out_of_order_segments,
            gaps,
            gap_bytes,
            evicted_streams,
            dropped_bytes,
            not_sip_directions,
        } = s;
        self.streams += streams;
        self.retransmitted_segments += retransmitted_segments;
        self.out_of_order_segments += out_of_order_segments;
        self.gaps += gaps;
        self.gap_bytes += gap_bytes;
        self.evicted_streams += evicted_streams;
        self.dropped_bytes += dropped_bytes;
        self.not_sip_directions += not_sip_directions;
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// Not the consumer's protocol: segments are dropped.
    Ignored,
    /// Closed by FIN/RST; kept to recognise late retransmissions.
    Closed,
}

struct Direction {
    id: u64,
    state: State,
    /// Sequence number of the byte after the last in-order byte.
    next_seq: u32,
    /// `next_seq` as a 64-bit offset from the first byte seen (no wrap),
    /// the key space of `ooo`.
    next_off: u64,
    buf: Vec<u8>,
    /// Out-of-order segments by offset, with the packet each came in.
    ooo: BTreeMap<u64, (Vec<u8>, PacketCtx)>,
    ooo_bytes: usize,
    /// When the oldest waiting out-of-order segment arrived.
    ooo_since: Ts,
    /// Offset of the FIN, once seen.
    fin_off: Option<u64>,
    /// The consumer has framed at least one message.
    framed: bool,
    skipped: u64,
    last_ctx: PacketCtx,
    /// Activity counter for least-recently-used eviction.
    touch: u64,
    src: SocketAddr,
    dst: SocketAddr,
}

impl Direction {
    fn held(&self) -> usize {
        self.buf.len() + self.ooo_bytes
    }

    fn free(&mut self) {
        self.buf = Vec::new();
        self.ooo = BTreeMap::new();
        self.ooo_bytes = 0;
    }
}

type Key = (SocketAddr, SocketAddr);

pub struct TcpReassembler {
    limits: TcpLimits,
    dirs: FxHashMap<Key, Direction>,
    /// (touch, key) in activity order; entries whose touch is no longer
    /// the direction's are stale and skipped.
    lru: VecDeque<(u64, Key)>,
    touch: u64,
    /// Bytes held by all directions.
    total: usize,
    next_id: u64,
    pub stats: TcpStats,
    warnings: Warnings,
}

/// Bytes a segment at relative position `rel` brings that are new.
fn fresh(rel: i64, data: &[u8]) -> &[u8] {
    if rel >= 0 {
        data
    } else {
        data.get(rel.unsigned_abs() as usize..).unwrap_or(&[])
    }
}

impl TcpReassembler {
    pub fn new(limits: TcpLimits) -> TcpReassembler {
        TcpReassembler {
            limits,
            dirs: FxHashMap::default(),
            lru: VecDeque::new(),
            touch: 0,
            total: 0,
            next_id: 1,
            stats: TcpStats::default(),
            warnings: Warnings::default(),
        }
    }

    /// Directions tracked (open or not).
    pub fn live_streams(&self) -> usize {
        self.dirs.len()
    }

    /// Bytes held by all directions.
    pub fn held_bytes(&self) -> usize {
        self.total
    }

    fn new_direction(&mut self, ctx: PacketCtx, seg: &Segment<'_>, sink: &mut PayloadSink<'_>) {
        let key = (seg.src, seg.dst);
        if let Some(old) = self.dirs.get(&key) {
            if old.state == State::Open {
                self.close(key, sink);
            }
            self.dirs.remove(&key);
        }
        while self.dirs.len() >= self.limits.max_streams.max(1) {
            if !self.evict_lru(sink) {
                break;
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.stats.streams += 1;
        self.dirs.insert(
            key,
            Direction {
                id,
                state: State::Open,
                next_seq: if seg.syn {
                    seg.seq.wrapping_add(1)
                } else {
                    seg.seq
                },
                next_off: 0,
                buf: Vec::new(),
                ooo: BTreeMap::new(),
                ooo_bytes: 0,
                ooo_since: ctx.ts,
                fin_off: None,
                framed: false,
                skipped: 0,
                last_ctx: ctx,
                touch: 0,
                src: seg.src,
                dst: seg.dst,
            },
        );
    }

    pub fn segment(&mut self, ctx: PacketCtx, seg: &Segment<'_>, sink: &mut PayloadSink<'_>) {
        let key = (seg.src, seg.dst);
        // The peer acknowledged bytes of the other direction that the
        // capture never had: they will not be retransmitted.
        if let Some(ack) = seg.ack {
            let rev = (seg.dst, seg.src);
            let lost = self.dirs.get(&rev).is_some_and(|r| {
                r.state == State::Open
                    && r.ooo.first_key_value().is_some_and(|(&off, _)| {
                        let first_seq = r.next_seq.wrapping_add((off - r.next_off) as u32);
                        ack.wrapping_sub(first_seq) as i32 >= 0
                    })
            });
            if lost {
                self.skip_gap_and_flush(rev, sink);
            }
        }
        let starts_new = match self.dirs.get(&key) {
            // Pure ACKs, FIN or RST of an unknown stream: nothing to track.
            None => seg.syn || !seg.payload.is_empty(),
            Some(d) => {
                let rel = seg.seq.wrapping_sub(d.next_seq) as i32;
                match d.state {
                    // A SYN with another initial sequence number is a new
                    // connection on the same addresses.
                    _ if seg.syn => seg.seq.wrapping_add(1) != d.next_seq,
                    State::Open => false,
                    // Data after the end of a closed connection is a new
                    // connection whose SYN was not captured.
                    State::Closed => !seg.payload.is_empty() && rel > 0,
                    State::Ignored => false,
                }
            }
        };
        if starts_new {
            self.new_direction(ctx, seg, sink);
        }
        self.touch += 1;
        let touch = self.touch;
        let Some(d) = self.dirs.get_mut(&key) else {
            return;
        };
        d.touch = touch;
        self.lru.push_back((touch, key));
        match d.state {
            State::Open => {}
            State::Closed => {
                if !seg.payload.is_empty() {
                    self.stats.retransmitted_segments += 1;
                }
                return;
            }
            State::Ignored => return,
        }
        // Out-of-order data of this direction has waited long enough.
        let waited = self.dirs.get(&key).is_some_and(|d| {
            !d.ooo.is_empty()
                && ctx.ts.0.saturating_sub(d.ooo_since.0) > self.limits.max_gap_wait_ns
        });
        if waited {
            self.skip_gap_and_flush(key, sink);
        }
        let limits = self.limits;
        let Some(d) = self.dirs.get_mut(&key) else {
            return;
        };
        if d.state != State::Open {
            return;
        }
        d.last_ctx = ctx;
        let rel = i64::from(seg.seq.wrapping_sub(d.next_seq) as i32);
        // The FIN's place in the stream (a FIN within what was already
        // received closes at once).
        let fin_at = seg.fin.then(|| {
            let end = rel + seg.payload.len() as i64;
            d.next_off + u64::try_from(end).unwrap_or(0)
        });
        if rel > 0
            && !seg.payload.is_empty()
            && d.ooo_bytes + seg.payload.len() > limits.max_out_of_order
        {
            // Waiting any longer would be unbounded: give up on the first
            // gap, then place this segment again.
            self.skip_gap_and_flush(key, sink);
        }
        let Some(d) = self.dirs.get_mut(&key) else {
            return;
        };
        if d.state != State::Open {
            return;
        }
        d.last_ctx = ctx;
        let before = d.held();
        let rel = i64::from(seg.seq.wrapping_sub(d.next_seq) as i32);
        if !seg.payload.is_empty() {
            let data = fresh(rel, seg.payload);
            if rel <= 0 {
                if data.is_empty() {
                    self.stats.retransmitted_segments += 1;
                } else {
                    d.buf.extend_from_slice(data);
                    d.next_seq = d.next_seq.wrapping_add(data.len() as u32);
                    d.next_off += data.len() as u64;
                    drain_ooo(d);
                }
            } else {
                self.stats.out_of_order_segments += 1;
                if d.ooo_bytes + data.len() <= limits.max_out_of_order {
                    let off = d.next_off + rel as u64;
                    let old = d.ooo.get(&off).map_or(0, |(v, _)| v.len());
                    if data.len() > old {
                        if d.ooo.is_empty() {
                            d.ooo_since = ctx.ts;
                        }
                        d.ooo_bytes = d.ooo_bytes - old + data.len();
                        d.ooo.insert(off, (data.to_vec(), ctx));
                    }
                } else {
                    self.stats.dropped_bytes += data.len() as u64;
                }
            }
        }
        if let Some(f) = fin_at {
            d.fin_off.get_or_insert(f);
        }
        self.total = self.total - before.min(self.total) + d.held();
        self.deliver(key, sink);
        if let Some(d) = self.dirs.get_mut(&key) {
            if d.state == State::Open && d.buf.len() > limits.max_buffered {
                let n = d.buf.len();
                self.stats.dropped_bytes += n as u64;
                self.warnings.push(format!(
                    "TCP stream {} -> {}: {n} bytes that could not be framed were dropped (frame {})",
                    d.src, d.dst, ctx.frame
                ));
                self.total -= n.min(self.total);
                d.buf = Vec::new();
            }
            let fin_reached = d.fin_off.is_some_and(|f| d.next_off >= f) && d.ooo.is_empty();
            if d.state == State::Open && (seg.rst || fin_reached) {
                self.close(key, sink);
            }
        }
        while self.total > limits.max_total {
            if !self.evict_lru(sink) {
                break;
            }
        }
        if self.lru.len() > 4 * self.dirs.len() + 1024 {
            self.compact_lru();
        }
    }

    /// Hands the contiguous bytes to the consumer until it stops taking.
    fn deliver(&mut self, key: Key, sink: &mut PayloadSink<'_>) {
        let Some(d) = self.dirs.get_mut(&key) else {
            return;
        };
        let before = d.held();
        let mut ignore = false;
        while !d.buf.is_empty() {
            let payload = Payload {
                ctx: d.last_ctx,
                src: d.src,
                dst: d.dst,
                transport: Transport::Tcp,
                kind: PayloadKind::Stream {
                    stream: d.id,
                    end: false,
                },
                data: &d.buf,
            };
            let used = match sink(&payload) {
                Take::Framed(n) => {
                    d.framed |= n > 0;
                    n
                }
                Take::Skipped(n) => {
                    d.skipped += n as u64;
                    if !d.framed && d.skipped > self.limits.max_unframed as u64 {
                        self.stats.not_sip_directions += 1;
                        ignore = true;
                        break;
                    }
                    n
                }
                Take::Ignore => {
                    ignore = true;
                    break;
                }
            };
            if used == 0 {
                break;
            }
            d.buf.drain(..used.min(d.buf.len()));
        }
        self.total = self.total - before.min(self.total) + d.held();
        if ignore {
            self.total -= d.held().min(self.total);
            d.free();
            d.state = State::Ignored;
            let end = Payload {
                ctx: d.last_ctx,
                src: d.src,
                dst: d.dst,
                transport: Transport::Tcp,
                kind: PayloadKind::Stream {
                    stream: d.id,
                    end: true,
                },
                data: &[],
            };
            sink(&end);
        }
    }

    /// Gives up on the first gap of a direction and delivers the waiting
    /// segments after it one by one, each in the frame it came in.
    fn skip_gap_and_flush(&mut self, key: Key, sink: &mut PayloadSink<'_>) {
        let Some(d) = self.dirs.get_mut(&key) else {
            return;
        };
        if d.state != State::Open {
            return;
        }
        let before = d.held();
        skip_gap(d, &mut self.stats, &mut self.warnings);
        self.total = self.total - before.min(self.total) + d.held();
        loop {
            let Some(d) = self.dirs.get_mut(&key) else {
                return;
            };
            if d.state != State::Open {
                return;
            }
            let Some(entry) = d.ooo.first_entry() else {
                return;
            };
            let off = *entry.key();
            if off > d.next_off {
                return;
            }
            let (seg, seg_ctx) = entry.remove();
            // Held bytes before this segment moved out of the waiting set.
            let before = d.held() + seg.len();
            d.ooo_bytes -= seg.len();
            let dup = (d.next_off - off) as usize;
            if let Some(rest) = seg.get(dup..) {
                d.buf.extend_from_slice(rest);
                d.next_seq = d.next_seq.wrapping_add(rest.len() as u32);
                d.next_off += rest.len() as u64;
            }
            d.last_ctx = seg_ctx;
            self.total = self.total - before.min(self.total) + d.held();
            self.deliver(key, sink);
        }
    }

    /// Closes an open direction: gaps are skipped, everything is delivered,
    /// and the consumer gets a last call with what it left.
    fn close(&mut self, key: Key, sink: &mut PayloadSink<'_>) {
        while self
            .dirs
            .get(&key)
            .is_some_and(|d| d.state == State::Open && !d.ooo.is_empty())
        {
            self.skip_gap_and_flush(key, sink);
        }
        self.deliver(key, sink);
        let Some(d) = self.dirs.get_mut(&key) else {
            return;
        };
        if d.state != State::Open {
            return;
        }
        let end = Payload {
            ctx: d.last_ctx,
            src: d.src,
            dst: d.dst,
            transport: Transport::Tcp,
            kind: PayloadKind::Stream {
                stream: d.id,
                end: true,
            },
            data: &d.buf,
        };
        sink(&end);
        self.total -= d.held().min(self.total);
        d.free();
        d.state = State::Closed;
    }

    /// Evicts the least recently active direction; false when none is left.
    fn evict_lru(&mut self, sink: &mut PayloadSink<'_>) -> bool {
        while let Some((touch, key)) = self.lru.pop_front() {
            let Some(d) = self.dirs.get(&key) else {
                continue;
            };
            if d.touch != touch {
                continue;
            }
            if d.state == State::Open {
                self.stats.evicted_streams += 1;
                let held = d.held() as u64;
                if held > 0 {
                    self.stats.dropped_bytes += held;
                    self.warnings.push(format!(
                        "TCP stream {} -> {} was closed early to stay within memory limits ({held} bytes pending, last frame {})",
                        d.src, d.dst, d.last_ctx.frame
                    ));
                }
                self.close(key, sink);
            }
            self.dirs.remove(&key);
            return true;
        }
        false
    }

    fn compact_lru(&mut self) {
        let mut live: Vec<(u64, Key)> = self.dirs.iter().map(|(k, d)| (d.touch, *k)).collect();
        live.sort_unstable();
        self.lru = live.into();
    }

    /// End of input: deliver what every direction still holds.
    pub fn finish(&mut self, sink: &mut PayloadSink<'_>) {
        let mut keys: Vec<_> = self
            .dirs
            .iter()
            .filter(|(_, d)| d.state == State::Open)
            .map(|(k, d)| (d.id, *k))
            .collect();
        keys.sort();
        for (_, k) in keys {
            self.close(k, sink);
        }
        self.dirs.clear();
        self.lru.clear();
        self.total = 0;
        if self.stats.evicted_streams > 0 {
            self.warnings.push(format!(
                "{} TCP streams were closed early to stay within memory limits ({} directions, {} MiB)",
                self.stats.evicted_streams,
                self.limits.max_streams,
                self.limits.max_total / (1024 * 1024)
            ));
        }
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        self.warnings.take("TCP warnings")
    }
}

/// Moves waiting segments that have become contiguous into the buffer.
fn drain_ooo(d: &mut Direction) {
    while let Some(entry) = d.ooo.first_entry() {
        let off = *entry.key();
        if off > d.next_off {
            break;
        }
        let (seg, _) = entry.remove();
        d.ooo_bytes -= seg.len();
        let dup = (d.next_off - off) as usize;
        if dup < seg.len() {
            let rest = &seg[dup..];
            d.buf.extend_from_slice(rest);
            d.next_seq = d.next_seq.wrapping_add(rest.len() as u32);
            d.next_off += rest.len() as u64;
        }
    }
}

/// Gives up on the missing bytes before the first waiting segment.
fn skip_gap(d: &mut Direction, stats: &mut TcpStats, warnings: &mut Warnings) {
    let Some((&off, _)) = d.ooo.iter().next() else {
        return;
    };
    if off <= d.next_off {
        return;
    }
    let missing = off - d.next_off;
    stats.gaps += 1;
    stats.gap_bytes += missing;
    warnings.push(format!(
        "TCP stream {} -> {}: {missing} bytes missing before frame {} (not captured); resynchronised at the next SIP message",
        d.src, d.dst, d.last_ctx.frame
    ));
    // Bytes before the gap cannot complete a message any more.
    stats.dropped_bytes += d.buf.len() as u64;
    d.buf.clear();
    d.next_seq = d.next_seq.wrapping_add(missing as u32);
    d.next_off = off;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Ts;

    fn ctx(frame: u64) -> PacketCtx {
        PacketCtx {
            input: 0,
            frame,
            // One second per frame, so gap timeouts can be exercised.
            ts: Ts::from_secs_nanos(frame as i64, 0),
        }
    }

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[derive(Clone, Copy, Default)]
    struct Seg<'a> {
        seq: u32,
        data: &'a [u8],
        syn: bool,
        fin: bool,
        rst: bool,
        /// Source port (1 unless set), to run several streams.
        port: u16,
        ack: Option<u32>,
        /// Sent by the other side (port 2 to `port`).
        reverse: bool,
    }

    fn seg(seq: u32, data: &[u8]) -> Seg<'_> {
        Seg {
            seq,
            data,
            ..Seg::default()
        }
    }

    /// What the line-framing test consumer saw.
    #[derive(Default, Debug)]
    struct Seen {
        /// (line, frame that completed it, stream id)
        lines: Vec<(String, u64, u64)>,
        /// (leftover at end, stream id)
        ends: Vec<(String, u64)>,
    }

    /// Feeds segments; the consumer frames lines ending in '\n' that start
    /// with a letter and skips lines starting with '#' (its "not my
    /// protocol").
    fn run_with(limits: TcpLimits, segs: &[Seg<'_>]) -> (Seen, TcpReassembler) {
        let mut r = TcpReassembler::new(limits);
        let mut seen = Seen::default();
        let mut sink = |p: &Payload<'_>| -> Take {
            let PayloadKind::Stream { stream, end } = p.kind else {
                return Take::Framed(0);
            };
            if end {
                seen.ends
                    .push((String::from_utf8_lossy(p.data).into_owned(), stream));
                return Take::Framed(p.data.len());
            }
            match p.data.iter().position(|&c| c == b'\n') {
                Some(i) if p.data[0] == b'#' => Take::Skipped(i + 1),
                Some(i) => {
                    seen.lines.push((
                        String::from_utf8_lossy(&p.data[..i]).into_owned(),
                        p.ctx.frame,
                        stream,
                    ));
                    Take::Framed(i + 1)
                }
                None => Take::Framed(0),
            }
        };
        for (i, s) in segs.iter().enumerate() {
            let (mut src, mut dst) = (addr(if s.port == 0 { 1 } else { s.port }), addr(2));
            if s.reverse {
                std::mem::swap(&mut src, &mut dst);
            }
            let seg = Segment {
                src,
                dst,
                ack: s.ack,
                seq: s.seq,
                syn: s.syn,
                fin: s.fin,
                rst: s.rst,
                payload: s.data,
            };
            r.segment(ctx(i as u64 + 1), &seg, &mut sink);
            assert!(r.held_bytes() <= limits.max_total);
        }
        r.finish(&mut sink);
        (seen, r)
    }

    fn small() -> TcpLimits {
        TcpLimits {
            max_out_of_order: 64,
            ..TcpLimits::default()
        }
    }

    fn run(segs: &[Seg<'_>]) -> (Seen, TcpReassembler) {
        run_with(small(), segs)
    }

    fn lines(seen: &Seen) -> Vec<(&str, u64)> {
        seen.lines
            .iter()
            .map(|(l, f, _)| (l.as_str(), *f))
            .collect()
    }

    #[test]
    fn several_messages_per_segment_and_one_over_many() {
        let (seen, _) = run(&[seg(100, b"ab"), seg(102, b"c\nde\nf"), seg(108, b"g\n")]);
        assert_eq!(lines(&seen), vec![("abc", 2), ("de", 2), ("fg", 3)]);
    }

    #[test]
    fn out_of_order_is_delivered_in_order() {
        let (seen, r) = run(&[
            seg(100, b"a\n"),
            seg(104, b"c\n"),
            seg(106, b"d\n"),
            seg(102, b"b\n"),
        ]);
        assert_eq!(lines(&seen), vec![("a", 1), ("b", 4), ("c", 4), ("d", 4)]);
        assert_eq!(r.stats.out_of_order_segments, 2);
        assert_eq!(r.stats.gaps, 0);
    }

    #[test]
    fn retransmissions_and_overlaps_are_removed() {
        let (seen, r) = run(&[
            seg(100, b"ab"),
            seg(103, b"d\n"),       // early, overlaps what fills the gap
            seg(100, b"ab"),        // retransmission
            seg(102, b"cd"),        // fills the gap, overlaps 'd'
            seg(101, b"bcd\nxy\n"), // overlaps on both sides
            seg(105, b"xy\n"),      // all old again
        ]);
        assert_eq!(lines(&seen), vec![("abcd", 4), ("xy", 5)]);
        assert_eq!(r.stats.retransmitted_segments, 2);
        assert_eq!(r.stats.out_of_order_segments, 1);
    }

    #[test]
    fn sequence_wraparound() {
        let start = u32::MAX - 1;
        let (seen, _) = run(&[seg(start, b"ab"), seg(0, b"c\n")]);
        assert_eq!(lines(&seen), vec![("abc", 2)]);
    }

    #[test]
    fn mid_stream_start_takes_the_first_segment_seen() {
        // No SYN: the first bytes are the tail of a message the consumer
        // skips ("#" lines), then messages follow.
        let (seen, r) = run(&[seg(5000, b"# tail\nok\n")]);
        assert_eq!(lines(&seen), vec![("ok", 1)]);
        assert_eq!(r.stats.not_sip_directions, 0);
    }

    #[test]
    fn gap_is_skipped_with_warning_and_counted() {
        let (seen, mut r) = run(&[
            seg(100, b"par"),
            seg(200, b"x\nok\n"),
            seg(300, &[b'z'; 60]),
        ]);
        // "par" can never complete; after the gap "x" is a fragment line,
        // then "ok".
        // Each is reported in the frame it came in.
        assert_eq!(lines(&seen), vec![("x", 2), ("ok", 2)]);
        assert_eq!(r.stats.gaps, 2);
        assert_eq!(r.stats.gap_bytes, 97 + 95);
        assert!(r.stats.dropped_bytes >= 3);
        assert!(r
            .take_warnings()
            .iter()
            .any(|w| w.contains("97 bytes missing")));
    }

    #[test]
    fn gap_acknowledged_by_the_peer_is_skipped_at_once() {
        let ack = Seg {
            reverse: true,
            ack: Some(106),
            ..seg(1, b"")
        };
        let (seen, r) = run(&[seg(100, b"a\n"), seg(104, b"c\n"), ack, seg(106, b"d\n")]);
        assert_eq!(lines(&seen), vec![("a", 1), ("c", 2), ("d", 4)]);
        assert_eq!(r.stats.gaps, 1);
        assert_eq!(r.stats.gap_bytes, 2);
    }

    #[test]
    fn pure_ack_of_a_silent_peer_also_reveals_a_capture_gap() {
        // The peer never sends data, so it has no direction of its own.
        let ack = Seg {
            reverse: true,
            ack: Some(106),
            ..seg(1, b"")
        };
        let other = Seg {
            port: 9,
            ..seg(1, b"z\n")
        };
        let (seen, r) = run(&[seg(100, b"a\n"), seg(104, b"c\n"), ack, other]);
        // "c" is delivered when the ACK shows the gap, before "z" (not at
        // the end of input).
        assert_eq!(lines(&seen), vec![("a", 1), ("c", 2), ("z", 4)]);
        assert_eq!(r.stats.gaps, 1);
        assert_eq!(r.stats.streams, 2);
    }

    #[test]
    fn peer_ack_before_the_gap_keeps_waiting_for_the_retransmission() {
        let ack = Seg {
            reverse: true,
            ack: Some(102),
            ..seg(1, b"")
        };
        let (seen, r) = run(&[seg(100, b"a\n"), seg(104, b"c\n"), ack, seg(102, b"b\n")]);
        assert_eq!(lines(&seen), vec![("a", 1), ("b", 4), ("c", 4)]);
        assert_eq!(r.stats.gaps, 0);
    }

    #[test]
    fn gap_is_skipped_after_waiting_too_long() {
        let (seen, r) = run(&[
            seg(100, b"a\n"),
            seg(104, b"c\n"),
            Seg {
                port: 9,
                ..seg(1, b"x")
            }, // other traffic: time passes
            Seg {
                port: 9,
                ..seg(2, b"x")
            },
            seg(106, b"d\n"), // 4 s after the gap opened
            seg(102, b"b\n"), // too late: skipped as old data
        ]);
        assert_eq!(lines(&seen), vec![("a", 1), ("c", 2), ("d", 5)]);
        assert_eq!(r.stats.gaps, 1);
    }

    #[test]
    fn fin_waits_for_missing_data_then_closes() {
        // The FIN arrives before the segment it follows.
        let fin = Seg {
            fin: true,
            ..seg(102, b"c\n")
        };
        let (seen, r) = run(&[seg(100, b"a\n"), fin, seg(100, b"a\n"), seg(102, b"c\n")]);
        assert_eq!(lines(&seen), vec![("a", 1), ("c", 2)]);
        assert_eq!(r.stats.gaps, 0);
        assert_eq!(seen.ends.len(), 1);
        // Later retransmissions of a closed stream are not new streams.
        assert_eq!(r.stats.streams, 1);
    }

    #[test]
    fn fin_without_data_closes_and_leftover_goes_to_the_last_call() {
        let fin = Seg {
            fin: true,
            ..seg(106, b"")
        };
        let (seen, r) = run(&[seg(100, b"a\npar"), seg(105, b"t"), fin]);
        assert_eq!(lines(&seen), vec![("a", 1)]);
        assert_eq!(seen.ends, vec![("part".to_string(), 1)]);
        assert_eq!(r.live_streams(), 0);
    }

    #[test]
    fn rst_closes_at_once_and_new_data_after_is_a_new_stream() {
        let rst = Seg {
            rst: true,
            ..seg(102, b"")
        };
        let (seen, r) = run(&[seg(100, b"a\n"), rst, seg(102, b"a\n"), seg(5000, b"b\n")]);
        assert_eq!(lines(&seen), vec![("a", 1), ("b", 4)]);
        assert_eq!(r.stats.streams, 2);
        assert_eq!(r.stats.retransmitted_segments, 1);
    }

    #[test]
    fn syn_with_new_isn_starts_a_new_stream() {
        let syn1 = Seg {
            syn: true,
            ..seg(99, b"")
        };
        let syn2 = Seg {
            syn: true,
            ..seg(7000, b"")
        };
        let (seen, r) = run(&[syn1, seg(100, b"a\nhalf"), syn2, seg(7001, b"b\n")]);
        assert_eq!(
            seen.lines
                .iter()
                .map(|(l, _, s)| (l.as_str(), *s))
                .collect::<Vec<_>>(),
            vec![("a", 1), ("b", 2)]
        );
        // Every stream gets its last call, the new one at the end of input.
        assert_eq!(seen.ends, vec![("half".to_string(), 1), (String::new(), 2)]);
        assert_eq!(r.stats.streams, 2);
    }

    #[test]
    fn direction_that_never_frames_is_dropped() {
        let junk = vec![b'#'; 99];
        let mut segs = Vec::new();
        let mut bufs = Vec::new();
        for i in 0..20u32 {
            let mut b = junk.clone();
            b.push(b'\n');
            bufs.push((100 + i * 100, b));
        }
        for (seq, b) in &bufs {
            segs.push(seg(*seq, b));
        }
        let limits = TcpLimits {
            max_unframed: 1000,
            ..small()
        };
        let (seen, r) = run_with(limits, &segs);
        assert!(seen.lines.is_empty());
        assert_eq!(r.stats.not_sip_directions, 1);
        assert_eq!(seen.ends, vec![(String::new(), 1)]);
    }

    #[test]
    fn unconsumable_buffer_is_dropped_and_reported() {
        let limits = TcpLimits {
            max_buffered: 100,
            ..small()
        };
        let big = [b'x'; 150];
        let (seen, mut r) = run_with(limits, &[seg(1, &big), seg(151, b"ok\n")]);
        assert_eq!(lines(&seen), vec![("ok", 2)]);
        assert_eq!(r.stats.dropped_bytes, 150);
        assert!(r.take_warnings()[0].contains("150 bytes"));
    }

    #[test]
    fn stream_count_and_total_bytes_are_bounded_with_eviction() {
        let limits = TcpLimits {
            max_streams: 4,
            max_total: 40,
            ..small()
        };
        let mut segs = Vec::new();
        for port in 10..30u16 {
            segs.push(Seg {
                port,
                ..seg(1, b"pending-no-newline")
            });
        }
        let (seen, mut r) = run_with(limits, &segs);
        assert!(r.stats.evicted_streams >= 16);
        assert!(r.stats.dropped_bytes > 0);
        assert_eq!(seen.ends.len(), 20);
        let w = r.take_warnings();
        assert!(w.iter().any(|w| w.contains("memory limits")), "{w:?}");
        // Warnings are capped: the rest is summarised.
        assert!(w.len() <= 22);
    }

    #[test]
    fn lru_evicts_the_idle_stream_not_the_busy_one() {
        let limits = TcpLimits {
            max_streams: 2,
            ..small()
        };
        let (seen, _) = run_with(
            limits,
            &[
                Seg {
                    port: 10,
                    ..seg(1, b"a")
                },
                Seg {
                    port: 11,
                    ..seg(1, b"b")
                },
                Seg {
                    port: 10,
                    ..seg(2, b"a")
                },
                Seg {
                    port: 12,
                    ..seg(1, b"c")
                }, // evicts 11
                Seg {
                    port: 10,
                    ..seg(3, b"a\n")
                },
            ],
        );
        assert_eq!(lines(&seen), vec![("aaa", 5)]);
        assert_eq!(seen.ends[0], ("b".to_string(), 2));
    }

    #[test]
    fn hostile_sequence_numbers_do_not_panic_or_grow() {
        let mut segs = Vec::new();
        for i in 0..200u32 {
            segs.push(seg(i.wrapping_mul(0x9E37_79B9), b"zz\n"));
        }
        let (_, r) = run(&segs);
        assert_eq!(r.live_streams(), 0);
    }
}
