//! The Engram hash: compressed token ids to the row id of every head, for every n-gram
//! order ending at each token, for every Engram layer.
//!
//! `row(L, n, h, t) = (XOR_{k<n} w_t[k] * m_L[k]) mod p_L[col] + offset_L[col]`, with
//! `col = heads * (n - 2) + h` and `w_t` the look-back window (pad-filled before the sequence
//! start and behind a DEAD position). All heads of one order share the 64-bit mix and differ
//! only in their prime modulus. Everything stays below 2^63, so no wrap-around ever happens.
//!
//! Hot path: the per-layer constants (multipliers, and for each column its prime, a Barrett
//! reciprocal and its offset) are precomputed once, and hashing a chunk allocates nothing.

use super::config::{EngramLayout, MAX_NGRAM};
use super::error::{EngramError, Result};

/// Marks a DEAD position (token mask false, e.g. an image-span token): its own window is all
/// pad, and no later position's look-back reaches across it.
pub const DEAD: u32 = u32::MAX;

/// Precomputed modulus: `a mod d` as one 64x64->128 multiply, one multiply, one compare.
#[derive(Debug, Clone, Copy)]
struct FastMod {
    d: u64,
    /// floor((2^64 - 1) / d): the Barrett estimate of `a / d` is low by at most one.
    m: u64,
    offset: u64,
}

impl FastMod {
    fn new(d: u64, offset: u64) -> Self {
        FastMod {
            d,
            m: u64::MAX / d,
            offset,
        }
    }
    #[inline(always)]
    fn row(&self, a: u64) -> u64 {
        let q = ((u128::from(a) * u128::from(self.m)) >> 64) as u64;
        let mut r = a - q * self.d;
        if r >= self.d {
            r -= self.d;
        }
        r + self.offset
    }
}

#[derive(Debug, Clone)]
struct LayerConsts {
    mult: [u64; MAX_NGRAM],
    cols: Vec<FastMod>,
}

/// The look-back state of one sequence: the window of the last position processed
/// (`window[0]` = that token, `window[k]` = k back). A fresh history is all pad, which is
/// exactly what the reference sees at a sequence start. Keep one per request to continue
/// chunked prefill and decode bit-exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NgramHistory {
    window: [u64; MAX_NGRAM],
    pad: u64,
    len: usize,
}

impl NgramHistory {
    /// The state at a sequence start.
    pub fn start(hasher: &EngramHasher) -> Self {
        NgramHistory {
            window: [u64::from(hasher.pad); MAX_NGRAM],
            pad: u64::from(hasher.pad),
            len: hasher.max_n,
        }
    }

    /// The state before `start_pos`, from the compressed ids of the positions just before it,
    /// oldest first (fewer than `max_ngram_size - 1` when the chunk starts near position 0).
    pub fn from_previous(hasher: &EngramHasher, previous: &[u32]) -> Result<Self> {
        let mut h = Self::start(hasher);
        hasher.check_ids(previous)?;
        for &id in previous {
            h.push(id);
        }
        Ok(h)
    }

    /// Appends one compressed id (or `DEAD`).
    #[inline(always)]
    pub fn push(&mut self, id: u32) {
        if id == DEAD {
            self.window = [self.pad; MAX_NGRAM];
        } else {
            for k in (1..self.len).rev() {
                self.window[k] = self.window[k - 1];
            }
            self.window[0] = u64::from(id);
        }
    }

    /// The current window, most recent first (`max_ngram_size` entries).
    pub fn window(&self) -> &[u64] {
        &self.window[..self.len]
    }
}

/// Hashes compressed token ids into Engram row ids for every layer of a layout.
#[derive(Debug, Clone)]
pub struct EngramHasher {
    max_n: usize,
    heads: usize,
    columns: usize,
    pad: u32,
    vocab: u64,
    layer_ids: Vec<u32>,
    layers: Vec<LayerConsts>,
}

