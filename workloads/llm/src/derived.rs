//! Quantities derived from a [`ModelConfig`]: parameters, FLOPs, bytes. Pure arithmetic.
//!
//! Conventions:
//! - A matmul of an m-vector by an m x n matrix is 2mn FLOPs; SwiGLU FFNs have three
//!   hidden x ffn matrices. Norms, softmax, activations and RoPE are not counted.
//! - Forward only; training backward = 2 x forward (see [`ModelConfig::training_flops`]).
//! - "Active" parameters exclude the input embedding table (a lookup, no FLOPs) and
//!   count only `experts_per_token` routed experts plus the shared experts; this matches
//!   the published active counts (V3 37B, the mHC paper's Table 5).
//! - MTP layers are excluded everywhere.

use serde::Serialize;

use super::config::{Attention, CompressedAttention, ModelConfig};
use super::mhc;
use super::ModelError;

/// Whether a layer's FFN is dense or a mixture of experts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum LayerKind {
    DenseFfn,
    Moe,
}

/// Which tokens a forward pass processes, for attention cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Pass {
    /// A causal prefill (or training sequence) of `tokens` tokens from an empty cache:
    /// token t attends to tokens 1..=t. Quantities are totals over all tokens.
    Prefill { tokens: u64 },
    /// One new token with `context_len` tokens already cached: it attends to
    /// `context_len + 1` tokens. Quantities are for that one token.
    Decode { context_len: u64 },
}

impl Pass {
    fn tokens(self) -> u64 {
        match self {
            Pass::Prefill { tokens } => tokens,
            Pass::Decode { .. } => 1,
        }
    }
}

/// Forward FLOPs of one layer for a [`Pass`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LayerFlops {
    /// Q/KV/O projections (dense matmuls over the attention weights).
    pub attention_projection_flops: u64,
    /// Scores and weighted values (QK^T and AV).
    pub attention_core_flops: u64,
    /// V4 CSA lightning indexer scores over the compressed entries.
    pub indexer_flops: u64,
    /// Dense FFN, or active routed + shared experts plus the router.
    pub mlp_flops: u64,
    /// mHC coefficient GEMM, Sinkhorn and stream mixing, both sites.
    pub mhc_flops: u64,
}

impl LayerFlops {
    pub fn total_flops(&self) -> u64 {
        self.attention_projection_flops
            .saturating_add(self.attention_core_flops)
            .saturating_add(self.indexer_flops)
            .saturating_add(self.mlp_flops)
            .saturating_add(self.mhc_flops)
    }
}

/// Shape of one step for HBM accounting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StepShape {
    /// Sequences in the batch.
    pub sequences: u64,
    /// New tokens per sequence this step (decode: 1; prefill: the prompt length).
    pub new_tokens_per_sequence: u64,
    /// Tokens already in each sequence's KV cache before the step.
    pub context_len: u64,
}

/// HBM bytes one layer moves in one step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HbmBytes {
    /// Weights read once per step: all non-expert weights, plus the routed experts that at
    /// least one token selects (expected value under uniform routing).
    pub weight_bytes: u64,
    /// Residual-path activation traffic (layer input/outputs, residual merge or mHC
    /// streams, both sites); the internal I/O of attention and FFN kernels is excluded.
    pub residual_bytes: u64,
    /// KV cache read by attention.
    pub kv_read_bytes: u64,
    /// KV cache written for the new tokens.
    pub kv_write_bytes: u64,
}

impl HbmBytes {
    pub fn total_bytes(&self) -> u64 {
        self.weight_bytes
            .saturating_add(self.residual_bytes)
            .saturating_add(self.kv_read_bytes)
            .saturating_add(self.kv_write_bytes)
    }
}

/// Expected number of distinct routed experts selected by `tokens` tokens choosing `k`
/// of `e` uniformly: e * (1 - (1 - k/e)^tokens), rounded up. Real routing is skewed;
/// this is the balanced case (V3's "absolutely balanced" profile).
pub fn expected_distinct_experts(e: u64, k: u64, tokens: u64) -> u64 {
    if e == 0 || k == 0 || tokens == 0 {
        return 0;
    }
    let miss = (1.0 - (k.min(e) as f64) / (e as f64)).powf(tokens as f64);
    ((e as f64) * (1.0 - miss)).ceil().min(e as f64) as u64
}

pub(crate) fn fit(x: u128, what: &'static str) -> Result<u64, ModelError> {
    u64::try_from(x).map_err(|_| ModelError::Overflow(what))
}

