//! The serving step loop on the kernel. [`ServeSim::new`] wires the node and sets up
//! streams, categories, batchers and the Engram tier; [`ServeSim::run`] then, step by
//! step, plans each replica's batch, adds its compute ops and Engram fetches, runs the
//! step to its barrier, attributes it, and forgets its ops so memory stays flat.

use std::collections::{BTreeMap, HashMap};

use memwall_llm::ModelConfig;
use memwall_models::node::NodeModel;
use memwall_models::tiers::{FetchCategories, FetchCx, FetchRequest, FetchTier, RowCache, Rows};
use memwall_models::units::{parse_bytes, parse_time_ps};
use memwall_models::{Registry, SystemSpec};
use memwall_sim::attribution::{Attribution, Attributor, CategoryTotals};
use memwall_sim::{
    CategoryId, Executor, FlowNet, OpId, OpKind, OpSpec, Ps, StreamId, Timeline, Work,
};

use super::batcher::{Batcher, BlockMode, StepPlan};
use super::cost::{CostModel, Launch};
use super::engine::Engine;
use super::engram::{engram_setup, EngramSetup};
use super::error::{invalid, ScenarioError};
use super::metrics::{RequestRecord, Slo, Tracker, Window};
use super::requests::Clients;
use super::rows::hash_rows;
use super::run::{BatchRow, LayerStats, RunOptions, RunStats, StepRow};
use super::scenario::{CachePolicy, EngramSpec, Scenario};

mod disagg;
pub(crate) use disagg::Role;
mod ep;
mod memory;
mod replay;
mod tp_engram;

/// Categories the step loop's own ops use.
struct Cats {
    compute: CategoryId,
    engram_compute: CategoryId,
    host: CategoryId,
    hash: CategoryId,
    fetch: CategoryId,
    step: CategoryId,
}

impl Cats {
    /// Every category, the tiers' included, created up front so that category ids (and
    /// so the order of reports) do not depend on the placement.
    fn new(ex: &mut Executor) -> Cats {
        let f = FetchCategories::default();
        let compute = ex.category("compute", OpKind::Compute);
        let engram_compute = ex.category("engram-compute", OpKind::Compute);
        let host = ex.category("host", OpKind::Host);
        let hash = ex.category("engram-hash", OpKind::Host);
        let fetch = ex.category(f.fetch, OpKind::Memory);
        ex.category(f.storage, OpKind::Storage);
        ex.category(f.storage_bus, OpKind::Memory);
        ex.category(f.cpu_gather, OpKind::Host);
        let step = ex.category("step", OpKind::Marker);
        Cats {
            compute,
            engram_compute,
            host,
            hash,
            fetch,
            step,
        }
    }
}

/// One replica GPU's streams.
struct Gpu {
    socket: usize,
    compute: StreamId,
    host: StreamId,
    side: StreamId,
}

/// A simulated step: its barrier, its end, each replica's end, its tokens and kind.
struct StepDone {
    barrier: OpId,
    end: Ps,
    ends: Vec<Ps>,
    tokens: u64,
    prefill: bool,
}

/// Per (gpu, engram layer) ops of the current step.
#[derive(Clone, Copy)]
struct FetchOps {
    first: OpId,
    last: OpId,
    /// The compute op the layer's Engram module waits behind.
    before: OpId,
    rows: u64,
}

/// The Engram side of a run: the resolved module, its tier, hashing and caches.
struct EngramRun<'a> {
    spec: &'a EngramSpec,
    setup: EngramSetup,
    tier: Box<dyn FetchTier>,
    hash_step: Ps,
    hash_tok: Ps,
    /// One HBM row cache per replica, when asked for.
    hbm_caches: Vec<RowCache>,
    /// (layout index, layer id), by layer id.
    layers: Vec<(usize, u32)>,
}

/// Totals gathered step by step.
#[derive(Default)]
struct Totals {
    st: RunStats,
    step_exposed: Vec<u64>,
    /// Stalls and totals by category id (`None`: none seen yet).
    exposed_cat: Vec<Option<Ps>>,
    by_cat: Vec<Option<CategoryTotals>>,
    hbm_hits: (u64, u64),
    step_rows: Vec<StepRow>,
}

/// A GPU's step as it is being built: the last compute op so far and the fetch chain.
struct GpuStep {
    tokens: u64,
    last: Option<OpId>,
    hash: Option<OpId>,
    layer_at: u32,
    /// Prefetch order: the next layer's fetch follows these (the previous fetch's reads).
    prev_reads: Vec<OpId>,
}

pub(crate) struct ServeSim<'a> {
    opt: RunOptions,
    ex: Executor,
    node: NodeModel,
    cost: CostModel,
    cats: Cats,
    gpus: Vec<Gpu>,
    barrier_stream: StreamId,
    host_over: Ps,
    /// The engine profile the run follows (`None`: the built-in behaviour).
    engine: Option<Engine>,
    engram: Option<EngramRun<'a>>,
    /// Expert parallelism with its all-to-all as flows (`[moe]`).
    ep: Option<ep::EpRun>,
    batchers: Vec<Batcher>,
    /// Token text of each running sequence, per replica.
    texts: Vec<HashMap<u64, Vec<u32>>>,
    plans: Vec<StepPlan>,
    class_t: Vec<Ps>,
    now: Ps,
    prev: Option<OpId>,
    step: u64,
    rowbuf: Vec<u64>,
    fetches: Vec<Vec<Option<FetchOps>>>,
    /// Each step's attribution (its buffers reused from step to step).
    attributor: Attributor,
    totals: Totals,
    load: Load,
    tracker: Tracker,
    batch_rows: Vec<BatchRow>,
    /// Prefix caching and KV tiers, with `[kv_cache]` (crate::kv).
    kv: Option<crate::kv::KvRun>,
    /// Steps replayed from an Engram access trace: this step's row ids (`crate::mwet`).
    replay: Option<replay::Replayed>,
    /// Occupancy per memory tier and tenant (`crate::budget`).
    memory: memory::Memory,
    /// The node GPU of each replica rank (replica `i`'s TP group is `i x tp ..`).
    gpu_of: Vec<usize>,
    /// Disaggregated prefill and decode: this pool's side (`crate::disagg`).
    pd: Option<disagg::Side>,
}

