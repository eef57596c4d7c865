//! `run_scenario`: builds the node from its profile, serves the requests step by step on
//! every replica GPU (each with its own batch; all contend for host DRAM, switches and
//! drives), fetches Engram rows as the placement says, and attributes every stall
//! (reports::attribute) one step at a time, forgetting finished ops so memory stays flat.

use memwall_models::gather::zero_copy_gather;
use memwall_models::node::NodeModel;
use memwall_models::units::{parse_byte_rate, parse_bytes, parse_time_ps};
use memwall_models::{DriveInstance, Registry};
use memwall_sim::attribution::{attribute, Attribution, CategoryTotals};
use memwall_sim::{
    CategoryId, Executor, FlowNet, FlowSpec, OpId, OpKind, OpSpec, Ps, ResourceId, StreamId,
    Timeline, Work, PS_PER_SEC,
};

use memwall_engram::{EngramHasher, EngramLayout};
use memwall_llm::engram::EngramDims;

use super::batcher::{Batcher, StepPlan};
use super::corpus::Corpus;
use super::cost::CostModel;
use super::requests::{azure_csv, synthetic, Request};
use super::rows::{hash_rows, RequestText, RowCache, TextGen};
use super::scenario::{
    err, CachePolicy, HostCopy, Placement, Scenario, ScenarioError, WorkloadSpec,
};

/// Per Engram layer totals over a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LayerStats {
    pub layer: u32,
    pub fetches: u64,
    pub rows: u64,
    pub bytes: u64,
    /// Sum over steps of the slowest GPU's fetch latency, exposed and hidden.
    pub latency: Ps,
    pub exposed: Ps,
    pub hidden: Ps,
    /// Smallest slack seen (negative: the data arrived late), picoseconds.
    pub min_slack_ps: i64,
    pub steps_exposed: u64,
}

/// What one simulated run (with or without Engram) gives.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    pub engram: bool,
    pub makespan: Ps,
    pub steps: u64,
    pub prefill_steps: u64,
    pub output_tokens: u64,
    pub prompt_tokens: u64,
    pub requests: u64,
    pub preemptions: u64,
    /// Output tokens per second of wall time, prefill included (nano-vLLM bench.py).
    pub tokens_per_s: f64,
    /// Summed over the replicas' compute streams.
    pub busy: Ps,
    pub bubble: Ps,
    pub exposed_by_category: Vec<(String, Ps)>,
    /// Per op category: ops, bytes, latency, exposed, hidden (reports::CategoryTotals).
    pub by_category: Vec<(String, CategoryTotals)>,
    pub layers: Vec<LayerStats>,
    /// Per step, the worst GPU's Engram stall: p50 and p99.
    pub step_exposed_p50: Ps,
    pub step_exposed_p99: Ps,
    pub hbm_cache_hit_rate: Option<f64>,
    pub dram_cache_hit_rate: Option<f64>,
    pub nvme_pages: u64,
}

/// A scenario's answer.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub scenario: String,
    pub seed: u64,
    pub system: String,
    pub model: String,
    pub placement: Option<String>,
    pub with_engram: RunStats,
    pub without_engram: Option<RunStats>,
    /// 1 - tokens/s with Engram / tokens/s without (a fraction).
    pub penalty: Option<f64>,
    /// Tidy per step x Engram layer rows (see `STEP_CSV_HEADER`), when asked for.
    pub step_rows: Vec<StepRow>,
    /// The first steps' timeline and attribution, for plots and Chrome traces.
    pub sample_timeline: Timeline,
    pub sample_attribution: Attribution,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StepRow {
    pub step: u64,
    pub prefill: bool,
    pub start: Ps,
    pub duration: Ps,
    pub tokens: u64,
    pub layer: u32,
    pub rows: u64,
    pub latency: Ps,
    pub exposed: Ps,
    pub hidden: Ps,
    pub slack_ps: i64,
}

pub const STEP_CSV_HEADER: &str =
    "scenario,seed,step,kind,start_us,step_us,tokens,layer,rows,fetch_latency_us,exposed_us,hidden_us,slack_us";

#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub step_rows: bool,
    pub sample_steps: u64,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            step_rows: true,
            sample_steps: 4,
        }
    }
}

/// Runs a scenario (and, when asked, the same without Engram).
pub fn run_scenario(s: &Scenario, reg: &Registry) -> Result<RunResult, ScenarioError> {
    run_scenario_with(s, reg, RunOptions::default())
}

