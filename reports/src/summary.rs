//! The terminal summary of an [`Attribution`] and its tidy CSV.
//!
//! The table is for people at a terminal: one line per op category (ops, bytes moved,
//! latency, hidden, exposed, exposed share of latency), a total, then one line per
//! compute stream (makespan = busy + exposed + bubble). The CSV is for people with a
//! spreadsheet or a dataframe: one row per measured quantity, exact integers with their
//! unit; its schema is documented in `docs/csv-schema.md`.

use memwall_sim::attribution::{Attribution, CategoryTotals};
use crate::output::{csv_bytes, write_atomic, OutputError};
use crate::units::{fmt_bytes, fmt_duration};
use memwall_sim::{CategoryId, Ps, Timeline};
use std::collections::BTreeMap;
use std::path::Path;

/// Exposed share of latency, `"50.0 %"`, or `"-"` when there was no latency.
fn pct(exposed: Ps, latency: Ps) -> String {
    if latency.0 == 0 {
        "-".to_string()
    } else {
        format!("{:.1} %", exposed.0 as f64 * 100.0 / latency.0 as f64)
    }
}

fn table(header: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            if i < left {
                s.push_str(&format!("{c:<w$}"));
            } else {
                s.push_str(&format!("{c:>w$}"));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    let total: usize = width.iter().sum::<usize>() + 2 * (width.len() - 1);
    out.push_str(&"-".repeat(total));
    out.push('\n');
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

/// The terminal summary: per-category table with a total line, then per compute stream.
pub fn summary_table(at: &Attribution, tl: &Timeline) -> String {
    let cats = at.by_category(tl);
    let kinds: BTreeMap<&str, &str> = tl
        .categories
        .iter()
        .map(|c| (c.name.as_str(), c.kind.as_str()))
        .collect();
    let mut rows = Vec::new();
    let mut total = CategoryTotals::default();
    for (name, t) in &cats {
        total.ops += t.ops;
        total.bytes += t.bytes;
        total.latency += t.latency;
        total.hidden += t.hidden;
        total.exposed += t.exposed;
        rows.push(vec![
            name.clone(),
            kinds.get(name.as_str()).copied().unwrap_or("").to_string(),
            t.ops.to_string(),
            fmt_bytes(t.bytes),
            fmt_duration(t.latency),
            fmt_duration(t.hidden),
            fmt_duration(t.exposed),
            pct(t.exposed, t.latency),
        ]);
    }
    rows.push(vec![
        "total".to_string(),
        String::new(),
        total.ops.to_string(),
        fmt_bytes(total.bytes),
        fmt_duration(total.latency),
        fmt_duration(total.hidden),
        fmt_duration(total.exposed),
        pct(total.exposed, total.latency),
    ]);
    let mut out = format!(
        "window {} .. {} ({})\n\n",
        fmt_duration(at.window.0),
        fmt_duration(at.window.1),
        fmt_duration(at.window.1.saturating_sub(at.window.0))
    );
    out.push_str(&table(
        &[
            "category",
            "kind",
            "ops",
            "bytes",
            "latency",
            "hidden",
            "exposed",
            "exposed %",
        ],
        &rows,
        2,
    ));
    let srows: Vec<Vec<String>> = at
        .streams
        .iter()
        .map(|s| {
            vec![
                tl.stream(s.stream).name.clone(),
                fmt_duration(s.makespan),
                fmt_duration(s.busy),
                fmt_duration(s.exposed_total()),
                fmt_duration(s.bubble),
                pct(s.exposed_total(), s.makespan),
            ]
        })
        .collect();
    if !srows.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &[
                "compute stream",
                "makespan",
                "busy",
                "exposed",
                "bubble",
                "exposed % of makespan",
            ],
            &srows,
            1,
        ));
    }
    out
}

/// Column names of the tidy attribution CSV, in order.
pub const CSV_HEADER: [&str; 8] = [
    "scope", "stream", "category", "step", "layer", "quantity", "value", "unit",
];

#[derive(Default, Clone, Copy)]
struct Acc {
    ops: u64,
    latency: u64,
    hidden: u64,
    exposed: u64,
}

