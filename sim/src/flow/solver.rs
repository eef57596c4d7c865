//! Incremental progressive filling.
//!
//! Progressive filling picks resources in order of their fair share `remaining / n`
//! (the least first, ties to the lower id): each pick freezes the resource's unfrozen
//! flows at `floor(remaining / n)`; a capped flow is frozen at its cap as soon as the cap
//! is below the share of the resource about to be picked. Shares never decrease along
//! the way, so the fill is a Dijkstra-like sweep over *positions* `(share, class, id)`.
//!
//! The previous fill is kept: each resource's share when it was picked (its position)
//! and each flow's rate and bottleneck (the resource or cap that froze it). After a
//! change, a sweep replays the fill in position order but only touches:
//! - *dirty* resources: those whose flows or holds changed, and those crossed by a flow
//!   whose rate or bottleneck came out different. A dirty resource is filled again from
//!   its current counters; it is dirtied before its old position is reached, so a clean
//!   resource behaves exactly as in the previous fill;
//! - *replays* of clean resources whose flows also cross a dirty one: their flows freeze
//!   at their old rate at the old position, which updates the dirty counters;
//! - *deadlines*: a dirty resource not yet picked at its old position leaves its old
//!   flows unfrozen past that point, so the resources they cross become dirty.
//!
//! A resource picked again with the same share and flows dirties nothing further: the
//! change stops spreading where rates stop changing. The result equals the full fill
//! unit for unit (`reference.rs` holds the full fill; the property test compares).

use super::{usable, FlowNet};
use std::cmp::Ordering;

/// A flow's bottleneck before any fill.
const NONE: u32 = u32::MAX;
/// A flow frozen at its own cap.
const CAP: u32 = u32::MAX - 1;

/// Per-resource fill state.
#[derive(Clone, Debug)]
pub(super) struct ResFill {
    /// position when last picked (share, then the resource's tie); `pick.n == 0`: not
    /// picked
    pick: Pos,
    /// sweep epoch in which the resource is dirty
    dirty: u32,
    /// sweep epoch in which a replay was scheduled
    replay: u32,
    /// the flows its replay freezes: those it froze last time that cross a dirty
    /// resource (the others need nothing), so a replay costs what it changes, not the
    /// resource's whole flow list (emptied when the replay is popped)
    replays: Vec<u32>,
    /// picked in the current sweep
    picked: bool,
    /// a deadline is due at the old position but held back, because the queued pick
    /// comes first (queued if the pick moves past it)
    deadline: bool,
    /// counters of the current sweep: capacity left and unfrozen flows
    rem: u128,
    n: u32,
}

impl Default for ResFill {
    fn default() -> Self {
        ResFill {
            pick: Pos::UNPICKED,
            dirty: 0,
            replay: 0,
            replays: Vec::new(),
            picked: false,
            deadline: false,
            rem: 0,
            n: 0,
        }
    }
}

/// Per-flow fill state.
#[derive(Clone, Debug)]
#[repr(C)]
pub(super) struct FlowFill {
    new_rate: u128,
    /// what froze the flow in the last fill: a resource index, CAP or NONE
    bottleneck: u32,
    /// sweep epoch in which the flow was frozen
    frozen: u32,
    /// sweep epoch in which a cap event was scheduled
    cap_event: u32,
    /// sweep epoch in which the flow was listed for its bottleneck's replay
    listed: u32,
    new_bottleneck: u32,
}

impl Default for FlowFill {
    fn default() -> Self {
        FlowFill {
            bottleneck: NONE,
            frozen: 0,
            cap_event: 0,
            listed: 0,
            new_rate: 0,
            new_bottleneck: NONE,
        }
    }
}

/// A point in the fill order: share `rem / n`, then `tie`: class (caps before resources
/// at an equal share), id, and sub (a pick before its deadline).
///
/// The share is kept divided once, as `q + r / n` (`q = floor(rem / n)`, `r < n`), so
/// that comparing two positions, which the sweep does far more often than it makes
/// one, needs no wide products: `q` first, then `r * n'` against `r' * n` (both below
/// 2^64). The kind of a sweep event rides in the two low bits of `tie` (32 bytes in
/// all) and takes no part in comparing positions.
#[derive(Clone, Copy, Debug)]
struct Pos {
    q: u128,
    r: u32,
    n: u32,
    tie: u64,
}