pub fn run_scenario_with(
    s: &Scenario,
    reg: &Registry,
    opt: RunOptions,
) -> Result<RunResult, ScenarioError> {
    let requests = load_requests(s)?;
    let mut rows = Vec::new();
    let mut sample = (Timeline::default(), Attribution::default());
    let with = simulate(
        s,
        reg,
        &requests,
        s.engram.is_some(),
        opt,
        &mut rows,
        &mut sample,
    )?;
    let without = if s.engram.is_some() && s.compare_without_engram {
        let mut r2 = Vec::new();
        let mut s2 = (Timeline::default(), Attribution::default());
        let o = RunOptions {
            step_rows: false,
            sample_steps: 0,
        };
        Some(simulate(s, reg, &requests, false, o, &mut r2, &mut s2)?)
    } else {
        None
    };
    let penalty = without
        .as_ref()
        .filter(|b| b.tokens_per_s > 0.0)
        .map(|b| 1.0 - with.tokens_per_s / b.tokens_per_s);
    Ok(RunResult {
        scenario: s.name.clone(),
        seed: s.seed,
        system: s.system.clone(),
        model: s.model.clone(),
        placement: s.engram.as_ref().map(|e| format!("{:?}", e.placement)),
        with_engram: with,
        without_engram: without,
        penalty,
        step_rows: rows,
        sample_timeline: sample.0,
        sample_attribution: sample.1,
    })
}

fn load_requests(s: &Scenario) -> Result<Vec<Request>, ScenarioError> {
    Ok(match &s.workload {
        WorkloadSpec::Synthetic {
            requests,
            prompt_tokens,
            output_tokens,
        } => synthetic(s.seed, *requests, *prompt_tokens, *output_tokens),
        WorkloadSpec::Azure { csv, max_requests } => {
            let path = resolve(s, csv);
            let text = std::fs::read_to_string(&path).map_err(|e| {
                err(format!(
                    "{}: [workload] csv {}: {e}\nhint: paths are relative to the scenario file",
                    s.origin,
                    path.display()
                ))
            })?;
            azure_csv(&path.display().to_string(), &text, *max_requests)?
        }
    })
}

fn resolve(s: &Scenario, p: &str) -> std::path::PathBuf {
    let pb = std::path::PathBuf::from(p);
    if pb.is_absolute() || pb.exists() {
        return pb;
    }
    match std::path::Path::new(&s.origin).parent() {
        Some(d) if !s.origin.starts_with('<') => d.join(pb),
        _ => pb,
    }
}

struct EngramSetup {
    layers: Vec<u32>,
    dims: EngramDims,
    hasher: Option<(EngramHasher, usize, Vec<u64>)>,
    text: Option<RequestText>,
    table_bytes: u64,
}

fn engram_setup(s: &Scenario, hidden: u64, hc: u64) -> Result<Option<EngramSetup>, ScenarioError> {
    let Some(g) = &s.engram else { return Ok(None) };
    // Row ids are hashed when the placement needs them, or when real text was given (so
    // that every row read comes from real n-grams).
    let needs_rows = g.placement == Placement::Nvme || g.hbm_cache.is_some() || s.text.is_some();
    if g.layout == "custom" {
        if needs_rows {
            return Err(err(format!(
                "{}: [engram] a custom layout has no hash, so NVMe dedupe and row caches \
                 cannot be simulated, and [text] has nothing to hash\nhint: use a built-in layout (v41-flash, engram-27b, ...)",
                s.origin
            )));
        }
        let layers = g.layer_ids.clone().unwrap_or_default();
        let dims = EngramDims {
            rows_per_token: g.rows_per_token.unwrap_or(0),
            row_dim: g.row_dim.unwrap_or(0),
            hidden,
            hc_mult: hc,
            conv_kernel: g.conv_kernel.unwrap_or(0),
            row_bytes: g.row_bytes.unwrap_or(0),
        };
        let table_bytes = g.table_rows.unwrap_or(0) * dims.row_bytes * layers.len() as u64;
        return Ok(Some(EngramSetup {
            layers,
            dims,
            hasher: None,
            text: None,
            table_bytes,
        }));
    }
    let layout = EngramLayout::builtin(&g.layout).map_err(|e| {
        err(format!(
            "{}: [engram] layout: {e}\nhint: v41-flash, demo, engram-27b, engram-40b or custom",
            s.origin
        ))
    })?;
    let dims = EngramDims {
        rows_per_token: layout.columns() as u64,
        row_dim: layout.config.row.values as u64,
        hidden,
        hc_mult: hc,
        conv_kernel: g
            .conv_kernel
            .unwrap_or(if g.layout == "v41-flash" { 0 } else { 4 }),
        row_bytes: layout.row_bytes(),
    };
    let mut offsets = Vec::new();
    let mut acc = 0u64;
    for r in layout.table_rows() {
        offsets.push(acc);
        acc += r;
    }
    let (hasher, text) = if needs_rows {
        (
            Some((
                EngramHasher::new(&layout),
                layout.config.max_ngram_size as usize,
                offsets,
            )),
            Some(match &s.text {
                Some(t) => RequestText::Corpus {
                    corpus: Corpus::load(
                        &resolve(s, &t.corpus),
                        &resolve(s, &t.tokenizer),
                        &layout.config,
                    )
                    .map_err(|e| err(format!("{}: {}", s.origin, e.message)))?,
                    seed: s.seed,
                },
                None => RequestText::Synthetic(TextGen {
                    seed: s.seed,
                    vocab: layout.config.compressed_vocab_size as u32,
                    phrases: g.phrases,
                    zipf: g.zipf_exponent,
                }),
            }),
        )
    } else {
        (None, None)
    };
    Ok(Some(EngramSetup {
        layers: layout.layer_ids(),
        dims,
        hasher,
        text,
        table_bytes: layout.total_table_bytes(),
    }))
}

