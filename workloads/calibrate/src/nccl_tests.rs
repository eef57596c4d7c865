//! nccl-tests output (`all_reduce_perf`, `all_gather_perf`, `reduce_scatter_perf`,
//! `alltoall_perf`): the text table, one row per size; the in-place time is used (the
//! last four columns: time, algbw, busbw, #wrong), as published tables report it.
//!
//! The fit: each row is assigned the algorithm and protocol the profile's model picks
//! at that size, and each such class is fitted in the model's own form, so a profile
//! calibrated from its own predictions gets its numbers back:
//! - NVLS: `t = latency + B / bandwidth + chunk_overhead x B / round_bytes(B)`;
//! - a ring or tree protocol: `t = latency + slope x B`; the slope rescales the
//!   protocol's bus bandwidth (its efficiency, or its ceiling where that binds) and the
//!   latency shifts its base latency (step latencies kept).

use crate::fit::{errors, relative_least_squares};
use crate::overrides::{rate_value, time_value, Overrides};
use crate::{CalibrateError, FitReport};
use memwall_models::collective::{
    nvls_round_bytes, predict, Algorithm, Collective, PathKind, Prediction, Protocol,
};
use memwall_models::spec::{LinkSpec, SystemSpec};
use memwall_models::Registry;

/// One row: message size and in-place time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub bytes: u64,
    pub time_us: f64,
}

/// A parsed nccl-tests run.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    /// Ranks, from the `#  Rank` lines; `None` when the header lists none.
    pub ranks: Option<u32>,
    pub rows: Vec<Row>,
}

/// Parses nccl-tests text output.
pub fn parse(text: &str, file: &str) -> Result<Run, CalibrateError> {
    let mut ranks = 0u32;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix('#') {
            if h.trim_start().starts_with("Rank ") {
                ranks += 1;
            }
            continue;
        }
        let tok: Vec<&str> = t.split_whitespace().collect();
        if tok.is_empty() || tok[0].parse::<u64>().is_err() {
            continue;
        }
        if tok.len() < 9 {
            return Err(bad_row(file, i, "too few columns"));
        }
        let time_us = tok[tok.len() - 4]
            .parse::<f64>()
            .map_err(|_| bad_row(file, i, "the in-place time is not a number"))?;
        let bytes = tok[0].parse::<u64>().unwrap_or(0);
        if bytes > 0 && time_us > 0.0 {
            rows.push(Row { bytes, time_us });
        }
    }
    if rows.is_empty() {
        return Err(CalibrateError::input(
            file,
            "no result rows found",
            "give the text output of an nccl-tests binary, e.g. all_reduce_perf -b 1K -e 8G -f 2 -g 8",
        ));
    }
    Ok(Run {
        ranks: (ranks > 0).then_some(ranks),
        rows,
    })
}

fn bad_row(file: &str, i: usize, what: &str) -> CalibrateError {
    CalibrateError::Parse {
        file: file.to_string(),
        line: i + 1,
        message: format!("result row: {what}"),
        hint:
            "rows are: size count type redop root time algbw busbw #wrong time algbw busbw #wrong"
                .into(),
    }
}

/// The link whose `[collective]` a single-level collective on `sys` runs over.
fn link_of(sys: &SystemSpec, path: PathKind) -> Option<&LinkSpec> {
    match path {
        PathKind::Nvlink => sys.node.nvlink.as_ref().map(|n| &n.link),
        PathKind::PcieHost => sys.node.gpus.first().map(|g| &g.host_link),
        PathKind::Network => None,
    }
}

/// An algorithm and protocol: the rows the model runs the same way are fitted together.
type Class = (Algorithm, Protocol);

