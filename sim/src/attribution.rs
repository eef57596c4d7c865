//! Hidden versus exposed latency (DESIGN.md §3).
//!
//! For every compute stream, each instant of a window is exactly one of:
//! * **busy**: a compute op runs on the stream;
//! * **exposed(X)**: the stream is stalled because of a non-compute op X — either X runs on
//!   the stream itself (a blocking copy or collective), or an op waits for X's data;
//! * **bubble**: the stream waits on another stream's compute (pipeline schedule idle) or
//!   on nothing at all (start and tail of the window).
//!
//! So `busy + sum(exposed) + bubble = makespan` to the picosecond, for each compute stream.
//! A stall is traced back through the blocker chain: the part of a gap during which X
//! was running is X's; the part before X started goes to whatever held X back.
//! For every non-compute op, `hidden = latency - exposed`, where `latency = end - start`
//! and `exposed` is the longest stall it caused on any one compute stream (clipped to its
//! latency).

use crate::{CategoryId, OpId, OpKind, Ps, StreamId, Timeline};
use std::collections::BTreeMap;

/// One compute stream's account over the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamAccount {
    pub stream: StreamId,
    pub makespan: Ps,
    pub busy: Ps,
    pub bubble: Ps,
    /// Stall per category of the op that caused it.
    pub exposed: BTreeMap<CategoryId, Ps>,
}

impl StreamAccount {
    pub fn exposed_total(&self) -> Ps {
        Ps(self.exposed.values().map(|p| p.0).sum())
    }
}

/// One non-compute op's latency split.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpExposure {
    pub op: OpId,
    pub category: CategoryId,
    pub step: u32,
    pub layer: u32,
    pub latency: Ps,
    pub exposed: Ps,
}

impl OpExposure {
    pub fn hidden(&self) -> Ps {
        self.latency - self.exposed
    }
}

/// Per-category totals.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CategoryTotals {
    pub ops: u64,
    pub bytes: u64,
    pub latency: Ps,
    pub exposed: Ps,
    pub hidden: Ps,
}

#[derive(Clone, Debug, Default)]
pub struct Attribution {
    pub window: (Ps, Ps),
    pub streams: Vec<StreamAccount>,
    pub ops: Vec<OpExposure>,
}

impl Attribution {
    /// Totals per category name, in category-id order.
    pub fn by_category(&self, tl: &Timeline) -> Vec<(String, CategoryTotals)> {
        self.by_category_id(tl)
            .into_iter()
            .enumerate()
            .filter_map(|(c, t)| Some((tl.category(CategoryId(c as u16)).name.clone(), t?)))
            .collect()
    }

    /// Totals per category, indexed by category id (`None`: no op of it in the window).
    pub fn by_category_id(&self, tl: &Timeline) -> Vec<Option<CategoryTotals>> {
        let mut m: Vec<Option<CategoryTotals>> = vec![None; tl.categories.len()];
        for o in &self.ops {
            let t = m[o.category.0 as usize].get_or_insert_with(CategoryTotals::default);
            // Saturating: a sum over many long ops of an absurd input must not panic.
            let sat = |a: Ps, b: Ps| Ps(a.0.saturating_add(b.0));
            t.ops += 1;
            t.bytes = t.bytes.saturating_add(tl.get(o.op).map_or(0, |r| r.bytes));
            t.latency = sat(t.latency, o.latency);
            t.exposed = sat(t.exposed, o.exposed);
            t.hidden = sat(t.hidden, o.hidden());
        }
        m
    }
}

fn clip(a: Ps, lo: Ps, hi: Ps) -> Ps {
    a.max(lo).min(hi)
}

/// Exposed time by record index, with the indices touched (to clear or fold them).
#[derive(Clone, Debug, Default)]
struct PerOp {
    exposed: Vec<Ps>,
    touched: Vec<usize>,
}

impl PerOp {
    /// All zero over `n` records.
    fn reset(&mut self, n: usize) {
        self.exposed.clear();
        self.exposed.resize(n, Ps::ZERO);
        self.touched.clear();
    }

    /// Adds `d` (above zero) to record `i`.
    fn add(&mut self, i: usize, d: Ps) {
        if self.exposed[i] == Ps::ZERO {
            self.touched.push(i);
        }
        self.exposed[i] += d;
    }
}

/// One stream's stalls as they are traced: per category and per op.
#[derive(Clone, Debug, Default)]
struct Stalls {
    by_category: Vec<Ps>,
    per_op: PerOp,
}

impl Stalls {
    fn add(&mut self, tl: &Timeline, r: &crate::OpRecord, d: Ps) {
        self.by_category[r.category.0 as usize] += d;
        self.per_op.add((r.id.0 - tl.base) as usize, d);
    }
}

/// Attribute every compute stream's time in `window` (start inclusive, end exclusive).
/// Ops outside the window are ignored; ops straddling it are clipped.
pub fn attribute(tl: &Timeline, window: (Ps, Ps)) -> Attribution {
    let mut a = Attributor::default();
    a.attribute(tl, window);
    a.out
}