/// Bits of `tie` below the position's own tie: the event kind.
const KIND_BITS: u32 = 2;

impl Pos {
    /// Before every position (no position is less): the point before a sweep's first
    /// event.
    const START: Pos = Pos {
        q: 0,
        r: 0,
        n: 1,
        tie: 0,
    };
    /// No position: a resource not picked in the last fill.
    const UNPICKED: Pos = Pos {
        q: u128::MAX,
        r: 0,
        n: 0,
        tie: u64::MAX,
    };

    fn new(rem: u128, n: u32, class: u64, id: u32, sub: u64) -> Pos {
        let (q, r) = divide(rem, n);
        Pos {
            q,
            r,
            n,
            tie: (class << 40 | (id as u64) << 1 | sub) << KIND_BITS,
        }
    }
    fn with(self, kind: Kind) -> Pos {
        Pos {
            tie: self.tie & !((1 << KIND_BITS) - 1) | kind as u64,
            ..self
        }
    }
    /// The same position, after its pick: a deadline.
    fn deadline(self) -> Pos {
        Pos {
            tie: self.tie | 1 << KIND_BITS,
            ..self
        }
        .with(Kind::Deadline)
    }
    fn id(&self) -> u32 {
        (self.tie >> (KIND_BITS + 1)) as u32
    }
    fn kind(&self) -> Kind {
        match self.tie & ((1 << KIND_BITS) - 1) {
            0 => Kind::Pick,
            1 => Kind::Replay,
            2 => Kind::Deadline,
            _ => Kind::Cap,
        }
    }
    /// `self < o` by share, then `tie` (shifted by `drop` bits): `order`, without
    /// building an `Ordering` (the sweep's hottest comparison).
    #[inline]
    fn before(&self, o: &Self, drop: u32) -> bool {
        if self.q != o.q {
            return self.q < o.q;
        }
        let (a, b) = (self.r as u64 * o.n as u64, o.r as u64 * self.n as u64);
        if a != b {
            return a < b;
        }
        self.tie >> drop < o.tie >> drop
    }
    /// Order by share, then `tie` (shifted by `drop` bits).
    fn order(&self, o: &Self, drop: u32) -> Ordering {
        self.q
            .cmp(&o.q)
            .then_with(|| (self.r as u64 * o.n as u64).cmp(&(o.r as u64 * self.n as u64)))
            .then((self.tie >> drop).cmp(&(o.tie >> drop)))
    }
}

/// `(floor(rem / n), rem % n)`, in 64 bits when `rem` fits (the common case); a zero `n`
/// gives the largest share.
fn divide(rem: u128, n: u32) -> (u128, u32) {
    match n {
        0 => return (u128::MAX, 0),
        1 => return (rem, 0),
        _ => {}
    }
    if rem >> 64 == 0 {
        let (a, b) = (rem as u64, n as u64);
        ((a / b) as u128, (a % b) as u32)
    } else {
        (rem / n as u128, (rem % n as u128) as u32)
    }
}

impl Default for Pos {
    fn default() -> Self {
        Pos::START
    }
}

impl PartialEq for Pos {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Pos {}
impl PartialOrd for Pos {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pos {
    fn cmp(&self, o: &Self) -> Ordering {
        self.order(o, KIND_BITS)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Pick = 0,
    Replay = 1,
    Deadline = 2,
    Cap = 3,
}

/// The sweep's pending events (a position and, in its kind bits, what happens there),
/// least first. Pick and Replay of one resource never coexist live; they are ordered
/// anyway (by kind), so the order is total.
///
/// A sweep holds a few dozen events in the common case: they are kept sorted, greatest
/// first, so that the least pops off the end, and an insert moves a short tail (cheaper
/// than sifting a heap). Past `SORTED_MAX` events (many capped flows, say) the vector
/// becomes a binary min-heap for the rest of the sweep: reversed, the sorted vector
/// already is one.
#[derive(Clone, Debug, Default)]
struct Queue {
    v: Vec<Pos>,
    heap: bool,
}

const _: () = assert!(std::mem::size_of::<Pos>() == 32);

/// The most events kept sorted.
const SORTED_MAX: usize = 64;

impl Queue {
    fn push(&mut self, ev: Pos) {
        if !self.heap && self.v.len() < SORTED_MAX {
            let at = self.v.partition_point(|e| ev.before(e, 0));
            self.v.insert(at, ev);
            return;
        }
        if !self.heap {
            self.v.reverse();
            self.heap = true;
        }
        self.v.push(ev);
        self.up(self.v.len() - 1, ev);
    }

