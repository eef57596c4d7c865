//! The model config schema. Unknown fields are errors.

use serde::Deserialize;

use super::ModelError;

/// Storage type of weights, activations or KV cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Fp32,
    Bf16,
    Fp16,
    Fp8,
    Fp4,
}

impl Dtype {
    /// Bits per element (FP4 is 4; block scales are not counted).
    pub fn bits(self) -> u64 {
        match self {
            Dtype::Fp32 => 32,
            Dtype::Bf16 | Dtype::Fp16 => 16,
            Dtype::Fp8 => 8,
            Dtype::Fp4 => 4,
        }
    }

    /// Bytes for `elements` elements, rounded up to a whole byte.
    pub fn bytes_for(self, elements: u64) -> u64 {
        let bits = elements as u128 * self.bits() as u128;
        bits.div_ceil(8).min(u64::MAX as u128) as u64
    }
}

/// Multi-head latent attention (DeepSeek-V2/V3, the mHC paper's models).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlaAttention {
    pub num_heads: u64,
    /// 0 = no query compression (a direct W_q).
    pub q_lora_rank: u64,
    pub kv_lora_rank: u64,
    pub qk_nope_head_dim: u64,
    pub qk_rope_head_dim: u64,
    pub v_head_dim: u64,
}

/// Grouped-query attention (dense backbones).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GqaAttention {
    pub num_heads: u64,
    pub num_kv_heads: u64,
    pub head_dim: u64,
}

/// DeepSeek-V4 hybrid attention: per layer a compression ratio m. m = 0: sliding window
/// only (SWA); 0 < m < `hca_min_ratio`: compressed sparse attention (CSA: an indexer picks
/// `index_topk` of the ctx/m compressed entries); m >= `hca_min_ratio`: heavily
/// compressed attention (HCA: dense over all ctx/m entries). Every layer also attends to
/// the last `window` uncompressed tokens. One shared 512-wide KV head (MQA), grouped
/// low-rank output projection.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressedAttention {
    pub num_heads: u64,
    pub head_dim: u64,
    pub rope_head_dim: u64,
    pub q_lora_rank: u64,
    pub o_groups: u64,
    pub o_lora_rank: u64,
    pub window: u64,
    pub index_num_heads: u64,
    pub index_head_dim: u64,
    pub index_topk: u64,
    pub hca_min_ratio: u64,
    /// Bytes of one compressed KV entry (V4: 448 FP8 + 64 BF16 RoPE dims = 576).
    pub kv_entry_bytes: u64,
    /// Bytes of one indexer key (V4: 128-d FP4 + scales, about 68).
    pub index_key_bytes: u64,
    /// One entry per backbone layer (MTP layers excluded).
    pub compress_ratios: Vec<u64>,
}

/// The attention variant of a model.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Attention {
    Mla(MlaAttention),
    Gqa(GqaAttention),
    Compressed(CompressedAttention),
}

/// Mixture-of-experts FFN.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoeConfig {
    pub num_routed_experts: u64,
    pub num_shared_experts: u64,
    pub experts_per_token: u64,
    /// Intermediate size of one expert (SwiGLU: 3 matrices of hidden x this).
    pub expert_ffn_size: u64,
}

/// FFN layout: the first `num_dense_layers` layers are dense SwiGLU FFNs of
/// `dense_ffn_size`; the rest are MoE (when `moe` is given) or dense.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mlp {
    pub num_dense_layers: u32,
    pub dense_ffn_size: u64,
    pub moe: Option<MoeConfig>,
}

/// Manifold-constrained hyper-connections: n residual streams.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MhcConfig {
    pub n: u64,
    pub sinkhorn_iters: u64,
}

/// One model.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub name: String,
    pub display_name: String,
    /// Where the numbers come from, and any assumption.
    pub source: String,
    pub hidden_size: u64,
    pub num_layers: u32,
    pub vocab_size: u64,
    pub tie_word_embeddings: bool,
    /// Multi-token-prediction layers; informational, excluded from all counts.
    #[serde(default)]
    pub mtp_layers: u32,
    pub weight_dtype: Dtype,
    /// Routed-expert weights, when stored differently (V4: FP4).
    #[serde(default)]
    pub expert_weight_dtype: Option<Dtype>,
    pub activation_dtype: Dtype,
    pub kv_cache_dtype: Dtype,
    pub attention: Attention,
    pub mlp: Mlp,
    #[serde(default)]
    pub mhc: Option<MhcConfig>,
}

impl ModelConfig {
    /// Parses and validates a config; `file` names it in errors, which carry the line,
    /// the field and a hint.
    pub fn from_toml_str(file: &str, text: &str) -> Result<ModelConfig, ModelError> {
        let cfg: ModelConfig =
            toml::from_str(text).map_err(|e| crate::located::parse_error(file, text, &e))?;
        cfg.validate()
            .map_err(|e| crate::located::validation_error(file, text, e))?;
        Ok(cfg)
    }

    fn invalid(&self, field: &'static str, problem: impl Into<String>) -> ModelError {
        ModelError::Invalid {
            name: self.name.clone(),
            field,
            problem: problem.into(),
        }
    }