/// [`attribute`] with its buffers kept from one call to the next (a step loop attributes
/// every step): the same result, without allocating it again each time.
#[derive(Clone, Debug, Default)]
pub struct Attributor {
    /// The longest stall each op caused on any one stream, by record index.
    per_op: PerOp,
    stalls: Stalls,
    /// Records of each compute stream, by stream.
    by_stream: Vec<Vec<usize>>,
    out: Attribution,
}

impl Attributor {
    /// What [`attribute`] gives for `tl` and `window`; valid until the next call.
    pub fn attribute(&mut self, tl: &Timeline, window: (Ps, Ps)) -> &Attribution {
        let (w0, w1) = window;
        let n = tl.records.len();
        self.per_op.reset(n);
        self.stalls.per_op.reset(n);
        self.stalls.by_category.clear();
        self.stalls
            .by_category
            .resize(tl.categories.len(), Ps::ZERO);
        self.by_stream.resize_with(tl.streams.len(), Vec::new);
        for v in self.by_stream.iter_mut() {
            v.clear();
        }
        for (i, r) in tl.records.iter().enumerate() {
            if r.finished() && tl.stream(r.stream).compute && r.end > w0 && r.start < w1 {
                self.by_stream[r.stream.0 as usize].push(i);
            }
        }
        self.out.window = window;
        self.out.streams.clear();
        for (s, info) in tl.streams.iter().enumerate() {
            if info.compute {
                self.stream(tl, window, s);
            }
        }
        self.out.ops.clear();
        for (i, r) in tl.records.iter().enumerate() {
            if !r.finished() || r.end <= w0 || r.start >= w1 {
                continue;
            }
            let kind = tl.category(r.category).kind;
            if matches!(kind, OpKind::Compute | OpKind::Marker) {
                continue;
            }
            let latency = r.end - r.start;
            self.out.ops.push(OpExposure {
                op: r.id,
                category: r.category,
                step: r.step,
                layer: r.layer,
                latency,
                exposed: self.per_op.exposed[i].min(latency),
            });
        }
        &self.out
    }

    /// Compute stream `s`'s account, and its longest stall per op folded in.
    fn stream(&mut self, tl: &Timeline, window: (Ps, Ps), s: usize) {
        let sorted = &mut self.by_stream[s];
        sorted.sort_by_key(|&i| (tl.records[i].start, tl.records[i].id));
        let mut acc = account(tl, window, sorted, &mut self.stalls);
        acc.stream = StreamId(s as u32);
        for (c, e) in self.stalls.by_category.iter_mut().enumerate() {
            if *e > Ps::ZERO {
                acc.exposed.insert(CategoryId(c as u16), *e);
                *e = Ps::ZERO;
            }
        }
        let stalls = &mut self.stalls.per_op;
        for i in stalls.touched.drain(..) {
            let e = std::mem::replace(&mut stalls.exposed[i], Ps::ZERO);
            if e > self.per_op.exposed[i] {
                self.per_op.exposed[i] = e;
            }
        }
        self.out.streams.push(acc);
    }
}

/// One compute stream's account over the window from its records (`sorted`, in start
/// order): busy and bubble time; stalls go to `stalls` (its `stream` is set by the caller).
fn account(
    tl: &Timeline,
    (w0, w1): (Ps, Ps),
    sorted: &[usize],
    stalls: &mut Stalls,
) -> StreamAccount {
    let mut acc = StreamAccount {
        stream: StreamId(0),
        makespan: w1.saturating_sub(w0),
        busy: Ps::ZERO,
        bubble: Ps::ZERO,
        exposed: BTreeMap::new(),
    };
    let mut cursor = w0;
    for &i in sorted {
        let r = &tl.records[i];
        let (s0, s1) = (clip(r.start, w0, w1), clip(r.end, w0, w1));
        if s0 > cursor {
            acc.bubble += trace_gap(tl, r.blocker, (cursor, s0), stalls);
            cursor = s0;
        }
        let s0 = s0.max(cursor);
        if s1 > s0 {
            match tl.category(r.category).kind {
                OpKind::Compute | OpKind::Marker => acc.busy += s1 - s0,
                _ => stalls.add(tl, r, s1 - s0),
            }
            cursor = s1;
        }
    }
    if w1 > cursor {
        acc.bubble += w1 - cursor;
    }
    acc
}

/// A gap `(cursor, hi)` before an op released by `blocker`, traced back through the
/// blocker chain: the part during which a non-compute op ran is its stall; the rest,
/// returned, is bubble.
fn trace_gap(
    tl: &Timeline,
    blocker: Option<OpId>,
    (cursor, hi): (Ps, Ps),
    stalls: &mut Stalls,
) -> Ps {
    let mut hi = hi;
    let mut cur = blocker;
    while hi > cursor {
        let Some(b) = cur.and_then(|id| tl.get(id)) else {
            return hi - cursor;
        };
        match tl.category(b.category).kind {
            OpKind::Compute => return hi - cursor,
            OpKind::Marker => cur = b.blocker,
            _ => {
                let lo = b.start.max(cursor).min(hi);
                if hi > lo {
                    stalls.add(tl, b, hi - lo);
                }
                hi = lo;
                cur = b.blocker;
            }
        }
    }
    Ps::ZERO
}
