//! Serving engines as data: one profile per engine (`workloads/serve/configs/engines/`,
//! embedded at build; docs/engines.md), each figure with its basis and source. A scenario
//! picks one with `[engine] engine = "vllm-v1"` and may override its arguments
//! (`max_num_seqs`, `max_batched_tokens`, `gpu_memory_utilization`, ...); [`Engine`] is
//! the resolved result the step loop reads.
//!
//! Without `engine = ...` a scenario runs the original built-in behaviour (prefill-first
//! steps, KV allocated per token, launches as `kernels_per_layer` and
//! `cuda_graph_decode` say), so older scenarios keep their figures.

use memwall_llm::ModelConfig;
use memwall_models::units::{parse_byte_rate, parse_bytes, parse_flop_rate, parse_time_ps};
use memwall_sim::Ps;
use serde::Deserialize;

use crate::cost::{MeasuredKernels, RateTable, TpAllReduce};
use crate::error::ScenarioError;
use crate::scenario::Scenario;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/engines.rs"));
}

/// One figure of an engine profile: its value, basis (`code`, `spec`, `measured`,
/// `estimate`, `calibrated`, `derived`) and source (docs/sources.md).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Sourced<T> {
    pub value: T,
    pub basis: Basis,
    pub source: String,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// Read in the engine's source code.
    Code,
    Spec,
    Measured,
    Estimate,
    Calibrated,
    Derived,
}

/// How a step's batch is formed.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum SchedulerKind {
    /// vLLM V1: running requests first (decodes and chunked-prefill continuations), then
    /// waiting ones, all from one token budget per step.
    Mixed,
    /// nano-vLLM, SGLang: a step of new prefills when any fits, else a decode step.
    PrefillFirst,
}

/// When a waiting request may enter the batch.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Admission {
    /// Its whole prompt fits in free blocks; blocks are then allocated chunk by chunk.
    FullPrompt,
    /// Its whole sequence so far is allocated on admission.
    WholeSequence,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KvProfile {
    pub block_size: Sourced<u64>,
    pub admission: Sourced<Admission>,
    pub reserved_blocks: Sourced<u64>,
    /// HBM the engine keeps besides weights and KV (activation peak, non-torch memory),
    /// as a fixed figure; or, with `[kv.profile_run]`, derived from the model and settings.
    #[serde(default)]
    pub non_kv_memory: Option<Sourced<String>>,
    #[serde(default)]
    pub profile_run: Option<ProfileRunProfile>,
    /// The prefix cache it keeps when `[kv_cache]` turns caching on (docs/kv-tiers.md).
    #[serde(default)]
    pub prefix_cache: Option<Sourced<crate::kv::PrefixCacheKind>>,
}

/// vLLM's memory profile (`profile_run`): the PyTorch peak of a dummy forward of
/// `max_num_batched_tokens` tokens, then of the sampler over `max_num_seqs` sequences.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProfileRunProfile {
    /// Hidden-size activations per token live at the forward's peak.
    pub hidden_copies: Sourced<u64>,
    /// MLP-width (per TP rank) activations per token live at the forward's peak.
    pub mlp_copies: Sourced<u64>,
    /// Bytes per sequence x vocabulary entry live at the sampler's peak.
    pub sampler_bytes: Sourced<u64>,
    /// Memory outside PyTorch's allocator that grows during the profile.
    pub non_torch_memory: Sourced<String>,
}

/// [`ProfileRunProfile`] parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileRun {
    pub hidden_copies: u64,
    pub mlp_copies: u64,
    pub sampler_bytes: u64,
    pub non_torch: u64,
}

