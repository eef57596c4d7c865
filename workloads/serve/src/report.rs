//! Tidy CSV and the terminal summary of a [`RunResult`]. Seeds are in every report.

use std::fmt::Write as _;

use memwall_sim::Ps;

use super::metrics::{Dist, LatencySummary, Slo};
use super::run::{RunResult, RunStats, STEP_CSV_HEADER, STEP_CSV_MEASURED};

fn us(p: Ps) -> String {
    format!("{:.3}", p.0 as f64 / 1e6)
}

/// Per step x Engram layer, tidy.
pub fn step_csv(r: &RunResult) -> Vec<u8> {
    let mut s = String::new();
    let measured = r
        .step_rows
        .iter()
        .any(|w| w.engine_step.is_some() || w.engine_lookup.is_some());
    s.push_str(STEP_CSV_HEADER);
    if measured {
        s.push(',');
        s.push_str(STEP_CSV_MEASURED);
    }
    s.push('\n');
    for row in &r.step_rows {
        let _ = write!(
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
        if measured {
            let opt = |p: Option<Ps>| p.map(us).unwrap_or_default();
            let _ = write!(s, ",{},{}", opt(row.engine_step), opt(row.engine_lookup));
        }
        s.push('\n');
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
    s.push_str(&latency_text(&st.latency));
    s
}

/// The request latency lines of the terminal summary.
pub fn latency_text(l: &LatencySummary) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  requests: {} served, {} measured over {:.3} s: {:.2} req/s, {:.1} output tok/s",
        l.requests, l.measured, l.window_s, l.request_throughput, l.output_throughput
    );
    let _ = writeln!(
        s,
        "    {:<22} {:>12} {:>12} {:>12} {:>12}",
        "latency (ms)", "mean", "p50", "p90", "p99"
    );
    for (name, d) in latency_rows(l) {
        let _ = writeln!(
            s,
            "    {:<22} {:>12.3} {:>12.3} {:>12.3} {:>12.3}",
            name,
            d.mean_s * 1e3,
            d.p50_s * 1e3,
            d.p90_s * 1e3,
            d.p99_s * 1e3
        );
    }
    if let Some(g) = &l.goodput {
        let _ = writeln!(
            s,
            "  goodput ({}): {} of {} measured requests ({:.1}%), {:.2} req/s",
            slo_text(&g.slo),
            g.good,
            l.measured,
            g.fraction * 100.0,
            g.per_s
        );
    }
    s
}

