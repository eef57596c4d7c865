//! The documented range of every count and size in a scenario (scenarios/README.md,
//! "Limits"), checked when the scenario is read, before anything is allocated. The first
//! value out of range stops the check, and the error names the file, the line, the field,
//! the range and an example.
//!
//! The ranges are wide enough for any real deployment (a million-token context, ten
//! million requests, a thousand GPUs) and narrow enough that no value in range can make
//! an allocation or a time sum overflow.

use crate::scenario::{line_of, Scenario, WorkloadSpec};
use crate::ScenarioError;
use memwall_models::budget::Estimate;

/// One field's range, inclusive, with an example of a sensible value.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub field: &'static str,
    pub min: u64,
    pub max: u64,
    pub example: &'static str,
}

const fn limit(field: &'static str, min: u64, max: u64, example: &'static str) -> Limit {
    Limit {
        field,
        min,
        max,
        example,
    }
}

/// Requests in one run (a synthetic workload, or `max_requests` of a CSV).
pub const REQUESTS: Limit = limit("workload.requests", 1, 10_000_000, "requests = 256");
/// Tokens of one prompt or one output (a million-token context).
pub const TOKENS: u64 = 1 << 20;

/// Every count and size of a scenario, in the order they are checked.
pub const LIMITS: &[Limit] = &[
    REQUESTS,
    limit(
        "workload.max_requests",
        1,
        10_000_000,
        "max_requests = 1000",
    ),
    limit(
        "workload.prompt_tokens",
        1,
        TOKENS,
        "prompt_tokens = [100, 1024]",
    ),
    limit(
        "workload.output_tokens",
        1,
        TOKENS,
        "output_tokens = [100, 256]",
    ),
    limit("workload.concurrency", 1, 1_000_000, "concurrency = 64"),
    limit("workload.max_steps", 1, 1 << 40, "max_steps = 1000"),
    limit(
        "metrics.warmup_requests",
        0,
        10_000_000,
        "warmup_requests = 32",
    ),
    limit(
        "metrics.cooldown_requests",
        0,
        10_000_000,
        "cooldown_requests = 32",
    ),
    limit(
        "engine.replicas",
        0,
        1024,
        "replicas = 0 (every GPU of the node)",
    ),
    limit("engine.expert_parallel", 1, 1024, "expert_parallel = 8"),
    limit("engine.tensor_parallel", 1, 1024, "tensor_parallel = 2"),
    limit("engine.max_num_seqs", 1, 65_536, "max_num_seqs = 256"),
    limit(
        "engine.max_batched_tokens",
        1,
        1 << 24,
        "max_batched_tokens = 16384",
    ),
    limit(
        "engine.kv_cache_tokens",
        1,
        1 << 32,
        "kv_cache_tokens = 1000000",
    ),
    limit(
        "engine.kernels_per_layer",
        0,
        10_000,
        "kernels_per_layer = 8",
    ),
    limit("engram.kernels", 0, 10_000, "kernels = 4"),
    limit("engram.layer_ids", 0, 1023, "layer_ids = [1, 14]"),
    limit("engram.rows_per_token", 1, 4096, "rows_per_token = 32"),
    limit("engram.row_bytes", 1, 1 << 20, "row_bytes = 264"),
    limit("engram.table_rows", 1, 1 << 40, "table_rows = 1000000"),
    limit("engram.row_dim", 1, 1 << 20, "row_dim = 128"),
    limit("engram.conv_kernel", 0, 64, "conv_kernel = 4"),
    limit("engram.phrases", 1, 1 << 32, "phrases = 1000000"),
    limit(
        "engram.hbm_cache.warmup_steps",
        0,
        1_000_000,
        "warmup_steps = 32",
    ),
];

fn find(field: &str) -> &'static Limit {
    LIMITS
        .iter()
        .find(|l| l.field == field)
        .expect("every checked field has a limit")
}

