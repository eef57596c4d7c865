//! Engram conditional memory: the hash that turns token n-grams into table rows, the
//! configs it runs under, and the access traces that record which rows each token reads.
//!
//! - [`config`]: configs as data (embedded TOML) and the derived per-layer constants.
//! - [`numpy_rng`]: NumPy's `default_rng(...).integers(...)`, which defines the multipliers.
//! - [`primes`]: the prime table-size rule.
//! - [`compress`]: the compressed-tokenizer map built from a real `tokenizer.json`.
//! - [`hash`]: row ids per head, per order, per token, per layer; chunked continuation.
//! - [`trace`]: the binary access-trace format (writer, reader, CSV export).
//! - [`synth`]: seeded synthetic traces (Zipf over n-grams) for what-ifs without text.
//! - [`serving`]: continuous batching with chunked prefill, as engines schedule steps.
//! - [`text`]: real text + tokenizer + config -> a trace, batched like a serving engine.

pub mod compress;
pub mod config;
pub mod error;
pub mod hash;
pub mod numpy_rng;
pub mod primes;
pub mod serving;
pub mod synth;
pub mod text;

pub use compress::{load_tokenizer, CompressedVocab};
pub use config::{EngramConfig, EngramLayout, LayerLayout, RowFormat};
pub use error::{EngramError, Result};
pub use hash::{EngramHasher, NgramHistory, DEAD};
pub use serving::{run_serving, RequestSource, ServingSchedule, ServingStats};
pub use synth::{SyntheticSource, SyntheticSpec, Zipf};
pub use text::{
    trace_from_text, trace_synthetic, write_text_trace_file, TextSource, TextTraceOptions,
};
pub mod trace;
