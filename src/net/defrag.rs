//! IPv4 and IPv6 fragment reassembly with caps.
//!
//! A SIP INVITE with a large SDP body easily exceeds a 1500-byte MTU over
//! UDP and is then sent as IP fragments. Each datagram is rebuilt in an
//! `etherparse` [`IpDefragBuf`] (which checks alignment, overlaps and
//! conflicting ends); the pool around it is ours because it must be
//! bounded: datagrams in flight, bytes held, and age by capture time. What
//! never completes is reported once per input, with the usual reason (a
//! `port 5060` capture filter keeps only the first fragment, which is the
//! only one that carries the UDP ports).

use super::{PacketCtx, Warnings};
use crate::capture::Ts;
use etherparse::defrag::IpDefragBuf;
use etherparse::{IpFragOffset, IpNumber};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;

#[derive(Clone, Copy, Debug)]
pub struct DefragLimits {
    /// Datagrams being rebuilt at once; the oldest is dropped beyond it.
    pub max_datagrams: usize,
    /// Bytes held by all datagrams being rebuilt.
    pub max_bytes: usize,
    /// Capture-time seconds a datagram may wait for its fragments (the
    /// Linux default `ipfrag_time` is 30 s).
    pub max_age_secs: i64,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_datagrams: 4096,
            max_bytes: 16 * 1024 * 1024,
            max_age_secs: 30,
        }
    }
}

/// What identifies the fragments of one datagram (RFC 791 / RFC 8200).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FragKey {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The protocol of the reassembled payload.
    pub proto: u8,
    pub id: u32,
}

/// One fragment as decoded from its packet.
#[derive(Clone, Copy, Debug)]
pub struct Fragment<'a> {
    pub key: FragKey,
    pub offset: IpFragOffset,
    pub more: bool,
    pub data: &'a [u8],
}

struct Pending {
    buf: IpDefragBuf,
    first_ts: Ts,
    first_frame: u64,
    /// Distinguishes this datagram from an earlier one with the same key
    /// in the age queue.
    serial: u64,
}

pub struct Defragmenter {
    limits: DefragLimits,
    pending: FxHashMap<FragKey, Pending>,
    /// Keys in arrival order of their first fragment, for age and cap
    /// eviction; stale entries (completed datagrams) are skipped.
    order: VecDeque<(u64, FragKey)>,
    bytes: usize,
    serial: u64,
    spare: Vec<Vec<u8>>,
    incomplete: u64,
    invalid: u64,
    /// Frames of the first fragment of some incomplete datagrams.
    incomplete_frames: Vec<u64>,
    warnings: Warnings,
}

impl Defragmenter {
    pub fn new(limits: DefragLimits) -> Defragmenter {
        Defragmenter {
            limits,
            pending: FxHashMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            serial: 0,
            spare: Vec::new(),
            incomplete: 0,
            invalid: 0,
            incomplete_frames: Vec::new(),
            warnings: Warnings::default(),
        }
    }

    /// Datagrams that never completed so far.
    pub fn incomplete(&self) -> u64 {
        self.incomplete
    }

    /// Datagrams being rebuilt now.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Bytes held now.
    pub fn held_bytes(&self) -> usize {
        self.bytes
    }

