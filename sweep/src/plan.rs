//! From a sweep file to its cells: the grid (or zip) expanded in a fixed order, each
//! cell's full scenario, and a key that names the cell's result file.
//!
//! The key is a hash of the runner, its version and the cell's canonical scenario (keys
//! sorted, values written one way), so a cell's result is found again whatever order the
//! sweep file lists things in, and never reused when anything that matters changes.

use crate::economics::SystemEconomics;
use crate::runner::CellRunner;
use crate::spec::{ReportSpec, SweepError, SweepSpec};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Plan file format tag.
pub const PLAN_FORMAT: &str = "memwall-sweep-plan/1";

/// One cell of the sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Position in the sweep's order (rows are written in this order).
    pub index: usize,
    /// Result-file key: 32 hex digits.
    pub id: String,
    /// Swept values, in axis order, as written in the CSV.
    pub params: Vec<String>,
    /// System profile of the cell (the scenario's top-level `system`), for economics.
    pub system: Option<String>,
}

/// Everything needed to write a sweep's outputs, without the sweep file, the profiles
/// or the runner: written as `plan.json` beside the results so `memwall merge` works
/// anywhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub format: String,
    pub name: String,
    pub description: Option<String>,
    pub runner: String,
    pub runner_version: String,
    /// Swept key paths, in axis order (the CSV's parameter columns).
    pub axes: Vec<String>,
    pub cells: Vec<Cell>,
    pub report: ReportSpec,
    /// Economics of each system the cells use, resolved from profiles and overrides.
    pub economics: BTreeMap<String, SystemEconomics>,
}

impl Plan {
    /// A hash of the whole plan: shards of one sweep must agree on it.
    pub fn fingerprint(&self) -> String {
        hash_hex(&serde_json::to_string(self).expect("plan serialises"))
    }
}

/// Write a value one canonical way (tables with sorted keys, strings JSON-quoted).
pub fn canonical(v: &toml::Value, out: &mut String) {
    use toml::Value as V;
    match v {
        V::String(s) => out.push_str(&serde_json::to_string(s).expect("string")),
        V::Integer(i) => out.push_str(&i.to_string()),
        V::Float(f) => out.push_str(&format!("{f:?}f")),
        V::Boolean(b) => out.push_str(if *b { "true" } else { "false" }),
        V::Datetime(d) => out.push_str(&format!("d{d}")),
        V::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        V::Table(t) => canonical_table(t, out),
    }
}

fn canonical_table(t: &toml::Table, out: &mut String) {
    let mut keys: Vec<&String> = t.keys().collect();
    keys.sort();
    out.push('{');
    for (i, k) in keys.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(k).expect("key"));
        out.push(':');
        canonical(&t[k], out);
    }
    out.push('}');
}

/// A swept value as written in CSV cells and labels: strings bare, numbers as written.
pub fn display(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => format!("{f:?}"),
        toml::Value::Boolean(b) => b.to_string(),
        other => {
            let mut s = String::new();
            canonical(other, &mut s);
            s
        }
    }
}