/// sum_{t=1..n} t
fn sum_t(n: u128) -> u128 {
    n * (n + 1) / 2
}

/// sum_{t=1..n} min(t, w)
fn sum_min(n: u128, w: u128) -> u128 {
    if n <= w {
        sum_t(n)
    } else {
        sum_t(w) + (n - w) * w
    }
}

/// sum_{t=1..n} floor(t / m), m >= 1
fn sum_floor(n: u128, m: u128) -> u128 {
    let q = n / m;
    let rem = n % m;
    // full blocks: values 0..q-1 each m times (t = 1..q*m-1 plus t=q*m gives q)
    // direct form: sum_{j=1}^{q-1} j*m + q*(rem+1)
    m * (q.saturating_sub(1)) * q / 2 + q * (rem + 1)
}

/// sum_{t=1..n} min(k, floor(t / m))
fn sum_min_floor(n: u128, m: u128, k: u128) -> u128 {
    if k == 0 {
        return 0;
    }
    let reach = k * m; // floor(t/m) >= k from t = k*m on
    if n < reach {
        sum_floor(n, m)
    } else {
        sum_floor(reach - 1, m) + (n - reach + 1) * k
    }
}

impl ModelConfig {
    fn check_layer(&self, layer: u32) -> Result<(), ModelError> {
        if layer >= self.num_layers {
            return Err(ModelError::LayerOutOfRange {
                layer,
                num_layers: self.num_layers,
            });
        }
        Ok(())
    }

    /// Dense FFN or MoE for `layer` (0-based).
    pub fn layer_kind(&self, layer: u32) -> Result<LayerKind, ModelError> {
        self.check_layer(layer)?;
        Ok(
            if layer < self.mlp.num_dense_layers || self.mlp.moe.is_none() {
                LayerKind::DenseFfn
            } else {
                LayerKind::Moe
            },
        )
    }

    fn compressed(&self) -> Option<&CompressedAttention> {
        match &self.attention {
            Attention::Compressed(a) => Some(a),
            _ => None,
        }
    }

    /// Attention weights of one layer (compressor and indexer weights of V4 excluded: not
    /// in the published config, a few percent of attention).
    pub fn attention_params(&self) -> u64 {
        let c = self.hidden_size as u128;
        let p: u128 = match &self.attention {
            Attention::Mla(a) => {
                let (h, qk) = (
                    a.num_heads as u128,
                    (a.qk_nope_head_dim + a.qk_rope_head_dim) as u128,
                );
                let q = if a.q_lora_rank == 0 {
                    c * h * qk
                } else {
                    c * a.q_lora_rank as u128 + a.q_lora_rank as u128 * h * qk
                };
                let kv_a = c * (a.kv_lora_rank + a.qk_rope_head_dim) as u128;
                let kv_b = a.kv_lora_rank as u128 * h * (a.qk_nope_head_dim + a.v_head_dim) as u128;
                let o = h * a.v_head_dim as u128 * c;
                q + kv_a + kv_b + o
            }
            Attention::Gqa(a) => {
                let (h, kv, d) = (
                    a.num_heads as u128,
                    a.num_kv_heads as u128,
                    a.head_dim as u128,
                );
                c * h * d * 2 + c * kv * d * 2
            }
            Attention::Compressed(a) => {
                let hd = (a.num_heads * a.head_dim) as u128;
                let q = c * a.q_lora_rank as u128 + a.q_lora_rank as u128 * hd;
                let kv = c * a.head_dim as u128;
                let o_a = hd * a.o_lora_rank as u128; // o_groups blocks of (hd/g) x o_lora
                let o_b = (a.o_groups * a.o_lora_rank) as u128 * c;
                q + kv + o_a + o_b
            }
        };
        p.min(u64::MAX as u128) as u64
    }

    /// (all, active per token) FFN parameters of `layer`, router included.
    pub fn mlp_params(&self, layer: u32) -> Result<(u64, u64), ModelError> {
        let c = self.hidden_size as u128;
        let r = match (self.layer_kind(layer)?, &self.mlp.moe) {
            (LayerKind::Moe, Some(m)) => {
                let expert = 3 * c * m.expert_ffn_size as u128;
                let router = c * m.num_routed_experts as u128;
                let all = expert * (m.num_routed_experts + m.num_shared_experts) as u128 + router;
                let active = expert * (m.experts_per_token + m.num_shared_experts) as u128 + router;
                (all, active)
            }
            _ => {
                let d = 3 * c * self.mlp.dense_ffn_size as u128;
                (d, d)
            }
        };
        Ok((fit(r.0, "mlp params")?, fit(r.1, "mlp params")?))
    }

