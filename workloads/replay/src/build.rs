//! Building the executor graph from a trace and running it.

use std::collections::{BTreeMap, BTreeSet};

use super::metrics::{category_of, measure, original_timeline, stream_name, OpOrigin};
use super::retime::{Retime, Retimer};
use super::HOST_GAP_MIN_NS;
use super::{EngramInsert, LaunchMode, ReplayDeviceMetrics, ReplayError, ReplayOptions};
use memwall_kineto::{GpuOp, OpClass, TraceGraph};
use memwall_models::node::NodeModel;
use memwall_models::perf::HwRates;
use memwall_models::tiers::{
    Attach, FetchCategories, FetchCx, FetchRequest, FetchTier, FieldSource, Rows,
};
use memwall_sim::{
    CategoryId, Executor, FlowNet, OpId, OpKind, OpSpec, Ps, StreamId, Timeline, Work, PS_PER_SEC,
};

/// A launched op counts as released by its launch when it started this long after its
/// last predecessor ended (ns).
const LAUNCH_RELEASED_NS: i64 = 1_000;
/// Launch latency assumed where the trace shows none (ns): small-kernel end-to-end,
/// hardware.md §5 (4-6 µs).
const DEFAULT_LAUNCH_LATENCY_NS: i64 = 5_000;

/// Re-timing of one op class: how many ops, their recorded and re-timed totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingRow {
    pub class: String,
    pub scaling: String,
    pub ops: u64,
    pub source_ns: i64,
    /// Re-timed, before contention.
    pub target_ns: i64,
    /// The re-timed total comes from the target's model, not the recorded durations.
    pub model: bool,
}

/// What a replay produced.
#[derive(Debug, Clone)]
pub struct ReplayOutput {
    /// The simulated run.
    pub timeline: Timeline,
    pub origin: OpOrigin,
    /// The recorded trace as a timeline, for side-by-side export.
    pub original: Timeline,
    pub original_origin: OpOrigin,
    /// Span and overlap, recorded and replayed.
    pub original_metrics: Vec<ReplayDeviceMetrics>,
    pub metrics: Vec<ReplayDeviceMetrics>,
    pub scaling: Vec<ScalingRow>,
    /// Ops added by the replay.
    pub launch_releases: u64,
    pub host_gaps: u64,
    /// Cross-stream waits inferred by the replay's gap rule.
    pub inferred_waits: u64,
    pub engram_lookups: u64,
    /// Dependencies dropped because they pointed forward in start order.
    pub dropped_deps: u64,
    pub source: String,
    pub target: String,
}

impl ReplayOutput {
    /// Kernel time (compute and communication kernels, before contention) whose
    /// re-timed duration came from the model, and all kernel time, ns.
    pub fn model_share_ns(&self) -> (i64, i64) {
        let kernels = self
            .scaling
            .iter()
            .filter(|r| !r.class.starts_with("memcpy") && r.class != "memset");
        kernels.fold((0, 0), |(m, all), r| {
            (m + if r.model { r.target_ns } else { 0 }, all + r.target_ns)
        })
    }
}

/// Stream carrying the most compute-kernel time on each device.
fn main_streams(g: &TraceGraph) -> BTreeMap<i64, i64> {
    let mut out = BTreeMap::new();
    for dev in &g.devices {
        let best = dev
            .streams
            .iter()
            .map(|s| {
                let t: i64 = s
                    .ops
                    .iter()
                    .map(|&i| &g.ops[i as usize])
                    .filter(|o| o.class.is_compute_kernel())
                    .map(|o| o.dur_ns)
                    .sum();
                (t, std::cmp::Reverse(s.stream))
            })
            .max();
        if let Some((_, std::cmp::Reverse(s))) = best {
            out.insert(dev.device, s);
        }
    }
    out
}

/// SMs a communication kernel occupies: its grid's block count, at most all SMs.
fn comm_sms(op: &memwall_kineto::GpuOp) -> u32 {
    op.grid
        .map(|g| {
            g[0].max(1)
                .saturating_mul(g[1].max(1))
                .saturating_mul(g[2].max(1))
        })
        .unwrap_or(0)
}