    /// Adds a fragment; returns the whole IP payload when it completes a
    /// datagram (hand the buffer back with [`Defragmenter::recycle`]).
    pub fn add(&mut self, ctx: PacketCtx, frag: &Fragment<'_>) -> Option<Vec<u8>> {
        self.expire(ctx.ts);
        if !self.pending.contains_key(&frag.key) {
            while self.pending.len() >= self.limits.max_datagrams.max(1) {
                if !self.drop_oldest() {
                    break;
                }
            }
            let data = self.spare.pop().unwrap_or_default();
            self.serial += 1;
            self.pending.insert(
                frag.key,
                Pending {
                    buf: IpDefragBuf::new(IpNumber(frag.key.proto), data, Vec::new()),
                    first_ts: ctx.ts,
                    first_frame: ctx.frame,
                    serial: self.serial,
                },
            );
            self.order.push_back((self.serial, frag.key));
        }
        let p = self.pending.get_mut(&frag.key)?;
        let before = p.buf.data().len();
        let added = p.buf.add(frag.offset, frag.more, frag.data);
        let after = p.buf.data().len();
        self.bytes = self.bytes.saturating_sub(before) + after;
        if let Err(e) = added {
            self.invalid += 1;
            self.warnings.push(format!(
                "frame {}: IP fragment dropped with its datagram ({e})",
                ctx.frame
            ));
            self.remove(&frag.key, false);
            return None;
        }
        if p.buf.is_complete() {
            let p = self.pending.remove(&frag.key)?;
            self.bytes = self.bytes.saturating_sub(p.buf.data().len());
            let (data, _) = p.buf.take_bufs();
            return Some(data);
        }
        while self.bytes > self.limits.max_bytes {
            if !self.drop_oldest() {
                break;
            }
        }
        None
    }

