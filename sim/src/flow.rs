//! Bandwidth resources shared max-min fairly among the flows that cross them.
//!
//! A flow moves a number of bytes over a path of one or more resources (links, DRAM
//! channels, switch uplinks). Every active flow gets its max-min fair rate (progressive
//! filling): the most contended resource is saturated first, its flows are frozen at its
//! fair share, and the rest share what is left. A flow may carry its own rate cap (one
//! DMA engine, one SM-limited kernel), and an op may *hold* part of a resource's capacity
//! (a communication kernel occupying SMs).
//!
//! # Incremental
//! When flows start or end, or a hold changes, only the rates that can change are
//! recomputed ([`solver`]): the progressive filling is replayed from the previous
//! solution, and only the resources whose inputs changed (and, transitively, those whose
//! flows then change rate) are filled again. Remaining work is settled lazily: a flow
//! keeps the time its rate was last set and the work left then. The result is the same,
//! to the unit, as filling every active flow from scratch (property-tested against the
//! full recompute kept in `flow/reference.rs`).
//!
//! # Exact arithmetic
//! Work is kept in `u128` units of `bytes * 1e12 * SCALE` and rates in
//! `bytes/s * SCALE`, where `SCALE = lcm(1..=16)`. Progress over `dt` picoseconds is then
//! `rate * dt` exactly, and a fair share `capacity / n` is exact for every `n <= 16` (and
//! every divisor of SCALE). So the closed forms hold to the picosecond: one flow of `b`
//! bytes on a link of capacity `c` takes `ceil(b * 1e12 / c)` ps; `n` equal flows take
//! `ceil(n * b * 1e12 / c)`.

mod completions;
mod solver;

#[cfg(test)]
mod reference;

use crate::time::{Ps, PS_PER_SEC};

/// lcm(1..=16): makes fair shares among up to 16 flows exact.
pub const SCALE: u128 = 720_720;

/// Index of a bandwidth resource.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceId(pub u32);

/// Index of an active flow (slots are reused after a flow completes).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlowId(pub u32);

#[derive(Clone, Debug)]
struct Resource {
    name: String,
    /// capacity in bytes/s * SCALE
    cap: u128,
    /// capacity currently held by ops (bytes/s * SCALE)
    held: u128,
    /// active flows crossing this resource
    flows: Vec<u32>,
    /// total bytes that have crossed this resource (for reports)
    bytes_done: u128,
    /// total bytes of the flows started over this resource (for the audit)
    bytes_started: u128,
    /// the solver's state for this resource
    fill: solver::ResFill,
}

/// Laid out for the solver, which visits every flow of each resource it fills again:
/// what it reads of each (the fill state and the rate) is the record's first cache line,
/// the cap and the path the second.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct Flow {
    /// the solver's state for this flow
    fill: solver::FlowFill,
    /// current rate, bytes/s * SCALE
    rate: u128,
    /// per-flow cap, bytes/s * SCALE (u128::MAX: none)
    cap: u128,
    /// resource indices, sorted and deduplicated
    path: Vec<u32>,
    /// remaining work at time `last`, bytes * 1e12 * SCALE
    remaining: u128,
    /// time (ps) at which `remaining` was last brought up to date
    last: u64,
    /// predicted finish time (ps) at the current rate; u64::MAX when stalled
    finish: u64,
    bytes: u64,
    owner: u64,
    live: bool,
}

const _: () = assert!(std::mem::offset_of!(Flow, rate) + 16 <= 64);

/// A flow that finished, returned by [`FlowNet::advance`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    pub flow: FlowId,
    pub owner: u64,
    pub bytes: u64,
}

/// The set of bandwidth resources and the flows in flight over them.
#[derive(Default, Clone, Debug)]
pub struct FlowNet {
    resources: Vec<Resource>,
    flows: Vec<Flow>,
    free: Vec<u32>,
    active: usize,
    /// predicted completions of the flows with a rate
    completions: completions::Completions,
    /// resources whose flows or holds changed since the last settle
    changed: Vec<u32>,
    solver: solver::Solver,
    now: Ps,
    /// test only: fill every flow from scratch with the reference solver
    #[cfg(test)]
    full_recompute: bool,
}

