//! A Kineto trace of the user's own GPU ([`Measurements`], filled by
//! `memwall_replay::measurements`): the op cost model's per-class numbers fitted to the
//! kernels whose work the trace records, in this order, each class's fit using the ones
//! before it:
//!
//! | class | from | profile numbers (GPU profile) |
//! |---|---|---|
//! | memory-bound (elementwise, norms, reductions with recorded shapes) | bytes of their tensors, de-contended time | `kernels.memory_bandwidth` (their effective bandwidth; the HBM's own figure stays), `kernels.floor` (jointly) |
//! | floor, without shaped memory-bound kernels | the shortest kernel of the trace | `kernels.floor` |
//! | GEMM, per dtype (shaped `mm`/`addmm`/`bmm`/...): compute-bound regime | m, n, k, batch, dtype | `compute.<dtype>.achievable` (kept as the profile's where under 3 GEMMs are compute-bound: not identified) |
//! | GEMM, memory-bound regime (all dtypes) | the same | `kernels.gemm_memory_bandwidth` (where 3 or more are memory-bound) |
//! | attention, per dtype (shaped SDPA) | the shapes | the same rate: attention is fitted alone only where the dtype has no shaped GEMM, else its error under the GEMM fit is reported |
//! | launch overhead | CPU time of each `cudaLaunchKernel` / `cudaGraphLaunch` call | `kernel_launch`, `kernels.graph_launch` (medians) |
//! | collectives with a recorded size and group | per collective and group size, as an nccl-tests sweep | the link's `[collective]` ([`crate::nccl_tests`]) |
//!
//! Each rate is first the value in `[peak / 100, peak]` that minimises the squared error
//! in time of the model's own prediction ([`memwall_models::cost::Op::time`]: tiles,
//! waves, HBM bytes, floor) against the measured times (GEMM rates and the GEMM bandwidth
//! in turn, three rounds), which splits the GEMMs into regimes; then, the regimes
//! held, it is moved until the model's total over its regime equals the measured total
//! ([`match_total`]). Kernels the trace records no work for
//! (no shapes) inform nothing but the floor: a trace without shapes calibrates only the
//! floor, the launch costs and its sized collectives.

use crate::fit::errors;
use crate::nccl_tests::{self, Row, Run};
use crate::overrides::{rate_value, time_value};
use crate::{CalibrateError, FitReport, Overrides};
use memwall_models::cost::{Bound, MeasuredOp, Measurements, Op};
use memwall_models::perf::{Dtype, HwRates};
use memwall_models::units::format_flop_rate;
use memwall_models::{Registry, SystemSpec};
use std::collections::BTreeMap;

/// Fewest measured kernels a class is fitted from.
pub const MIN_POINTS: usize = 3;

/// Rounds of fitting the dtype rates and the memory-bound GEMM bandwidth in turn.
const ROUNDS: usize = 3;

/// The tail of the note on a dtype whose rate was not fitted.
const RATE_NOT_FITTED: &str = ": rate not fitted";

type Ops<'m> = Vec<&'m MeasuredOp>;

/// What a trace calibrated: a fit per class, and a line per class not fitted (why).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KinetoFit {
    pub reports: Vec<FitReport>,
    pub notes: Vec<String>,
}

/// Fits `sys`'s GPU profile (and its links' `[collective]` data) to the measurements
/// of a trace `file`, writing the calibrated numbers into `out`.
pub fn calibrate(
    reg: &Registry,
    sys: &SystemSpec,
    m: &Measurements,
    file: &str,
    out: &mut Overrides,
) -> Result<KinetoFit, CalibrateError> {
    let mut cx = Cx {
        reg,
        sys,
        gpu: sys.node.gpu.name.clone(),
        file,
        rates: HwRates::from_system(sys),
        fit: KinetoFit::default(),
    };
    cx.memory(m, out)?;
    cx.compute(m, out)?;
    cx.launches(m, out)?;
    cx.collectives(m, out)?;
    Ok(cx.fit)
}

struct Cx<'a> {
    reg: &'a Registry,
    sys: &'a SystemSpec,
    gpu: String,
    file: &'a str,
    /// The GPU's rates, with each class's fit applied as it is made.
    rates: HwRates,
    fit: KinetoFit,
}

