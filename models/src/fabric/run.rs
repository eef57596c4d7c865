//! Running one phase of transfers on a [`ClusterFabric`]: every transfer a flow that
//! starts after its route's latency, max-min fair over the wired links, until the last
//! one lands; then how busy each kind of link was.

use super::{ClusterFabric, FabricError, ResClass, Route};
use memwall_sim::flow::Finished;
use memwall_sim::{Ps, ResourceId, PS_PER_SEC};

/// One transfer: bytes over a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub route: Route,
    pub bytes: u64,
}

/// The busiest resource of one class over a phase.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassLoad {
    pub class: ResClass,
    /// The busiest resource's name.
    pub resource: String,
    /// Bytes it carried over the phase over what its capacity allows in that time.
    pub utilisation: f64,
    /// Bytes carried by every resource of the class.
    pub bytes: u128,
}

/// What one phase took.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseResult {
    /// First start to last landing.
    pub time: Ps,
    /// Flows run (transfers with bytes).
    pub flows: usize,
    /// Times the flow network was advanced (distinct start and finish instants).
    pub events: u64,
    /// Busiest resource per class, busiest class first.
    pub loads: Vec<ClassLoad>,
}

impl PhaseResult {
    /// The busiest class: the bottleneck.
    pub fn bottleneck(&self) -> Option<&ClassLoad> {
        self.loads.first()
    }
}

impl ClusterFabric {
    /// Runs `transfers` from the network's current time until all have landed.
    pub fn run_phase(&mut self, transfers: &[Transfer]) -> Result<PhaseResult, FabricError> {
        let before: Vec<u128> = (0..self.net.resource_count())
            .map(|r| self.net.bytes_through(ResourceId(r as u32)))
            .collect();
        let mut order: Vec<usize> = (0..transfers.len())
            .filter(|&i| transfers[i].bytes > 0)
            .collect();
        order.sort_by_key(|&i| (transfers[i].route.latency, i));
        let t0 = self.net.now();
        let mut next = 0;
        let mut events = 0u64;
        let mut done: Vec<Finished> = Vec::new();
        loop {
            while let Some(&i) = order.get(next) {
                if t0 + transfers[i].route.latency > self.net.now() {
                    break;
                }
                let t = &transfers[i];
                self.net
                    .start(&t.route.resources, t.bytes, None, i as u64)?;
                next += 1;
            }
            let finish = self.net.settle();
            let start = order.get(next).map(|&i| t0 + transfers[i].route.latency);
            let at = match (finish, start) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => break,
            };
            self.net.advance(at, &mut done);
            done.clear();
            events += 1;
        }
        let time = self.net.now() - t0;
        Ok(PhaseResult {
            time,
            flows: order.len(),
            events,
            loads: self.loads(&before, time),
        })
    }

    /// Busiest resource per class over `time`, from bytes carried since `before`.
    fn loads(&self, before: &[u128], time: Ps) -> Vec<ClassLoad> {
        let mut out: Vec<ClassLoad> = Vec::new();
        for (r, &b0) in before.iter().enumerate() {
            let id = ResourceId(r as u32);
            let bytes = self.net.bytes_through(id) - b0;
            let cap = self.net.capacity(id) as u128 * time.0 as u128;
            let u = if cap == 0 {
                0.0
            } else {
                (bytes * PS_PER_SEC as u128) as f64 / cap as f64
            };
            let class = self.class(id);
            match out.iter_mut().find(|l| l.class == class) {
                Some(l) => {
                    l.bytes += bytes;
                    if u > l.utilisation {
                        l.utilisation = u;
                        l.resource = self.net.resource_name(id).to_string();
                    }
                }
                None => out.push(ClassLoad {
                    class,
                    resource: self.net.resource_name(id).to_string(),
                    utilisation: u,
                    bytes,
                }),
            }
        }
        out.retain(|l| l.bytes > 0);
        out.sort_by(|a, b| {
            b.utilisation
                .total_cmp(&a.utilisation)
                .then(a.class.cmp(&b.class))
        });
        out
    }
}
