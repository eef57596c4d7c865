//! Row caches in front of a tier (an HBM hot-row cache, NVMe's DRAM row cache): LRU,
//! LFU and a static top-k frozen after a warm-up.

use std::collections::{BTreeSet, HashMap};

/// A row cache of `capacity` rows.
pub enum RowCache {
    Lru {
        capacity: usize,
        clock: u64,
        stamp: HashMap<u64, u64>,
        order: BTreeSet<(u64, u64)>,
    },
    Lfu {
        capacity: usize,
        clock: u64,
        meta: HashMap<u64, (u64, u64)>,
        order: BTreeSet<(u64, u64, u64)>,
    },
    StaticTopk {
        capacity: usize,
        warmup_steps: u64,
        steps: u64,
        counts: HashMap<u64, u64>,
        frozen: Option<std::collections::HashSet<u64>>,
    },
}

impl RowCache {
    pub fn lru(capacity: usize) -> Self {
        RowCache::Lru {
            capacity,
            clock: 0,
            stamp: HashMap::new(),
            order: BTreeSet::new(),
        }
    }
    pub fn lfu(capacity: usize) -> Self {
        RowCache::Lfu {
            capacity,
            clock: 0,
            meta: HashMap::new(),
            order: BTreeSet::new(),
        }
    }
    pub fn static_topk(capacity: usize, warmup_steps: u64) -> Self {
        RowCache::StaticTopk {
            capacity,
            warmup_steps,
            steps: 0,
            counts: HashMap::new(),
            frozen: None,
        }
    }

    /// Looks `row` up (and admits it on a miss). True on a hit.
    pub fn access(&mut self, row: u64) -> bool {
        match self {
            RowCache::Lru {
                capacity,
                clock,
                stamp,
                order,
            } => {
                *clock += 1;
                if *capacity == 0 {
                    return false;
                }
                if let Some(old) = stamp.insert(row, *clock) {
                    order.remove(&(old, row));
                    order.insert((*clock, row));
                    return true;
                }
                order.insert((*clock, row));
                if stamp.len() > *capacity {
                    if let Some(&(s, r)) = order.iter().next() {
                        order.remove(&(s, r));
                        stamp.remove(&r);
                    }
                }
                false
            }
            RowCache::Lfu {
                capacity,
                clock,
                meta,
                order,
            } => {
                *clock += 1;
                if *capacity == 0 {
                    return false;
                }
                if let Some(m) = meta.get_mut(&row) {
                    order.remove(&(m.0, m.1, row));
                    m.0 += 1;
                    m.1 = *clock;
                    order.insert((m.0, m.1, row));
                    return true;
                }
                if meta.len() >= *capacity {
                    if let Some(&(c, s, r)) = order.iter().next() {
                        order.remove(&(c, s, r));
                        meta.remove(&r);
                    }
                }
                meta.insert(row, (1, *clock));
                order.insert((1, *clock, row));
                false
            }
            RowCache::StaticTopk { counts, frozen, .. } => match frozen {
                Some(set) => set.contains(&row),
                None => {
                    *counts.entry(row).or_insert(0) += 1;
                    false
                }
            },
        }
    }

    /// Marks the end of a step (static top-k freezes after its warm-up).
    pub fn end_step(&mut self) {
        if let RowCache::StaticTopk {
            capacity,
            warmup_steps,
            steps,
            counts,
            frozen,
        } = self
        {
            *steps += 1;
            if frozen.is_none() && *steps >= *warmup_steps {
                let mut v: Vec<(u64, u64)> = counts.iter().map(|(&r, &c)| (c, r)).collect();
                v.sort_unstable_by(|a, b| b.cmp(a));
                *frozen = Some(v.into_iter().take(*capacity).map(|(_, r)| r).collect());
                counts.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caches_behave() {
        let mut c = RowCache::lru(2);
        assert!(!c.access(1));
        assert!(!c.access(2));
        assert!(c.access(1));
        assert!(!c.access(3)); // evicts 2
        assert!(!c.access(2));
        assert!(c.access(3));
        let mut f = RowCache::lfu(2);
        for r in [1, 1, 1, 2, 3, 1] {
            f.access(r);
        }
        assert!(f.access(1));
        let mut s = RowCache::static_topk(1, 1);
        for r in [5, 5, 6] {
            s.access(r);
        }
        s.end_step();
        assert!(s.access(5));
        assert!(!s.access(6));
    }
}