/// Errors from the flow network: a bad path or capacity is a modelling error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowError {
    EmptyPath,
    UnknownResource(ResourceId),
    ZeroCapacity(String),
    TooLarge(u64),
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowError::EmptyPath => write!(f, "a flow needs at least one resource on its path"),
            FlowError::UnknownResource(r) => write!(f, "unknown resource id {}", r.0),
            FlowError::ZeroCapacity(n) => {
                write!(
                    f,
                    "resource `{n}` has zero capacity: give it a bandwidth above 0 B/s"
                )
            }
            FlowError::TooLarge(b) => write!(f, "transfer of {b} bytes is too large to simulate"),
        }
    }
}
impl std::error::Error for FlowError {}

impl FlowNet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a resource with `capacity` bytes per second.
    pub fn add_resource(
        &mut self,
        name: impl Into<String>,
        capacity: u64,
    ) -> Result<ResourceId, FlowError> {
        let name = name.into();
        if capacity == 0 {
            return Err(FlowError::ZeroCapacity(name));
        }
        self.resources.push(Resource {
            name,
            cap: capacity as u128 * SCALE,
            held: 0,
            flows: Vec::new(),
            bytes_done: 0,
            bytes_started: 0,
            fill: solver::ResFill::default(),
        });
        Ok(ResourceId(self.resources.len() as u32 - 1))
    }

    pub fn resource_count(&self) -> usize {
        self.resources.len()
    }
    pub fn resource_name(&self, r: ResourceId) -> &str {
        &self.resources[r.0 as usize].name
    }
    /// Capacity in bytes per second.
    pub fn capacity(&self, r: ResourceId) -> u64 {
        (self.resources[r.0 as usize].cap / SCALE) as u64
    }
    /// Total bytes that have crossed `r` so far (flows count their bytes on every hop).
    pub fn bytes_through(&self, r: ResourceId) -> u128 {
        self.resources[r.0 as usize].bytes_done
    }
    pub fn active_flows(&self) -> usize {
        self.active
    }
    /// Whether a flow crosses `r` or part of its capacity is held.
    pub fn in_use(&self, r: ResourceId) -> bool {
        let res = &self.resources[r.0 as usize];
        !res.flows.is_empty() || res.held > 0
    }
    pub fn now(&self) -> Ps {
        self.now
    }

    fn check_path(&self, path: &[ResourceId]) -> Result<(), FlowError> {
        if path.is_empty() {
            return Err(FlowError::EmptyPath);
        }
        for r in path {
            if r.0 as usize >= self.resources.len() {
                return Err(FlowError::UnknownResource(*r));
            }
        }
        Ok(())
    }

    /// Start a flow of `bytes` over `path` at the current time. `rate_cap` (bytes/s)
    /// limits the flow on its own. Rates are recomputed at the next [`FlowNet::settle`].
    /// `owner` is returned when the flow finishes.
    pub fn start(
        &mut self,
        path: &[ResourceId],
        bytes: u64,
        rate_cap: Option<u64>,
        owner: u64,
    ) -> Result<FlowId, FlowError> {
        self.check_path(path)?;
        let remaining = (bytes as u128)
            .checked_mul(PS_PER_SEC as u128 * SCALE)
            .ok_or(FlowError::TooLarge(bytes))?;
        let id = match self.free.pop() {
            Some(i) => i,
            None => {
                self.flows.push(Flow {
                    path: Vec::new(),
                    remaining: 0,
                    rate: 0,
                    cap: u128::MAX,
                    bytes: 0,
                    owner: 0,
                    last: 0,
                    finish: u64::MAX,
                    live: false,
                    fill: solver::FlowFill::default(),
                });
                self.flows.len() as u32 - 1
            }
        };
        let f = &mut self.flows[id as usize];
        // Reuse the slot's path buffer: no allocation once the slots are warm.
        f.path.clear();
        f.path.extend(path.iter().map(|r| r.0));
        f.path.sort_unstable();
        f.path.dedup();
        f.remaining = remaining;
        f.rate = 0;
        f.cap = rate_cap.map_or(u128::MAX, |c| c.max(1) as u128 * SCALE);
        f.bytes = bytes;
        f.owner = owner;
        f.last = self.now.0;
        f.finish = u64::MAX;
        f.live = true;
        f.fill = solver::FlowFill::default();
        for &r in &f.path {
            let res = &mut self.resources[r as usize];
            res.flows.push(id);
            res.bytes_started += bytes as u128;
            self.changed.push(r);
        }
        self.active += 1;
        Ok(FlowId(id))
    }

    /// Hold `amount` bytes/s of `r`'s capacity (e.g. SMs taken by a communication kernel)
    /// until [`FlowNet::release`]. Holding more than the capacity leaves a trickle of 1 B/s
    /// so flows still finish.
    pub fn hold(&mut self, r: ResourceId, amount: u64) -> Result<(), FlowError> {
        self.check_path(&[r])?;
        self.resources[r.0 as usize].held += amount as u128 * SCALE;
        self.changed.push(r.0);
        Ok(())
    }

    pub fn release(&mut self, r: ResourceId, amount: u64) -> Result<(), FlowError> {
        self.check_path(&[r])?;
        let res = &mut self.resources[r.0 as usize];
        res.held = res.held.saturating_sub(amount as u128 * SCALE);
        self.changed.push(r.0);
        Ok(())
    }

    /// Current rate of a flow, bytes/s (rounded down).
    pub fn rate(&self, f: FlowId) -> u64 {
        (self.flows[f.0 as usize].rate / SCALE) as u64
    }

    /// Sum of current rates over `r`, and its usable capacity, both in bytes/s * SCALE.
    /// For invariant checks: the first never exceeds the second.
    pub fn load(&self, r: ResourceId) -> (u128, u128) {
        let res = &self.resources[r.0 as usize];
        let used: u128 = res.flows.iter().map(|&f| self.flows[f as usize].rate).sum();
        (used, usable(res))
    }

    /// Move time forward to `t`, and return the flows that finished by then. Call
    /// [`FlowNet::settle`] afterwards to recompute rates.
    pub fn advance(&mut self, t: Ps, out: &mut Vec<Finished>) {
        debug_assert!(t >= self.now);
        self.now = t;
        while let Some((finish, id)) = self.completions.peek() {
            if finish > t.0 {
                break;
            }
            self.end_flow(id, out);
        }
    }

    fn end_flow(&mut self, id: u32, out: &mut Vec<Finished>) {
        let f = &mut self.flows[id as usize];
        f.remaining = 0;
        f.live = false;
        self.completions.remove(id);
        out.push(Finished {
            flow: FlowId(id),
            owner: f.owner,
            bytes: f.bytes,
        });
        let bytes = f.bytes as u128;
        for &r in &f.path {
            let res = &mut self.resources[r as usize];
            res.bytes_done += bytes;
            if let Some(pos) = res.flows.iter().position(|&x| x == id) {
                res.flows.swap_remove(pos);
            }
            self.changed.push(r);
        }
        self.active -= 1;
        self.free.push(id);
    }

    /// Recompute max-min fair rates if any flow or hold changed since the last call, and
    /// return the time at which the next flow will finish (None when idle).
    pub fn settle(&mut self) -> Option<Ps> {
        if !self.changed.is_empty() {
            self.refill();
        }
        if crate::audit::on() {
            self.audit();
        }
        self.next_completion()
    }

    /// The audit's checks ([`crate::audit`]): no resource over its usable capacity; when
    /// idle, every byte started over a resource has crossed it.
    fn audit(&self) {
        for (i, res) in self.resources.iter().enumerate() {
            let (used, usable) = self.load(ResourceId(i as u32));
            if used > usable {
                crate::audit::fail(|| {
                    format!(
                        "resource `{}` over capacity at {} ps: {used} > {usable} (bytes/s x {SCALE})",
                        res.name, self.now.0
                    )
                });
            }
            if self.active == 0 && res.bytes_started != res.bytes_done {
                crate::audit::fail(|| {
                    format!(
                        "resource `{}` idle at {} ps but {} bytes started over it and {} crossed",
                        res.name, self.now.0, res.bytes_started, res.bytes_done
                    )
                });
            }
        }
    }

    #[cfg(not(test))]
    fn refill(&mut self) {
        self.refill_incremental();
    }

    #[cfg(test)]
    fn refill(&mut self) {
        if self.full_recompute {
            self.changed.clear();
            for (id, rate) in reference::rates(self) {
                self.set_rate(id, rate);
            }
        } else {
            self.refill_incremental();
        }
    }

    fn next_completion(&self) -> Option<Ps> {
        self.completions.peek().map(|(finish, _)| Ps(finish))
    }

    /// Give a flow a new rate: bring its remaining work up to date at the old rate, then
    /// predict its finish at the new one. Nothing changes when the rate does not.
    fn set_rate(&mut self, id: u32, rate: u128) {
        let now = self.now.0;
        let f = &mut self.flows[id as usize];
        if f.rate == rate && f.finish != u64::MAX {
            return;
        }
        let dt = (now - f.last) as u128;
        f.remaining = f.remaining.saturating_sub(mul_sat(f.rate, dt));
        f.last = now;
        f.rate = rate;
        let finish = finish_time(now, f.remaining, rate);
        if finish != f.finish {
            f.finish = finish;
            if finish == u64::MAX {
                self.completions.remove(id);
            } else {
                self.completions.set(id, finish);
            }
        }
    }
}

