//! Tidy CSV and the terminal summary of a [`RunResult`]. Seeds are in every report.

use std::fmt::Write as _;

use memwall_sim::Ps;

use super::run::{RunResult, RunStats, STEP_CSV_HEADER};

fn us(p: Ps) -> String {
    format!("{:.3}", p.0 as f64 / 1e6)
}

/// Per step x Engram layer, tidy.
pub fn step_csv(r: &RunResult) -> Vec<u8> {
    let mut s = String::new();
    s.push_str(STEP_CSV_HEADER);
    s.push('\n');
    for row in &r.step_rows {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{:.3}",
            r.scenario,
            r.seed,
            row.step,
            if row.prefill { "prefill" } else { "decode" },
            us(row.start),
            us(row.duration),
            row.tokens,
            row.layer,
            row.rows,
            us(row.latency),
            us(row.exposed),
            us(row.hidden),
            row.slack_ps as f64 / 1e6
        );
    }
    s.into_bytes()
}

/// Writes long-format summary rows of one run (`engram` or `no-engram`) of a result.
struct SummaryRows<'a> {
    out: &'a mut String,
    /// `scenario,seed,system,model,placement,run,` shared by every row.
    prefix: String,
}

impl SummaryRows<'_> {
    fn row(&mut self, metric: &str, layer: &str, value: String) {
        self.out
            .push_str(&format!("{}{metric},{layer},{value}\n", self.prefix));
    }
    fn secs(&mut self, metric: &str, layer: &str, p: Ps) {
        self.row(metric, layer, format!("{:.6}", p.as_secs_f64()));
    }
}

fn stats_rows(s: &mut String, r: &RunResult, run: &str, st: &RunStats) {
    let mut w = SummaryRows {
        out: s,
        prefix: format!(
            "{},{},{},{},{},{run},",
            r.scenario,
            r.seed,
            r.system,
            r.model,
            r.placement.as_deref().unwrap_or("none")
        ),
    };
    run_rows(&mut w, st);
    category_rows(&mut w, st);
    layer_rows(&mut w, st);
    w.row("step_engram_exposed_p50_us", "", us(st.step_exposed_p50));
    w.row("step_engram_exposed_p99_us", "", us(st.step_exposed_p99));
    if let Some(h) = st.hbm_cache_hit_rate {
        w.row("hbm_cache_hit_rate", "", format!("{h:.6}"));
    }
    if let Some(h) = st.dram_cache_hit_rate {
        w.row("dram_cache_hit_rate", "", format!("{h:.6}"));
    }
    if st.nvme_pages > 0 {
        w.row("nvme_pages", "", st.nvme_pages.to_string());
    }
}

/// Throughput, counts and compute-stream time of the run.
fn run_rows(w: &mut SummaryRows, st: &RunStats) {
    w.row("tokens_per_s", "", format!("{:.3}", st.tokens_per_s));
    w.secs("makespan_s", "", st.makespan);
    for (metric, n) in [
        ("output_tokens", st.output_tokens),
        ("prompt_tokens", st.prompt_tokens),
        ("steps", st.steps),
        ("prefill_steps", st.prefill_steps),
        ("requests", st.requests),
        ("preemptions", st.preemptions),
    ] {
        w.row(metric, "", n.to_string());
    }
    w.secs("busy_s", "", st.busy);
    w.secs("bubble_s", "", st.bubble);
}

/// Stalls and op totals per category.
fn category_rows(w: &mut SummaryRows, st: &RunStats) {
    for (c, p) in &st.exposed_by_category {
        w.secs("stall_s", c, *p);
    }
    for (c, t) in &st.by_category {
        w.secs("op_latency_s", c, t.latency);
        w.secs("op_exposed_s", c, t.exposed);
        w.secs("op_hidden_s", c, t.hidden);
        w.row("op_bytes", c, t.bytes.to_string());
    }
}