/// 128-bit FNV-1a (two 64-bit lanes with different offsets), as 32 hex digits. Not
/// cryptographic; the cell file also stores the canonical scenario, checked on reuse.
pub fn hash_hex(text: &str) -> String {
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    for &x in text.as_bytes() {
        a ^= x as u64;
        a = a.wrapping_mul(0x0100_0000_01b3);
        b ^= (x as u64).rotate_left(3) ^ 0x5a;
        b = b.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{a:016x}{b:016x}")
}

/// Set `path` in `t` to `v`, creating tables on the way; fails if a value that is not a
/// table sits on the path.
fn set_path(t: &mut toml::Table, path: &[&str], v: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut cur = t;
    for (i, p) in parents.iter().enumerate() {
        let e = cur
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = match e {
            toml::Value::Table(t) => t,
            _ => {
                return Err(format!(
                    "{} is a value, not a table: the key path cannot go inside it",
                    parents[..=i].join(".")
                ))
            }
        };
    }
    cur.insert(last.to_string(), v);
    Ok(())
}

/// One expanded cell with its full scenario (kept in memory only).
#[derive(Clone, Debug)]
pub struct CellScenario {
    pub cell: Cell,
    pub scenario: toml::Table,
    /// The canonical scenario text the id hashes (with runner and version).
    pub canonical: String,
}

/// Expand the sweep into cells in grid order: zip groups and lone axes are dimensions,
/// the first one outermost.
pub fn expand(spec: &SweepSpec, runner: &dyn CellRunner) -> Result<Vec<CellScenario>, SweepError> {
    let dims = dimensions(spec);
    let lens: Vec<usize> = dims.iter().map(|d| spec.axes[d[0]].values.len()).collect();
    let total: usize = lens.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut pos = vec![0usize; dims.len()];
    for index in 0..total {
        out.push(cell_at(spec, runner, &dims, &pos, index)?);
        // Odometer: last dimension fastest.
        for d in (0..dims.len()).rev() {
            pos[d] += 1;
            if pos[d] < lens[d] {
                break;
            }
            pos[d] = 0;
        }
    }
    check_distinct(spec, &out)?;
    Ok(out)
}

/// The grid's dimensions: lists of axis indices walked together (a zip group, or one
/// lone axis), in the order their first axis appears.
fn dimensions(spec: &SweepSpec) -> Vec<Vec<usize>> {
    let mut dims: Vec<Vec<usize>> = Vec::new();
    for (i, a) in spec.axes.iter().enumerate() {
        let group = a.zip.as_deref().and_then(|z| {
            dims.iter_mut()
                .find(|d| spec.axes[d[0]].zip.as_deref() == Some(z))
        });
        match group {
            Some(d) => d.push(i),
            None => dims.push(vec![i]),
        }
    }
    dims
}

/// Cell `index`: the base scenario with every axis set to its value at grid position
/// `pos`, and the id that hashes it.
fn cell_at(
    spec: &SweepSpec,
    runner: &dyn CellRunner,
    dims: &[Vec<usize>],
    pos: &[usize],
    index: usize,
) -> Result<CellScenario, SweepError> {
    let mut scenario = spec.base.clone();
    let mut params = vec![String::new(); spec.axes.len()];
    for (d, axes) in dims.iter().enumerate() {
        for &ai in axes {
            let a = &spec.axes[ai];
            let v = a.values[pos[d]].clone();
            params[ai] = display(&v);
            set_path(&mut scenario, &a.path(), v).map_err(|m| {
                SweepError::new(&spec.file, Some(a.line), format!("axis {:?}: {m}", a.key))
            })?;
        }
    }
    let mut canon = format!(
        "{}\n{}\n{}\n",
        runner.name(),
        runner.version(),
        runner.data_digest()
    );
    canonical_table(&scenario, &mut canon);
    let system = scenario
        .get("system")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    Ok(CellScenario {
        cell: Cell {
            index,
            id: hash_hex(&canon),
            params,
            system,
        },
        scenario,
        canonical: canon,
    })
}

/// Two cells with the same scenario would share a result file: a sweep-file mistake.
fn check_distinct(spec: &SweepSpec, cells: &[CellScenario]) -> Result<(), SweepError> {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for c in cells {
        if let Some(first) = seen.insert(&c.cell.id, c.cell.index) {
            let line = spec.axes.first().map(|a| a.line);
            return Err(SweepError::new(
                &spec.file,
                line,
                format!(
                    "cells {first} and {} have the same scenario: an axis repeats a value",
                    c.cell.index
                ),
            ));
        }
    }
    Ok(())
}

/// The line of the sweep file a key path belongs to: the axis that sets it (or a table
/// above or below it), else the base scenario.
pub fn line_for_key(spec: &SweepSpec, key: Option<&str>) -> usize {
    if let Some(k) = key {
        let within = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}."));
        if let Some(a) = spec
            .axes
            .iter()
            .find(|a| within(k, &a.key) || within(&a.key, k) || a.key.rsplit('.').next() == Some(k))
        {
            return a.line;
        }
        if let Some(l) = find_key_line(&spec.text, k) {
            return l;
        }
    }
    spec.base_line
}

/// Best effort: the line where the last segment of `key` is assigned in `text`.
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    let last = key.rsplit('.').next()?;
    text.lines()
        .position(|l| {
            let t = l.trim_start();
            t.strip_prefix(last)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{CellOutput, CheckError};
    use std::path::Path;

    struct Nop;
    impl CellRunner for Nop {
        fn name(&self) -> &str {
            "nop"
        }
        fn version(&self) -> &str {
            "1"
        }
        fn check(&self, _: &toml::Table) -> Result<(), CheckError> {
            Ok(())
        }
        fn run(&self, _: &toml::Table) -> Result<CellOutput, String> {
            Ok(CellOutput::default())
        }
    }

    #[test]
    fn grid_and_zip_order() {
        let s = SweepSpec::parse(
            Path::new("s.toml"),
            "[sweep]\nname = \"a\"\nrunner = \"nop\"\n[[axis]]\nkey = \"a\"\nvalues = [1, 2]\n[[axis]]\nkey = \"b.c\"\nvalues = [\"x\", \"y\"]\nzip = \"z\"\n[[axis]]\nkey = \"b.d\"\nvalues = [10, 20]\nzip = \"z\"\n",
        )
        .unwrap();
        let cells = expand(&s, &Nop).unwrap();
        let p: Vec<Vec<String>> = cells.iter().map(|c| c.cell.params.clone()).collect();
        assert_eq!(
            p,
            vec![
                vec!["1", "x", "10"],
                vec!["1", "y", "20"],
                vec!["2", "x", "10"],
                vec!["2", "y", "20"]
            ]
        );
        assert_eq!(cells[3].scenario["b"]["d"].as_integer(), Some(20));
        assert_eq!(line_for_key(&s, Some("b.c")), 8);
    }

    #[test]
    fn ids_ignore_key_order() {
        let mut a = toml::Table::new();
        a.insert("x".into(), 1.into());
        a.insert("y".into(), 2.into());
        let mut b = toml::Table::new();
        b.insert("y".into(), 2.into());
        b.insert("x".into(), 1.into());
        let (mut ca, mut cb) = (String::new(), String::new());
        canonical_table(&a, &mut ca);
        canonical_table(&b, &mut cb);
        assert_eq!(hash_hex(&ca), hash_hex(&cb));
        assert_ne!(hash_hex("a"), hash_hex("b"));
    }
}
