//! A scenario: what to serve, on which system, with the Engram tables where. Read from
//! TOML (unknown fields are errors; every error names the file, the line and the field,
//! with a hint), or built in code by the sweep engine. Quantities are strings with units
//! (`"64 GiB"`, `"20 GB/s"`, `"5 us"`) parsed by `memwall_models::units`.

use std::collections::BTreeMap;

use memwall_models::tiers::{FieldSource, TierConfig};
use serde::Deserialize;
use toml::Spanned;

use crate::error::invalid;
pub use crate::error::ScenarioError;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Label written into every report.
    #[serde(default = "default_name")]
    pub name: String,
    /// Seed of every random draw (request lengths, synthetic token text).
    #[serde(default)]
    pub seed: u64,
    /// System profile (`memwall profiles list`).
    pub system: String,
    /// Built-in model config (deepseek-v4.1-flash, qwen3-4b-dense, ...).
    pub model: String,
    pub workload: WorkloadSpec,
    /// Warm-up and cool-down left out of the request metrics, and the goodput SLOs.
    #[serde(default)]
    pub metrics: MetricsSpec,
    #[serde(default)]
    pub engine: EngineSpec,
    /// No `[engram]` table: the model runs without Engram.
    pub engram: Option<EngramSpec>,
    /// Real token text for the requests (else seeded synthetic Zipf text).
    pub text: Option<TextSpec>,
    /// Prefix caching and KV-cache tiers below HBM (docs/kv-tiers.md); absent: none.
    pub kv_cache: Option<crate::kv::KvCacheSpec>,
    /// What requests share (system prompts, conversations), for the prefix cache.
    pub prompts: Option<crate::kv::PromptsSpec>,
    /// Prefill and decode on separate GPU pools, the KV shipped between them.
    pub disaggregation: Option<crate::disagg::DisaggSpec>,
    /// Nodes of the system's NVLink domain served as one (`crate::rack`; default 1).
    pub nodes: Option<usize>,
    /// Expert parallelism with its all-to-all as flows and seeded routing (`crate::moe`).
    pub moe: Option<crate::moe::MoeSpec>,
    /// Also run the same scenario without Engram and report the throughput penalty.
    #[serde(default = "yes")]
    pub compare_without_engram: bool,
    /// Where the file came from, for error messages (not a TOML field).
    #[serde(skip)]
    pub origin: String,
    #[serde(skip)]
    pub source_text: String,
}

fn default_name() -> String {
    "scenario".into()
}
fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "kind", rename_all = "kebab-case")]
pub enum WorkloadSpec {
    /// N sequences, all present at time zero (an offline benchmark such as nano-vLLM's
    /// bench.py), prompt and output lengths uniform in [min, max].
    Synthetic {
        requests: u64,
        prompt_tokens: [u32; 2],
        output_tokens: [u32; 2],
    },
    /// Requests from a CSV in the Azure LLM inference trace layout
    /// (`TIMESTAMP,ContextTokens,GeneratedTokens`), arriving at their timestamps.
    Azure {
        csv: String,
        /// Stop after this many requests (all when absent).
        max_requests: Option<u64>,
    },
    /// Requests from a JSONL file, one JSON object a line with `input_toks`, `output_toks`
    /// and `arrival_time` (seconds, relative to the first line's; other keys are ignored),
    /// as vLLM's benchmark records them (`../shared/data/vllm-serving/*/requests.jsonl`).
    Jsonl {
        file: String,
        /// Stop after this many requests (all when absent).
        max_requests: Option<u64>,
    },
    /// Open loop: `requests` arrivals of a Poisson process at `rate` requests/s (seeded),
    /// the first at time zero; lengths uniform in ranges or read from a JSONL file.
    Poisson {
        rate: f64,
        requests: u64,
        prompt_tokens: Option<[u32; 2]>,
        output_tokens: Option<[u32; 2]>,
        /// A JSONL file whose `input_toks` and `output_toks` are taken in order (cycled).
        lengths: Option<String>,
    },
    /// Closed loop: `concurrency` clients, each issuing its next request when its last
    /// one finishes (plus `think_time`), `requests` in all, as vLLM's `benchmark_serving`
    /// and SGLang's `bench_serving` run with a concurrency limit.
    ClosedLoop {
        concurrency: u64,
        requests: u64,
        /// Time between a request's last token and the client's next request.
        think_time: Option<String>,
        prompt_tokens: Option<[u32; 2]>,
        output_tokens: Option<[u32; 2]>,
        lengths: Option<String>,
    },
    /// Steps replayed from an Engram access trace (`.mwet`, from `memwall trace engram` or
    /// an engine through tools/memwall_trace.py): each step's sequences and tokens, and
    /// every Engram layer's row ids, as the engine ran them (docs/tiers.md).
    EngramTrace {
        trace: String,
        /// Stop after this many steps (all when absent).
        max_steps: Option<u64>,
    },
}

