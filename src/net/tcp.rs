//! TCP reassembly, one direction at a time.
//!
//! Segments are put in sequence order; retransmissions and overlaps are cut
//! away; out-of-order segments wait (bounded) for the gap to fill. The
//! consumer sees the contiguous, not yet consumed bytes of a direction and
//! says how many it used, so several SIP messages in one segment and one
//! message across many segments both work. A capture that starts mid-stream
//! simply starts at the first segment seen; the SIP framer resynchronises
//! at the next start line. Gaps that never fill are skipped with a warning.

use super::{PacketCtx, Payload, PayloadKind, PayloadSink};
use crate::capture::Transport;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::net::SocketAddr;

#[derive(Clone, Copy, Debug)]
pub struct TcpLimits {
    /// Directions tracked at once; the least recently active is evicted.
    pub max_streams: usize,
    /// Unconsumed in-order bytes one direction may hold (a SIP message is
    /// far smaller; more means the consumer cannot frame it).
    pub max_buffered: usize,
    /// Out-of-order bytes one direction may hold while waiting for a gap.
    pub max_out_of_order: usize,
}

impl Default for TcpLimits {
    fn default() -> Self {
        TcpLimits {
            max_streams: 100_000,
            max_buffered: 2 * 1024 * 1024,
            max_out_of_order: 256 * 1024,
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
    pub payload: &'a [u8],
}

#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct TcpStats {
    pub streams: u64,
    pub retransmitted_segments: u64,
    pub out_of_order_segments: u64,
    pub gaps: u64,
    pub gap_bytes: u64,
    pub evicted_streams: u64,
    pub dropped_bytes: u64,
}

struct Direction {
    id: u64,
    /// Sequence number of the byte after the last in-order byte.
    next_seq: u32,
    buf: Vec<u8>,
    /// Out-of-order data by stream offset relative to `next_seq` at the
    /// time it arrived, stored as absolute sequence numbers.
    ooo: BTreeMap<u64, Vec<u8>>,
    ooo_bytes: usize,
    /// Absolute offset of `next_seq` since the first byte seen (for keys).
    next_off: u64,
    last_ctx: PacketCtx,
    src: SocketAddr,
    dst: SocketAddr,
}

pub struct TcpReassembler {
    limits: TcpLimits,
    dirs: FxHashMap<(SocketAddr, SocketAddr), Direction>,
    next_id: u64,
    pub stats: TcpStats,
    warnings: Warnings,
}

/// Per-stream warnings (gaps, dropped bytes) listed per input; the rest
/// are counted: a crafted capture can have a gap in every packet.
pub const MAX_LISTED_WARNINGS: usize = 20;

#[derive(Default)]
struct Warnings {
    list: Vec<String>,
    unlisted: u64,
}

impl Warnings {
    fn push(&mut self, what: String) {
        if self.list.len() < MAX_LISTED_WARNINGS {
            self.list.push(what);
        } else {
            self.unlisted += 1;
        }
    }
}

impl TcpReassembler {
    pub fn new(limits: TcpLimits) -> TcpReassembler {
        TcpReassembler {
            limits,
            dirs: FxHashMap::default(),
            next_id: 1,
            stats: TcpStats::default(),
            warnings: Warnings::default(),
        }
    }

    /// Live directions (for bounded-memory checks).
    pub fn live_streams(&self) -> usize {
        self.dirs.len()
    }

