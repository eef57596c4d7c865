//! Metrics measured on the original trace: the targets a replay must reproduce.
//!
//! Overlap follows traces.md §3.4: per device, comm = union of communication-kernel
//! intervals, compute = union of the other kernels' intervals (memcpy/memset excluded),
//! hidden = |comm ∩ compute|, exposed = |comm| − hidden. The same is computed for each
//! copy direction against compute.

use std::collections::BTreeMap;

use super::model::{CopyDir, DeviceTimeline, GpuOp, OpClass, OpKind, TraceGraph};

/// Union of half-open intervals `[start, end)`, sorted and merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntervalSet {
    spans: Vec<(i64, i64)>,
}

impl IntervalSet {
    pub fn from_intervals(mut v: Vec<(i64, i64)>) -> Self {
        v.retain(|(a, b)| b > a);
        v.sort_unstable();
        let mut spans: Vec<(i64, i64)> = Vec::with_capacity(v.len());
        for (a, b) in v {
            match spans.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => spans.push((a, b)),
            }
        }
        IntervalSet { spans }
    }

    pub fn total(&self) -> i64 {
        self.spans.iter().map(|(a, b)| b - a).sum()
    }

    /// |self ∩ other|.
    pub fn intersection_total(&self, other: &IntervalSet) -> i64 {
        let (mut i, mut j, mut t) = (0, 0, 0);
        while i < self.spans.len() && j < other.spans.len() {
            let (a0, a1) = self.spans[i];
            let (b0, b1) = other.spans[j];
            let lo = a0.max(b0);
            let hi = a1.min(b1);
            if hi > lo {
                t += hi - lo;
            }
            if a1 < b1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        t
    }

    pub fn spans(&self) -> &[(i64, i64)] {
        &self.spans
    }
}

/// Hidden/exposed split of one kind of traffic against compute.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Overlap {
    /// |union of the traffic's intervals|, ns.
    pub busy_ns: i64,
    /// |compute union|, ns.
    pub compute_ns: i64,
    /// |traffic ∩ compute|, ns.
    pub hidden_ns: i64,
    /// busy − hidden, ns.
    pub exposed_ns: i64,
}

impl Overlap {
    fn of(traffic: &IntervalSet, compute: &IntervalSet) -> Self {
        let busy = traffic.total();
        let hidden = traffic.intersection_total(compute);
        Overlap {
            busy_ns: busy,
            compute_ns: compute.total(),
            hidden_ns: hidden,
            exposed_ns: busy - hidden,
        }
    }
    /// hidden / busy, 0 when there is no traffic.
    pub fn hidden_fraction(&self) -> f64 {
        if self.busy_ns == 0 {
            0.0
        } else {
            self.hidden_ns as f64 / self.busy_ns as f64
        }
    }
}

/// Count and summed duration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub count: u64,
    pub total_ns: i64,
}

impl Tally {
    fn add(&mut self, dur: i64) {
        self.count += 1;
        self.total_ns += dur;
    }
}

/// One stream's busy time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamMetrics {
    pub stream: i64,
    pub ops: u64,
    /// |union of the stream's op intervals|, ns.
    pub busy_ns: i64,
}

/// Metrics of one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceMetrics {
    pub device: i64,
    /// First op start (kernels, memcpy, memset), absolute ns.
    pub first_start_ns: i64,
    /// Last op end, absolute ns.
    pub last_end_ns: i64,
    /// last_end − first_start.
    pub span_ns: i64,
    /// |union of all ops on all streams|.
    pub busy_ns: i64,
    pub streams: Vec<StreamMetrics>,
    /// Communication kernels vs compute kernels.
    pub comm_overlap: Overlap,
    /// Each copy direction vs compute kernels.
    pub copy_overlap: BTreeMap<CopyDir, Overlap>,
    /// Sum of op durations per class label (`gemm`, `comm:ep-dispatch`, `memcpy:D2D`...).
    pub by_class: BTreeMap<String, Tally>,
    /// Sum of op durations per phase label; ops without a phase under `""`.
    pub by_phase: BTreeMap<String, Tally>,
    /// Sum of op durations per (stream, phase).
    pub by_stream_phase: BTreeMap<(i64, String), Tally>,
}

/// Metrics of a whole trace.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TraceMetrics {
    pub devices: Vec<DeviceMetrics>,
}

impl TraceMetrics {
    pub fn device(&self, device: i64) -> Option<&DeviceMetrics> {
        self.devices.iter().find(|d| d.device == device)
    }
}