/// Where generated requests (Poisson, closed loop) take their lengths from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LengthSpec<'a> {
    /// Uniform in the inclusive ranges, seeded.
    Uniform { prompt: [u32; 2], output: [u32; 2] },
    /// A JSONL file's `input_toks` and `output_toks`, in order, cycled.
    File(&'a str),
}

impl WorkloadSpec {
    /// The lengths of a generated workload (none for file and synthetic workloads, or when
    /// the fields are incomplete).
    pub fn lengths(&self) -> Option<LengthSpec<'_>> {
        let (p, o, f) = match self {
            WorkloadSpec::Poisson {
                prompt_tokens,
                output_tokens,
                lengths,
                ..
            }
            | WorkloadSpec::ClosedLoop {
                prompt_tokens,
                output_tokens,
                lengths,
                ..
            } => (prompt_tokens, output_tokens, lengths),
            _ => return None,
        };
        match (p, o, f) {
            (Some(prompt), Some(output), None) => Some(LengthSpec::Uniform {
                prompt: *prompt,
                output: *output,
            }),
            (None, None, Some(f)) => Some(LengthSpec::File(f)),
            _ => None,
        }
    }
}

/// `[metrics]`: which requests are measured and the service-level objectives of goodput.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSpec {
    /// The first requests issued, served but left out of the latency metrics (warm-up).
    pub warmup_requests: u64,
    /// The last requests issued, served but left out of the metrics (cool-down).
    pub cooldown_requests: u64,
    /// Goodput counts the measured requests whose TTFT and TPOT are at or under these.
    pub slo_ttft: Option<String>,
    pub slo_tpot: Option<String>,
}

/// `[text]`: each request's token ids are a seeded slice of a real corpus, tokenized with
/// a real tokenizer (paths relative to the scenario file).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TextSpec {
    /// A text file, or a folder of `.md` / `.txt` files (e.g. .cache/inputs/shakespeare).
    pub corpus: String,
    /// A Hugging Face tokenizer.json (e.g. .cache/inputs/deepseek-v4/tokenizer.json).
    pub tokenizer: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct EngineSpec {
    /// An engine profile (`vllm-v1`, `sglang`, `nano-vllm`; docs/engines.md) whose
    /// scheduler, KV blocks, CPU costs and CUDA graphs the run follows; the fields below
    /// that the scenario writes override the profile's. Absent: the built-in behaviour
    /// (prefill-first, KV per token, the defaults below).
    pub engine: Option<Spanned<String>>,
    /// GPUs per replica, weights and KV split over them, two all-reduces per layer
    /// (`memwall_models::collective` on the node's links).
    pub tensor_parallel: u64,
    /// GPUs simulated, each a data-parallel replica with its own batch (all contend for
    /// the node's host DRAM, switches and drives). 0 = every GPU of the node (divided by
    /// `tensor_parallel`).
    pub replicas: usize,
    /// Expert-parallel degree for MoE weights (experts split over this many GPUs).
    pub expert_parallel: u64,
    /// Default 256 (or the engine profile's).
    pub max_num_seqs: Option<usize>,
    /// Default 16384 (or the engine profile's).
    pub max_batched_tokens: Option<u64>,
    /// KV-cache capacity per replica in tokens; derived from HBM when absent.
    pub kv_cache_tokens: Option<u64>,
    /// Share of HBM the engine may use (vLLM's gpu_memory_utilization); default 0.9.
    pub gpu_memory_utilization: Option<f64>,
    /// Kernels launched per layer (launch overhead each); decode under CUDA graphs pays
    /// one launch per step instead. Default 8 (or the engine profile's).
    pub kernels_per_layer: Option<u64>,
    /// Default true (or the engine profile's `full_decode`).
    pub cuda_graph_decode: Option<bool>,
    /// Share of the GPU profile's achievable FLOP rate and HBM bandwidth that the engine's
    /// kernels reach (attention, GEMMs, KV reads), applied to every roofline kernel of the
    /// backbone and of the Engram module; 1.0 = the achievable figures. A calibration knob:
    /// say what it was fitted to.
    pub compute_efficiency: f64,
    /// CPU time per step on the critical path (scheduling, input preparation, sampling);
    /// default 0 (or the engine profile's `cpu.step`).
    pub host_step_overhead: Option<Spanned<String>>,
}

