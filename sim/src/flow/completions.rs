//! Predicted flow completions: a binary min-heap of `(finish, flow)` indexed by flow, so
//! that a flow whose rate changes moves in place (no stale entries pile up).

/// Marks a flow that is not in the heap.
const ABSENT: u32 = u32::MAX;

#[derive(Clone, Debug, Default)]
pub(super) struct Completions {
    heap: Vec<(u64, u32)>,
    /// index in `heap` of each flow slot, or ABSENT
    pos: Vec<u32>,
}

impl Completions {
    /// The earliest `(finish, flow)`; ties go to the lower flow id.
    pub(super) fn peek(&self) -> Option<(u64, u32)> {
        self.heap.first().copied()
    }

    /// Insert `flow` at `finish`, or move it there.
    pub(super) fn set(&mut self, flow: u32, finish: u64) {
        if self.pos.len() <= flow as usize {
            self.pos.resize(flow as usize + 1, ABSENT);
        }
        let at = self.pos[flow as usize];
        if at == ABSENT {
            self.heap.push((finish, flow));
            let i = self.heap.len() - 1;
            self.pos[flow as usize] = i as u32;
            self.up(i);
        } else {
            let i = at as usize;
            let old = self.heap[i].0;
            self.heap[i].0 = finish;
            if finish < old {
                self.up(i);
            } else {
                self.down(i);
            }
        }
    }

    /// Take `flow` out (it ended, or stalled at rate 0).
    pub(super) fn remove(&mut self, flow: u32) {
        let Some(&at) = self.pos.get(flow as usize) else {
            return;
        };
        if at == ABSENT {
            return;
        }
        let i = at as usize;
        self.pos[flow as usize] = ABSENT;
        let last = self.heap.pop().expect("a present flow is in the heap");
        if i < self.heap.len() {
            self.heap[i] = last;
            self.pos[last.1 as usize] = i as u32;
            self.down(i);
            self.up(i);
        }
    }

    fn up(&mut self, mut i: usize) {
        let x = self.heap[i];
        while i > 0 {
            let p = (i - 1) / 2;
            if self.heap[p] <= x {
                break;
            }
            self.heap[i] = self.heap[p];
            self.pos[self.heap[i].1 as usize] = i as u32;
            i = p;
        }
        self.heap[i] = x;
        self.pos[x.1 as usize] = i as u32;
    }

    fn down(&mut self, mut i: usize) {
        let x = self.heap[i];
        let n = self.heap.len();
        loop {
            let l = 2 * i + 1;
            if l >= n {
                break;
            }
            let c = if l + 1 < n && self.heap[l + 1] < self.heap[l] {
                l + 1
            } else {
                l
            };
            if x <= self.heap[c] {
                break;
            }
            self.heap[i] = self.heap[c];
            self.pos[self.heap[i].1 as usize] = i as u32;
            i = c;
        }
        self.heap[i] = x;
        self.pos[x.1 as usize] = i as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Against a sorted list: every set/remove sequence leaves the same minimum.
        #[test]
        fn keeps_the_minimum(ops in prop::collection::vec((0u32..20, 0u64..50, any::<bool>()), 1..200)) {
            let mut c = Completions::default();
            let mut model: Vec<(u64, u32)> = Vec::new();
            for (flow, finish, remove) in ops {
                model.retain(|&(_, f)| f != flow);
                if remove {
                    c.remove(flow);
                } else {
                    c.set(flow, finish);
                    model.push((finish, flow));
                }
                model.sort_unstable();
                prop_assert_eq!(c.peek(), model.first().copied());
            }
        }
    }
}