fn intervals<'a>(ops: impl Iterator<Item = &'a GpuOp>) -> IntervalSet {
    IntervalSet::from_intervals(ops.map(|o| (o.start_ns, o.end_ns())).collect())
}

/// Busy time per copy direction and its overlap with compute.
fn copy_overlap(dev_ops: &[&GpuOp], compute: &IntervalSet) -> BTreeMap<CopyDir, Overlap> {
    let mut dirs: Vec<CopyDir> = dev_ops
        .iter()
        .filter_map(|o| match o.kind {
            OpKind::Memcpy { dir, .. } => Some(dir),
            _ => None,
        })
        .collect();
    dirs.sort_unstable();
    dirs.dedup();
    dirs.into_iter()
        .map(|d| {
            let set = intervals(
                dev_ops
                    .iter()
                    .copied()
                    .filter(|o| matches!(o.class, OpClass::Copy(x) if x == d)),
            );
            (d, Overlap::of(&set, compute))
        })
        .collect()
}

/// Op count and time per class, per phase, and per (stream, phase).
type Tallies = (
    BTreeMap<String, Tally>,
    BTreeMap<String, Tally>,
    BTreeMap<(i64, String), Tally>,
);

impl TraceGraph {
    /// Measures span, busy time, overlap and per-class/per-phase totals per device.
    pub fn metrics(&self) -> TraceMetrics {
        TraceMetrics {
            devices: self
                .devices
                .iter()
                .filter_map(|d| self.device_metrics(d))
                .collect(),
        }
    }

    /// The metrics of one device; `None` if it has no ops.
    fn device_metrics(&self, dev: &DeviceTimeline) -> Option<DeviceMetrics> {
        let dev_ops: Vec<&GpuOp> = dev
            .streams
            .iter()
            .flat_map(|s| s.ops.iter().map(|&i| &self.ops[i as usize]))
            .collect();
        if dev_ops.is_empty() {
            return None;
        }
        let first = dev_ops.iter().map(|o| o.start_ns).min().unwrap_or(0);
        let last = dev_ops.iter().map(|o| o.end_ns()).max().unwrap_or(0);
        let streams = dev
            .streams
            .iter()
            .map(|s| StreamMetrics {
                stream: s.stream,
                ops: s.ops.len() as u64,
                busy_ns: intervals(s.ops.iter().map(|&i| &self.ops[i as usize])).total(),
            })
            .collect();
        let compute = intervals(
            dev_ops
                .iter()
                .copied()
                .filter(|o| o.class.is_compute_kernel()),
        );
        let comm = intervals(dev_ops.iter().copied().filter(|o| o.class.is_comm()));
        let (by_class, by_phase, by_stream_phase) = self.tallies(&dev_ops);
        Some(DeviceMetrics {
            device: dev.device,
            first_start_ns: first,
            last_end_ns: last,
            span_ns: last - first,
            busy_ns: intervals(dev_ops.iter().copied()).total(),
            streams,
            comm_overlap: Overlap::of(&comm, &compute),
            copy_overlap: copy_overlap(&dev_ops, &compute),
            by_class,
            by_phase,
            by_stream_phase,
        })
    }

    fn tallies(&self, dev_ops: &[&GpuOp]) -> Tallies {
        let mut by_class: BTreeMap<String, Tally> = BTreeMap::new();
        let mut by_phase: BTreeMap<String, Tally> = BTreeMap::new();
        let mut by_stream_phase: BTreeMap<(i64, String), Tally> = BTreeMap::new();
        for o in dev_ops {
            by_class.entry(o.class.label()).or_default().add(o.dur_ns);
            let p = self.phase_label(o).unwrap_or("").to_string();
            by_stream_phase
                .entry((o.stream, p.clone()))
                .or_default()
                .add(o.dur_ns);
            by_phase.entry(p).or_default().add(o.dur_ns);
        }
        (by_class, by_phase, by_stream_phase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_and_intersection() {
        let a = IntervalSet::from_intervals(vec![(0, 10), (5, 15), (20, 30)]);
        assert_eq!(a.spans(), &[(0, 15), (20, 30)]);
        assert_eq!(a.total(), 25);
        let b = IntervalSet::from_intervals(vec![(10, 25)]);
        assert_eq!(a.intersection_total(&b), 5 + 5);
        assert_eq!(Overlap::of(&b, &a).exposed_ns, 5);
    }
}
