//! Decimal text to integer nanoseconds.
//!
//! Kineto writes `ts`/`dur` in microseconds, either as integers (`1740461679470630`) or with
//! a fraction (`1712195495505582.988`, `4458677009853.422`, re-dumped as `1428625731622.25`).
//! Absolute epoch values in nanoseconds (~1.7e18) are far beyond f64's exact-integer range
//! (2^53), so the number is converted from its text, digit by digit, never through f64.

use thiserror::Error;

/// Why a `ts`/`dur` text is not a time in microseconds.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecimalError {
    #[error("`{0}` is not a number")]
    NotANumber(String),
    #[error("`{0}` has too many significant digits")]
    TooManyDigits(String),
    #[error("`{0}` has an empty exponent")]
    EmptyExponent(String),
    #[error("`{0}` microseconds does not fit in 64-bit nanoseconds")]
    Overflow(String),
}

/// Parses a JSON number written in microseconds into integer nanoseconds.
///
/// Accepts an optional sign, integer digits, an optional fraction and an optional exponent
/// (`1.5e3`). Digits beyond the nanosecond are rounded half away from zero.
pub fn micros_text_to_ns(text: &str) -> Result<i64, DecimalError> {
    let s = text.trim();
    let d = Decimal::parse(s)?;
    let v = d
        .nanos()
        .filter(|&v| v <= i64::MAX as i128)
        .ok_or_else(|| DecimalError::Overflow(s.to_string()))? as i64;
    Ok(if d.neg { -v } else { v })
}

/// A decimal number as sign, integer mantissa and power of ten: value = mantissa * 10^exp10.
struct Decimal {
    neg: bool,
    mantissa: i128,
    exp10: i64,
}

/// Cursor over the bytes of a number's text.
struct Scan<'a> {
    bytes: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    /// An optional `-` or `+`; true for `-`.
    fn sign(&mut self) -> bool {
        match self.bytes.get(self.i) {
            Some(b'-') => {
                self.i += 1;
                true
            }
            Some(b'+') => {
                self.i += 1;
                false
            }
            _ => false,
        }
    }

    fn at_end(&self) -> bool {
        self.i == self.bytes.len()
    }
}

impl Decimal {
    fn parse(s: &str) -> Result<Decimal, DecimalError> {
        let mut scan = Scan {
            bytes: s.as_bytes(),
            i: 0,
        };
        let neg = scan.sign();
        let (mantissa, mut exp10) = Self::digits(&mut scan, s)?;
        if matches!(scan.bytes.get(scan.i), Some(b'e' | b'E')) {
            scan.i += 1;
            exp10 = exp10.saturating_add(Self::exponent(&mut scan, s)?);
        }
        if !scan.at_end() {
            return Err(DecimalError::NotANumber(s.to_string()));
        }
        Ok(Decimal {
            neg,
            mantissa,
            exp10,
        })
    }

    /// Integer digits and an optional fraction: the mantissa and the power of ten of its
    /// last digit. Leading zeros do not count as significant digits.
    fn digits(scan: &mut Scan, s: &str) -> Result<(i128, i64), DecimalError> {
        let mut mantissa: i128 = 0;
        let mut significant = 0usize;
        let mut exp10: i64 = 0;
        let mut seen_digit = false;
        let mut frac = false;
        while let Some(&b) = scan.bytes.get(scan.i) {
            if b.is_ascii_digit() {
                seen_digit = true;
                if mantissa != 0 || b != b'0' {
                    significant += 1;
                }
                if significant > 30 {
                    return Err(DecimalError::TooManyDigits(s.to_string()));
                }
                mantissa = mantissa * 10 + (b - b'0') as i128;
                if frac {
                    exp10 -= 1;
                }
            } else if b == b'.' && !frac {
                frac = true;
            } else {
                break;
            }
            scan.i += 1;
        }
        if !seen_digit {
            return Err(DecimalError::NotANumber(s.to_string()));
        }
        Ok((mantissa, exp10))
    }

    /// The exponent after `e`/`E`: an optional sign and at least one digit (saturating).
    fn exponent(scan: &mut Scan, s: &str) -> Result<i64, DecimalError> {
        let neg = scan.sign();
        let start = scan.i;
        let mut e: i64 = 0;
        while let Some(&b) = scan.bytes.get(scan.i).filter(|b| b.is_ascii_digit()) {
            e = e.saturating_mul(10).saturating_add((b - b'0') as i64);
            scan.i += 1;
        }
        if scan.i == start {
            return Err(DecimalError::EmptyExponent(s.to_string()));
        }
        Ok(if neg { -e } else { e })
    }

    /// The magnitude in nanoseconds (three more decimal places than microseconds), the
    /// first dropped digit rounded half away from zero; `None` on overflow.
    fn nanos(&self) -> Option<i128> {
        let mut e = self.exp10 + 3;
        let mut v = self.mantissa;
        if e > 0 {
            if v != 0 && e > 20 {
                return None;
            }
            while e > 0 {
                v = v.checked_mul(10)?;
                e -= 1;
            }
        } else if e < 0 {
            let mut last = 0i128;
            while e < 0 && v != 0 {
                last = v % 10;
                v /= 10;
                e += 1;
            }
            if last >= 5 {
                v += 1;
            }
        }
        Some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::micros_text_to_ns as p;

    #[test]
    fn integer_epoch_micros() {
        assert_eq!(p("1740461679470630").unwrap(), 1_740_461_679_470_630_000);
    }

    #[test]
    fn fractional_epoch_micros_keep_every_nanosecond() {
        assert_eq!(
            p("1712195495505582.988").unwrap(),
            1_712_195_495_505_582_988
        );
        assert_eq!(
            p("1712195495505582.001").unwrap(),
            1_712_195_495_505_582_001
        );
    }

    #[test]
    fn relative_and_trimmed_fractions() {
        assert_eq!(p("4458677009853.422").unwrap(), 4_458_677_009_853_422);
        assert_eq!(p("1428625731622.25").unwrap(), 1_428_625_731_622_250);
        assert_eq!(p("0.5").unwrap(), 500);
        assert_eq!(p("0").unwrap(), 0);
        assert_eq!(p("-3").unwrap(), -3000);
    }

    #[test]
    fn sub_nanosecond_digits_round_half_away() {
        assert_eq!(p("1.0004").unwrap(), 1000);
        assert_eq!(p("1.0005").unwrap(), 1001);
        assert_eq!(p("2.9999").unwrap(), 3000);
    }

    #[test]
    fn exponents() {
        assert_eq!(p("1.5e3").unwrap(), 1_500_000);
        assert_eq!(p("25E-1").unwrap(), 2500);
    }

    #[test]
    fn rejects_garbage_and_overflow() {
        assert!(p("abc").is_err());
        assert!(p("1.2.3").is_err());
        assert!(p("1e").is_err());
        assert!(p("99999999999999999999").is_err());
    }
}