/// The requests of a run: who issues them, which are measured, the goodput objectives.
pub(crate) struct Load {
    pub clients: Clients,
    pub window: Window,
    pub slo: Slo,
}

/// What a run gives.
pub(crate) struct SimOutput {
    pub stats: RunStats,
    pub step_rows: Vec<StepRow>,
    pub requests: Vec<RequestRecord>,
    pub batches: Vec<BatchRow>,
}

fn percentile(v: &mut [u64], p: f64) -> Ps {
    if v.is_empty() {
        return Ps::ZERO;
    }
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    Ps(v[i])
}

fn cost_model(
    s: &Scenario,
    model: memwall_llm::ModelConfig,
    sys: &SystemSpec,
    engine: Option<&Engine>,
) -> Result<CostModel, ScenarioError> {
    let e = &s.engine;
    let (kernels, graphs, tp) = match engine {
        Some(g) => (g.kernels_per_layer, g.graphs.full_decode, g.tensor_parallel),
        None => (
            e.kernels_per_layer_or_default(),
            e.cuda_graph_decode_or_default(),
            1,
        ),
    };
    let c = CostModel::new(
        model,
        &sys.node.gpu,
        e.expert_parallel,
        kernels,
        graphs,
        e.compute_efficiency,
    )?;
    let measured = engine.and_then(|g| g.measured_on(&sys.node.gpu.name));
    let c = c
        .with_tensor_parallel(tp, sys)
        .with_measured_kernels(measured.cloned());
    Ok(if s.moe.is_some() {
        c.with_routed_experts()
    } else {
        c
    })
}

/// The KV-cache side of the run, when the scenario has `[kv_cache]`: replica `i` on
/// GPUs `i x tp .. (i + 1) x tp`.
fn kv_run(
    s: &Scenario,
    ex: &mut Executor,
    node: &NodeModel,
    cost: &CostModel,
    engine: Option<&Engine>,
    gpu_of: &[usize],
    tp: usize,
) -> Result<Option<crate::kv::KvRun>, ScenarioError> {
    let Some(spec) = &s.kv_cache else {
        return Ok(None);
    };
    let lay = crate::kv::Layout {
        groups: gpu_of.chunks(tp).map(|c| c.to_vec()).collect(),
        kv_bytes_per_token: cost.kv_bytes_per_token()?,
        engine_block: engine.map(|e| e.block_size),
        prefix_cache: engine.map_or(crate::kv::PrefixCacheKind::BlockHash, |e| e.prefix_cache),
        node,
    };
    crate::kv::KvRun::new(s, spec, s.prompts.as_ref(), ex, lay).map(Some)
}

/// Each replica's compute, host and Engram streams (replica `i` on GPU
/// `gpu_of[i x tp]`, the first of its tensor-parallel group).
fn gpu_streams(ex: &mut Executor, sys: &SystemSpec, gpu_of: &[usize], tp: usize) -> Vec<Gpu> {
    (0..gpu_of.len() / tp)
        .map(|i| Gpu {
            socket: sys.node.gpus[gpu_of[i * tp]].socket,
            compute: ex.add_stream(format!("gpu{i}.compute"), true, true),
            host: ex.add_stream(format!("gpu{i}.host"), true, false),
            side: ex.add_stream(format!("gpu{i}.engram"), false, false),
        })
        .collect()
}

/// One batcher per replica (requests are dealt round-robin as they arrive); `kv` is in
/// tokens, or in blocks under an engine profile.
fn batchers(s: &Scenario, engine: Option<&Engine>, replicas: usize, kv: u64) -> Vec<Batcher> {
    let e = &s.engine;
    (0..replicas)
        .map(|_| match engine {
            Some(g) => Batcher::with_blocks(
                g.max_num_seqs,
                g.max_batched_tokens,
                kv.max(1),
                BlockMode {
                    scheduler: g.scheduler,
                    block_size: g.block_size,
                    admission: g.admission,
                },
            ),
            None => Batcher::new(
                e.max_num_seqs_or_default(),
                e.max_batched_tokens_or_default(),
                kv.max(1),
            ),
        })
        .collect()
}

impl Totals {
    fn new(engram_on: bool, engram: Option<&EngramRun>) -> Totals {
        let mut t = Totals::default();
        t.st.engram = engram_on;
        t.st.layers = engram
            .iter()
            .flat_map(|g| &g.layers)
            .map(|&(_, l)| LayerStats {
                layer: l,
                min_slack_ps: i64::MAX,
                ..Default::default()
            })
            .collect();
        t
    }
}

/// Replicas asked for (0: every GPU, over the TP degree), checked against the node.
fn replicas(s: &Scenario, node: &NodeModel, tp: usize) -> Result<usize, ScenarioError> {
    let gpus = node.gpus.len();
    if tp > gpus {
        return Err(ScenarioError::Field {
            origin: s.origin.clone(),
            line: s.line_of_table_key("engine", "tensor_parallel"),
            field: "engine.tensor_parallel".into(),
            value: tp.to_string(),
            message: format!("{} has {gpus} GPUs", s.system),
            hint: format!("tensor_parallel can be at most {gpus} on this system"),
        });
    }
    let n = match s.engine.replicas {
        0 => gpus / tp,
        r => r,
    };
    if n * tp > gpus {
        return Err(invalid(
            &s.origin,
            format!(
                "[engine] replicas = {n} x tensor_parallel = {tp} but {} has {gpus} GPUs",
                s.system
            ),
        ));
    }
    Ok(n)
}