/// Each compute kernel's work in "whole-GPU picoseconds": its recorded interval
/// integrated over the share of the GPU it had (concurrent compute kernels split what
/// communication kernels leave). Indexed by trace op id.
pub(crate) fn decontended_work(
    g: &TraceGraph,
    dev: i64,
    src_sms: Option<u32>,
) -> BTreeMap<u32, u64> {
    let sms = src_sms.unwrap_or(0) as u128;
    // events: (time, kind, op): kind 0 = end, 1 = start (ends first at equal times)
    let mut ev: Vec<(i64, u8, u32)> = Vec::new();
    for o in g.ops.iter().filter(|o| o.device == dev) {
        if o.class.is_compute_kernel() || (o.class.is_comm() && sms > 0) {
            ev.push((o.start_ns, 1, o.id));
            ev.push((o.end_ns(), 0, o.id));
        }
    }
    ev.sort_unstable();
    let mut work: BTreeMap<u32, u128> = BTreeMap::new();
    let mut active: BTreeSet<u32> = BTreeSet::new();
    let mut held: u128 = 0; // SMs held by communication kernels
    let mut last = ev.first().map_or(0, |e| e.0);
    for (t, kind, id) in ev {
        let dt = (t - last).max(0) as u128;
        if dt > 0 && !active.is_empty() {
            let n = active.len() as u128;
            let avail_num = if sms > 0 {
                sms.saturating_sub(held).max(1)
            } else {
                1
            };
            let avail_den = if sms > 0 { sms } else { 1 };
            for &a in &active {
                *work.entry(a).or_default() += dt * 1000 * avail_num / (avail_den * n);
            }
        }
        last = t;
        let op = &g.ops[id as usize];
        let hold = if op.class.is_comm() {
            (comm_sms(op) as u128).min(sms)
        } else {
            0
        };
        if kind == 1 {
            if op.class.is_comm() {
                held += hold;
            } else {
                active.insert(id);
                work.entry(id).or_default();
            }
        } else if op.class.is_comm() {
            held = held.saturating_sub(hold);
        } else {
            active.remove(&id);
        }
    }
    work.into_iter()
        .map(|(k, v)| (k, v.min(u64::MAX as u128) as u64))
        .collect()
}

/// The op of another stream of `op`'s device, launched before it, with the latest end in
/// `(ready, op.start]`; ties go to the lower id.
fn latest_end_before(
    g: &TraceGraph,
    by_end: &[u32],
    op: &memwall_kineto::GpuOp,
    ready: i64,
) -> Option<u32> {
    let hi = by_end.partition_point(|&i| g.ops[i as usize].end_ns() <= op.start_ns);
    let launched_before = |f: &memwall_kineto::GpuOp| match (&f.launch, &op.launch) {
        (Some(a), Some(b)) => a.start_ns <= b.start_ns,
        _ => f.start_ns <= op.start_ns,
    };
    let mut best: Option<u32> = None;
    for &i in by_end[..hi].iter().rev() {
        let f = &g.ops[i as usize];
        if f.end_ns() <= ready {
            break;
        }
        if f.stream != op.stream && f.id != op.id && launched_before(f) {
            match best {
                Some(b) if g.ops[b as usize].end_ns() > f.end_ns() => break,
                Some(b) if b < i => {}
                _ => best = Some(i),
            }
        }
    }
    best
}

fn ps(ns: i64) -> Ps {
    Ps((ns.max(0) as u64).saturating_mul(1000))
}

/// The Engram table's tier, attached to the wired target node.
fn engram_tier(
    ex: &mut Executor,
    nm: &NodeModel,
    e: &EngramInsert,
    system: &str,
    gpus: usize,
) -> Result<Box<dyn FetchTier>, ReplayError> {
    let src = FieldSource {
        origin: "--engram-placement".into(),
        ..Default::default()
    };
    e.placement
        .spec()
        .attach(&mut Attach {
            ex,
            node: nm,
            gpus,
            row_bytes: e.row_bytes,
            system,
            src: &src,
        })
        .map_err(|e| ReplayError::EngramPlacement(Box::new(e)))
}

/// One Engram lookup on `gpu`'s Engram stream, through the tier; the op that lands it.
fn engram_lookup(
    ex: &mut Executor,
    nm: &NodeModel,
    tier: &mut dyn FetchTier,
    e: &EngramInsert,
    stream: StreamId,
    gpu: usize,
    after: Vec<OpId>,
) -> Result<OpId, ReplayError> {
    let req = FetchRequest {
        gpu,
        host_socket: e.host_socket.unwrap_or(nm.spec.gpus[gpu].socket),
        rows: Rows::Count(e.rows),
        row_bytes: e.row_bytes,
        after,
    };
    let mut cx = FetchCx {
        ex,
        node: nm,
        stream,
        categories: FetchCategories::default(),
        at: (0, 0),
    };
    Ok(tier
        .fetch(&mut cx, &req)
        .map_err(|e| ReplayError::EngramLookup(Box::new(e)))?
        .last)
}

