//! Serving errors: each names where it happened (file, line, field) and how to fix it.

use memwall_models::error::at_line;
use memwall_models::tiers::TierError;

/// What can go wrong reading or running a scenario.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The TOML does not parse, or a field is unknown or of the wrong type.
    #[error("{origin}{}{}: {message}\nhint: {hint}", at_line(line), column.map(|c| format!(":{c}")).unwrap_or_default())]
    Parse {
        origin: String,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
        hint: &'static str,
    },
    /// A quantity field that does not parse.
    #[error(
        "{origin}{}: field `{field}` = {value:?}: {message}\nhint: {hint}",
        at_line(line)
    )]
    Field {
        origin: String,
        line: Option<usize>,
        field: String,
        value: String,
        message: String,
        hint: String,
    },
    /// A count or size outside its documented range ([`crate::limits::LIMITS`]).
    #[error(
        "{origin}{}: field `{field}` = {value} is out of range: {min} to {max}\nhint: e.g. {example} (scenarios/README.md lists every range)",
        at_line(line)
    )]
    Range {
        origin: String,
        line: Option<usize>,
        field: String,
        value: u64,
        min: u64,
        max: u64,
        example: &'static str,
    },
    /// A scenario whose values do not fit together (the message carries its hint).
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    /// A request CSV row.
    #[error("{origin}{}: {message}\nhint: {hint}", at_line(line))]
    Csv {
        origin: String,
        line: Option<usize>,
        message: String,
        hint: String,
    },
    /// Token text: corpus, tokenizer, synthetic text, hashing.
    #[error("{0}")]
    Text(String),
    /// The model's arithmetic (shapes out of range for this run).
    #[error("model: {0}")]
    Model(#[from] memwall_llm::ModelError),
    /// The scenario's `model`: unknown name, missing or malformed file.
    #[error("{origin}{}: model: {error}", at_line(line))]
    ModelConfig {
        origin: String,
        line: Option<usize>,
        error: memwall_llm::ModelError,
    },
    /// The system's profiles.
    #[error("{0}")]
    Profiles(#[from] memwall_models::ProfileErrors),
    /// The GPU has no rate for the model's weight type.
    #[error("GPU profile {gpu} has no compute rate for {dtype}\nhint: add it to the GPU profile's [compute] table (with --profiles)")]
    NoComputeRate { gpu: String, dtype: String },
    /// The op cost model cannot price a kernel on this GPU.
    #[error("pricing a kernel on {gpu}: {message}")]
    Cost { gpu: String, message: String },
    #[error("wiring {system}: {message}")]
    Wiring { system: String, message: String },
    #[error("{0}")]
    Tier(#[from] TierError),
    #[error("{0}")]
    Sim(#[from] memwall_sim::SimError),
    #[error("scheduler stalled: a request cannot fit the KV cache; raise kv_cache_tokens or lower the prompt length")]
    Stalled,
}

/// A scenario-level error in `origin`.
pub(crate) fn invalid(origin: &str, message: String) -> ScenarioError {
    ScenarioError::Invalid {
        origin: origin.to_string(),
        message,
    }
}

pub(crate) fn text(message: String) -> ScenarioError {
    ScenarioError::Text(message)
}

/// What can go wrong in a [`crate::fetch_bench`] run.
#[derive(Debug, thiserror::Error)]
pub enum FetchBenchError {
    #[error("{0}")]
    Tier(#[from] TierError),
    #[error("wiring: {0}")]
    Wiring(#[from] memwall_models::node::WiringError),
    #[error("{0}")]
    Sim(#[from] memwall_sim::SimError),
}
