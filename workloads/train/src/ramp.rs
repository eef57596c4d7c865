//! The step averaged over a whole run with a batch-size ramp: what a reported cost per
//! trillion tokens averages over (V3 §1 and §4.2: 180K H800 GPU-hours per trillion tokens
//! over 14.8T tokens, the first 469B of them at a batch growing from 3,072 to 15,360
//! sequences).

use memwall_llm::ModelRegistry;
use memwall_pipeline::Schedule;
use memwall_sim::Ps;

use super::build::run_step;
use super::config::TrainConfig;
use super::hw::TrainHw;
use super::plan::plan;
use super::TrainError;

/// Micro-batch counts simulated between the ramp's first feasible count and the full one.
const SAMPLES: u32 = 5;
/// Steps of the numerical integral over the ramp.
const INTEGRAL_STEPS: u32 = 1000;

/// The full-batch step and the step averaged over the run.
#[derive(Clone, Debug, PartialEq)]
pub struct RampMean {
    /// The step at the config's micro-batch count.
    pub full_step: Ps,
    /// The mean cost per token over the whole run, times the full step's tokens: the
    /// figure a reported cost per token converts to.
    pub mean_step: Ps,
    /// Micro-batches per pipeline at the ramp's first batch (fractional), and the
    /// smallest count the schedule allows: below it the per-token cost of the smallest
    /// count is used (a lower bound, since fewer micro-batches cost more per token).
    pub ramp_start: f64,
    pub floor: u32,
    /// (micro-batches, simulated step) at each sampled count.
    pub samples: Vec<(u32, Ps)>,
}

/// The step of `cfg` at `micro_batches` per pipeline.
fn step_at(
    cfg: &TrainConfig,
    hw: &TrainHw,
    models: &ModelRegistry,
    micro_batches: u32,
) -> Result<Ps, TrainError> {
    let mut c = cfg.clone();
    c.micro_batches = micro_batches;
    Ok(run_step(&plan(&c, hw, models)?)?.step_time)
}

/// The smallest micro-batch count at or above `from` that the schedule allows, up to
/// `to`.
fn floor_count(cfg: &TrainConfig, from: u32, to: u32) -> Result<u32, TrainError> {
    let kind = cfg.schedule_kind()?;
    for m in from..to {
        if Schedule::generate(kind, cfg.pp, m).is_ok() {
            return Ok(m);
        }
    }
    Ok(to)
}

/// The step averaged over the run of `cfg.batch_ramp` (None without one): the step is
/// simulated at a few micro-batch counts from the ramp's first feasible one to the full
/// one, the per-token cost interpolated (the step is linear between samples) and
/// integrated over a batch growing linearly in tokens, then the full batch's cost for
/// the rest of the run.
pub fn ramp_mean(
    cfg: &TrainConfig,
    hw: &TrainHw,
    models: &ModelRegistry,
) -> Result<Option<RampMean>, TrainError> {
    let (Some(ramp), Some(batch)) = (cfg.batch_ramp, cfg.global_batch) else {
        return Ok(None);
    };
    let full = cfg.micro_batches;
    let start = full as f64 * ramp.from_batch as f64 / batch as f64;
    let floor = floor_count(cfg, (start.ceil() as u32).max(1), full)?;
    let mut counts: Vec<u32> = (0..SAMPLES)
        .map(|i| floor + (full - floor) * i / (SAMPLES - 1))
        .map(|m| m.max(floor))
        .collect();
    counts.dedup();
    let mut samples = Vec::with_capacity(counts.len());
    for m in counts {
        let m = floor_count(cfg, m, full)?;
        if samples.last().is_none_or(|&(k, _)| k < m) {
            samples.push((m, step_at(cfg, hw, models, m)?));
        }
    }
    let full_step = samples.last().map_or(Ps::ZERO, |s| s.1);
    let cost = |m: f64| per_token(&samples, m.max(floor as f64));
    let width = full as f64 - start;
    let mut ramp_cost = cost(full as f64);
    if width > 0.0 {
        let h = width / INTEGRAL_STEPS as f64;
        let sum: f64 = (0..=INTEGRAL_STEPS)
            .map(|i| {
                let w = if i == 0 || i == INTEGRAL_STEPS {
                    0.5
                } else {
                    1.0
                };
                w * cost(start + h * i as f64)
            })
            .sum();
        ramp_cost = sum * h / width;
    }
    let share = ramp.tokens / ramp.train_tokens;
    let mean = share * ramp_cost + (1.0 - share) * cost(full as f64);
    Ok(Some(RampMean {
        full_step,
        mean_step: Ps((mean * full as f64).round() as u64),
        ramp_start: start,
        floor,
        samples,
    }))
}

/// Picoseconds per micro-batch at `m` micro-batches: the step interpolated linearly
/// between the samples (held at the ends), over `m`.
fn per_token(samples: &[(u32, Ps)], m: f64) -> f64 {
    let at = |i: usize| (samples[i].0 as f64, samples[i].1 .0 as f64);
    let Some(last) = samples.len().checked_sub(1) else {
        return 0.0;
    };
    let i = samples
        .iter()
        .position(|&(k, _)| k as f64 >= m)
        .unwrap_or(last);
    let (m1, s1) = at(i);
    if i == 0 || m1 <= m {
        return s1 / m1.max(1.0);
    }
    let (m0, s0) = at(i - 1);
    let s = s0 + (s1 - s0) * (m - m0) / (m1 - m0);
    s / m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_linear_in_the_step() {
        let s = [(10, Ps(100)), (20, Ps(150))];
        assert!((per_token(&s, 10.0) - 10.0).abs() < 1e-9);
        assert!((per_token(&s, 15.0) - 125.0 / 15.0).abs() < 1e-9);
        assert!((per_token(&s, 20.0) - 7.5).abs() < 1e-9);
        assert!((per_token(&s, 5.0) - 10.0).abs() < 1e-9);
        assert_eq!(per_token(&[], 5.0), 0.0);
    }
}
