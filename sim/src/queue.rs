//! The deterministic event queue.
//!
//! Events are ordered by `(time, key, seq)`: `key` is chosen by the caller (the executor
//! uses the op id) so that simultaneous events are handled in an order that does not
//! depend on when they were inserted; `seq` (insertion order) only breaks ties between
//! events with equal time and key.

use crate::time::Ps;

struct Entry<E> {
    /// `time << 64 | key`: one comparison orders by time, then key
    tk: u128,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    fn before(&self, o: &Self) -> bool {
        (self.tk, self.seq) < (o.tk, o.seq)
    }
    fn time(&self) -> u64 {
        (self.tk >> 64) as u64
    }
}

/// A min-queue of timed events with a defined order for simultaneous events.
///
/// A binary heap in a `Vec`. A pop moves the last entry to the root and leaves it there
/// unsorted (`stale_root`): the next schedule puts that entry back at the end and sifts
/// the new one down from the root, so a pop followed by a schedule (the common step of a
/// simulation) costs one sift instead of two.
pub struct EventQueue<E> {
    heap: Vec<Entry<E>>,
    /// the root holds the former last entry and has not been sifted down yet
    stale_root: bool,
    seq: u64,
    now: Ps,
    popped: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    pub fn with_capacity(n: usize) -> Self {
        EventQueue {
            heap: Vec::with_capacity(n),
            stale_root: false,
            seq: 0,
            now: Ps::ZERO,
            popped: 0,
        }
    }

    /// The time of the last event popped.
    pub fn now(&self) -> Ps {
        self.now
    }

    /// Number of events popped so far (for events/s benchmarks).
    pub fn events_processed(&self) -> u64 {
        self.popped
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Schedule `event` at `time`. Scheduling in the past is a model bug: the event is
    /// clamped to `now` in release builds and trips an assertion in debug builds.
    pub fn schedule(&mut self, time: Ps, key: u64, event: E) {
        debug_assert!(
            time >= self.now,
            "event scheduled in the past: {time:?} < {:?}",
            self.now
        );
        let time = time.max(self.now);
        self.seq += 1;
        let e = Entry {
            tk: (time.0 as u128) << 64 | key as u128,
            seq: self.seq,
            event,
        };
        if self.stale_root {
            // The root came from the end: put it back there (the heap is then valid
            // below the root) and sift the new entry down from the root.
            self.stale_root = false;
            let moved = std::mem::replace(&mut self.heap[0], e);
            self.heap.push(moved);
            self.sift_down(0);
        } else {
            self.heap.push(e);
            self.sift_up(self.heap.len() - 1);
        }
    }

    pub fn peek_time(&self) -> Option<Ps> {
        let first = self.heap.first()?;
        if !self.stale_root {
            return Some(Ps(first.time()));
        }
        // Only the root is out of place: the least entry is it or one of its children.
        let mut best = first;
        for c in self.heap[1..].iter().take(2) {
            if c.before(best) {
                best = c;
            }
        }
        Some(Ps(best.time()))
    }

    /// Pop the next event and advance `now` to its time.
    pub fn pop(&mut self) -> Option<(Ps, E)> {
        if self.stale_root {
            self.stale_root = false;
            self.sift_down(0);
        }
        if self.heap.is_empty() {
            return None;
        }
        let e = self.heap.swap_remove(0);
        self.stale_root = !self.heap.is_empty();
        self.now = Ps(e.time());
        self.popped += 1;
        Some((self.now, e.event))
    }

    /// Pop the next event only if it is at exactly `time`.
    pub fn pop_at(&mut self, time: Ps) -> Option<E> {
        if self.peek_time() == Some(time) {
            self.pop().map(|(_, e)| e)
        } else {
            None
        }
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if !self.heap[i].before(&self.heap[p]) {
                break;
            }
            self.heap.swap(i, p);
            i = p;
        }
    }

    /// Move the entry at `i` down to the bottom along the lesser children, then back up
    /// to its place (fewer comparisons than stopping early: it usually belongs low).
    fn sift_down(&mut self, mut i: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let c = if l + 1 < n && self.heap[l + 1].before(&self.heap[l]) {
                l + 1
            } else {
                l
            };
            self.heap.swap(i, c);
            i = c;
        }
        self.sift_up(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_time_then_key_then_insertion() {
        let mut q = EventQueue::new();
        q.schedule(Ps(10), 5, "b");
        q.schedule(Ps(10), 1, "a");
        q.schedule(Ps(5), 9, "first");
        q.schedule(Ps(10), 5, "c");
        let order: Vec<_> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, vec!["first", "a", "b", "c"]);
        assert_eq!(q.now(), Ps(10));
        assert_eq!(q.events_processed(), 4);
    }

    proptest::proptest! {
        /// Any interleaving of schedules, peeks and pops yields events in
        /// (time, key, insertion) order, like a sorted list.
        #[test]
        fn pops_in_time_key_insertion_order(
            ops in proptest::collection::vec((0u64..40, 0u64..4, 0u8..3), 1..300)
        ) {
            let mut q = EventQueue::new();
            let mut model: Vec<(u64, u64, u64)> = Vec::new();
            let mut seq = 0;
            for (dt, key, op) in ops {
                if op == 0 && !model.is_empty() {
                    model.sort_unstable();
                    let want = model.remove(0);
                    proptest::prop_assert_eq!(q.peek_time(), Some(Ps(want.0)));
                    let (t, e) = q.pop().unwrap();
                    proptest::prop_assert_eq!((t.0, e), (want.0, want.2));
                } else {
                    seq += 1;
                    let t = q.now().0 + dt;
                    q.schedule(Ps(t), key, seq);
                    model.push((t, key, seq));
                }
                proptest::prop_assert_eq!(q.len(), model.len());
            }
        }
    }
}