    /// Gives a completed datagram's buffer back for reuse.
    pub fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < 16 {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// Drops datagrams whose first fragment is older than the age limit.
    fn expire(&mut self, now: Ts) {
        let max_age = self.limits.max_age_secs.saturating_mul(1_000_000_000);
        while let Some(&(serial, key)) = self.order.front() {
            match self.pending.get(&key) {
                Some(p) if p.serial == serial => {
                    if now.0.saturating_sub(p.first_ts.0) <= max_age {
                        return;
                    }
                    self.order.pop_front();
                    self.remove(&key, true);
                }
                _ => {
                    self.order.pop_front();
                }
            }
        }
    }

    /// Drops the datagram that started first; false when none is left.
    fn drop_oldest(&mut self) -> bool {
        while let Some((serial, key)) = self.order.pop_front() {
            if self.pending.get(&key).is_some_and(|p| p.serial == serial) {
                self.remove(&key, true);
                return true;
            }
        }
        false
    }

    fn remove(&mut self, key: &FragKey, count_incomplete: bool) {
        if let Some(p) = self.pending.remove(key) {
            self.bytes = self.bytes.saturating_sub(p.buf.data().len());
            if count_incomplete {
                self.incomplete += 1;
                if self.incomplete_frames.len() < 10 {
                    self.incomplete_frames.push(p.first_frame);
                }
            }
            let (data, _) = p.buf.take_bufs();
            self.recycle(data);
        }
    }

    /// End of input: what is still waiting will never complete.
    pub fn finish(&mut self) {
        while self.drop_oldest() {}
        self.order.clear();
        if self.incomplete > 0 {
            let frames: Vec<String> = self.incomplete_frames.iter().map(u64::to_string).collect();
            self.warnings.push(format!(
                "{} fragmented IP datagrams never completed (first fragment in frame {}{}); they were not analysed. A capture filter such as 'port 5060' keeps only the first fragment of a datagram: capture with 'port 5060 or (ip[6:2] & 0x1fff != 0) or (ip6[6] == 44)' or without a port filter",
                self.incomplete,
                frames.join(", "),
                if self.incomplete as usize > frames.len() { ", ..." } else { "" }
            ));
            self.incomplete_frames.clear();
        }
    }

    pub fn take_warnings(&mut self) -> Vec<String> {
        self.warnings.take("broken IP fragments")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(frame: u64, secs: i64) -> PacketCtx {
        PacketCtx {
            input: 0,
            frame,
            ts: Ts::from_secs_nanos(secs, 0),
        }
    }

    fn key(id: u32) -> FragKey {
        FragKey {
            src: IpAddr::from([10, 0, 0, 1]),
            dst: IpAddr::from([10, 0, 0, 2]),
            proto: 17,
            id,
        }
    }

    fn frag(id: u32, offset_bytes: u16, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment {
            key: key(id),
            offset: IpFragOffset::try_new(offset_bytes / 8).unwrap(),
            more,
            data,
        }
    }

    #[test]
    fn rebuilds_out_of_order_and_duplicated_fragments() {
        let mut d = Defragmenter::new(DefragLimits::default());
        let whole: Vec<u8> = (0..40u8).collect();
        assert!(d
            .add(ctx(1, 0), &frag(7, 32, false, &whole[32..]))
            .is_none());
        assert!(d.add(ctx(2, 0), &frag(7, 0, true, &whole[..16])).is_none());
        assert!(d.add(ctx(3, 0), &frag(7, 0, true, &whole[..16])).is_none());
        let got = d.add(ctx(4, 0), &frag(7, 16, true, &whole[16..32]));
        assert_eq!(got.as_deref(), Some(&whole[..]));
        assert_eq!(d.in_flight(), 0);
        assert_eq!(d.held_bytes(), 0);
        d.finish();
        assert_eq!(d.incomplete(), 0);
        assert!(d.take_warnings().is_empty());
    }

    #[test]
    fn separate_datagrams_do_not_mix() {
        let mut d = Defragmenter::new(DefragLimits::default());
        assert!(d.add(ctx(1, 0), &frag(1, 0, true, &[1; 8])).is_none());
        assert!(d.add(ctx(2, 0), &frag(2, 0, true, &[2; 8])).is_none());
        assert_eq!(
            d.add(ctx(3, 0), &frag(2, 8, false, &[2; 3])).unwrap(),
            vec![2; 11]
        );
        assert_eq!(
            d.add(ctx(4, 0), &frag(1, 8, false, &[1; 1])).unwrap(),
            vec![1; 9]
        );
    }

    #[test]
    fn lone_first_fragment_is_reported_with_the_filter_hint() {
        let mut d = Defragmenter::new(DefragLimits::default());
        assert!(d.add(ctx(264, 0), &frag(9, 0, true, &[0; 16])).is_none());
        d.finish();
        assert_eq!(d.incomplete(), 1);
        let w = d.take_warnings();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("frame 264"), "{w:?}");
        assert!(w[0].contains("port 5060"), "{w:?}");
        assert_eq!(d.held_bytes(), 0);
    }

    #[test]
    fn old_datagrams_expire_by_capture_time() {
        let mut d = Defragmenter::new(DefragLimits {
            max_age_secs: 30,
            ..DefragLimits::default()
        });
        assert!(d.add(ctx(1, 100), &frag(1, 0, true, &[0; 8])).is_none());
        // 31 s later the first datagram is gone; its last fragment cannot
        // complete it any more.
        assert!(d.add(ctx(2, 131), &frag(2, 0, true, &[0; 8])).is_none());
        assert_eq!(d.incomplete(), 1);
        assert!(d.add(ctx(3, 131), &frag(1, 8, false, &[0; 8])).is_none());
        assert_eq!(d.in_flight(), 2);
    }

    #[test]
    fn caps_on_datagrams_and_bytes_hold() {
        let mut d = Defragmenter::new(DefragLimits {
            max_datagrams: 3,
            max_bytes: 64,
            max_age_secs: 30,
        });
        for id in 0..10 {
            d.add(ctx(u64::from(id), 0), &frag(id, 0, true, &[0; 8]));
            assert!(d.in_flight() <= 3);
        }
        assert_eq!(d.incomplete(), 7);
        // One datagram that grows past the byte cap is dropped.
        d.add(ctx(20, 0), &frag(100, 1000, true, &[0; 8]));
        assert!(d.held_bytes() <= 64, "{}", d.held_bytes());
    }

    #[test]
    fn conflicting_fragments_drop_the_datagram_with_a_warning() {
        let mut d = Defragmenter::new(DefragLimits::default());
        assert!(d.add(ctx(1, 0), &frag(1, 8, false, &[0; 8])).is_none());
        // A second "last" fragment with another end.
        assert!(d.add(ctx(2, 0), &frag(1, 16, false, &[0; 8])).is_none());
        assert_eq!(d.in_flight(), 0);
        assert_eq!(d.held_bytes(), 0);
        assert!(d.take_warnings()[0].contains("frame 2"));
        // Unaligned middle fragment.
        assert!(d.add(ctx(3, 0), &frag(2, 0, true, &[0; 5])).is_none());
        assert_eq!(d.in_flight(), 0);
    }
}
