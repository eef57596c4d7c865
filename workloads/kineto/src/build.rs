//! Raw records to [`TraceGraph`]: launch links, phases, streams, dependencies.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::classify;
use super::error::{ErrorKind, KinetoError};
use super::model::*;
use super::parse::{CommArgs, GpuCat, Id, RawCpuOp, RawFlow, RawGpu, RawSpan, RawSync, RawTrace};

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

/// Trace-relative timestamps to absolute nanoseconds (`baseTimeNanoseconds` added), with
/// overflow reported against the file.
struct Clock<'a> {
    base: i64,
    source: &'a str,
}

impl Clock<'_> {
    fn abs(&self, t: i64) -> Result<i64, KinetoError> {
        let base = self.base;
        base.checked_add(t).ok_or_else(|| {
            KinetoError::new(
                ErrorKind::BadTime,
                self.source,
                format!("timestamp {t} ns + baseTimeNanoseconds {base} overflows 64-bit ns"),
            )
        })
    }
}

pub(crate) fn build(raw: RawTrace, source: &str) -> Result<TraceGraph, KinetoError> {
    let clock = Clock {
        base: raw.base_time_ns.unwrap_or(0),
        source,
    };
    let mut names: Vec<String> = raw.names.iter().map(|s| s.to_string()).collect();
    let threads: Vec<String> = raw
        .threads
        .iter()
        .map(|(p, t)| format!("{}/{}", id_text(p), id_text(t)))
        .collect();
    let mut cpu_calls = raw.cpu_calls;
    let mut gpu = raw.gpu;
    link_flows(&mut cpu_calls, &mut gpu, &raw.flow_starts, &raw.flow_ends);

    let mut stats = ImportStats {
        raw: raw.stats.clone(),
        ..Default::default()
    };
    let anns = Annotations::new(raw.cpu_annotations, raw.gpu_annotations, &raw.threads);
    let mut phases = Phases::default();
    let ctx = OpContext {
        names: &names,
        launches: Launches::new(&cpu_calls),
        anns: &anns,
        clock: &clock,
        shapes: shapes_by_external_id(raw.cpu_ops),
    };
    let ops = ctx.ops(gpu, &mut phases, &mut stats)?;
    stats.gpu_ops = ops.len();
    stats.runtime_calls = cpu_calls.len();
    stats.cpu_annotations = anns.cpu.len();
    stats.sync_events = raw.syncs.len();

    let props = raw
        .device_properties
        .as_ref()
        .map(props_from_json)
        .unwrap_or_default();
    let devices = device_timelines(&ops, &props, &mut stats);
    let syncs = sync_events(&raw.syncs, &clock)?;
    let deps = Dependencies::new(&ops, &devices).find(&syncs, &cpu_calls, &names);

    let (rank, world_size, backend) = distributed(raw.distributed_info.as_ref());
    let meta = TraceMeta {
        trace_name: raw.trace_name,
        schema_version: raw.schema_version,
        base_time_ns: raw.base_time_ns,
        gpu_name: gpu_name(&devices, &props),
        device_properties: props,
        rank,
        world_size,
        backend,
    };
    let (gpu_annotations, cpu_annotations) = anns.export(&clock)?;
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
        phases: phases.labels,
        threads,
        stats,
    })
}

/// Fills correlations missing on either side of a launch from the launch flows (legacy
/// traces): a flow start sits on the launch call, its end on the GPU op.
fn link_flows(
    cpu_calls: &mut [RawSpan],
    gpu: &mut [RawGpu],
    flow_starts: &[RawFlow],
    flow_ends: &[RawFlow],
) {
    let index = |flows: &[RawFlow]| -> HashMap<(u32, i64), i64> {
        flows.iter().map(|f| ((f.key, f.ts), f.id)).collect()
    };
    if cpu_calls.iter().any(|c| c.correlation.is_none()) && !flow_starts.is_empty() {
        let starts = index(flow_starts);
        for c in cpu_calls.iter_mut().filter(|c| c.correlation.is_none()) {
            if let Some(k) = c.flow_key {
                c.correlation = starts.get(&(k, c.ts)).copied();
            }
        }
    }
    if gpu.iter().any(|g| g.correlation.is_none()) && !flow_ends.is_empty() {
        let ends = index(flow_ends);
        for g in gpu.iter_mut().filter(|g| g.correlation.is_none()) {
            if let Some(k) = g.flow_key {
                g.correlation = ends.get(&(k, g.ts)).copied();
            }
        }
    }
}