    pub fn segment(&mut self, ctx: PacketCtx, seg: &Segment<'_>, sink: &mut PayloadSink<'_>) {
        let key = (seg.src, seg.dst);
        if !self.dirs.contains_key(&key) {
            if seg.payload.is_empty() && !seg.syn {
                // Pure ACKs of an unknown stream: nothing to track.
                return;
            }
            if self.dirs.len() >= self.limits.max_streams {
                self.evict_oldest(sink);
            }
            let id = self.next_id;
            self.next_id += 1;
            self.stats.streams += 1;
            self.dirs.insert(
                key,
                Direction {
                    id,
                    next_seq: if seg.syn {
                        seg.seq.wrapping_add(1)
                    } else {
                        seg.seq
                    },
                    buf: Vec::new(),
                    ooo: BTreeMap::new(),
                    ooo_bytes: 0,
                    next_off: 0,
                    last_ctx: ctx,
                    src: seg.src,
                    dst: seg.dst,
                },
            );
        }
        let limits = self.limits;
        let Some(d) = self.dirs.get_mut(&key) else {
            return;
        };
        d.last_ctx = ctx;
        if seg.syn {
            // A new connection on the same address pair starts over.
            let fresh = seg.seq.wrapping_add(1);
            if fresh != d.next_seq && !d.buf.is_empty() {
                d.buf.clear();
            }
            if fresh != d.next_seq {
                d.ooo.clear();
                d.ooo_bytes = 0;
                d.next_seq = fresh;
            }
        }
        let mut data = seg.payload;
        if !data.is_empty() {
            let rel = seg.seq.wrapping_sub(d.next_seq) as i32;
            if rel <= 0 {
                let dup = rel.unsigned_abs() as usize;
                if dup >= data.len() {
                    self.stats.retransmitted_segments += 1;
                    data = &[];
                } else {
                    data = &data[dup..];
                }
                if !data.is_empty() {
                    append(d, data, &mut self.stats, &limits);
                    drain_ooo(d);
                }
            } else {
                self.stats.out_of_order_segments += 1;
                let off = d.next_off + rel as u64;
                if d.ooo_bytes + data.len() <= limits.max_out_of_order {
                    if !d.ooo.contains_key(&off) {
                        d.ooo_bytes += data.len();
                        d.ooo.insert(off, data.to_vec());
                    }
                } else {
                    // Waiting any longer would be unbounded: give up on the
                    // gap, jump to the first waiting segment.
                    skip_gap(d, &mut self.stats, &mut self.warnings);
                    let rel = seg.seq.wrapping_sub(d.next_seq) as i32;
                    if rel <= 0 {
                        let dup = rel.unsigned_abs() as usize;
                        if dup < data.len() {
                            append(d, &data[dup..], &mut self.stats, &limits);
                        }
                    } else if d.ooo_bytes + data.len() <= limits.max_out_of_order {
                        let off = d.next_off + rel as u64;
                        d.ooo_bytes += data.len();
                        d.ooo.insert(off, data.to_vec());
                    }
                    drain_ooo(d);
                }
            }
        }
        deliver(d, sink);
        if d.buf.len() > limits.max_buffered {
            self.stats.dropped_bytes += d.buf.len() as u64;
            self.warnings.push(format!(
                "TCP stream {} -> {}: {} bytes that are not SIP were dropped",
                d.src,
                d.dst,
                d.buf.len()
            ));
            d.buf.clear();
        }
        if seg.fin || seg.rst {
            self.close(key, sink);
        }
    }

