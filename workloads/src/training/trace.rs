//! Per-phase durations from a DeepSeek training profile (Kineto / Chrome-trace JSON, e.g.
//! deepseek-ai/profile-data `train.json`; research/traces.md §1.1).
//!
//! Each GPU kernel is mapped through its `correlation` id to the CUDA runtime call that
//! launched it, and by time containment to the CPU `user_annotation` phase (`attn(F)`,
//! `dispatch(B)`, ...) that was open at the launch; the k-th occurrence of a phase name
//! is layer k. A phase's compute time is the union of its compute-kernel intervals.

use std::collections::{BTreeMap, HashMap};

use memwall_sim::Ps;
use serde_json::Value;

use super::TrainError;

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
    /// First kernel start to last kernel end over all streams.
    pub span: Ps,
    /// Union of compute-stream kernels.
    pub compute_busy: Ps,
    /// Union of communication-stream kernels.
    pub comm_busy: Ps,
    /// Communication time with no compute kernel running (the trace's exposed all-to-all).
    pub exposed_comm: Ps,
}

fn union(mut v: Vec<(u64, u64)>) -> u64 {
    v.sort_unstable();
    let mut tot = 0;
    let mut cur: Option<(u64, u64)> = None;
    for (s, e) in v {
        match cur {
            Some((cs, ce)) if s <= ce => cur = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                tot += ce - cs;
                cur = Some((s, e));
            }
            None => cur = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = cur {
        tot += ce - cs;
    }
    tot
}

/// Parses a trace. `compute_streams` and `comm_streams` are CUDA stream ids (DeepSeek's
/// train.json: compute 7 and 23, DeepEP 27). Times in the file are microseconds.
pub fn read_phases(
    json: &str,
    compute_streams: &[u64],
    comm_streams: &[u64],
) -> Result<TracePhases, TrainError> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| TrainError::Trace(format!("not JSON: {e}")))?;
    let events = v
        .get("traceEvents")
        .and_then(Value::as_array)
        .ok_or_else(|| TrainError::Trace("no `traceEvents` array".into()))?;
    // Times in ns (x1000 from us, keeping 3 decimals).
    let ns = |e: &Value, k: &str| {
        e.get(k)
            .and_then(Value::as_f64)
            .map(|x| (x * 1000.0).round() as u64)
    };
    let mut ann: Vec<(u64, u64, String)> = Vec::new();
    let mut launch: HashMap<u64, u64> = HashMap::new();
    let mut kernels: Vec<(u64, u64, u64, u64)> = Vec::new(); // start, end, stream, corr
    for e in events {
        let cat = e.get("cat").and_then(Value::as_str).unwrap_or("");
        let (Some(ts), Some(dur)) = (ns(e, "ts"), ns(e, "dur")) else {
            continue;
        };
        let corr = e
            .get("args")
            .and_then(|a| a.get("correlation"))
            .and_then(Value::as_u64);
        match cat {
            "user_annotation" => {
                let name = e
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                if COMPUTE_PHASES.contains(&name.as_str()) || COMM_PHASES.contains(&name.as_str()) {
                    ann.push((ts, ts + dur, name));
                }
            }
            "cuda_runtime" | "cuda_driver" => {
                if let Some(c) = corr {
                    launch.insert(c, ts);
                }
            }
            "kernel" | "gpu_memcpy" | "gpu_memset" => {
                let stream = e.get("tid").and_then(Value::as_u64).unwrap_or(u64::MAX);
                kernels.push((ts, ts + dur, stream, corr.unwrap_or(u64::MAX)));
            }
            _ => {}
        }
    }
    if kernels.is_empty() {
        return Err(TrainError::Trace("no GPU kernels".into()));
    }
    ann.sort();
    // layer index of each annotation: k-th occurrence of its name
    let mut seen: HashMap<String, usize> = HashMap::new();
    let ann: Vec<(u64, u64, String, usize)> = ann
        .into_iter()
        .map(|(s, e, n)| {
            let k = seen.entry(n.clone()).or_insert(0);
            *k += 1;
            (s, e, n, *k - 1)
        })
        .collect();
    let layers = seen.get("attn(F)").copied().unwrap_or(0);
    if layers == 0 {
        return Err(TrainError::Trace(
            "no `attn(F)` phase annotations: not a DeepSeek chunk-pair trace".into(),
        ));
    }
    let mut per: BTreeMap<(usize, usize), Vec<(u64, u64)>> = BTreeMap::new();
    let (mut comp, mut comm) = (Vec::new(), Vec::new());
    let (mut t0, mut t1) = (u64::MAX, 0);
    for &(s, e, stream, corr) in &kernels {
        t0 = t0.min(s);
        t1 = t1.max(e);
        if comm_streams.contains(&stream) {
            comm.push((s, e));
            continue;
        }
        if !compute_streams.contains(&stream) {
            continue;
        }
        comp.push((s, e));
        let Some(&lt) = launch.get(&corr) else {
            continue;
        };
        if let Some((_, _, name, layer)) = ann.iter().find(|(a0, a1, _, _)| *a0 <= lt && lt <= *a1)
        {
            if let Some(p) = COMPUTE_PHASES.iter().position(|x| x == name) {
                per.entry((*layer, p)).or_default().push((s, e));
            }
        }
    }
    let mut compute = vec![[Ps::ZERO; 6]; layers];
    for ((l, p), v) in per {
        if l < layers {
            compute[l][p] = Ps(union(v) * 1000);
        }
    }
    let cb = union(comp.clone());
    let all = {
        let mut v = comp;
        v.extend(comm.iter().copied());
        union(v)
    };
    Ok(TracePhases {
        compute,
        span: Ps((t1 - t0) * 1000),
        compute_busy: Ps(cb * 1000),
        comm_busy: Ps(union(comm) * 1000),
        exposed_comm: Ps((all - cb) * 1000),
    })
}
