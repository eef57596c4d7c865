//! Streaming trace reader: one record at a time into caller-owned buffers (constant memory),
//! every record length-checked and CRC-checked, every error carrying its byte offset.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::header::TraceHeader;
use super::{
    FILE_PREFIX_LEN, FLAG_TIMESTAMPS, FLAG_TOKEN_META, KIND_END, KIND_ROWS, MAGIC, MAX_HEADER,
    MAX_PAYLOAD, RECORD_FRAME_LEN, ROWS_FIXED_LEN, VERSION_MAJOR,
};
use crate::error::{EngramError, Result};

/// One decoded (step, layer) record; reuse it across `next_record` calls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowsRecord {
    pub step: u64,
    pub layer_id: u32,
    pub n_tokens: u32,
    /// Lookup start and end (ns), if the trace carries timestamps.
    pub time_ns: Option<(u64, u64)>,
    /// Per-token sequence ids and positions (empty when the record has none).
    pub seq: Vec<u32>,
    pub pos: Vec<u32>,
    /// Row ids, token-major: `rows[t * columns + col]`.
    pub rows: Vec<u64>,
}

impl RowsRecord {
    /// Whether this record carries per-token sequence ids and positions.
    pub fn has_token_meta(&self) -> bool {
        self.n_tokens > 0 && self.seq.len() == self.n_tokens as usize
    }
}

/// Reads a trace from any `Read` (use [`TraceReader::open`] for files: it buffers).
#[derive(Debug)]
pub struct TraceReader<R: Read> {
    input: R,
    header: TraceHeader,
    offset: u64,
    payload: Vec<u8>,
    records: u64,
    tokens: u64,
    row_ids: u64,
    /// The step of the last record read (steps never go back).
    last_step: Option<u64>,
    finished: bool,
}

impl TraceReader<BufReader<File>> {
    /// Opens a trace file.
    pub fn open(path: &Path) -> Result<Self> {
        let f = File::open(path).map_err(|e| EngramError::io(path, e))?;
        Self::new(BufReader::with_capacity(1 << 20, f))
    }
}

impl TraceReader<BufReader<memwall_io::input::CappedFile>> {
    /// Opens a trace file for a streaming read under a size cap (`memwall_io::input`):
    /// memory stays flat whatever the trace's length, and reading past `limit` bytes fails.
    pub fn open_capped(path: &Path, limit: u64) -> Result<Self> {
        let f = memwall_io::input::open_capped(path, limit)
            .map_err(|e| EngramError::io(path, e.into_io()))?;
        // A buffer smaller than most records: their payloads are read past it, straight
        // into the payload buffer, instead of being copied through it.
        Self::new(BufReader::with_capacity(64 << 10, f))
    }
}

/// Reads exactly `buf.len()` bytes. `Ok(0)` on a clean EOF before any byte, `Ok(n)` when EOF
/// comes after `n < len` bytes.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(a)
}

impl<R: Read> TraceReader<R> {
    /// Reads and checks the file prefix and JSON header.
    pub fn new(mut input: R) -> Result<Self> {
        let mut prefix = [0u8; FILE_PREFIX_LEN];
        let n = read_full(&mut input, &mut prefix)?;
        if n >= 8 && &prefix[..8] != MAGIC {
            return Err(EngramError::trace(
                0,
                "not a memwall Engram trace (bad magic)",
            ));
        }
        if n < FILE_PREFIX_LEN {
            return Err(EngramError::trace(n as u64, "truncated file header"));
        }
        let major = u16::from_le_bytes([prefix[8], prefix[9]]);
        if major != VERSION_MAJOR {
            return Err(EngramError::trace(
                8,
                format!("format version {major}.x is not supported (this reader reads {VERSION_MAJOR}.x)"),
            ));
        }
        let len = u32_at(&prefix, 12);
        let crc = u32_at(&prefix, 16);
        if len > MAX_HEADER {
            return Err(EngramError::trace(
                12,
                format!("header length {len} is implausible"),
            ));
        }
        let mut json = vec![0u8; len as usize];
        let got = read_full(&mut input, &mut json)?;
        if got < json.len() {
            return Err(EngramError::trace(
                (FILE_PREFIX_LEN + got) as u64,
                "truncated header",
            ));
        }
        if crc32fast::hash(&json) != crc {
            return Err(EngramError::trace(
                FILE_PREFIX_LEN as u64,
                "header checksum mismatch",
            ));
        }
        let header: TraceHeader = serde_json::from_slice(&json)
            .map_err(|e| EngramError::trace(FILE_PREFIX_LEN as u64, format!("header JSON: {e}")))?;
        header
            .validate()
            .map_err(|m| EngramError::trace(FILE_PREFIX_LEN as u64, format!("header: {m}")))?;
        Ok(TraceReader {
            input,
            header,
            offset: (FILE_PREFIX_LEN + json.len()) as u64,
            payload: Vec::new(),
            records: 0,
            tokens: 0,
            row_ids: 0,
            last_step: None,
            finished: false,
        })
    }