impl ProfileRun {
    /// Non-KV bytes per GPU: the larger of the forward's and the sampler's live sets, plus
    /// the non-torch growth (docs/engines.md "KV sizing").
    pub fn non_kv_bytes(&self, m: &ModelConfig, tokens: u64, seqs: u64, tp: u64) -> u64 {
        let act = |n: u64| m.activation_dtype.bytes_for(n);
        let ffn = m.mlp.dense_ffn_size / tp.max(1);
        let forward = act(tokens * (self.hidden_copies * m.hidden_size + self.mlp_copies * ffn));
        // profile_run keeps the forward's output while the sampler runs.
        let sampler =
            act(tokens * m.hidden_size) + self.sampler_bytes * seqs.min(tokens) * m.vocab_size;
        forward.max(sampler) + self.non_torch
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CpuProfile {
    pub async_scheduling: Sourced<bool>,
    /// CPU time per step (scheduling, input preparation, sampling, output processing).
    pub step: Sourced<String>,
    pub per_sequence: Sourced<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GraphProfile {
    pub capture_sizes: Sourced<Vec<u32>>,
    /// The largest capture size is at most this many times `max_num_seqs`.
    pub capture_max_per_seq: Sourced<u32>,
    pub full_decode: Sourced<bool>,
    pub piecewise_mixed: Sourced<bool>,
    pub eager_kernels_per_layer_in_graph: Sourced<u64>,
    pub kernels_per_layer: Sourced<u64>,
}

/// The engine's kernels as measured on one GPU (`[[kernels]]`). Each kernel is optional
/// (sizes and rates come in pairs): a kernel not given keeps the op cost model's price.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KernelProfile {
    /// The GPU profile's name.
    pub gpu: String,
    /// GEMM rows (the step's tokens) at which the dense projections were timed.
    #[serde(default)]
    pub gemm_rows: Option<Sourced<Vec<u64>>>,
    /// Weight bytes over kernel time at those rows.
    #[serde(default)]
    pub gemm_weight_rate: Option<Sourced<Vec<String>>>,
    /// KV bytes x query heads per KV head over the time the decode sequences of a mixed
    /// step add to its attention kernel.
    #[serde(default)]
    pub mixed_attention_rate: Option<Sourced<String>>,
    /// Prefill tokens of a step at which its causal attention was timed.
    #[serde(default)]
    pub prefill_attention_tokens: Option<Sourced<Vec<u64>>>,
    /// Causal attention FLOPs over kernel time at those tokens.
    #[serde(default)]
    pub prefill_attention_rate: Option<Sourced<Vec<String>>>,
    /// KV bytes per layer a decode-only step's attention read when timed.
    #[serde(default)]
    pub decode_attention_bytes: Option<Sourced<Vec<String>>>,
    /// Those bytes over the kernel time.
    #[serde(default)]
    pub decode_attention_rate: Option<Sourced<Vec<String>>>,
    /// All-reduces over two of these GPUs as the engine runs them.
    #[serde(default)]
    pub tp2_all_reduce: Option<AllReduceProfile>,
    /// All-gathers over two of these GPUs (NCCL; the logits of a TP output head).
    #[serde(default)]
    pub tp2_all_gather: Option<AllGatherProfile>,
}

/// `[kernels.tp2_all_gather]`: NCCL's all-gather over two GPUs as timed, by the bytes each
/// GPU contributes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AllGatherProfile {
    pub nccl_bytes: Sourced<Vec<u64>>,
    pub nccl_time: Sourced<Vec<String>>,
}

/// `[kernels.tp2_all_reduce]`: the engine's custom all-reduce below a size, NCCL above.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AllReduceProfile {
    /// All-reduces under this many bytes run the custom one-stage kernel.
    pub custom_below: Sourced<String>,
    /// The rate a GPU reads its peer's buffer at in that kernel.
    pub custom_peer_read: Sourced<String>,
    /// That kernel's barriers and first remote read.
    pub custom_sync: Sourced<String>,
    /// Bytes at which NCCL's all-reduce was timed, and its times.
    pub nccl_bytes: Sourced<Vec<u64>>,
    pub nccl_time: Sourced<Vec<String>>,
}

/// An engine profile as written.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EngineProfile {
    pub name: String,
    pub description: String,
    pub scheduler: Sourced<SchedulerKind>,
    pub max_num_seqs: Sourced<usize>,
    pub max_batched_tokens: Sourced<u64>,
    pub gpu_memory_utilization: Sourced<f64>,
    pub kv: KvProfile,
    pub cpu: CpuProfile,
    pub graphs: GraphProfile,
    #[serde(default)]
    pub kernels: Vec<KernelProfile>,
}

/// The names of the shipped engine profiles.
pub fn engine_names() -> Vec<String> {
    engine_files()
        .iter()
        .map(|(p, _)| p.trim_end_matches(".toml").to_string())
        .collect()
}

/// The shipped engine profiles: (file name, TOML text).
pub fn engine_files() -> &'static [(&'static str, &'static str)] {
    embedded::EMBEDDED
}