/// Ranges `[start, end)` of equal keys in `spans` (sorted by that key).
fn runs_by<K: std::hash::Hash + Eq>(
    spans: &[RawSpan],
    key: impl Fn(&RawSpan) -> K,
) -> HashMap<K, (usize, usize)> {
    let mut out = HashMap::new();
    let mut i = 0;
    while i < spans.len() {
        let k = key(&spans[i]);
        let j = i + spans[i..].iter().take_while(|a| key(a) == k).count();
        out.insert(k, (i, j));
        i = j;
    }
    out
}

/// CPU and GPU annotation ranges, indexed for "innermost range around t" look-ups.
struct Annotations {
    /// Sorted by thread, then start (then longest first, so the inner of two equal-start
    /// ranges comes later and wins).
    cpu: Vec<RawSpan>,
    cpu_by_thread: HashMap<u32, (usize, usize)>,
    /// The same annotations per process (any thread), for launches from threads that
    /// carry no annotation of their own (the autograd thread launches backward kernels
    /// while the main thread's `attn(B)` range is open). Indices into `cpu`.
    cpu_by_pid: HashMap<u32, Vec<usize>>,
    pid_of_thread: Vec<u32>,
    /// Sorted by device, stream, start (longest first).
    gpu: Vec<RawSpan>,
    gpu_by_stream: HashMap<(i64, i64), (usize, usize)>,
}

impl Annotations {
    fn new(mut cpu: Vec<RawSpan>, mut gpu: Vec<RawSpan>, threads: &[(Id, Id)]) -> Self {
        cpu.sort_by_key(|a| (a.thread, a.ts, std::cmp::Reverse(a.dur)));
        let cpu_by_thread = runs_by(&cpu, |a| a.thread);
        let mut pid_index: HashMap<&Id, u32> = HashMap::new();
        let pid_of_thread: Vec<u32> = threads
            .iter()
            .map(|(p, _)| {
                let n = pid_index.len() as u32;
                *pid_index.entry(p).or_insert(n)
            })
            .collect();
        let mut cpu_by_pid: HashMap<u32, Vec<usize>> = HashMap::new();
        for (i, a) in cpu.iter().enumerate() {
            cpu_by_pid
                .entry(pid_of_thread[a.thread as usize])
                .or_default()
                .push(i);
        }
        for v in cpu_by_pid.values_mut() {
            v.sort_by_key(|&i| (cpu[i].ts, std::cmp::Reverse(cpu[i].dur)));
        }
        gpu.sort_by_key(|a| (a.device, a.stream, a.ts, std::cmp::Reverse(a.dur)));
        let gpu_by_stream = runs_by(&gpu, |a| (a.device, a.stream));
        Annotations {
            cpu,
            cpu_by_thread,
            cpu_by_pid,
            pid_of_thread,
            gpu,
            gpu_by_stream,
        }
    }

    /// The name of the annotation an op runs under: the CPU annotation around its launch
    /// on the launching thread (or its process, if the thread has none), else the GPU
    /// annotation around it on its stream.
    fn around(&self, launch: Option<&Launch>, g: &RawGpu, base: i64) -> Option<u32> {
        launch
            .and_then(|l| self.around_launch(l, base))
            .or_else(|| {
                let &(a, b) = self.gpu_by_stream.get(&(g.device, g.stream))?;
                innermost(&self.gpu[a..b], g.ts, |s| s.ts, |s| s.ts + s.dur).map(|s| s.name)
            })
    }