    /// mHC parameters of one layer (two sites, phi + bias + 3 scales each), 0 without mHC.
    pub fn mhc_params(&self) -> u64 {
        self.mhc
            .as_ref()
            .map_or(0, |h| 2 * mhc::site_params(self.hidden_size, h.n))
    }

    /// Input embedding table.
    pub fn embedding_params(&self) -> u64 {
        self.vocab_size * self.hidden_size
    }

    /// Output head (0 extra when tied to the embedding; it still costs FLOPs).
    pub fn lm_head_params(&self) -> u64 {
        if self.tie_word_embeddings {
            0
        } else {
            self.vocab_size * self.hidden_size
        }
    }

    /// All parameters of the backbone (MTP excluded).
    pub fn total_params(&self) -> Result<u64, ModelError> {
        let mut t = self.embedding_params() as u128 + self.lm_head_params() as u128;
        for l in 0..self.num_layers {
            t += self.attention_params() as u128
                + self.mlp_params(l)?.0 as u128
                + self.mhc_params() as u128;
        }
        fit(t, "total params")
    }

    /// Parameters touched per token: all but the input embedding and unselected experts.
    pub fn active_params_per_token(&self) -> Result<u64, ModelError> {
        let mut t = self.vocab_size as u128 * self.hidden_size as u128; // the head (tied or not)
        for l in 0..self.num_layers {
            t += self.attention_params() as u128
                + self.mlp_params(l)?.1 as u128
                + self.mhc_params() as u128;
        }
        fit(t, "active params")
    }

    /// Bytes of one routed expert at the expert dtype.
    pub fn routed_expert_bytes(&self) -> u64 {
        match &self.mlp.moe {
            Some(m) => self
                .expert_weight_dtype
                .unwrap_or(self.weight_dtype)
                .bytes_for(3 * self.hidden_size * m.expert_ffn_size),
            None => 0,
        }
    }

    /// (non-routed-expert weight bytes, number of routed experts) of `layer`. mHC weights
    /// are FP32 (the V4 checkpoint's `hc_*_fn`).
    pub fn layer_weight_bytes(&self, layer: u32) -> Result<(u64, u64), ModelError> {
        let c = self.hidden_size;
        let wd = self.weight_dtype;
        let mut dense = wd.bytes_for(self.attention_params()) as u128;
        dense += super::config::Dtype::Fp32.bytes_for(self.mhc_params()) as u128;
        let routed = match (self.layer_kind(layer)?, &self.mlp.moe) {
            (LayerKind::Moe, Some(m)) => {
                dense += wd.bytes_for(3 * c * m.expert_ffn_size * m.num_shared_experts) as u128;
                dense += super::config::Dtype::Bf16.bytes_for(c * m.num_routed_experts) as u128;
                m.num_routed_experts
            }
            _ => {
                dense += wd.bytes_for(3 * c * self.mlp.dense_ffn_size) as u128;
                0
            }
        };
        Ok((fit(dense, "layer weight bytes")?, routed))
    }

    /// All weight bytes (embedding and head at `weight_dtype`; real checkpoints often keep
    /// them in BF16, a small difference).
    pub fn weight_bytes_total(&self) -> Result<u64, ModelError> {
        let mut t = self
            .weight_dtype
            .bytes_for(self.embedding_params() + self.lm_head_params()) as u128;
        for l in 0..self.num_layers {
            let (dense, routed) = self.layer_weight_bytes(l)?;
            t += dense as u128 + routed as u128 * self.routed_expert_bytes() as u128;
        }
        fit(t, "weight bytes")
    }

    /// KV cache bytes per cached token for `layer`, amortised over compression (V4: one
    /// entry per m tokens, plus one indexer key per m tokens on CSA layers). V4's sliding
    /// window state is per sequence: see [`ModelConfig::swa_state_bytes_per_sequence`].
    pub fn kv_cache_bytes_per_token(&self, layer: u32) -> Result<u64, ModelError> {
        self.check_layer(layer)?;
        Ok(match &self.attention {
            Attention::Mla(a) => self
                .kv_cache_dtype
                .bytes_for(a.kv_lora_rank + a.qk_rope_head_dim),
            Attention::Gqa(a) => self
                .kv_cache_dtype
                .bytes_for(2 * a.num_kv_heads * a.head_dim),
            Attention::Compressed(a) => {
                let m = a.compress_ratios[layer as usize];
                if m == 0 {
                    0
                } else if m >= a.hca_min_ratio {
                    a.kv_entry_bytes.div_ceil(m)
                } else {
                    (a.kv_entry_bytes + a.index_key_bytes).div_ceil(m)
                }
            }
        })
    }