/// The distributions of a summary with their names.
fn latency_rows(l: &LatencySummary) -> [(&'static str, &Dist); 5] {
    [
        ("queue", &l.queue),
        ("TTFT", &l.ttft),
        ("TPOT", &l.tpot),
        ("inter-token", &l.itl),
        ("end-to-end", &l.e2e),
    ]
}

fn slo_text(slo: &Slo) -> String {
    let ms = |p: Ps| format!("{} ms", p.as_secs_f64() * 1e3);
    let mut parts = Vec::new();
    if let Some(t) = slo.ttft {
        parts.push(format!("TTFT <= {}", ms(t)));
    }
    if let Some(t) = slo.tpot {
        parts.push(format!("TPOT <= {}", ms(t)));
    }
    parts.join(", ")
}

pub const REQUESTS_CSV_HEADER: &str =
    "id,arrival_s,input_tokens,output_tokens,queue_ms,ttft_ms,tpot_ms,e2e_ms,measured";

/// One row per request of the run with Engram (`docs/csv-schema.md`).
pub fn requests_csv(r: &RunResult) -> Vec<u8> {
    let mut s = String::with_capacity(64 * (r.requests.len() + 1));
    s.push_str(REQUESTS_CSV_HEADER);
    s.push('\n');
    let ms = |p: Ps| format!("{:.3}", p.as_secs_f64() * 1e3);
    for q in &r.requests {
        let _ = writeln!(
            s,
            "{},{:.6},{},{},{},{},{},{},{}",
            q.id,
            q.arrival.as_secs_f64(),
            q.prompt,
            q.output,
            ms(q.queue()),
            ms(q.ttft()),
            q.tpot_s()
                .map_or(String::new(), |t| format!("{:.3}", t * 1e3)),
            ms(q.e2e()),
            u8::from(q.measured)
        );
    }
    s.into_bytes()
}

pub const BATCHES_CSV_HEADER: &str =
    "step,kind,start_s,step_ms,tokens,seqs,waiting,kv_used_tokens,kv_capacity_tokens";

/// One row per step of the node: its batch and KV-cache use (`docs/csv-schema.md`).
pub fn batches_csv(r: &RunResult) -> Vec<u8> {
    let mut s = String::with_capacity(64 * (r.batches.len() + 1));
    s.push_str(BATCHES_CSV_HEADER);
    s.push('\n');
    for b in &r.batches {
        let _ = writeln!(
            s,
            "{},{},{:.6},{:.3},{},{},{},{},{}",
            b.step,
            if b.prefill { "prefill" } else { "decode" },
            b.start.as_secs_f64(),
            b.duration.as_secs_f64() * 1e3,
            b.tokens,
            b.seqs,
            b.waiting,
            b.kv_used,
            b.kv_capacity
        );
    }
    s.into_bytes()
}

fn dist_json(d: &Dist) -> serde_json::Value {
    serde_json::json!({
        "count": d.count,
        "mean_ms": d.mean_s * 1e3,
        "p50_ms": d.p50_s * 1e3,
        "p90_ms": d.p90_s * 1e3,
        "p99_ms": d.p99_s * 1e3,
    })
}

fn layers_json(st: &RunStats) -> serde_json::Value {
    let ms = |p: Ps| p.as_secs_f64() * 1e3;
    st.layers
        .iter()
        .map(|l| {
            serde_json::json!({
                "layer": l.layer,
                "rows": l.rows,
                "bytes": l.bytes,
                "fetch_latency_ms": ms(l.latency),
                "hidden_ms": ms(l.hidden),
                "exposed_ms": ms(l.exposed),
                "steps_exposed": l.steps_exposed,
            })
        })
        .collect()
}

/// `summary.json`: request latency, throughput, Engram hidden and exposed per layer, and
/// the penalty against no Engram (`docs/csv-schema.md`).
/// One object per (memory tier, tenant): capacity, peak and time-weighted mean bytes.
fn memory_json(st: &RunStats) -> Vec<serde_json::Value> {
    st.memory
        .iter()
        .map(|m| {
            serde_json::json!({
                "tier": m.tier,
                "tenant": m.tenant,
                "capacity_bytes": m.capacity_bytes,
                "peak_bytes": m.peak_bytes,
                "mean_bytes": m.mean_bytes.round() as u64,
            })
        })
        .collect()
}

pub fn summary_json(r: &RunResult) -> Vec<u8> {
    let st = &r.with_engram;
    let l = &st.latency;
    let latency: serde_json::Map<String, serde_json::Value> = [
        ("queue", &l.queue),
        ("ttft", &l.ttft),
        ("tpot", &l.tpot),
        ("itl", &l.itl),
        ("e2e", &l.e2e),
    ]
    .into_iter()
    .map(|(k, d)| (k.to_string(), dist_json(d)))
    .collect();
    let goodput = l.goodput.map(|g| {
        serde_json::json!({
            "slo_ttft_ms": g.slo.ttft.map(|p| p.as_secs_f64() * 1e3),
            "slo_tpot_ms": g.slo.tpot.map(|p| p.as_secs_f64() * 1e3),
            "good_requests": g.good,
            "fraction": g.fraction,
            "requests_per_s": g.per_s,
        })
    });
    let v = serde_json::json!({
        "scenario": r.scenario,
        "seed": r.seed,
        "system": r.system,
        "model": r.model,
        "placement": r.placement,
        "requests": { "served": l.requests, "measured": l.measured },
        "window_s": l.window_s,
        "request_throughput_per_s": l.request_throughput,
        "output_throughput_tokens_per_s": l.output_throughput,
        "latency": latency,
        "goodput": goodput,
        "throughput": {
            "tokens_per_s": st.tokens_per_s,
            "makespan_s": st.makespan.as_secs_f64(),
            "output_tokens": st.output_tokens,
            "prompt_tokens": st.prompt_tokens,
            "steps": st.steps,
            "preemptions": st.preemptions,
        },
        "engram_layers": layers_json(st),
        "without_engram_tokens_per_s": r.without_engram.as_ref().map(|b| b.tokens_per_s),
        "throughput_penalty_pct": r.penalty.map(|p| p * 100.0),
        "memory": memory_json(st),
        "trace_replay": st.replay.map(|d| serde_json::json!({
            "steps": d.steps,
            "tokens": d.tokens,
            "row_ids": d.row_ids,
        })),
    });
    let mut v = v;
    if let (Some(kv), Some(m)) = (&st.kv, v.as_object_mut()) {
        m.insert("kv_cache".into(), crate::kv::stats_json(kv));
    }
    if let (Some(d), Some(m)) = (&st.disagg, v.as_object_mut()) {
        m.insert("disaggregation".into(), crate::disagg::stats_json(d));
    }
    let mut out = serde_json::to_vec_pretty(&v).expect("JSON of plain values");
    out.push(b'\n');
    out
}