/// Squared errors of the model on `r` against the measured times, in time (ordinary
/// least squares: a kernel weighs as much as the time it takes, so the fit serves the
/// trace's totals, which a replay's span is made of).
fn cost(ops: &[&MeasuredOp], r: &HwRates) -> f64 {
    ops.iter()
        .map(|o| {
            let t = o.op.time(r).map_or(f64::INFINITY, |t| t.ps as f64);
            (t - o.ps as f64).powi(2)
        })
        .sum()
}

/// The model's times and the measured ones, for the error report.
fn model_and_measured(ops: &[&MeasuredOp], r: &HwRates) -> (Vec<f64>, Vec<f64>) {
    ops.iter()
        .map(|o| {
            let t = o.op.time(r).map_or(0.0, |t| t.ps as f64);
            (t, o.ps as f64)
        })
        .unzip()
}

/// The value in `[lo, hi]` minimising `f`: a log grid of 64 points, then golden-section
/// search between the best point's neighbours.
pub fn best_in(lo: u64, hi: u64, f: impl Fn(u64) -> f64) -> u64 {
    let (lo, hi) = (lo.max(1) as f64, hi.max(lo.max(1)) as f64);
    let n = 64;
    let at = |i: usize| (lo.ln() + (hi.ln() - lo.ln()) * i as f64 / n as f64).exp();
    let best = (0..=n)
        .min_by(|&a, &b| f(at(a) as u64).total_cmp(&f(at(b) as u64)))
        .unwrap_or(0);
    let (mut a, mut b) = (at(best.saturating_sub(1)).ln(), at((best + 1).min(n)).ln());
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..48 {
        let (c, d) = (b - g * (b - a), a + g * (b - a));
        if f(c.exp() as u64) <= f(d.exp() as u64) {
            b = d;
        } else {
            a = c;
        }
    }
    ((a + b) / 2.0).exp().round() as u64
}

/// The value in `[lo, hi]` at which the model's total time over `ops` (on `at(value)`,
/// falling as the value, a rate, grows) equals their measured total: bisection in log
/// space; where no value in range reaches it, the nearer end.
pub fn match_total(lo: u64, hi: u64, ops: &[&MeasuredOp], at: impl Fn(u64) -> HwRates) -> u64 {
    let measured: f64 = ops.iter().map(|o| o.ps as f64).sum();
    let excess = |v: f64| {
        let r = at(v.exp() as u64);
        let model: f64 = ops
            .iter()
            .map(|o| o.op.time(&r).map_or(f64::INFINITY, |t| t.ps as f64))
            .sum();
        model - measured
    };
    let (mut a, mut b) = ((lo.max(1) as f64).ln(), (hi.max(lo.max(1)) as f64).ln());
    if excess(b) >= 0.0 {
        return b.exp().round() as u64;
    }
    if excess(a) <= 0.0 {
        return a.exp().round() as u64;
    }
    for _ in 0..64 {
        let c = (a + b) / 2.0;
        if excess(c) > 0.0 {
            a = c;
        } else {
            b = c;
        }
    }
    ((a + b) / 2.0).exp().round() as u64
}

fn median(v: &[u64]) -> Option<u64> {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied()
}