/// The tidy attribution CSV (see `docs/csv-schema.md`): one row per measured quantity.
pub fn attribution_csv(at: &Attribution, tl: &Timeline) -> Vec<u8> {
    let cat = |c: CategoryId| tl.category(c).name.clone();
    let mut rows: Vec<[String; 8]> = Vec::new();
    let mut row = |scope: &str,
                   stream: &str,
                   category: &str,
                   step: Option<u32>,
                   layer: Option<u32>,
                   quantity: &str,
                   value: u64,
                   unit: &str| {
        rows.push([
            scope.to_string(),
            stream.to_string(),
            category.to_string(),
            step.map_or(String::new(), |s| s.to_string()),
            layer.map_or(String::new(), |l| l.to_string()),
            quantity.to_string(),
            value.to_string(),
            unit.to_string(),
        ]);
    };
    row("window", "", "", None, None, "start", at.window.0 .0, "ps");
    row("window", "", "", None, None, "end", at.window.1 .0, "ps");
    for s in &at.streams {
        let name = &tl.stream(s.stream).name;
        row(
            "stream",
            name,
            "",
            None,
            None,
            "makespan",
            s.makespan.0,
            "ps",
        );
        row("stream", name, "", None, None, "busy", s.busy.0, "ps");
        row("stream", name, "", None, None, "bubble", s.bubble.0, "ps");
        row(
            "stream",
            name,
            "",
            None,
            None,
            "exposed",
            s.exposed_total().0,
            "ps",
        );
        for (c, e) in &s.exposed {
            row("stream", name, &cat(*c), None, None, "exposed", e.0, "ps");
        }
    }
    for (name, t) in at.by_category(tl) {
        row("category", "", &name, None, None, "ops", t.ops, "count");
        row("category", "", &name, None, None, "bytes", t.bytes, "B");
        row(
            "category",
            "",
            &name,
            None,
            None,
            "latency",
            t.latency.0,
            "ps",
        );
        row(
            "category", "", &name, None, None, "hidden", t.hidden.0, "ps",
        );
        row(
            "category",
            "",
            &name,
            None,
            None,
            "exposed",
            t.exposed.0,
            "ps",
        );
    }
    let mut by_step: BTreeMap<(u32, CategoryId), Acc> = BTreeMap::new();
    let mut by_layer: BTreeMap<(u32, CategoryId), Acc> = BTreeMap::new();
    let mut by_step_layer: BTreeMap<(u32, u32, CategoryId), Acc> = BTreeMap::new();
    for o in &at.ops {
        for a in [
            by_step.entry((o.step, o.category)).or_default(),
            by_layer.entry((o.layer, o.category)).or_default(),
            by_step_layer
                .entry((o.step, o.layer, o.category))
                .or_default(),
        ] {
            a.ops += 1;
            a.latency += o.latency.0;
            a.hidden += o.hidden().0;
            a.exposed += o.exposed.0;
        }
    }
    let mut emit = |scope: &str, c: CategoryId, step: Option<u32>, layer: Option<u32>, a: &Acc| {
        let n = cat(c);
        row(scope, "", &n, step, layer, "ops", a.ops, "count");
        row(scope, "", &n, step, layer, "latency", a.latency, "ps");
        row(scope, "", &n, step, layer, "hidden", a.hidden, "ps");
        row(scope, "", &n, step, layer, "exposed", a.exposed, "ps");
    };
    for ((s, c), a) in &by_step {
        emit("step", *c, Some(*s), None, a);
    }
    for ((l, c), a) in &by_layer {
        emit("layer", *c, None, Some(*l), a);
    }
    for ((s, l, c), a) in &by_step_layer {
        emit("step-layer", *c, Some(*s), Some(*l), a);
    }
    csv_bytes(&CSV_HEADER, rows)
}

/// Write the tidy attribution CSV at `path`, atomically.
pub fn write_attribution_csv(
    path: &Path,
    at: &Attribution,
    tl: &Timeline,
) -> Result<(), OutputError> {
    write_atomic(path, &attribution_csv(at, tl))
}
