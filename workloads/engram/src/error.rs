//! One error type for the whole Engram module, so that the CLI can print what went wrong,
//! where, and how to fix it, without any code path panicking on bad input.

use std::path::PathBuf;

/// Everything that can go wrong while building Engram configs, compressing a tokenizer,
/// hashing, or reading and writing access traces.
#[derive(Debug, thiserror::Error)]
pub enum EngramError {
    /// A config (TOML) is malformed or inconsistent.
    #[error("engram config {name}: {msg}")]
    Config { name: String, msg: String },

    /// No built-in config has this name.
    #[error("unknown engram model `{0}` (known: {1})")]
    UnknownModel(String, String),

    /// The tokenizer could not be loaded or used.
    #[error("tokenizer {path}: {msg}")]
    Tokenizer { path: String, msg: String },

    /// The compressed vocabulary built from a tokenizer does not match the config: every
    /// multiplier depends on it, so every row id would be wrong.
    #[error(
        "compressed vocabulary size mismatch: the tokenizer gives {got} canonical ids but config \
         `{config}` expects {expected}; use the tokenizer the model was trained with \
         (see tools/fetch-inputs.sh)"
    )]
    VocabMismatch {
        config: String,
        expected: u64,
        got: u64,
    },

    /// A raw token id is outside the compressed map.
    #[error("token id {id} is outside the tokenizer's id space (0..{len})")]
    TokenOutOfRange { id: u64, len: u64 },

    /// A compressed token id is not below the compressed vocabulary size.
    #[error("compressed id {id} is not below the compressed vocabulary size {vocab}")]
    CompressedOutOfRange { id: u64, vocab: u64 },

    /// A caller passed buffers of inconsistent size.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// An I/O error on a stream that has no path (an in-memory or caller-supplied stream).
    #[error("i/o error: {0}")]
    Stream(#[from] std::io::Error),

    /// An access trace is malformed; `offset` is the byte offset where the problem starts.
    #[error("engram trace: {msg} (at byte offset {offset})")]
    TraceFormat { offset: u64, msg: String },

    /// A trace was recorded with a different Engram config than the one it is used with.
    #[error("engram trace does not match config `{config}`: {msg}")]
    TraceConfigMismatch { config: String, msg: String },
}

/// Shorthand used across the module.
pub type Result<T> = std::result::Result<T, EngramError>;

impl EngramError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EngramError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn config(name: &str, msg: impl Into<String>) -> Self {
        EngramError::Config {
            name: name.to_string(),
            msg: msg.into(),
        }
    }
    pub(crate) fn trace(offset: u64, msg: impl Into<String>) -> Self {
        EngramError::TraceFormat {
            offset,
            msg: msg.into(),
        }
    }
}