    fn around_launch(&self, l: &Launch, base: i64) -> Option<u32> {
        let t = l.start_ns - base;
        if let Some(&(a, b)) = self.cpu_by_thread.get(&l.thread) {
            return innermost(&self.cpu[a..b], t, |s| s.ts, |s| s.ts + s.dur).map(|s| s.name);
        }
        let v = self
            .cpu_by_pid
            .get(&self.pid_of_thread[l.thread as usize])?;
        let ts = |&i: &usize| self.cpu[i].ts;
        let te = |&i: &usize| self.cpu[i].ts + self.cpu[i].dur;
        innermost(v, t, ts, te).map(|&i| self.cpu[i].name)
    }

    /// The annotations in absolute time, for the graph.
    fn export(
        &self,
        clock: &Clock,
    ) -> Result<(Vec<GpuAnnotation>, Vec<CpuAnnotation>), KinetoError> {
        let gpu = self
            .gpu
            .iter()
            .map(|a| {
                Ok(GpuAnnotation {
                    device: a.device,
                    stream: a.stream,
                    name: a.name,
                    start_ns: clock.abs(a.ts)?,
                    dur_ns: a.dur,
                })
            })
            .collect::<Result<Vec<_>, KinetoError>>()?;
        let cpu = self
            .cpu
            .iter()
            .map(|a| {
                Ok(CpuAnnotation {
                    thread: a.thread,
                    name: a.name,
                    start_ns: clock.abs(a.ts)?,
                    dur_ns: a.dur,
                })
            })
            .collect::<Result<Vec<_>, KinetoError>>()?;
        Ok((gpu, cpu))
    }
}

/// Phase labels in order of first use, by annotation name.
#[derive(Default)]
struct Phases {
    labels: Vec<String>,
    of_name: HashMap<u32, PhaseId>,
}

impl Phases {
    fn id(&mut self, name: u32, names: &[String]) -> PhaseId {
        let labels = &mut self.labels;
        *self.of_name.entry(name).or_insert_with(|| {
            labels.push(names[name as usize].clone());
            (labels.len() - 1) as PhaseId
        })
    }
}

/// Launch calls by correlation id.
struct Launches<'a> {
    calls: &'a [RawSpan],
    by_corr: HashMap<i64, usize>,
}

impl<'a> Launches<'a> {
    fn new(calls: &'a [RawSpan]) -> Self {
        let mut by_corr: HashMap<i64, usize> = HashMap::with_capacity(calls.len());
        for (i, c) in calls.iter().enumerate() {
            if let Some(k) = c.correlation {
                by_corr.entry(k).or_insert(i);
            }
        }
        Launches { calls, by_corr }
    }

    /// The launch call of a GPU op with the same correlation, if any.
    fn of(
        &self,
        g: &RawGpu,
        names: &[String],
        clock: &Clock,
    ) -> Result<Option<Launch>, KinetoError> {
        let Some(&i) = g.correlation.and_then(|c| self.by_corr.get(&c)) else {
            return Ok(None);
        };
        let c = &self.calls[i];
        Ok(Some(Launch {
            api: c.name,
            thread: c.thread,
            start_ns: clock.abs(c.ts)?,
            dur_ns: c.dur,
            graph: is_graph_launch(&names[c.name as usize]),
        }))
    }
}

/// What turning raw GPU records into ops needs.
struct OpContext<'a> {
    names: &'a [String],
    launches: Launches<'a>,
    anns: &'a Annotations,
    clock: &'a Clock<'a>,
    shapes: HashMap<i64, Box<OpShape>>,
}

/// Each external id's recorded shapes: where several framework ops share an id (an op
/// and the ops it calls), the shortest, i.e. the innermost, which launched the kernels.
fn shapes_by_external_id(cpu_ops: Vec<RawCpuOp>) -> HashMap<i64, Box<OpShape>> {
    let mut best: HashMap<i64, RawCpuOp> = HashMap::new();
    for op in cpu_ops {
        match best.get(&op.external_id) {
            Some(b) if (b.dur, b.name) <= (op.dur, op.name) => {}
            _ => {
                best.insert(op.external_id, op);
            }
        }
    }
    best.into_iter()
        .map(|(ext, op)| {
            let shape = OpShape {
                op: op.name,
                inputs: op.dims,
                types: op.types,
            };
            (ext, Box::new(shape))
        })
        .collect()
}