/// The disaggregated pools, if any, and the node GPU of each replica rank: this pool's
/// GPUs, else the first `replicas x tp`.
fn placement(
    s: &Scenario,
    role: Option<&disagg::Role>,
    node: &NodeModel,
    tp: usize,
) -> Result<(Option<disagg::Pools>, Vec<usize>), ScenarioError> {
    Ok(match disagg::pools(s, role, node, tp)? {
        Some((p, mine)) => (Some(p), mine),
        None => (None, (0..replicas(s, node, tp)? * tp).collect()),
    })
}

/// KV-cache capacity per replica: in tokens (as given, else what HBM leaves after the
/// weights and a sharded Engram table), or under an engine profile in blocks, what
/// `gpu_memory_utilization` leaves after the weights and the engine's non-KV memory
/// (vLLM's sizing, docs/engines.md), less its reserved blocks.
fn kv_capacity(
    s: &Scenario,
    sys: &SystemSpec,
    cost: &CostModel,
    engine: Option<&Engine>,
    engram_hbm: u64,
) -> Result<u64, ScenarioError> {
    let Some(g) = engine else {
        let util = s.engine.gpu_memory_utilization_or_default();
        return kv_tokens(s, sys, cost, util, engram_hbm);
    };
    let tokens = match s.engine.kv_cache_tokens {
        Some(t) => t,
        None => kv_tokens(
            s,
            sys,
            cost,
            g.gpu_memory_utilization,
            engram_hbm + g.non_kv_memory,
        )?,
    };
    Ok((tokens / g.block_size).saturating_sub(g.reserved_blocks))
}

/// KV tokens per replica: as given, else what `util` of HBM leaves after the weights and
/// `reserved` bytes.
fn kv_tokens(
    s: &Scenario,
    sys: &SystemSpec,
    cost: &CostModel,
    util: f64,
    reserved: u64,
) -> Result<u64, ScenarioError> {
    if let Some(t) = s.engine.kv_cache_tokens {
        return Ok(t);
    }
    let hbm = sys.node.gpu.hbm_capacity_bytes;
    let usable = (hbm as f64 * util) as u64;
    let used = cost.weight_bytes_per_gpu()? + reserved;
    let free = usable.checked_sub(used).filter(|f| *f > 0).ok_or_else(|| {
        invalid(
            &s.origin,
            format!(
                "the weights ({} GB per GPU{}) do not fit in {} GB x {}: raise \
                 expert_parallel or tensor_parallel, or pick a larger GPU",
                used / 1_000_000_000,
                if reserved > 0 {
                    ", Engram shard and engine memory included"
                } else {
                    ""
                },
                hbm / 1_000_000_000,
                util
            ),
        )
    })?;
    Ok(free / cost.kv_bytes_per_token()?)
}