/// The longest span of GPU ops replayed: one day (a profile window is seconds; a
/// timestamp days away from the others is an error in the trace, and simulated times
/// must stay far from the 213 days that picoseconds hold in 64 bits).
pub const MAX_SPAN_S: u64 = 86_400;

/// `Err` when the GPU ops span more than [`MAX_SPAN_S`], naming the first and last op.
fn check_span(g: &TraceGraph) -> Result<(), ReplayError> {
    let first = g.ops.iter().min_by_key(|o| (o.start_ns, o.id));
    let last = g.ops.iter().max_by_key(|o| (o.end_ns(), o.id));
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(());
    };
    let span = last.end_ns().saturating_sub(first.start_ns);
    if span <= MAX_SPAN_S as i64 * 1_000_000_000 {
        return Ok(());
    }
    Err(ReplayError::SpanTooLong {
        trace: g.source.clone(),
        span_s: span as f64 / 1e9,
        max_s: MAX_SPAN_S,
        first: short(g, first),
        last: short(g, last),
    })
}

/// An op as `name (ts T us)`, its name cut to 48 characters.
fn short(g: &TraceGraph, op: &memwall_kineto::GpuOp) -> String {
    let name = g.op_name(op);
    let cut: String = name.chars().take(48).collect();
    let more = if cut.len() < name.len() { "..." } else { "" };
    format!("{cut}{more} at ts {} us", op.start_ns / 1000)
}

/// Replays `g` on `opts.target`.
pub fn replay(g: &TraceGraph, opts: &ReplayOptions) -> Result<ReplayOutput, ReplayError> {
    let devices = replayed_devices(g, opts)?;
    check_span(g)?;
    let mut b = GraphBuilder::new(g, opts, &devices)?;
    for i in b.start_order() {
        b.add(i)?;
    }
    b.run()
}

/// The devices with ops, checked against the GPUs of the target node.
fn replayed_devices(g: &TraceGraph, opts: &ReplayOptions) -> Result<Vec<i64>, ReplayError> {
    if g.ops.is_empty() {
        return Err(ReplayError::NoGpuOps {
            trace: g.source.clone(),
        });
    }
    let devices: Vec<i64> = g
        .devices
        .iter()
        .filter(|d| d.streams.iter().any(|s| !s.ops.is_empty()))
        .map(|d| d.device)
        .collect();
    let gpus = opts.target.node.gpus.len();
    if devices.len() > gpus {
        return Err(ReplayError::TooFewGpus {
            trace_gpus: devices.len(),
            system: opts.target.name.clone(),
            gpus,
        });
    }
    Ok(devices)
}

/// Each op's recorded predecessors: the previous op of its stream and the sources of its
/// cross-stream dependencies.
struct Recorded<'a> {
    g: &'a TraceGraph,
    pred: Vec<Option<u32>>,
    deps_of: BTreeMap<u32, Vec<u32>>,
    /// The trace's first op start.
    t0: i64,
}

impl<'a> Recorded<'a> {
    fn new(g: &'a TraceGraph) -> Self {
        let mut pred: Vec<Option<u32>> = vec![None; g.ops.len()];
        for dev in &g.devices {
            for s in &dev.streams {
                for w in s.ops.windows(2) {
                    pred[w[1] as usize] = Some(w[0]);
                }
            }
        }
        let mut deps_of: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for d in &g.deps {
            deps_of.entry(d.to).or_default().push(d.from);
        }
        let t0 = g.ops.iter().map(|o| o.start_ns).min().unwrap_or(0);
        Recorded {
            g,
            pred,
            deps_of,
            t0,
        }
    }