impl OpContext<'_> {
    /// The ops, sorted by (device, stream, start, correlation), each with its class,
    /// launch and phase.
    fn ops(
        &self,
        mut gpu: Vec<RawGpu>,
        phases: &mut Phases,
        stats: &mut ImportStats,
    ) -> Result<Vec<GpuOp>, KinetoError> {
        gpu.sort_by_key(|g| (g.device, g.stream, g.ts, g.correlation.unwrap_or(i64::MAX)));
        let mut ops: Vec<GpuOp> = Vec::with_capacity(gpu.len());
        for g in gpu {
            let (kind, class, comm) = classify_op(&self.names[g.name as usize], &g);
            let start_ns = self.clock.abs(g.ts)?;
            let launch = self.launches.of(&g, self.names, self.clock)?;
            let phase = self
                .anns
                .around(launch.as_ref(), &g, self.clock.base)
                .map(|name| phases.id(name, self.names));
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
                shape: g.external_id.and_then(|e| self.shapes.get(&e)).cloned(),
            });
        }
        Ok(ops)
    }
}

/// Kind, class and (for communication kernels) collective metadata of one GPU record.
fn classify_op(name: &str, g: &RawGpu) -> (OpKind, OpClass, Option<Box<CommMeta>>) {
    let bytes = g.bytes.and_then(|b| u64::try_from(b).ok());
    match g.cat {
        GpuCat::Memcpy => {
            let dir = classify::copy_dir(name);
            let kind = OpKind::Memcpy {
                dir,
                bytes,
                pinned: classify::copy_pinned(name),
            };
            (kind, OpClass::Copy(dir), None)
        }
        GpuCat::Memset => (OpKind::Memset { bytes }, OpClass::Memset, None),
        GpuCat::Kernel => {
            let args = g.comm.as_deref();
            let coll = args.and_then(|a| a.collective.as_deref());
            match classify::comm_category(name, coll) {
                Some(cat) => (
                    OpKind::Kernel,
                    OpClass::Communication(cat),
                    Some(Box::new(comm_meta(name, args))),
                ),
                None => (OpKind::Kernel, classify::compute_class(name), None),
            }
        }
    }
}

/// A communication kernel's collective, algorithm and process group, from its name and
/// its `args`.
fn comm_meta(name: &str, args: Option<&CommArgs>) -> CommMeta {
    let (algorithm, protocol) = classify::nccl_algo_proto(name);
    let u = |v: Option<i64>| v.and_then(|x| u64::try_from(x).ok());
    CommMeta {
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
    }
}

/// Devices in id order, each with its streams in id order and its median
/// launch-to-start latency; counts same-stream overlaps into `stats`.
fn device_timelines(
    ops: &[GpuOp],
    props: &[DeviceProps],
    stats: &mut ImportStats,
) -> Vec<DeviceTimeline> {
    let mut by_dev: BTreeMap<i64, BTreeMap<i64, Vec<OpId>>> = BTreeMap::new();
    for op in ops {
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
    devices
}

/// The recorded synchronisation events in absolute time.
fn sync_events(syncs: &[RawSync], clock: &Clock) -> Result<Vec<SyncEvent>, KinetoError> {
    syncs
        .iter()
        .map(|s| {
            Ok(SyncEvent {
                device: s.device,
                stream: s.stream,
                kind: s.kind.to_string(),
                start_ns: clock.abs(s.ts)?,
                dur_ns: s.dur,
                correlation: s.correlation,
                wait_on_stream: s.wait_on_stream,
                wait_on_record_correlation: s.wait_on_record_corr,
                event_id: s.event_id,
            })
        })
        .collect()
}

/// Cross-stream dependencies, found by the rules of `docs/trace-import.md`: recorded
/// waits, then stream-wait calls without a GPU record (I1), then gaps (I2).
struct Dependencies<'a> {
    ops: &'a [GpuOp],
    devices: &'a [DeviceTimeline],
    /// Per (device, stream): ops sorted by correlation, for launch-order look-ups.
    by_corr: HashMap<(i64, i64), Vec<(i64, OpId)>>,
    deps: Vec<Dependency>,
    has_incoming: HashSet<OpId>,
}

