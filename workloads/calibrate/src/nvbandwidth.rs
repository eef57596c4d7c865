//! nvbandwidth output: each test prints `Running <test>.`, a title line, a header of
//! column indices, then matrix rows (`N/A` where a pair does not apply) and
//! `SUM <test> <total>`. The mean over the matrix is the per-GPU figure; its spread
//! over GPUs (or pairs) is the fit error.
//!
//! | test | profile number |
//! |---|---|
//! | `host_to_device_memcpy_ce` | the GPU's host link: `bandwidth.achievable` |
//! | `device_to_host_memcpy_ce` | the GPU's host link: `reverse_achievable` |
//! | `device_to_device_memcpy_read_ce`, `..._write_ce` | the NVLink link: `bandwidth.achievable` |

use crate::fit::errors;
use crate::overrides::{rate_value, Overrides};
use crate::{CalibrateError, FitReport};
use memwall_models::spec::SystemSpec;
use memwall_models::Registry;

/// One test's matrix entries, GB/s.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub name: String,
    pub values: Vec<f64>,
}

/// Parses nvbandwidth's text output into its tests.
pub fn parse(text: &str, file: &str) -> Result<Vec<Test>, CalibrateError> {
    let mut tests: Vec<Test> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("Running ") {
            let name = rest.trim_end_matches('.').trim().to_string();
            tests.push(Test {
                name,
                values: Vec::new(),
            });
            continue;
        }
        let Some(cur) = tests.last_mut() else {
            continue;
        };
        let tok: Vec<&str> = t.split_whitespace().collect();
        // A matrix row: a row index, then numbers or N/A (the header row has no N/A
        // and only integers, and comes first; rows have decimals).
        let is_row = tok.len() >= 2
            && tok[0].parse::<u32>().is_ok()
            && tok[1..].iter().any(|v| v.contains('.') || *v == "N/A");
        if !is_row {
            continue;
        }
        for v in &tok[1..] {
            if *v == "N/A" {
                continue;
            }
            let x: f64 = v.parse().map_err(|_| CalibrateError::Parse {
                file: file.to_string(),
                line: i + 1,
                message: format!("matrix entry {v:?} is not a number"),
                hint: "entries are GB/s figures or N/A".into(),
            })?;
            cur.values.push(x);
        }
    }
    tests.retain(|t| !t.values.is_empty());
    if tests.is_empty() {
        return Err(CalibrateError::input(
            file,
            "no test matrices found",
            "give the text output of nvbandwidth (e.g. nvbandwidth -t host_to_device_memcpy_ce device_to_host_memcpy_ce)",
        ));
    }
    Ok(tests)
}

/// Writes the mean of each recognised test into the host link or NVLink profile.
pub fn calibrate(
    reg: &Registry,
    sys: &SystemSpec,
    tests: &[Test],
    file: &str,
    out: &mut Overrides,
) -> Result<Vec<FitReport>, CalibrateError> {
    let host = sys
        .node
        .gpus
        .first()
        .map(|g| g.host_link.name.clone())
        .unwrap_or_else(|| sys.node.gpu.host_link.name.clone());
    let nvlink = sys.node.nvlink.as_ref().map(|n| n.link.name.clone());
    let mut reports = Vec::new();
    for t in tests {
        let (part, field): (Option<&String>, &[&str]) = match t.name.as_str() {
            "host_to_device_memcpy_ce" => (Some(&host), &["bandwidth", "achievable"]),
            "device_to_host_memcpy_ce" => (Some(&host), &["reverse_achievable"]),
            "device_to_device_memcpy_read_ce" | "device_to_device_memcpy_write_ce" => {
                (nvlink.as_ref(), &["bandwidth", "achievable"])
            }
            _ => continue,
        };
        let Some(part) = part else { continue };
        let mean = t.values.iter().sum::<f64>() / t.values.len() as f64;
        let (max, rms) = errors(&vec![mean; t.values.len()], &t.values);
        let note = format!(
            "mean of {} nvbandwidth {} figures; spread {max:.2}%",
            t.values.len(),
            t.name
        );
        out.set(
            reg,
            part,
            field,
            rate_value((mean * 1e9).round() as u64),
            file,
            &note,
        )?;
        if field[0] == "bandwidth" {
            out.remove(reg, part, &["bandwidth", "efficiency"])?;
        }
        reports.push(FitReport {
            class: t.name.clone(),
            target: format!("{part}: {}", field.join(".")),
            points: t.values.len(),
            max_error_pct: max,
            rms_error_pct: rms,
            total_error_pct: None,
        });
    }
    Ok(reports)
}