/// Per Engram layer totals.
fn layer_rows(w: &mut SummaryRows, st: &RunStats) {
    for l in &st.layers {
        let k = l.layer.to_string();
        w.row("engram_rows", &k, l.rows.to_string());
        w.row("engram_bytes", &k, l.bytes.to_string());
        w.secs("engram_fetch_latency_s", &k, l.latency);
        w.secs("engram_exposed_s", &k, l.exposed);
        w.secs("engram_hidden_s", &k, l.hidden);
        let slack = format!("{:.3}", l.min_slack_ps as f64 / 1e6);
        w.row("engram_min_slack_us", &k, slack);
        w.row("engram_steps_exposed", &k, l.steps_exposed.to_string());
    }
}

pub const SUMMARY_CSV_HEADER: &str = "scenario,seed,system,model,placement,run,metric,layer,value";

/// Long-format summary: one metric per row.
pub fn summary_csv(r: &RunResult) -> Vec<u8> {
    let mut s = String::new();
    s.push_str(SUMMARY_CSV_HEADER);
    s.push('\n');
    stats_rows(&mut s, r, "engram", &r.with_engram);
    if let Some(b) = &r.without_engram {
        stats_rows(&mut s, r, "no-engram", b);
    }
    if let Some(p) = r.penalty {
        let _ = writeln!(
            s,
            "{},{},{},{},{},compare,throughput_penalty_pct,,{:.4}",
            r.scenario,
            r.seed,
            r.system,
            r.model,
            r.placement.as_deref().unwrap_or("none"),
            p * 100.0
        );
    }
    s.into_bytes()
}

/// Where the Engram latency went, for the terminal.
pub fn summary_text(r: &RunResult) -> String {
    let st = &r.with_engram;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "scenario {} (seed {}): {} on {}, Engram placement {}",
        r.scenario,
        r.seed,
        r.model,
        r.system,
        r.placement.as_deref().unwrap_or("none")
    );
    let _ = writeln!(
        s,
        "  {} requests, {} steps ({} prefill), {} output tokens in {:.3} s simulated: {:.1} tok/s",
        st.requests,
        st.steps,
        st.prefill_steps,
        st.output_tokens,
        st.makespan.as_secs_f64(),
        st.tokens_per_s
    );
    if let (Some(b), Some(p)) = (&r.without_engram, r.penalty) {
        let _ = writeln!(
            s,
            "  without Engram: {:.1} tok/s -> throughput penalty {:.2}%",
            b.tokens_per_s,
            p * 100.0
        );
    }
    let _ = writeln!(
        s,
        "  GPU time (all replicas): busy {:.3} s, bubble {:.3} s",
        st.busy.as_secs_f64(),
        st.bubble.as_secs_f64()
    );
    for (c, p) in &st.exposed_by_category {
        let _ = writeln!(s, "  stall on {c:<18} {:>10.3} ms", p.as_secs_f64() * 1e3);
    }
    let _ = writeln!(s, "  Engram fetches per layer (slowest GPU each step):");
    let _ = writeln!(
        s,
        "    {:>5} {:>12} {:>10} {:>12} {:>12} {:>12} {:>13} {:>9}",
        "layer", "rows", "GB", "latency ms", "hidden ms", "exposed ms", "min slack us", "exp steps"
    );
    for l in &st.layers {
        let _ = writeln!(
            s,
            "    {:>5} {:>12} {:>10.3} {:>12.3} {:>12.3} {:>12.3} {:>13.1} {:>9}",
            l.layer,
            l.rows,
            l.bytes as f64 / 1e9,
            l.latency.as_secs_f64() * 1e3,
            l.hidden.as_secs_f64() * 1e3,
            l.exposed.as_secs_f64() * 1e3,
            l.min_slack_ps as f64 / 1e6,
            l.steps_exposed
        );
    }
    let _ = writeln!(
        s,
        "  per-step Engram stall: p50 {:.1} us, p99 {:.1} us",
        st.step_exposed_p50.0 as f64 / 1e6,
        st.step_exposed_p99.0 as f64 / 1e6
    );
    if let Some(h) = st.hbm_cache_hit_rate {
        let _ = writeln!(s, "  HBM row cache hit rate {:.1}%", h * 100.0);
    }
    if let Some(h) = st.dram_cache_hit_rate {
        let _ = writeln!(s, "  DRAM row cache hit rate {:.1}%", h * 100.0);
    }
    s
}
