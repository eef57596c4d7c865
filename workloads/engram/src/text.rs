//! Real text to an Engram access trace: text files -> tokenizer -> compressed ids -> rows,
//! batched by [`run_serving`] as a serving engine would. This is what
//! `memwall trace engram --model M --tokenizer PATH --text FILE... --out FILE` calls.
//!
//! Files are read in blocks of about 1 MiB cut at line ends, so memory does not grow with
//! the corpus. Each file is a stream of requests of `prompt_tokens + decode_tokens` tokens;
//! requests do not span files.

use memwall_io::progress::Reading;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use super::compress::{load_tokenizer, CompressedVocab};
use super::config::EngramLayout;
use super::error::{EngramError, Result};
use super::hash::EngramHasher;
use super::serving::{run_serving, RequestSource, ServingSchedule, ServingStats};
use super::synth::{SyntheticSource, SyntheticSpec};
use super::trace::{AtomicFile, TraceHeader, TraceSummary, TraceWriter};

const BLOCK_BYTES: usize = 1 << 20;
/// The longest line read from a text file (a device such as /dev/zero has no end of line).
const MAX_LINE_BYTES: u64 = 16 << 20;

/// Options of a text-driven trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTraceOptions {
    pub schedule: ServingSchedule,
    /// Prepend BOS (raw id 0) to every request, as chat templates do.
    pub add_bos: bool,
}

impl Default for TextTraceOptions {
    fn default() -> Self {
        TextTraceOptions {
            schedule: ServingSchedule::default(),
            add_bos: true,
        }
    }
}

/// Requests cut from text files.
pub struct TextSource<'a> {
    tokenizer: &'a Tokenizer,
    vocab: &'a CompressedVocab,
    files: VecDeque<PathBuf>,
    /// The file being read, its bytes reported as progress (drawn on a terminal).
    reader: Option<(PathBuf, BufReader<Reading<File>>)>,
    pending: VecDeque<u32>,
    request_len: usize,
    bos: Option<u32>,
    line: String,
    block: String,
}

impl<'a> TextSource<'a> {
    pub fn new(
        tokenizer: &'a Tokenizer,
        vocab: &'a CompressedVocab,
        files: &[PathBuf],
        opts: &TextTraceOptions,
    ) -> Result<Self> {
        if files.is_empty() {
            return Err(EngramError::InvalidArgument("no text files given".into()));
        }
        let request_len = opts.schedule.prompt_tokens + opts.schedule.decode_tokens;
        Ok(TextSource {
            tokenizer,
            vocab,
            files: files.iter().cloned().collect(),
            reader: None,
            pending: VecDeque::new(),
            request_len: request_len.max(1),
            bos: if opts.add_bos {
                Some(vocab.compress(0)?)
            } else {
                None
            },
            line: String::new(),
            block: String::new(),
        })
    }

    /// Tokenizes the next block of the current file; `Ok(false)` at the end of the file.
    fn refill(&mut self) -> Result<bool> {
        let Some((path, reader)) = self.reader.as_mut() else {
            return Ok(false);
        };
        self.block.clear();
        while self.block.len() < BLOCK_BYTES {
            self.line.clear();
            let n = reader
                .by_ref()
                .take(MAX_LINE_BYTES + 1)
                .read_line(&mut self.line)
                .map_err(|e| EngramError::io(path.as_path(), e))?;
            if n == 0 {
                break;
            }
            if n as u64 > MAX_LINE_BYTES {
                let e = std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    "a line longer than 16 MiB: is it a text file?",
                );
                return Err(EngramError::io(path.as_path(), e));
            }
            self.block.push_str(&self.line);
        }
        if self.block.is_empty() {
            return Ok(false);
        }
        let enc = self
            .tokenizer
            .encode(self.block.as_str(), false)
            .map_err(|e| EngramError::Tokenizer {
                path: path.display().to_string(),
                msg: format!("encoding text: {e}"),
            })?;
        for &raw in enc.get_ids() {
            self.pending.push_back(self.vocab.compress(raw)?);
        }
        Ok(true)
    }
}