/// Fits `run` (a collective `c` on `sys`) and writes the fitted numbers into `out`.
pub fn calibrate(
    reg: &Registry,
    sys: &SystemSpec,
    c: Collective,
    run: &Run,
    ranks: u32,
    file: &str,
    out: &mut Overrides,
) -> Result<Vec<FitReport>, CalibrateError> {
    let mut classes: Vec<(Class, Vec<(Row, Prediction)>)> = Vec::new();
    for row in &run.rows {
        let p = predict(sys, c, row.bytes, ranks, None, None)?;
        let key = (p.algorithm, p.protocol);
        match classes.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push((*row, p)),
            None => classes.push((key, vec![(*row, p)])),
        }
    }
    let mut reports = Vec::new();
    for ((alg, proto), pts) in classes {
        let path = pts[0].1.path;
        let link = link_of(sys, path).ok_or_else(|| {
            CalibrateError::input(
                file,
                format!(
                    "{ranks} ranks span nodes: calibrating network collectives is not supported"
                ),
                "run nccl-tests inside one node (or NVLink domain) to calibrate its links",
            )
        })?;
        let r = if alg == Algorithm::Nvls {
            fit_nvls(reg, sys, link, &pts, ranks, file, out)?
        } else {
            fit_protocol(reg, link, (alg, proto), &pts, file, out)?
        };
        reports.extend(r);
    }
    Ok(reports)
}

fn measured_ps(pts: &[(Row, Prediction)]) -> Vec<f64> {
    pts.iter().map(|(r, _)| r.time_us * 1e6).collect()
}

fn report(class: String, target: String, model: &[f64], measured: &[f64]) -> FitReport {
    let (max_error_pct, rms_error_pct) = errors(model, measured);
    FitReport {
        class,
        target,
        points: measured.len(),
        max_error_pct,
        rms_error_pct,
        total_error_pct: None,
    }
}

/// NVLS: latency, bandwidth and chunk overhead by least squares in the model's form
/// (the overhead kept from the profile when the sizes cannot separate it).
fn fit_nvls(
    reg: &Registry,
    sys: &SystemSpec,
    link: &LinkSpec,
    pts: &[(Row, Prediction)],
    ranks: u32,
    file: &str,
    out: &mut Overrides,
) -> Result<Vec<FitReport>, CalibrateError> {
    let Some(s) = link.collective.as_ref().and_then(|c| c.nvls.as_ref()) else {
        return Ok(Vec::new());
    };
    let ys = measured_ps(pts);
    let per_round = |b: u64| b as f64 / nvls_round_bytes(s, ranks, b) as f64;
    let xs: Vec<Vec<f64>> = pts
        .iter()
        .map(|(r, _)| vec![1.0, r.bytes as f64, per_round(r.bytes)])
        .collect();
    let c = match relative_least_squares(&xs, &ys) {
        Some(c) if c.iter().all(|v| *v > 0.0) => c,
        _ => {
            let o = s.chunk_overhead_ps as f64;
            let ys2: Vec<f64> = pts
                .iter()
                .zip(&ys)
                .map(|((r, _), y)| y - o * per_round(r.bytes))
                .collect();
            let xs2: Vec<Vec<f64>> = xs.iter().map(|x| x[..2].to_vec()).collect();
            match relative_least_squares(&xs2, &ys2) {
                Some(c) if c.iter().all(|v| *v > 0.0) => vec![c[0], c[1], o],
                _ => return Err(too_few(file, "NVLS all-reduce")),
            }
        }
    };
    let model: Vec<f64> = xs
        .iter()
        .map(|x| c[0] + c[1] * x[1] + c[2] * x[2])
        .collect();
    let rep = report(
        "all-reduce nvls Simple".into(),
        format!(
            "{}: collective.nvls latency, bandwidth, chunk_overhead",
            link.name
        ),
        &model,
        &ys,
    );
    let note = format!(
        "fitted to {} sizes on {} ranks of {}; max error {:.2}%",
        ys.len(),
        ranks,
        sys.name,
        rep.max_error_pct
    );
    let base = ["collective", "nvls"];
    let set = |out: &mut Overrides, field: &str, v| {
        out.set(reg, &link.name, &[base[0], base[1], field], v, file, &note)
    };
    set(out, "latency", time_value(c[0].round() as u64))?;
    set(out, "bandwidth", rate_value((1e12 / c[1]).round() as u64))?;
    set(out, "chunk_overhead", time_value(c[2].round() as u64))?;
    Ok(vec![rep])
}