impl Default for EngineSpec {
    fn default() -> Self {
        EngineSpec {
            engine: None,
            tensor_parallel: 1,
            replicas: 0,
            expert_parallel: 1,
            max_num_seqs: None,
            max_batched_tokens: None,
            kv_cache_tokens: None,
            gpu_memory_utilization: None,
            kernels_per_layer: None,
            cuda_graph_decode: None,
            compute_efficiency: 1.0,
            host_step_overhead: None,
        }
    }
}

impl EngineSpec {
    /// The built-in behaviour's values (no engine profile), where the scenario is silent.
    pub fn max_num_seqs_or_default(&self) -> usize {
        self.max_num_seqs.unwrap_or(256)
    }
    pub fn max_batched_tokens_or_default(&self) -> u64 {
        self.max_batched_tokens.unwrap_or(16384)
    }
    pub fn gpu_memory_utilization_or_default(&self) -> f64 {
        self.gpu_memory_utilization.unwrap_or(0.9)
    }
    pub fn kernels_per_layer_or_default(&self) -> u64 {
        self.kernels_per_layer.unwrap_or(8)
    }
    pub fn cuda_graph_decode_or_default(&self) -> bool {
        self.cuda_graph_decode.unwrap_or(true)
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum HostCopy {
    /// One copy per socket: each GPU reads its own socket's copy.
    PerSocket,
    /// One copy per node on socket 0: GPUs on other sockets cross the socket link.
    PerNode,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum CachePolicy {
    Lru,
    Lfu,
    /// The top-k rows by frequency over the first `warmup_steps` steps, then frozen.
    StaticTopk,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HbmCacheSpec {
    pub policy: CachePolicy,
    pub size: Spanned<String>,
    #[serde(default = "default_warmup")]
    pub warmup_steps: u64,
}
fn default_warmup() -> u64 {
    32
}

/// `[engram]`: the layout, how fetches are issued, and the tier the table lives in
/// (`placement = "..."` with that tier's own fields, [`memwall_models::tiers`]).
///
/// Read in two passes: serde fills the fields below (the tier's keys are skipped), then
/// [`Scenario::from_toml_str`] reads `placement` and every key not listed in
/// [`EngramSpec::FIELDS`] as the tier's table, with their lines.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct EngramSpec {
    /// Built-in Engram layout (v41-flash, demo, engram-27b, engram-40b) for layers, rows per
    /// token and row bytes; or `custom` with the fields below.
    pub layout: String,
    /// custom: Engram layer ids, rows read per token per layer, bytes per row, rows per
    /// table, values per row (row_dim) and hc_mult for the module's compute.
    pub layer_ids: Option<Vec<u32>>,
    pub rows_per_token: Option<u64>,
    pub row_bytes: Option<u64>,
    pub table_rows: Option<u64>,
    pub row_dim: Option<u64>,
    pub conv_kernel: Option<u64>,
    /// Where the table lives, with that tier's fields (`placement = "nvme"`, `drives`, ...).
    #[serde(skip, default = "unread_tier")]
    pub tier: TierConfig,
    /// Where the tier's fields were written (file and line of each), for errors.
    #[serde(skip)]
    pub tier_source: FieldSource,
    #[serde(default = "default_host_copy")]
    pub host_copy: HostCopy,
    /// Issue each step's fetches as soon as its tokens are known (side stream); false:
    /// at the layer.
    #[serde(default = "yes")]
    pub prefetch: bool,
    /// Host-side hashing per step: fixed and per-token CPU time; `hash_blocking` puts it
    /// on the critical path (a synchronous engine such as nano-vLLM).
    #[serde(default = "zero_time")]
    pub hash_per_step: Spanned<String>,
    #[serde(default = "zero_time")]
    pub hash_per_token: Spanned<String>,
    #[serde(default = "yes")]
    pub hash_blocking: bool,
    /// Kernels the Engram module launches per layer (gather, projections, gating, conv).
    #[serde(default = "default_engram_kernels")]
    pub kernels: u64,
    /// An HBM hot-row cache in front of the placement.
    pub hbm_cache: Option<HbmCacheSpec>,
    /// Synthetic token text for row ids (needed by caches and NVMe dedupe): Zipf
    /// exponent over phrases and the phrase universe.
    #[serde(default = "default_zipf")]
    pub zipf_exponent: f64,
    #[serde(default = "default_phrases")]
    pub phrases: u64,
}

impl EngramSpec {
    /// The `[engram]` keys that are not the tier's.
    pub const FIELDS: &'static [&'static str] = &[
        "layout",
        "layer_ids",
        "rows_per_token",
        "row_bytes",
        "table_rows",
        "row_dim",
        "conv_kernel",
        "host_copy",
        "prefetch",
        "hash_per_step",
        "hash_per_token",
        "hash_blocking",
        "kernels",
        "hbm_cache",
        "zipf_exponent",
        "phrases",
    ];

    /// The socket whose DRAM copy GPU `gpu` (on `gpu_socket`) reads.
    pub fn host_socket(&self, gpu_socket: usize) -> usize {
        match self.host_copy {
            HostCopy::PerSocket => gpu_socket,
            HostCopy::PerNode => 0,
        }
    }
}

/// Placeholder until the second pass reads the tier (never seen by callers).
fn unread_tier() -> TierConfig {
    TierConfig::HostZeroCopy(Default::default())
}

/// The second pass over a scenario's text: every `[engram]` key with its span.
#[derive(Deserialize)]
struct EngramKeys {
    engram: Option<BTreeMap<String, Spanned<toml::Value>>>,
}

/// Reads `[engram]`'s tier (placement and the keys not in [`EngramSpec::FIELDS`]).
fn read_tier(origin: &str, text: &str) -> Result<(TierConfig, FieldSource), ScenarioError> {
    let keys: EngramKeys = toml::from_str(text).map_err(|e| parse_error(origin, text, e))?;
    let mut table = toml::Table::new();
    let mut src = FieldSource {
        origin: origin.to_string(),
        prefix: "engram.".into(),
        lines: BTreeMap::new(),
    };
    for (k, v) in keys.engram.unwrap_or_default() {
        if EngramSpec::FIELDS.contains(&k.as_str()) {
            continue;
        }
        if v.span().end > 0 {
            src.lines.insert(k.clone(), line_of(text, v.span().start));
        }
        table.insert(k, v.into_inner());
    }
    let tier = TierConfig::from_table(table, &src)?;
    tier.spec().check(&src)?;
    Ok((tier, src))
}

fn parse_error(origin: &str, text: &str, e: toml::de::Error) -> ScenarioError {
    let at = e.span().map(|r| r.start);
    let mut message = memwall_io::input::toml_message(e.message(), text, at);
    if let Some(field) = at.and_then(|o| field_at(text, o)) {
        if !message.starts_with("unknown field") && !message.starts_with("duplicate key") {
            message = format!("field `{field}`: {message}");
        }
    }
    let hint = if message.starts_with("unknown field") {
        "see scenarios/README.md for every field; unknown fields are errors"
    } else if message.starts_with("unknown variant") {
        "use one of the values listed (scenarios/README.md describes each)"
    } else if message.starts_with("invalid type") {
        "see scenarios/README.md for the type of each field (quantities are strings with units, e.g. \"5 us\")"
    } else {
        "see scenarios/README.md for the form of a scenario file"
    };
    ScenarioError::Parse {
        origin: origin.to_string(),
        line: at.map(|o| line_of(text, o)),
        column: at.map(|o| column_of(text, o)),
        message,
        hint,
    }
}

/// The dotted path of the `key = value` line holding byte `offset` (its `[table]` header
/// first), if that line is one.
fn field_at(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let key = line.split_once('=')?.0.trim();
    if key.is_empty() || key.starts_with('[') || key.starts_with('#') {
        return None;
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_string());
    Some(match table {
        Some(t) if !t.is_empty() => format!("{t}.{key}"),
        _ => key.to_string(),
    })
}

/// 1-based column (in characters) of byte offset `offset` in `text`.
fn column_of(text: &str, offset: usize) -> usize {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].chars().rev().take_while(|&c| c != '\n').count() + 1
}

fn default_host_copy() -> HostCopy {
    HostCopy::PerSocket
}
fn zero_time() -> Spanned<String> {
    Spanned::new(0..0, "0 us".into())
}
fn default_engram_kernels() -> u64 {
    4
}
fn default_zipf() -> f64 {
    1.0
}
fn default_phrases() -> u64 {
    1_000_000
}

pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Scenario {
    /// Parses a scenario; `origin` names the file in errors.
    pub fn from_toml_str(origin: &str, text: &str) -> Result<Scenario, ScenarioError> {
        let mut s: Scenario = toml::from_str(text).map_err(|e| parse_error(origin, text, e))?;
        s.origin = origin.to_string();
        s.source_text = text.to_string();
        if let Some(g) = s.engram.as_mut() {
            (g.tier, g.tier_source) = read_tier(origin, text)?;
        }
        s.validate()?;
        Ok(s)
    }

    pub fn from_file(path: &std::path::Path) -> Result<Scenario, ScenarioError> {
        let text = memwall_io::input::read_to_string_capped(path).map_err(|e| {
            invalid(
                &path.display().to_string(),
                format!("cannot read scenario: {e}"),
            )
        })?;
        Self::from_toml_str(&path.display().to_string(), &text)
    }

    /// A system lookup's error, located at this scenario's `system = ...` line.
    /// The 1-based line of the top-level `key = ...` in the scenario's text, if any.
    pub(crate) fn line_of_key(&self, key: &str) -> Option<usize> {
        self.source_text
            .lines()
            .take_while(|l| !l.trim_start().starts_with('['))
            .position(|l| l.split_once('=').is_some_and(|(k, _)| k.trim() == key))
            .map(|i| i + 1)
    }

    /// The 1-based line of `key = ...` inside `[table]` in the scenario's text, if any.
    pub(crate) fn line_of_table_key(&self, table: &str, key: &str) -> Option<usize> {
        let header = format!("[{table}]");
        let mut inside = false;
        for (i, l) in self.source_text.lines().enumerate() {
            let t = l.trim_start();
            if t.starts_with('[') {
                inside = t.trim_end() == header;
            } else if inside && t.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
                return Some(i + 1);
            }
        }
        None
    }