    fn deps(&self, i: u32) -> &[u32] {
        self.deps_of.get(&i).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Original ready time: the last known predecessor's end (trace start if none).
    fn ready_ns(&self, i: u32) -> i64 {
        let ops = &self.g.ops;
        let mut r = self.t0;
        if let Some(p) = self.pred[i as usize] {
            r = r.max(ops[p as usize].end_ns());
        }
        for &f in self.deps(i) {
            r = r.max(ops[f as usize].end_ns());
        }
        r
    }

    /// Per device: whether launches constrain it, and its launch latency floor (the
    /// median latency of ops released by their launch).
    fn launch_rules(&self, mode: LaunchMode) -> BTreeMap<i64, (bool, i64)> {
        let g = self.g;
        let mut out = BTreeMap::new();
        for dev in &g.devices {
            let on = match mode {
                LaunchMode::Auto => dev.launch_bound,
                LaunchMode::Always => true,
                LaunchMode::Never => false,
            };
            let mut lats: Vec<i64> = g
                .ops
                .iter()
                .filter(|o| o.device == dev.device)
                .filter_map(|o| {
                    let l = o.launch.as_ref()?;
                    (o.start_ns - self.ready_ns(o.id) > LAUNCH_RELEASED_NS)
                        .then_some(o.start_ns - l.start_ns)
                })
                .filter(|&l| l >= 0)
                .collect();
            lats.sort_unstable();
            let floor = lats
                .get(lats.len() / 2)
                .copied()
                .unwrap_or(DEFAULT_LAUNCH_LATENCY_NS);
            out.insert(dev.device, (on, floor));
        }
        out
    }
}

/// Engram anchors on each main stream: anchor op -> the op the lookup is issued after
/// (`prefetch_ops` before the anchor), for the selected occurrences of the anchor.
fn engram_anchors(
    g: &TraceGraph,
    e: &EngramInsert,
    gpu_of: &BTreeMap<i64, usize>,
    mains: &BTreeMap<i64, i64>,
) -> Result<BTreeMap<u32, Option<u32>>, ReplayError> {
    let mut engram_at: BTreeMap<u32, Option<u32>> = BTreeMap::new();
    for dev in g.devices.iter().filter(|d| gpu_of.contains_key(&d.device)) {
        let Some(main) = dev
            .streams
            .iter()
            .find(|s| mains.get(&dev.device) == Some(&s.stream))
        else {
            continue;
        };
        let mut k = 0usize;
        let mut prev_match = false;
        for (pos, &i) in main.ops.iter().enumerate() {
            let m = e.matches(g, &g.ops[i as usize]);
            if m && !prev_match {
                if e.layers.as_ref().is_none_or(|l| l.contains(&k)) {
                    let after = pos
                        .checked_sub(1 + e.prefetch_ops as usize)
                        .map(|p| main.ops[p]);
                    engram_at.insert(i, after);
                }
                k += 1;
            }
            prev_match = m;
        }
    }
    if engram_at.is_empty() {
        return Err(ReplayError::NoEngramAnchor {
            anchor: e.anchor.clone(),
        });
    }
    Ok(engram_at)
}

/// Executor streams of the replay: one per trace stream, and per device a host stream
/// (launch releases, host gaps) and, with Engram, a lookup stream.
struct Streams {
    of: BTreeMap<(i64, i64), StreamId>,
    host: BTreeMap<i64, StreamId>,
    engram: BTreeMap<i64, StreamId>,
}

impl Streams {
    fn add(
        ex: &mut Executor,
        g: &TraceGraph,
        gpu_of: &BTreeMap<i64, usize>,
        mains: &BTreeMap<i64, i64>,
        engram: bool,
    ) -> Streams {
        let mut out = Streams {
            of: BTreeMap::new(),
            host: BTreeMap::new(),
            engram: BTreeMap::new(),
        };
        for dev in g.devices.iter().filter(|d| gpu_of.contains_key(&d.device)) {
            for s in &dev.streams {
                let main = mains.get(&dev.device) == Some(&s.stream);
                out.of.insert(
                    (dev.device, s.stream),
                    ex.add_stream(stream_name(dev.device, s.stream), true, main),
                );
            }
            out.host.insert(
                dev.device,
                ex.add_stream(format!("gpu{} host", dev.device), false, false),
            );
            if engram {
                out.engram.insert(
                    dev.device,
                    ex.add_stream(format!("gpu{} engram", dev.device), false, false),
                );
            }
        }
        out
    }
}

/// Counts of the ops and edges a replay added or dropped.
#[derive(Default)]
struct Added {
    launch_releases: u64,
    host_gaps: u64,
    inferred_waits: u64,
    engram_lookups: u64,
    dropped_deps: u64,
}

/// Engram lookups to insert: where (anchor op -> the op each is issued after) and the
/// tier that serves them.
struct Lookups<'a> {
    insert: &'a EngramInsert,
    tier: Box<dyn FetchTier>,
    at: BTreeMap<u32, Option<u32>>,
}