impl EngramHasher {
    /// Precomputes the per-layer constants.
    pub fn new(layout: &EngramLayout) -> Self {
        let layers = layout
            .layers
            .iter()
            .map(|l| {
                let mut mult = [0u64; MAX_NGRAM];
                mult[..l.multipliers.len()].copy_from_slice(&l.multipliers);
                LayerConsts {
                    mult,
                    cols: l
                        .primes
                        .iter()
                        .zip(&l.offsets)
                        .map(|(&p, &o)| FastMod::new(p, o))
                        .collect(),
                }
            })
            .collect();
        EngramHasher {
            max_n: layout.config.max_ngram_size as usize,
            heads: layout.heads(),
            columns: layout.columns(),
            pad: layout.config.pad_id,
            vocab: layout.config.compressed_vocab_size,
            layer_ids: layout.layer_ids(),
            layers,
        }
    }

    /// Row ids per token per layer.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Number of Engram layers.
    pub fn layer_count(&self) -> usize {
        self.layers.len()
    }

    /// Layer ids in layout order.
    pub fn layer_ids(&self) -> &[u32] {
        &self.layer_ids
    }

    /// Rejects compressed ids outside the vocabulary (DEAD is allowed).
    pub fn check_ids(&self, ids: &[u32]) -> Result<()> {
        match ids
            .iter()
            .find(|&&x| x != DEAD && u64::from(x) >= self.vocab)
        {
            Some(&bad) => Err(EngramError::CompressedOutOfRange {
                id: u64::from(bad),
                vocab: self.vocab,
            }),
            None => Ok(()),
        }
    }

    /// Row ids of layer index `layer` (not layer id) for a chunk of one sequence, starting
    /// from `history` (not advanced). `out` gets `ids.len() * columns()` row ids, token-major:
    /// `out[t * columns + col]`. Ids are not range-checked here (see `hash_chunk`).
    #[inline]
    pub fn hash_layer_into(
        &self,
        layer: usize,
        history: &NgramHistory,
        ids: &[u32],
        out: &mut [u64],
    ) {
        let c = self.columns;
        debug_assert!(out.len() >= ids.len() * c);
        let lc = &self.layers[layer];
        match (self.max_n, self.heads) {
            (4, 8) => hash_layer_fixed::<4, 8>(lc, history, ids, out),
            (3, 8) => hash_layer_fixed::<3, 8>(lc, history, ids, out),
            _ => hash_layer_generic(lc, self.max_n, self.heads, history, ids, out),
        }
    }

    /// Row ids of every layer for a chunk of one sequence, continuing from `history` and
    /// advancing it, so consecutive chunks (chunked prefill, then one-token decode steps)
    /// give the same rows as one call over the whole sequence.
    /// `out` is resized to `layers * ids.len() * columns`, layer-major:
    /// `out[(layer * ids.len() + t) * columns + col]`.
    pub fn hash_chunk(
        &self,
        history: &mut NgramHistory,
        ids: &[u32],
        out: &mut Vec<u64>,
    ) -> Result<()> {
        self.check_ids(ids)?;
        let per_layer = ids.len() * self.columns;
        out.resize(per_layer * self.layers.len(), 0);
        for layer in 0..self.layers.len() {
            self.hash_layer_into(
                layer,
                history,
                ids,
                &mut out[layer * per_layer..(layer + 1) * per_layer],
            );
        }
        for &id in ids {
            history.push(id);
        }
        Ok(())
    }

    /// Row ids of every layer for a whole sequence from its start.
    pub fn hash_sequence(&self, ids: &[u32]) -> Result<Vec<u64>> {
        let mut h = NgramHistory::start(self);
        let mut out = Vec::new();
        self.hash_chunk(&mut h, ids, &mut out)?;
        Ok(out)
    }

    /// The per-order mixes (`mix_2 .. mix_max`) of one window, for diagnostics and tests.
    pub fn mixes(&self, layer: usize, window: &[u64]) -> Vec<u64> {
        let lc = &self.layers[layer];
        let mut acc = window[0] * lc.mult[0];
        (1..self.max_n)
            .map(|k| {
                acc ^= window[k] * lc.mult[k];
                acc
            })
            .collect()
    }
}

#[inline(always)]
fn shift<const N: usize>(w: &mut [u64; MAX_NGRAM], id: u32, pad: u64) {
    if id == DEAD {
        *w = [pad; MAX_NGRAM];
    } else {
        for k in (1..N).rev() {
            w[k] = w[k - 1];
        }
        w[0] = u64::from(id);
    }
}

