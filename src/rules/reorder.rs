//! Putting exchanges' events back in capture order. Exchanges reach the
//! capture-wide rules in the order they finish, which is at most a few
//! answer timeouts after their last message; a rule that must see events
//! in time order holds them here until they are [`REORDER_NS`] older than
//! the newest exchange seen, then takes them earliest first.
//!
//! Events arrive nearly in time order, so they wait in buckets of one
//! second of capture time, each sorted once when its turn comes, rather
//! than in one binary heap over all of them: a heap pays a dozen
//! cache-missing comparisons per event over several minutes of events;
//! a bucket is sorted while it is in cache, and pushing mostly appends to
//! the newest bucket.

use std::collections::VecDeque;

/// How long events wait for earlier ones to arrive (capture time).
pub const REORDER_NS: i64 = 300 * 1_000_000_000;

/// Where an event stands in the capture: (time in ns, frame, order among
/// events of one frame).
pub type At = (i64, u64, u8);

/// The capture time one bucket covers.
const BUCKET_NS: i64 = 1_000_000_000;

/// Emptied buckets' vectors kept for the next ones.
const SPARE_BUCKETS: usize = 8;

/// A waiting event's place in capture order and its slot; 24 bytes, so
/// that sorting a bucket moves little (the event stays in its slot).
#[derive(Clone, Copy)]
struct Key {
    time: i64,
    frame: u64,
    /// Order among the events of one frame.
    order: u8,
    slot: u32,
}

impl Key {
    fn at(&self) -> At {
        (self.time, self.frame, self.order)
    }
}

/// The events of one second of capture time.
struct Bucket {
    /// `time.div_euclid(BUCKET_NS)` of every event in it.
    second: i64,
    /// Once `sorted`, latest first, so that the earliest pops off the end;
    /// events of the same place in arrival order (the earlier one nearer
    /// the end).
    keys: Vec<Key>,
    sorted: bool,
}