/// The executor graph of a replay, built op by op in recorded start order (dependencies
/// always start no later).
struct GraphBuilder<'a> {
    g: &'a TraceGraph,
    opts: &'a ReplayOptions,
    tgt: HwRates,
    ex: Executor,
    nm: NodeModel,
    mains: BTreeMap<i64, i64>,
    gpu_of: BTreeMap<i64, usize>,
    streams: Streams,
    cat_launch: CategoryId,
    cat_gap: CategoryId,
    /// With `opts.engram`: the lookups to insert and the tier that serves them.
    engram: Option<Lookups<'a>>,
    recorded: Recorded<'a>,
    /// Per device: launches constrain it, launch latency floor.
    launch: BTreeMap<i64, (bool, i64)>,
    /// De-contended compute work (whole-GPU ps) by trace op.
    work: BTreeMap<u32, u64>,
    /// Per device, op ids sorted by end time (for the gap rule).
    by_end: BTreeMap<i64, Vec<u32>>,
    exec_of: Vec<Option<OpId>>,
    origin: OpOrigin,
    scaling: BTreeMap<(String, String), ScalingRow>,
    added: Added,
}

impl<'a> GraphBuilder<'a> {
    fn new(
        g: &'a TraceGraph,
        opts: &'a ReplayOptions,
        devices: &[i64],
    ) -> Result<Self, ReplayError> {
        let gpu_of: BTreeMap<i64, usize> =
            devices.iter().enumerate().map(|(i, &d)| (d, i)).collect();
        let mut ex = Executor::new(FlowNet::new());
        let nm = NodeModel::build(&opts.target.node, &mut ex, "").map_err(ReplayError::Wiring)?;
        let mains = main_streams(g);
        let streams = Streams::add(&mut ex, g, &gpu_of, &mains, opts.engram.is_some());
        let cat_launch = ex.category("launch", OpKind::Host);
        let cat_gap = ex.category("host-gap", OpKind::Host);
        ex.category("engram-fetch", OpKind::Memory);
        let recorded = Recorded::new(g);
        let launch = recorded.launch_rules(opts.launch);
        let mut work: BTreeMap<u32, u64> = BTreeMap::new();
        for &d in devices {
            work.extend(decontended_work(g, d, opts.source.sms));
        }
        let engram = match &opts.engram {
            Some(e) => Some(Lookups {
                insert: e,
                tier: engram_tier(&mut ex, &nm, e, &opts.target.name, gpu_of.len())?,
                at: engram_anchors(g, e, &gpu_of, &mains)?,
            }),
            None => None,
        };
        let mut by_end: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for o in &g.ops {
            by_end.entry(o.device).or_default().push(o.id);
        }
        for v in by_end.values_mut() {
            v.sort_by_key(|&i| (g.ops[i as usize].end_ns(), i));
        }
        Ok(GraphBuilder {
            g,
            opts,
            tgt: HwRates::from_system(&opts.target),
            ex,
            nm,
            mains,
            gpu_of,
            streams,
            cat_launch,
            cat_gap,
            engram,
            recorded,
            launch,
            work,
            by_end,
            exec_of: vec![None; g.ops.len()],
            origin: Vec::with_capacity(g.ops.len() * 2),
            scaling: BTreeMap::new(),
            added: Added::default(),
        })
    }

    /// The ops of the replayed devices in recorded start order.
    fn start_order(&self) -> Vec<u32> {
        let g = self.g;
        let mut order: Vec<u32> = (0..g.ops.len() as u32)
            .filter(|&i| self.gpu_of.contains_key(&g.ops[i as usize].device))
            .collect();
        order.sort_by_key(|&i| (g.ops[i as usize].start_ns, i));
        order
    }

    fn push(&mut self, spec: OpSpec, o: Option<(i64, OpClass)>) -> Result<OpId, ReplayError> {
        let id = self.ex.add_op(spec).map_err(ReplayError::Graph)?;
        debug_assert_eq!(id.0 as usize, self.origin.len());
        self.origin.push(o);
        Ok(id)
    }

