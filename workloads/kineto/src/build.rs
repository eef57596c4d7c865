//! Raw records to [`TraceGraph`]: launch links, phases, streams, dependencies.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::classify;
use super::error::{ErrorKind, KinetoError};
use super::model::*;
use super::parse::{GpuCat, Id, RawTrace};

/// An op counts as held by another stream only if it started this much later than it was
/// ready (launched and its stream free) — rule I2.
pub const GAP_MIN_NS: i64 = 3_000;
/// ... and the other stream's op ended at most this long before it started.
pub const GAP_SLACK_NS: i64 = 10_000;
/// Median launch-to-start below this: the run is launch-bound.
pub const LAUNCH_BOUND_NS: i64 = 50_000;

fn id_text(id: &Id) -> String {
    match id {
        Id::Num(n) => n.to_string(),
        Id::Str(s) => s.to_string(),
    }
}

fn is_wait_call(name: &str) -> bool {
    name.ends_with("StreamWaitEvent")
}

fn is_graph_launch(name: &str) -> bool {
    name.contains("GraphLaunch")
}

fn props_from_json(v: &serde_json::Value) -> Vec<DeviceProps> {
    let Some(arr) = v.as_array() else {
        return Vec::new();
    };
    arr.iter()
        .enumerate()
        .map(|(i, p)| DeviceProps {
            id: p.get("id").and_then(|x| x.as_i64()).unwrap_or(i as i64),
            name: p
                .get("name")
                .and_then(|x| x.as_str())
                .unwrap_or("")
                .to_string(),
            num_sms: p.get("numSms").and_then(|x| x.as_u64()).map(|x| x as u32),
            total_global_mem: p.get("totalGlobalMem").and_then(|x| x.as_u64()),
            compute_major: p
                .get("computeMajor")
                .and_then(|x| x.as_u64())
                .map(|x| x as u32),
            compute_minor: p
                .get("computeMinor")
                .and_then(|x| x.as_u64())
                .map(|x| x as u32),
        })
        .collect()
}

/// Innermost interval (latest start) among `spans` (sorted by start) that contains `t`.
fn innermost<T>(
    spans: &[T],
    t: i64,
    start: impl Fn(&T) -> i64,
    end: impl Fn(&T) -> i64,
) -> Option<&T> {
    let idx = spans.partition_point(|s| start(s) <= t);
    spans[..idx].iter().rev().find(|s| end(s) >= t)
}

