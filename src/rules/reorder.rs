//! Putting exchanges' events back in capture order. Exchanges reach the
//! capture-wide rules in the order they finish, which is at most a few
//! answer timeouts after their last message; a rule that must see events
//! in time order holds them here until they are [`REORDER_NS`] older than
//! the newest exchange seen, then takes them earliest first.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// How long events wait for earlier ones to arrive (capture time).
pub const REORDER_NS: i64 = 300 * 1_000_000_000;

/// Where an event stands in the capture: (time in ns, frame, order among
/// events of one frame).
pub type At = (i64, u64, u8);

/// A waiting event's place in the heap; the event itself stays in a slot,
/// so that reordering moves 32 bytes rather than the whole event.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    time: i64,
    frame: u64,
    /// (order among the events of one frame, arrival order): events of
    /// the same place come out in the order they came in.
    order: u8,
    seq: u64,
    slot: u32,
}

/// A time-ordered waiting room.
pub struct Reorder<T> {
    heap: BinaryHeap<Reverse<Key>>,
    slots: Vec<Option<T>>,
    free: Vec<u32>,
    seq: u64,
}

impl<T> Default for Reorder<T> {
    fn default() -> Self {
        Reorder {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            seq: 0,
        }
    }
}

impl<T> Reorder<T> {
    pub fn push(&mut self, at: At, item: T) {
        self.seq += 1;
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
        self.heap.push(Reverse(Key {
            time: at.0,
            frame: at.1,
            order: at.2,
            seq: self.seq,
            slot,
        }));
    }

    /// The earliest event, if it happened before `t` (ns).
    pub fn pop_before(&mut self, t: i64) -> Option<(At, T)> {
        if self.heap.peek().is_none_or(|k| k.0.time >= t) {
            return None;
        }
        let Reverse(k) = self.heap.pop()?;
        let item = self.slots.get_mut(k.slot as usize)?.take()?;
        self.free.push(k.slot);
        Some(((k.time, k.frame, k.order), item))
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