    fn pop(&mut self) -> Option<Pos> {
        if !self.heap {
            return self.v.pop();
        }
        let last = self.v.pop()?;
        let Some(&top) = self.v.first() else {
            self.heap = false;
            return Some(last);
        };
        // Sift the hole at the root to the bottom (one comparison a level), then move
        // the last event up from there.
        let v = &mut self.v;
        let (n, mut i, mut c) = (v.len(), 0, 1);
        while c < n {
            if c + 1 < n && v[c + 1].before(&v[c], 0) {
                c += 1;
            }
            v[i] = v[c];
            i = c;
            c = 2 * i + 1;
        }
        self.up(i, last);
        Some(top)
    }

    fn peek(&self) -> Option<&Pos> {
        if self.heap {
            self.v.first()
        } else {
            self.v.last()
        }
    }

    /// Heap mode: move `ev` up from the hole at `i`.
    fn up(&mut self, mut i: usize, ev: Pos) {
        let v = &mut self.v;
        while i > 0 {
            let p = (i - 1) / 2;
            if !ev.before(&v[p], 0) {
                break;
            }
            v[i] = v[p];
            i = p;
        }
        v[i] = ev;
    }
}

/// Scratch of the sweep, kept between sweeps so that a sweep allocates nothing.
#[derive(Clone, Debug, Default)]
pub(super) struct Solver {
    epoch: u32,
    heap: Queue,
    dirty: Vec<u32>,
    frozen: Vec<u32>,
    /// position being processed; `Pos::START` before the first
    point: Pos,
}

fn res_pos(rem: u128, n: u32, r: u32) -> Pos {
    Pos::new(rem, n, 1, r, 0)
}

fn cap_pos(cap: u128, f: u32) -> Pos {
    // Frozen at its cap iff cap < floor(share), i.e. cap + 1 <= share.
    Pos::new(cap.saturating_add(1), 1, 0, f, 0)
}

impl FlowNet {
    /// Refill after the changes recorded in `self.changed`.
    pub(super) fn refill_incremental(&mut self) {
        let mut s = std::mem::take(&mut self.solver);
        s.epoch = s.epoch.wrapping_add(1);
        if s.epoch == 0 {
            self.reset_marks();
            s.epoch = 1;
        }
        let mut changed = std::mem::take(&mut self.changed);
        s.point = self.resume_point(&changed);
        for &r in &changed {
            if self.resources[r as usize].fill.dirty != s.epoch {
                self.make_dirty(&mut s, r);
            }
        }
        changed.clear();
        self.changed = changed;
        while let Some(ev) = s.heap.pop() {
            self.process(&mut s, ev);
        }
        self.commit(&mut s);
        self.solver = s;
    }

    /// The point the sweep resumes from: the previous fill is kept as it was strictly
    /// before it, so flows frozen before it need no replay.
    ///
    /// A changed resource is picked no later than before when its share can only have
    /// risen (a flow ended, a hold was released), and no earlier than its share with
    /// every current flow unfrozen when it can have fallen (a flow started, a hold
    /// grew): freezing a flow at a rate no above the current share never lowers a share.
    /// Until the least of those points no changed resource is picked, an ended flow was
    /// still unfrozen (it was frozen by one of its resources, or by its cap, which only
    /// its own resources count), and a started flow only raised counts; so every pick
    /// and cap before it freezes the same flows at the same rates. A started flow's cap
    /// may come earlier: it freezes that flow alone and updates the counters of its
    /// resources, which are all dirty, and dirties nothing else.
    fn resume_point(&self, changed: &[u32]) -> Pos {
        let mut p0 = Pos::UNPICKED;
        for &r in changed {
            let res = &self.resources[r as usize];
            let low = res_pos(usable(res), res.flows.len() as u32, r);
            let at = if low.before(&res.fill.pick, KIND_BITS) {
                low
            } else {
                res.fill.pick
            };
            if at.before(&p0, KIND_BITS) {
                p0 = at;
            }
        }
        p0
    }