    pub(crate) fn unknown_system(&self, e: memwall_models::ProfileErrors) -> ScenarioError {
        let line = self.line_of_key("system");
        ScenarioError::Field {
            origin: self.origin.clone(),
            line,
            field: "system".into(),
            value: self.system.clone(),
            message: e.to_string().replace("(lookup): ", ""),
            hint: "memwall profiles list shows every system; add your own with --profiles".into(),
        }
    }

    /// A quantity field, parsed with `parse`, with file/line/field in the error.
    pub(crate) fn quantity<T>(
        &self,
        field: &str,
        v: &Spanned<String>,
        parse: fn(&str) -> Result<T, memwall_models::units::UnitError>,
    ) -> Result<T, ScenarioError> {
        parse(v.get_ref()).map_err(|e| ScenarioError::Field {
            origin: self.origin.clone(),
            line: (v.span().end > 0 && !self.source_text.is_empty())
                .then(|| line_of(&self.source_text, v.span().start)),
            field: field.to_string(),
            value: v.get_ref().clone(),
            message: e.message,
            hint: e.hint,
        })
    }

    fn validate(&self) -> Result<(), ScenarioError> {
        crate::limits::check(self)?;
        self.validate_engine()?;
        self.validate_workload()?;
        if let Some(g) = &self.engram {
            self.validate_engram(g)?;
        }
        if let Some(m) = &self.moe {
            m.routing(self)?;
            m.token_bytes(self, 1)?;
        }
        Ok(())
    }