// `k` indexes the window, the multipliers and the output columns together.
#[allow(clippy::needless_range_loop)]
fn hash_layer_fixed<const N: usize, const H: usize>(
    lc: &LayerConsts,
    history: &NgramHistory,
    ids: &[u32],
    out: &mut [u64],
) {
    let c = (N - 1) * H;
    let cols = &lc.cols[..c];
    let mut w = history.window;
    for (t, &id) in ids.iter().enumerate() {
        shift::<N>(&mut w, id, history.pad);
        let row = &mut out[t * c..(t + 1) * c];
        let mut acc = w[0] * lc.mult[0];
        for k in 1..N {
            acc ^= w[k] * lc.mult[k];
            let base = (k - 1) * H;
            for h in 0..H {
                row[base + h] = cols[base + h].row(acc);
            }
        }
    }
}

// `k` indexes the window, the multipliers and the output columns together.
#[allow(clippy::needless_range_loop)]
fn hash_layer_generic(
    lc: &LayerConsts,
    max_n: usize,
    heads: usize,
    history: &NgramHistory,
    ids: &[u32],
    out: &mut [u64],
) {
    let c = (max_n - 1) * heads;
    let mut w = history.window;
    for (t, &id) in ids.iter().enumerate() {
        if id == DEAD {
            w = [history.pad; MAX_NGRAM];
        } else {
            for k in (1..max_n).rev() {
                w[k] = w[k - 1];
            }
            w[0] = u64::from(id);
        }
        let row = &mut out[t * c..(t + 1) * c];
        let mut acc = w[0] * lc.mult[0];
        for k in 1..max_n {
            acc ^= w[k] * lc.mult[k];
            let base = (k - 1) * heads;
            for h in 0..heads {
                row[base + h] = lc.cols[base + h].row(acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastmod_matches_remainder() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for d in [
            1u64,
            2,
            3,
            7,
            646_403,
            16_000_057,
            4_294_967_311,
            (1 << 48) + 21,
        ] {
            let f = FastMod::new(d, 0);
            for _ in 0..10_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let a = x >> 1; // mixes are below 2^63
                assert_eq!(f.row(a), a % d, "a={a} d={d}");
            }
            assert_eq!(f.row(i64::MAX as u64), (i64::MAX as u64) % d);
            assert_eq!(f.row(0), 0);
        }
    }

    #[test]
    fn chunks_equal_one_shot_and_generic_equals_fixed() {
        let layout = EngramLayout::builtin("v41-flash").unwrap();
        let h = EngramHasher::new(&layout);
        let ids: Vec<u32> = (0..50u32).map(|i| (i * 7919) % 99_092).collect();
        let whole = h.hash_sequence(&ids).unwrap();
        let mut hist = NgramHistory::start(&h);
        let mut got = vec![Vec::new(); 2];
        let mut buf = Vec::new();
        for chunk in [&ids[..13], &ids[13..14], &ids[14..40], &ids[40..]] {
            h.hash_chunk(&mut hist, chunk, &mut buf).unwrap();
            let per = chunk.len() * h.columns();
            for (l, g) in got.iter_mut().enumerate() {
                g.extend_from_slice(&buf[l * per..(l + 1) * per]);
            }
        }
        let per = ids.len() * h.columns();
        assert_eq!(got[0], whole[..per]);
        assert_eq!(got[1], whole[per..]);
        let mut generic = vec![0; per];
        hash_layer_generic(
            &h.layers[1],
            4,
            8,
            &NgramHistory::start(&h),
            &ids,
            &mut generic,
        );
        assert_eq!(generic, whole[per..]);
    }

    #[test]
    fn out_of_range_ids_are_errors() {
        let h = EngramHasher::new(&EngramLayout::builtin("demo").unwrap());
        let e = h.hash_sequence(&[1, 98_627]).unwrap_err().to_string();
        assert!(e.contains("98627"), "{e}");
        assert!(h.hash_sequence(&[1, DEAD, 3]).is_ok());
    }
}