    /// The trace's header.
    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// ROWS records read so far (the next one is record `records() + 1`, counting from 1).
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the next record into `rec`. `Ok(false)` after the end record, whose totals are
    /// checked; a stream that stops before it is reported as truncated.
    pub fn next_record(&mut self, rec: &mut RowsRecord) -> Result<bool> {
        if self.finished {
            return Ok(false);
        }
        let at = self.offset;
        let mut frame = [0u8; RECORD_FRAME_LEN];
        let n = read_full(&mut self.input, &mut frame)?;
        if n == 0 {
            return Err(EngramError::trace(
                at,
                format!(
                    "truncated: stream ends after {} records without an end record",
                    self.records
                ),
            ));
        }
        if n < RECORD_FRAME_LEN {
            return Err(EngramError::trace(at, "truncated inside a record frame"));
        }
        let kind: [u8; 4] = [frame[0], frame[1], frame[2], frame[3]];
        let len = u32_at(&frame, 4);
        let crc = u32_at(&frame, 8);
        if &kind != KIND_ROWS && &kind != KIND_END {
            return Err(EngramError::trace(
                at,
                format!("unknown record kind {kind:?} (corrupt?)"),
            ));
        }
        if len > MAX_PAYLOAD {
            return Err(EngramError::trace(
                at + 4,
                format!("record length {len} is implausible (corrupt?)"),
            ));
        }
        // Read what is there, growing the buffer a megabyte at a time as data arrives: a
        // corrupt length on a short file must not allocate a gigabyte first.
        let got = self
            .read_payload(len as usize)
            .map_err(|e| EngramError::trace(at, format!("reading a record: {e}")))?;
        let body = at + RECORD_FRAME_LEN as u64;
        if got < len as usize {
            return Err(EngramError::trace(
                body + got as u64,
                format!("truncated: record of {len} bytes at offset {at} has only {got}"),
            ));
        }
        if crc32fast::hash(&self.payload) != crc {
            return Err(EngramError::trace(
                at,
                "record checksum mismatch (corrupt data)",
            ));
        }
        self.offset = body + u64::from(len);
        if &kind == KIND_END {
            return self.finish_end(at);
        }
        self.decode_rows(body, rec)?;
        if self.last_step.is_some_and(|s| rec.step < s) {
            return Err(EngramError::trace(
                body,
                format!(
                    "step {} comes after step {}: records are in step order",
                    rec.step,
                    self.last_step.unwrap_or_default()
                ),
            ));
        }
        self.last_step = Some(rec.step);
        self.records += 1;
        self.tokens += u64::from(rec.n_tokens);
        self.row_ids += rec.rows.len() as u64;
        Ok(true)
    }

    /// Reads up to `len` bytes into the payload buffer; how many there were.
    fn read_payload(&mut self, len: usize) -> std::io::Result<usize> {
        self.payload.clear();
        while self.payload.len() < len {
            let got = self.payload.len();
            let chunk = (len - got).min(1 << 20);
            self.payload.resize(got + chunk, 0);
            let n = read_full(&mut self.input, &mut self.payload[got..])?;
            if n < chunk {
                self.payload.truncate(got + n);
                break;
            }
        }
        Ok(self.payload.len())
    }