/// Chunks a drive's pages of one fetch are split into, so that the bus transfer of each
/// chunk follows its own reads (streaming) rather than the whole read.
const NVME_CHUNKS: u32 = 8;

struct Cats {
    compute: CategoryId,
    engram_compute: CategoryId,
    host: CategoryId,
    hash: CategoryId,
    fetch: CategoryId,
    nvme: CategoryId,
    nvme_bus: CategoryId,
    cpu_gather: CategoryId,
    step: CategoryId,
}

struct Gpu {
    index: usize,
    compute: StreamId,
    host: StreamId,
    side: StreamId,
}

/// Per (gpu, engram layer) ops of the current step.
#[derive(Clone, Copy)]
struct FetchOps {
    first: OpId,
    last: OpId,
    before: OpId,
    rows: u64,
}

fn percentile(v: &mut [u64], p: f64) -> Ps {
    if v.is_empty() {
        return Ps::ZERO;
    }
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    Ps(v[i])
}

fn sys_err(e: memwall_models::ProfileErrors) -> ScenarioError {
    err(e
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("\n"))
}

#[allow(clippy::too_many_arguments)]
fn simulate(
    s: &Scenario,
    reg: &Registry,
    requests: &[Request],
    engram_on: bool,
    opt: RunOptions,
    step_rows: &mut Vec<StepRow>,
    sample: &mut (Timeline, Attribution),
) -> Result<RunStats, ScenarioError> {
    let mut sys = reg.system(&s.system).map_err(sys_err)?;
    let model =
        memwall_llm::builtin(&s.model).map_err(|e| err(format!("{}: model: {e}", s.origin)))?;
    let hc = model.residual_streams();
    let eng = if engram_on {
        engram_setup(s, model.hidden_size, hc)?
    } else {
        None
    };
    let gspec = if engram_on { s.engram.clone() } else { None };
    // NVMe what-ifs: put the asked number of drives on the node's switches.
    if let Some(g) = gspec.as_ref().filter(|g| g.placement == Placement::Nvme) {
        let want = g.drives.unwrap_or(sys.node.drives.len().max(1));
        if want != sys.node.drives.len() || g.drive_profile.is_some() {
            let name = g
                .drive_profile
                .clone()
                .unwrap_or_else(|| "samsung-pm1743".into());
            let d = reg.nvme(&name).map_err(sys_err)?;
            sys.node.drive = Some(d);
            let nsw = sys.node.switches.len().max(1);
            for sw in sys.node.switches.iter_mut() {
                sw.drives.clear();
            }
            sys.node.drives = (0..want)
                .map(|i| DriveInstance {
                    index: i,
                    switch: i % nsw,
                })
                .collect();
            for i in 0..want {
                if let Some(sw) = sys.node.switches.get_mut(i % nsw) {
                    sw.drives.push(i);
                }
            }
        }
    }
    let mut ex = Executor::new(FlowNet::new());
    let node = NodeModel::build(&sys.node, &mut ex, "")
        .map_err(|e| err(format!("wiring {}: {e}", s.system)))?;
    let replicas = if s.engine.replicas == 0 {
        node.gpus.len()
    } else {
        s.engine.replicas
    };
    if replicas > node.gpus.len() {
        return Err(err(format!(
            "{}: [engine] replicas = {replicas} but {} has {} GPUs",
            s.origin,
            s.system,
            node.gpus.len()
        )));
    }
    let cost = CostModel::new(
        model,
        &sys.node.gpu,
        s.engine.expert_parallel,
        s.engine.kernels_per_layer,
        s.engine.cuda_graph_decode,
        s.engine.compute_efficiency,
    )?;
    // KV capacity per replica.
    let kv_tokens = match s.engine.kv_cache_tokens {
        Some(t) => t,
        None => {
            let usable =
                (sys.node.gpu.hbm_capacity_bytes as f64 * s.engine.gpu_memory_utilization) as u64;
            let mut used = cost.weight_bytes_per_gpu()?;
            if let (Some(e), Some(g)) = (&eng, &gspec) {
                if g.placement == Placement::GpuSharded {
                    used += e.table_bytes / replicas as u64;
                }
            }
            let free = usable.checked_sub(used).filter(|f| *f > 0).ok_or_else(|| {
                err(format!(
                    "{}: the weights ({} GB per GPU{}) do not fit in {} GB x {}: raise \
                     expert_parallel or pick a larger GPU",
                    s.origin,
                    used / 1_000_000_000,
                    if gspec
                        .as_ref()
                        .is_some_and(|g| g.placement == Placement::GpuSharded)
                    {
                        ", Engram shard included"
                    } else {
                        ""
                    },
                    sys.node.gpu.hbm_capacity_bytes / 1_000_000_000,
                    s.engine.gpu_memory_utilization
                ))
            })?;
            free / cost.kv_bytes_per_token()?
        }
    };
    let c = Cats {
        compute: ex.category("compute", OpKind::Compute),
        engram_compute: ex.category("engram-compute", OpKind::Compute),
        host: ex.category("host", OpKind::Host),
        hash: ex.category("engram-hash", OpKind::Host),
        fetch: ex.category("engram-fetch", OpKind::Memory),
        nvme: ex.category("engram-nvme", OpKind::Storage),
        nvme_bus: ex.category("engram-nvme-bus", OpKind::Memory),
        cpu_gather: ex.category("engram-cpu-gather", OpKind::Host),
        step: ex.category("step", OpKind::Marker),
    };
    let gpus: Vec<Gpu> = (0..replicas)
        .map(|i| Gpu {
            index: i,
            compute: ex.add_stream(format!("gpu{i}.compute"), true, true),
            host: ex.add_stream(format!("gpu{i}.host"), true, false),
            side: ex.add_stream(format!("gpu{i}.engram"), false, false),
        })
        .collect();
    let sockets = node.dram.len().max(1);
    let cpu_streams: Vec<StreamId> = (0..sockets)
        .map(|k| ex.add_stream(format!("cpu{k}.gather"), false, false))
        .collect();
    let barrier_stream = ex.add_stream("steps", false, false);
    // Quantities.
    let host_over = Ps(s.quantity(
        "engine.host_step_overhead",
        &s.engine.host_step_overhead,
        parse_time_ps,
    )?);
    let mut hash_step = Ps::ZERO;
    let mut hash_tok = Ps::ZERO;
    let mut cxl: Option<(ResourceId, Ps)> = None;
    let mut cpu_gather = (20_000_000_000u64, Ps(20_000));
    let mut hbm_caches: Vec<RowCache> = Vec::new();
    let mut dram_cache: Option<RowCache> = None;
    if let Some(g) = &gspec {
        hash_step = Ps(s.quantity("engram.hash_per_step", &g.hash_per_step, parse_time_ps)?);
        hash_tok = Ps(s.quantity("engram.hash_per_token", &g.hash_per_token, parse_time_ps)?);
        let rb = eng.as_ref().map_or(1, |e| e.dims.row_bytes.max(1));
        if g.placement == Placement::Cxl {
            let bw = match &g.cxl_bandwidth {
                Some(v) => s.quantity("engram.cxl_bandwidth", v, parse_byte_rate)?,
                None => 50_000_000_000,
            };
            let lat = match &g.cxl_latency {
                Some(v) => s.quantity("engram.cxl_latency", v, parse_time_ps)?,
                None => 250_000,
            };
            let r = ex
                .net_mut()
                .add_resource("cxl-pool", bw)
                .map_err(|e| err(e.to_string()))?;
            cxl = Some((r, Ps(lat)));
        }
        if let Some(v) = &g.cpu_gather_bandwidth {
            cpu_gather.0 = s.quantity("engram.cpu_gather_bandwidth", v, parse_byte_rate)?;
        }
        if let Some(v) = &g.cpu_gather_per_row {
            cpu_gather.1 = Ps(s.quantity("engram.cpu_gather_per_row", v, parse_time_ps)?);
        }
        if let Some(h) = &g.hbm_cache {
            let cap = (s.quantity("engram.hbm_cache.size", &h.size, parse_bytes)? / rb) as usize;
            for _ in 0..replicas {
                hbm_caches.push(match h.policy {
                    CachePolicy::Lru => RowCache::lru(cap),
                    CachePolicy::Lfu => RowCache::lfu(cap),
                    CachePolicy::StaticTopk => RowCache::static_topk(cap, h.warmup_steps),
                });
            }
        }
        if let Some(v) = &g.dram_row_cache {
            let cap = (s.quantity("engram.dram_row_cache", v, parse_bytes)? / rb) as usize;
            dram_cache = Some(RowCache::lru(cap));
        }
        if g.placement == Placement::GpuSharded && replicas > 1 && node.gpus[0].nvlink_tx.is_none()
        {
            return Err(err(format!(
                "{}: [engram] gpu-sharded needs NVLink; {} has none",
                s.origin, s.system
            )));
        }
    }
    let nl = cost.num_layers();
    let elayers: Vec<(usize, u32)> = eng
        .as_ref()
        .map(|e| {
            e.layers
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, l)| *l < nl)
                .collect()
        })
        .unwrap_or_default();
    let mut sorted_layers = elayers.clone();
    sorted_layers.sort_by_key(|x| x.1);
    // Batchers.
    let mut batchers: Vec<Batcher> = (0..replicas)
        .map(|_| {
            Batcher::new(
                s.engine.max_num_seqs,
                s.engine.max_batched_tokens,
                kv_tokens.max(1),
            )
        })
        .collect();
    for (i, r) in requests.iter().enumerate() {
        batchers[i % replicas].push(i as u64, r);
    }
    let mut texts: Vec<std::collections::HashMap<u64, Vec<u32>>> =
        vec![Default::default(); replicas];
    let mut st = RunStats {
        engram: engram_on,
        ..Default::default()
    };
    st.layers = sorted_layers
        .iter()
        .map(|&(_, l)| LayerStats {
            layer: l,
            min_slack_ps: i64::MAX,
            ..Default::default()
        })
        .collect();
    let mut plans: Vec<StepPlan> = vec![StepPlan::default(); replicas];
    let mut class_t = Vec::new();
    let mut now = Ps::ZERO;
    let mut prev: Option<OpId> = None;
    let mut step: u64 = 0;
    let mut step_exposed: Vec<u64> = Vec::new();
    let mut exposed_cat: std::collections::BTreeMap<String, Ps> = Default::default();
    let mut by_cat: std::collections::BTreeMap<String, CategoryTotals> = Default::default();
    let mut hbm_hits = (0u64, 0u64);
    let mut dram_hits = (0u64, 0u64);
    let mut rowbuf: Vec<u64> = Vec::new();
    let mut fetches: Vec<Vec<Option<FetchOps>>> = vec![vec![None; sorted_layers.len()]; replicas];
    loop {
        let mut any = false;
        for (b, p) in batchers.iter_mut().zip(plans.iter_mut()) {
            b.plan(now, p);
            any |= !p.work.is_empty();
        }
        if !any {
            let next = batchers.iter().filter_map(|b| b.next_arrival()).min();
            match next {
                None => break,
                Some(t) if t > now => {
                    let w = OpSpec::new(barrier_stream, c.step, Work::Delay(t - now)).after(prev);
                    let id = ex.add_op(w).map_err(|e| err(e.to_string()))?;
                    ex.run_until_done(id).map_err(|e| err(e.to_string()))?;
                    now = ex.timeline().get(id).map_or(t, |r| r.end);
                    prev = Some(id);
                    continue;
                }
                Some(_) => {
                    return Err(err("scheduler stalled: a request cannot fit the KV cache; raise kv_cache_tokens or lower the prompt length"));
                }
            }
        }
        let node_tokens: u64 = plans.iter().map(|p| p.tokens()).sum();
        let step_first = ex.next_op_id();
        let mut lasts = Vec::new();
        let su = step as u32;
        for g in &gpus {
            let p = &plans[g.index];
            for f in fetches[g.index].iter_mut() {
                *f = None;
            }
            if p.work.is_empty() {
                continue;
            }
            let tokens = p.tokens();
            let sampled = p.work.iter().filter(|w| w.samples).count() as u64;
            cost.class_times(&p.work, p.prefill, node_tokens, &mut class_t)?;
            let add = |ex: &mut Executor, o: OpSpec| ex.add_op(o).map_err(|e| err(e.to_string()));
            let mut last = if host_over > Ps::ZERO {
                Some(add(
                    &mut ex,
                    OpSpec::new(g.compute, c.host, Work::Delay(host_over))
                        .after(prev)
                        .at(su, 0),
                )?)
            } else {
                None
            };
            let mut hash = None;
            if let (Some(e), Some(gs)) = (&eng, &gspec) {
                let t = hash_step + Ps(hash_tok.0 * tokens);
                if t > Ps::ZERO {
                    let h = add(
                        &mut ex,
                        OpSpec::new(g.host, c.hash, Work::Delay(t))
                            .after(prev)
                            .at(su, 0),
                    )?;
                    hash = Some(h);
                    if gs.hash_blocking {
                        last = Some(match last {
                            Some(l) => add(
                                &mut ex,
                                OpSpec::new(g.compute, c.step, Work::Marker)
                                    .after([l, h])
                                    .at(su, 0),
                            )?,
                            None => add(
                                &mut ex,
                                OpSpec::new(g.compute, c.step, Work::Marker)
                                    .after([h])
                                    .at(su, 0),
                            )?,
                        });
                    }
                }
                let _ = e;
            }
            let mut layer_at = 0u32;
            // Prefetch issues the step's Engram layers in order of urgency, as one side
            // stream would: layer k's reads after layer k-1's reads (for NVMe: after its
            // drive reads, not its H2D copy). Without this order a FIFO drive serves one
            // GPU's layer-14 pages before another GPU's layer-1 pages (docs: prefetch).
            let mut prev_reads: Vec<OpId> = Vec::new();
            for (k, &(li, lid)) in sorted_layers.iter().enumerate() {
                let e = eng.as_ref().expect("engram");
                let gs = gspec.as_ref().expect("engram");
                let seg = cost.range_time(&class_t, layer_at..lid);
                let seg_op = add(
                    &mut ex,
                    OpSpec::new(g.compute, c.compute, Work::Delay(seg))
                        .after(last.or(prev))
                        .at(su, layer_at),
                )?;
                layer_at = lid;
                // Rows this GPU fetches (after the HBM cache).
                let mut nrows = tokens * e.dims.rows_per_token;
                rowbuf.clear();
                if let (Some((h, maxn, offs)), Some(tg)) = (&e.hasher, &e.text) {
                    let b = &batchers[g.index];
                    for w in &p.work {
                        let sq = &b.seqs[w.seq];
                        let text = match texts[g.index].entry(sq.id) {
                            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                            std::collections::hash_map::Entry::Vacant(v) => {
                                v.insert(tg.tokens(sq.id, (sq.prompt + sq.output) as usize)?)
                            }
                        };
                        let end = ((w.ctx + w.new) as usize).min(text.len());
                        let st0 = (w.ctx as usize).min(end);
                        hash_rows(h, *maxn, li, text, st0, end - st0, &mut rowbuf)?;
                    }
                    let off = offs[li];
                    for r in rowbuf.iter_mut() {
                        *r += off;
                    }
                    if let Some(cache) = hbm_caches.get_mut(g.index) {
                        let before = rowbuf.len();
                        rowbuf.retain(|&r| !cache.access(r));
                        hbm_hits.0 += (before - rowbuf.len()) as u64;
                        hbm_hits.1 += before as u64;
                    }
                    nrows = rowbuf.len() as u64;
                }
                let dep: Vec<OpId> = if gs.prefetch {
                    hash.or(prev)
                        .into_iter()
                        .chain(prev_reads.drain(..))
                        .collect()
                } else {
                    prev_reads.clear();
                    vec![seg_op]
                };
                let rb = e.dims.row_bytes;
                let gi = g.index;
                let gsock = sys.node.gpus[gi].socket;
                let sock = match gs.host_copy {
                    HostCopy::PerSocket => gsock,
                    HostCopy::PerNode => 0,
                };
                let werr = |x: memwall_models::node::WiringError| err(x.to_string());
                let (first, fin) = if nrows == 0 {
                    let m = add(
                        &mut ex,
                        OpSpec::new(g.side, c.fetch, Work::Marker)
                            .after(dep)
                            .at(su, lid),
                    )?;
                    (m, m)
                } else {
                    match gs.placement {
                        Placement::HostZeroCopy | Placement::Cxl => {
                            let mut gth =
                                zero_copy_gather(&node, sock, gi, rb, nrows).map_err(werr)?;
                            if let (Some((r, lat)), Work::Transfer { latency, flows }) =
                                (cxl, &mut gth.work)
                            {
                                *latency += lat;
                                for f in flows.iter_mut() {
                                    f.path[0] = r;
                                }
                            }
                            let o = add(
                                &mut ex,
                                OpSpec::new(g.side, c.fetch, gth.work)
                                    .after(dep)
                                    .at(su, lid),
                            )?;
                            (o, o)
                        }
                        Placement::HostDma => {
                            let bytes = nrows * rb;
                            let t = Ps((bytes as u128 * PS_PER_SEC as u128
                                / cpu_gather.0.max(1) as u128)
                                as u64)
                                + Ps(cpu_gather.1 .0 * nrows);
                            let cg = add(
                                &mut ex,
                                OpSpec::new(
                                    cpu_streams[sock % sockets],
                                    c.cpu_gather,
                                    Work::Delay(t),
                                )
                                .after(dep)
                                .at(su, lid),
                            )?;
                            let path = node.h2d_copy(sock, gi).map_err(werr)?;
                            let o = add(
                                &mut ex,
                                OpSpec::new(g.side, c.fetch, path.transfer(bytes))
                                    .after([cg])
                                    .at(su, lid),
                            )?;
                            (cg, o)
                        }
                        Placement::GpuSharded => {
                            let share = (nrows * rb).div_ceil(replicas as u64);
                            let mut flows = Vec::new();
                            let mut lat = Ps(sys.node.gpu.kernel_launch_ps);
                            for p in 0..replicas {
                                if p == gi {
                                    flows.push(FlowSpec {
                                        path: vec![node.hbm(gi).map_err(werr)?],
                                        bytes: share,
                                        rate_cap: None,
                                    });
                                } else {
                                    let path = node.nvlink(p, gi).map_err(werr)?;
                                    lat = lat.max(Ps(sys.node.gpu.kernel_launch_ps) + path.latency);
                                    flows.push(path.flow(share));
                                }
                            }
                            let o = add(
                                &mut ex,
                                OpSpec::new(
                                    g.side,
                                    c.fetch,
                                    Work::Transfer {
                                        latency: lat,
                                        flows,
                                    },
                                )
                                .after(dep)
                                .at(su, lid),
                            )?;
                            (o, o)
                        }
                        Placement::Nvme => {
                            // DRAM row cache, then whole-page reads deduped within the step.
                            if let Some(dc) = dram_cache.as_mut() {
                                let before = rowbuf.len();
                                let mut missed = Vec::with_capacity(before);
                                for &r in rowbuf.iter() {
                                    if !dc.access(r) {
                                        missed.push(r);
                                    }
                                }
                                dram_hits.0 += (before - missed.len()) as u64;
                                dram_hits.1 += before as u64;
                                rowbuf = missed;
                            }
                            let page = node
                                .spec
                                .drive
                                .as_ref()
                                .map_or(4096, |d| d.page_size_bytes.max(1));
                            let mut pages: Vec<u64> = Vec::with_capacity(rowbuf.len() * 2);
                            for &r in rowbuf.iter() {
                                let a = r * rb;
                                pages.push(a / page);
                                let b2 = (a + rb - 1) / page;
                                if b2 != a / page {
                                    pages.push(b2);
                                }
                            }
                            pages.sort_unstable();
                            pages.dedup();
                            st.nvme_pages += pages.len() as u64;
                            if node.drive_server.is_empty() {
                                return Err(err(format!(
                                    "{}: [engram] placement = \"nvme\" but {} has no drives\nhint: set drives = N",
                                    s.origin, s.system
                                )));
                            }
                            let nd = node.drive_server.len();
                            let mut per = vec![0u32; nd];
                            for &pg in &pages {
                                per[(pg % nd as u64) as usize] += 1;
                            }
                            // Per drive: its pages go through the kernel's queue server
                            // (queue depth, IOPS ceiling, QD1 latency, bandwidth: the drive
                            // itself), then cross the drive link, the switch uplink and the
                            // socket's DRAM as a flow (drives and GPUs contend there). The
                            // pages are split into up to NVME_CHUNKS chunks, each chunk's
                            // flow after its own reads, so the bus streams behind the drive
                            // instead of waiting for the last page.
                            let mut reads = Vec::new();
                            let mut first = None;
                            for (di, &n) in per.iter().enumerate() {
                                if n == 0 {
                                    continue;
                                }
                                let server = node.drive_server[di];
                                let path = node.drive_to_host(di, gsock).map_err(werr)?;
                                let chunks = n.min(NVME_CHUNKS);
                                for ci in 0..chunks {
                                    let m = n / chunks + u32::from(ci < n % chunks);
                                    let rd = add(
                                        &mut ex,
                                        OpSpec::new(
                                            g.side,
                                            c.nvme,
                                            Work::Storage {
                                                server,
                                                requests: m,
                                                bytes_per_request: page,
                                            },
                                        )
                                        .after(dep.clone())
                                        .at(su, lid),
                                    )?;
                                    first = first.or(Some(rd));
                                    reads.push(add(
                                        &mut ex,
                                        OpSpec::new(
                                            g.side,
                                            c.nvme_bus,
                                            path.transfer(m as u64 * page),
                                        )
                                        .after([rd])
                                        .at(su, lid),
                                    )?);
                                }
                            }
                            // Then every row of the step (DRAM-cache hits and the rows just
                            // read) is gathered from DRAM into a staging buffer and copied
                            // to the GPU in one DMA.
                            let path = node.h2d_copy(gsock, gi).map_err(werr)?;
                            let o = add(
                                &mut ex,
                                OpSpec::new(g.side, c.fetch, path.transfer(nrows * rb))
                                    .after(if reads.is_empty() { dep } else { reads.clone() })
                                    .at(su, lid),
                            )?;
                            prev_reads.extend(reads);
                            (first.unwrap_or(o), o)
                        }
                    }
                };
                let et = cost.engram_time(&e.dims, tokens, gs.kernels, p.prefill)?;
                let ec = add(
                    &mut ex,
                    OpSpec::new(g.compute, c.engram_compute, Work::Delay(et))
                        .after([seg_op, fin])
                        .at(su, lid),
                )?;
                if prev_reads.is_empty() {
                    prev_reads.push(fin);
                }
                fetches[gi][k] = Some(FetchOps {
                    first,
                    last: fin,
                    before: seg_op,
                    rows: nrows,
                });
                last = Some(ec);
            }
            let seg = cost.range_time(&class_t, layer_at..nl) + cost.head_time(sampled, p.prefill);
            let fin = add(
                &mut ex,
                OpSpec::new(g.compute, c.compute, Work::Delay(seg))
                    .after(last.or(prev))
                    .at(su, layer_at),
            )?;
            lasts.push(fin);
        }
        let barrier = ex
            .add_op(
                OpSpec::new(barrier_stream, c.step, Work::Marker)
                    .after(lasts)
                    .at(su, 0),
            )
            .map_err(|e| err(e.to_string()))?;
        ex.run_until_done(barrier).map_err(|e| err(e.to_string()))?;
        let tl = ex.timeline();
        let end = tl.get(barrier).map_or(now, |r| r.end);
        let at = attribute(tl, (now, end));
        for a in &at.streams {
            st.busy += a.busy;
            st.bubble += a.bubble;
            for (cid, p) in &a.exposed {
                *exposed_cat
                    .entry(tl.category(*cid).name.clone())
                    .or_insert(Ps::ZERO) += *p;
            }
        }
        for (name, t) in at.by_category(tl) {
            let e = by_cat.entry(name).or_default();
            e.ops += t.ops;
            e.bytes += t.bytes;
            e.latency += t.latency;
            e.exposed += t.exposed;
            e.hidden += t.hidden;
        }
        // Per Engram layer: the worst GPU.
        let mut worst_step = 0u64;
        for (k, ls) in st.layers.iter_mut().enumerate() {
            let mut lat = Ps::ZERO;
            let mut expo = Ps::ZERO;
            let mut slack = i64::MAX;
            let mut rows = 0;
            let mut any_f = false;
            for g in &gpus {
                let Some(f) = fetches[g.index][k] else {
                    continue;
                };
                any_f = true;
                let (Some(a), Some(b), Some(bf)) =
                    (tl.get(f.first), tl.get(f.last), tl.get(f.before))
                else {
                    continue;
                };
                lat = lat.max(b.end - a.start.min(b.start));
                let ex_ops: Ps = at
                    .ops
                    .iter()
                    .filter(|o| {
                        o.op.0 >= f.first.0
                            && o.op.0 <= f.last.0
                            && o.layer == ls.layer
                            && o.category != c.hash
                    })
                    .map(|o| o.exposed)
                    .fold(Ps::ZERO, |x, y| x + y);
                expo = expo.max(ex_ops);
                slack = slack.min(bf.end.0 as i64 - b.end.0 as i64);
                rows += f.rows;
            }
            if !any_f {
                continue;
            }
            let expo = expo.min(lat);
            ls.fetches += 1;
            ls.rows += rows;
            ls.bytes += rows * eng.as_ref().map_or(0, |e| e.dims.row_bytes);
            ls.latency += lat;
            ls.exposed += expo;
            ls.hidden += lat - expo;
            ls.min_slack_ps = ls.min_slack_ps.min(slack);
            if expo > Ps::ZERO {
                ls.steps_exposed += 1;
            }
            worst_step += expo.0;
            if opt.step_rows {
                step_rows.push(StepRow {
                    step,
                    prefill: plans.iter().any(|p| p.prefill),
                    start: now,
                    duration: end - now,
                    tokens: node_tokens,
                    layer: ls.layer,
                    rows,
                    latency: lat,
                    exposed: expo,
                    hidden: lat - expo,
                    slack_ps: slack,
                });
            }
        }
        step_exposed.push(worst_step);
        if step + 1 == opt.sample_steps || (opt.sample_steps > 0 && step == 0) {
            sample.0 = ex.timeline().clone();
            sample.1 = attribute(&sample.0, (Ps::ZERO, end));
        }
        for (b, p) in batchers.iter_mut().zip(plans.iter()) {
            st.output_tokens += b.complete(p);
            if p.prefill {
                st.prompt_tokens += p.tokens();
            }
            // Drop finished sequences' text.
        }
        for (gi, b) in batchers.iter().enumerate() {
            if b.running() == 0 {
                texts[gi].clear();
            }
        }
        for cch in hbm_caches.iter_mut() {
            cch.end_step();
        }
        if plans.iter().any(|p| p.prefill) {
            st.prefill_steps += 1;
        }
        st.steps += 1;
        step += 1;
        now = end;
        prev = Some(barrier);
        if step >= opt.sample_steps {
            ex.forget_before(barrier).map_err(|e| err(e.to_string()))?;
        }
        let _ = step_first;
    }
    st.makespan = now;
    st.requests = batchers.iter().map(|b| b.finished).sum();
    st.preemptions = batchers.iter().map(|b| b.preemptions).sum();
    st.tokens_per_s = if now > Ps::ZERO {
        st.output_tokens as f64 / now.as_secs_f64()
    } else {
        0.0
    };
    st.exposed_by_category = exposed_cat.into_iter().collect();
    st.by_category = by_cat.into_iter().collect();
    st.step_exposed_p50 = percentile(&mut step_exposed.clone(), 0.5);
    st.step_exposed_p99 = percentile(&mut step_exposed, 0.99);
    st.hbm_cache_hit_rate = (hbm_hits.1 > 0).then(|| hbm_hits.0 as f64 / hbm_hits.1 as f64);
    st.dram_cache_hit_rate = (dram_hits.1 > 0).then(|| dram_hits.0 as f64 / dram_hits.1 as f64);
    for l in st.layers.iter_mut() {
        if l.min_slack_ps == i64::MAX {
            l.min_slack_ps = 0;
        }
    }
    Ok(st)
}