/// The values of `s` to check, field by field (a list contributes each element).
fn values(s: &Scenario) -> Vec<(&'static str, u64)> {
    let mut v = Vec::new();
    match &s.workload {
        WorkloadSpec::Synthetic {
            requests,
            prompt_tokens,
            output_tokens,
        } => {
            v.push(("workload.requests", *requests));
            v.extend(prompt_tokens.map(|t| ("workload.prompt_tokens", t as u64)));
            v.extend(output_tokens.map(|t| ("workload.output_tokens", t as u64)));
        }
        WorkloadSpec::Azure { max_requests, .. } | WorkloadSpec::Jsonl { max_requests, .. } => {
            v.extend(max_requests.map(|n| ("workload.max_requests", n)));
        }
        WorkloadSpec::Poisson {
            requests,
            prompt_tokens,
            output_tokens,
            ..
        } => generated(&mut v, *requests, prompt_tokens, output_tokens),
        WorkloadSpec::ClosedLoop {
            concurrency,
            requests,
            prompt_tokens,
            output_tokens,
            ..
        } => {
            v.push(("workload.concurrency", *concurrency));
            generated(&mut v, *requests, prompt_tokens, output_tokens);
        }
        WorkloadSpec::EngramTrace { max_steps, .. } => {
            v.extend(max_steps.map(|n| ("workload.max_steps", n)));
        }
    }
    v.push(("metrics.warmup_requests", s.metrics.warmup_requests));
    v.push(("metrics.cooldown_requests", s.metrics.cooldown_requests));
    let e = &s.engine;
    v.push(("engine.replicas", e.replicas as u64));
    v.push(("engine.expert_parallel", e.expert_parallel));
    v.push(("engine.tensor_parallel", e.tensor_parallel));
    v.extend(e.max_num_seqs.map(|n| ("engine.max_num_seqs", n as u64)));
    v.extend(
        e.max_batched_tokens
            .map(|n| ("engine.max_batched_tokens", n)),
    );
    v.extend(e.kv_cache_tokens.map(|t| ("engine.kv_cache_tokens", t)));
    v.extend(e.kernels_per_layer.map(|n| ("engine.kernels_per_layer", n)));
    if let Some(g) = &s.engram {
        v.push(("engram.kernels", g.kernels));
        let ids = g.layer_ids.iter().flatten();
        v.extend(ids.map(|&i| ("engram.layer_ids", i as u64)));
        for (f, x) in [
            ("engram.rows_per_token", g.rows_per_token),
            ("engram.row_bytes", g.row_bytes),
            ("engram.table_rows", g.table_rows),
            ("engram.row_dim", g.row_dim),
            ("engram.conv_kernel", g.conv_kernel),
        ] {
            v.extend(x.map(|x| (f, x)));
        }
        v.push(("engram.phrases", g.phrases));
        let warm = g.hbm_cache.as_ref().map(|h| h.warmup_steps);
        v.extend(warm.map(|w| ("engram.hbm_cache.warmup_steps", w)));
    }
    v
}

/// A generated workload's request count and length ranges.
fn generated(
    v: &mut Vec<(&'static str, u64)>,
    requests: u64,
    prompt: &Option<[u32; 2]>,
    output: &Option<[u32; 2]>,
) {
    v.push(("workload.requests", requests));
    v.extend(
        prompt
            .iter()
            .flatten()
            .map(|&t| ("workload.prompt_tokens", t as u64)),
    );
    v.extend(
        output
            .iter()
            .flatten()
            .map(|&t| ("workload.output_tokens", t as u64)),
    );
}

/// Checks every count and size of `s` against [`LIMITS`]; the first out of range is the
/// error.
pub fn check(s: &Scenario) -> Result<(), ScenarioError> {
    for (field, value) in values(s) {
        let l = find(field);
        if !(l.min..=l.max).contains(&value) {
            return Err(ScenarioError::Range {
                origin: s.origin.clone(),
                line: key_line(&s.source_text, field),
                field: field.to_string(),
                value,
                min: l.min,
                max: l.max,
                example: l.example,
            });
        }
    }
    Ok(())
}

/// The 1-based line where `field` (`table.key` or `table.sub.key`) is written, found by
/// its `[table]` header and its `key =`; `None` when it is written another way (an inline
/// table, a dotted key).
pub fn key_line(text: &str, field: &str) -> Option<usize> {
    let (table, key) = field.rsplit_once('.')?;
    let header = format!("[{table}]");
    let mut offset = 0;
    let mut in_table = false;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        if t.starts_with('[') {
            in_table = t.split('#').next().is_some_and(|h| h.trim() == header);
        } else if in_table {
            let k = t.split('=').next().unwrap_or("").trim();
            if t.contains('=') && k == key {
                return Some(line_of(text, offset));
            }
        }
        offset += line.len();
    }
    None
}

/// Measured costs of the step loop (the shipped `default` scenario and a one-sequence
/// variant of it, on one core of the development machine, both with the no-Engram
/// comparison run): CPU time per engine step and per output token, memory per request and
/// per step kept for the reports.
const SECS_PER_STEP: f64 = 10e-6;
const SECS_PER_TOKEN: f64 = 0.5e-6;
const BYTES_PER_REQUEST: f64 = 256.0;
const BYTES_PER_STEP: f64 = 400.0;
/// The process before any request: registries, model, code.
const BASE_BYTES: u64 = 16 << 20;
/// Whole-cluster EP (`crate::ep_cluster`): CPU per engine step per ordered GPU pair of
/// the all-to-all's flows (`cargo bench -p memwall-serve --bench ep_cluster`: 250 ms per
/// decode step of EP144, 144 x 16 sequences, on a loaded 2-core machine before the links
/// that cannot bind were left out of the paths; 42 ms quiet since, about 2 us a pair, so
/// this is a generous bound).
const SECS_PER_PAIR_STEP: f64 = 12e-6;

