//! Putting exchanges' events back in capture order. Exchanges reach the
//! capture-wide rules in the order they finish, which is at most a few
//! answer timeouts after their last message; a rule that must see events
//! in time order holds them here until they are [`REORDER_NS`] older than
//! the newest exchange seen, then takes them earliest first.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// How long events wait for earlier ones to arrive (capture time).
pub const REORDER_NS: i64 = 300 * 1_000_000_000;

/// Where an event stands in the capture: (time in ns, frame, order among
/// events of one frame).
pub type At = (i64, u64, u8);

struct Entry<T> {
    at: At,
    /// Arrival order, for events of the same place.
    seq: u64,
    item: T,
}

impl<T> PartialEq for Entry<T> {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl<T> Eq for Entry<T> {}
impl<T> PartialOrd for Entry<T> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<T> Ord for Entry<T> {
    fn cmp(&self, o: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// A time-ordered waiting room.
pub struct Reorder<T> {
    heap: BinaryHeap<Reverse<Entry<T>>>,
    seq: u64,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> Reorder<T> {
    pub fn push(&mut self, at: At, item: T) {
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            at,
            seq: self.seq,
            item,
        }));
    }

    /// The earliest event, if it happened before `t` (ns).
    pub fn pop_before(&mut self, t: i64) -> Option<(At, T)> {
        if self.heap.peek().is_some_and(|e| e.0.at.0 < t) {
            self.heap.pop().map(|Reverse(e)| (e.at, e.item))
        } else {
            None
        }
    }

    /// Events waiting (tests check that it stays bounded).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.heap.len()
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
}