    fn finish_end(&mut self, at: u64) -> Result<bool> {
        let p = &self.payload;
        if p.len() < 24 {
            return Err(EngramError::trace(at, "end record too short"));
        }
        let (r, t, n) = (u64_at(p, 0), u64_at(p, 8), u64_at(p, 16));
        if (r, t, n) != (self.records, self.tokens, self.row_ids) {
            return Err(EngramError::trace(
                at,
                format!(
                    "end record says {r} records / {t} tokens / {n} row ids, stream had {} / {} / {}",
                    self.records, self.tokens, self.row_ids
                ),
            ));
        }
        let mut extra = [0u8; 1];
        if read_full(&mut self.input, &mut extra)? != 0 {
            return Err(EngramError::trace(
                self.offset,
                "trailing bytes after the end record",
            ));
        }
        self.finished = true;
        Ok(false)
    }

    fn decode_rows(&self, body: u64, rec: &mut RowsRecord) -> Result<()> {
        let p = &self.payload;
        let bad = |off: usize, m: String| Err(EngramError::trace(body + off as u64, m));
        if p.len() < ROWS_FIXED_LEN {
            return bad(0, "rows record too short".into());
        }
        rec.step = u64_at(p, 0);
        rec.layer_id = u32_at(p, 8);
        rec.n_tokens = u32_at(p, 12);
        let flags = u32_at(p, 16);
        let Some(li) = self.header.layer_index(rec.layer_id) else {
            return bad(8, format!("layer id {} is not in the header", rec.layer_id));
        };
        if flags & !(FLAG_TIMESTAMPS | FLAG_TOKEN_META) != 0 {
            return bad(16, format!("unknown record flags {flags:#x}"));
        }
        let t = rec.n_tokens as usize;
        let width = self.header.row_id_bytes as usize;
        let n_rows = t * self.header.config.columns as usize;
        let mut i = ROWS_FIXED_LEN;
        let expect = i
            + if flags & FLAG_TIMESTAMPS != 0 { 16 } else { 0 }
            + if flags & FLAG_TOKEN_META != 0 {
                8 * t
            } else {
                0
            }
            + n_rows * width;
        if expect != p.len() {
            return bad(
                0,
                format!("rows record is {} bytes, its fields need {expect}", p.len()),
            );
        }
        rec.time_ns = if flags & FLAG_TIMESTAMPS != 0 {
            i += 16;
            Some((u64_at(p, i - 16), u64_at(p, i - 8)))
        } else {
            None
        };
        if let Some((t0, t1)) = rec.time_ns.filter(|(t0, t1)| t1 < t0) {
            return bad(
                ROWS_FIXED_LEN,
                format!("lookup ends (t_end {t1} ns) before it starts (t_start {t0} ns)"),
            );
        }
        rec.seq.clear();
        rec.pos.clear();
        if flags & FLAG_TOKEN_META != 0 {
            rec.seq
                .extend(p[i..i + 4 * t].chunks_exact(4).map(|c| u32_at(c, 0)));
            i += 4 * t;
            rec.pos
                .extend(p[i..i + 4 * t].chunks_exact(4).map(|c| u32_at(c, 0)));
            i += 4 * t;
        }
        rec.rows.resize(n_rows, 0);
        let src = &p[i..];
        if width == 4 {
            for (d, c) in rec.rows.iter_mut().zip(src.chunks_exact(4)) {
                *d = u64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
            }
        } else {
            for (d, c) in rec.rows.iter_mut().zip(src.chunks_exact(8)) {
                *d = u64_at(c, 0);
            }
        }
        let limit = self.header.config.table_rows[li];
        let max = rec.rows.iter().copied().fold(0, u64::max);
        if n_rows > 0 && max >= limit {
            return bad(
                i,
                format!(
                    "row id {max} is outside layer {}'s {limit} rows",
                    rec.layer_id
                ),
            );
        }
        Ok(())
    }
}
