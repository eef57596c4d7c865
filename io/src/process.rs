//! What this process has used so far, for the benchmarks' reports: CPU seconds and
//! resident memory, read from Linux's `/proc/self`; `None` where there is no such file.

/// CPU seconds this process has used, all threads: utime + stime of `/proc/self/stat`,
/// in USER_HZ (100) ticks a second. On a loaded machine the wall time overstates what
/// the work needs; this does not.
pub fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let f: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Peak resident memory of this process so far (`VmHWM`), KiB.
pub fn peak_rss_kib() -> Option<u64> {
    status_kib("VmHWM:")
}

/// Resident memory of this process now (`VmRSS`), KiB.
pub fn rss_kib() -> Option<u64> {
    status_kib("VmRSS:")
}

/// Resets the peak-RSS counter to the current RSS (writes 5 to `/proc/self/clear_refs`).
pub fn reset_peak_rss() -> std::io::Result<()> {
    std::fs::write("/proc/self/clear_refs", "5")
}

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn reads_this_process() {
        let peak = peak_rss_kib().unwrap();
        assert!(peak > 0 && rss_kib().unwrap() <= peak);
        let spin = (0..20_000_000u64).fold(0u64, |a, i| a.wrapping_add(i * i));
        assert!(spin > 0);
        assert!(cpu_seconds().unwrap() >= 0.0);
    }
}