impl Cx<'_> {
    fn report(&mut self, class: String, target: String, ops: &[&MeasuredOp]) -> FitReport {
        let (model, measured) = model_and_measured(ops, &self.rates);
        let (max_error_pct, rms_error_pct) = errors(&model, &measured);
        let total = model.iter().sum::<f64>() / measured.iter().sum::<f64>().max(1.0) - 1.0;
        let rep = FitReport {
            class,
            target,
            points: ops.len(),
            max_error_pct,
            rms_error_pct,
            total_error_pct: Some(total * 100.0),
        };
        self.fit.reports.push(rep.clone());
        rep
    }

    fn note(&self, what: &str, points: usize, rms: f64) -> String {
        format!(
            "fitted to {points} kernels of {} ({what}); rms error {rms:.1}%",
            self.file
        )
    }

    fn set(
        &self,
        out: &mut Overrides,
        path: &[&str],
        v: toml_edit::Value,
        note: &str,
    ) -> Result<(), CalibrateError> {
        out.set(self.reg, &self.gpu, path, v, self.file, note)
    }

    /// HBM bandwidth and floor from shaped memory-bound kernels; else the floor alone
    /// from the shortest kernel.
    fn memory(&mut self, m: &Measurements, out: &mut Overrides) -> Result<(), CalibrateError> {
        let ops: Vec<&MeasuredOp> = m
            .ops
            .iter()
            .filter(|o| matches!(o.op, Op::Memory(_)))
            .collect();
        if ops.len() < MIN_POINTS {
            return self.floor_from_shortest(m, ops.len(), out);
        }
        let peak = self.sys.node.gpu.hbm_bandwidth.peak;
        let mut times: Vec<u64> = ops.iter().map(|o| o.ps).collect();
        times.sort_unstable();
        let (fmin, fmax) = (times[0] / 2, times[times.len() / 2]);
        let mut r = self.rates.clone();
        let fit_bw = |r: &mut HwRates, floor: u64| {
            r.kernels.floor_ps = floor;
            let with = |bw: u64| {
                let mut t = r.clone();
                t.kernels.memory_bw = Some(bw);
                t
            };
            r.kernels.memory_bw = Some(best_in(peak / 100, peak, |bw| cost(&ops, &with(bw))));
            cost(&ops, r)
        };
        let floor = best_in(fmin.max(1), fmax.max(2), |f| fit_bw(&mut r.clone(), f));
        fit_bw(&mut r, floor);
        let with = |bw: u64| {
            let mut t = r.clone();
            t.kernels.memory_bw = Some(bw);
            t
        };
        r.kernels.memory_bw = Some(match_total(peak / 100, peak, &ops, with));
        self.rates = r;
        let rep = self.report(
            "memory-bound (bytes, floor)".into(),
            format!("{}: kernels.memory_bandwidth, kernels.floor", self.gpu),
            &ops,
        );
        let note = self.note(
            "memory-bound, jointly with the floor",
            ops.len(),
            rep.rms_error_pct,
        );
        let bw = self.rates.kernels.memory_bw.unwrap_or(self.rates.hbm);
        self.set(out, &["kernels", "memory_bandwidth"], rate_value(bw), &note)?;
        self.set(
            out,
            &["kernels", "floor"],
            time_value(self.rates.kernels.floor_ps),
            &note,
        )
    }

    fn floor_from_shortest(
        &mut self,
        m: &Measurements,
        shaped: usize,
        out: &mut Overrides,
    ) -> Result<(), CalibrateError> {
        self.fit.notes.push(format!(
            "memory-bound: {shaped} kernels with recorded shapes (fewer than {MIN_POINTS}): HBM bandwidth not fitted"
        ));
        let Some(&floor) = m.kernels_ps.iter().filter(|&&p| p > 0).min() else {
            return Ok(());
        };
        self.rates.kernels.floor_ps = floor;
        let note = format!(
            "shortest of {} kernels of {}",
            m.kernels_ps.len(),
            self.file
        );
        self.fit
            .notes
            .push(format!("floor: {note}: {}", time_value(floor)));
        self.set(out, &["kernels", "floor"], time_value(floor), &note)
    }

    /// Each dtype's rate from its shaped GEMMs (or, without any, its shaped attention),
    /// and the effective bandwidth of memory-bound GEMMs, fitted in turn until they
    /// settle: the two shape regimes of a GEMM (compute-bound: the rate, tiles and
    /// waves; memory-bound: its A, B and C traffic) each get their own number.
    fn compute(&mut self, m: &Measurements, out: &mut Overrides) -> Result<(), CalibrateError> {
        let by = self.by_dtype(m);
        if by.is_empty() {
            self.fit.notes.push(
                "compute: no GEMM or attention kernel with recorded shapes: no rate fitted".into(),
            );
        }
        let gemms: Vec<&MeasuredOp> = m
            .ops
            .iter()
            .filter(|o| matches!(o.op, Op::Gemm(_)) && self.rates.flops(op_dtype(o)).is_some())
            .collect();
        let base = self.rates.clone();
        let mut fitted = self.fit_rates(&by);
        let mut gemm_bw = false;
        for _ in 0..ROUNDS {
            gemm_bw = self.fit_gemm_bandwidth(&gemms);
            fitted = self.fit_rates(&by);
        }
        let mem = gemm_bw.then(|| memory_bound(&gemms, &self.rates));
        for _ in 0..ROUNDS {
            self.match_totals(&fitted, mem.as_deref());
        }
        if gemm_bw {
            let now = memory_bound(&gemms, &self.rates);
            fitted = self.identified(fitted, &now, &base);
            self.match_totals(&fitted, Some(&now));
        }
        for (d, class, ops) in &fitted {
            self.write_rate(*d, class, ops, out)?;
            let attn = &by[d].1;
            if *class == "gemm" && !attn.is_empty() {
                self.report(
                    format!("attention {} (GEMM's rate)", d.label()),
                    "not fitted: attention shares the dtype's rate".into(),
                    attn,
                );
            }
        }
        if gemm_bw {
            self.write_gemm_bandwidth(&gemms, out)?;
        }
        Ok(())
    }

    /// The shaped GEMMs and attention kernels per dtype the GPU runs them as.
    fn by_dtype<'m>(&self, m: &'m Measurements) -> BTreeMap<Dtype, (Ops<'m>, Ops<'m>)> {
        let mut by: BTreeMap<Dtype, (Ops, Ops)> = BTreeMap::new();
        for o in &m.ops {
            let Some((_, used)) = self.rates.flops(op_dtype(o)) else {
                continue;
            };
            match &o.op {
                Op::Gemm(_) => by.entry(used).or_default().0.push(o),
                Op::Attention(_) => by.entry(used).or_default().1.push(o),
                Op::Memory(_) => {}
            }
        }
        by
    }

    /// Fits each dtype's rate on the current rates; returns what each was fitted on.
    fn fit_rates<'m>(
        &mut self,
        by: &BTreeMap<Dtype, (Ops<'m>, Ops<'m>)>,
    ) -> Vec<(Dtype, &'static str, Ops<'m>)> {
        let mut fitted = Vec::new();
        self.fit.notes.retain(|n| !n.ends_with(RATE_NOT_FITTED));
        for (&d, (gemm, attn)) in by {
            let (fit_on, class) = if gemm.len() >= MIN_POINTS {
                (gemm, "gemm")
            } else {
                (attn, "attention")
            };
            if fit_on.len() < MIN_POINTS {
                self.fit.notes.push(format!(
                    "{}: {} GEMMs and {} attention kernels with shapes (fewer than {MIN_POINTS}){RATE_NOT_FITTED}",
                    d.label(), gemm.len(), attn.len()
                ));
                continue;
            }
            let peak = self.peak(d);
            let base = self.rates.clone();
            let with = |v: u64| {
                let mut r = base.clone();
                set_rate(&mut r, d, v);
                r
            };
            let v = best_in(peak / 100, peak, |v| cost(fit_on, &with(v)));
            set_rate(&mut self.rates, d, v);
            fitted.push((d, class, fit_on.clone()));
        }
        fitted
    }

    /// Keeps the GEMM rates the trace identifies: a dtype with fewer than [`MIN_POINTS`]
    /// GEMMs outside `mem` (the memory-bound ones) says nothing of its FLOP rate, which
    /// any value above some threshold fits as well; its rate goes back to the profile's
    /// (`base`), unwritten, and a note says so.
    fn identified<'m>(
        &mut self,
        fitted: Vec<(Dtype, &'static str, Ops<'m>)>,
        mem: &[&MeasuredOp],
        base: &HwRates,
    ) -> Vec<(Dtype, &'static str, Ops<'m>)> {
        let mut kept = Vec::new();
        for (d, class, ops) in fitted {
            let compute = ops.iter().filter(|o| !contains(mem, o)).count();
            if class != "gemm" || compute >= MIN_POINTS {
                kept.push((d, class, ops));
                continue;
            }
            let shipped = base.flops(d).map(|(v, _)| v).unwrap_or(0);
            set_rate(&mut self.rates, d, shipped);
            self.fit.notes.push(format!(
                "{}: {compute} of {} GEMMs compute-bound under the fitted bandwidth (fewer than {MIN_POINTS}): the trace does not identify the FLOP rate; the profile's ({}) stays",
                d.label(), ops.len(), format_flop_rate(shipped)
            ));
        }
        kept
    }

    /// Moves each fitted rate, and the memory-bound GEMM bandwidth where fitted, so that
    /// the model's total over its regime's kernels equals the measured one. The regimes
    /// are those of the least-squares fit, held fixed: `mem`, the GEMMs it found
    /// memory-bound (the bandwidth's); the other GEMMs of a dtype, or the attention its
    /// rate was fitted on (the rate's). The least-squares fit sets the split, this removes
    /// its bias in the totals, which a replay's span is made of.
    fn match_totals(&mut self, fitted: &[(Dtype, &'static str, Ops)], mem: Option<&[&MeasuredOp]>) {
        for (d, class, ops) in fitted {
            let on: Ops = match (class, mem) {
                (&"gemm", Some(mem)) => ops.iter().filter(|o| !contains(mem, o)).copied().collect(),
                _ => ops.clone(),
            };
            let base = self.rates.clone();
            let with = |v: u64| {
                let mut r = base.clone();
                set_rate(&mut r, *d, v);
                r
            };
            let peak = self.peak(*d);
            let v = match_total(peak / 100, peak, &on, with);
            set_rate(&mut self.rates, *d, v);
        }
        let Some(on) = mem else {
            return;
        };
        let base = self.rates.clone();
        let with = |bw: u64| {
            let mut r = base.clone();
            r.kernels.gemm_memory_bw = Some(bw);
            r
        };
        let peak = self.sys.node.gpu.hbm_bandwidth.peak;
        self.rates.kernels.gemm_memory_bw = Some(match_total(peak / 100, peak, on, with));
    }

    /// The effective bandwidth of memory-bound GEMMs, fitted on every shaped GEMM with
    /// the rates as they stand: kept only where at least [`MIN_POINTS`] GEMMs come out
    /// memory-bound under it (else the HBM's figure stays and the field is not written).
    fn fit_gemm_bandwidth(&mut self, gemms: &[&MeasuredOp]) -> bool {
        let peak = self.sys.node.gpu.hbm_bandwidth.peak;
        let base = self.rates.clone();
        let with = |bw: u64| {
            let mut r = base.clone();
            r.kernels.gemm_memory_bw = Some(bw);
            r
        };
        let bw = best_in(peak / 100, peak, |bw| cost(gemms, &with(bw)));
        let fitted = with(bw);
        if memory_bound(gemms, &fitted).len() >= MIN_POINTS {
            self.rates = fitted;
            return true;
        }
        self.rates.kernels.gemm_memory_bw = None;
        false
    }

    fn write_gemm_bandwidth(
        &mut self,
        gemms: &[&MeasuredOp],
        out: &mut Overrides,
    ) -> Result<(), CalibrateError> {
        let regime = memory_bound(gemms, &self.rates);
        let rep = self.report(
            "gemm memory-bound regime".into(),
            format!("{}: kernels.gemm_memory_bandwidth", self.gpu),
            &regime,
        );
        let note = self.note(
            "GEMMs the model finds memory-bound, jointly with the dtype rates",
            regime.len(),
            rep.rms_error_pct,
        );
        let bw = self.rates.kernels.gemm_memory_bw.unwrap_or(self.rates.hbm);
        self.set(
            out,
            &["kernels", "gemm_memory_bandwidth"],
            rate_value(bw),
            &note,
        )
    }

    fn peak(&self, d: Dtype) -> u64 {
        let c = &self.sys.node.gpu.compute;
        match d {
            Dtype::Bf16 => c.bf16,
            Dtype::Fp8 => c.fp8,
            Dtype::Fp4 => c.fp4,
            Dtype::Tf32 => c.tf32,
            Dtype::Fp32 => c.fp32,
        }
        .map_or(0, |r| r.peak)
    }

    /// Reports the fit of `d`'s rate (and, for GEMMs, its compute-bound regime alone)
    /// and writes it.
    fn write_rate(
        &mut self,
        d: Dtype,
        class: &str,
        ops: &[&MeasuredOp],
        out: &mut Overrides,
    ) -> Result<(), CalibrateError> {
        let target = format!("{}: compute.{}.achievable", self.gpu, d.label());
        let rep = self.report(format!("{class} {}", d.label()), target.clone(), ops);
        if class == "gemm" && self.rates.kernels.gemm_memory_bw.is_some() {
            let compute: Ops = ops
                .iter()
                .filter(|o| {
                    o.op.time(&self.rates)
                        .is_ok_and(|t| t.bound != Bound::Memory)
                })
                .copied()
                .collect();
            self.report(
                format!("gemm {} compute-bound regime", d.label()),
                target,
                &compute,
            );
        }
        let note = self.note(
            &format!("{class} {}", d.label()),
            ops.len(),
            rep.rms_error_pct,
        );
        let v = match d {
            Dtype::Bf16 => self.rates.bf16,
            Dtype::Fp8 => self.rates.fp8,
            Dtype::Fp4 => self.rates.fp4,
            Dtype::Tf32 => self.rates.tf32,
            Dtype::Fp32 => self.rates.fp32,
        }
        .unwrap_or(0);
        out.remove(self.reg, &self.gpu, &["compute", d.label(), "efficiency"])?;
        self.set(
            out,
            &["compute", d.label(), "achievable"],
            format_flop_rate(v).into(),
            &note,
        )
    }

    /// The median CPU cost of eager and graph launches.
    fn launches(&mut self, m: &Measurements, out: &mut Overrides) -> Result<(), CalibrateError> {
        let kinds: [(&[u64], &str, &[&str]); 2] = [
            (&m.launches_ps, "kernel launch (CPU)", &["kernel_launch"]),
            (
                &m.graph_launches_ps,
                "graph launch (CPU)",
                &["kernels", "graph_launch"],
            ),
        ];
        for (v, class, path) in kinds {
            let Some(med) = median(v) else {
                self.fit.notes.push(format!("{class}: none in the trace"));
                continue;
            };
            let model = vec![med as f64; v.len()];
            let measured: Vec<f64> = v.iter().map(|&p| p as f64).collect();
            let (max_error_pct, rms_error_pct) = errors(&model, &measured);
            self.fit.reports.push(FitReport {
                class: class.into(),
                target: format!("{}: {} (median)", self.gpu, path.join(".")),
                points: v.len(),
                max_error_pct,
                rms_error_pct,
                total_error_pct: None,
            });
            let note = format!("median of {} launch calls in {}", v.len(), self.file);
            self.set(out, path, time_value(med), &note)?;
        }
        Ok(())
    }

    /// Sized collectives, per collective and group size, as an nccl-tests sweep; a group
    /// that cannot be fitted (one size, a link without `[collective]` data for the
    /// algorithm the model picks) is noted with the reason.
    fn collectives(&mut self, m: &Measurements, out: &mut Overrides) -> Result<(), CalibrateError> {
        let mut by: BTreeMap<(&'static str, u32), Vec<Row>> = BTreeMap::new();
        let mut kind = BTreeMap::new();
        for c in &m.collectives {
            by.entry((c.collective.label(), c.ranks))
                .or_default()
                .push(Row {
                    bytes: c.bytes,
                    time_us: c.ps as f64 / 1e6,
                });
            kind.insert(c.collective.label(), c.collective);
        }
        for ((label, ranks), mut rows) in by {
            rows.sort_by(|a, b| a.bytes.cmp(&b.bytes).then(a.time_us.total_cmp(&b.time_us)));
            let run = Run {
                ranks: Some(ranks),
                rows,
            };
            match nccl_tests::calibrate(
                self.reg,
                self.sys,
                kind[label],
                &run,
                ranks,
                self.file,
                out,
            ) {
                Ok(r) => self.fit.reports.extend(r),
                Err(e) => self.fit.notes.push(format!(
                    "{label} on {ranks} ranks ({} kernels): not fitted: {e}",
                    run.rows.len()
                )),
            }
        }
        Ok(())
    }
}

/// The dtype a GEMM or attention kernel computes in (BF16 for a memory-bound kernel,
/// which has none and is never asked).
fn op_dtype(o: &MeasuredOp) -> Dtype {
    match &o.op {
        Op::Gemm(g) => g.dtype,
        Op::Attention(a) => a.dtype,
        Op::Memory(_) => Dtype::Bf16,
    }
}

/// Whether `o` is one of `ops` (the same measurement, not an equal one).
fn contains(ops: &[&MeasuredOp], o: &MeasuredOp) -> bool {
    ops.iter().any(|m| std::ptr::eq(*m, o))
}

/// The GEMMs of `ops` the model on `r` finds memory-bound.
fn memory_bound<'m>(ops: &[&'m MeasuredOp], r: &HwRates) -> Ops<'m> {
    ops.iter()
        .filter(|o| o.op.time(r).is_ok_and(|t| t.bound == Bound::Memory))
        .copied()
        .collect()
}

