//! Row reuse of an Engram access trace: for every row read, how many steps ago the same
//! layer last read that row (the reuse a row cache in HBM, DRAM or in front of NVMe can
//! exploit), and the same for the synthetic generator's rows under the trace's own step
//! composition (each sequence's text seeded Zipf text, as a scenario without `[text]` has
//! it, hashed by the real Engram hash). `memwall trace reuse` prints both (docs/tiers.md).
//!
//! Memory grows with the distinct rows read (one map entry each): this is an analysis of
//! a trace, not part of a replay.

use std::collections::HashMap;
use std::path::Path;

use memwall_engram::{EngramHasher, EngramLayout};

use super::error::ScenarioError;
use super::mwet::{TraceStep, TraceSteps};
use super::rows::{hash_rows, TextGen};

/// Upper bounds (inclusive, in steps) of the reuse-distance buckets after "same step".
pub const BUCKETS: [(u64, &str); 5] = [
    (0, "same step"),
    (1, "1 step"),
    (15, "2-15 steps"),
    (255, "16-255 steps"),
    (u64::MAX, ">= 256 steps"),
];

/// Reads by reuse distance: first reads, then one count per [`BUCKETS`] entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reuse {
    pub reads: u64,
    pub first: u64,
    pub by_distance: [u64; BUCKETS.len()],
    pub distinct: u64,
    /// Step index (0-based, in trace order) of each row's last read, by (layer, row).
    last: HashMap<(usize, u64), u64>,
}

impl Reuse {
    /// One layer's rows read at step `at` (steps numbered in trace order).
    pub fn add(&mut self, layer: usize, at: u64, rows: &[u64]) {
        for &r in rows {
            self.reads += 1;
            match self.last.insert((layer, r), at) {
                None => {
                    self.first += 1;
                    self.distinct += 1;
                }
                Some(prev) => {
                    let d = at - prev;
                    let b = BUCKETS.iter().position(|&(hi, _)| d <= hi).unwrap_or(0);
                    self.by_distance[b] += 1;
                }
            }
        }
    }

    /// Share of reads (0..1) of `n`.
    pub fn share(&self, n: u64) -> f64 {
        if self.reads == 0 {
            0.0
        } else {
            n as f64 / self.reads as f64
        }
    }
}

/// What the synthetic generator's text is drawn with (`[engram]` zipf_exponent, phrases).
#[derive(Debug, Clone, Copy)]
pub struct Synthetic {
    pub seed: u64,
    pub zipf: f64,
    pub phrases: u64,
}

/// The reuse of a trace's rows, and of the synthetic generator's rows for the same steps.
pub fn trace_reuse(
    path: &Path,
    layout: &EngramLayout,
    synth: Synthetic,
) -> Result<(Reuse, Reuse), ScenarioError> {
    let mut steps = TraceSteps::open(path, Some(layout), None)?;
    let hasher = EngramHasher::new(layout);
    let gen = TextGen {
        seed: synth.seed,
        vocab: layout.config.compressed_vocab_size as u32,
        phrases: synth.phrases,
        zipf: synth.zipf,
    };
    let max_n = layout.config.max_ngram_size as usize;
    let (mut real, mut fake) = (Reuse::default(), Reuse::default());
    let mut texts: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut rows = Vec::new();
    let mut at = 0u64;
    while let Some(st) = steps.next_step()? {
        for (li, r) in st.rows.iter().enumerate() {
            real.add(li, at, r);
        }
        for li in (0..st.rows.len()).filter(|&l| st.present[l]) {
            rows.clear();
            synthetic_rows(st, &gen, &hasher, (max_n, li), &mut texts, &mut rows)?;
            fake.add(li, at, &rows);
        }
        at += 1;
    }
    Ok((real, fake))
}

/// Layer `li`'s rows of step `st` were each sequence's text the synthetic generator's.
fn synthetic_rows(
    st: &TraceStep,
    gen: &TextGen,
    hasher: &EngramHasher,
    (max_n, li): (usize, usize),
    texts: &mut HashMap<u32, Vec<u32>>,
    out: &mut Vec<u64>,
) -> Result<(), ScenarioError> {
    for (w, &seq) in st.plan.work.iter().zip(&st.seqs) {
        let need = (w.ctx + w.new) as usize;
        let t = texts.entry(seq).or_default();
        if t.len() < need {
            // The text of a sequence is a prefix-stable draw: regenerate it longer.
            *t = gen.tokens(u64::from(seq), need.next_power_of_two())?;
        }
        hash_rows(hasher, max_n, li, t, w.ctx as usize, w.new as usize, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The synthetic text of a sequence drawn longer starts with the shorter draw (so
    /// regenerating it longer does not change rows already read).
    #[test]
    fn synthetic_text_is_prefix_stable() {
        let g = TextGen {
            seed: 3,
            vocab: 1000,
            phrases: 100,
            zipf: 1.0,
        };
        let short = g.tokens(9, 37).unwrap();
        let long = g.tokens(9, 512).unwrap();
        assert_eq!(short[..], long[..37]);
    }

    #[test]
    fn distances_fall_in_their_buckets() {
        let mut r = Reuse::default();
        r.add(0, 0, &[5, 5, 6]);
        r.add(1, 0, &[5]);
        r.add(0, 1, &[5]);
        r.add(0, 5, &[5]);
        r.add(0, 17, &[6]);
        r.add(0, 300, &[6]);
        assert_eq!(r.reads, 8);
        assert_eq!((r.first, r.distinct), (3, 3));
        assert_eq!(r.by_distance, [1, 1, 1, 1, 1]);
        assert!((r.share(r.first) - 3.0 / 8.0).abs() < 1e-12);
    }
}