    /// After 2^32 sweeps the epoch wraps: clear every mark so none reads as current.
    fn reset_marks(&mut self) {
        for r in &mut self.resources {
            r.fill.dirty = 0;
            r.fill.replay = 0;
        }
        for f in &mut self.flows {
            f.fill.frozen = 0;
            f.fill.cap_event = 0;
            f.fill.listed = 0;
        }
    }

    fn process(&mut self, s: &mut Solver, ev: Pos) {
        let id = ev.id();
        match ev.kind() {
            Kind::Pick => {
                let r = &mut self.resources[id as usize].fill;
                // With no unfrozen flow left, a held-back deadline has nothing to do:
                // it only acts on this resource's old flows that are still unfrozen.
                if r.picked || r.n == 0 {
                    return;
                }
                let mut at = ev;
                // Within a sweep a dirty resource's count only falls, and `rem` only
                // changes with it: an unchanged count means an unchanged share.
                if r.n != ev.n {
                    // Flows froze since the push, which only raised the share: queue
                    // the resource again at its current share, unless that is still
                    // the least event (it would pop next). A held-back deadline the
                    // pick now passes is queued first.
                    at = res_pos(r.rem, r.n, id).with(Kind::Pick);
                    if r.deadline && r.pick.deadline().before(&at, 0) {
                        r.deadline = false;
                        s.heap.push(r.pick.deadline());
                    }
                    if s.heap.peek().is_some_and(|next| next.before(&at, 0)) {
                        s.heap.push(at);
                        return;
                    }
                }
                r.deadline = false;
                s.point = at;
                self.pick(s, id, at);
            }
            Kind::Replay => {
                if self.resources[id as usize].fill.dirty == s.epoch {
                    // Dirtied since: it is filled again instead.
                    self.resources[id as usize].fill.replays.clear();
                    return;
                }
                s.point = ev;
                self.replay(s, id);
            }
            Kind::Deadline => {
                if self.resources[id as usize].fill.picked {
                    return;
                }
                s.point = ev;
                self.deadline(s, id);
            }
            Kind::Cap => {
                // At the cap's own position: a flow a clean resource replayed before it
                // reads frozen by position.
                s.point = ev;
                if self.is_frozen(s, id) {
                    return;
                }
                let cap = self.flows[id as usize].cap;
                self.freeze(s, id, cap, CAP);
            }
        }
    }

    /// Whether a flow is frozen at the current point of the sweep: frozen in this sweep,
    /// or frozen by a clean resource (or its cap) whose old position is already passed.
    #[inline]
    fn is_frozen(&self, s: &Solver, f: u32) -> bool {
        self.frozen_rate(s, f).is_some()
    }

    /// The rate of a flow frozen at the current point (see `is_frozen`), or None.
    #[inline]
    fn frozen_rate(&self, s: &Solver, f: u32) -> Option<u128> {
        let fl = &self.flows[f as usize];
        if fl.fill.frozen == s.epoch {
            return Some(fl.fill.new_rate);
        }
        let passed = match fl.fill.bottleneck {
            NONE => false,
            CAP => cap_pos(fl.cap, f).before(&s.point, KIND_BITS),
            b => {
                let r = &self.resources[b as usize].fill;
                r.dirty != s.epoch && r.pick.before(&s.point, KIND_BITS)
            }
        };
        passed.then_some(fl.rate)
    }