fn set_rate(r: &mut HwRates, d: Dtype, v: u64) {
    let slot = match d {
        Dtype::Bf16 => &mut r.bf16,
        Dtype::Fp8 => &mut r.fp8,
        Dtype::Fp4 => &mut r.fp4,
        Dtype::Tf32 => &mut r.tf32,
        Dtype::Fp32 => &mut r.fp32,
    };
    *slot = Some(v);
}

#[cfg(test)]
mod tests {
    use super::*;
    use memwall_models::cost::{Gemm, MemoryOp};

    fn sys() -> (Registry, SystemSpec) {
        let reg = Registry::embedded().unwrap();
        let s = reg.system("hgx-b200").unwrap();
        (reg, s)
    }

    #[test]
    fn best_in_finds_a_minimum() {
        let v = best_in(1, 1_000_000, |x| ((x as f64).ln() - 5000f64.ln()).powi(2));
        assert!((v as f64 / 5000.0 - 1.0).abs() < 1e-3, "{v}");
    }

    /// Kernels timed by the model on a profile whose BF16 rate and HBM bandwidth are
    /// known: the fit recovers them.
    #[test]
    fn recovers_rates_from_model_times() {
        let (reg, s) = sys();
        let mut truth = HwRates::from_system(&s);
        truth.kernels.memory_bw = Some(truth.hbm * 7 / 10);
        truth.bf16 = truth.bf16.map(|v| v / 2);
        let mut m = Measurements::default();
        for i in 0..40u64 {
            let ops = [
                Op::Memory(MemoryOp {
                    bytes: 1u128 << (10 + i % 20),
                }),
                Op::Gemm(Gemm {
                    m: 64 << (i % 6),
                    n: 4096,
                    k: 1024 << (i % 3),
                    batch: 1,
                    dtype: Dtype::Bf16,
                }),
            ];
            for op in ops {
                let ps = op.time(&truth).unwrap().ps;
                m.ops.push(MeasuredOp { op, ps });
            }
        }
        let mut out = Overrides::new();
        let fit = calibrate(&reg, &s, &m, "model.json", &mut out).unwrap();
        let worst = fit
            .reports
            .iter()
            .filter(|r| !r.class.contains("launch"))
            .map(|r| r.max_error_pct)
            .fold(0.0, f64::max);
        assert!(worst < 1.0, "{:#?}", fit);
        let files = out.files(&["model.json".into()]);
        assert_eq!(files.len(), 1);
        assert!(files[0].1.contains("calibrated") && files[0].1.contains("model.json"));
    }

    #[test]
    fn a_trace_without_shapes_fits_only_the_floor() {
        let (reg, s) = sys();
        let m = Measurements {
            kernels_ps: vec![5_000_000, 2_000_000, 9_000_000],
            ..Default::default()
        };
        let mut out = Overrides::new();
        let fit = calibrate(&reg, &s, &m, "t.json", &mut out).unwrap();
        assert!(fit.reports.is_empty());
        assert!(
            fit.notes
                .iter()
                .any(|n| n.contains("floor") && n.contains("2 us")),
            "{:?}",
            fit.notes
        );
    }
}