    /// V4 only: bytes of the sliding-window ring of one sequence, all layers.
    pub fn swa_state_bytes_per_sequence(&self) -> u64 {
        self.compressed()
            .map_or(0, |a| a.window * a.kv_entry_bytes * self.num_layers as u64)
    }

    /// Attention keys (and the indexer's scanned entries) for one query that sees `ctx`
    /// tokens; summed over a prefill. Returns (core FLOPs, indexer FLOPs).
    fn attention_core(&self, layer: u32, pass: Pass) -> Result<(u128, u128), ModelError> {
        // per-query cost = a * keys(ctx); sum over queries.
        let (keys_sum, scanned_sum, per_key, per_scanned): (u128, u128, u128, u128);
        match &self.attention {
            Attention::Mla(a) => {
                let h = a.num_heads as u128;
                per_key = match pass {
                    // training / prefill form: decompressed K and V
                    Pass::Prefill { .. } => {
                        2 * h * (a.qk_nope_head_dim + a.qk_rope_head_dim + a.v_head_dim) as u128
                    }
                    // decode with absorbed up-projections: attend in the latent space
                    Pass::Decode { .. } => {
                        2 * h * (2 * a.kv_lora_rank + a.qk_rope_head_dim) as u128
                    }
                };
                keys_sum = match pass {
                    Pass::Prefill { tokens } => sum_t(tokens as u128),
                    Pass::Decode { context_len } => context_len as u128 + 1,
                };
                scanned_sum = 0;
                per_scanned = 0;
            }
            Attention::Gqa(a) => {
                per_key = 2 * (a.num_heads * a.head_dim) as u128 * 2;
                keys_sum = match pass {
                    Pass::Prefill { tokens } => sum_t(tokens as u128),
                    Pass::Decode { context_len } => context_len as u128 + 1,
                };
                scanned_sum = 0;
                per_scanned = 0;
            }
            Attention::Compressed(a) => {
                let m = a.compress_ratios[layer as usize] as u128;
                let w = a.window as u128;
                let k = a.index_topk as u128;
                per_key = 2 * (a.num_heads * a.head_dim) as u128 * 2;
                let (swa, comp, scan) = match pass {
                    Pass::Prefill { tokens } => {
                        let n = tokens as u128;
                        let swa = sum_min(n, w);
                        if m == 0 {
                            (swa, 0, 0)
                        } else if m >= a.hca_min_ratio as u128 {
                            (swa, sum_floor(n, m), 0)
                        } else {
                            (swa, sum_min_floor(n, m, k), sum_floor(n, m))
                        }
                    }
                    Pass::Decode { context_len } => {
                        let ctx = context_len as u128 + 1;
                        let swa = ctx.min(w);
                        if m == 0 {
                            (swa, 0, 0)
                        } else if m >= a.hca_min_ratio as u128 {
                            (swa, ctx / m, 0)
                        } else {
                            (swa, (ctx / m).min(k), ctx / m)
                        }
                    }
                };
                keys_sum = swa + comp;
                scanned_sum = scan;
                per_scanned = 2 * (a.index_num_heads * a.index_head_dim) as u128;
            }
        }
        Ok((keys_sum * per_key, scanned_sum * per_scanned))
    }

    /// Forward FLOPs of `layer` for `pass` (totals over the pass's tokens).
    pub fn layer_forward_flops(&self, layer: u32, pass: Pass) -> Result<LayerFlops, ModelError> {
        self.check_layer(layer)?;
        let t = pass.tokens() as u128;
        let (core, indexer) = self.attention_core(layer, pass)?;
        let (_, mlp_active) = self.mlp_params(layer)?;
        let mhc_per_token = self.mhc.as_ref().map_or(0, |h| {
            2 * mhc::site_forward_flops(self.hidden_size, h.n, h.sinkhorn_iters) as u128
        });
        Ok(LayerFlops {
            attention_projection_flops: fit(
                2 * self.attention_params() as u128 * t,
                "attention flops",
            )?,
            attention_core_flops: fit(core, "attention flops")?,
            indexer_flops: fit(indexer, "indexer flops")?,
            mlp_flops: fit(2 * mlp_active as u128 * t, "mlp flops")?,
            mhc_flops: fit(mhc_per_token * t, "mhc flops")?,
        })
    }