pub(crate) fn build(raw: RawTrace, source: &str) -> Result<TraceGraph, KinetoError> {
    let base = raw.base_time_ns.unwrap_or(0);
    let abs = |t: i64| -> Result<i64, KinetoError> {
        base.checked_add(t).ok_or_else(|| {
            KinetoError::new(
                ErrorKind::BadTime,
                source,
                format!("timestamp {t} ns + baseTimeNanoseconds {base} overflows 64-bit ns"),
            )
        })
    };

    let mut names: Vec<String> = raw.names.iter().map(|s| s.to_string()).collect();
    let threads: Vec<String> = raw
        .threads
        .iter()
        .map(|(p, t)| format!("{}/{}", id_text(p), id_text(t)))
        .collect();

    // --- Correlations missing on either side come from launch flows (legacy traces).
    let mut cpu_calls = raw.cpu_calls;
    if cpu_calls.iter().any(|c| c.correlation.is_none()) && !raw.flow_starts.is_empty() {
        let starts: HashMap<(u32, i64), i64> = raw
            .flow_starts
            .iter()
            .map(|f| ((f.key, f.ts), f.id))
            .collect();
        for c in cpu_calls.iter_mut().filter(|c| c.correlation.is_none()) {
            if let Some(k) = c.flow_key {
                c.correlation = starts.get(&(k, c.ts)).copied();
            }
        }
    }
    let mut gpu = raw.gpu;
    if gpu.iter().any(|g| g.correlation.is_none()) && !raw.flow_ends.is_empty() {
        let ends: HashMap<(u32, i64), i64> = raw
            .flow_ends
            .iter()
            .map(|f| ((f.key, f.ts), f.id))
            .collect();
        for g in gpu.iter_mut().filter(|g| g.correlation.is_none()) {
            if let Some(k) = g.flow_key {
                g.correlation = ends.get(&(k, g.ts)).copied();
            }
        }
    }

    // --- Launch calls by correlation.
    let mut call_by_corr: HashMap<i64, usize> = HashMap::with_capacity(cpu_calls.len());
    for (i, c) in cpu_calls.iter().enumerate() {
        if let Some(k) = c.correlation {
            call_by_corr.entry(k).or_insert(i);
        }
    }

    // --- CPU annotations per thread, sorted by start (then longest first, so the inner of
    // two equal-start ranges comes later and wins).
    let mut cpu_ann = raw.cpu_annotations;
    cpu_ann.sort_by_key(|a| (a.thread, a.ts, std::cmp::Reverse(a.dur)));
    let mut ann_by_thread: HashMap<u32, (usize, usize)> = HashMap::new();
    {
        let mut i = 0;
        while i < cpu_ann.len() {
            let t = cpu_ann[i].thread;
            let j = i + cpu_ann[i..].iter().take_while(|a| a.thread == t).count();
            ann_by_thread.insert(t, (i, j));
            i = j;
        }
    }
    // The same annotations per process (any thread), for launches from threads that carry
    // no annotation of their own (the autograd thread launches backward kernels while the
    // main thread's `attn(B)` range is open).
    let mut pid_index: HashMap<&Id, u32> = HashMap::new();
    let pid_of_thread: Vec<u32> = raw
        .threads
        .iter()
        .map(|(p, _)| {
            let n = pid_index.len() as u32;
            *pid_index.entry(p).or_insert(n)
        })
        .collect();
    let mut ann_by_pid: HashMap<u32, Vec<usize>> = HashMap::new();
    for (i, a) in cpu_ann.iter().enumerate() {
        ann_by_pid
            .entry(pid_of_thread[a.thread as usize])
            .or_default()
            .push(i);
    }
    for v in ann_by_pid.values_mut() {
        v.sort_by_key(|&i| (cpu_ann[i].ts, std::cmp::Reverse(cpu_ann[i].dur)));
    }
    let mut gpu_ann = raw.gpu_annotations;
    gpu_ann.sort_by_key(|a| (a.device, a.stream, a.ts, std::cmp::Reverse(a.dur)));
    let mut gann_by_stream: HashMap<(i64, i64), (usize, usize)> = HashMap::new();
    {
        let mut i = 0;
        while i < gpu_ann.len() {
            let k = (gpu_ann[i].device, gpu_ann[i].stream);
            let j = i + gpu_ann[i..]
                .iter()
                .take_while(|a| (a.device, a.stream) == k)
                .count();
            gann_by_stream.insert(k, (i, j));
            i = j;
        }
    }
    let mut phases: Vec<String> = Vec::new();
    let mut phase_of_name: HashMap<u32, PhaseId> = HashMap::new();
    let mut phase_id = |name: u32, phases: &mut Vec<String>| -> PhaseId {
        *phase_of_name.entry(name).or_insert_with(|| {
            phases.push(names[name as usize].clone());
            (phases.len() - 1) as PhaseId
        })
    };

    // --- Ops.
    gpu.sort_by_key(|g| (g.device, g.stream, g.ts, g.correlation.unwrap_or(i64::MAX)));
    let mut ops: Vec<GpuOp> = Vec::with_capacity(gpu.len());
    let mut stats = ImportStats {
        raw: raw.stats.clone(),
        ..Default::default()
    };
    for g in gpu {
        let name = &names[g.name as usize];
        let (kind, class, comm) = match g.cat {
            GpuCat::Memcpy => {
                let dir = classify::copy_dir(name);
                let kind = OpKind::Memcpy {
                    dir,
                    bytes: g.bytes.and_then(|b| u64::try_from(b).ok()),
                    pinned: classify::copy_pinned(name),
                };
                (kind, OpClass::Copy(dir), None)
            }
            GpuCat::Memset => (
                OpKind::Memset {
                    bytes: g.bytes.and_then(|b| u64::try_from(b).ok()),
                },
                OpClass::Memset,
                None,
            ),
            GpuCat::Kernel => {
                let args = g.comm.as_deref();
                let coll = args.and_then(|a| a.collective.as_deref());
                match classify::comm_category(name, coll) {
                    Some(cat) => {
                        let (algorithm, protocol) = classify::nccl_algo_proto(name);
                        let u = |v: Option<i64>| v.and_then(|x| u64::try_from(x).ok());
                        let meta = CommMeta {
                            collective: args.and_then(|a| a.collective.clone()),
                            algorithm,
                            protocol,
                            in_nelems: u(args.and_then(|a| a.in_nelems)),
                            out_nelems: u(args.and_then(|a| a.out_nelems)),
                            dtype: args.and_then(|a| a.dtype.clone()),
                            group_size: args
                                .and_then(|a| a.group_size)
                                .and_then(|x| u32::try_from(x).ok()),
                            pg_name: args.and_then(|a| a.pg_name.clone()),
                            pg_desc: args.and_then(|a| a.pg_desc.clone()),
                            pg_ranks: args.and_then(|a| a.pg_ranks.clone()),
                            seq: u(args.and_then(|a| a.seq)),
                        };
                        (
                            OpKind::Kernel,
                            OpClass::Communication(cat),
                            Some(Box::new(meta)),
                        )
                    }
                    None => (OpKind::Kernel, classify::compute_class(name), None),
                }
            }
        };
        let start_ns = abs(g.ts)?;
        let launch = g.correlation.and_then(|c| call_by_corr.get(&c)).map(|&i| {
            let c = &cpu_calls[i];
            (c.thread, c.ts, c.dur, c.name)
        });
        let launch = match launch {
            Some((thread, ts, dur, api)) => Some(Launch {
                api,
                thread,
                start_ns: abs(ts)?,
                dur_ns: dur,
                graph: is_graph_launch(&names[api as usize]),
            }),
            None => None,
        };
        // Phase: CPU annotation around the launch on its thread, else GPU annotation.
        let mut phase = None;
        if let Some(l) = &launch {
            let t = l.start_ns - base;
            if let Some(&(a, b)) = ann_by_thread.get(&l.thread) {
                if let Some(s) = innermost(&cpu_ann[a..b], t, |s| s.ts, |s| s.ts + s.dur) {
                    phase = Some(phase_id(s.name, &mut phases));
                }
            } else if let Some(v) = ann_by_pid.get(&pid_of_thread[l.thread as usize]) {
                let ts = |&i: &usize| cpu_ann[i].ts;
                let te = |&i: &usize| cpu_ann[i].ts + cpu_ann[i].dur;
                if let Some(&i) = innermost(v, t, ts, te) {
                    phase = Some(phase_id(cpu_ann[i].name, &mut phases));
                }
            }
        }
        if phase.is_none() {
            if let Some(&(a, b)) = gann_by_stream.get(&(g.device, g.stream)) {
                if let Some(s) = innermost(&gpu_ann[a..b], g.ts, |s| s.ts, |s| s.ts + s.dur) {
                    phase = Some(phase_id(s.name, &mut phases));
                }
            }
        }
        stats.launched_ops += launch.is_some() as usize;
        stats.ops_with_phase += phase.is_some() as usize;
        ops.push(GpuOp {
            id: ops.len() as OpId,
            device: g.device,
            stream: g.stream,
            name: g.name,
            kind,
            class,
            start_ns,
            dur_ns: g.dur,
            correlation: g.correlation,
            external_id: g.external_id,
            launch,
            phase,
            grid: g.grid,
            block: g.block,
            graph_id: g.graph_id,
            comm,
        });
    }
    stats.gpu_ops = ops.len();
    stats.runtime_calls = cpu_calls.len();
    stats.cpu_annotations = cpu_ann.len();
    stats.sync_events = raw.syncs.len();

    // --- Devices and streams.
    let props = raw
        .device_properties
        .as_ref()
        .map(props_from_json)
        .unwrap_or_default();
    let mut by_dev: BTreeMap<i64, BTreeMap<i64, Vec<OpId>>> = BTreeMap::new();
    for op in &ops {
        by_dev
            .entry(op.device)
            .or_default()
            .entry(op.stream)
            .or_default()
            .push(op.id);
    }
    let mut devices = Vec::new();
    for (device, streams) in by_dev {
        let mut lat: Vec<i64> = Vec::new();
        let streams: Vec<StreamTimeline> = streams
            .into_iter()
            .map(|(stream, ids)| {
                for w in ids.windows(2) {
                    let (a, b) = (&ops[w[0] as usize], &ops[w[1] as usize]);
                    if a.end_ns() - b.start_ns > 1_000 {
                        stats.same_stream_overlaps += 1;
                    }
                }
                for &i in &ids {
                    if let Some(l) = &ops[i as usize].launch {
                        lat.push(ops[i as usize].start_ns - l.start_ns);
                    }
                }
                StreamTimeline { stream, ops: ids }
            })
            .collect();
        lat.sort_unstable();
        let median = (!lat.is_empty()).then(|| lat[lat.len() / 2]);
        devices.push(DeviceTimeline {
            device,
            props: props.iter().find(|p| p.id == device).cloned(),
            streams,
            median_launch_to_start_ns: median,
            launch_bound: median.is_some_and(|m| m < LAUNCH_BOUND_NS),
        });
    }

    // --- Dependencies.
    let mut deps: Vec<Dependency> = Vec::new();
    let mut has_incoming: HashSet<OpId> = HashSet::new();
    // Per (device, stream): ops sorted by correlation, for launch-order look-ups.
    let mut by_corr: HashMap<(i64, i64), Vec<(i64, OpId)>> = HashMap::new();
    for op in &ops {
        if let Some(c) = op.correlation {
            by_corr
                .entry((op.device, op.stream))
                .or_default()
                .push((c, op.id));
        }
    }
    for v in by_corr.values_mut() {
        v.sort_unstable();
    }
    let last_before = |dev: i64, stream: i64, corr: i64| -> Option<OpId> {
        let v = by_corr.get(&(dev, stream))?;
        let i = v.partition_point(|(c, _)| *c < corr);
        (i > 0).then(|| v[i - 1].1)
    };
    let first_after = |dev: i64, stream: i64, corr: i64| -> Option<OpId> {
        let v = by_corr.get(&(dev, stream))?;
        let i = v.partition_point(|(c, _)| *c <= corr);
        v.get(i).map(|x| x.1)
    };
    let stream_ops = |dev: i64, stream: i64| -> &[OpId] {
        devices
            .iter()
            .find(|d| d.device == dev)
            .and_then(|d| d.streams.iter().find(|s| s.stream == stream))
            .map(|s| s.ops.as_slice())
            .unwrap_or(&[])
    };

    // Recorded: cuda_sync Stream Wait Event.
    let mut sync_corrs: HashSet<i64> = HashSet::new();
    let mut syncs = Vec::with_capacity(raw.syncs.len());
    for s in &raw.syncs {
        if let Some(c) = s.correlation {
            sync_corrs.insert(c);
        }
        let start = abs(s.ts)?;
        syncs.push(SyncEvent {
            device: s.device,
            stream: s.stream,
            kind: s.kind.to_string(),
            start_ns: start,
            dur_ns: s.dur,
            correlation: s.correlation,
            wait_on_stream: s.wait_on_stream,
            wait_on_record_correlation: s.wait_on_record_corr,
            event_id: s.event_id,
        });
        let (Some(to_stream), Some(from_stream)) = (s.stream, s.wait_on_stream) else {
            continue;
        };
        if !s.kind.contains("Wait") || to_stream == from_stream {
            continue;
        }
        let from = match s.wait_on_record_corr {
            Some(rc) => last_before(s.device, from_stream, rc),
            None => stream_ops(s.device, from_stream)
                .iter()
                .rev()
                .find(|&&i| ops[i as usize].start_ns <= start)
                .copied(),
        };
        let to = match s.correlation {
            Some(c) => first_after(s.device, to_stream, c),
            None => None,
        }
        .or_else(|| {
            stream_ops(s.device, to_stream)
                .iter()
                .find(|&&i| ops[i as usize].start_ns >= start)
                .copied()
        });
        if let (Some(from), Some(to)) = (from, to) {
            deps.push(Dependency {
                from,
                to,
                kind: DepKind::RecordedWait,
            });
            has_incoming.insert(to);
        }
    }

    // I1: CPU-side stream-wait calls without a GPU record.
    let mut launched_by_thread: HashMap<u32, Vec<(i64, OpId)>> = HashMap::new();
    for op in &ops {
        if let (Some(c), Some(l)) = (op.correlation, &op.launch) {
            launched_by_thread
                .entry(l.thread)
                .or_default()
                .push((c, op.id));
        }
    }
    for v in launched_by_thread.values_mut() {
        v.sort_unstable();
    }
    for call in &cpu_calls {
        let Some(c) = call.correlation else { continue };
        if sync_corrs.contains(&c) || !is_wait_call(&names[call.name as usize]) {
            continue;
        }
        let Some(v) = launched_by_thread.get(&call.thread) else {
            continue;
        };
        let i = v.partition_point(|(k, _)| *k <= c);
        let Some(&(_, to)) = v.get(i) else { continue };
        let k = &ops[to as usize];
        let Some(dev) = devices.iter().find(|d| d.device == k.device) else {
            continue;
        };
        let mut best: Option<OpId> = None;
        for s in dev.streams.iter().filter(|s| s.stream != k.stream) {
            if let Some(f) = last_before(k.device, s.stream, c) {
                let fo = &ops[f as usize];
                if fo.end_ns() <= k.start_ns
                    && match best {
                        None => true,
                        Some(b) => ops[b as usize].end_ns() < fo.end_ns(),
                    }
                {
                    best = Some(f);
                }
            }
        }
        if let Some(from) = best {
            deps.push(Dependency {
                from,
                to,
                kind: DepKind::InferredWaitCall,
            });
            has_incoming.insert(to);
        }
    }

    // I2: gaps explained by another stream's op ending just before.
    for dev in &devices {
        let mut ends: Vec<(i64, OpId)> = dev
            .streams
            .iter()
            .flat_map(|s| s.ops.iter().map(|&i| (ops[i as usize].end_ns(), i)))
            .collect();
        ends.sort_unstable();
        for s in &dev.streams {
            for (j, &kid) in s.ops.iter().enumerate() {
                if has_incoming.contains(&kid) {
                    continue;
                }
                let k = &ops[kid as usize];
                let prev_end = (j > 0).then(|| ops[s.ops[j - 1] as usize].end_ns());
                let launched = k.launch.as_ref().map(|l| l.start_ns);
                let ready = match (prev_end, launched) {
                    (Some(a), Some(b)) => a.max(b),
                    (Some(a), None) => a,
                    (None, Some(b)) => b,
                    (None, None) => continue,
                };
                if k.start_ns - ready < GAP_MIN_NS {
                    continue;
                }
                let lo = ready.max(k.start_ns - GAP_SLACK_NS);
                let hi = ends.partition_point(|(e, _)| *e <= k.start_ns);
                let found = ends[..hi]
                    .iter()
                    .rev()
                    .take_while(|(e, _)| *e >= lo)
                    .find(|(_, f)| {
                        let fo = &ops[*f as usize];
                        fo.stream != k.stream
                            && match (fo.correlation, k.correlation) {
                                (Some(a), Some(b)) => a < b,
                                _ => true,
                            }
                    });
                if let Some(&(_, from)) = found {
                    deps.push(Dependency {
                        from,
                        to: kid,
                        kind: DepKind::InferredGap,
                    });
                }
            }
        }
    }
    deps.sort_by_key(|d| (d.to, d.from, d.kind));
    deps.dedup_by_key(|d| (d.to, d.from));

    // --- Metadata.
    let info = raw.distributed_info.as_ref();
    let gpu_name = devices
        .iter()
        .filter_map(|d| d.props.as_ref())
        .map(|p| p.name.clone())
        .find(|n| !n.is_empty())
        .or_else(|| props.iter().map(|p| p.name.clone()).find(|n| !n.is_empty()));
    let meta = TraceMeta {
        trace_name: raw.trace_name,
        schema_version: raw.schema_version,
        base_time_ns: raw.base_time_ns,
        device_properties: props,
        rank: info.and_then(|i| i.get("rank")).and_then(|x| x.as_i64()),
        world_size: info
            .and_then(|i| i.get("world_size"))
            .and_then(|x| x.as_i64()),
        backend: info
            .and_then(|i| i.get("backend"))
            .and_then(|x| x.as_str())
            .map(str::to_string),
        gpu_name,
    };

    let gpu_annotations = gpu_ann
        .iter()
        .map(|a| {
            Ok(GpuAnnotation {
                device: a.device,
                stream: a.stream,
                name: a.name,
                start_ns: abs(a.ts)?,
                dur_ns: a.dur,
            })
        })
        .collect::<Result<Vec<_>, KinetoError>>()?;
    let cpu_annotations = cpu_ann
        .iter()
        .map(|a| {
            Ok(CpuAnnotation {
                thread: a.thread,
                name: a.name,
                start_ns: abs(a.ts)?,
                dur_ns: a.dur,
            })
        })
        .collect::<Result<Vec<_>, KinetoError>>()?;
    names.shrink_to_fit();

    Ok(TraceGraph {
        source: source.to_string(),
        meta,
        ops,
        devices,
        deps,
        syncs,
        gpu_annotations,
        cpu_annotations,
        names,
        phases,
        threads,
        stats,
    })
}
