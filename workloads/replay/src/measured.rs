//! A trace as measurements of its own GPU ([`Measurements`]): what `memwall calibrate
//! --kineto` fits the op cost model to. Shaped kernels (recorded shapes, [`op_of`]) with
//! their de-contended device time, collectives with a recorded size and group, the CPU
//! cost of every launch call, and every kernel's duration.

use super::build::decontended_work;
use super::retime::{collective_of, comm_bytes_and_group};
use super::shapes::op_of;
use memwall_kineto::{OpClass, OpKind, TraceGraph};
use memwall_models::cost::{MeasuredCollective, MeasuredOp, Measurements};
use std::collections::BTreeSet;

/// The measurements of `g`, whose GPU has `sms` SMs (for the de-contention of kernels
/// that shared the GPU with communication kernels).
pub fn measurements(g: &TraceGraph, sms: Option<u32>) -> Measurements {
    let mut m = Measurements::default();
    let mut work = std::collections::BTreeMap::new();
    for dev in &g.devices {
        work.extend(decontended_work(g, dev.device, sms));
    }
    let mut launches = BTreeSet::new();
    for op in &g.ops {
        let ps = (op.dur_ns.max(0) as u64).saturating_mul(1000);
        if op.kind == OpKind::Kernel {
            m.kernels_ps.push(ps);
        }
        if let Some(l) = &op.launch {
            if launches.insert((l.thread, l.start_ns, l.graph)) {
                let cpu = (l.dur_ns.max(0) as u64).saturating_mul(1000);
                if l.graph {
                    m.graph_launches_ps.push(cpu);
                } else {
                    m.launches_ps.push(cpu);
                }
            }
        }
        if let OpClass::Communication(cat) = op.class {
            if let (Some(c), Some((bytes, ranks))) = (collective_of(cat), comm_bytes_and_group(op))
            {
                m.collectives.push(MeasuredCollective {
                    collective: c,
                    bytes,
                    ranks,
                    ps,
                });
            }
        } else if let Some(w) = op_of(g, op) {
            let ps = work.get(&op.id).copied().unwrap_or(ps);
            m.ops.push(MeasuredOp { op: w, ps });
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shaped_trace_gives_ops_and_launches() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/traces/tracelens-b200-vllm-prefill.json.gz"
        );
        let g = memwall_kineto::import_file(path).unwrap();
        let m = measurements(&g, Some(148));
        assert!(m.ops.len() > 100, "{} shaped kernels", m.ops.len());
        assert!(m.kernels_ps.len() > m.ops.len());
        assert!(!m.launches_ps.is_empty());
        assert!(m.ops.iter().all(|o| o.ps > 0));
    }
}
