//! Engine steps replayed from a captured Engram access trace (`.mwet`,
//! docs/engram-trace-format.md): `[workload] kind = "engram-trace"`. Each trace step gives
//! the step's composition (which sequences, how many new tokens after how many cached
//! ones, from the per-token sequence ids and positions), the exact row ids each Engram
//! layer reads (so HBM, DRAM and NVMe-front row caches see the engine's real reuse), and,
//! where the trace has timestamps, the engine's measured step and lookup times.
//!
//! The trace is streamed (one step and the step after it in memory, whatever the trace's
//! length) through the size-capped reader of `memwall_io::input`; every error names the
//! file, the record and its byte offset, the field, and a fix.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use memwall_engram::trace::{RowsRecord, TraceHeader, TraceReader};
use memwall_engram::{EngramError, EngramLayout};
use memwall_io::input::CappedFile;
use memwall_sim::Ps;

use crate::fast_hash::FastMap;

use memwall_llm::ModelRegistry;
use memwall_models::Registry;

use super::batcher::{SeqWork, StepPlan};
use super::error::{invalid, ScenarioError};
use super::metrics::{Slo, Window};
use super::requests::Clients;
use super::run::{resolve, resolve_model, RunOptions, RunResult};
use super::scenario::Scenario;
use super::sim::{Load, ServeSim};

/// One replayed engine step.
#[derive(Debug, Clone, Default)]
pub struct TraceStep {
    /// The step number the engine wrote.
    pub step: u64,
    /// Its composition: one work item per sequence (in order of first token).
    pub plan: StepPlan,
    /// The trace's sequence id of each work item.
    pub seqs: Vec<u32>,
    /// Row ids per Engram layer (header order), as the trace has them (in the layer's table).
    pub rows: Vec<Vec<u64>>,
    /// Per layer: the engine's lookup (start, end), ns, when recorded.
    pub lookups: Vec<Option<(u64, u64)>>,
    /// Per layer: whether the step has a record of it.
    pub present: Vec<bool>,
    /// The engine's step time: its first lookup start to the next step's (timestamps only).
    pub engine_step: Option<Ps>,
    /// Work index of each sequence id.
    index: FastMap<u32, usize>,
}

impl TraceStep {
    fn clear(&mut self, layers: usize) {
        self.plan.work.clear();
        self.plan.prefill = false;
        self.seqs.clear();
        self.index.clear();
        self.rows.resize_with(layers, Vec::new);
        self.rows.iter_mut().for_each(Vec::clear);
        self.lookups.clear();
        self.lookups.resize(layers, None);
        self.present.clear();
        self.present.resize(layers, false);
        self.engine_step = None;
    }

    /// Tokens of the step.
    pub fn tokens(&self) -> u64 {
        self.plan.tokens()
    }

    /// The first lookup's start (ns), if the trace has timestamps.
    fn start_ns(&self) -> Option<u64> {
        self.lookups.iter().flatten().map(|l| l.0).min()
    }
}

/// What a replay consumed: steps, tokens, row ids, their sum, and a hash of each (step,
/// layer, row ids in order) record summed over records (so the order of a step's layers
/// does not matter). A test folds the trace file itself the same way and compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceDigest {
    pub steps: u64,
    pub tokens: u64,
    pub row_ids: u64,
    pub row_sum: u64,
    pub hash: u64,
}

impl TraceDigest {
    /// One (step, layer) read of `rows` (row ids in the layer's table).
    pub fn add_rows(&mut self, step: u64, layer: u32, rows: &[u64]) {
        let mix = |h: u64, x: u64| (h ^ x).wrapping_mul(0x0000_0100_0000_01b3);
        let mut h = mix(mix(0xcbf2_9ce4_8422_2325, step), u64::from(layer));
        for &r in rows {
            h = mix(h, r);
            self.row_sum = self.row_sum.wrapping_add(r);
        }
        self.hash = self.hash.wrapping_add(h);
        self.row_ids += rows.len() as u64;
    }

    /// One step of `tokens` tokens.
    pub fn add_step(&mut self, tokens: u64) {
        self.steps += 1;
        self.tokens += tokens;
    }
}

