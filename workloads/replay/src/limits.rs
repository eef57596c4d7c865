//! The memory and CPU time of a replay, estimated from the length of the trace's JSON
//! text before it is imported (`Estimate::check`: past the budget a replay is refused
//! unless forced). The importer keeps only GPU ops and launch calls, so the text is an
//! upper bound of what it keeps: a trace of nothing but kernels costs the most per byte.

use memwall_models::budget::Estimate;

/// Measured costs per byte of JSON text, import, simulation and outputs together, on the
/// development machine (docs/replay.md, "Limits"): a synthetic trace of kernels and their
/// launches only (160,000 of each, 52 MB of text) took 186 MB and 1.6 s of CPU time, 3.4
/// bytes and 31 ns per byte; the shipped HTA, TraceLens and DeepSeek traces (3 to 14 MB
/// of text) 0.3 to 0.7 bytes and about 10 ns per byte. Rounded up from the worst.
const BYTES_PER_BYTE: f64 = 4.0;
const SECS_PER_BYTE: f64 = 60e-9;
/// The process before the import: registries, profiles.
const BASE_BYTES: u64 = 16 << 20;

/// About how much memory and CPU time replaying a trace of `json_bytes` of JSON text
/// takes.
pub fn estimate(json_bytes: u64) -> Estimate {
    Estimate {
        bytes: BASE_BYTES,
        seconds: 0.0,
    }
    .plus(json_bytes as f64, BYTES_PER_BYTE, SECS_PER_BYTE)
}

/// The text length past which a replay is over a memory budget of `budget` bytes: a
/// trace's length need not be counted further (`memwall_kineto::document_len`).
pub fn max_json_bytes(budget: u64) -> u64 {
    (budget.saturating_sub(BASE_BYTES) as f64 / BYTES_PER_BYTE) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_past_the_budget_is_refused_and_the_count_stops_there() {
        let budget = 2u64 << 30;
        let edge = max_json_bytes(budget);
        assert!(estimate(edge).bytes <= budget);
        assert!(estimate(edge + (1 << 20))
            .check("t.json", false, "h")
            .is_err());
        assert!(estimate(14_000_000).check("t.json", false, "h").is_ok());
    }
}
