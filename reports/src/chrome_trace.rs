//! Chrome-trace JSON export of simulated timelines, for Perfetto (ui.perfetto.dev) and
//! chrome://tracing.
//!
//! Each [`TraceSide`] becomes one process (named by the caller, e.g. "original on H800"
//! and "simulated on GB300"), each of its streams one thread with `thread_name`
//! metadata, and each finished op one complete event (`"ph":"X"`). Timestamps are
//! microseconds, as the format requires, but written as exact decimals of the integer
//! picosecond times (`1234567 ps` -> `1.234567`): no float ever touches a timestamp, so
//! two ops that touch in the simulation touch in the viewer.
//!
//! The JSON is written by hand, streamed, so a trace of any length exports in constant
//! memory.

use crate::output::{write_atomic_with, OutputError};
use memwall_sim::Timeline;
use std::io::{self, Write};
use std::path::Path;

/// One timeline and the process name it is shown under.
#[derive(Clone, Copy, Debug)]
pub struct TraceSide<'a> {
    pub process_name: &'a str,
    pub timeline: &'a Timeline,
}

/// What an export wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceCounts {
    /// Complete (`"X"`) events: one per finished op.
    pub ops: u64,
    /// Ops skipped because they never finished.
    pub unfinished: u64,
    /// Metadata (`"M"`) events.
    pub metadata: u64,
}

/// Picoseconds as microseconds, exactly: integer part, then up to six decimals with
/// trailing zeros trimmed (`1_500_000` -> `"1.5"`, `79` -> `"0.000079"`, `2_000_000` ->
/// `"2"`).
pub fn ps_as_us(ps: u64) -> String {
    let int = ps / 1_000_000;
    let frac = ps % 1_000_000;
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:06}");
    format!("{int}.{}", f.trim_end_matches('0'))
}

fn json_str(s: &str) -> String {
    // Serialising a &str cannot fail.
    serde_json::to_string(s).expect("string serialises")
}

/// Stream a Chrome trace of `sides` (one process each, pid = position + 1) into `w`.
pub fn write_chrome_trace_to(
    w: &mut dyn Write,
    sides: &[TraceSide<'_>],
) -> io::Result<TraceCounts> {
    let mut counts = TraceCounts::default();
    w.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
    let mut first = true;
    let mut sep = |w: &mut dyn Write| -> io::Result<()> {
        if first {
            first = false;
            Ok(())
        } else {
            w.write_all(b",\n")
        }
    };
    for (p, side) in sides.iter().enumerate() {
        let pid = p + 1;
        sep(w)?;
        write!(
            w,
            "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{pid},\"tid\":0,\"args\":{{\"name\":{}}}}}",
            json_str(side.process_name)
        )?;
        sep(w)?;
        write!(
            w,
            "{{\"ph\":\"M\",\"name\":\"process_sort_index\",\"pid\":{pid},\"tid\":0,\"args\":{{\"sort_index\":{p}}}}}"
        )?;
        counts.metadata += 2;
        for (s, info) in side.timeline.streams.iter().enumerate() {
            let tid = s + 1;
            sep(w)?;
            write!(
                w,
                "{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"name\":{}}}}}",
                json_str(&info.name)
            )?;
            sep(w)?;
            write!(
                w,
                "{{\"ph\":\"M\",\"name\":\"thread_sort_index\",\"pid\":{pid},\"tid\":{tid},\"args\":{{\"sort_index\":{s}}}}}"
            )?;
            counts.metadata += 2;
        }
        let tl = side.timeline;
        // Category names are escaped once, not once per op.
        let cats: Vec<(String, &str)> = tl
            .categories
            .iter()
            .map(|c| (json_str(&c.name), c.kind.as_str()))
            .collect();
        for r in &tl.records {
            if !r.finished() {
                counts.unfinished += 1;
                continue;
            }
            let (name, kind) = &cats[r.category.0 as usize];
            sep(w)?;
            write!(
                w,
                "{{\"ph\":\"X\",\"name\":{name},\"cat\":\"{kind}\",\"pid\":{pid},\"tid\":{},\"ts\":{},\"dur\":{},\"args\":{{\"op\":{},\"category\":{name},\"kind\":\"{kind}\",\"step\":{},\"layer\":{},\"bytes\":{},\"blocker\":",
                r.stream.0 as usize + 1,
                ps_as_us(r.start.0),
                ps_as_us(r.duration().0),
                r.id.0,
                r.step,
                r.layer,
                r.bytes,
            )?;
            match r.blocker {
                Some(b) => write!(w, "{}", b.0)?,
                None => w.write_all(b"null")?,
            }
            write!(
                w,
                ",\"ready_us\":{},\"latency_us\":{}}}}}",
                ps_as_us(r.ready.0),
                ps_as_us(r.latency.0)
            )?;
            counts.ops += 1;
        }
    }
    w.write_all(b"\n]}\n")?;
    Ok(counts)
}

/// A Chrome trace of `sides` as a string (small timelines and tests; files should use
/// [`write_chrome_trace`], which streams).
pub fn chrome_trace_string(sides: &[TraceSide<'_>]) -> String {
    let mut buf = Vec::new();
    write_chrome_trace_to(&mut buf, sides).expect("writing to a Vec cannot fail");
    String::from_utf8(buf).expect("the trace is UTF-8")
}

/// Write one timeline as a Chrome trace at `path`, atomically.
pub fn write_chrome_trace(
    path: &Path,
    process_name: &str,
    timeline: &Timeline,
) -> Result<TraceCounts, OutputError> {
    write_chrome_traces(
        path,
        &[TraceSide {
            process_name,
            timeline,
        }],
    )
}

/// Write several timelines side by side (e.g. original and simulated), one process
/// each, at `path`, atomically.
pub fn write_chrome_traces(
    path: &Path,
    sides: &[TraceSide<'_>],
) -> Result<TraceCounts, OutputError> {
    let mut counts = TraceCounts::default();
    write_atomic_with(path, |w| {
        counts = write_chrome_trace_to(w, sides)?;
        Ok(())
    })?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_microseconds() {
        assert_eq!(ps_as_us(0), "0");
        assert_eq!(ps_as_us(79), "0.000079");
        assert_eq!(ps_as_us(1_500_000), "1.5");
        assert_eq!(ps_as_us(2_000_000), "2");
        assert_eq!(ps_as_us(1_234_567), "1.234567");
        assert_eq!(ps_as_us(u64::MAX), "18446744073709.551615");
    }
}