/// A `.mwet` trace read step by step.
pub struct TraceSteps {
    path: PathBuf,
    reader: TraceReader<BufReader<CappedFile>>,
    rec: RowsRecord,
    /// `rec` holds a record already read (the first of the next step).
    pending: bool,
    cur: TraceStep,
    ahead: TraceStep,
    have_ahead: bool,
    started: bool,
    max_steps: Option<u64>,
    taken: u64,
}

/// Where a trace error was found: the record (counting from 1) and its byte offset.
struct At {
    record: u64,
    offset: u64,
}

impl TraceSteps {
    /// Opens `path` (under the input cap) and checks its header against `layout`, the
    /// scenario's Engram layout (none: the scenario runs without Engram and only the
    /// steps are replayed).
    pub fn open(
        path: &Path,
        layout: Option<&EngramLayout>,
        max_steps: Option<u64>,
    ) -> Result<TraceSteps, ScenarioError> {
        let limit = memwall_io::input::input_limit();
        let reader =
            TraceReader::open_capped(path, limit).map_err(|e| format_error(path, None, e))?;
        if let Some(l) = layout {
            reader.header().check_layout(l).map_err(|e| {
                invalid_at(
                    path,
                    None,
                    "config",
                    e.to_string(),
                    format!(
                        "set [engram] layout to the layout the trace was recorded with \
                         (its header names `{}`)",
                        reader.header().config.name
                    ),
                )
            })?;
        }
        Ok(TraceSteps {
            path: path.to_path_buf(),
            reader,
            rec: RowsRecord::default(),
            pending: false,
            cur: TraceStep::default(),
            ahead: TraceStep::default(),
            have_ahead: false,
            started: false,
            max_steps,
            taken: 0,
        })
    }

    pub fn header(&self) -> &TraceHeader {
        self.reader.header()
    }

    /// Bytes of the trace read so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.offset()
    }

    /// The next step, or `None` after the last (or after `max_steps`). A step's prefill
    /// chunks sample a token unless the step after it continues the same prefill, and its
    /// engine step time runs to the next step's first lookup: both need the next step, so
    /// one step is read ahead.
    pub fn next_step(&mut self) -> Result<Option<&TraceStep>, ScenarioError> {
        if !self.started {
            self.started = true;
            self.have_ahead = self.read_step()?;
        }
        if !self.have_ahead || self.max_steps.is_some_and(|m| self.taken >= m) {
            return Ok(None);
        }
        std::mem::swap(&mut self.cur, &mut self.ahead);
        self.have_ahead = self.read_step()?;
        settle(&mut self.cur, self.have_ahead.then_some(&self.ahead));
        self.taken += 1;
        Ok(Some(&self.cur))
    }

    /// Reads the records of one step into `self.ahead`; false at the end of the trace.
    fn read_step(&mut self) -> Result<bool, ScenarioError> {
        let layers = self.reader.header().config.layer_ids.len();
        let mut got = false;
        self.ahead.clear(layers);
        loop {
            if !self.pending {
                let record = self.reader.records() + 1;
                let more = self
                    .reader
                    .next_record(&mut self.rec)
                    .map_err(|e| format_error(&self.path, Some(record), e))?;
                if !more {
                    break;
                }
                self.pending = true;
            }
            if got && self.rec.step != self.ahead.step {
                break;
            }
            self.add_record(!got)?;
            self.pending = false;
            got = true;
        }
        Ok(got)
    }

    /// Adds the pending record to the step being read (its first when `first`).
    fn add_record(&mut self, first: bool) -> Result<(), ScenarioError> {
        let at = At {
            record: self.reader.records(),
            offset: self.reader.offset(),
        };
        let rec = &self.rec;
        let st = &mut self.ahead;
        let li = self
            .reader
            .header()
            .layer_index(rec.layer_id)
            .expect("the reader checks layer ids");
        if first {
            st.step = rec.step;
            compose(rec, st).map_err(|(field, m, hint)| {
                invalid_at(&self.path, Some(&at), field, m, hint.into())
            })?;
        } else if u64::from(rec.n_tokens) != st.tokens() {
            return Err(invalid_at(
                &self.path,
                Some(&at),
                "tokens",
                format!(
                    "layer {} of step {} has {} tokens, the step's first layer {}",
                    rec.layer_id,
                    rec.step,
                    rec.n_tokens,
                    st.tokens()
                ),
                "every Engram layer of a step looks up the same tokens: write one record per \
                 layer with the step's full [T, columns] rows"
                    .into(),
            ));
        }
        if st.present[li] {
            return Err(invalid_at(
                &self.path,
                Some(&at),
                "layer_id",
                format!("layer {} appears twice in step {}", rec.layer_id, rec.step),
                "write one record per (step, layer); a new engine iteration needs a new step \
                 number"
                    .into(),
            ));
        }
        st.present[li] = true;
        st.lookups[li] = rec.time_ns;
        // Each layer once per step: the record's rows move in (the step's old buffer goes
        // back to the reader, so neither is reallocated).
        std::mem::swap(&mut st.rows[li], &mut self.rec.rows);
        Ok(())
    }
}

