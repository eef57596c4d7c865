//! Human-readable quantities with units, for tables and plot axes (display only: exact
//! values go to CSV as integers).

use memwall_sim::Ps;

/// A duration with a unit chosen to keep 1-3 integer digits: `"79 ps"`, `"2.800 us"`,
/// `"1.250 ms"`.
pub fn fmt_duration(p: Ps) -> String {
    let ps = p.0;
    if ps < 1_000 {
        return format!("{ps} ps");
    }
    let (div, unit) = if ps < 1_000_000 {
        (1e3, "ns")
    } else if ps < 1_000_000_000 {
        (1e6, "us")
    } else if ps < 1_000_000_000_000 {
        (1e9, "ms")
    } else {
        (1e12, "s")
    };
    format!("{:.3} {unit}", ps as f64 / div)
}

/// A byte count in IEC units: `"512 B"`, `"1.50 KiB"`, `"80.00 GiB"`.
pub fn fmt_bytes(b: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64 / 1024.0;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    format!("{v:.2} {}", UNITS[i])
}

/// A time unit for an axis whose largest value is `max_s` seconds: the unit's name and
/// how many of it make a second.
pub fn time_unit_for(max_s: f64) -> (&'static str, f64) {
    let m = max_s.abs();
    if m >= 1.0 {
        ("s", 1.0)
    } else if m >= 1e-3 {
        ("ms", 1e3)
    } else if m >= 1e-6 || m == 0.0 {
        // Zero (or no data) reads best in microseconds.
        ("us", 1e6)
    } else if m >= 1e-9 {
        ("ns", 1e9)
    } else {
        ("ps", 1e12)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_bytes() {
        assert_eq!(fmt_duration(Ps(79)), "79 ps");
        assert_eq!(fmt_duration(Ps(2_800_000)), "2.800 us");
        assert_eq!(fmt_duration(Ps::from_ms(1)), "1.000 ms");
        assert_eq!(fmt_duration(Ps::from_secs(3)), "3.000 s");
        assert_eq!(fmt_bytes(512), "512 B");
        assert_eq!(fmt_bytes(1536), "1.50 KiB");
        assert_eq!(fmt_bytes(80 << 30), "80.00 GiB");
        assert_eq!(time_unit_for(0.002), ("ms", 1e3));
        assert_eq!(time_unit_for(0.0), ("us", 1e6));
    }
}