impl RequestSource for TextSource<'_> {
    fn next_request(&mut self, tokens: &mut Vec<u32>) -> Result<bool> {
        tokens.clear();
        loop {
            if self.reader.is_none() {
                let Some(path) = self.files.pop_front() else {
                    return Ok(false);
                };
                let f = File::open(&path).map_err(|e| EngramError::io(&path, e))?;
                let len = f.metadata().map(|m| m.len()).ok();
                let f = Reading::new(f, &format!("tracing {}", path.display()), len);
                self.reader = Some((path, BufReader::new(f)));
                self.pending.clear();
            }
            let want = self.request_len - usize::from(self.bos.is_some());
            while self.pending.len() < want {
                if !self.refill()? {
                    break;
                }
            }
            if self.pending.is_empty() {
                self.reader = None; // this file is done
                continue;
            }
            tokens.extend(self.bos);
            let n = want.min(self.pending.len());
            tokens.extend(self.pending.drain(..n));
            return Ok(true);
        }
    }
}

/// Turns text files into a trace written to `out` (any stream).
pub fn trace_from_text<W: Write>(
    layout: &EngramLayout,
    tokenizer: &Tokenizer,
    vocab: &CompressedVocab,
    texts: &[PathBuf],
    opts: &TextTraceOptions,
    out: W,
) -> Result<(ServingStats, TraceSummary, W)> {
    vocab.check_config(&layout.config)?;
    let hasher = EngramHasher::new(layout);
    let source = serde_json::json!({
        "kind": "text",
        "files": texts.iter().map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).collect::<Vec<_>>(),
        "prompt_tokens": opts.schedule.prompt_tokens,
        "decode_tokens": opts.schedule.decode_tokens,
        "prefill_chunk": opts.schedule.prefill_chunk,
        "max_batch_tokens": opts.schedule.max_batch_tokens,
        "max_running": opts.schedule.max_running,
        "add_bos": opts.add_bos,
    });
    let mut writer = TraceWriter::new(out, TraceHeader::for_layout(layout, source))?;
    let mut src = TextSource::new(tokenizer, vocab, texts, opts)?;
    let stats = run_serving(&hasher, &mut src, &opts.schedule, &mut writer)?;
    let (summary, out) = writer.finish()?;
    Ok((stats, summary, out))
}

/// The CLI entry point: built-in model name, tokenizer path, text files, output path.
/// Checks the tokenizer against the model's compressed vocabulary first, and writes the
/// trace atomically (no partial file under `out` on error).
pub fn write_text_trace_file(
    model: &str,
    tokenizer_path: &Path,
    texts: &[PathBuf],
    opts: &TextTraceOptions,
    out: &Path,
) -> Result<(ServingStats, TraceSummary)> {
    let layout = EngramLayout::builtin(model)?;
    let tokenizer = load_tokenizer(tokenizer_path)?;
    let vocab = CompressedVocab::from_tokenizer(&tokenizer, &tokenizer_path.display().to_string())?;
    let file = AtomicFile::create(out)?;
    let (stats, summary, file) = trace_from_text(&layout, &tokenizer, &vocab, texts, opts, file)?;
    file.commit()?;
    Ok((stats, summary))
}

/// A synthetic (Zipf) trace written to `out` (any stream).
pub fn trace_synthetic<W: Write>(
    layout: &EngramLayout,
    spec: &SyntheticSpec,
    schedule: &ServingSchedule,
    out: W,
) -> Result<(ServingStats, TraceSummary, W)> {
    let hasher = EngramHasher::new(layout);
    let source = serde_json::json!({
        "kind": "synthetic",
        "seed": spec.seed,
        "requests": spec.requests,
        "tokens_per_request": spec.tokens_per_request,
        "phrases": spec.phrases,
        "zipf_exponent": spec.zipf_exponent,
        "max_phrase_len": spec.max_phrase_len,
    });
    let mut writer = TraceWriter::new(out, TraceHeader::for_layout(layout, source))?;
    let mut src = SyntheticSource::new(spec.clone())?;
    let stats = run_serving(&hasher, &mut src, schedule, &mut writer)?;
    let (summary, out) = writer.finish()?;
    Ok((stats, summary, out))
}
