//! fio JSON output (`--output-format=json`): each job's `read.bw_bytes`, `read.iops`
//! and `read.lat_ns.mean`, with `rw`, `bs` and `iodepth` from the job's or the global
//! options. Sequential reads set the drive's `seq_read` (jobs of one run summed);
//! random reads at queue depth 1 set `read_latency_qd1`, at higher depth
//! `random_read_iops`. The fit error is the spread over the runs of a class.

use crate::fit::errors;
use crate::overrides::{rate_value, time_value, Overrides};
use crate::{CalibrateError, FitReport};
use memwall_models::spec::SystemSpec;
use memwall_models::Registry;
use serde_json::Value;

/// One fio job's read result.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub rw: String,
    pub iodepth: u32,
    pub bw_bytes: f64,
    pub iops: f64,
    pub lat_ns: f64,
}

fn opt<'a>(job: &'a Value, global: &'a Value, key: &str) -> Option<&'a str> {
    job.get("job options")
        .and_then(|o| o.get(key))
        .or_else(|| global.get(key))
        .and_then(Value::as_str)
}

/// Parses fio's JSON output.
pub fn parse(text: &str, file: &str) -> Result<Vec<Job>, CalibrateError> {
    let v: Value = serde_json::from_str(text).map_err(|e| CalibrateError::Parse {
        file: file.to_string(),
        line: e.line(),
        message: format!("not JSON: {e}"),
        hint: "run fio with --output-format=json".into(),
    })?;
    let global = v.get("global options").cloned().unwrap_or(Value::Null);
    let jobs = v.get("jobs").and_then(Value::as_array).ok_or_else(|| {
        CalibrateError::input(
            file,
            "no \"jobs\" array",
            "run fio with --output-format=json",
        )
    })?;
    let mut out = Vec::new();
    for j in jobs {
        let read = j.get("read").cloned().unwrap_or(Value::Null);
        let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let lat = read.get("lat_ns").map_or(0.0, |l| num(l, "mean"));
        out.push(Job {
            rw: opt(j, &global, "rw").unwrap_or("read").to_string(),
            iodepth: opt(j, &global, "iodepth")
                .and_then(|s| s.parse().ok())
                .unwrap_or(1),
            bw_bytes: num(&read, "bw_bytes"),
            iops: num(&read, "iops"),
            lat_ns: lat,
        });
    }
    out.retain(|j| j.bw_bytes > 0.0);
    if out.is_empty() {
        return Err(CalibrateError::input(
            file,
            "no job read anything",
            "calibrate from read jobs (rw=read or rw=randread)",
        ));
    }
    Ok(out)
}

/// Writes the drive numbers the jobs measure into the system's drive profile.
pub fn calibrate(
    reg: &Registry,
    sys: &SystemSpec,
    jobs: &[Job],
    file: &str,
    out: &mut Overrides,
) -> Result<Vec<FitReport>, CalibrateError> {
    let drive = sys.node.drive.as_ref().ok_or_else(|| {
        CalibrateError::input(
            file,
            format!("{} has no drive to calibrate", sys.name),
            "pick a system with NVMe drives",
        )
    })?;
    let seq: Vec<f64> = jobs
        .iter()
        .filter(|j| j.rw == "read")
        .map(|j| j.bw_bytes)
        .collect();
    let rand = |qd1: bool| -> Vec<&Job> {
        jobs.iter()
            .filter(|j| j.rw == "randread" && (j.iodepth <= 1) == qd1)
            .collect()
    };
    let lat: Vec<f64> = rand(true).iter().map(|j| j.lat_ns * 1000.0).collect();
    let iops: Vec<f64> = rand(false).iter().map(|j| j.iops).collect();
    let classes: [(&str, &str, Vec<f64>); 3] = [
        ("sequential read", "seq_read", seq),
        ("random read qd1", "read_latency_qd1", lat),
        ("random read iops", "random_read_iops", iops),
    ];
    let mut reports = Vec::new();
    for (class, field, xs) in classes {
        if xs.is_empty() {
            continue;
        }
        let mean = xs.iter().sum::<f64>() / xs.len() as f64;
        let (max, rms) = errors(&vec![mean; xs.len()], &xs);
        let note = format!("mean of {} fio jobs; spread {max:.2}%", xs.len());
        let value = match field {
            "seq_read" => rate_value(mean.round() as u64),
            "read_latency_qd1" => time_value(mean.round() as u64),
            _ => format!("{} IOPS", mean.round() as u64).into(),
        };
        out.set(reg, &drive.name, &[field], value, file, &note)?;
        reports.push(FitReport {
            class: class.into(),
            target: format!("{}: {field}", drive.name),
            points: xs.len(),
            max_error_pct: max,
            rms_error_pct: rms,
            total_error_pct: None,
        });
    }
    Ok(reports)
}