    fn validate_engine(&self) -> Result<(), ScenarioError> {
        let e = &self.engine;
        let o = &self.origin;
        if e.max_num_seqs == Some(0)
            || e.max_batched_tokens == Some(0)
            || e.expert_parallel == 0
            || e.tensor_parallel == 0
        {
            return Err(invalid(
                o,
                "[engine] max_num_seqs, max_batched_tokens, expert_parallel and \
                 tensor_parallel must be positive\nhint: nano-vLLM uses max_num_seqs = 512, \
                 max_batched_tokens = 16384"
                    .into(),
            ));
        }
        if !(e.compute_efficiency > 0.0 && e.compute_efficiency <= 1.0) {
            return Err(invalid(
                o,
                "[engine] compute_efficiency must be in (0, 1]\nhint: 1.0 = the GPU \
                 profile's achievable rates"
                    .into(),
            ));
        }
        let util = e.gpu_memory_utilization_or_default();
        if !(util > 0.0 && util <= 1.0) {
            return Err(invalid(
                o,
                "[engine] gpu_memory_utilization must be in (0, 1]".into(),
            ));
        }
        if let Some(h) = &e.host_step_overhead {
            self.quantity(
                "engine.host_step_overhead",
                h,
                memwall_models::units::parse_time_ps,
            )?;
        }
        crate::engine::Engine::of(self)?;
        Ok(())
    }