/// A shipped engine profile by name.
pub fn engine_profile(name: &str) -> Option<Result<EngineProfile, String>> {
    let file = format!("{name}.toml");
    let (path, text) = engine_files().iter().find(|(p, _)| *p == file)?;
    Some(toml::from_str(text).map_err(|e| {
        let at = e.span().map(|r| r.start);
        let line = at.map_or(0, |o| text[..o.min(text.len())].matches('\n').count() + 1);
        format!(
            "workloads/serve/configs/engines/{path}:{line}: {}",
            e.message()
        )
    }))
}

/// CUDA-graph behaviour of a resolved engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Graphs {
    /// Capture sizes in use (ascending), at most the largest allowed.
    pub sizes: Vec<u32>,
    pub full_decode: bool,
    pub piecewise_mixed: bool,
    pub eager_kernels_per_layer_in_graph: u64,
}

impl Graphs {
    /// The capture size a batch of `tokens` pads to, if one holds it.
    pub fn padded(&self, tokens: u64) -> Option<u64> {
        self.sizes.iter().map(|&s| s as u64).find(|&s| s >= tokens)
    }
}

/// The engine a scenario runs: a profile with the scenario's overrides applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Engine {
    pub name: String,
    pub scheduler: SchedulerKind,
    pub max_num_seqs: usize,
    pub max_batched_tokens: u64,
    pub gpu_memory_utilization: f64,
    pub block_size: u64,
    pub admission: Admission,
    pub reserved_blocks: u64,
    /// HBM besides weights and KV; under `profile_run`, set by [`Engine::sized_for`].
    pub non_kv_memory: u64,
    pub profile_run: Option<ProfileRun>,
    pub async_scheduling: bool,
    pub step_cpu: Ps,
    pub seq_cpu: Ps,
    pub graphs: Graphs,
    pub kernels_per_layer: u64,
    pub tensor_parallel: u32,
    /// The profile's prefix cache (block hash when the profile does not say).
    pub prefix_cache: crate::kv::PrefixCacheKind,
    /// Kernels as measured, per GPU profile name.
    pub measured: Vec<(String, MeasuredKernels)>,
}

impl Engine {
    /// This engine's kernels as measured on `gpu`, if the profile has them.
    pub fn measured_on(&self, gpu: &str) -> Option<&MeasuredKernels> {
        self.measured.iter().find(|(g, _)| g == gpu).map(|(_, r)| r)
    }

    /// The engine with its non-KV memory sized for `m` (vLLM's `profile_run`).
    pub fn sized_for(mut self, m: &ModelConfig) -> Engine {
        if let Some(p) = &self.profile_run {
            let (tokens, seqs) = (self.max_batched_tokens, self.max_num_seqs as u64);
            self.non_kv_memory = p.non_kv_bytes(m, tokens, seqs, self.tensor_parallel as u64);
        }
        self
    }

    /// CPU time of a step that schedules `seqs` sequences.
    pub fn cpu_time(&self, seqs: usize) -> Ps {
        Ps(self.step_cpu.0 + self.seq_cpu.0 * seqs as u64)
    }

    /// The scenario's engine: its profile (`[engine] engine = ...`) with the scenario's
    /// overrides, or `None` for the built-in behaviour.
    pub fn of(s: &Scenario) -> Result<Option<Engine>, ScenarioError> {
        let e = &s.engine;
        let Some(name) = &e.engine else {
            return Ok(None);
        };
        let line = s.line_of_table_key("engine", "engine");
        let p = match engine_profile(name.get_ref()) {
            Some(Ok(p)) => p,
            Some(Err(message)) => return Err(crate::error::invalid(&s.origin, message)),
            None => {
                return Err(ScenarioError::Field {
                    origin: s.origin.clone(),
                    line,
                    field: "engine.engine".into(),
                    value: name.get_ref().clone(),
                    message: "unknown engine".into(),
                    hint: format!("one of: {}", engine_names().join(", ")),
                })
            }
        };
        Engine::resolve(s, &p).map(Some)
    }

