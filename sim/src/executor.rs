//! The op-graph executor.
//!
//! Ops sit on streams; each waits for its dependencies, and on a serial stream also for
//! the op before it. When it can run it does its work — a fixed delay, flows over
//! bandwidth resources, or requests to a queue server — and the executor records when it
//! became ready, started and ended, and which dependency released it last.
//!
//! Ops may be added while the simulation runs (a serving loop adds the next step's ops
//! as it goes), and finished ops may be forgotten so that memory stays flat however long
//! the run.

use crate::flow::{Finished, FlowError, FlowNet, ResourceId};
use crate::queue::EventQueue;
use crate::storage::{Issue, QueueServer, QueueSpec, ServerId};
use crate::time::{Ps, TimeOverflow};
use crate::timeline::{
    Category, CategoryId, OpId, OpKind, OpRecord, StreamId, StreamInfo, Timeline,
};
use std::collections::VecDeque;
use std::sync::Arc;

/// One flow of a transfer op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlowSpec {
    pub path: Vec<ResourceId>,
    pub bytes: u64,
    /// Bytes per second this flow can reach on its own (one DMA engine, a kernel's SMs).
    pub rate_cap: Option<u64>,
}

/// What an op does once it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Work {
    /// A fixed duration, e.g. a kernel whose time the workload computed.
    Delay(Ps),
    /// Fixed latency, then all flows in parallel; the op ends when the last one does.
    Transfer { latency: Ps, flows: Vec<FlowSpec> },
    /// A transfer whose flow list is shared with other ops (one routed pattern that many
    /// ops repeat, e.g. an all-to-all of the same group and layer in every micro-batch):
    /// each op holds one pointer, not its own paths. Runs exactly as `Transfer`.
    SharedTransfer { latency: Ps, flows: Arc<[FlowSpec]> },
    /// A transfer of one uncapped flow of `bytes` over `resource` alone per entry (e.g.
    /// each GPU's port of a non-blocking switch in an all-to-all): runs exactly as the
    /// `Transfer` of those one-hop flows, without a path list per flow.
    Links {
        latency: Ps,
        flows: Vec<(ResourceId, u64)>,
    },
    /// As `Links`, over resources that nothing else uses while it runs (each GPU's port
    /// of a non-blocking switch that only this all-to-all crosses): each entry takes
    /// `ceil(bytes x 1e12 / capacity)` ps after `latency`, what the flow network gives a
    /// lone uncapped flow, computed here without entering the network, and the op ends
    /// with its slowest entry. When one of its resources is in use as it starts (or it
    /// names one twice) it runs through the network as `Links`, exactly. A flow or hold
    /// over one of its resources before that entry ends is [`SimError::Contended`].
    Dedicated {
        latency: Ps,
        flows: Vec<(ResourceId, u64)>,
    },
    /// `requests` requests of `bytes_per_request` to a queue server; ends with the last.
    Storage {
        server: ServerId,
        requests: u32,
        bytes_per_request: u64,
    },
    /// Zero work: a synchronisation point.
    Marker,
}

impl Work {
    /// The latency and flows of a transfer (own or shared); `None` for other work.
    pub fn transfer(&self) -> Option<(Ps, &[FlowSpec])> {
        match self {
            Work::Transfer { latency, flows } => Some((*latency, flows)),
            Work::SharedTransfer { latency, flows } => Some((*latency, flows)),
            _ => None,
        }
    }

    /// A transfer of one flow of `bytes` over `path` after `latency`, optionally capped.
    pub fn flow(latency: Ps, path: Vec<ResourceId>, bytes: u64, rate_cap: Option<u64>) -> Work {
        Work::Transfer {
            latency,
            flows: vec![FlowSpec {
                path,
                bytes,
                rate_cap,
            }],
        }
    }
}

/// An op to add to the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpSpec {
    pub stream: StreamId,
    pub category: CategoryId,
    pub deps: Vec<OpId>,
    pub work: Work,
    /// Resource capacity held while the op runs (bytes/s of that resource's unit).
    pub holds: Vec<(ResourceId, u64)>,
    pub step: u32,
    pub layer: u32,
}

