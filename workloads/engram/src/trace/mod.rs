//! Engram access traces: which rows each token reads, per step and per Engram layer.
//!
//! The format (`docs/engram-trace-format.md`) is a JSON header that names the config it was
//! recorded under, followed by length-prefixed, CRC-32-checked binary records, one per
//! (step, layer), and an end record with totals. It streams both ways in constant memory,
//! and a Python engine can write it with the stdlib (`tools/memwall_trace.py`).

mod atomic;
mod csv_export;
mod header;
mod reader;
mod writer;

pub use atomic::AtomicFile;
pub use csv_export::{export_csv, CSV_COLUMNS};
pub use header::{TraceConfigId, TraceHeader};
pub use reader::{RowsRecord, TraceReader};
pub use writer::{RowsRecordRef, TraceSummary, TraceWriter};

/// First 8 bytes of every trace file.
pub const MAGIC: &[u8; 8] = b"MWENGRAM";
/// Major version: readers reject other majors; minors only add optional fields.
pub const VERSION_MAJOR: u16 = 1;
/// Minor version written by this code.
pub const VERSION_MINOR: u16 = 0;
/// Record kind of a rows record.
pub const KIND_ROWS: &[u8; 4] = b"ROWS";
/// Record kind of the end record (totals); a file without it is truncated.
pub const KIND_END: &[u8; 4] = b"END!";
/// Bytes before the JSON header: magic, major, minor, header length, header CRC.
pub const FILE_PREFIX_LEN: usize = 20;
/// Bytes of a record frame: kind, payload length, payload CRC.
pub const RECORD_FRAME_LEN: usize = 12;
/// Fixed part of a ROWS payload: step, layer id, tokens, flags, reserved.
pub const ROWS_FIXED_LEN: usize = 24;
/// ROWS flag: the payload carries the lookup's start and end time (ns, engine clock).
pub const FLAG_TIMESTAMPS: u32 = 1;
/// ROWS flag: the payload carries a sequence (request) id and a position per token.
pub const FLAG_TOKEN_META: u32 = 2;
/// Largest payload a reader accepts, so a corrupt length cannot make it allocate wildly.
pub const MAX_PAYLOAD: u32 = 1 << 30;
/// Largest JSON header accepted.
pub const MAX_HEADER: u32 = 16 << 20;