    fn close(&mut self, key: (SocketAddr, SocketAddr), sink: &mut PayloadSink<'_>) {
        if let Some(mut d) = self.dirs.remove(&key) {
            while !d.ooo.is_empty() {
                skip_gap(&mut d, &mut self.stats, &mut self.warnings);
                drain_ooo(&mut d);
                deliver(&mut d, sink);
            }
            deliver(&mut d, sink);
            if !d.buf.is_empty() {
                // Last call: the consumer decides whether the rest matters.
                let payload = Payload {
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
                sink(&payload);
            }
        }
    }

    /// Evicts the least recently active sixteenth of the directions at
    /// once: finding the oldest is a scan of every direction, and doing it
    /// per new stream would make a flood of streams quadratic.
    fn evict_oldest(&mut self, sink: &mut PayloadSink<'_>) {
        let mut by_age: Vec<_> = self
            .dirs
            .iter()
            .map(|(k, d)| (d.last_ctx.ts, d.id, *k))
            .collect();
        let n = (by_age.len() / 16).max(1).min(by_age.len());
        if n == 0 {
            return;
        }
        by_age.select_nth_unstable(n - 1);
        by_age.truncate(n);
        by_age.sort_unstable();
        for (_, _, k) in by_age {
            self.stats.evicted_streams += 1;
            self.close(k, sink);
        }
    }

    /// End of input: deliver what every direction still holds.
    pub fn finish(&mut self, sink: &mut PayloadSink<'_>) {
        let mut keys: Vec<_> = self.dirs.iter().map(|(k, d)| (d.id, *k)).collect();
        keys.sort();
        for (_, k) in keys {
            self.close(k, sink);
        }
        if self.stats.evicted_streams > 0 {
            self.warnings.list.push(format!(
                "{} TCP streams were evicted (more than {} open at once)",
                self.stats.evicted_streams, self.limits.max_streams
            ));
        }
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        let w = std::mem::take(&mut self.warnings);
        let mut list = w.list;
        if w.unlisted > 0 {
            list.push(format!("... and {} more TCP stream warnings", w.unlisted));
        }
        list
    }
}

fn append(d: &mut Direction, data: &[u8], _stats: &mut TcpStats, _limits: &TcpLimits) {
    d.buf.extend_from_slice(data);
    d.next_seq = d.next_seq.wrapping_add(data.len() as u32);
    d.next_off += data.len() as u64;
}

/// Moves waiting segments that have become contiguous into the buffer.
fn drain_ooo(d: &mut Direction) {
    while let Some((&off, _)) = d.ooo.iter().next() {
        if off > d.next_off {
            break;
        }
        let seg = d.ooo.remove(&off).unwrap_or_default();
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
    d.buf.clear();
    d.next_seq = d.next_seq.wrapping_add(missing as u32);
    d.next_off = off;
}

fn deliver(d: &mut Direction, sink: &mut PayloadSink<'_>) {
    // The consumer may take several messages; call until it stops. What it
    // used is removed once at the end: removing after each message would
    // move the rest of the buffer once per message (quadratic for a
    // buffer of many small pipelined messages).
    let mut used_total = 0;
    loop {
        if used_total >= d.buf.len() {
            break;
        }
        let payload = Payload {
            ctx: d.last_ctx,
            src: d.src,
            dst: d.dst,
            transport: Transport::Tcp,
            kind: PayloadKind::Stream {
                stream: d.id,
                end: false,
            },
            data: &d.buf[used_total..],
        };
        let used = sink(&payload).min(d.buf.len() - used_total);
        if used == 0 {
            break;
        }
        used_total += used;
    }
    d.buf.drain(..used_total);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::Ts;

    fn ctx(frame: u64) -> PacketCtx {
        PacketCtx {
            input: 0,
            frame,
            ts: Ts(frame as i64),
        }
    }

    fn addr(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    /// Feeds segments; the sink consumes lines ending in '\n' and records
    /// them with the frame that completed them.
    fn run(segs: &[(u32, &[u8], bool)]) -> (Vec<(String, u64)>, TcpReassembler) {
        let mut r = TcpReassembler::new(TcpLimits {
            max_out_of_order: 64,
            ..TcpLimits::default()
        });
        let mut out = Vec::new();
        let mut sink = |p: &Payload<'_>| -> usize {
            if matches!(p.kind, PayloadKind::Stream { end: true, .. }) {
                return 0;
            }
            match p.data.iter().position(|&c| c == b'\n') {
                Some(i) => {
                    out.push((
                        String::from_utf8_lossy(&p.data[..i]).into_owned(),
                        p.ctx.frame,
                    ));
                    i + 1
                }
                None => 0,
            }
        };
        for (i, (seq, data, fin)) in segs.iter().enumerate() {
            let s = Segment {
                src: addr(1),
                dst: addr(2),
                seq: *seq,
                syn: false,
                fin: *fin,
                rst: false,
                payload: data,
            };
            r.segment(ctx(i as u64 + 1), &s, &mut sink);
        }
        r.finish(&mut sink);
        (out, r)
    }

    #[test]
    fn stream_flood_evicts_oldest_in_batches_and_delivers_what_they_held() {
        let mut r = TcpReassembler::new(TcpLimits {
            max_streams: 64,
            ..TcpLimits::default()
        });
        let ended = std::cell::RefCell::new(Vec::new());
        let mut sink = |p: &Payload<'_>| -> usize {
            if matches!(p.kind, PayloadKind::Stream { end: true, .. }) {
                ended.borrow_mut().push(p.src.port());
            }
            0
        };
        for port in 1..=1000u16 {
            let s = Segment {
                src: addr(port),
                dst: addr(5060),
                seq: 1,
                syn: false,
                fin: false,
                rst: false,
                payload: b"partial",
            };
            r.segment(ctx(u64::from(port)), &s, &mut sink);
            assert!(r.live_streams() <= 64);
        }
        {
            // Oldest first, each stream's pending bytes handed over once.
            let ended = ended.borrow();
            assert_eq!(r.stats.evicted_streams, ended.len() as u64);
            assert!(ended.windows(2).all(|w| w[0] < w[1]));
            assert!(ended.len() >= 1000 - 64);
        }
        r.finish(&mut sink);
        assert_eq!(ended.borrow().len(), 1000);
        assert!(r.take_warnings().iter().any(|w| w.contains("evicted")));
    }

    /// Many messages in one delivery are all handed over, each once, in
    /// order (the buffer is trimmed once after them).
    #[test]
    fn many_pipelined_messages_in_one_segment() {
        let data: Vec<u8> = (0..1000)
            .flat_map(|i| format!("m{i}\n").into_bytes())
            .collect();
        let (out, _) = run(&[(1, &data, false)]);
        assert_eq!(out.len(), 1000);
        assert_eq!(out[999], ("m999".to_string(), 1));
        assert!(out
            .iter()
            .enumerate()
            .all(|(i, (l, _))| *l == format!("m{i}")));
    }

    #[test]
    fn in_order_split_and_pipelined() {
        let (out, _) = run(&[
            (100, b"ab", false),
            (102, b"c\nde\nf", false),
            (108, b"g\n", false),
        ]);
        assert_eq!(
            out,
            vec![("abc".into(), 2), ("de".into(), 2), ("fg".into(), 3)]
        );
    }

    #[test]
    fn out_of_order_and_retransmission() {
        let (out, r) = run(&[
            (100, b"ab", false),
            (103, b"d\n", false), // early, overlaps what fills the gap
            (100, b"ab", false),  // retransmission
            (102, b"cd", false),  // fills the gap, overlaps 'd'
        ]);
        assert_eq!(out, vec![("abcd".into(), 4)]);
        assert_eq!(r.stats.retransmitted_segments, 1);
        assert_eq!(r.stats.out_of_order_segments, 1);
    }

    #[test]
    fn sequence_wraparound() {
        let start = u32::MAX - 1;
        let (out, _) = run(&[(start, b"ab", false), (0, b"c\n", false)]);
        assert_eq!(out, vec![("abc".into(), 2)]);
    }

    #[test]
    fn gap_is_skipped_with_warning() {
        let (out, mut r) = run(&[(100, b"par", false), (200, b"x\nok\n", false)]);
        // The partial "par" cannot be completed; after the gap "x" is a
        // fragment line, then "ok".
        assert_eq!(out, vec![("x".into(), 2), ("ok".into(), 2)]);
        assert_eq!(r.stats.gaps, 1);
        assert!(r.take_warnings().iter().any(|w| w.contains("missing")));
    }

    /// Regression: one warning string per gap grew without bound.
    #[test]
    fn gap_warnings_are_capped_and_counted() {
        let mut segs: Vec<(u32, &[u8], bool)> = Vec::new();
        for i in 0..200u32 {
            // Each segment leaves a 10-byte hole before the next.
            segs.push((1 + i * 20, b"0123456789", false));
        }
        let (_, mut r) = run(&segs);
        assert!(r.stats.gaps >= 100);
        let w = r.take_warnings();
        assert_eq!(w.len(), MAX_LISTED_WARNINGS + 1, "{w:?}");
        assert!(w.last().unwrap().starts_with("... and "), "{w:?}");
    }

    #[test]
    fn fin_closes_and_frees() {
        let (out, r) = run(&[(1, b"a\n", true)]);
        assert_eq!(out, vec![("a".into(), 1)]);
        assert_eq!(r.live_streams(), 0);
    }
}