    fn validate_workload(&self) -> Result<(), ScenarioError> {
        let w = &self.workload;
        let ranges = match w {
            WorkloadSpec::Synthetic {
                requests,
                prompt_tokens,
                output_tokens,
            } => Some((*requests, *prompt_tokens, *output_tokens)),
            _ => match w.lengths() {
                Some(LengthSpec::Uniform { prompt, output }) => Some((1, prompt, output)),
                _ => None,
            },
        };
        if let Some((requests, p, o)) = ranges {
            if requests == 0 || p[0] == 0 || o[0] == 0 || p[0] > p[1] || o[0] > o[1] {
                return Err(invalid(
                    &self.origin,
                    "[workload] needs requests > 0 and lengths [min, max] with \
                     1 <= min <= max\nhint: prompt_tokens = [100, 1024]"
                        .into(),
                ));
            }
        }
        match w {
            WorkloadSpec::Poisson { rate, .. } if !(rate.is_finite() && *rate > 0.0) => {
                return Err(self.workload_field(
                    "rate",
                    rate.to_string(),
                    "must be a positive number of requests per second",
                    "rate = 10.0",
                ));
            }
            WorkloadSpec::ClosedLoop {
                think_time: Some(t),
                ..
            } => {
                self.time_field("workload.think_time", t)?;
            }
            _ => {}
        }
        let generated = matches!(
            w,
            WorkloadSpec::Poisson { .. } | WorkloadSpec::ClosedLoop { .. }
        );
        if generated && w.lengths().is_none() {
            return Err(self.workload_field(
                "lengths",
                String::new(),
                "give either prompt_tokens and output_tokens, or lengths (not both)",
                "prompt_tokens = [100, 1024] and output_tokens = [100, 256], or \
                 lengths = \"requests.jsonl\"",
            ));
        }
        self.validate_metrics()
    }