impl<'a> ServeSim<'a> {
    /// Wires the node and sets up everything the step loop needs.
    pub(crate) fn new(
        s: &'a Scenario,
        reg: &Registry,
        model: &ModelConfig,
        load: Load,
        engram_on: bool,
        opt: RunOptions,
    ) -> Result<ServeSim<'a>, ScenarioError> {
        Self::new_in(s, reg, model, (load, engram_on, opt), None)
    }

    /// The same, as one pool of a disaggregated deployment when `role` says so.
    pub(crate) fn new_in(
        s: &'a Scenario,
        reg: &Registry,
        model: &ModelConfig,
        (load, engram_on, opt): (Load, bool, RunOptions),
        role: Option<disagg::Role>,
    ) -> Result<ServeSim<'a>, ScenarioError> {
        let mut sys = reg.system(&s.system).map_err(|e| s.unknown_system(e))?;
        let pooled = role.is_some() || s.disaggregation.is_some();
        let mut whole = crate::ep_cluster::WholeCluster::of(s, &sys, pooled)?;
        sys.node = match &whole {
            Some(w) => w.node(&sys.node),
            None => crate::rack::node_of(s, &sys.node)?,
        };
        let spec = s.engram.as_ref().filter(|_| engram_on);
        let setup = match spec {
            Some(_) => engram_setup(s, model.hidden_size, model.residual_streams())?,
            None => None,
        };
        if let Some(g) = spec {
            g.tier.spec().adjust_system(&mut sys, reg, &g.tier_source)?;
        }
        let mut ex = match whole.as_mut() {
            Some(w) => w.executor(),
            None => Executor::new(FlowNet::new()),
        };
        let node = NodeModel::build(&sys.node, &mut ex, "").map_err(|e| ScenarioError::Wiring {
            system: s.system.clone(),
            message: e.to_string(),
        })?;
        let engine = Engine::of(s)?.map(|g| g.sized_for(model));
        let tp = engine.as_ref().map_or(1, |g| g.tensor_parallel as usize);
        let (pools, gpu_of) = placement(s, role.as_ref(), &node, tp)?;
        let replicas = gpu_of.len() / tp;
        let ep = ep::EpRun::new(s, (&node, whole.as_ref()), model, (replicas, tp), &mut ex)?;
        let cost = cost_model(s, model.clone(), &sys, engine.as_ref())?;
        let engram_hbm = match (spec, &setup) {
            (Some(g), Some(es)) => g
                .tier
                .spec()
                .hbm_bytes_per_gpu(es.table_bytes / tp as u64, replicas),
            _ => 0,
        };
        let kv = kv_capacity(s, &sys, &cost, engine.as_ref(), engram_hbm)?;
        let cats = Cats::new(&mut ex);
        let gpus = gpu_streams(&mut ex, &sys, &gpu_of, tp);
        let engram = match (spec, setup) {
            (Some(g), Some(es)) => Some(EngramRun::new(
                s,
                g,
                es,
                &mut ex,
                &node,
                (gpu_of.iter().max().map_or(0, |g| g + 1), tp),
                &cost,
            )?),
            _ => None,
        };
        let barrier_stream = ex.add_stream("steps", false, false);
        let host_over = match &s.engine.host_step_overhead {
            Some(h) => Ps(s.quantity("engine.host_step_overhead", h, parse_time_ps)?),
            None => Ps::ZERO,
        };
        let batchers = batchers(s, engine.as_ref(), replicas, kv);
        let memory = memory::Memory::check(memory::Setup {
            s,
            sys: &sys,
            cost: &cost,
            engine: engine.as_ref(),
            batchers: &batchers,
            engram: engram.as_ref(),
            engram_hbm,
            gpu_sockets: gpus.iter().map(|g| g.socket).collect(),
        })?;
        let kv = kv_run(s, &mut ex, &node, &cost, engine.as_ref(), &gpu_of, tp)?;
        let pd = disagg::side(
            s,
            role,
            pools.as_ref(),
            &mut ex,
            (model, engine.as_ref(), tp),
        )?;
        let layers = engram.as_ref().map_or(0, |g| g.layers.len());
        let totals = Totals::new(engram_on, engram.as_ref());
        Ok(ServeSim {
            opt,
            ex,
            node,
            cost,
            cats,
            gpus,
            barrier_stream,
            host_over,
            engine,
            engram,
            ep,
            batchers,
            texts: vec![HashMap::new(); replicas],
            plans: vec![StepPlan::default(); replicas],
            class_t: Vec::new(),
            now: Ps::ZERO,
            prev: None,
            step: 0,
            rowbuf: Vec::new(),
            fetches: vec![vec![None; layers]; replicas],
            attributor: Attributor::default(),
            totals,
            tracker: Tracker::new(load.window),
            load,
            batch_rows: Vec::new(),
            kv,
            replay: None,
            memory,
            gpu_of,
            pd,
        })
    }

    /// Serves every request, step by step.
    pub(crate) fn run(mut self) -> Result<SimOutput, ScenarioError> {
        self.serve()?;
        Ok(self.finish())
    }

    /// The step loop: until every request is served.
    fn serve(&mut self) -> Result<(), ScenarioError> {
        let finished = |b: &[Batcher]| b.iter().map(|b| b.finished).sum::<u64>();
        let label = if self.engram.is_some() {
            "serving"
        } else {
            "serving without Engram"
        };
        let total = self.load.clients.planned();
        let progress = memwall_io::progress::task(label, total, "requests");
        loop {
            self.admit_arrivals()?;
            let mut any = false;
            for (b, p) in self.batchers.iter_mut().zip(self.plans.iter_mut()) {
                b.plan(self.now, p);
                any |= !p.work.is_empty();
            }
            self.pd_rewrite();
            if let Some(kv) = self.kv.as_mut() {
                kv.plan(self.now, &self.batchers, &mut self.plans);
            }
            if !any {
                if self.idle_until_next_arrival()? {
                    continue;
                }
                break;
            }
            self.step()?;
            progress.set(finished(&self.batchers));
        }
        Ok(())
    }

    /// Hands the requests that have arrived by now to the replicas, round-robin by id.
    fn admit_arrivals(&mut self) -> Result<(), ScenarioError> {
        let n = self.batchers.len() as u64;
        while let Some((id, r)) = self.load.clients.pop_due(self.now)? {
            let r = self.pd_arrival(id, r);
            self.batchers[(id % n) as usize].push(id, &r);
        }
        self.pd_admit();
        Ok(())
    }

    /// Nothing to run: waits for the next arrival (true) or ends the run (false).
    fn idle_until_next_arrival(&mut self) -> Result<bool, ScenarioError> {
        let queued = self.batchers.iter().filter_map(|b| b.next_arrival());
        let queued = queued.chain(self.pd_next()).min();
        let next = match (queued, self.load.clients.next_arrival()?) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match next {
            None => Ok(false),
            Some(t) if t > self.now => {
                let w = OpSpec::new(
                    self.barrier_stream,
                    self.cats.step,
                    Work::Delay(t - self.now),
                )
                .after(self.prev);
                let id = self.ex.add_op(w)?;
                self.ex.run_until_done(id)?;
                self.now = self.ex.timeline().get(id).map_or(t, |r| r.end);
                self.prev = Some(id);
                Ok(true)
            }
            Some(_) => Err(ScenarioError::Stalled),
        }
    }

    /// One step: every replica's ops, run to the barrier, attributed, then forgotten.
    fn step(&mut self) -> Result<(), ScenarioError> {
        let done = self.simulate_step()?;
        self.pd_poll();
        let kv = self.batchers.iter().map(|b| b.kv_used()).max();
        let most = self.plans.iter().map(|p| p.tokens()).max();
        let dur = done.end - self.now;
        self.sample_memory(dur, kv.unwrap_or(0), most.unwrap_or(0));
        self.record_batch(done.end, done.tokens, done.prefill);
        self.record_tokens(&done.ends);
        if let Some(kv) = self.kv.as_mut() {
            kv.computed(&self.batchers, &self.plans);
        }
        self.complete_step(done.prefill);
        if let Some(kv) = self.kv.as_mut() {
            kv.settle(&self.batchers);
        }
        self.close_step(&done)
    }

    /// The step's end: the clock moves to it and the step's ops are forgotten.
    fn close_step(&mut self, done: &StepDone) -> Result<(), ScenarioError> {
        self.now = done.end;
        self.prev = Some(done.barrier);
        let keep = self
            .pd_keep_from()
            .map_or(done.barrier, |k| k.min(done.barrier));
        self.ex.forget_before(keep)?;
        Ok(())
    }

    /// Every replica's ops of the planned step, run to the barrier and attributed.
    fn simulate_step(&mut self) -> Result<StepDone, ScenarioError> {
        let node_tokens: u64 = self.plans.iter().map(|p| p.tokens()).sum();
        let mut lasts = Vec::new();
        let mut ends = Vec::new();
        if self.ep.is_some() {
            self.ep_step_ops(node_tokens, &mut lasts, &mut ends)?;
            lasts.extend(ends.iter().flatten());
        }
        let plain = if self.ep.is_some() {
            0
        } else {
            self.gpus.len()
        };
        for gi in 0..plain {
            let last = self.gpu_step(gi, node_tokens, &mut lasts)?;
            ends.push(last);
            lasts.extend(last);
        }
        let su = self.step as u32;
        let barrier = self.ex.add_op(
            OpSpec::new(self.barrier_stream, self.cats.step, Work::Marker)
                .after(lasts)
                .at(su, 0),
        )?;
        self.ex.run_until_done(barrier)?;
        let tl = self.ex.timeline();
        let end = tl.get(barrier).map_or(self.now, |r| r.end);
        let at = self.attributor.attribute(tl, (self.now, end));
        let prefill = self.plans.iter().any(|p| p.prefill);
        add_category_totals(&mut self.totals, tl, at);
        let worst = layer_stats(
            &mut self.totals,
            &self.fetches,
            tl,
            at,
            StepInfo {
                step: self.step,
                prefill,
                start: self.now,
                duration: end - self.now,
                tokens: node_tokens,
                row_bytes: self.engram.as_ref().map_or(0, |e| e.setup.dims.row_bytes),
                hash: self.cats.hash,
                step_rows: self.opt.step_rows,
            },
        );
        self.totals.step_exposed.push(worst);
        // Each replica's tokens reach their requests when its own step ends.
        let ends: Vec<Ps> = ends
            .iter()
            .map(|o| o.and_then(|o| tl.get(o)).map_or(end, |r| r.end))
            .collect();
        Ok(StepDone {
            barrier,
            end,
            ends,
            tokens: node_tokens,
            prefill,
        })
    }

    /// The step's batch and KV-cache use (for the time line), when step rows are kept.
    fn record_batch(&mut self, end: Ps, tokens: u64, prefill: bool) {
        if !self.opt.step_rows {
            return;
        }
        let b = &self.batchers;
        self.batch_rows.push(BatchRow {
            step: self.step,
            start: self.now,
            duration: end - self.now,
            prefill,
            tokens,
            seqs: self.plans.iter().map(|p| p.work.len() as u64).sum(),
            waiting: b.iter().map(|b| b.waiting.len() as u64).sum(),
            kv_used: b.iter().map(|b| b.kv_used()).sum(),
            kv_capacity: b.iter().map(|b| b.kv_capacity_tokens()).sum(),
        });
    }

    /// The tokens this step samples, at each replica's step end; finished requests are
    /// recorded and their closed-loop clients issue again.
    fn record_tokens(&mut self, ends: &[Ps]) {
        for ((b, p), &at) in self.batchers.iter().zip(&self.plans).zip(ends) {
            for w in p.work.iter().filter(|w| w.samples) {
                let sq = &b.seqs[w.seq];
                self.tracker.token(sq.id, at);
                if sq.generated + 1 >= sq.output {
                    let scheduled = sq.first_scheduled.unwrap_or(sq.arrival);
                    let lengths = (sq.prompt, sq.output);
                    self.tracker.finish(sq.id, sq.arrival, lengths, scheduled);
                    self.load.clients.finished(at);
                }
            }
        }
    }

    /// After a step: tokens out, finished sequences' text dropped, caches stepped.
    fn complete_step(&mut self, prefill: bool) {
        let st = &mut self.totals.st;
        for (b, p) in self.batchers.iter_mut().zip(self.plans.iter()) {
            st.output_tokens += b.complete(p);
            if p.prefill {
                st.prompt_tokens += p.tokens();
            }
        }
        for (gi, b) in self.batchers.iter().enumerate() {
            if b.running() == 0 {
                self.texts[gi].clear();
            }
        }
        if let Some(e) = self.engram.as_mut() {
            for c in e.hbm_caches.iter_mut() {
                c.end_step();
            }
        }
        if prefill {
            st.prefill_steps += 1;
        }
        st.steps += 1;
        self.step += 1;
    }

    fn add(&mut self, o: OpSpec) -> Result<OpId, ScenarioError> {
        Ok(self.ex.add_op(o)?)
    }

    /// One replica's ops for this step: its last compute op, if it has work (when its
    /// tokens are out); under async scheduling its CPU op goes to `lasts` (the step's
    /// barrier waits for it too).
    fn gpu_step(
        &mut self,
        gi: usize,
        node_tokens: u64,
        lasts: &mut Vec<OpId>,
    ) -> Result<Option<OpId>, ScenarioError> {
        for f in self.fetches[gi].iter_mut() {
            *f = None;
        }
        let p = &self.plans[gi];
        if p.work.is_empty() {
            return Ok(None);
        }
        let sampled = p.work.iter().filter(|w| w.samples).count() as u64;
        let (prefill, tokens) = (p.prefill, p.tokens());
        let launch = launch_of(self.engine.as_ref(), p);
        self.cost
            .class_times(&p.work, prefill, node_tokens, launch, &mut self.class_t)?;
        let mut g = self.step_head(gi, lasts)?;
        if let Some(kv) = self.kv.as_mut() {
            let (compute, su) = (self.gpus[gi].compute, self.step as u32);
            let at = crate::kv::StepAt {
                compute,
                prev: self.prev,
                step: su,
            };
            kv.issue(&mut self.ex, &self.node, gi, at, &mut g.last, lasts)?;
        }
        let nlayers = self.engram.as_ref().map_or(0, |e| e.layers.len());
        for k in 0..nlayers {
            self.engram_layer(gi, k, &mut g)?;
        }
        let (su, nl) = (self.step as u32, self.cost.num_layers());
        let mut ready = self.engram_ready(gi);
        let (mut layers, mut after) = (g.layer_at..nl, g.last);
        if self.pd_layerwise() {
            after = self.layer_ops(gi, layers, after, &mut ready)?;
            layers = nl..nl;
        }
        let seg = self.cost.range_time(&self.class_t, layers.clone())
            + self.cost.head_time(sampled, tokens, prefill, launch)?;
        let compute = self.gpus[gi].compute;
        let fin = self.add(
            OpSpec::new(compute, self.cats.compute, Work::Delay(seg))
                .after(after.or(self.prev))
                .at(su, layers.start),
        )?;
        self.pd_ship(gi, &ready, fin)?;
        Ok(Some(fin))
    }

    /// The step's CPU time: the engine's (scheduling, input preparation, sampling) before
    /// the GPU work, or beside it under async scheduling (it prepared this step while the
    /// last one ran: the step takes the longer of the two); else the scenario's
    /// `host_step_overhead`.
    fn step_cpu(
        &mut self,
        gi: usize,
        lasts: &mut Vec<OpId>,
    ) -> Result<Option<OpId>, ScenarioError> {
        let (su, prev) = (self.step as u32, self.prev);
        let (compute, host) = (self.gpus[gi].compute, self.gpus[gi].host);
        let (t, overlapped) = match &self.engine {
            Some(e) => (e.cpu_time(self.plans[gi].work.len()), e.async_scheduling),
            None => (self.host_over, false),
        };
        if t == Ps::ZERO {
            return Ok(None);
        }
        if overlapped {
            let o = OpSpec::new(host, self.cats.host, Work::Delay(t));
            lasts.push(self.add(o.after(prev).at(su, 0))?);
            return Ok(None);
        }
        let o = OpSpec::new(compute, self.cats.host, Work::Delay(t));
        Ok(Some(self.add(o.after(prev).at(su, 0))?))
    }

    /// The step's host overhead and Engram hashing (blocking or not).
    fn step_head(&mut self, gi: usize, lasts: &mut Vec<OpId>) -> Result<GpuStep, ScenarioError> {
        let (su, prev) = (self.step as u32, self.prev);
        let (compute, host) = (self.gpus[gi].compute, self.gpus[gi].host);
        let tokens = self.plans[gi].tokens();
        let mut g = GpuStep {
            tokens,
            last: None,
            hash: None,
            layer_at: 0,
            prev_reads: Vec::new(),
        };
        g.last = self.step_cpu(gi, lasts)?;
        let Some(e) = &self.engram else {
            return Ok(g);
        };
        let t = e.hash_step + Ps(e.hash_tok.0 * tokens);
        let blocking = e.spec.hash_blocking;
        if t > Ps::ZERO {
            let h = self.add(
                OpSpec::new(host, self.cats.hash, Work::Delay(t))
                    .after(prev)
                    .at(su, 0),
            )?;
            g.hash = Some(h);
            if blocking {
                let m = OpSpec::new(compute, self.cats.step, Work::Marker);
                g.last = Some(self.add(m.after(g.last).after([h]).at(su, 0))?);
            }
        }
        Ok(g)
    }

    /// The compute up to Engram layer `k`, its fetch and the Engram module.
    fn engram_layer(&mut self, gi: usize, k: usize, g: &mut GpuStep) -> Result<(), ScenarioError> {
        let e = self.engram.as_ref().expect("engram layers without engram");
        let (li, lid) = e.layers[k];
        let (prefetch, row_bytes) = (e.spec.prefetch, e.setup.dims.row_bytes);
        let su = self.step as u32;
        let seg = self.cost.range_time(&self.class_t, g.layer_at..lid);
        let gpu = &self.gpus[gi];
        let (compute, side) = (gpu.compute, gpu.side);
        let seg_op = self.add(
            OpSpec::new(compute, self.cats.compute, Work::Delay(seg))
                .after(g.last.or(self.prev))
                .at(su, g.layer_at),
        )?;
        g.layer_at = lid;
        let hashed = self.layer_rows(gi, li)?;
        let nrows = if hashed {
            self.rowbuf.len() as u64
        } else {
            g.tokens
                * self
                    .engram
                    .as_ref()
                    .map_or(0, |e| e.setup.dims.rows_per_token)
        };
        // Prefetch issues the step's Engram layers in order of urgency, as one side
        // stream would: layer k's reads after layer k-1's reads (for NVMe: after its
        // drive reads, not its H2D copy). Without this order a FIFO drive serves one
        // GPU's layer-14 pages before another GPU's layer-1 pages (docs: prefetch).
        let after: Vec<OpId> = if prefetch {
            g.hash
                .or(self.prev)
                .into_iter()
                .chain(g.prev_reads.drain(..))
                .collect()
        } else {
            g.prev_reads.clear();
            vec![seg_op]
        };
        let (first, fin) = if nrows == 0 {
            let m = OpSpec::new(side, self.cats.fetch, Work::Marker);
            let m = self.add(m.after(after).at(su, lid))?;
            (m, m)
        } else {
            let buf = std::mem::take(&mut self.rowbuf);
            let rows = if hashed {
                Rows::Ids(&buf)
            } else {
                Rows::Count(nrows)
            };
            let r = self.fetch(gi, lid, rows, row_bytes, after, &mut g.prev_reads);
            self.rowbuf = buf;
            r?
        };
        let e = self.engram.as_ref().expect("engram");
        let et = self.cost.engram_time(
            &e.setup.dims,
            g.tokens,
            e.spec.kernels,
            self.plans[gi].prefill,
        )?;
        let ec = self.add(
            OpSpec::new(compute, self.cats.engram_compute, Work::Delay(et))
                .after([seg_op, fin])
                .at(su, lid),
        )?;
        if g.prev_reads.is_empty() {
            g.prev_reads.push(fin);
        }
        self.fetches[gi][k] = Some(FetchOps {
            first,
            last: fin,
            before: seg_op,
            rows: nrows,
        });
        g.last = Some(ec);
        Ok(())
    }

    /// Issues one fetch through the tier; the next fetch's predecessors go to `reads`.
    fn fetch(
        &mut self,
        gi: usize,
        layer: u32,
        rows: Rows,
        row_bytes: u64,
        after: Vec<OpId>,
        reads: &mut Vec<OpId>,
    ) -> Result<(OpId, OpId), ScenarioError> {
        if self.tp() > 1 {
            return self.fetch_per_rank(gi, layer, rows, row_bytes, after, reads);
        }
        let e = self.engram.as_mut().expect("engram");
        let gpu = &self.gpus[gi];
        let mut cx = FetchCx {
            ex: &mut self.ex,
            node: &self.node,
            stream: gpu.side,
            categories: FetchCategories::default(),
            at: (self.step as u32, layer),
        };
        let req = FetchRequest {
            gpu: self.gpu_of[gi],
            host_socket: e.spec.host_socket(gpu.socket),
            rows,
            row_bytes,
            after,
        };
        let f = e.tier.fetch(&mut cx, &req)?;
        reads.extend(f.reads);
        Ok((f.first, f.last))
    }

    /// Hashes this GPU's rows of Engram table `li` for the step into `rowbuf`, after
    /// the HBM cache; false when rows are not hashed (only counted).
    fn layer_rows(&mut self, gi: usize, li: usize) -> Result<bool, ScenarioError> {
        self.rowbuf.clear();
        let Some(e) = self.engram.as_mut() else {
            return Ok(false);
        };
        if let Some(r) = self.replay.as_mut() {
            r.layer_rows(li, &mut self.rowbuf);
            cache_filter(e, gi, &mut self.rowbuf, &mut self.totals.hbm_hits);
            return Ok(true);
        }
        let Some((h, text)) = &e.setup.rows else {
            return Ok(false);
        };
        let b = &self.batchers[gi];
        for w in &self.plans[gi].work {
            let sq = &b.seqs[w.seq];
            let t = match self.texts[gi].entry(sq.id) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(text.tokens(sq.id, (sq.prompt + sq.output) as usize)?)
                }
            };
            let end = ((w.ctx + w.new) as usize).min(t.len());
            let st0 = (w.ctx as usize).min(end);
            hash_rows(
                &h.hasher,
                h.max_ngram,
                li,
                t,
                st0,
                end - st0,
                &mut self.rowbuf,
            )?;
        }
        let off = h.offsets[li];
        for r in self.rowbuf.iter_mut() {
            *r += off;
        }
        cache_filter(e, gi, &mut self.rowbuf, &mut self.totals.hbm_hits);
        Ok(true)
    }

    /// The run's statistics.
    fn finish(self) -> SimOutput {
        let Totals {
            mut st,
            mut step_exposed,
            exposed_cat,
            by_cat,
            hbm_hits,
            step_rows,
        } = self.totals;
        let now = self.now;
        st.makespan = now;
        st.requests = self.batchers.iter().map(|b| b.finished).sum();
        st.preemptions = self.batchers.iter().map(|b| b.preemptions).sum();
        st.tokens_per_s = if now > Ps::ZERO {
            st.output_tokens as f64 / now.as_secs_f64()
        } else {
            0.0
        };
        let tl = self.ex.timeline();
        st.exposed_by_category = by_name(tl, exposed_cat).into_iter().collect();
        st.by_category = by_name(tl, by_cat).into_iter().collect();
        st.step_exposed_p50 = percentile(&mut step_exposed.clone(), 0.5);
        st.step_exposed_p99 = percentile(&mut step_exposed, 0.99);
        let ratio = |(hits, n): (u64, u64)| (n > 0).then(|| hits as f64 / n as f64);
        st.hbm_cache_hit_rate = ratio(hbm_hits);
        if let Some(e) = &self.engram {
            let t = e.tier.stats();
            st.dram_cache_hit_rate = ratio((t.cache_hits, t.cache_lookups));
            st.nvme_pages = t.pages_read;
        }
        for l in st.layers.iter_mut() {
            if l.min_slack_ps == i64::MAX {
                l.min_slack_ps = 0;
            }
        }
        let (requests, latency) = self.tracker.finish_run(self.load.slo);
        st.latency = latency;
        if let Some(kv) = self.kv {
            st.kv = Some(kv.finish(&self.ex, now, &st.by_category));
        }
        st.replay = self.replay.map(|r| r.digest);
        st.memory = self.memory.finish();
        SimOutput {
            stats: st,
            step_rows,
            requests,
            batches: self.batch_rows,
        }
    }
}