impl OpSpec {
    pub fn new(stream: StreamId, category: CategoryId, work: Work) -> Self {
        OpSpec {
            stream,
            category,
            deps: Vec::new(),
            work,
            holds: Vec::new(),
            step: 0,
            layer: 0,
        }
    }
    pub fn after(mut self, deps: impl IntoIterator<Item = OpId>) -> Self {
        self.deps.extend(deps);
        self
    }
    pub fn at(mut self, step: u32, layer: u32) -> Self {
        self.step = step;
        self.layer = layer;
        self
    }
    pub fn holding(mut self, r: ResourceId, amount: u64) -> Self {
        self.holds.push((r, amount));
        self
    }
}

/// Errors from building or running a graph. All are modelling errors with a message that
/// says what to fix; none is a panic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimError {
    UnknownStream(StreamId),
    UnknownCategory(CategoryId),
    UnknownServer(ServerId),
    /// A dependency that does not exist yet (deps must be added before their dependents).
    UnknownDep {
        op: u64,
        dep: OpId,
    },
    /// A dependency that was forgotten before it finished.
    ForgottenDep {
        dep: OpId,
    },
    Flow(FlowError),
    Time(TimeOverflow),
    Server(String),
    /// A flow or hold over a resource while a `Work::Dedicated` op runs over it alone.
    Contended {
        resource: ResourceId,
        at: Ps,
        until: Ps,
    },
}

impl std::fmt::Display for SimError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SimError::UnknownStream(s) => write!(f, "unknown stream id {}", s.0),
            SimError::UnknownCategory(c) => write!(f, "unknown category id {}", c.0),
            SimError::UnknownServer(s) => write!(f, "unknown queue server id {}", s.0),
            SimError::UnknownDep { op, dep } => write!(
                f,
                "op {op} depends on op {} which has not been added: add dependencies first",
                dep.0
            ),
            SimError::ForgottenDep { dep } => {
                write!(
                    f,
                    "op depends on op {} which was forgotten before it finished",
                    dep.0
                )
            }
            SimError::Flow(e) => write!(f, "{e}"),
            SimError::Time(e) => write!(f, "{e}"),
            SimError::Server(e) => write!(f, "{e}"),
            SimError::Contended {
                resource,
                at,
                until,
            } => write!(
                f,
                "a flow or hold over resource {} at {} ps, while a dedicated transfer runs \
                 over it alone until {} ps: use Work::Links where other ops share the resource",
                resource.0, at.0, until.0
            ),
        }
    }
}
impl std::error::Error for SimError {}
impl From<FlowError> for SimError {
    fn from(e: FlowError) -> Self {
        SimError::Flow(e)
    }
}
impl From<TimeOverflow> for SimError {
    fn from(e: TimeOverflow) -> Self {
        SimError::Time(e)
    }
}

/// Adds `bytes` to category `c` on every distinct resource of `path`.
fn count_bytes(m: &mut Vec<Vec<u128>>, c: usize, path: &[ResourceId], bytes: u64) {
    if m.len() <= c {
        m.resize(c + 1, Vec::new());
    }
    let row = &mut m[c];
    for (k, r) in path.iter().enumerate() {
        if path[..k].contains(r) {
            continue;
        }
        let ri = r.0 as usize;
        if row.len() <= ri {
            row.resize(ri + 1, 0);
        }
        row[ri] += bytes as u128;
    }
}

/// An error when a `Work::Dedicated` entry still runs over a resource of `path` at `now`.
fn uncontended(reserved: &[Ps], path: &[ResourceId], now: Ps) -> Result<(), SimError> {
    for r in path {
        if let Some(&until) = reserved.get(r.0 as usize).filter(|&&u| u > now) {
            return Err(SimError::Contended {
                resource: *r,
                at: now,
                until,
            });
        }
    }
    Ok(())
}

#[derive(Clone, Copy, Debug)]
enum Event {
    /// Re-check the flow network (stale ones are skipped by generation).
    FlowWake(u64),
    /// An op's fixed part (delay or latency) is over.
    Timer(u64),
    /// A queue server may issue again.
    ServerWake(u32),
    /// One storage request of an op completed on a server.
    RequestDone(u64, u32),
    /// An op became startable (deps done, stream free) at this time.
    Start(u64),
    /// A `Work::Dedicated` op's slowest entry is over.
    Dedicated(u64),
}

