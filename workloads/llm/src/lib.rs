//! LLM model configs as data (TOML under `workloads/llm/configs/`, embedded; more from the
//! user's files at run time through [`ModelRegistry`]) and the
//! pure arithmetic derived from them: parameters, FLOPs, HBM bytes, KV cache, mHC
//! traffic and activation memory, Engram module compute. Units are in every name
//! (`_bytes`, `_flops`, `_params`); no time, no hardware.
//!
//! A new model architecture is a TOML file: shipped in `configs/` (embedded), or the
//! user's own through `--models PATH` or a path in place of a name.
//!
//! ```
//! use memwall_llm::ModelRegistry;
//!
//! let models = ModelRegistry::builtin();
//! let v3 = models.resolve("deepseek-v3", None).unwrap();
//! // 671B parameters in all, 37B active per token (DeepSeek-V3 report).
//! let total = v3.total_params().unwrap() as f64 / 1e9;
//! let active = v3.active_params_per_token().unwrap() as f64 / 1e9;
//! assert!((total - 671.0).abs() < 1.0 && (active - 37.5).abs() < 1.0, "{total} {active}");
//! ```

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
pub use registry::{builtin_models, looks_like_path, ModelRegistry};

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
