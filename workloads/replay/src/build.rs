//! Building the executor graph from a trace and running it.

use std::collections::{BTreeMap, BTreeSet};

use super::metrics::{category_of, measure, original_timeline, stream_name, OpOrigin};
use super::retime::{factor, Factor};
use super::HOST_GAP_MIN_NS;
use super::{EngramInsert, LaunchMode, ReplayDeviceMetrics, ReplayError, ReplayOptions};
use memwall_kineto::{OpClass, TraceGraph};
use memwall_models::node::NodeModel;
use memwall_models::tiers::{
    Attach, FetchCategories, FetchCx, FetchRequest, FetchTier, FieldSource, Rows,
};
use memwall_models::perf::HwRates;
use memwall_sim::{
    Executor, FlowNet, FlowSpec, OpId, OpKind, OpSpec, Ps, StreamId, Timeline, Work, PS_PER_SEC,
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
fn decontended_work(g: &TraceGraph, dev: i64, src_sms: Option<u32>) -> BTreeMap<u32, u64> {
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

fn err<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> ReplayError + '_ {
    move |e| ReplayError(format!("{what}: {e}"))
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
        .map_err(err("Engram placement"))
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
    Ok(tier.fetch(&mut cx, &req).map_err(err("Engram lookup"))?.last)
}

/// Replays `g` on `opts.target`.
pub fn replay(g: &TraceGraph, opts: &ReplayOptions) -> Result<ReplayOutput, ReplayError> {
    if g.ops.is_empty() {
        return Err(ReplayError(format!(
            "{}: the trace has no GPU ops (kernels, memcpys, memsets) to replay; \
             capture it with CUDA activities enabled",
            g.source
        )));
    }
    let devices: Vec<i64> = g
        .devices
        .iter()
        .filter(|d| d.streams.iter().any(|s| !s.ops.is_empty()))
        .map(|d| d.device)
        .collect();
    let node = &opts.target.node;
    if devices.len() > node.gpus.len() {
        return Err(ReplayError(format!(
            "the trace has ops on {} GPUs but system `{}` has {} per node: pick a larger system",
            devices.len(),
            opts.target.name,
            node.gpus.len()
        )));
    }
    let gpu_of: BTreeMap<i64, usize> = devices.iter().enumerate().map(|(i, &d)| (d, i)).collect();
    let src = &opts.source;
    let tgt = HwRates::from_system(&opts.target);

    let mut ex = Executor::new(FlowNet::new());
    let nm = NodeModel::build(node, &mut ex, "").map_err(err("wiring the target system"))?;
    let mains = main_streams(g);
    let t0 = g.ops.iter().map(|o| o.start_ns).min().unwrap_or(0);

    // Streams.
    let mut stream_of: BTreeMap<(i64, i64), StreamId> = BTreeMap::new();
    let mut host_stream: BTreeMap<i64, StreamId> = BTreeMap::new();
    let mut engram_stream: BTreeMap<i64, StreamId> = BTreeMap::new();
    for dev in g.devices.iter().filter(|d| gpu_of.contains_key(&d.device)) {
        for s in &dev.streams {
            let main = mains.get(&dev.device) == Some(&s.stream);
            stream_of.insert(
                (dev.device, s.stream),
                ex.add_stream(stream_name(dev.device, s.stream), true, main),
            );
        }
        host_stream.insert(
            dev.device,
            ex.add_stream(format!("gpu{} host", dev.device), false, false),
        );
        if opts.engram.is_some() {
            engram_stream.insert(
                dev.device,
                ex.add_stream(format!("gpu{} engram", dev.device), false, false),
            );
        }
    }
    let cat_launch = ex.category("launch", OpKind::Host);
    let cat_gap = ex.category("host-gap", OpKind::Host);
    ex.category("engram-fetch", OpKind::Memory);
    let mut lookup_tier = match &opts.engram {
        Some(e) => Some(engram_tier(&mut ex, &nm, e, &opts.target.name, gpu_of.len())?),
        None => None,
    };

    // Recorded predecessors: stream predecessor and cross-stream deps.
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
    // Original ready time: the last known predecessor's end (trace start if none).
    let ready_ns = |i: u32| -> i64 {
        let mut r = t0;
        if let Some(p) = pred[i as usize] {
            r = r.max(g.ops[p as usize].end_ns());
        }
        for &f in deps_of.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            r = r.max(g.ops[f as usize].end_ns());
        }
        r
    };

    // Launch constraint per device, and its latency floor.
    let mut launch_on: BTreeMap<i64, bool> = BTreeMap::new();
    let mut launch_floor: BTreeMap<i64, i64> = BTreeMap::new();
    for dev in &g.devices {
        let on = match opts.launch {
            LaunchMode::Auto => dev.launch_bound,
            LaunchMode::Always => true,
            LaunchMode::Never => false,
        };
        launch_on.insert(dev.device, on);
        let mut lats: Vec<i64> = g
            .ops
            .iter()
            .filter(|o| o.device == dev.device)
            .filter_map(|o| {
                let l = o.launch.as_ref()?;
                (o.start_ns - ready_ns(o.id) > LAUNCH_RELEASED_NS)
                    .then_some(o.start_ns - l.start_ns)
            })
            .filter(|&l| l >= 0)
            .collect();
        lats.sort_unstable();
        let floor = lats
            .get(lats.len() / 2)
            .copied()
            .unwrap_or(DEFAULT_LAUNCH_LATENCY_NS);
        launch_floor.insert(dev.device, floor);
    }

    // De-contended compute work (whole-GPU ps), per device.
    let mut work: BTreeMap<u32, u64> = BTreeMap::new();
    for &d in &devices {
        work.extend(decontended_work(g, d, src.sms));
    }

    // Engram anchors on each main stream.
    let mut engram_at: BTreeMap<u32, Option<u32>> = BTreeMap::new(); // anchor -> issue-after op
    if let Some(e) = &opts.engram {
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
                    if match &e.layers {
                        None => true,
                        Some(l) => l.contains(&k),
                    } {
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
            return Err(ReplayError(format!(
                "no op matches the Engram anchor `{}` (a phase label or kernel name substring) \
                 on the main compute stream: pick one from the trace's phases or kernel names",
                e.anchor
            )));
        }
    }

    // Add ops in recorded start order (dependencies always start no later).
    let mut order: Vec<u32> = (0..g.ops.len() as u32)
        .filter(|&i| gpu_of.contains_key(&g.ops[i as usize].device))
        .collect();
    order.sort_by_key(|&i| (g.ops[i as usize].start_ns, i));
    let mut exec_of: Vec<Option<OpId>> = vec![None; g.ops.len()];
    let mut origin: OpOrigin = Vec::with_capacity(g.ops.len() * 2);
    let mut scaling: BTreeMap<(String, String), ScalingRow> = BTreeMap::new();
    let (mut launch_releases, mut host_gaps, mut engram_lookups, mut dropped_deps) =
        (0u64, 0u64, 0u64, 0u64);
    let mut inferred_waits = 0u64;
    // Per device, op ids sorted by end time (for the gap rule).
    let mut by_end: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
    for o in &g.ops {
        by_end.entry(o.device).or_default().push(o.id);
    }
    for v in by_end.values_mut() {
        v.sort_by_key(|&i| (g.ops[i as usize].end_ns(), i));
    }
    let push = |ex: &mut Executor,
                origin: &mut OpOrigin,
                spec: OpSpec,
                o: Option<(i64, OpClass)>|
     -> Result<OpId, ReplayError> {
        let id = ex.add_op(spec).map_err(err("building the replay graph"))?;
        debug_assert_eq!(id.0 as usize, origin.len());
        origin.push(o);
        Ok(id)
    };
    for &i in &order {
        let op = &g.ops[i as usize];
        let dev = op.device;
        let gpu = gpu_of[&dev];
        let stream = stream_of[&(dev, op.stream)];
        let host = host_stream[&dev];
        let mut deps: Vec<OpId> = Vec::new();
        let mut known: Vec<OpId> = Vec::new(); // predecessors, for host gaps
        if let Some(p) = pred[i as usize] {
            if let Some(e) = exec_of[p as usize] {
                known.push(e);
            }
        }
        for &f in deps_of.get(&i).map(Vec::as_slice).unwrap_or(&[]) {
            match exec_of[f as usize] {
                Some(e) => {
                    deps.push(e);
                    known.push(e);
                }
                None => dropped_deps += 1,
            }
        }
        let gap = op.start_ns - ready_ns(i);
        let launched = op.launch.as_ref().filter(|_| launch_on[&dev]);
        if let Some(l) = launched {
            let lat = if gap > LAUNCH_RELEASED_NS {
                op.start_ns - l.start_ns
            } else {
                (op.start_ns - l.start_ns).min(launch_floor[&dev])
            };
            let release = ps(l.start_ns + lat.max(0) - t0);
            if release > Ps::ZERO {
                let r = push(
                    &mut ex,
                    &mut origin,
                    OpSpec::new(host, cat_launch, Work::Delay(release)),
                    None,
                )?;
                deps.push(r);
                launch_releases += 1;
            }
        } else if gap >= HOST_GAP_MIN_NS {
            // An unexplained wait. Most likely an event on another stream that the trace
            // did not record: the latest op of another stream of this device that ended
            // inside the gap (and was launched before this op) becomes a dependency, and
            // only the rest of the gap is kept as host time.
            let mut residual = gap;
            if let Some(f) = latest_end_before(g, &by_end[&dev], op, ready_ns(i)) {
                if let Some(e) = exec_of[f as usize] {
                    deps.push(e);
                    known.push(e);
                    residual = op.start_ns - g.ops[f as usize].end_ns();
                    inferred_waits += 1;
                }
            }
            if residual < HOST_GAP_MIN_NS {
                residual = 0;
            }
            let h = if residual > 0 {
                Some(push(
                    &mut ex,
                    &mut origin,
                    OpSpec::new(host, cat_gap, Work::Delay(ps(residual)))
                        .after(known.iter().copied()),
                    None,
                )?)
            } else {
                None
            };
            if let Some(h) = h {
                deps.push(h);
                host_gaps += 1;
            }
        }
        // Engram lookup feeding this op.
        if let (Some(e), Some(after), Some(tier)) =
            (&opts.engram, engram_at.get(&i), lookup_tier.as_mut())
        {
            let after: Vec<OpId> = after
                .and_then(|a| exec_of[a as usize])
                .into_iter()
                .collect();
            let q = engram_lookup(&mut ex, &nm, tier.as_mut(), e, engram_stream[&dev], gpu, after)?;
            origin.resize(ex.next_op_id().0 as usize, None);
            deps.push(q);
            engram_lookups += 1;
        }
        // The op itself, re-timed.
        let bytes_mult = opts.mhc.map_or(1, |m| m.bytes_mult(op));
        let dur_mult = opts.mhc.map_or(1, |m| m.duration_mult(g, op));
        let f: Factor = factor(g, op, src, &tgt, bytes_mult);
        let (cname, kind) = category_of(op.class);
        let cat = ex.category(&cname, kind);
        let mut spec = if op.class.is_compute_kernel() {
            let w = work
                .get(&i)
                .copied()
                .unwrap_or((op.dur_ns.max(0) as u64) * 1000);
            let w = f.apply(w).saturating_mul(dur_mult);
            OpSpec::new(
                stream,
                cat,
                Work::Transfer {
                    latency: Ps::ZERO,
                    flows: vec![FlowSpec {
                        path: vec![nm.gpus[gpu].compute],
                        bytes: w,
                        rate_cap: None,
                    }],
                },
            )
        } else {
            let d = f.apply(ps(op.dur_ns).0).saturating_mul(dur_mult);
            let mut s = OpSpec::new(stream, cat, Work::Delay(Ps(d)));
            if op.class.is_comm() {
                let hold = nm.sm_hold(comm_sms(op));
                if hold > 0 && hold < PS_PER_SEC {
                    s = s.holding(nm.gpus[gpu].compute, hold);
                }
            }
            s
        };
        spec = spec.after(deps);
        let row = scaling
            .entry((op.class.label(), f.scaling.label()))
            .or_insert_with(|| ScalingRow {
                class: op.class.label(),
                scaling: f.scaling.label(),
                ops: 0,
                source_ns: 0,
                target_ns: 0,
            });
        row.ops += 1;
        row.source_ns += op.dur_ns;
        row.target_ns += (f.apply(op.dur_ns.max(0) as u64).saturating_mul(dur_mult)) as i64;
        let id = push(&mut ex, &mut origin, spec, Some((dev, op.class)))?;
        exec_of[i as usize] = Some(id);
    }
    ex.run().map_err(err("simulating the replay"))?;
    if ex.unfinished() > 0 {
        return Err(ReplayError(format!(
            "{} ops never finished: the replay graph has a dependency cycle",
            ex.unfinished()
        )));
    }
    let timeline = ex.into_timeline();
    let metrics = measure(&timeline, &origin);
    let (original, original_origin) = original_timeline(g, &mains);
    let original_metrics = measure(&original, &original_origin);
    Ok(ReplayOutput {
        timeline,
        origin,
        original,
        original_origin,
        original_metrics,
        metrics,
        scaling: scaling.into_values().collect(),
        launch_releases,
        host_gaps,
        inferred_waits,
        engram_lookups,
        dropped_deps,
        source: src.name.clone(),
        target: opts.target.name.clone(),
    })
}