    /// Checks ranges and cross-field consistency.
    pub fn validate(&self) -> Result<(), ModelError> {
        const MAX_DIM: u64 = 1 << 24;
        let dims = [
            ("hidden_size", self.hidden_size),
            ("vocab_size", self.vocab_size),
        ];
        for (f, v) in dims {
            if v == 0 || v > MAX_DIM * 16 {
                return Err(self.invalid(f, format!("must be in 1..={}, got {v}", MAX_DIM * 16)));
            }
        }
        if self.num_layers == 0 || self.num_layers > 100_000 {
            return Err(self.invalid(
                "num_layers",
                format!("must be in 1..=100000, got {}", self.num_layers),
            ));
        }
        let check = |f: &'static str, v: u64, min: u64| -> Result<(), ModelError> {
            if v < min || v > MAX_DIM {
                Err(self.invalid(f, format!("must be in {min}..={MAX_DIM}, got {v}")))
            } else {
                Ok(())
            }
        };
        match &self.attention {
            Attention::Mla(a) => {
                check("attention.num_heads", a.num_heads, 1)?;
                check("attention.q_lora_rank", a.q_lora_rank, 0)?;
                check("attention.kv_lora_rank", a.kv_lora_rank, 1)?;
                check("attention.qk_nope_head_dim", a.qk_nope_head_dim, 0)?;
                check("attention.qk_rope_head_dim", a.qk_rope_head_dim, 0)?;
                check("attention.v_head_dim", a.v_head_dim, 1)?;
            }
            Attention::Gqa(a) => {
                check("attention.num_heads", a.num_heads, 1)?;
                check("attention.num_kv_heads", a.num_kv_heads, 1)?;
                check("attention.head_dim", a.head_dim, 1)?;
                if a.num_heads % a.num_kv_heads != 0 {
                    return Err(self.invalid("attention.num_kv_heads", "must divide num_heads"));
                }
            }
            Attention::Compressed(a) => {
                check("attention.num_heads", a.num_heads, 1)?;
                check("attention.head_dim", a.head_dim, 1)?;
                check("attention.q_lora_rank", a.q_lora_rank, 1)?;
                check("attention.o_groups", a.o_groups, 1)?;
                check("attention.o_lora_rank", a.o_lora_rank, 1)?;
                check("attention.hca_min_ratio", a.hca_min_ratio, 1)?;
                check("attention.index_num_heads", a.index_num_heads, 0)?;
                check("attention.index_head_dim", a.index_head_dim, 0)?;
                check("attention.window", a.window, 0)?;
                if a.rope_head_dim > a.head_dim {
                    return Err(self.invalid("attention.rope_head_dim", "must not exceed head_dim"));
                }
                if (a.num_heads * a.head_dim) % a.o_groups != 0 {
                    return Err(
                        self.invalid("attention.o_groups", "must divide num_heads * head_dim")
                    );
                }
                if a.compress_ratios.len() != self.num_layers as usize {
                    return Err(self.invalid(
                        "attention.compress_ratios",
                        format!(
                            "needs one entry per layer ({}), got {}",
                            self.num_layers,
                            a.compress_ratios.len()
                        ),
                    ));
                }
                if let Some(&r) = a.compress_ratios.iter().find(|&&r| r > MAX_DIM) {
                    return Err(
                        self.invalid("attention.compress_ratios", format!("ratio {r} too large"))
                    );
                }
            }
        }
        if self.mlp.num_dense_layers > self.num_layers {
            return Err(self.invalid("mlp.num_dense_layers", "exceeds num_layers"));
        }
        if self.mlp.num_dense_layers > 0 {
            check("mlp.dense_ffn_size", self.mlp.dense_ffn_size, 1)?;
        }
        match &self.mlp.moe {
            Some(m) => {
                check("mlp.moe.num_routed_experts", m.num_routed_experts, 1)?;
                check("mlp.moe.num_shared_experts", m.num_shared_experts, 0)?;
                check("mlp.moe.expert_ffn_size", m.expert_ffn_size, 1)?;
                if m.experts_per_token == 0 || m.experts_per_token > m.num_routed_experts {
                    return Err(self.invalid(
                        "mlp.moe.experts_per_token",
                        "must be in 1..=num_routed_experts",
                    ));
                }
            }
            None => {
                if self.mlp.num_dense_layers != self.num_layers {
                    return Err(self.invalid(
                        "mlp.num_dense_layers",
                        "without [mlp.moe] every layer is dense: must equal num_layers",
                    ));
                }
            }
        }
        if let Some(h) = &self.mhc {
            if h.n == 0 || h.n > 64 {
                return Err(self.invalid("mhc.n", format!("must be in 1..=64, got {}", h.n)));
            }
            if h.sinkhorn_iters > 10_000 {
                return Err(self.invalid("mhc.sinkhorn_iters", "must be at most 10000"));
            }
        }
        Ok(())
    }

    /// Residual streams: mHC's n, or 1 for a plain residual.
    pub fn residual_streams(&self) -> u64 {
        self.mhc.as_ref().map_or(1, |h| h.n)
    }
}
