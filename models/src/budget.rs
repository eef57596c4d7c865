//! Resource budgets: before a large run, memwall estimates its peak memory and CPU time
//! ([`Estimate`], computed by the workload from its counts) and refuses past the budget
//! unless the user forces it (`--force`). The default budget is 2 GiB of memory and one
//! hour of CPU time; `MEMWALL_MEMORY_BUDGET` (bytes) overrides the memory budget.

use std::sync::atomic::{AtomicBool, Ordering};

/// About how much memory and time a run takes (upper estimates, from measured costs per
/// unit of work; see each workload's `estimate`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Peak resident memory, in bytes.
    pub bytes: u64,
    /// CPU time, in seconds.
    pub seconds: f64,
}

/// The memory a run may use without `--force`: 2 GiB.
pub const DEFAULT_MEMORY_BUDGET: u64 = 2 << 30;
/// The CPU time a run may take without `--force`: one hour.
pub const TIME_BUDGET_SECS: f64 = 3600.0;
/// The environment variable that overrides [`DEFAULT_MEMORY_BUDGET`] (a byte count).
pub const MEMORY_BUDGET_VAR: &str = "MEMWALL_MEMORY_BUDGET";

/// Set by `--force`: every estimate is within budget.
static FORCED: AtomicBool = AtomicBool::new(false);

/// Lifts the budget for the rest of the process (the CLI's `--force`).
pub fn force() {
    FORCED.store(true, Ordering::Relaxed);
}

/// The memory budget in force.
pub fn memory_budget() -> u64 {
    if FORCED.load(Ordering::Relaxed) {
        return u64::MAX;
    }
    std::env::var(MEMORY_BUDGET_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_MEMORY_BUDGET)
}

/// A run estimated past the budget.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{what}: this run needs about {} of memory and {} of CPU time, past the budget of {} and {}\nhint: {hint}; or pass --force to run it anyway (or raise {MEMORY_BUDGET_VAR})",
    gib(est.bytes), secs(est.seconds), gib(*budget), secs(TIME_BUDGET_SECS)
)]
pub struct BudgetError {
    pub what: String,
    pub est: Estimate,
    pub budget: u64,
    pub hint: String,
}

fn gib(b: u64) -> String {
    format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
}

fn secs(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.0} s")
    } else if s < 7200.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

impl Estimate {
    /// Adds a fixed cost and a cost per unit of work (saturating: an absurd count gives an
    /// absurd estimate, never an overflow).
    pub fn plus(self, units: f64, bytes_each: f64, seconds_each: f64) -> Estimate {
        let bytes = self.bytes as f64 + (units * bytes_each).max(0.0);
        Estimate {
            bytes: if bytes >= u64::MAX as f64 {
                u64::MAX
            } else {
                bytes as u64
            },
            seconds: self.seconds + (units * seconds_each).max(0.0),
        }
    }

    /// `Err` when past the memory budget ([`memory_budget`]) or [`TIME_BUDGET_SECS`],
    /// unless `force`. `what` names the input, `hint` says what to lower.
    pub fn check(self, what: &str, force: bool, hint: &str) -> Result<(), BudgetError> {
        let budget = memory_budget();
        let forced = force || FORCED.load(Ordering::Relaxed);
        if forced || (self.bytes <= budget && self.seconds <= TIME_BUDGET_SECS) {
            return Ok(());
        }
        Err(BudgetError {
            what: what.to_string(),
            est: self,
            budget,
            hint: hint.to_string(),
        })
    }

    /// One line for the terminal: "about 1.20 GiB and 3 min".
    pub fn describe(&self) -> String {
        format!("about {} and {}", gib(self.bytes), secs(self.seconds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_budget_is_refused_unless_forced() {
        let base = Estimate {
            bytes: 1 << 20,
            seconds: 0.0,
        };
        assert!(base.check("x", false, "h").is_ok());
        let big = base.plus(1e9, 100.0, 0.0);
        let e = big.check("s.toml", false, "lower requests").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("s.toml: this run needs about 93.13 GiB"),
            "{e}"
        );
        assert!(e.to_string().contains("--force"));
        assert!(big.check("x", true, "h").is_ok());
        let slow = base.plus(1e9, 0.0, 1e-5);
        assert!(slow.check("x", false, "h").is_err());
        assert_eq!(base.plus(f64::MAX, 1e300, 0.0).bytes, u64::MAX);
    }
}