/// A time-ordered waiting room.
pub struct Reorder<T> {
    /// Ordered by `second`, each second at most once; only seconds with
    /// waiting events (a capture with an hour's gap keeps no empty ones).
    buckets: VecDeque<Bucket>,
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    spare: Vec<Vec<Key>>,
    len: usize,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            buckets: VecDeque::new(),
            slots: Vec::new(),
            free: Vec::new(),
            spare: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Reorder<T> {
    pub fn push(&mut self, at: At, item: T) {
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize] = Some(item);
                i
            }
            None => {
                // More than 2^32 events waiting at once cannot fit in
                // memory anyway; the slot index cannot overflow first.
                self.slots.push(Some(item));
                (self.slots.len() - 1) as u32
            }
        };
        self.len += 1;
        let key = Key {
            time: at.0,
            frame: at.1,
            order: at.2,
            slot,
        };
        let second = at.0.div_euclid(BUCKET_NS);
        // Mostly the newest bucket or one of the last few; an event older
        // than every waiting one (a long exchange) walks further.
        let i = match self.buckets.iter().rposition(|b| b.second <= second) {
            Some(i) if self.buckets[i].second == second => i,
            Some(i) => self.new_bucket(i + 1, second),
            None => self.new_bucket(0, second),
        };
        let bucket = &mut self.buckets[i];
        if bucket.sorted {
            // A bucket already being taken from stays sorted: this event
            // goes before (comes out after) those of its place.
            let at = bucket.keys.partition_point(|k| k.at() > key.at());
            bucket.keys.insert(at, key);
        } else {
            bucket.keys.push(key);
        }
    }

    fn new_bucket(&mut self, i: usize, second: i64) -> usize {
        let keys = self.spare.pop().unwrap_or_default();
        self.buckets.insert(
            i,
            Bucket {
                second,
                keys,
                sorted: false,
            },
        );
        i
    }

    /// The earliest event, if it happened before `t` (ns).
    pub fn pop_before(&mut self, t: i64) -> Option<(At, T)> {
        loop {
            let front = self.buckets.front_mut()?;
            // Every event of this bucket and the later ones is at or after
            // the bucket's start.
            if front.second.saturating_mul(BUCKET_NS) >= t {
                return None;
            }
            if !front.sorted {
                // Stable, then reversed: of events at the same place, the
                // first to arrive ends up last, and pops first.
                front.keys.sort_by_key(Key::at);
                front.keys.reverse();
                front.sorted = true;
            }
            match front.keys.last() {
                Some(k) if k.time >= t => return None,
                Some(_) => {
                    let k = front.keys.pop()?;
                    let item = self.slots.get_mut(k.slot as usize)?.take()?;
                    self.free.push(k.slot);
                    self.len -= 1;
                    return Some((k.at(), item));
                }
                None => {
                    let emptied = self.buckets.pop_front()?;
                    if self.spare.len() < SPARE_BUCKETS {
                        self.spare.push(emptied.keys);
                    }
                }
            }
        }
    }

    /// Events waiting (tests check that it stays bounded).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_come_out_in_time_then_arrival_order() {
        let mut r = Reorder::default();
        r.push((30, 3, 0), "c");
        r.push((10, 1, 1), "a-answer");
        r.push((10, 1, 0), "a-challenge");
        r.push((20, 2, 0), "b1");
        r.push((20, 2, 0), "b2");
        assert_eq!(r.len(), 5);
        // Only what happened before 25.
        let mut out = Vec::new();
        while let Some((_, x)) = r.pop_before(25) {
            out.push(x);
        }
        assert_eq!(out, ["a-challenge", "a-answer", "b1", "b2"]);
        assert_eq!(r.pop_before(30), None, "30 is not before 30");
        assert_eq!(r.pop_before(i64::MAX), Some(((30, 3, 0), "c")));
        assert_eq!(r.len(), 0);
    }

    /// The order a binary heap over every waiting event gives: the
    /// earliest (time, frame, order, arrival) first.
    fn earliest_first(waiting: &mut Vec<(At, u64, u32)>, t: i64) -> Option<(At, u32)> {
        let i = (0..waiting.len())
            .filter(|&i| waiting[i].0 .0 < t)
            .min_by_key(|&i| (waiting[i].0, waiting[i].1))?;
        let (at, _, id) = waiting.swap_remove(i);
        Some((at, id))
    }

    proptest::proptest! {
        /// Late events (older than some already taken), seconds far apart
        /// (hours of gap), negative times and ties all come out as from
        /// one sorted heap.
        #[test]
        fn buckets_give_the_order_of_one_heap(
            steps in proptest::collection::vec(
                (0u8..4, -3_000_000_000_000i64..3_000_000_000_000, 0u64..4, 0u8..2, 0i64..5),
                1..400,
            )
        ) {
            let mut r = Reorder::default();
            let mut model = Vec::new();
            let mut seq = 0u64;
            let mut now = i64::MIN;
            for (id, (op, time, frame, order, near)) in steps.into_iter().enumerate() {
                // Mostly on a quarter-second grid around the newest time
                // (ties, late events), some anywhere.
                let time = if near > 0 && now > i64::MIN {
                    now + (time.rem_euclid(40) - 30) * 250_000_000
                } else {
                    time
                };
                if op == 0 {
                    now = now.max(time);
                    let t = now.saturating_sub(near * 1_000_000_000);
                    loop {
                        let expected = earliest_first(&mut model, t);
                        let got = r.pop_before(t);
                        proptest::prop_assert_eq!(got, expected);
                        if expected.is_none() {
                            break;
                        }
                    }
                } else {
                    seq += 1;
                    r.push((time, frame, order), id as u32);
                    model.push(((time, frame, order), seq, id as u32));
                    now = now.max(time);
                }
                proptest::prop_assert_eq!(r.len(), model.len());
            }
            while let Some(expected) = earliest_first(&mut model, i64::MAX) {
                proptest::prop_assert_eq!(r.pop_before(i64::MAX), Some(expected));
            }
            proptest::prop_assert_eq!(r.pop_before(i64::MAX), None);
            proptest::prop_assert_eq!(r.len(), 0);
        }
    }

    #[test]
    fn a_late_event_comes_out_before_those_waiting() {
        let mut r = Reorder::default();
        let s = 1_000_000_000;
        for i in 0..5 {
            r.push((100 * s + i, 10 + i as u64, 0), i);
        }
        // Half of the first second is taken; the bucket stays sorted.
        assert_eq!(r.pop_before(100 * s + 2).map(|x| x.1), Some(0));
        assert_eq!(r.pop_before(100 * s + 2).map(|x| x.1), Some(1));
        r.push((100 * s + 3, 12, 1), 7);
        r.push((40 * s, 1, 0), 8);
        assert_eq!(r.pop_before(100 * s + 2).map(|x| x.1), Some(8));
        assert_eq!(r.pop_before(100 * s + 2), None);
        let rest: Vec<_> = std::iter::from_fn(|| r.pop_before(i64::MAX).map(|x| x.1)).collect();
        // Same time as 3, but an earlier frame.
        assert_eq!(rest, [2, 7, 3, 4]);
    }
}
