//! A small fetch-behind-compute simulation, to sweep before (and beside) a full serving
//! scenario: every GPU of a node runs `layers` compute kernels per decode step, and before
//! each one it needs that layer's Engram rows, fetched through a tier
//! ([`memwall_models::tiers`]). Fetches are issued `prefetch_layers` layers ahead, never
//! across a step (the next step's tokens are not known before the step ends). All GPUs
//! contend for DRAM, switch uplinks and drives on the wired node. Rows are known by count
//! only (no hashing): see each tier for what that means (NVMe: one page per row, on the
//! GPU's drive).

use memwall_models::node::NodeModel;
use memwall_models::tiers::{
    Attach, FetchCategories, FetchCx, FetchRequest, FieldSource, Rows, TierConfig,
};
use memwall_models::{Registry, SystemSpec};
use memwall_sim::attribution::{attribute, Attribution};
use memwall_sim::{Executor, FlowNet, OpId, OpKind, OpSpec, Ps, StreamId, Timeline, Work};

pub use crate::error::FetchBenchError;

/// One bench: the system and what runs on it.
#[derive(Debug, Clone)]
pub struct FetchBench {
    pub system: SystemSpec,
    /// GPUs 0..gpus of the node run.
    pub gpus: usize,
    pub steps: u32,
    /// Engram layers per step, each one compute kernel behind its fetch.
    pub layers: u32,
    pub compute_per_layer: Ps,
    /// Tokens per GPU per step.
    pub tokens: u64,
    pub rows_per_token: u64,
    pub row_bytes: u64,
    pub prefetch_layers: u32,
    /// Drives used: the node's first `drives` (0: all).
    pub drives: usize,
    pub tier: TierConfig,
}

/// The simulated run.
#[derive(Debug, Clone)]
pub struct FetchBenchRun {
    pub timeline: Timeline,
    pub attribution: Attribution,
    pub events: u64,
}

/// Categories of the bench's ops: drive reads as `engram-nvme-read`, every transfer
/// that brings rows as `engram-fetch`.
const CATEGORIES: FetchCategories = FetchCategories {
    fetch: "engram-fetch",
    storage: "engram-nvme-read",
    storage_bus: "engram-fetch",
    cpu_gather: "engram-cpu-gather",
};

impl FetchBench {
    /// Rows each GPU fetches per layer.
    pub fn rows(&self) -> u64 {
        self.tokens * self.rows_per_token
    }

    /// The system as run: only the first `drives` drives, then the tier's changes.
    fn system(&self, reg: &Registry) -> Result<SystemSpec, FetchBenchError> {
        let mut sys = self.system.clone();
        if self.drives > 0 && self.drives < sys.node.drives.len() {
            sys.node.drives.truncate(self.drives);
            for sw in sys.node.switches.iter_mut() {
                sw.drives.retain(|&d| d < self.drives);
            }
        }
        let spec = self.tier.spec();
        spec.adjust_system(&mut sys, reg, &FieldSource::default())?;
        Ok(sys)
    }

    /// GPU `gpu`'s fetch of one layer's rows, after `after`.
    fn request(&self, sys: &SystemSpec, gpu: usize, after: Vec<OpId>) -> FetchRequest<'static> {
        FetchRequest {
            gpu,
            host_socket: sys.node.gpus[gpu].socket,
            rows: Rows::Count(self.rows()),
            row_bytes: self.row_bytes,
            after,
        }
    }

    /// Checks the tier against the system without running.
    pub fn check(&self, reg: &Registry) -> Result<(), FetchBenchError> {
        self.system(reg).map(|_| ())
    }

    /// Runs the bench.
    pub fn run(&self, reg: &Registry) -> Result<FetchBenchRun, FetchBenchError> {
        let sys = self.system(reg)?;
        let mut ex = Executor::new(FlowNet::new());
        let node = NodeModel::build(&sys.node, &mut ex, "")?;
        let compute = ex.category("compute", OpKind::Compute);
        ex.category(CATEGORIES.fetch, OpKind::Memory);
        ex.category(CATEGORIES.storage, OpKind::Storage);
        let streams: Vec<(StreamId, StreamId)> = (0..self.gpus)
            .map(|g| {
                (
                    ex.add_stream(format!("gpu{g}"), true, true),
                    ex.add_stream(format!("gpu{g}.engram"), false, false),
                )
            })
            .collect();
        let mut tier = self.tier.spec().attach(&mut Attach {
            ex: &mut ex,
            node: &node,
            gpus: self.gpus,
            row_bytes: self.row_bytes,
            system: &sys.name,
            src: &FieldSource::default(),
        })?;
        let (layers, p) = (self.layers as usize, self.prefetch_layers as usize);
        // Compute ops so far, per GPU, in order (step-major).
        let mut done: Vec<Vec<OpId>> =
            vec![Vec::with_capacity(self.steps as usize * layers); self.gpus];
        for s in 0..self.steps as usize {
            for l in 0..layers {
                let k = s * layers + l;
                for (g, &(cs, fs)) in streams.iter().enumerate() {
                    // Issued when compute k-p starts: after op k-p-1, never before the step.
                    let trig = (k as isize - p as isize - 1).max((s * layers) as isize - 1);
                    let after: Vec<OpId> = usize::try_from(trig)
                        .map(|t| vec![done[g][t]])
                        .unwrap_or_default();
                    let mut cx = FetchCx {
                        ex: &mut ex,
                        node: &node,
                        stream: fs,
                        categories: CATEGORIES,
                        at: (s as u32, l as u32),
                    };
                    let ready = tier.fetch(&mut cx, &self.request(&sys, g, after))?.last;
                    let op = ex.add_op(
                        OpSpec::new(cs, compute, Work::Delay(self.compute_per_layer))
                            .after([ready])
                            .at(s as u32, l as u32),
                    )?;
                    done[g].push(op);
                }
            }
        }
        ex.run()?;
        let events = ex.events_processed();
        let timeline = ex.into_timeline();
        let attribution = attribute(&timeline, (Ps::ZERO, timeline.makespan()));
        Ok(FetchBenchRun {
            timeline,
            attribution,
            events,
        })
    }
}