fn too_few(file: &str, class: &str) -> CalibrateError {
    CalibrateError::input(
        file,
        format!("{class}: the sizes do not determine the fit"),
        "give a sweep of sizes (nccl-tests -b 1K -e 8G -f 2)",
    )
}

/// A ring or tree protocol: base latency and bus bandwidth (efficiency, or the ceiling
/// where it binds) from `t = latency + slope x B`.
fn fit_protocol(
    reg: &Registry,
    link: &LinkSpec,
    (alg, proto): (Algorithm, Protocol),
    pts: &[(Row, Prediction)],
    file: &str,
    out: &mut Overrides,
) -> Result<Vec<FitReport>, CalibrateError> {
    let ys = measured_ps(pts);
    let class = format!(
        "{} {} {}",
        pts[0].1.collective.label(),
        alg.label(),
        proto.label()
    );
    let set = link.collective.as_ref().and_then(|c| match alg {
        Algorithm::Tree => c.tree.as_ref(),
        _ => Some(&c.ring),
    });
    let spec = set.and_then(|s| s.0[proto as usize]);
    let Some(spec) = spec else {
        return Err(CalibrateError::Profile {
            part: link.name.clone(),
            message: format!("{class}: the link has no [collective] data for it (docs/collectives.md shows the table)"),
        });
    };
    let xs: Vec<Vec<f64>> = pts.iter().map(|(r, _)| vec![1.0, r.bytes as f64]).collect();
    let c = match relative_least_squares(&xs, &ys) {
        Some(c) if c[1] > 0.0 && c[0] >= 0.0 => c,
        _ => return Err(too_few(file, &class)),
    };
    let (r0, p0) = &pts[pts.len() - 1];
    let k0 = p0.bandwidth_ps as f64 / r0.bytes as f64;
    let scale = k0 / c[1];
    let model: Vec<f64> = xs.iter().map(|x| c[0] + c[1] * x[1]).collect();
    let base_ps = spec.base_latency_ps as f64 + (c[0] - p0.latency_ps as f64);
    let alg_key = if alg == Algorithm::Tree {
        "tree"
    } else {
        "ring"
    };
    let proto_key = ["ll", "ll128", "simple"][proto as usize];
    let bw = protocol_hop_bandwidth(link);
    let uncapped = memwall_models::units::apply_fraction(bw, spec.efficiency_ppm);
    let capped = spec.max_bus_bandwidth.filter(|&m| m <= uncapped);
    let target_field = if capped.is_some() {
        "max_bus_bandwidth"
    } else {
        "efficiency"
    };
    let rep = report(
        class,
        format!(
            "{}: collective.{alg_key}.{proto_key} base_latency, {target_field}",
            link.name
        ),
        &model,
        &ys,
    );
    let note = format!(
        "fitted to {} sizes; max error {:.2}%",
        ys.len(),
        rep.max_error_pct
    );
    let path = |f: &'static str| ["collective", alg_key, proto_key, f];
    let base = time_value(base_ps.max(0.0).round() as u64);
    out.set(reg, &link.name, &path("base_latency"), base, file, &note)?;
    let value = match capped {
        Some(m) => rate_value((m as f64 * scale).round() as u64),
        None => {
            let eff = spec.efficiency_ppm as f64 / 1e6 * scale;
            if eff > 1.0 {
                return Err(CalibrateError::Profile {
                    part: link.name.clone(),
                    message: format!("{}: measured bus bandwidth {:.1} GB/s is above the link's achievable {:.1} GB/s", rep.class, uncapped as f64 * scale / 1e9, bw as f64 / 1e9),
                });
            }
            toml_edit::Value::from((eff * 1e6).round() / 1e6)
        }
    };
    out.set(reg, &link.name, &path(target_field), value, file, &note)?;
    Ok(vec![rep])
}

/// The bandwidth a protocol's efficiency applies to: the peer path where the link
/// has one (GPUs without NVLink), else the link's achievable bandwidth.
fn protocol_hop_bandwidth(link: &LinkSpec) -> u64 {
    link.collective
        .as_ref()
        .and_then(|c| c.peer)
        .map_or(link.bandwidth.achievable, |p| p.bandwidth)
}
