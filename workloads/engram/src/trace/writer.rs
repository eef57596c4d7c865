//! Streaming trace writer: one buffer reused for every record, so memory stays constant
//! however long the trace is.

use std::io::Write;

use super::header::TraceHeader;
use super::{
    FLAG_TIMESTAMPS, FLAG_TOKEN_META, KIND_END, KIND_ROWS, MAGIC, MAX_PAYLOAD, VERSION_MAJOR,
    VERSION_MINOR,
};
use crate::error::{EngramError, Result};

/// One (step, layer) record to write, borrowing the caller's buffers.
#[derive(Debug, Clone, Copy)]
pub struct RowsRecordRef<'a> {
    /// Engine step (iteration) number; any monotone counter.
    pub step: u64,
    /// Engram layer id (one of the header's `layer_ids`).
    pub layer_id: u32,
    /// Row ids, token-major: `rows[t * columns + col]`, flat ids into the layer's table.
    pub rows: &'a [u64],
    /// Per token: sequence (request) id and absolute position, if known.
    pub token_meta: Option<(&'a [u32], &'a [u32])>,
    /// Lookup start and end on the engine's clock, in ns, if captured.
    pub time_ns: Option<(u64, u64)>,
}

/// Totals of a finished trace (also stored in its end record).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceSummary {
    pub records: u64,
    /// Sum over records of their tokens (each token counts once per Engram layer).
    pub token_lookups: u64,
    pub row_ids: u64,
    /// Bytes of the whole file.
    pub bytes: u64,
}

/// Writes a trace to any `Write` (wrap files in [`super::AtomicFile`]).
#[derive(Debug)]
pub struct TraceWriter<W: Write> {
    out: W,
    header: TraceHeader,
    columns: usize,
    buf: Vec<u8>,
    summary: TraceSummary,
}

impl<W: Write> TraceWriter<W> {
    /// Writes the file prefix and JSON header.
    pub fn new(mut out: W, header: TraceHeader) -> Result<Self> {
        header
            .validate()
            .map_err(|m| EngramError::InvalidArgument(format!("trace header: {m}")))?;
        let json = serde_json::to_vec(&header)
            .map_err(|e| EngramError::InvalidArgument(format!("trace header: {e}")))?;
        let mut prefix = Vec::with_capacity(20 + json.len());
        prefix.extend_from_slice(MAGIC);
        prefix.extend_from_slice(&VERSION_MAJOR.to_le_bytes());
        prefix.extend_from_slice(&VERSION_MINOR.to_le_bytes());
        prefix.extend_from_slice(&(json.len() as u32).to_le_bytes());
        prefix.extend_from_slice(&crc32fast::hash(&json).to_le_bytes());
        prefix.extend_from_slice(&json);
        out.write_all(&prefix)?;
        Ok(TraceWriter {
            out,
            columns: header.config.columns as usize,
            header,
            buf: Vec::new(),
            summary: TraceSummary {
                bytes: prefix.len() as u64,
                ..Default::default()
            },
        })
    }

    /// The header being written.
    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// Appends one record; rejects rows that do not fit the header's config.
    pub fn write_rows(&mut self, rec: &RowsRecordRef<'_>) -> Result<()> {
        let bad = |m: String| Err(EngramError::InvalidArgument(format!("trace record: {m}")));
        let Some(li) = self.header.layer_index(rec.layer_id) else {
            return bad(format!("layer id {} is not in the header", rec.layer_id));
        };
        if !rec.rows.len().is_multiple_of(self.columns) {
            return bad(format!(
                "{} row ids is not a multiple of {} columns",
                rec.rows.len(),
                self.columns
            ));
        }
        let n_tokens = rec.rows.len() / self.columns;
        let limit = self.header.config.table_rows[li];
        if let Some(&r) = rec.rows.iter().find(|&&r| r >= limit) {
            return bad(format!(
                "row id {r} is outside layer {}'s {limit} rows",
                rec.layer_id
            ));
        }
        let mut flags = 0;
        if rec.time_ns.is_some() {
            flags |= FLAG_TIMESTAMPS;
        }
        if let Some((seq, pos)) = rec.token_meta {
            if seq.len() != n_tokens || pos.len() != n_tokens {
                return bad(format!(
                    "token meta has {}/{} entries for {n_tokens} tokens",
                    seq.len(),
                    pos.len()
                ));
            }
            flags |= FLAG_TOKEN_META;
        }
        let width = self.header.row_id_bytes as usize;
        let payload_len = 24
            + if rec.time_ns.is_some() { 16 } else { 0 }
            + if rec.token_meta.is_some() {
                8 * n_tokens
            } else {
                0
            }
            + rec.rows.len() * width;
        if payload_len > MAX_PAYLOAD as usize {
            return bad(format!(
                "payload of {payload_len} bytes is too large; split the step"
            ));
        }
        let buf = &mut self.buf;
        buf.clear();
        buf.reserve(12 + payload_len);
        buf.extend_from_slice(KIND_ROWS);
        buf.extend_from_slice(&(payload_len as u32).to_le_bytes());
        buf.extend_from_slice(&[0; 4]); // CRC, patched below
        buf.extend_from_slice(&rec.step.to_le_bytes());
        buf.extend_from_slice(&rec.layer_id.to_le_bytes());
        buf.extend_from_slice(&(n_tokens as u32).to_le_bytes());
        buf.extend_from_slice(&flags.to_le_bytes());
        buf.extend_from_slice(&0u32.to_le_bytes());
        if let Some((t0, t1)) = rec.time_ns {
            buf.extend_from_slice(&t0.to_le_bytes());
            buf.extend_from_slice(&t1.to_le_bytes());
        }
        if let Some((seq, pos)) = rec.token_meta {
            seq.iter()
                .for_each(|v| buf.extend_from_slice(&v.to_le_bytes()));
            pos.iter()
                .for_each(|v| buf.extend_from_slice(&v.to_le_bytes()));
        }
        let start = buf.len();
        buf.resize(start + rec.rows.len() * width, 0);
        if width == 4 {
            for (dst, &r) in buf[start..].chunks_exact_mut(4).zip(rec.rows) {
                dst.copy_from_slice(&(r as u32).to_le_bytes());
            }
        } else {
            for (dst, &r) in buf[start..].chunks_exact_mut(8).zip(rec.rows) {
                dst.copy_from_slice(&r.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&buf[12..]);
        buf[8..12].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(buf)?;
        self.summary.records += 1;
        self.summary.token_lookups += n_tokens as u64;
        self.summary.row_ids += rec.rows.len() as u64;
        self.summary.bytes += buf.len() as u64;
        Ok(())
    }

    /// Writes the end record and flushes; returns the totals and the stream.
    pub fn finish(mut self) -> Result<(TraceSummary, W)> {
        let mut payload = Vec::with_capacity(24);
        payload.extend_from_slice(&self.summary.records.to_le_bytes());
        payload.extend_from_slice(&self.summary.token_lookups.to_le_bytes());
        payload.extend_from_slice(&self.summary.row_ids.to_le_bytes());
        let mut rec = Vec::with_capacity(36);
        rec.extend_from_slice(KIND_END);
        rec.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        rec.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        rec.extend_from_slice(&payload);
        self.out.write_all(&rec)?;
        self.out.flush()?;
        self.summary.bytes += rec.len() as u64;
        Ok((self.summary, self.out))
    }
}
