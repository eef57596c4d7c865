//! Row ids for placements that need them (NVMe page dedupe, row caches): each request's
//! token text is seeded synthetic Zipf text (engram::synth) hashed by the real Engram
//! hash; and the caches: LRU, LFU and a static top-k by frequency.

use std::collections::{BTreeSet, HashMap};

use memwall_engram::{EngramHasher, NgramHistory, RequestSource, SyntheticSource, SyntheticSpec};

use super::scenario::{err, ScenarioError};

/// Where a request's token text comes from.
pub enum RequestText {
    Synthetic(TextGen),
    /// Seeded slices of a real tokenized corpus.
    Corpus {
        corpus: super::corpus::Corpus,
        seed: u64,
    },
}

impl RequestText {
    pub fn tokens(&self, id: u64, len: usize) -> Result<Vec<u32>, ScenarioError> {
        match self {
            RequestText::Synthetic(g) => g.tokens(id, len),
            RequestText::Corpus { corpus, seed } => Ok(corpus.slice(*seed, id, len.max(1))),
        }
    }
}

/// Seeded synthetic text per request.
pub struct TextGen {
    pub seed: u64,
    pub vocab: u32,
    pub phrases: u64,
    pub zipf: f64,
}

impl TextGen {
    pub fn tokens(&self, id: u64, len: usize) -> Result<Vec<u32>, ScenarioError> {
        let mut src = SyntheticSource::new(SyntheticSpec {
            seed: self.seed ^ id.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            requests: 1,
            tokens_per_request: len.max(1),
            phrases: self.phrases,
            zipf_exponent: self.zipf,
            max_phrase_len: 6,
            vocab: self.vocab,
        })
        .map_err(|e| err(format!("synthetic text: {e}")))?;
        let mut t = Vec::new();
        src.next_request(&mut t)
            .map_err(|e| err(format!("synthetic text: {e}")))?;
        Ok(t)
    }
}

/// Row ids of `layer` (layout index) for tokens `[ctx, ctx+new)` of `tokens`, appended.
pub fn hash_rows(
    hasher: &EngramHasher,
    max_n: usize,
    layer: usize,
    tokens: &[u32],
    ctx: usize,
    new: usize,
    out: &mut Vec<u64>,
) -> Result<(), ScenarioError> {
    let lo = ctx.saturating_sub(max_n.saturating_sub(1));
    let hist = NgramHistory::from_previous(hasher, &tokens[lo..ctx])
        .map_err(|e| err(format!("engram hash: {e}")))?;
    let n0 = out.len();
    out.resize(n0 + new * hasher.columns(), 0);
    hasher.hash_layer_into(layer, &hist, &tokens[ctx..ctx + new], &mut out[n0..]);
    Ok(())
}

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
