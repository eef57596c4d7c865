//! Simulated time: integer picoseconds.
//!
//! A 264-byte row over 3.35 TB/s takes 79 ps, so nanoseconds are too coarse and `f64`
//! accumulates rounding error over billions of events. All time arithmetic is checked:
//! an overflow is a bug in the model (or an absurd input), never a silent wrap.

use std::fmt;

/// A point in simulated time, or a duration, in picoseconds.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ps(pub u64);

/// Picoseconds per second.
pub const PS_PER_SEC: u64 = 1_000_000_000_000;

impl Ps {
    pub const ZERO: Ps = Ps(0);
    pub const MAX: Ps = Ps(u64::MAX);

    pub const fn from_ns(ns: u64) -> Ps {
        Ps(ns * 1_000)
    }
    pub const fn from_us(us: u64) -> Ps {
        Ps(us * 1_000_000)
    }
    pub const fn from_ms(ms: u64) -> Ps {
        Ps(ms * 1_000_000_000)
    }
    pub const fn from_secs(s: u64) -> Ps {
        Ps(s * PS_PER_SEC)
    }
    pub const fn as_ps(self) -> u64 {
        self.0
    }
    /// Seconds as a float, for reports only (never fed back into the simulation).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / PS_PER_SEC as f64
    }
    pub fn as_us_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }
    pub fn as_ms_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// Checked addition; `Err` names the overflow instead of wrapping.
    pub fn checked_add(self, d: Ps) -> Result<Ps, TimeOverflow> {
        self.0
            .checked_add(d.0)
            .map(Ps)
            .ok_or(TimeOverflow { a: self, b: d })
    }
    pub fn saturating_sub(self, d: Ps) -> Ps {
        Ps(self.0.saturating_sub(d.0))
    }

    /// Time to move `bytes` at `rate` bytes per second, rounded up to the picosecond.
    /// Exact integer arithmetic: `ceil(bytes * 1e12 / rate)`. A zero rate never finishes.
    pub fn transfer_time(bytes: u64, rate_bytes_per_sec: u64) -> Result<Ps, TimeOverflow> {
        if bytes == 0 {
            return Ok(Ps::ZERO);
        }
        if rate_bytes_per_sec == 0 {
            return Err(TimeOverflow {
                a: Ps(bytes),
                b: Ps::ZERO,
            });
        }
        let num = bytes as u128 * PS_PER_SEC as u128;
        let r = rate_bytes_per_sec as u128;
        let t = num.div_ceil(r);
        u64::try_from(t).map(Ps).map_err(|_| TimeOverflow {
            a: Ps(bytes),
            b: Ps(rate_bytes_per_sec),
        })
    }
}

impl std::ops::Add for Ps {
    type Output = Ps;
    /// Panics on overflow in debug and release alike: use `checked_add` on untrusted input.
    fn add(self, rhs: Ps) -> Ps {
        Ps(self.0.checked_add(rhs.0).expect("simulated time overflow"))
    }
}

impl std::ops::AddAssign for Ps {
    fn add_assign(&mut self, rhs: Ps) {
        *self = *self + rhs;
    }
}

impl std::iter::Sum for Ps {
    fn sum<I: Iterator<Item = Ps>>(it: I) -> Ps {
        it.fold(Ps::ZERO, |a, b| a + b)
    }
}

impl std::ops::Sub for Ps {
    type Output = Ps;
    fn sub(self, rhs: Ps) -> Ps {
        Ps(self
            .0
            .checked_sub(rhs.0)
            .expect("simulated time went backwards"))
    }
}

impl fmt::Display for Ps {
    /// Human units: picks ps, ns, us, ms or s.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v < 1_000 {
            write!(f, "{v} ps")
        } else if v < 1_000_000 {
            write!(f, "{:.3} ns", v as f64 / 1e3)
        } else if v < 1_000_000_000 {
            write!(f, "{:.3} us", v as f64 / 1e6)
        } else if v < PS_PER_SEC {
            write!(f, "{:.3} ms", v as f64 / 1e9)
        } else {
            write!(f, "{:.6} s", v as f64 / 1e12)
        }
    }
}

/// Simulated time overflowed u64 picoseconds (about 213 days), or a rate was zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeOverflow {
    pub a: Ps,
    pub b: Ps,
}

impl fmt::Display for TimeOverflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "simulated time overflow or zero rate ({} ps, {} ps): a size or rate in the input is absurd",
            self.a.0, self.b.0
        )
    }
}
impl std::error::Error for TimeOverflow {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_over_hbm_is_79_ps() {
        // 264 B / 3.35e12 B/s = 78.8 ps, rounded up.
        assert_eq!(Ps::transfer_time(264, 3_350_000_000_000).unwrap(), Ps(79));
    }

    #[test]
    fn transfer_time_is_exact() {
        assert_eq!(
            Ps::transfer_time(1_000_000, 1_000_000_000).unwrap(),
            Ps::from_ms(1)
        );
        assert_eq!(Ps::transfer_time(0, 0).unwrap(), Ps::ZERO);
        assert!(Ps::transfer_time(1, 0).is_err());
        assert!(Ps::transfer_time(u64::MAX, 1).is_err());
    }

    #[test]
    fn checked_add_reports_overflow() {
        assert!(Ps(u64::MAX).checked_add(Ps(1)).is_err());
        assert_eq!(Ps(1).checked_add(Ps(2)).unwrap(), Ps(3));
    }

    #[test]
    fn display_picks_units() {
        assert_eq!(Ps(79).to_string(), "79 ps");
        assert_eq!(Ps::from_us(3).to_string(), "3.000 us");
    }
}