    /// Forward FLOPs of the whole backbone plus the output head for `pass`.
    pub fn forward_flops(&self, pass: Pass) -> Result<u64, ModelError> {
        let mut s = 2 * self.vocab_size as u128 * self.hidden_size as u128 * pass.tokens() as u128;
        for l in 0..self.num_layers {
            s += self.layer_forward_flops(l, pass)?.total_flops() as u128;
        }
        fit(s, "forward flops")
    }

    /// Training FLOPs (forward + backward, backward = 2 x forward) for a sequence.
    pub fn training_flops(&self, tokens: u64) -> Result<u64, ModelError> {
        let f = self.forward_flops(Pass::Prefill { tokens })? as u128;
        fit(3 * f, "training flops")
    }

    /// Bytes of one pipeline P2P message (activation forward or gradient backward) for a
    /// micro-batch of `tokens`: tokens x n x C at the activation dtype (n = 1 without mHC).
    pub fn pipeline_message_bytes(&self, tokens: u64) -> Result<u64, ModelError> {
        mhc::pipeline_message_bytes(
            tokens,
            self.hidden_size,
            self.residual_streams(),
            self.activation_dtype,
        )
    }

    /// HBM bytes `layer` moves in one step of shape `s`.
    pub fn layer_hbm_bytes(&self, layer: u32, s: &StepShape) -> Result<HbmBytes, ModelError> {
        let tokens = s
            .sequences
            .checked_mul(s.new_tokens_per_sequence)
            .ok_or(ModelError::Overflow("step tokens"))?;
        let (dense, routed) = self.layer_weight_bytes(layer)?;
        let touched = match &self.mlp.moe {
            Some(m) if routed > 0 => {
                expected_distinct_experts(m.num_routed_experts, m.experts_per_token, tokens)
            }
            _ => 0,
        };
        let weight = dense as u128 + touched as u128 * self.routed_expert_bytes() as u128;
        let act = self.activation_dtype;
        let per_token_residual = match &self.mhc {
            Some(h) => 2 * mhc::fused_residual_io(self.hidden_size, h.n, act).total_bytes(),
            None => 2 * mhc::plain_residual_io_bytes(self.hidden_size, act),
        };
        let residual = per_token_residual as u128 * tokens as u128;
        let seq = s.sequences as u128;
        let new = s.new_tokens_per_sequence as u128;
        let ctx_after = s.context_len as u128 + new;
        let kv_tok = self.kv_cache_bytes_per_token(layer)? as u128;
        let kv_read = match &self.attention {
            Attention::Compressed(a) => {
                let m = a.compress_ratios[layer as usize] as u128;
                let window = (a.window as u128).min(ctx_after) * a.kv_entry_bytes as u128;
                let per_seq = if m == 0 {
                    window
                } else if m >= a.hca_min_ratio as u128 {
                    window + (ctx_after / m) * a.kv_entry_bytes as u128
                } else {
                    let entries = ctx_after / m;
                    let picked = entries.min(new * a.index_topk as u128);
                    window + picked * a.kv_entry_bytes as u128 + entries * a.index_key_bytes as u128
                };
                per_seq * seq
            }
            _ => ctx_after * kv_tok * seq,
        };
        Ok(HbmBytes {
            weight_bytes: fit(weight, "weight bytes")?,
            residual_bytes: fit(residual, "residual bytes")?,
            kv_read_bytes: fit(kv_read, "kv read bytes")?,
            kv_write_bytes: fit(kv_tok * tokens as u128, "kv write bytes")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_form_sums_match_loops() {
        for n in 0u128..300 {
            for m in 1u128..9 {
                let f: u128 = (1..=n).map(|t| t / m).sum();
                assert_eq!(sum_floor(n, m), f, "n={n} m={m}");
                for k in 0u128..6 {
                    let g: u128 = (1..=n).map(|t| (t / m).min(k)).sum();
                    assert_eq!(sum_min_floor(n, m, k), g, "n={n} m={m} k={k}");
                }
            }
            let w = 17;
            let s: u128 = (1..=n).map(|t| t.min(w)).sum();
            assert_eq!(sum_min(n, w), s);
        }
    }
}