impl<'a> Dependencies<'a> {
    fn new(ops: &'a [GpuOp], devices: &'a [DeviceTimeline]) -> Self {
        let mut by_corr: HashMap<(i64, i64), Vec<(i64, OpId)>> = HashMap::new();
        for op in ops {
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
        Dependencies {
            ops,
            devices,
            by_corr,
            deps: Vec::new(),
            has_incoming: HashSet::new(),
        }
    }

    /// The op of `(dev, stream)` launched last before correlation `corr`.
    fn last_before(&self, dev: i64, stream: i64, corr: i64) -> Option<OpId> {
        let v = self.by_corr.get(&(dev, stream))?;
        let i = v.partition_point(|(c, _)| *c < corr);
        (i > 0).then(|| v[i - 1].1)
    }

    /// The op of `(dev, stream)` launched first after correlation `corr`.
    fn first_after(&self, dev: i64, stream: i64, corr: i64) -> Option<OpId> {
        let v = self.by_corr.get(&(dev, stream))?;
        let i = v.partition_point(|(c, _)| *c <= corr);
        v.get(i).map(|x| x.1)
    }

    fn stream_ops(&self, dev: i64, stream: i64) -> &'a [OpId] {
        self.devices
            .iter()
            .find(|d| d.device == dev)
            .and_then(|d| d.streams.iter().find(|s| s.stream == stream))
            .map(|s| s.ops.as_slice())
            .unwrap_or(&[])
    }

    fn push(&mut self, from: OpId, to: OpId, kind: DepKind) {
        self.deps.push(Dependency { from, to, kind });
    }

    /// Recorded: cuda_sync Stream Wait Event.
    fn recorded_waits(&mut self, syncs: &[SyncEvent]) {
        let ops = self.ops;
        for s in syncs {
            let (Some(to_stream), Some(from_stream)) = (s.stream, s.wait_on_stream) else {
                continue;
            };
            if !s.kind.contains("Wait") || to_stream == from_stream {
                continue;
            }
            let start = s.start_ns;
            let from = match s.wait_on_record_correlation {
                Some(rc) => self.last_before(s.device, from_stream, rc),
                None => self
                    .stream_ops(s.device, from_stream)
                    .iter()
                    .rev()
                    .find(|&&i| ops[i as usize].start_ns <= start)
                    .copied(),
            };
            let to = match s.correlation {
                Some(c) => self.first_after(s.device, to_stream, c),
                None => None,
            }
            .or_else(|| {
                self.stream_ops(s.device, to_stream)
                    .iter()
                    .find(|&&i| ops[i as usize].start_ns >= start)
                    .copied()
            });
            if let (Some(from), Some(to)) = (from, to) {
                self.push(from, to, DepKind::RecordedWait);
                self.has_incoming.insert(to);
            }
        }
    }