/// A field error: (field, message, hint).
type FieldError = (&'static str, String, &'static str);

/// The step's composition from a record's per-token sequence ids and positions: one work
/// item per sequence, its tokens consecutive positions after `ctx` cached ones; a single
/// new token after a context is a decode. Without token meta the step is one sequence's
/// chunk of all its tokens at context 0.
fn compose(rec: &RowsRecord, st: &mut TraceStep) -> Result<(), FieldError> {
    let t = rec.n_tokens;
    if !rec.has_token_meta() {
        if t > 0 {
            st.seqs.push(0);
            st.plan.work.push(SeqWork {
                seq: 0,
                ctx: 0,
                new: t,
                samples: true,
                decode: false,
            });
            st.plan.prefill = true;
        }
        return Ok(());
    }
    // The work item of the previous token: a sequence's tokens usually come together.
    let mut last: Option<(u32, usize)> = None;
    for (&seq, &pos) in rec.seq.iter().zip(&rec.pos) {
        let found = match last {
            Some((s, i)) if s == seq => Some(i),
            _ => st.index.get(&seq).copied(),
        };
        last = Some((seq, found.unwrap_or(st.plan.work.len())));
        match found {
            Some(i) => {
                let w = &mut st.plan.work[i];
                if pos != w.ctx + w.new {
                    return Err((
                        "positions",
                        format!(
                            "sequence {seq} has a token at position {pos} after positions \
                             {}..{} in step {}",
                            w.ctx,
                            w.ctx + w.new,
                            rec.step
                        ),
                        "a sequence's tokens in one step are consecutive positions, in \
                         order (write the engine's positions, not the batch slots)",
                    ));
                }
                w.new += 1;
            }
            None => {
                st.index.insert(seq, st.plan.work.len());
                st.seqs.push(seq);
                st.plan.work.push(SeqWork {
                    seq: st.seqs.len() - 1,
                    ctx: pos,
                    new: 1,
                    samples: false,
                    decode: false,
                });
            }
        }
    }
    for w in st.plan.work.iter_mut() {
        w.decode = w.new == 1 && w.ctx > 0;
    }
    st.plan.prefill = st.plan.work.iter().any(|w| !w.decode);
    Ok(())
}

/// What the step after `cur` tells about it: a prefill chunk samples a token unless the
/// next step continues the same sequence's prefill; the engine step time.
fn settle(cur: &mut TraceStep, ahead: Option<&TraceStep>) {
    for (w, s) in cur.plan.work.iter_mut().zip(&cur.seqs) {
        let continued = ahead
            .and_then(|a| a.index.get(s).map(|&i| a.plan.work[i]))
            .is_some_and(|n| !n.decode && n.ctx == w.ctx + w.new);
        w.samples = w.decode || !continued;
    }
    cur.engine_step = match (cur.start_ns(), ahead.and_then(TraceStep::start_ns)) {
        (Some(a), Some(b)) => Some(Ps(b.saturating_sub(a).saturating_mul(1000))),
        _ => None,
    };
}

