//! The documented range of every count of a training config (docs/training.md, "Limits"),
//! and estimates of the memory and CPU time of `memwall train` and `memwall fabric`,
//! checked before a schedule, a plan or a fabric is built (`Estimate::check`: past the
//! budget a run is refused unless forced).

use crate::{TrainConfig, TrainError};
use memwall_models::budget::Estimate;

/// One count's range, inclusive, with an example of a sensible value.
struct Limit {
    field: &'static str,
    min: u64,
    max: u64,
    example: &'static str,
}

/// The counts of a config: wide enough for any real cluster, narrow enough that no value
/// in range overflows the arithmetic of a plan. PP and N are the schedule generator's own
/// bounds (`memwall_pipeline::MAX_RANKS`, `MAX_MICRO_BATCHES`).
fn limits(cfg: &TrainConfig) -> [(Limit, u64); 6] {
    let l = |field, min, max, example| Limit {
        field,
        min,
        max,
        example,
    };
    let rank_max = 2 * memwall_pipeline::MAX_RANKS as u64;
    [
        (l("pp", 1, rank_max, "pp = 16"), cfg.pp as u64),
        (
            l(
                "micro_batches",
                1,
                memwall_pipeline::MAX_MICRO_BATCHES as u64,
                "micro_batches = 120",
            ),
            cfg.micro_batches as u64,
        ),
        (l("ep", 1, 1 << 20, "ep = 64"), cfg.ep as u64),
        (l("dp", 1, 1 << 24, "dp = 128"), cfg.dp as u64),
        (
            l("node_limit", 0, 1 << 20, "node_limit = 4 (0: unlimited)"),
            cfg.node_limit as u64,
        ),
        (
            l("param_bytes", 1, 8, "param_bytes = 2 (BF16)"),
            cfg.param_bytes,
        ),
    ]
}

/// Checks the counts of `cfg` (after the command line's overrides); the first out of
/// range stops the check.
pub fn check(cfg: &TrainConfig, origin: &str) -> Result<(), TrainError> {
    for (l, v) in limits(cfg) {
        if v < l.min || v > l.max {
            return Err(TrainError::Config(format!(
                "{origin}: field `{}` = {v} is out of range {}..={}\nhint: e.g. {}",
                l.field, l.min, l.max, l.example
            )));
        }
    }
    Ok(())
}

/// Measured costs of one training step (`memwall train` on the shipped config at PP 4 to
/// 32 and N 8 to 2,000, one core of the development machine; docs/training.md,
/// "Limits"): memory and CPU time per micro-batch per layer (every micro-batch crosses
/// every layer forward and backward), and the time to write its timeline row.
const BYTES_PER_MB_LAYER: f64 = 5.6e3;
const SECS_PER_MB_LAYER: f64 = 70e-6;
const TIMELINE_SECS_PER_MB_LAYER: f64 = 40e-6;
/// The process before the step: registries, model, plan.
const BASE_BYTES: u64 = 16 << 20;

/// About how much memory and CPU time `memwall train` takes for `cfg` on a model of
/// `layers` layers, on `systems` systems one after the other (the peak is one system's),
/// with or without the per-op timeline CSV.
pub fn estimate(cfg: &TrainConfig, layers: u32, systems: usize, timeline: bool) -> Estimate {
    let units = cfg.micro_batches as f64 * layers as f64;
    let per_unit = SECS_PER_MB_LAYER
        + if timeline {
            TIMELINE_SECS_PER_MB_LAYER
        } else {
            0.0
        };
    Estimate {
        bytes: BASE_BYTES,
        seconds: 0.0,
    }
    .plus(units, BYTES_PER_MB_LAYER, per_unit * systems.max(1) as f64)
}

/// Measured cost of `memwall train --whole-cluster` (`cargo bench -p memwall-train --bench
/// train_cluster`: the V3 step, 120 micro-batches x 61 layers with EP64, one EP group per
/// stage simulated after the fold, took 103.7 s of CPU and 68 MB): CPU time per
/// micro-batch, layer and ordered pair of an EP group's GPUs.
const WHOLE_SECS_PER_MB_LAYER_PAIR: f64 = 3.5e-6;

/// `est` plus the whole-cluster mode's flows (`--whole-cluster`): one EP group per stage,
/// as when the fold applies; a fabric whose leaf trunks can bind simulates every group of
/// a stage, `dp / ep` times this.
pub fn whole_cluster_estimate(est: Estimate, cfg: &TrainConfig, layers: u32) -> Estimate {
    let ep = cfg.ep as f64;
    let units = cfg.micro_batches as f64 * layers as f64 * ep * ep;
    est.plus(units, 0.0, WHOLE_SECS_PER_MB_LAYER_PAIR)
}

/// Measured costs of `memwall fabric` (DeepSeek-V3 EP64 on the 128-GPU H800 cluster at
/// 4,096, 16,384 and 262,144 tokens per GPU: 3.2, 10.9 and 173 s of CPU time, 24 MB):
/// CPU time per token a GPU routes, and memory per GPU pair (one flow each way).
const FABRIC_SECS_PER_GPU_TOKEN: f64 = 6.5e-6;
const FABRIC_BYTES_PER_PAIR: f64 = 512.0;

/// About how much memory and CPU time one EP layer over `gpus` GPUs, each routing
/// `tokens` tokens, takes in whole-cluster mode.
pub fn fabric_estimate(gpus: u64, tokens: u64) -> Estimate {
    let g = gpus as f64;
    Estimate {
        bytes: BASE_BYTES,
        seconds: 0.0,
    }
    .plus(g * g, FABRIC_BYTES_PER_PAIR, 0.0)
    .plus(g * tokens as f64, 0.0, FABRIC_SECS_PER_GPU_TOKEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_out_of_range_are_named_and_large_runs_estimated_large() {
        let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
        assert!(check(&cfg, "c.toml").is_ok());
        let shipped = estimate(&cfg, 61, 1, true);
        assert!(shipped.check("c", false, "h").is_ok(), "{shipped:?}");
        cfg.micro_batches = 1 << 21;
        let e = check(&cfg, "c.toml").unwrap_err().to_string();
        assert!(
            e.contains("`micro_batches` = 2097152 is out of range"),
            "{e}"
        );
        cfg.micro_batches = 100_000;
        assert!(estimate(&cfg, 61, 1, false).check("c", false, "h").is_err());
        cfg.param_bytes = 0;
        assert!(check(&cfg, "c.toml")
            .unwrap_err()
            .to_string()
            .contains("param_bytes"));
        let v3 = TrainConfig::builtin("deepseek-v3-h800").unwrap();
        let whole = whole_cluster_estimate(estimate(&v3, 61, 1, false), &v3, 61);
        assert!((60.0..300.0).contains(&whole.seconds), "{whole:?}");
        let mut big = v3.clone();
        big.micro_batches = 5_000;
        let whole = whole_cluster_estimate(estimate(&big, 61, 1, false), &big, 61);
        assert!(whole.check("c", false, "h").is_err(), "{whole:?}");
        assert!(fabric_estimate(128, 4096).check("f", false, "h").is_ok());
        assert!(fabric_estimate(100_000, 4096)
            .check("f", false, "h")
            .is_err());
    }
}