/// What the executor keeps of a live op: its spec less the dependency list (read once,
/// when the op is added) and the record's fields (kept in the timeline).
#[derive(Clone, Debug)]
struct OpRun {
    stream: StreamId,
    category: CategoryId,
    work: Work,
    holds: Vec<(ResourceId, u64)>,
    pending: u32,
    /// The ops waiting for this one: a list in [`Edges`] (first and last link).
    dependents: (u32, u32),
    /// outstanding flows or storage requests
    outstanding: u32,
    started: bool,
    done: bool,
    /// latest-ending dependency so far (id, end)
    last_dep: Option<(OpId, Ps)>,
}

/// No link.
const NIL: u32 = u32::MAX;

/// Every live op's dependents as linked lists in one slab: a link is the dependent's id
/// and the next link. Links of finished ops are reused, so the slab stays as large as the
/// most edges live at once, and adding an op allocates nothing once it has grown.
#[derive(Clone, Debug, Default)]
struct Edges {
    links: Vec<(u64, u32)>,
    free: Vec<u32>,
}

impl Edges {
    /// Appends `op` to the list `list` (kept in insertion order).
    fn push(&mut self, list: &mut (u32, u32), op: u64) {
        let at = match self.free.pop() {
            Some(i) => {
                self.links[i as usize] = (op, NIL);
                i
            }
            None => {
                self.links.push((op, NIL));
                self.links.len() as u32 - 1
            }
        };
        match list.1 {
            NIL => list.0 = at,
            last => self.links[last as usize].1 = at,
        }
        list.1 = at;
    }

    /// Takes the first entry of the list starting at `*head`, freeing its link.
    fn pop(&mut self, head: &mut u32) -> Option<u64> {
        if *head == NIL {
            return None;
        }
        let (op, next) = self.links[*head as usize];
        self.free.push(*head);
        *head = next;
        Some(op)
    }
}

#[derive(Clone, Debug, Default)]
struct StreamRun {
    queue: VecDeque<u64>,
    running: Option<u64>,
    last: Option<(OpId, Ps)>,
}

/// The executor: owns the event queue, the flow network, queue servers and the timeline.
pub struct Executor {
    q: EventQueue<Event>,
    net: FlowNet,
    servers: Vec<QueueServer>,
    streams: Vec<StreamRun>,
    ops: VecDeque<OpRun>,
    edges: Edges,
    timeline: Timeline,
    flow_gen: u64,
    flow_wake: Option<Ps>,
    finished: Vec<Finished>,
    issues: Vec<Issue>,
    unfinished: u64,
    /// Bytes started per category and resource, `[category][resource]` (each flow's
    /// bytes once on every distinct resource of its path, as the flow network counts).
    category_bytes: Vec<Vec<u128>>,
    /// Per resource: until when a `Work::Dedicated` entry runs over it alone.
    reserved: Vec<Ps>,
    /// Per resource: bytes that `Work::Dedicated` entries moved over it.
    dedicated_bytes: Vec<u128>,
}

impl Executor {
    /// An executor over a wired flow network.
    pub fn new(net: FlowNet) -> Self {
        Executor {
            q: EventQueue::with_capacity(1024),
            net,
            servers: Vec::new(),
            streams: Vec::new(),
            ops: VecDeque::new(),
            edges: Edges::default(),
            timeline: Timeline::default(),
            flow_gen: 0,
            flow_wake: None,
            finished: Vec::new(),
            issues: Vec::new(),
            unfinished: 0,
            category_bytes: Vec::new(),
            reserved: Vec::new(),
            dedicated_bytes: Vec::new(),
        }
    }