/// A trace the reader refuses (format, checksum, truncation, a row id out of range), in
/// its header (`record` none) or at a record (counting from 1).
fn format_error(path: &Path, record: Option<u64>, e: EngramError) -> ScenarioError {
    let (what, hint) = match e {
        EngramError::Io { source, .. } => (
            source.to_string(),
            "give a readable .mwet file (a larger one: raise MEMWALL_MAX_INPUT_BYTES)",
        ),
        EngramError::Stream(source) => (
            source.to_string(),
            "give a readable .mwet file (a larger one: raise MEMWALL_MAX_INPUT_BYTES)",
        ),
        other => (
            other.to_string(),
            "the trace is corrupt or was not closed: re-record it (tools/memwall_trace.py \
             writes the end record on close(); docs/engram-trace-format.md)",
        ),
    };
    let place = record.map_or("header".to_string(), |r| format!("record {r}"));
    ScenarioError::Invalid {
        origin: path.display().to_string(),
        message: format!("{place}: {what}\nhint: {hint}"),
    }
}

/// An error at a record (or in the header when `at` is none), naming the field.
fn invalid_at(
    path: &Path,
    at: Option<&At>,
    field: &str,
    message: String,
    hint: String,
) -> ScenarioError {
    let place = match at {
        Some(a) => format!("record {} (ending at byte offset {})", a.record, a.offset),
        None => "header".to_string(),
    };
    ScenarioError::Invalid {
        origin: path.display().to_string(),
        message: format!("{place}, field `{field}`: {message}\nhint: {hint}"),
    }
}

/// Serves a scenario whose workload is an Engram access trace (and, when asked, the same
/// steps without Engram, for the throughput penalty). One replica (the trace records one
/// engine); no per-request latency (the trace has no arrival times).
pub(crate) fn replay_scenario(
    s: &Scenario,
    reg: &Registry,
    models: &ModelRegistry,
    opt: RunOptions,
    trace: &str,
    max_steps: Option<u64>,
) -> Result<RunResult, ScenarioError> {
    let s = &one_replica(s)?;
    let model = resolve_model(s, models)?;
    let path = resolve(s, trace);
    let layout = trace_layout(s)?;
    let load = || -> Result<Load, ScenarioError> {
        Ok(Load {
            clients: Clients::open(s)?,
            window: Window::default(),
            slo: Slo::default(),
        })
    };
    let engram = s.engram.is_some();
    let mut steps = TraceSteps::open(&path, layout.as_ref(), max_steps)?;
    let out = ServeSim::new(s, reg, &model, load()?, engram, opt)?.run_trace(&mut steps)?;
    let without = if engram && s.compare_without_engram {
        let mut steps = TraceSteps::open(&path, None, max_steps)?;
        let o = RunOptions { step_rows: false };
        Some(
            ServeSim::new(s, reg, &model, load()?, false, o)?
                .run_trace(&mut steps)?
                .stats,
        )
    } else {
        None
    };
    Ok(crate::run::result(s, &model, out, without))
}

/// The scenario with one replica (`replicas` unset means one here).
fn one_replica(s: &Scenario) -> Result<Scenario, ScenarioError> {
    let mut s = s.clone();
    match s.engine.replicas {
        0 | 1 => s.engine.replicas = 1,
        n => {
            return Err(ScenarioError::Field {
                origin: s.origin.clone(),
                line: crate::limits::key_line(&s.source_text, "engine.replicas"),
                field: "engine.replicas".into(),
                value: n.to_string(),
                message: "a trace replay serves the one engine the trace recorded".into(),
                hint: "set replicas = 1 (or leave it out) with kind = \"engram-trace\"".into(),
            })
        }
    }
    Ok(s)
}

/// The built-in Engram layout the trace is checked against (none without `[engram]`).
fn trace_layout(s: &Scenario) -> Result<Option<EngramLayout>, ScenarioError> {
    let Some(g) = &s.engram else { return Ok(None) };
    if g.layout == "custom" {
        return Err(invalid(
            &s.origin,
            "[engram] layout = \"custom\" has no table layout to check a trace against\n\
             hint: a trace replay needs the built-in layout it was recorded with (v41-flash, \
             demo, engram-27b, engram-40b)"
                .into(),
        ));
    }
    EngramLayout::builtin(&g.layout).map(Some).map_err(|e| {
        invalid(
            &s.origin,
            format!(
                "[engram] layout: {e}\nhint: v41-flash, demo, engram-27b, engram-40b or custom"
            ),
        )
    })
}