    /// I1: CPU-side stream-wait calls without a GPU record.
    fn wait_calls(&mut self, cpu_calls: &[RawSpan], names: &[String], syncs: &[SyncEvent]) {
        let sync_corrs: HashSet<i64> = syncs.iter().filter_map(|s| s.correlation).collect();
        let mut launched_by_thread: HashMap<u32, Vec<(i64, OpId)>> = HashMap::new();
        for op in self.ops {
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
        for call in cpu_calls {
            let Some(c) = call.correlation else { continue };
            if sync_corrs.contains(&c) || !is_wait_call(&names[call.name as usize]) {
                continue;
            }
            let Some(v) = launched_by_thread.get(&call.thread) else {
                continue;
            };
            let i = v.partition_point(|(k, _)| *k <= c);
            let Some(&(_, to)) = v.get(i) else { continue };
            if let Some(from) = self.waited_for(to, c) {
                self.push(from, to, DepKind::InferredWaitCall);
                self.has_incoming.insert(to);
            }
        }
    }

    /// The op a stream-wait call (correlation `c`) before op `to` waited for: of the
    /// other streams' ops launched before the call and ended before `to` started, the
    /// one that ended last.
    fn waited_for(&self, to: OpId, c: i64) -> Option<OpId> {
        let ops = self.ops;
        let k = &ops[to as usize];
        let dev = self.devices.iter().find(|d| d.device == k.device)?;
        let mut best: Option<OpId> = None;
        for s in dev.streams.iter().filter(|s| s.stream != k.stream) {
            if let Some(f) = self.last_before(k.device, s.stream, c) {
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
        best
    }

    /// I2: gaps explained by another stream's op ending just before.
    fn gaps(&mut self) {
        let ops = self.ops;
        for dev in self.devices {
            let mut ends: Vec<(i64, OpId)> = dev
                .streams
                .iter()
                .flat_map(|s| s.ops.iter().map(|&i| (ops[i as usize].end_ns(), i)))
                .collect();
            ends.sort_unstable();
            for s in &dev.streams {
                for (j, &kid) in s.ops.iter().enumerate() {
                    if self.has_incoming.contains(&kid) {
                        continue;
                    }
                    let prev_end = (j > 0).then(|| ops[s.ops[j - 1] as usize].end_ns());
                    if let Some(from) = gap_cause(ops, &ends, &ops[kid as usize], prev_end) {
                        self.push(from, kid, DepKind::InferredGap);
                    }
                }
            }
        }
    }

    /// Every dependency by the three rules, sorted by (to, from), one per pair.
    fn find(
        mut self,
        syncs: &[SyncEvent],
        cpu_calls: &[RawSpan],
        names: &[String],
    ) -> Vec<Dependency> {
        self.recorded_waits(syncs);
        self.wait_calls(cpu_calls, names, syncs);
        self.gaps();
        self.deps.sort_by_key(|d| (d.to, d.from, d.kind));
        self.deps.dedup_by_key(|d| (d.to, d.from));
        self.deps
    }
}

/// Rule I2 for op `k`: if it started at least [`GAP_MIN_NS`] after it was ready (its
/// stream predecessor ended at `prev_end` and it was launched), the latest op of another
/// stream (launched before it) that ended within [`GAP_SLACK_NS`] before its start.
/// `ends` holds the device's ops as (end, id), sorted.
fn gap_cause(
    ops: &[GpuOp],
    ends: &[(i64, OpId)],
    k: &GpuOp,
    prev_end: Option<i64>,
) -> Option<OpId> {
    let launched = k.launch.as_ref().map(|l| l.start_ns);
    let ready = match (prev_end, launched) {
        (Some(a), Some(b)) => a.max(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => return None,
    };
    if k.start_ns - ready < GAP_MIN_NS {
        return None;
    }
    let lo = ready.max(k.start_ns - GAP_SLACK_NS);
    let hi = ends.partition_point(|(e, _)| *e <= k.start_ns);
    ends[..hi]
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
        })
        .map(|&(_, from)| from)
}

/// The GPU's marketing name: the first non-empty one among the devices with ops, else
/// among all device properties.
fn gpu_name(devices: &[DeviceTimeline], props: &[DeviceProps]) -> Option<String> {
    devices
        .iter()
        .filter_map(|d| d.props.as_ref())
        .map(|p| p.name.clone())
        .find(|n| !n.is_empty())
        .or_else(|| props.iter().map(|p| p.name.clone()).find(|n| !n.is_empty()))
}

/// Rank, world size and backend from `distributedInfo`.
fn distributed(info: Option<&serde_json::Value>) -> (Option<i64>, Option<i64>, Option<String>) {
    let field = |k: &str| info.and_then(|i| i.get(k));
    (
        field("rank").and_then(|x| x.as_i64()),
        field("world_size").and_then(|x| x.as_i64()),
        field("backend")
            .and_then(|x| x.as_str())
            .map(str::to_string),
    )
}