    pub fn net(&self) -> &FlowNet {
        &self.net
    }
    pub fn net_mut(&mut self) -> &mut FlowNet {
        &mut self.net
    }
    pub fn now(&self) -> Ps {
        self.q.now()
    }
    pub fn events_processed(&self) -> u64 {
        self.q.events_processed()
    }
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }
    pub fn into_timeline(self) -> Timeline {
        self.timeline
    }
    /// Ops added but not finished.
    pub fn unfinished(&self) -> u64 {
        self.unfinished
    }
    /// The id the next added op will get.
    pub fn next_op_id(&self) -> OpId {
        OpId(self.timeline.base + self.ops.len() as u64)
    }
    /// Bytes that ops of category `c` have started over resource `r` so far (every
    /// flow's bytes once per distinct resource of its path). Once the network is idle,
    /// the sum over categories equals [`FlowNet::bytes_through`] for every resource.
    pub fn category_bytes(&self, c: CategoryId, r: ResourceId) -> u128 {
        self.category_bytes
            .get(c.0 as usize)
            .and_then(|v| v.get(r.0 as usize))
            .copied()
            .unwrap_or(0)
    }

    /// Total bytes that have crossed `r` so far: [`FlowNet::bytes_through`] and what
    /// `Work::Dedicated` ops moved over it (counted when each op ends).
    pub fn bytes_through(&self, r: ResourceId) -> u128 {
        let own = self.dedicated_bytes.get(r.0 as usize).copied().unwrap_or(0);
        self.net.bytes_through(r) + own
    }

    /// Requests issued and bytes served by a queue server so far.
    pub fn server_stats(&self, s: ServerId) -> Option<(u64, u128)> {
        self.servers.get(s.0 as usize).map(|x| (x.issued, x.bytes))
    }

    pub fn add_server(&mut self, spec: QueueSpec) -> Result<ServerId, SimError> {
        let s = QueueServer::new(spec).map_err(SimError::Server)?;
        self.servers.push(s);
        Ok(ServerId(self.servers.len() as u32 - 1))
    }

    pub fn add_stream(&mut self, name: impl Into<String>, serial: bool, compute: bool) -> StreamId {
        self.timeline.streams.push(StreamInfo {
            name: name.into(),
            serial,
            compute,
        });
        self.streams.push(StreamRun::default());
        StreamId(self.streams.len() as u32 - 1)
    }

    /// Register a category, or return the existing one with that name.
    pub fn category(&mut self, name: &str, kind: OpKind) -> CategoryId {
        if let Some(i) = self.timeline.categories.iter().position(|c| c.name == name) {
            return CategoryId(i as u16);
        }
        self.timeline.categories.push(Category {
            name: name.to_string(),
            kind,
        });
        CategoryId(self.timeline.categories.len() as u16 - 1)
    }

    fn slot(&self, id: u64) -> Option<usize> {
        id.checked_sub(self.timeline.base)
            .map(|i| i as usize)
            .filter(|&i| i < self.ops.len())
    }

    /// Checks that everything `spec` names exists and its dependencies come before `id`.
    fn check(&self, spec: &OpSpec, id: OpId) -> Result<(), SimError> {
        if spec.stream.0 as usize >= self.streams.len() {
            return Err(SimError::UnknownStream(spec.stream));
        }
        if spec.category.0 as usize >= self.timeline.categories.len() {
            return Err(SimError::UnknownCategory(spec.category));
        }
        let unknown = |r: &ResourceId| r.0 as usize >= self.net.resource_count();
        if let Some((r, _)) = spec.holds.iter().find(|h| unknown(&h.0)) {
            return Err(SimError::Flow(FlowError::UnknownResource(*r)));
        }
        for f in spec.work.transfer().map_or(&[][..], |t| t.1) {
            if f.path.is_empty() {
                return Err(SimError::Flow(FlowError::EmptyPath));
            }
            if let Some(r) = f.path.iter().find(|r| unknown(r)) {
                return Err(SimError::Flow(FlowError::UnknownResource(*r)));
            }
        }
        if let Work::Links { flows, .. } | Work::Dedicated { flows, .. } = &spec.work {
            if let Some((r, _)) = flows.iter().find(|f| unknown(&f.0)) {
                return Err(SimError::Flow(FlowError::UnknownResource(*r)));
            }
        }
        if let Work::Storage { server, .. } = &spec.work {
            if server.0 as usize >= self.servers.len() {
                return Err(SimError::UnknownServer(*server));
            }
        }
        match spec.deps.iter().find(|d| d.0 >= id.0) {
            Some(&dep) => Err(SimError::UnknownDep { op: id.0, dep }),
            None => Ok(()),
        }
    }

    /// Add an op. Its dependencies must already exist. It may start at once (at the
    /// current simulated time) if nothing holds it back.
    pub fn add_op(&mut self, spec: OpSpec) -> Result<OpId, SimError> {
        let id = self.next_op_id();
        self.check(&spec, id)?;
        // Dependencies: a finished one may be the latest end so far; a live one gets
        // this op as a dependent; a forgotten one finished long ago.
        let mut pending = 0;
        let mut last_dep: Option<(OpId, Ps)> = None;
        for &d in &spec.deps {
            let Some(i) = self.slot(d.0) else { continue };
            if self.ops[i].done {
                let end = self.timeline.records[i].end;
                if last_dep.is_none_or(|(lid, le)| end > le || (end == le && d < lid)) {
                    last_dep = Some((d, end));
                }
            } else {
                pending += 1;
                self.edges.push(&mut self.ops[i].dependents, id.0);
            }
        }
        let bytes = match &spec.work {
            Work::Transfer { flows, .. } => flows.iter().map(|f| f.bytes).sum(),
            Work::SharedTransfer { flows, .. } => flows.iter().map(|f| f.bytes).sum(),
            Work::Links { flows, .. } | Work::Dedicated { flows, .. } => {
                flows.iter().map(|f| f.1).sum()
            }
            Work::Storage {
                requests,
                bytes_per_request,
                ..
            } => *requests as u64 * bytes_per_request,
            _ => 0,
        };
        self.timeline.records.push(OpRecord {
            id,
            stream: spec.stream,
            category: spec.category,
            step: spec.step,
            layer: spec.layer,
            ready: Ps::MAX,
            start: Ps::MAX,
            end: Ps::MAX,
            blocker: None,
            bytes,
            latency: Ps::ZERO,
        });
        let stream = spec.stream;
        self.ops.push_back(OpRun {
            stream,
            category: spec.category,
            work: spec.work,
            holds: spec.holds,
            pending,
            dependents: (NIL, NIL),
            outstanding: 0,
            started: false,
            done: false,
            last_dep,
        });
        self.unfinished += 1;
        if self.timeline.streams[stream.0 as usize].serial {
            self.streams[stream.0 as usize].queue.push_back(id.0);
        }
        if pending == 0 {
            self.mark_ready(id.0, self.q.now());
        }
        Ok(id)
    }

    /// Data dependencies are all done at `now`.
    fn mark_ready(&mut self, id: u64, now: Ps) {
        let i = self.slot(id).expect("live op");
        self.timeline.records[i].ready = now;
        let stream = self.ops[i].stream;
        let serial = self.timeline.streams[stream.0 as usize].serial;
        if !serial {
            self.q.schedule(now, id, Event::Start(id));
            return;
        }
        let s = &self.streams[stream.0 as usize];
        if s.running.is_none() && s.queue.front() == Some(&id) {
            self.q.schedule(now, id, Event::Start(id));
        }
    }

    fn start_op(&mut self, id: u64, now: Ps) -> Result<(), SimError> {
        let i = self.slot(id).expect("live op");
        if self.ops[i].started {
            return Ok(());
        }
        self.ops[i].started = true;
        let stream = self.ops[i].stream;
        let serial = self.timeline.streams[stream.0 as usize].serial;
        // Blocker: what ended exactly when this op could start. A data dependency wins a
        // tie with the stream predecessor: it is the more informative cause. If nothing
        // ended now, the op was held back only by being added late: no blocker.
        let data = self.ops[i].last_dep;
        let mut pred = None;
        if serial {
            let s = &mut self.streams[stream.0 as usize];
            debug_assert_eq!(s.queue.front(), Some(&id));
            s.queue.pop_front();
            s.running = Some(id);
            pred = s.last;
        }
        let blocker = match (data, pred) {
            (Some((d, e)), _) if e == now => Some(d),
            (_, Some((p, e))) if e == now => Some(p),
            _ => None,
        };
        let rec = &mut self.timeline.records[i];
        rec.start = now;
        rec.blocker = blocker;
        for k in 0..self.ops[i].holds.len() {
            let (r, amt) = self.ops[i].holds[k];
            uncontended(&self.reserved, &[r], now)?;
            self.net.hold(r, amt)?;
        }
        match self.ops[i].work {
            Work::Delay(d) => {
                let t = now.checked_add(d)?;
                self.q.schedule(t, id, Event::Timer(id));
            }
            Work::Marker => self.finish_op(id, now)?,
            Work::Transfer { latency, .. }
            | Work::SharedTransfer { latency, .. }
            | Work::Links { latency, .. }
            | Work::Dedicated { latency, .. } => {
                self.timeline.records[i].latency = latency;
                let t = now.checked_add(latency)?;
                self.q.schedule(t, id, Event::Timer(id));
            }
            Work::Storage {
                server,
                requests,
                bytes_per_request,
            } => {
                if requests == 0 {
                    self.finish_op(id, now)?;
                } else {
                    self.ops[i].outstanding = requests;
                    self.servers[server.0 as usize].submit(id, requests, bytes_per_request);
                    self.pump_server(server.0, now)?;
                }
            }
        }
        Ok(())
    }

    fn pump_server(&mut self, s: u32, now: Ps) -> Result<(), SimError> {
        self.issues.clear();
        let mut issues = std::mem::take(&mut self.issues);
        self.servers[s as usize].issue(now, &mut issues)?;
        for iss in issues.drain(..) {
            match iss {
                Issue::Complete { owner, done } => {
                    self.q.schedule(done, owner, Event::RequestDone(owner, s))
                }
                Issue::WakeAt(t) => self.q.schedule(t, u64::MAX, Event::ServerWake(s)),
            }
        }
        self.issues = issues;
        Ok(())
    }

    fn timer(&mut self, id: u64, now: Ps) -> Result<(), SimError> {
        let i = self.slot(id).expect("live op");
        if self.dedicate(i, id, now)? {
            return Ok(());
        }
        let c = self.ops[i].category.0 as usize;
        let mut n = 0;
        let reserved = &self.reserved;
        let mut start = |net: &mut FlowNet, path: &[ResourceId], bytes, cap| {
            if bytes > 0 {
                uncontended(reserved, path, now)?;
                net.start(path, bytes, cap, id)?;
                count_bytes(&mut self.category_bytes, c, path, bytes);
                n += 1;
            }
            Ok::<_, SimError>(())
        };
        match &self.ops[i].work {
            Work::Links { flows, .. } | Work::Dedicated { flows, .. } => {
                for (r, bytes) in flows {
                    start(&mut self.net, std::slice::from_ref(r), *bytes, None)?;
                }
            }
            w => {
                for f in w.transfer().map_or(&[][..], |t| t.1) {
                    start(&mut self.net, &f.path, f.bytes, f.rate_cap)?;
                }
            }
        }
        if n == 0 {
            self.finish_op(id, now)?;
        } else {
            self.ops[i].outstanding = n;
        }
        Ok(())
    }

    /// Runs a `Work::Dedicated` op's entries in closed form: each resource reserved until
    /// its entry ends, the op's end scheduled (key 0, as the flow network's wake-up at a
    /// completion is, so that it finishes where its last flow would). False for other
    /// work, and when a resource is in use or named twice (the op then runs as `Links`).
    fn dedicate(&mut self, i: usize, id: u64, now: Ps) -> Result<bool, SimError> {
        let Work::Dedicated { flows, .. } = &self.ops[i].work else {
            return Ok(false);
        };
        let moving = || flows.iter().filter(|f| f.1 > 0);
        for &(r, _) in moving() {
            uncontended(&self.reserved, &[r], now)?;
        }
        let twice = |k: usize, r: ResourceId| flows[..k].iter().any(|f| f.1 > 0 && f.0 == r);
        let shared = flows
            .iter()
            .enumerate()
            .any(|(k, f)| f.1 > 0 && (self.net.in_use(f.0) || twice(k, f.0)));
        if shared {
            return Ok(false);
        }
        let n = self.net.resource_count();
        if self.reserved.len() < n {
            self.reserved.resize(n, Ps::ZERO);
            self.dedicated_bytes.resize(n, 0);
        }
        let c = self.ops[i].category.0 as usize;
        let mut end = None;
        for &(r, bytes) in moving() {
            let t = now.checked_add(Ps::transfer_time(bytes, self.net.capacity(r))?)?;
            self.reserved[r.0 as usize] = t;
            count_bytes(&mut self.category_bytes, c, &[r], bytes);
            end = end.max(Some(t));
        }
        match end {
            Some(t) => self.q.schedule(t, 0, Event::Dedicated(id)),
            None => self.finish_op(id, now)?,
        }
        Ok(true)
    }

    /// A `Work::Dedicated` op's end: its bytes have crossed its resources.
    fn dedicated_end(&mut self, id: u64, now: Ps) -> Result<(), SimError> {
        let i = self.slot(id).expect("live op");
        if let Work::Dedicated { flows, .. } = &self.ops[i].work {
            for &(r, bytes) in flows {
                self.dedicated_bytes[r.0 as usize] += bytes as u128;
            }
        }
        self.finish_op(id, now)
    }

    fn finish_op(&mut self, id: u64, now: Ps) -> Result<(), SimError> {
        let i = self.slot(id).expect("live op");
        self.ops[i].done = true;
        self.unfinished -= 1;
        self.timeline.records[i].end = now;
        for k in 0..self.ops[i].holds.len() {
            let (r, amt) = self.ops[i].holds[k];
            self.net.release(r, amt)?;
        }
        let stream = self.ops[i].stream;
        let serial = self.timeline.streams[stream.0 as usize].serial;
        if serial {
            let s = &mut self.streams[stream.0 as usize];
            s.running = None;
            s.last = Some((OpId(id), now));
            if let Some(&next) = s.queue.front() {
                let j = self.slot(next).expect("queued op");
                if self.ops[j].pending == 0 {
                    self.q.schedule(now, next, Event::Start(next));
                }
            }
        }
        let mut next = self.ops[i].dependents.0;
        self.ops[i].dependents = (NIL, NIL);
        while let Some(d) = self.edges.pop(&mut next) {
            let j = self.slot(d).expect("dependent");
            let op = &mut self.ops[j];
            if op
                .last_dep
                .is_none_or(|(lid, le)| now > le || (now == le && OpId(id) < lid))
            {
                op.last_dep = Some((OpId(id), now));
            }
            op.pending -= 1;
            if op.pending == 0 {
                self.mark_ready(d, now);
            }
        }
        Ok(())
    }

    /// Process every event at the next event time. Returns false when nothing is left.
    pub fn step(&mut self) -> Result<bool, SimError> {
        let Some(t) = self.q.peek_time() else {
            return Ok(false);
        };
        while let Some(ev) = self.q.pop_at(t) {
            match ev {
                Event::FlowWake(g) => {
                    if g == self.flow_gen {
                        self.flow_wake = None;
                    }
                }
                Event::Timer(id) => self.timer(id, t)?,
                Event::ServerWake(s) => self.pump_server(s, t)?,
                Event::RequestDone(id, s) => {
                    self.servers[s as usize].complete_one();
                    let i = self.slot(id).expect("live op");
                    self.ops[i].outstanding -= 1;
                    if self.ops[i].outstanding == 0 {
                        self.finish_op(id, t)?;
                    }
                    self.pump_server(s, t)?;
                }
                Event::Start(id) => self.start_op(id, t)?,
                Event::Dedicated(id) => self.dedicated_end(id, t)?,
            }
            // Flows that finish exactly now.
            self.drain_flows(t)?;
        }
        self.drain_flows(t)?;
        if let Some(next) = self.net.settle() {
            if self.flow_wake != Some(next) {
                self.flow_gen += 1;
                self.flow_wake = Some(next);
                self.q.schedule(next, 0, Event::FlowWake(self.flow_gen));
            }
        }
        Ok(true)
    }

    fn drain_flows(&mut self, t: Ps) -> Result<(), SimError> {
        self.net.advance(t, &mut self.finished);
        let mut fin = std::mem::take(&mut self.finished);
        fin.sort_by_key(|f| f.owner);
        for f in fin.drain(..) {
            let i = self.slot(f.owner).expect("flow owner");
            self.ops[i].outstanding -= 1;
            if self.ops[i].outstanding == 0 {
                self.finish_op(f.owner, t)?;
            }
        }
        self.finished = fin;
        Ok(())
    }

    /// Run until no event is left.
    pub fn run(&mut self) -> Result<(), SimError> {
        while self.step()? {}
        Ok(())
    }

    /// Run until `op` has finished (or nothing is left).
    pub fn run_until_done(&mut self, op: OpId) -> Result<(), SimError> {
        loop {
            if let Some(i) = self.slot(op.0) {
                if self.ops[i].done {
                    return Ok(());
                }
            } else if op.0 < self.timeline.base {
                return Ok(());
            }
            if !self.step()? {
                return Ok(());
            }
        }
    }

    /// Drop the records of ops before `id`, which must all have finished. Keeps memory
    /// flat over long runs; a report must read the records it needs first.
    pub fn forget_before(&mut self, id: OpId) -> Result<(), SimError> {
        let want =
            id.0.saturating_sub(self.timeline.base)
                .min(self.ops.len() as u64) as usize;
        if let Some(k) = self.ops.iter().take(want).position(|op| !op.done) {
            return Err(SimError::ForgottenDep {
                dep: OpId(self.timeline.base + k as u64),
            });
        }
        self.ops.drain(..want);
        self.timeline.records.drain(..want);
        self.timeline.base += want as u64;
        Ok(())
    }
}