    fn validate_metrics(&self) -> Result<(), ScenarioError> {
        let m = &self.metrics;
        for (field, v) in [
            ("metrics.slo_ttft", &m.slo_ttft),
            ("metrics.slo_tpot", &m.slo_tpot),
        ] {
            if let Some(v) = v {
                self.time_field(field, v)?;
            }
        }
        Ok(())
    }

    /// A time written as a plain string (`"500 ms"`) at `field` (`table.key`), parsed, with
    /// the file, line and field in the error.
    pub(crate) fn time_field(&self, field: &str, v: &str) -> Result<u64, ScenarioError> {
        memwall_models::units::parse_time_ps(v).map_err(|e| ScenarioError::Field {
            origin: self.origin.clone(),
            line: crate::limits::key_line(&self.source_text, field),
            field: field.to_string(),
            value: v.to_string(),
            message: e.message,
            hint: e.hint,
        })
    }

    /// An invalid `[workload]` value, at its line.
    fn workload_field(&self, key: &str, value: String, message: &str, hint: &str) -> ScenarioError {
        let field = format!("workload.{key}");
        ScenarioError::Field {
            origin: self.origin.clone(),
            line: crate::limits::key_line(&self.source_text, &field),
            field,
            value,
            message: message.to_string(),
            hint: format!("e.g. {hint} (scenarios/README.md)"),
        }
    }

    fn validate_engram(&self, g: &EngramSpec) -> Result<(), ScenarioError> {
        let o = &self.origin;
        for (field, v) in [
            ("engram.hash_per_step", &g.hash_per_step),
            ("engram.hash_per_token", &g.hash_per_token),
        ] {
            self.quantity(field, v, memwall_models::units::parse_time_ps)?;
        }
        if g.layout == "custom"
            && (g.layer_ids.is_none()
                || g.rows_per_token.is_none()
                || g.row_bytes.is_none()
                || g.table_rows.is_none()
                || g.row_dim.is_none())
        {
            return Err(invalid(
                o,
                "[engram] layout = \"custom\" needs layer_ids, rows_per_token, \
                 row_bytes, table_rows and row_dim\nhint: or use a built-in layout: \
                 v41-flash, demo, engram-27b, engram-40b"
                    .into(),
            ));
        }
        if !(g.zipf_exponent.is_finite() && g.zipf_exponent >= 0.0) || g.phrases == 0 {
            return Err(invalid(
                o,
                "[engram] zipf_exponent must be >= 0 and phrases >= 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field serde reads into [`EngramSpec`] is listed in `FIELDS` (else the second
    /// pass would hand it to the tier as an unknown field).
    #[test]
    fn engram_fields_are_listed() {
        let text = "layout = \"custom\"\nlayer_ids = [1]\nrows_per_token = 1\nrow_bytes = 1\n\
                    table_rows = 1\nrow_dim = 1\nconv_kernel = 0\nhost_copy = \"per-node\"\n\
                    prefetch = true\nhash_per_step = \"0 us\"\nhash_per_token = \"0 us\"\n\
                    hash_blocking = true\nkernels = 4\nzipf_exponent = 1.0\nphrases = 1\n\
                    [hbm_cache]\npolicy = \"lru\"\nsize = \"1 MiB\"\n";
        let t: toml::Table = text.parse().unwrap();
        assert_eq!(t.len(), EngramSpec::FIELDS.len());
        for k in t.keys() {
            assert!(EngramSpec::FIELDS.contains(&k.as_str()), "{k}");
        }
        let g: EngramSpec = toml::from_str(text).unwrap();
        assert_eq!(g.phrases, 1);
    }
}