    /// Mark `r` dirty: count its capacity left and unfrozen flows at the current point,
    /// and schedule what will freeze those flows.
    fn make_dirty(&mut self, s: &mut Solver, r: u32) {
        let mut rem = usable(&self.resources[r as usize]);
        let mut n = 0u32;
        // A deadline matters only if a flow this resource froze crosses another one.
        let mut deadline = false;
        let flows = std::mem::take(&mut self.resources[r as usize].flows);
        for &f in &flows {
            if let Some(rate) = self.frozen_rate(s, f) {
                rem = rem.saturating_sub(rate);
            } else {
                n += 1;
                let fl = &self.flows[f as usize];
                deadline |= fl.fill.bottleneck == r && fl.path.len() > 1;
                self.schedule_freezer(s, f, r);
            }
        }
        self.resources[r as usize].flows = flows;
        // `deadline` implies `n > 0`: it is only set by an unfrozen flow.
        let fill = &mut self.resources[r as usize].fill;
        debug_assert!(
            fill.pick.n == 0 || !fill.pick.before(&s.point, KIND_BITS),
            "resource dirtied after its old position"
        );
        fill.dirty = s.epoch;
        fill.picked = false;
        fill.rem = rem;
        fill.n = n;
        s.dirty.push(r);
        fill.deadline = false;
        let at = res_pos(rem, n, r).with(Kind::Pick);
        if deadline && fill.pick.n > 0 {
            let due = fill.pick.deadline();
            if at.before(&due, 0) {
                // Queued only if the pick moves past it (see `process`): usually
                // the resource is picked first and the deadline would do nothing.
                fill.deadline = true;
            } else {
                s.heap.push(due);
            }
        }
        if n > 0 {
            s.heap.push(at);
        }
    }

    /// An unfrozen flow crosses dirty `r`: make sure the sweep will see what freezes it
    /// (its cap, or the replay of the clean resource that froze it last time).
    fn schedule_freezer(&mut self, s: &mut Solver, f: u32, r: u32) {
        let fl = &mut self.flows[f as usize];
        if fl.cap != u128::MAX && fl.fill.cap_event != s.epoch {
            fl.fill.cap_event = s.epoch;
            s.heap.push(cap_pos(fl.cap, f).with(Kind::Cap));
        }
        let b = fl.fill.bottleneck;
        if b == NONE || b == CAP || b == r {
            return;
        }
        let listed = fl.fill.listed == s.epoch;
        fl.fill.listed = s.epoch;
        let bf = &mut self.resources[b as usize].fill;
        if bf.dirty == s.epoch {
            return;
        }
        if !listed {
            bf.replays.push(f);
        }
        if bf.replay != s.epoch {
            bf.replay = s.epoch;
            s.heap.push(bf.pick.with(Kind::Replay));
        }
    }

    /// Dirty `r` is the least share, at `at`: freeze its unfrozen flows at
    /// `floor(rem / n)`.
    fn pick(&mut self, s: &mut Solver, r: u32, at: Pos) {
        let fill = &mut self.resources[r as usize].fill;
        fill.picked = true;
        fill.pick = at.with(Kind::Pick);
        let share = at.q;
        let flows = std::mem::take(&mut self.resources[r as usize].flows);
        for &f in &flows {
            if !self.is_frozen(s, f) {
                self.freeze(s, f, share, r);
            }
        }
        self.resources[r as usize].flows = flows;
    }

    /// Clean `b` reaches its old position: its flows freeze at their old rates, which
    /// the dirty resources they cross count now. Nothing else changes, and from here on
    /// `is_frozen` sees them frozen by position, so they are not marked. Only the listed
    /// flows cross a dirty resource: any other flow of `b` read frozen by position
    /// wherever it was counted.
    fn replay(&mut self, s: &mut Solver, b: u32) {
        let mut flows = std::mem::take(&mut self.resources[b as usize].fill.replays);
        for &f in &flows {
            let fl = &self.flows[f as usize];
            debug_assert_eq!(fl.fill.bottleneck, b, "listed for another replay");
            if fl.fill.frozen == s.epoch {
                continue;
            }
            for &q in &fl.path {
                let fill = &mut self.resources[q as usize].fill;
                if fill.dirty == s.epoch && !fill.picked {
                    fill.rem = fill.rem.saturating_sub(fl.rate);
                    fill.n -= 1;
                }
            }
        }
        flows.clear();
        self.resources[b as usize].fill.replays = flows;
    }

