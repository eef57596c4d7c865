//! Row ids for placements that need them (NVMe page dedupe, row caches): each request's
//! token text is seeded synthetic Zipf text (engram::synth) or a real corpus, hashed by the
//! real Engram hash. The caches themselves live with the tiers (`memwall_models::tiers`).

use memwall_engram::{EngramHasher, NgramHistory, RequestSource, SyntheticSource, SyntheticSpec};

use super::error::{text as err, ScenarioError};

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
