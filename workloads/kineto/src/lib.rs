//! Importer of PyTorch-profiler (Kineto) Chrome-trace JSON into a [`TraceGraph`]: the
//! GPU ops of a captured run, per device and stream, with their launches, phases and
//! cross-stream dependencies. Knows nothing of hardware models or simulation: replaying
//! a trace is `memwall-replay`'s job. Entry points: [`import_file`], [`import_bytes`],
//! [`import_reader`]; [`TraceGraph::metrics`] for span and overlap.
//!
//! - Input: gzip (detected by its magic bytes) or plain JSON; an object root with
//!   `traceEvents`, or a bare event array. Read as a stream: memory grows with the GPU ops
//!   and launch calls kept, not with the file (CPU ops and Python frames are never stored).
//! - Times: `ts`/`dur` are read from their decimal text into integer nanoseconds (integer
//!   epoch µs, fractional µs, or µs relative to `baseTimeNanoseconds`), never via f64.
//! - Output: per device and stream, ops in order with class, phase, launch and
//!   cross-stream dependencies (recorded or inferred; rules in `docs/trace-import.md`),
//!   plus [`TraceGraph::metrics`] for the numbers a replay must reproduce.
//!
//! Errors name the file, the line and column, and the byte offset in the uncompressed text
//! (files and in-memory input; a bare reader gives line and column only):
//! malformed JSON, truncated gzip, phases outside the Chrome trace format, negative
//! durations. Phases that the format defines but the importer does not use (B/E, C,
//! async b/e, ...) are counted and ignored.
//!
//! ```
//! // Two kernels on two streams of GPU 0, a CPU op (not kept) and a launch call.
//! let json = r#"{"traceEvents": [
//!   {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "pid": 1, "tid": 1, "ts": 9, "dur": 1},
//!   {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 1, "tid": 1,
//!    "ts": 9.5, "dur": 1, "args": {"correlation": 1}},
//!   {"ph": "X", "cat": "kernel", "name": "gemm", "pid": 0, "tid": 7, "ts": 10, "dur": 5.25,
//!    "args": {"device": 0, "stream": 7, "correlation": 1}},
//!   {"ph": "X", "cat": "kernel", "name": "ncclDevKernel_AllReduce", "pid": 0, "tid": 8,
//!    "ts": 12, "dur": 4, "args": {"device": 0, "stream": 8, "correlation": 2}}
//! ]}"#;
//! let g = memwall_kineto::import_bytes(json.as_bytes(), "tiny").unwrap();
//! assert_eq!(g.ops.len(), 2);
//! assert_eq!(g.devices.len(), 1);
//! assert_eq!(g.devices[0].streams.len(), 2);
//! let gemm = g.ops.iter().find(|o| g.op_name(o) == "gemm").unwrap();
//! // 5.25 µs read from its decimal text, exactly.
//! assert_eq!((gemm.dur_ns, gemm.launch.is_some()), (5_250, true));
//! ```

mod build;
pub mod classify;
mod decimal;
mod error;
mod metrics;
mod model;
mod parse;

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

pub use build::{GAP_MIN_NS, GAP_SLACK_NS, LAUNCH_BOUND_NS};
pub use decimal::{micros_text_to_ns, DecimalError};
pub use error::{ErrorKind, KinetoError};
pub use metrics::{DeviceMetrics, IntervalSet, Overlap, StreamMetrics, Tally, TraceMetrics};
pub use model::*;
pub use parse::RawStats;

/// Imports a trace file (gzip or plain JSON). On a parse error the file is read again up
/// to serde_json's line and column, to name the byte offset.
pub fn import_file(path: impl AsRef<Path>) -> Result<TraceGraph, KinetoError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let open = || {
        File::open(path)
            .map_err(|e| KinetoError::new(ErrorKind::Io, &name, format!("cannot open: {e}")))
    };
    let file = open()?;
    let len = file.metadata().map(|m| m.len()).ok();
    let reading = memwall_io::progress::Reading::new(file, &format!("reading {name}"), len);
    import_reader(reading, &name).map_err(|mut err| {
        if let (None, Some(l), Some(c), Ok(f)) = (err.offset, err.line, err.column, open()) {
            let mut buf = BufReader::new(f);
            let gzip =
                matches!(buf.fill_buf(), Ok(h) if h.len() >= 2 && h[0] == 0x1f && h[1] == 0x8b);
            err.offset = if gzip {
                parse::offset_of_line_col_in(flate2::read::MultiGzDecoder::new(buf), l, c)
            } else {
                parse::offset_of_line_col_in(buf, l, c)
            };
        }
        err
    })
}

/// The length of a trace file's JSON text (its uncompressed length for gzip), counted up
/// to `stop_after` bytes: what a budget check needs before the import, without reading a
/// gzip bomb to its end. A damaged gzip stream counts up to the damage (the import then
/// names it).
pub fn document_len(path: impl AsRef<Path>, stop_after: u64) -> Result<u64, KinetoError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let io =
        |e: std::io::Error| KinetoError::new(ErrorKind::Io, &name, format!("cannot read: {e}"));
    let mut buf = BufReader::new(File::open(path).map_err(io)?);
    let head = buf.fill_buf().map_err(io)?;
    if !(head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b) {
        return buf.get_ref().metadata().map(|m| m.len()).map_err(io);
    }
    let mut text = flate2::read::MultiGzDecoder::new(buf).take(stop_after);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    while let Ok(k @ 1..) = text.read(&mut chunk) {
        n += k as u64;
    }
    Ok(n)
}

/// Imports a trace from any reader; `source` names it in errors.
pub fn import_reader<R: Read>(reader: R, source: &str) -> Result<TraceGraph, KinetoError> {
    let mut buf = BufReader::with_capacity(64 * 1024, reader);
    let head = buf
        .fill_buf()
        .map_err(|e| KinetoError::new(ErrorKind::Io, source, format!("cannot read: {e}")))?;
    let gzip = head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b;
    let raw = if gzip {
        parse::read_document(flate2::read::MultiGzDecoder::new(buf), source, true)?
    } else {
        parse::read_document(buf, source, false)?
    };
    build::build(raw, source)
}

/// Imports a trace held in memory (gzip or plain). Plain JSON is parsed in place, which is
/// faster than the streaming reader.
pub fn import_bytes(bytes: &[u8], source: &str) -> Result<TraceGraph, KinetoError> {
    if bytes.len() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b {
        return import_reader(bytes, source);
    }
    build::build(parse::read_slice(bytes, source)?, source)
}