/// `now + ceil(remaining / rate)`, exactly, without a slow u128 division in the common
/// case: an f64 estimate corrected by exact integer steps.
fn finish_time(now: u64, remaining: u128, rate: u128) -> u64 {
    if remaining == 0 {
        return now;
    }
    if rate == 0 {
        return u64::MAX;
    }
    let est = approx_f64(remaining) / approx_f64(rate);
    let t = if rate >> 64 == 0 && (0.0..9.0e18).contains(&est) {
        // Truncated, not rounded up: `ceil` is a library call on baseline x86-64, and
        // the signed conversion is one instruction where the unsigned one is several.
        corrected(remaining, rate as u64 as u128, est as i64 as u128)
    } else {
        None
    };
    let t = t.unwrap_or_else(|| remaining.div_ceil(rate));
    now.saturating_add(u64::try_from(t).unwrap_or(u64::MAX))
}

/// The least `t` with `rate * t >= remaining`, from an estimate `t` a few steps off
/// (both factors below 2^64, so every product is exact in u128); None when the estimate
/// is further off than that.
fn corrected(remaining: u128, rate: u128, mut t: u128) -> Option<u128> {
    let mut p = rate * t;
    let mut steps = 0;
    while p < remaining {
        p += rate;
        t += 1;
        steps += 1;
        if steps > 4 {
            return None;
        }
    }
    while t > 0 && p - rate >= remaining {
        p -= rate;
        t -= 1;
        steps += 1;
        if steps > 8 {
            return None;
        }
    }
    Some(t)
}