    /// Trace op `i` with what it waits for: recorded predecessors, a launch release or a
    /// host gap, an Engram lookup.
    fn add(&mut self, i: u32) -> Result<(), ReplayError> {
        let op = &self.g.ops[i as usize];
        let (mut deps, mut known) = self.predecessors(i);
        let gap = op.start_ns - self.recorded.ready_ns(i);
        let (launch_on, _) = self.launch[&op.device];
        if let Some(l) = op.launch.as_ref().filter(|_| launch_on) {
            if let Some(r) = self.launch_release(op, l, gap)? {
                deps.push(r);
            }
        } else if gap >= HOST_GAP_MIN_NS {
            if let Some(h) = self.host_gap(i, gap, &mut deps, &mut known)? {
                deps.push(h);
            }
        }
        if let Some(q) = self.engram_lookup(i, op.device)? {
            deps.push(q);
        }
        let spec = self.retimed(op)?.after(deps);
        let id = self.push(spec, Some((op.device, op.class)))?;
        self.exec_of[i as usize] = Some(id);
        Ok(())
    }

    /// Executor ops of `i`'s recorded predecessors: (its dependencies, every known
    /// predecessor including the stream one). Dependencies on ops not yet added (pointing
    /// forward in start order) are dropped and counted.
    fn predecessors(&mut self, i: u32) -> (Vec<OpId>, Vec<OpId>) {
        let mut deps: Vec<OpId> = Vec::new();
        let mut known: Vec<OpId> = Vec::new();
        if let Some(p) = self.recorded.pred[i as usize] {
            if let Some(e) = self.exec_of[p as usize] {
                known.push(e);
            }
        }
        for &f in self.recorded.deps(i) {
            match self.exec_of[f as usize] {
                Some(e) => {
                    deps.push(e);
                    known.push(e);
                }
                None => self.added.dropped_deps += 1,
            }
        }
        (deps, known)
    }

    /// The host op that releases a launched op: its CPU launch plus the launch latency it
    /// showed (at most the device's floor unless it waited for the launch).
    fn launch_release(
        &mut self,
        op: &GpuOp,
        l: &memwall_kineto::Launch,
        gap: i64,
    ) -> Result<Option<OpId>, ReplayError> {
        let (_, floor) = self.launch[&op.device];
        let lat = if gap > LAUNCH_RELEASED_NS {
            op.start_ns - l.start_ns
        } else {
            (op.start_ns - l.start_ns).min(floor)
        };
        let release = ps(l.start_ns + lat.max(0) - self.recorded.t0);
        if release == Ps::ZERO {
            return Ok(None);
        }
        let host = self.streams.host[&op.device];
        let r = self.push(
            OpSpec::new(host, self.cat_launch, Work::Delay(release)),
            None,
        )?;
        self.added.launch_releases += 1;
        Ok(Some(r))
    }

    /// An unexplained wait of `gap` before op `i`. Most likely an event on another stream
    /// that the trace did not record: the latest op of another stream of this device that
    /// ended inside the gap (and was launched before this op) becomes a dependency, and
    /// only the rest of the gap is kept as host time (the returned host op, if any).
    fn host_gap(
        &mut self,
        i: u32,
        gap: i64,
        deps: &mut Vec<OpId>,
        known: &mut Vec<OpId>,
    ) -> Result<Option<OpId>, ReplayError> {
        let g = self.g;
        let op = &g.ops[i as usize];
        let mut residual = gap;
        let ready = self.recorded.ready_ns(i);
        if let Some(f) = latest_end_before(g, &self.by_end[&op.device], op, ready) {
            if let Some(e) = self.exec_of[f as usize] {
                deps.push(e);
                known.push(e);
                residual = op.start_ns - g.ops[f as usize].end_ns();
                self.added.inferred_waits += 1;
            }
        }
        if residual < HOST_GAP_MIN_NS {
            return Ok(None);
        }
        let host = self.streams.host[&op.device];
        let spec =
            OpSpec::new(host, self.cat_gap, Work::Delay(ps(residual))).after(known.iter().copied());
        let h = self.push(spec, None)?;
        self.added.host_gaps += 1;
        Ok(Some(h))
    }