impl<'a> EngramRun<'a> {
    /// Attaches the tier to the wired node and reads hashing and cache settings.
    fn new(
        s: &Scenario,
        spec: &'a EngramSpec,
        setup: EngramSetup,
        ex: &mut Executor,
        node: &NodeModel,
        (replicas, tp): (usize, usize),
        cost: &CostModel,
    ) -> Result<EngramRun<'a>, ScenarioError> {
        let row_bytes = setup.dims.row_bytes.max(1);
        let tier = spec
            .tier
            .spec()
            .attach(&mut memwall_models::tiers::Attach {
                ex,
                node,
                gpus: replicas * tp,
                row_bytes,
                system: &s.system,
                src: &spec.tier_source,
            })?;
        let hash_step =
            Ps(s.quantity("engram.hash_per_step", &spec.hash_per_step, parse_time_ps)?);
        let hash_tok =
            Ps(s.quantity("engram.hash_per_token", &spec.hash_per_token, parse_time_ps)?);
        let mut hbm_caches = Vec::new();
        if let Some(h) = &spec.hbm_cache {
            let bytes = s.quantity("engram.hbm_cache.size", &h.size, parse_bytes)?;
            let cap = (bytes / row_bytes) as usize;
            hbm_caches = (0..replicas)
                .map(|_| match h.policy {
                    CachePolicy::Lru => RowCache::lru(cap),
                    CachePolicy::Lfu => RowCache::lfu(cap),
                    CachePolicy::StaticTopk => RowCache::static_topk(cap, h.warmup_steps),
                })
                .collect();
        }
        let nl = cost.num_layers();
        let mut layers: Vec<(usize, u32)> = setup
            .layers
            .iter()
            .copied()
            .enumerate()
            .filter(|(_, l)| *l < nl)
            .collect();
        layers.sort_by_key(|x| x.1);
        Ok(EngramRun {
            spec,
            setup,
            tier,
            hash_step,
            hash_tok,
            hbm_caches,
            layers,
        })
    }
}

