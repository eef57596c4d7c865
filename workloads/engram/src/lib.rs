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
//!
//! This is the only crate that reads tokenizers (`tokenizers`); it knows nothing of
//! hardware or time. The V4.1-Flash layout's table sizes come out of the prime rule:
//!
//! ```
//! use memwall_engram::{EngramHasher, EngramLayout, NgramHistory};
//!
//! let layout = EngramLayout::builtin("v41-flash").unwrap();
//! assert_eq!(layout.table_rows(), vec![384_006_168, 384_016_682]);
//! assert_eq!(layout.row_bytes(), 264);
//! let hasher = EngramHasher::new(&layout);
//! let mut history = NgramHistory::start(&hasher);
//! let mut rows = Vec::new();
//! hasher.hash_chunk(&mut history, &[1, 2, 3], &mut rows).unwrap();
//! // Every token reads one row per (n-gram order, head) in every Engram layer.
//! assert_eq!(rows.len(), hasher.layer_count() * 3 * hasher.columns());
//! ```

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