/// About how much memory and CPU time serving `s` takes on a node of `gpus` GPUs: steps
/// per replica are its requests' output tokens over its batch; every replica's steps are
/// simulated, and the reports keep a row per step.
pub fn estimate(s: &Scenario, gpus: usize) -> Estimate {
    let (requests, mean_out) = match &s.workload {
        WorkloadSpec::Synthetic {
            requests,
            output_tokens,
            ..
        } => (
            *requests as f64,
            (output_tokens[0] as f64 + output_tokens[1] as f64) / 2.0,
        ),
        WorkloadSpec::Azure { csv, max_requests } => {
            // A CSV row is at least 20 bytes.
            let rows = std::fs::metadata(crate::run::resolve(s, csv)).map_or(0, |m| m.len() / 20);
            (max_requests.unwrap_or(rows).min(rows.max(1)) as f64, 256.0)
        }
        WorkloadSpec::Jsonl { file, max_requests } => {
            // A JSONL line of the three fields is at least 50 bytes.
            let rows = std::fs::metadata(crate::run::resolve(s, file)).map_or(0, |m| m.len() / 50);
            (max_requests.unwrap_or(rows).min(rows.max(1)) as f64, 256.0)
        }
        WorkloadSpec::Poisson { requests, .. } | WorkloadSpec::ClosedLoop { requests, .. } => {
            let out = match s.workload.lengths() {
                Some(crate::scenario::LengthSpec::Uniform { output, .. }) => {
                    (output[0] as f64 + output[1] as f64) / 2.0
                }
                _ => 256.0,
            };
            (*requests as f64, out)
        }
        WorkloadSpec::EngramTrace { trace, max_steps } => {
            // One engine; a step per record at most (a record is at least 36 bytes).
            let records =
                std::fs::metadata(crate::run::resolve(s, trace)).map_or(1, |m| m.len() / 36);
            (1.0, max_steps.unwrap_or(records).min(records.max(1)) as f64)
        }
    };
    // Whole-cluster EP serves a replica per GPU of the EP group, over several nodes.
    let ep = s.engine.expert_parallel as usize;
    let whole = s.moe.is_some() && ep > gpus;
    let gpus = if whole { ep } else { gpus };
    let replicas = match s.engine.replicas {
        0 => gpus.max(1),
        r => r,
    } as f64;
    // Engram is refused with it: one run.
    let pairs = if whole { (ep * ep) as f64 } else { 0.0 };
    let per_replica = (requests / replicas).ceil();
    let batch = (s.engine.max_num_seqs_or_default() as f64)
        .min(per_replica)
        .max(1.0);
    let steps = per_replica * mean_out / batch;
    let runs = if s.compare_without_engram && s.engram.is_some() {
        2.0
    } else {
        1.0
    };
    Estimate {
        bytes: BASE_BYTES,
        seconds: 0.0,
    }
    .plus(
        requests,
        BYTES_PER_REQUEST,
        SECS_PER_TOKEN * mean_out * runs / 2.0,
    )
    .plus(
        steps,
        BYTES_PER_STEP,
        SECS_PER_STEP * replicas * runs / 2.0 + SECS_PER_PAIR_STEP * pairs,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_found_under_its_table() {
        let t = "a = 1\n[engine]\nmax_num_seqs = 2 # x\n[engram.hbm_cache]\nwarmup_steps = 3\n";
        assert_eq!(key_line(t, "engine.max_num_seqs"), Some(3));
        assert_eq!(key_line(t, "engram.hbm_cache.warmup_steps"), Some(5));
        assert_eq!(key_line(t, "engine.replicas"), None);
    }

    /// A whole-cluster EP group is priced per GPU pair of its all-to-all and step: 144
    /// replicas x 10 sequences of 10 tokens are 10 steps of 144^2 pairs (about 2.5 s),
    /// where EP8 on one node serves them in 180 cheap steps.
    #[test]
    fn whole_cluster_ep_is_priced_per_pair() {
        let at = |ep: u32| {
            let text = format!(
                "system = \"deepseek-h800-cluster\"\nmodel = \"deepseek-v3\"\n[workload]\n\
                 kind = \"synthetic\"\nrequests = 1440\nprompt_tokens = [1, 2]\n\
                 output_tokens = [10, 10]\n[engine]\nexpert_parallel = {ep}\n\
                 max_num_seqs = 10\n[moe]\n"
            );
            estimate(&Scenario::from_toml_str("ep.toml", &text).unwrap(), 8).seconds
        };
        let (one, many) = (at(8), at(144));
        assert!(one < 0.1, "{one}");
        assert!((many - 2.5).abs() < 0.1, "{many}");
    }

    #[test]
    fn every_limit_is_a_range_and_listed_once() {
        for (i, l) in LIMITS.iter().enumerate() {
            assert!(l.min <= l.max, "{}", l.field);
            assert!(
                LIMITS[i + 1..].iter().all(|m| m.field != l.field),
                "{}",
                l.field
            );
        }
    }
}