/// Drops the rows GPU `gi`'s HBM row cache holds (counting hits and lookups).
fn cache_filter(e: &mut EngramRun, gi: usize, rows: &mut Vec<u64>, hits: &mut (u64, u64)) {
    if let Some(cache) = e.hbm_caches.get_mut(gi) {
        let before = rows.len();
        rows.retain(|&r| !cache.access(r));
        hits.0 += (before - rows.len()) as u64;
        hits.1 += before as u64;
    }
}

/// How a step of plan `p` launches its kernels under the engine's CUDA graphs: a uniform
/// decode batch replays a full graph padded to the next capture size; another batch up
/// to the largest capture size replays piecewise graphs (where the engine has them);
/// anything larger launches every kernel.
fn launch_of(engine: Option<&Engine>, p: &StepPlan) -> Launch {
    let Some(e) = engine else {
        return Launch::Default;
    };
    let g = &e.graphs;
    let decode = p.work.iter().all(|w| w.decode);
    match g.padded(p.tokens()) {
        Some(padded) if decode && g.full_decode => Launch::FullGraph { padded },
        Some(padded) if g.piecewise_mixed => Launch::Piecewise {
            padded,
            eager_per_layer: g.eager_kernels_per_layer_in_graph,
        },
        _ => Launch::Eager,
    }
}