/// `a * b`, saturating; one 64-bit multiply when both fit in 64 bits (the common case:
/// rates below 2^64 units, times below 2^64 ps), with no overflow check.
fn mul_sat(a: u128, b: u128) -> u128 {
    if (a | b) >> 64 == 0 {
        (a as u64 as u128) * (b as u64 as u128)
    } else {
        a.saturating_mul(b)
    }
}

/// `x` as f64, approximately (two signed conversions, one instruction each: cheaper
/// than the u128 one; the caller corrects the estimate exactly).
fn approx_f64(x: u128) -> f64 {
    const TWO_64: f64 = 18_446_744_073_709_551_616.0;
    ((x >> 64) as u64 as i64 as f64) * TWO_64 + ((x as u64 >> 1) as i64 as f64) * 2.0
}

fn usable(res: &Resource) -> u128 {
    // A fully held resource still trickles at 1 B/s so that flows end.
    res.cap.saturating_sub(res.held).max(SCALE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(net: &mut FlowNet) -> Vec<(u64, Ps)> {
        let mut done = Vec::new();
        let mut out = Vec::new();
        while let Some(t) = net.settle() {
            net.advance(t, &mut out);
            for f in out.drain(..) {
                done.push((f.owner, t));
            }
        }
        done.sort();
        done
    }

    #[test]
    fn one_flow_costs_bytes_over_bandwidth() {
        let mut n = FlowNet::new();
        let l = n.add_resource("link", 3_000_000_000).unwrap();
        n.start(&[l], 1_000_000, None, 7).unwrap();
        let d = run(&mut n);
        assert_eq!(
            d,
            vec![(7, Ps::transfer_time(1_000_000, 3_000_000_000).unwrap())]
        );
    }

    #[test]
    fn n_equal_flows_take_n_times_as_long() {
        for k in 1..=16u64 {
            let mut n = FlowNet::new();
            let l = n.add_resource("link", 55_400_000_000).unwrap();
            for i in 0..k {
                n.start(&[l], 12_345_678, None, i).unwrap();
            }
            let d = run(&mut n);
            let want = Ps(
                (12_345_678u128 * k as u128 * 1_000_000_000_000).div_ceil(55_400_000_000) as u64,
            );
            assert!(
                d.iter().all(|&(_, t)| t == want),
                "k={k}: {d:?} want {want:?}"
            );
        }
    }

    #[test]
    fn two_hop_flow_gets_bottleneck_share() {
        let mut n = FlowNet::new();
        let a = n.add_resource("a", 100).unwrap();
        let b = n.add_resource("b", 40).unwrap();
        let f = n.start(&[a, b], 1000, None, 0).unwrap();
        let g = n.start(&[a], 1000, None, 1).unwrap();
        n.settle();
        assert_eq!(n.rate(f), 40);
        assert_eq!(n.rate(g), 60);
    }

    #[test]
    fn rate_cap_and_hold() {
        let mut n = FlowNet::new();
        let a = n.add_resource("a", 100).unwrap();
        let f = n.start(&[a], 1000, Some(10), 0).unwrap();
        let g = n.start(&[a], 1000, None, 1).unwrap();
        n.settle();
        assert_eq!((n.rate(f), n.rate(g)), (10, 90));
        n.hold(a, 50).unwrap();
        n.settle();
        assert_eq!((n.rate(f), n.rate(g)), (10, 40));
        n.release(a, 50).unwrap();
        n.settle();
        assert_eq!(n.rate(g), 90);
    }

    proptest::proptest! {
        /// The f64 estimate with exact correction is `now + ceil(remaining / rate)`,
        /// saturating, over the whole range of work and rates (wide rates take the
        /// division).
        #[test]
        fn finish_time_is_the_exact_ceiling(
            now in 0u64..1 << 50,
            remaining in proptest::prop_oneof![0u128..1 << 20, 0u128..1 << 90, proptest::num::u128::ANY],
            rate in proptest::prop_oneof![1u128..1 << 20, 1u128..1 << 64, 1u128..u128::MAX],
        ) {
            let want = u64::try_from(remaining.div_ceil(rate))
                .map_or(u64::MAX, |t| now.saturating_add(t));
            proptest::prop_assert_eq!(finish_time(now, remaining, rate), want);
            proptest::prop_assert_eq!(finish_time(now, remaining, 0), if remaining == 0 { now } else { u64::MAX });
        }
    }

    #[test]
    fn errors_not_panics() {
        let mut n = FlowNet::new();
        assert!(n.add_resource("z", 0).is_err());
        assert!(n.start(&[], 1, None, 0).is_err());
        assert!(n.start(&[ResourceId(3)], 1, None, 0).is_err());
    }

    #[test]
    fn the_audit_passes_a_sound_run_and_names_lost_bytes() {
        crate::audit::enable(true);
        let mut n = FlowNet::new();
        let a = n.add_resource("a", 1_000_000_000).unwrap();
        let b = n.add_resource("b", 300_000_000).unwrap();
        for k in 0..5 {
            n.start(&[a, b], 1_000 * (k + 1), None, k).unwrap();
        }
        n.hold(b, 100_000_000).unwrap();
        run(&mut n);
        assert_eq!(crate::audit::take_failure(), None);
        n.start(&[a], 10, None, 9).unwrap();
        n.resources[a.0 as usize].bytes_started += 1;
        run(&mut n);
        crate::audit::enable(false);
        let e = crate::audit::take_failure().unwrap();
        assert!(
            e.contains("`a` idle") && e.contains("15011 bytes started"),
            "{e}"
        );
    }
}