    fn resolve(s: &Scenario, p: &EngineProfile) -> Result<Engine, ScenarioError> {
        let e = &s.engine;
        let origin = format!("workloads/serve/configs/engines/{}.toml", p.name);
        let bad = |field: &str, v: &str, m: String| ScenarioError::Field {
            origin: origin.clone(),
            line: None,
            field: field.into(),
            value: v.into(),
            message: m,
            hint: "see docs/engines.md".into(),
        };
        let time = |field: &str, v: &str| parse_time_ps(v).map_err(|x| bad(field, v, x.message));
        let max_num_seqs = e.max_num_seqs.unwrap_or(p.max_num_seqs.value);
        let max_batched_tokens = e.max_batched_tokens.unwrap_or(p.max_batched_tokens.value);
        let g = &p.graphs;
        let largest =
            (g.capture_max_per_seq.value as u64 * max_num_seqs as u64).min(max_batched_tokens);
        let mut sizes: Vec<u32> = g
            .capture_sizes
            .value
            .iter()
            .copied()
            .filter(|&c| c as u64 <= largest)
            .collect();
        sizes.sort_unstable();
        let step_cpu = match &e.host_step_overhead {
            Some(v) => Ps(s.quantity("engine.host_step_overhead", v, parse_time_ps)?),
            None => Ps(time("cpu.step", &p.cpu.step.value)?),
        };
        let (non_kv_memory, profile_run) = non_kv(&p.kv).map_err(|(f, v, m)| bad(&f, &v, m))?;
        let measured = p
            .kernels
            .iter()
            .map(|k| measured_kernels(k).map(|r| (k.gpu.clone(), r)))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|m| bad("kernels", "[[kernels]]", m))?;
        Ok(Engine {
            name: p.name.clone(),
            scheduler: p.scheduler.value,
            max_num_seqs,
            max_batched_tokens,
            gpu_memory_utilization: e
                .gpu_memory_utilization
                .unwrap_or(p.gpu_memory_utilization.value),
            block_size: p.kv.block_size.value.max(1),
            admission: p.kv.admission.value,
            reserved_blocks: p.kv.reserved_blocks.value,
            non_kv_memory,
            profile_run,
            async_scheduling: p.cpu.async_scheduling.value,
            step_cpu,
            seq_cpu: Ps(time("cpu.per_sequence", &p.cpu.per_sequence.value)?),
            graphs: Graphs {
                sizes,
                full_decode: e.cuda_graph_decode.unwrap_or(g.full_decode.value),
                piecewise_mixed: g.piecewise_mixed.value,
                eager_kernels_per_layer_in_graph: g.eager_kernels_per_layer_in_graph.value,
            },
            kernels_per_layer: e.kernels_per_layer.unwrap_or(g.kernels_per_layer.value),
            tensor_parallel: e.tensor_parallel.max(1) as u32,
            prefix_cache: p
                .kv
                .prefix_cache
                .as_ref()
                .map_or(crate::kv::PrefixCacheKind::BlockHash, |k| k.value),
            measured,
        })
    }
}

/// A `[[kernels]]` entry as [`MeasuredKernels`].
/// The profile's non-KV memory: a fixed figure (bytes) or vLLM's `profile_run` (its
/// non-torch part until [`Engine::sized_for`]); exactly one. Errors: (field, value, why).
fn non_kv(kv: &KvProfile) -> Result<(u64, Option<ProfileRun>), (String, String, String)> {
    let bytes = |f: &str, v: &str| parse_bytes(v).map_err(|x| (f.into(), v.into(), x.message));
    match (&kv.non_kv_memory, &kv.profile_run) {
        (Some(n), None) => Ok((bytes("kv.non_kv_memory", &n.value)?, None)),
        (None, Some(p)) => {
            let non_torch = bytes("kv.profile_run.non_torch_memory", &p.non_torch_memory.value)?;
            let run = ProfileRun {
                hidden_copies: p.hidden_copies.value,
                mlp_copies: p.mlp_copies.value,
                sampler_bytes: p.sampler_bytes.value,
                non_torch,
            };
            Ok((non_torch, Some(run)))
        }
        _ => Err((
            "kv".into(),
            "non_kv_memory / profile_run".into(),
            "give exactly one of non_kv_memory and [kv.profile_run]".into(),
        )),
    }
}