/// Busy, bubble and exposed time per category over one step.
fn add_category_totals(t: &mut Totals, tl: &Timeline, at: &Attribution) {
    let n = tl.categories.len();
    t.exposed_cat.resize(n.max(t.exposed_cat.len()), None);
    t.by_cat.resize(n.max(t.by_cat.len()), None);
    for a in &at.streams {
        t.st.busy += a.busy;
        t.st.bubble += a.bubble;
        for (cid, p) in &a.exposed {
            *t.exposed_cat[cid.0 as usize].get_or_insert(Ps::ZERO) += *p;
        }
    }
    for (cid, c) in at.by_category_id(tl).into_iter().enumerate() {
        let Some(c) = c else { continue };
        let e = t.by_cat[cid].get_or_insert_with(CategoryTotals::default);
        e.ops += c.ops;
        e.bytes += c.bytes;
        e.latency += c.latency;
        e.exposed += c.exposed;
        e.hidden += c.hidden;
    }
}

/// Per-category-id values, by category name (each name is one category).
fn by_name<T>(tl: &Timeline, v: Vec<Option<T>>) -> BTreeMap<String, T> {
    v.into_iter()
        .enumerate()
        .filter_map(|(c, x)| Some((tl.category(CategoryId(c as u16)).name.clone(), x?)))
        .collect()
}

