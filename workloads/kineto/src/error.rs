//! Import errors: every one names the file, the byte offset in the (uncompressed) JSON text,
//! and the line and column where serde_json knows them.

use std::fmt;

/// What went wrong, for callers that branch on it (tests, the CLI's exit codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file could not be opened or read.
    Io,
    /// The gzip stream is truncated or corrupt.
    Gzip,
    /// The JSON text is malformed.
    Syntax,
    /// The JSON text ends early (truncated file).
    Truncated,
    /// A `ph` value that the Chrome trace format does not define.
    UnknownPhase,
    /// A `dur` below zero.
    NegativeDuration,
    /// A timestamp or duration that is not a decimal number, or overflows 64-bit ns.
    BadTime,
    /// A value out of its range (an NCCL group of no ranks, a negative element count).
    BadValue,
    /// A well-formed JSON value of the wrong shape (e.g. `traceEvents` is not an array).
    Shape,
}

/// An import error. `Display` gives one line: `file: byte N (line L, column C): what. hint`.
#[derive(Debug, Clone)]
pub struct KinetoError {
    pub kind: ErrorKind,
    /// The path (or the name given to the reader).
    pub file: String,
    /// Byte offset into the uncompressed JSON text, where known.
    pub offset: Option<u64>,
    /// 1-based line and column, where known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl KinetoError {
    pub(crate) fn new(kind: ErrorKind, file: &str, message: impl Into<String>) -> Self {
        KinetoError {
            kind,
            file: file.to_string(),
            offset: None,
            line: None,
            column: None,
            message: message.into(),
        }
    }

    fn hint(&self) -> &'static str {
        match self.kind {
            ErrorKind::Io => "check the path and permissions",
            ErrorKind::Gzip => "the .gz file is incomplete or damaged: re-copy or re-export it",
            ErrorKind::Syntax => "the file is not valid JSON at this point",
            ErrorKind::Truncated => {
                "the JSON ends early: the profiler was probably killed while writing; re-export the trace"
            }
            ErrorKind::UnknownPhase => {
                "`ph` must be a Chrome trace-format phase (X, B, E, i, I, C, s, t, f, M, b, n, e, ...)"
            }
            ErrorKind::NegativeDuration => "a complete event (`ph: X`) needs `dur` >= 0",
            ErrorKind::BadTime => "`ts` and `dur` are microseconds written as decimal numbers",
            ErrorKind::BadValue => {
                "NCCL metadata needs `Group size` >= 1 and `In/Out msg nelems` >= 0: fix or drop the field"
            }
            ErrorKind::Shape => "expected a Kineto/Chrome trace: an object with `traceEvents` or a bare event array",
        }
    }
}

impl fmt::Display for KinetoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(o) = self.offset {
            write!(f, ": byte {o}")?;
            if let (Some(l), Some(c)) = (self.line, self.column) {
                write!(f, " (line {l}, column {c})")?;
            }
        } else if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, ": line {l}, column {c}")?;
        }
        write!(f, ": {}; {}", self.message, self.hint())
    }
}

impl std::error::Error for KinetoError {}
