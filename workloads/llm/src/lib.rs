//! LLM model configs as data (TOML under `workloads/llm/configs/`, embedded; more from the
//! user's files at run time through [`ModelRegistry`]) and the
//! pure arithmetic derived from them: parameters, FLOPs, HBM bytes, KV cache, mHC
//! traffic and activation memory, Engram module compute. Units are in every name
//! (`_bytes`, `_flops`, `_params`); no time, no hardware.

mod config;
mod derived;
pub mod engram;
mod located;
pub mod mhc;
mod registry;

pub use config::{
    Attention, CompressedAttention, Dtype, GqaAttention, MhcConfig, MlaAttention, Mlp, ModelConfig,
    MoeConfig,
};
pub use derived::{expected_distinct_experts, HbmBytes, LayerFlops, LayerKind, Pass, StepShape};
pub use located::Located;
pub use registry::{builtin_models, ModelRegistry};

use thiserror::Error;

/// Why a model config or a derived quantity is rejected.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ModelError {
    /// A model file that does not parse, or whose values are out of range.
    #[error("{0}")]
    File(Box<Located>),
    #[error("{file}: {problem}")]
    Io { file: String, problem: String },
    /// A config value out of range (file-less: the config was built in code).
    #[error("model config {name}: field `{field}`: {problem}")]
    Invalid {
        name: String,
        field: &'static str,
        problem: String,
    },
    #[error("unknown model `{0}`; known models: {1}\nhint: add your own with --models PATH (a model TOML file or folder), or give the path to a model TOML")]
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

/// Loads a shipped model by name (see [`ModelRegistry`] for user models and paths).
pub fn builtin(name: &str) -> Result<ModelConfig, ModelError> {
    ModelRegistry::builtin().resolve(name, None)
}
