//! LLM model configs as data (TOML under `workloads/configs/models/`, embedded) and the
//! pure arithmetic derived from them: parameters, FLOPs, HBM bytes, KV cache, mHC
//! traffic and activation memory, Engram module compute. Units are in every name
//! (`_bytes`, `_flops`, `_params`); no time, no hardware.

mod config;
mod derived;
pub mod engram;
pub mod mhc;

pub use config::{
    Attention, CompressedAttention, Dtype, GqaAttention, MhcConfig, MlaAttention, Mlp, ModelConfig,
    MoeConfig,
};
pub use derived::{expected_distinct_experts, HbmBytes, LayerFlops, LayerKind, Pass, StepShape};

use thiserror::Error;

/// Why a model config or a derived quantity is rejected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    #[error("model config {name}: {source_msg}")]
    Parse { name: String, source_msg: String },
    #[error("model config {name}: field `{field}`: {problem}")]
    Invalid {
        name: String,
        field: &'static str,
        problem: String,
    },
    #[error("unknown model `{0}`; built-in models: {1}")]
    Unknown(String, String),
    #[error("layer {layer} out of range: the model has {num_layers} layers")]
    LayerOutOfRange { layer: u32, num_layers: u32 },
    #[error("arithmetic overflow computing {0}")]
    Overflow(&'static str),
    #[error("invalid argument `{field}`: {problem}")]
    Argument {
        field: &'static str,
        problem: String,
    },
}

/// Built-in configs: (name, TOML text).
pub const BUILTIN_MODELS: &[(&str, &str)] = &[
    (
        "deepseek-v3",
        include_str!("../configs/deepseek-v3.toml"),
    ),
    (
        "deepseek-v4-flash",
        include_str!("../configs/deepseek-v4-flash.toml"),
    ),
    (
        "deepseek-v4-pro",
        include_str!("../configs/deepseek-v4-pro.toml"),
    ),
    (
        "deepseek-v4.1-flash",
        include_str!("../configs/deepseek-v4.1-flash.toml"),
    ),
    ("mhc-3b", include_str!("../configs/mhc-3b.toml")),
    ("mhc-9b", include_str!("../configs/mhc-9b.toml")),
    ("mhc-27b", include_str!("../configs/mhc-27b.toml")),
    (
        "qwen3-4b-dense",
        include_str!("../configs/qwen3-4b-dense.toml"),
    ),
];

/// Loads a built-in model by name.
pub fn builtin(name: &str) -> Result<ModelConfig, ModelError> {
    let (_, text) = BUILTIN_MODELS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| {
            ModelError::Unknown(
                name.to_string(),
                BUILTIN_MODELS
                    .iter()
                    .map(|(n, _)| *n)
                    .collect::<Vec<_>>()
                    .join(", "),
            )
        })?;
    ModelConfig::from_toml_str(name, text)
}