    /// The Engram lookup feeding trace op `i` of `dev`, if `i` is an anchor: issued after
    /// the anchor's recorded predecessor, through the tier; the op that lands the rows.
    fn engram_lookup(&mut self, i: u32, dev: i64) -> Result<Option<OpId>, ReplayError> {
        let Some(en) = self.engram.as_mut() else {
            return Ok(None);
        };
        let Some(&after) = en.at.get(&i) else {
            return Ok(None);
        };
        let after: Vec<OpId> = after
            .and_then(|a| self.exec_of[a as usize])
            .into_iter()
            .collect();
        let (stream, gpu) = (self.streams.engram[&dev], self.gpu_of[&dev]);
        let q = engram_lookup(
            &mut self.ex,
            &self.nm,
            en.tier.as_mut(),
            en.insert,
            stream,
            gpu,
            after,
        )?;
        // A tier may add several ops (reads, then the copy): none is a trace op.
        self.origin.resize(self.ex.next_op_id().0 as usize, None);
        self.added.engram_lookups += 1;
        Ok(Some(q))
    }

    /// The op itself, re-timed: a compute kernel is a flow of its de-contended work over
    /// the GPU's compute resource; anything else a delay (a communication kernel holding
    /// the SMs its grid occupies). Counts it into the scaling table.
    fn retimed(&mut self, op: &GpuOp) -> Result<OpSpec, ReplayError> {
        let (g, opts) = (self.g, self.opts);
        let gpu = self.gpu_of[&op.device];
        let stream = self.streams.of[&(op.device, op.stream)];
        let bytes_mult = opts.mhc.map_or(1, |m| m.bytes_mult(op));
        let dur_mult = opts.mhc.map_or(1, |m| m.duration_mult(g, op));
        let f: Retime = Retimer {
            src: &opts.source,
            tgt: &self.tgt,
            src_sys: opts.source_system.as_ref(),
            tgt_sys: &opts.target,
            timing: opts.timing,
        }
        .retime(g, op, bytes_mult);
        let (cname, kind) = category_of(op.class);
        let cat = self.ex.category(&cname, kind);
        let spec = if op.class.is_compute_kernel() {
            let w = self
                .work
                .get(&op.id)
                .copied()
                .unwrap_or((op.dur_ns.max(0) as u64) * 1000);
            let w = f.apply(w).saturating_mul(dur_mult);
            OpSpec::new(
                stream,
                cat,
                Work::flow(Ps::ZERO, vec![self.nm.gpus[gpu].compute], w, None),
            )
        } else {
            let d = f.apply(ps(op.dur_ns).0).saturating_mul(dur_mult);
            let mut s = OpSpec::new(stream, cat, Work::Delay(Ps(d)));
            if op.class.is_comm() {
                let hold = self.nm.sm_hold(comm_sms(op));
                if hold > 0 && hold < PS_PER_SEC {
                    s = s.holding(self.nm.gpus[gpu].compute, hold);
                }
            }
            s
        };
        self.count_scaling(op, &f, dur_mult);
        Ok(spec)
    }

    fn count_scaling(&mut self, op: &GpuOp, f: &Retime, dur_mult: u64) {
        let row = self
            .scaling
            .entry((op.class.label(), f.scaling().label()))
            .or_insert_with(|| ScalingRow {
                class: op.class.label(),
                scaling: f.scaling().label(),
                ops: 0,
                source_ns: 0,
                target_ns: 0,
                model: f.is_model(),
            });
        row.ops += 1;
        row.source_ns += op.dur_ns;
        let target_ns = match f {
            Retime::Scaled(x) => x.apply(op.dur_ns.max(0) as u64),
            Retime::Absolute { ps, .. } => ps.div_ceil(1000),
        };
        row.target_ns += target_ns.saturating_mul(dur_mult) as i64;
    }

    /// Runs the graph and measures it beside the recorded trace.
    fn run(mut self) -> Result<ReplayOutput, ReplayError> {
        self.ex.run().map_err(ReplayError::Simulation)?;
        let unfinished = self.ex.unfinished();
        if unfinished > 0 {
            return Err(ReplayError::Cycle { unfinished });
        }
        let timeline = self.ex.into_timeline();
        let metrics = measure(&timeline, &self.origin);
        let (original, original_origin) = original_timeline(self.g, &self.mains);
        let original_metrics = measure(&original, &original_origin);
        let a = self.added;
        Ok(ReplayOutput {
            timeline,
            origin: self.origin,
            original,
            original_origin,
            original_metrics,
            metrics,
            scaling: self.scaling.into_values().collect(),
            launch_releases: a.launch_releases,
            host_gaps: a.host_gaps,
            inferred_waits: a.inferred_waits,
            engram_lookups: a.engram_lookups,
            dropped_deps: a.dropped_deps,
            source: self.opts.source.name.clone(),
            target: self.opts.target.name.clone(),
        })
    }
}