/// What [`layer_stats`] needs to know about the step.
struct StepInfo {
    step: u64,
    prefill: bool,
    start: Ps,
    duration: Ps,
    tokens: u64,
    row_bytes: u64,
    hash: CategoryId,
    step_rows: bool,
}

/// One Engram layer's fetch over the step, the worst GPU's: latency, exposed, slack.
struct LayerStep {
    latency: Ps,
    exposed: Ps,
    slack: i64,
    rows: u64,
}

/// The worst GPU's fetch of Engram layer `k` this step, if any GPU fetched it.
fn worst_gpu(
    fetches: &[Vec<Option<FetchOps>>],
    k: usize,
    layer: u32,
    tl: &Timeline,
    at: &Attribution,
    hash: CategoryId,
) -> Option<LayerStep> {
    let mut w = LayerStep {
        latency: Ps::ZERO,
        exposed: Ps::ZERO,
        slack: i64::MAX,
        rows: 0,
    };
    let mut any = false;
    for f in fetches.iter().filter_map(|g| g[k]) {
        any = true;
        let (Some(a), Some(b), Some(bf)) = (tl.get(f.first), tl.get(f.last), tl.get(f.before))
        else {
            continue;
        };
        w.latency = w.latency.max(b.end - a.start.min(b.start));
        let exposed: Ps = at
            .ops
            .iter()
            .filter(|o| {
                o.op.0 >= f.first.0 && o.op.0 <= f.last.0 && o.layer == layer && o.category != hash
            })
            .map(|o| o.exposed)
            .fold(Ps::ZERO, |x, y| x + y);
        w.exposed = w.exposed.max(exposed);
        w.slack = w.slack.min(bf.end.0 as i64 - b.end.0 as i64);
        w.rows += f.rows;
    }
    any.then(|| LayerStep {
        exposed: w.exposed.min(w.latency),
        ..w
    })
}

/// Per Engram layer totals for the step (and its step rows); the step's summed stall.
fn layer_stats(
    t: &mut Totals,
    fetches: &[Vec<Option<FetchOps>>],
    tl: &Timeline,
    at: &Attribution,
    info: StepInfo,
) -> u64 {
    let mut worst_step = 0u64;
    for (k, ls) in t.st.layers.iter_mut().enumerate() {
        let Some(w) = worst_gpu(fetches, k, ls.layer, tl, at, info.hash) else {
            continue;
        };
        ls.fetches += 1;
        ls.rows += w.rows;
        ls.bytes += w.rows * info.row_bytes;
        ls.latency += w.latency;
        ls.exposed += w.exposed;
        ls.hidden += w.latency - w.exposed;
        ls.min_slack_ps = ls.min_slack_ps.min(w.slack);
        if w.exposed > Ps::ZERO {
            ls.steps_exposed += 1;
        }
        worst_step += w.exposed.0;
        if info.step_rows {
            t.step_rows.push(StepRow {
                step: info.step,
                prefill: info.prefill,
                start: info.start,
                duration: info.duration,
                tokens: info.tokens,
                layer: ls.layer,
                rows: w.rows,
                latency: w.latency,
                exposed: w.exposed,
                hidden: w.latency - w.exposed,
                slack_ps: w.slack,
                engine_step: None,
                engine_lookup: None,
            });
        }
    }
    worst_step
}
