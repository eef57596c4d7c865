//! Per-phase durations of a DeepSeek training profile (Kineto / Chrome-trace JSON, e.g.
//! deepseek-ai/profile-data `train.json`; traces.md §1.1), read through the
//! Kineto importer ([`memwall_kineto`]).
//!
//! The importer links each GPU kernel to its launch call and gives it the CPU
//! `user_annotation` phase (`attn(F)`, `dispatch(B)`, ...) open at the launch; here the
//! k-th occurrence of a phase name is layer k. A phase's compute time is the union of
//! its compute-kernel intervals.

use std::collections::BTreeMap;
use std::path::Path;

use memwall_sim::Ps;

use super::TrainError;
use memwall_kineto as kineto;
use memwall_kineto::{IntervalSet, TraceGraph};

/// The phases of one layer of an overlapped F&B chunk pair.
pub const COMPUTE_PHASES: [&str; 6] = [
    "attn(F)", "attn(B)", "attn(W)", "mlp(F)", "mlp(B)", "mlp(W)",
];
pub const COMM_PHASES: [&str; 4] = ["dispatch(F)", "dispatch(B)", "combine(F)", "combine(B)"];

/// What the trace says.
#[derive(Clone, Debug, PartialEq)]
pub struct TracePhases {
    /// `compute[layer][phase]`: union of compute-kernel time, phases as in [`COMPUTE_PHASES`].
    pub compute: Vec<[Ps; 6]>,
    /// The same for the SM-bound kernels alone: those whose grid has at most the
    /// `bound_blocks` given to [`phases`] blocks (DeepSeek's persistent GEMMs, launched on
    /// the 112 SMs DeepEP leaves), which do not spread onto SMs communication frees.
    pub sm_bound: Vec<[Ps; 6]>,
    /// First kernel start to last kernel end over all streams.
    pub span: Ps,
    /// Union of compute-stream kernels.
    pub compute_busy: Ps,
    /// Union of communication-stream kernels.
    pub comm_busy: Ps,
    /// Communication time with no compute kernel running (the trace's exposed all-to-all).
    pub exposed_comm: Ps,
}

fn ps(ns: i64) -> Ps {
    Ps(ns.max(0) as u64 * 1000)
}

fn shape(g: &TraceGraph, problem: String) -> TrainError {
    TrainError::TraceShape {
        trace: g.source.clone(),
        problem,
    }
}

/// Occurrences (start, end) of each compute phase annotation, in start order: the k-th
/// is layer k.
fn phase_occurrences(g: &TraceGraph) -> BTreeMap<&str, Vec<(i64, i64)>> {
    let mut occ: BTreeMap<&str, Vec<(i64, i64)>> = BTreeMap::new();
    for a in &g.cpu_annotations {
        let name = g.name(a.name);
        if COMPUTE_PHASES.contains(&name) {
            occ.entry(name)
                .or_default()
                .push((a.start_ns, a.start_ns + a.dur_ns));
        }
    }
    for v in occ.values_mut() {
        v.sort_unstable();
    }
    occ
}

/// Kernel intervals of each (layer, phase), each flagged SM-bound.
type Kernels = BTreeMap<(usize, usize), Vec<((i64, i64), bool)>>;

/// Per layer and phase: the union of all the kernels, and of the SM-bound ones.
fn per_layer(per: Kernels, layers: usize) -> (Vec<[Ps; 6]>, Vec<[Ps; 6]>) {
    let mut compute = vec![[Ps::ZERO; 6]; layers];
    let mut sm_bound = vec![[Ps::ZERO; 6]; layers];
    for ((l, p), v) in per {
        if l < layers {
            let union = |f: &dyn Fn(bool) -> bool| {
                let iv = v.iter().filter(|k| f(k.1)).map(|k| k.0).collect();
                ps(IntervalSet::from_intervals(iv).total())
            };
            sm_bound[l][p] = union(&|b| b);
            compute[l][p] = union(&|_| true);
        }
    }
    (compute, sm_bound)
}

/// Imports `path` (plain or gzip JSON) and reads its phases; see [`phases`].
pub fn read_phases_file(
    path: impl AsRef<Path>,
    compute_streams: &[i64],
    comm_streams: &[i64],
    bound_blocks: u32,
) -> Result<TracePhases, TrainError> {
    let g = kineto::import_file(path)?;
    phases(&g, compute_streams, comm_streams, bound_blocks)
}

/// Phases of an imported trace. `compute_streams` and `comm_streams` are CUDA stream ids
/// (DeepSeek's train.json: compute 7 and 23, DeepEP 27); the trace holds one device.
/// Kernels of at most `bound_blocks` blocks count as SM-bound (train.json: 112 = 132 SMs
/// less DeepEP's 20).
pub fn phases(
    g: &TraceGraph,
    compute_streams: &[i64],
    comm_streams: &[i64],
    bound_blocks: u32,
) -> Result<TracePhases, TrainError> {
    let m = g.metrics();
    let dev = match m.devices.as_slice() {
        [d] => d,
        [] => return Err(shape(g, "no GPU kernels".into())),
        ds => {
            let problem = format!("{} devices; a chunk-pair profile holds one GPU", ds.len());
            return Err(shape(g, problem));
        }
    };
    let occ = phase_occurrences(g);
    let layers = occ.get("attn(F)").map_or(0, Vec::len);
    if layers == 0 {
        let problem = "no `attn(F)` phase annotations: not a DeepSeek chunk-pair trace";
        return Err(shape(g, problem.into()));
    }
    let mut per: Kernels = BTreeMap::new();
    let (mut comp, mut comm) = (Vec::new(), Vec::new());
    for o in &g.ops {
        let iv = (o.start_ns, o.end_ns());
        if comm_streams.contains(&o.stream) {
            comm.push(iv);
            continue;
        }
        if !compute_streams.contains(&o.stream) {
            continue;
        }
        comp.push(iv);
        let (Some(label), Some(launch)) = (g.phase_label(o), o.launch.as_ref()) else {
            continue;
        };
        let Some(p) = COMPUTE_PHASES.iter().position(|x| *x == label) else {
            continue;
        };
        let t = launch.start_ns;
        if let Some(layer) = occ[label].iter().position(|&(a, b)| a <= t && t <= b) {
            let blocks = o
                .grid
                .map_or(u64::MAX, |g| g.iter().map(|&d| d as u64).product());
            per.entry((layer, p))
                .or_default()
                .push((iv, blocks <= bound_blocks as u64));
        }
    }
    let (compute, sm_bound) = per_layer(per, layers);
    let comp = IntervalSet::from_intervals(comp);
    let comm = IntervalSet::from_intervals(comm);
    Ok(TracePhases {
        compute,
        sm_bound,
        span: ps(dev.span_ns),
        compute_busy: ps(comp.total()),
        comm_busy: ps(comm.total()),
        exposed_comm: ps(comm.total() - comm.intersection_total(&comp)),
    })
}