fn measured_kernels(k: &KernelProfile) -> Result<MeasuredKernels, String> {
    let weights = pair(&k.gemm_rows, &k.gemm_weight_rate)
        .map(|(s, r)| rate_table(s, r, parse_byte_rate, true))
        .transpose()
        .map_err(|m| format!("{}: gemm_rows/gemm_weight_rate: {m}", k.gpu))?;
    let names = "prefill_attention_tokens/prefill_attention_rate";
    let prefill_attention = pair(&k.prefill_attention_tokens, &k.prefill_attention_rate)
        .map(|(s, r)| rate_table(s, r, parse_flop_rate, false))
        .transpose()
        .map_err(|m| format!("{}: {names}: {m}", k.gpu))?;
    let names = "decode_attention_bytes/decode_attention_rate";
    let decode_attention = pair(&k.decode_attention_bytes, &k.decode_attention_rate)
        .map(|(b, r)| {
            let sizes = b
                .iter()
                .map(|b| parse_bytes(b).map_err(|e| e.message))
                .collect::<Result<Vec<u64>, String>>()?;
            rate_table(&sizes, r, parse_byte_rate, false)
        })
        .transpose()
        .map_err(|m| format!("{}: {names}: {m}", k.gpu))?;
    let mixed_attention_rate = match &k.mixed_attention_rate {
        None => None,
        Some(m) => Some(
            parse_byte_rate(&m.value)
                .ok()
                .filter(|&r| r > 0)
                .ok_or_else(|| {
                    format!(
                        "{}: mixed_attention_rate {:?} is not a rate above 0",
                        k.gpu, m.value
                    )
                })?,
        ),
    };
    let tp2_all_reduce = k
        .tp2_all_reduce
        .as_ref()
        .map(all_reduce)
        .transpose()
        .map_err(|m| format!("{}: tp2_all_reduce.{m}", k.gpu))?;
    let tp2_all_gather = k
        .tp2_all_gather
        .as_ref()
        .map(|g| nccl_table(&g.nccl_bytes.value, &g.nccl_time.value))
        .transpose()
        .map_err(|m| format!("{}: tp2_all_gather.{m}", k.gpu))?;
    Ok(MeasuredKernels {
        weights,
        prefill_attention,
        decode_attention,
        mixed_attention_rate,
        tp2_all_reduce,
        tp2_all_gather,
    })
}

/// A `[kernels.tp2_all_reduce]` table as a [`TpAllReduce`]; errors name the field.
fn all_reduce(a: &AllReduceProfile) -> Result<TpAllReduce, String> {
    let below = &a.custom_below.value;
    let custom_below = parse_bytes(below).map_err(|e| format!("custom_below: {}", e.message))?;
    let read = &a.custom_peer_read.value;
    let peer_read_rate = parse_byte_rate(read)
        .ok()
        .filter(|&r| r > 0)
        .ok_or_else(|| format!("custom_peer_read: {read:?} is not a rate above 0"))?;
    let sync = &a.custom_sync.value;
    let custom_sync = Ps(parse_time_ps(sync).map_err(|e| format!("custom_sync: {}", e.message))?);
    Ok(TpAllReduce {
        custom_below,
        peer_read_rate,
        custom_sync,
        nccl: nccl_table(&a.nccl_bytes.value, &a.nccl_time.value)?,
    })
}

/// NCCL's times at sizes as a [`RateTable`] of bytes per second; errors name the field.
fn nccl_table(sizes: &[u64], times: &[String]) -> Result<RateTable, String> {
    if times.len() != sizes.len() || times.is_empty() {
        return Err(format!(
            "nccl_bytes/nccl_time: {} sizes but {} times (give one time per size)",
            sizes.len(),
            times.len()
        ));
    }
    let mut points = Vec::with_capacity(times.len());
    for (&bytes, t) in sizes.iter().zip(times) {
        let ps = parse_time_ps(t)
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("nccl_time: {t:?} is not a time above 0"))?;
        points.push((
            bytes,
            (bytes as u128 * 1_000_000_000_000 / ps as u128) as u64,
        ));
    }
    RateTable::new(points, false).map_err(|m| format!("nccl_bytes/nccl_time: {m}"))
}

/// Both values of a sizes/rates pair, or neither; one without the other is an error
/// (reported as a pair of empty lists by [`rate_table`]).
fn pair<'a, S, R>(
    sizes: &'a Option<Sourced<Vec<S>>>,
    rates: &'a Option<Sourced<Vec<R>>>,
) -> Option<(&'a [S], &'a [R])> {
    match (sizes, rates) {
        (None, None) => None,
        (s, r) => Some((
            s.as_ref().map_or(&[][..], |s| &s.value[..]),
            r.as_ref().map_or(&[][..], |r| &r.value[..]),
        )),
    }
}