    /// Dirty `b` was not picked by its old position: its old flows stay unfrozen past
    /// the point where the resources they cross counted them frozen.
    fn deadline(&mut self, s: &mut Solver, b: u32) {
        let flows = std::mem::take(&mut self.resources[b as usize].flows);
        for &f in &flows {
            if self.flows[f as usize].fill.bottleneck != b || self.is_frozen(s, f) {
                continue;
            }
            for k in 0..self.flows[f as usize].path.len() {
                let q = self.flows[f as usize].path[k];
                if self.resources[q as usize].fill.dirty != s.epoch {
                    self.make_dirty(s, q);
                }
            }
        }
        self.resources[b as usize].flows = flows;
    }

    /// Freeze `f` at `rate` by `by` (a resource or CAP): update the dirty resources it
    /// crosses, and dirty the others if its rate or bottleneck changed.
    fn freeze(&mut self, s: &mut Solver, f: u32, rate: u128, by: u32) {
        let fl = &mut self.flows[f as usize];
        fl.fill.frozen = s.epoch;
        fl.fill.new_rate = rate;
        fl.fill.new_bottleneck = by;
        let changed = fl.fill.bottleneck != by || fl.rate != rate;
        if changed {
            s.frozen.push(f);
        }
        for k in 0..self.flows[f as usize].path.len() {
            let q = self.flows[f as usize].path[k];
            let fill = &mut self.resources[q as usize].fill;
            if fill.dirty == s.epoch {
                if !fill.picked {
                    // Its queued pick is now early; it is re-queued when popped.
                    fill.rem = fill.rem.saturating_sub(rate);
                    fill.n -= 1;
                }
            } else if changed {
                self.make_dirty(s, q);
            }
        }
    }

    /// Store the new bottlenecks, and give changed flows their new rates.
    fn commit(&mut self, s: &mut Solver) {
        for &r in &s.dirty {
            let fill = &mut self.resources[r as usize].fill;
            if !fill.picked {
                fill.pick = Pos::UNPICKED;
            }
        }
        s.dirty.clear();
        let frozen = std::mem::take(&mut s.frozen);
        for &f in &frozen {
            let fill = &mut self.flows[f as usize].fill;
            fill.bottleneck = fill.new_bottleneck;
            let rate = fill.new_rate;
            self.set_rate(f, rate);
        }
        s.frozen = frozen;
        s.frozen.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(p: &Pos) -> (u128, u32, u32, u64) {
        (p.q, p.r, p.n, p.tie)
    }

    proptest! {
        /// Against a sorted list, across the switch from sorted to heap: every pop is the
        /// least pending event, and `peek` shows it.
        #[test]
        fn the_queue_pops_the_least_event(
            ops in prop::collection::vec(
                (0u128..40, 1u32..5, 0u64..2, 0u32..6, 0u64..2, 0u32..4, 0u8..3),
                1..400,
            ),
        ) {
            let mut q = Queue::default();
            let mut model: Vec<Pos> = Vec::new();
            for (rem, n, class, id, sub, kind, op) in ops {
                if op == 0 {
                    let least = model
                        .iter()
                        .enumerate()
                        .min_by(|a, b| a.1.order(b.1, 0))
                        .map(|(i, _)| i);
                    prop_assert_eq!(q.peek().map(key), least.map(|i| key(&model[i])));
                    prop_assert_eq!(q.pop().map(|p| key(&p)), least.map(|i| key(&model.swap_remove(i))));
                } else {
                    let kind = [Kind::Pick, Kind::Replay, Kind::Deadline, Kind::Cap][kind as usize];
                    let ev = Pos::new(rem, n, class, id, sub).with(kind);
                    if model.iter().all(|m| m.order(&ev, 0) != Ordering::Equal) {
                        q.push(ev);
                        model.push(ev);
                    }
                }
            }
        }
    }
}
