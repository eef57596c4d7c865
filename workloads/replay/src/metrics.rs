//! The importer's overlap metric (traces.md §3.4) measured on a replayed timeline, and
//! the recorded trace as a [`Timeline`] for side-by-side export.

use std::collections::BTreeMap;

use memwall_kineto::{IntervalSet, OpClass, TraceGraph};
use memwall_sim::{Category, OpId, OpKind, OpRecord, Ps, StreamId, StreamInfo, Timeline};

/// Span and compute/communication overlap of one device, in picoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayDeviceMetrics {
    pub device: i64,
    pub span_ps: u64,
    pub comm_busy_ps: u64,
    pub compute_busy_ps: u64,
    pub hidden_ps: u64,
    pub exposed_ps: u64,
    /// Per communication category label (`ep-dispatch`...): (busy, exposed) against
    /// the compute union, ps.
    pub comm_by_category: BTreeMap<String, (u64, u64)>,
}

impl ReplayDeviceMetrics {
    pub fn hidden_fraction(&self) -> f64 {
        if self.comm_busy_ps == 0 {
            0.0
        } else {
            self.hidden_ps as f64 / self.comm_busy_ps as f64
        }
    }
}

/// For each executor op (index = op id), the trace op it replays, with its device and
/// class; `None` for ops the replay added (launch releases, host gaps, Engram lookups).
pub type OpOrigin = Vec<Option<(i64, OpClass)>>;

/// Measures span and overlap per device over the replayed trace ops.
pub fn measure(tl: &Timeline, origin: &OpOrigin) -> Vec<ReplayDeviceMetrics> {
    let mut per_dev: BTreeMap<i64, Vec<(&OpRecord, OpClass)>> = BTreeMap::new();
    for r in &tl.records {
        if !r.finished() {
            continue;
        }
        if let Some(Some((d, c))) = origin.get(r.id.0 as usize) {
            per_dev.entry(*d).or_default().push((r, *c));
        }
    }
    let iv = |v: &[(&OpRecord, OpClass)], f: &dyn Fn(OpClass) -> bool| {
        IntervalSet::from_intervals(
            v.iter()
                .filter(|(_, c)| f(*c))
                .map(|(r, _)| (r.start.0 as i64, r.end.0 as i64))
                .collect(),
        )
    };
    per_dev
        .into_iter()
        .map(|(device, v)| {
            let first = v.iter().map(|(r, _)| r.start.0).min().unwrap_or(0);
            let last = v.iter().map(|(r, _)| r.end.0).max().unwrap_or(0);
            let compute = iv(&v, &|c| c.is_compute_kernel());
            let comm = iv(&v, &|c| c.is_comm());
            let hidden = comm.intersection_total(&compute) as u64;
            let mut cats: Vec<OpClass> =
                v.iter().map(|(_, c)| *c).filter(|c| c.is_comm()).collect();
            cats.sort_unstable();
            cats.dedup();
            let comm_by_category = cats
                .into_iter()
                .map(|cat| {
                    let s = iv(&v, &|c| c == cat);
                    let busy = s.total() as u64;
                    let h = s.intersection_total(&compute) as u64;
                    let label = match cat {
                        OpClass::Communication(c) => c.label().to_string(),
                        other => other.label(),
                    };
                    (label, (busy, busy - h))
                })
                .collect();
            ReplayDeviceMetrics {
                device,
                span_ps: last - first,
                comm_busy_ps: comm.total() as u64,
                compute_busy_ps: compute.total() as u64,
                hidden_ps: hidden,
                exposed_ps: comm.total() as u64 - hidden,
                comm_by_category,
            }
        })
        .collect()
}

/// Executor category name and kind of a trace op class.
pub fn category_of(c: OpClass) -> (String, OpKind) {
    match c {
        OpClass::Communication(cat) => (cat.label().to_string(), OpKind::Communication),
        OpClass::Copy(_) | OpClass::Memset => (c.label(), OpKind::Memory),
        _ => (c.label(), OpKind::Compute),
    }
}

/// The recorded trace as a timeline (times relative to the first op, ps), with the same
/// stream naming as the replay, so both sides line up in Perfetto; plus its origin map.
pub fn original_timeline(
    g: &TraceGraph,
    main_streams: &BTreeMap<i64, i64>,
) -> (Timeline, OpOrigin) {
    let mut tl = Timeline::default();
    let t0 = g.ops.iter().map(|o| o.start_ns).min().unwrap_or(0);
    let mut origin = Vec::with_capacity(g.ops.len());
    for dev in &g.devices {
        for s in &dev.streams {
            let sid = StreamId(tl.streams.len() as u32);
            tl.streams.push(StreamInfo {
                name: stream_name(dev.device, s.stream),
                serial: true,
                compute: main_streams.get(&dev.device) == Some(&s.stream),
            });
            for &i in &s.ops {
                let op = &g.ops[i as usize];
                let (name, kind) = category_of(op.class);
                let cat = match tl.categories.iter().position(|c| c.name == name) {
                    Some(p) => p,
                    None => {
                        tl.categories.push(Category { name, kind });
                        tl.categories.len() - 1
                    }
                };
                let start = Ps(((op.start_ns - t0).max(0) as u64).saturating_mul(1000));
                let end = Ps(((op.end_ns() - t0).max(0) as u64).saturating_mul(1000));
                let id = OpId(tl.records.len() as u64);
                tl.records.push(OpRecord {
                    id,
                    stream: sid,
                    category: memwall_sim::CategoryId(cat as u16),
                    step: 0,
                    layer: 0,
                    ready: start,
                    start,
                    end,
                    blocker: None,
                    bytes: 0,
                    latency: Ps::ZERO,
                });
                origin.push(Some((dev.device, op.class)));
            }
        }
    }
    (tl, origin)
}

pub fn stream_name(device: i64, stream: i64) -> String {
    format!("gpu{device} stream {stream}")
}