/// Sizes and their rates (one rate per size) as a [`RateTable`].
fn rate_table(
    sizes: &[u64],
    rates: &[String],
    parse: fn(&str) -> Result<u64, memwall_models::units::UnitError>,
    grows_past_last: bool,
) -> Result<RateTable, String> {
    if sizes.len() != rates.len() || sizes.is_empty() {
        return Err(format!(
            "{} sizes but {} rates (give one rate per size)",
            sizes.len(),
            rates.len()
        ));
    }
    let mut points = Vec::with_capacity(sizes.len());
    for (&x, rate) in sizes.iter().zip(rates) {
        points.push((x, parse(rate).map_err(|e| e.message)?));
    }
    RateTable::new(points, grows_past_last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_profile_parses() {
        let names = engine_names();
        for n in ["vllm-v1", "sglang", "nano-vllm"] {
            assert!(names.contains(&n.to_string()), "{names:?}");
        }
        for n in &names {
            let p = engine_profile(n).unwrap().unwrap();
            assert_eq!(&p.name, n);
            assert!(non_kv(&p.kv).is_ok(), "{n}: non-KV memory");
            assert!(parse_time_ps(&p.cpu.step.value).is_ok());
            let s = &p.graphs.capture_sizes.value;
            assert!(s.windows(2).all(|w| w[0] < w[1]), "{n}: sizes ascend");
        }
        assert!(engine_profile("nope").is_none());
    }

    #[test]
    fn vllm_sizes_its_non_kv_memory_from_the_profile_run() {
        let p = engine_profile("vllm-v1").unwrap().unwrap();
        let (non_torch, run) = non_kv(&p.kv).unwrap();
        let run = run.expect("vllm-v1 derives its profile_run peak");
        assert_eq!(non_torch, 171_798_692); // 0.16 GiB, rounded up
        let llama = memwall_llm::builtin("llama-3.1-8b").unwrap();
        // 2,048 tokens, 256 sequences: the sampler's 28 x 256 x 128,256 B plus the kept
        // forward output (2,048 x 4,096 x 2 B) outweighs the forward's 2,048 x 55,296 x 2 B.
        let sampler = 28 * 256 * 128_256 + 2_048 * 4_096 * 2;
        assert_eq!(run.non_kv_bytes(&llama, 2_048, 256, 1), sampler + non_torch);
        // One sequence: the forward's live set decides.
        assert_eq!(
            run.non_kv_bytes(&llama, 8_192, 1, 1),
            8_192 * 55_296 * 2 + non_torch
        );
        // TP halves the MLP width per rank; the sampler sees the full vocabulary.
        let fwd_tp2 = 8_192 * (3 * 4_096 + 3 * 7_168) * 2;
        assert_eq!(run.non_kv_bytes(&llama, 8_192, 1, 2), fwd_tp2 + non_torch);
        let mut both = p.kv.clone();
        both.non_kv_memory = Some(p.kv.profile_run.as_ref().unwrap().non_torch_memory.clone());
        assert!(non_kv(&both).unwrap_err().2.contains("exactly one"));
        let mut neither = p.kv.clone();
        neither.profile_run = None;
        assert!(non_kv(&neither).is_err());
    }

    #[test]
    fn vllm_carries_kernels_measured_on_the_validation_gpus() {
        let p = engine_profile("vllm-v1").unwrap().unwrap();
        for gpu in ["rtx-4090", "rtx-pro-6000-bse"] {
            let k = p.kernels.iter().find(|k| k.gpu == gpu).expect(gpu);
            let m = measured_kernels(k).unwrap();
            let w = m.weights.as_ref().unwrap();
            assert!(m.mixed_attention_rate.is_some_and(|r| r > 0));
            // the measured rate falls with the rows: 128 rows read slower than 1.
            let mb = 436_200_000u128;
            assert!(w.floor_ps(128, mb) > w.floor_ps(1, mb), "{gpu}");
        }
        let mut bad = p.kernels[0].clone();
        bad.gemm_weight_rate.as_mut().unwrap().value.pop();
        let e = measured_kernels(&bad).unwrap_err();
        assert!(
            e.contains("rtx-4090") && e.contains("one rate per size"),
            "{e}"
        );
        bad.mixed_attention_rate.as_mut().unwrap().value = "fast".into();
        bad.gemm_weight_rate = p.kernels[0].gemm_weight_rate.clone();
        assert!(measured_kernels(&bad)
            .unwrap_err()
            .contains("mixed_attention_rate"));
    }

    #[test]
    fn nano_vllm_carries_fa2_decode_attention_on_the_h800_alone() {
        let p = engine_profile("nano-vllm").unwrap().unwrap();
        let k = p.kernels.iter().find(|k| k.gpu == "h800").expect("h800");
        let m = measured_kernels(k).unwrap();
        assert!(m.weights.is_none() && m.prefill_attention.is_none());
        assert!(m.mixed_attention_rate.is_none());
        let d = m.decode_attention.as_ref().unwrap();
        // R160: 64 MiB of KV in 43.6 us; 1.47 GB (512 sequences of 700 tokens) near
        // 2.2 TB/s, below the profile's 3,000 GB/s FlashMLA figure.
        let us = |b: u64| d.floor_ps(b, b as u128) as f64 / 1e6;
        assert!((us(67_108_864) - 43.56).abs() < 0.1, "{}", us(67_108_864));
        let big = 1_468_006_400u64;
        let rate = big as f64 / us(big) / 1e6;
        assert!((2.15..2.25).contains(&rate), "{rate} TB/s");
        let mut half = k.clone();
        half.decode_attention_rate = None;
        let e = measured_kernels(&half).unwrap_err();
        assert!(
            e.contains("h800") && e.contains("decode_attention_bytes"),
            "{e}"
        );
    }

    #[test]
    fn two_gpu_all_reduces_switch_from_the_custom_kernel_to_nccl_at_8_mib() {
        let p = engine_profile("vllm-v1").unwrap().unwrap();
        let k = p
            .kernels
            .iter()
            .find(|k| k.gpu == "rtx-pro-6000-bse")
            .unwrap();
        let ar = measured_kernels(k).unwrap().tp2_all_reduce.unwrap();
        // a decode step's 1.31 MB: the barriers and the peer read at 15.92 GB/s, 85.5 us
        let decode = ar.time_ps(1_310_720);
        assert!((85_000_000..86_000_000).contains(&decode), "{decode}");
        // a 2,048-token prefill's 21 MB: NCCL's measured 1,309.13 us
        let prefill = ar.time_ps(20_971_520);
        assert!(
            (1_309_000_000..1_309_300_000).contains(&prefill),
            "{prefill}"
        );
        // at the switch the custom kernel would be faster, and NCCL is what vLLM runs
        assert!(ar.time_ps(8 * 1024 * 1024 - 16) < ar.time_ps(8 * 1024 * 1024));
        // the 4090 has no P2P under the stock driver: no entry, the links price it
        let k4090 = p.kernels.iter().find(|k| k.gpu == "rtx-4090").unwrap();
        assert!(measured_kernels(k4090).unwrap().tp2_all_reduce.is_none());
        let mut bad = k.clone();
        let a = bad.tp2_all_reduce.as_mut().unwrap();
        a.nccl_time.value.pop();
        let e = measured_kernels(&bad).unwrap_err();
        assert!(
            e.contains("rtx-pro-6000-bse: tp2_all_reduce.nccl_bytes/nccl_time")
                && e.contains("one time per size"),
            "{e}"
        );
        let a = bad.tp2_all_reduce.as_mut().unwrap();
        a.nccl_time = k.tp2_all_reduce.as_ref().unwrap().nccl_time.clone();
        a.custom_peer_read.value = "0 GB/s".into();
        assert!(measured_kernels(&bad)
            .unwrap_err()
            .contains("tp2_all_reduce.custom_peer_read"));
        // the logits' all-gather: 19.4 MB a GPU at 128 sequences, NCCL as timed, 1.26 ms
        let ag = measured_kernels(k).unwrap().tp2_all_gather.unwrap();
        let logits = ag.floor_ps(19_447_808, 19_447_808);
        assert!((1_250_000_000..1_270_000_000).contains(&logits), "{logits}");
        let mut bad = k.clone();
        bad.tp2_all_gather
            .as_mut()
            .unwrap()
            .nccl_bytes
            .value
            .clear();
        assert!(measured_kernels(&bad)
            .unwrap_err()
            .contains("rtx-pro-6000-bse: tp2_all_gather.nccl_bytes/nccl_time"));
    }

    #[test]
    fn padding_picks_the_next_capture_size() {
        let g = Graphs {
            sizes: vec![1, 2, 4, 8, 16],
            full_decode: true,
            piecewise_mixed: true,
            eager_kernels_per_layer_in_graph: 2,
        };
        assert_eq!(g.padded(3), Some(4));
        assert_eq!(g.padded(8), Some(8));
        assert_eq!(g.padded(17), None);
    }
}
