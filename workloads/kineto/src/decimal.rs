//! Decimal text to integer nanoseconds.
//!
//! Kineto writes `ts`/`dur` in microseconds, either as integers (`1740461679470630`) or with
//! a fraction (`1712195495505582.988`, `4458677009853.422`, re-dumped as `1428625731622.25`).
//! Absolute epoch values in nanoseconds (~1.7e18) are far beyond f64's exact-integer range
//! (2^53), so the number is converted from its text, digit by digit, never through f64.

/// Parses a JSON number written in microseconds into integer nanoseconds.
///
/// Accepts an optional sign, integer digits, an optional fraction and an optional exponent
/// (`1.5e3`). Digits beyond the nanosecond are rounded half away from zero.
pub fn micros_text_to_ns(text: &str) -> Result<i64, String> {
    let s = text.trim();
    let bytes = s.as_bytes();
    let mut i = 0;
    let neg = match bytes.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let overflow = || format!("`{s}` microseconds does not fit in 64-bit nanoseconds");
    // value (in us) = mantissa * 10^exp10; leading zeros do not count as significant digits.
    let mut mantissa: i128 = 0;
    let mut significant = 0usize;
    let mut exp10: i64 = 0;
    let mut seen_digit = false;
    let mut frac = false;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_digit() {
            seen_digit = true;
            if mantissa != 0 || b != b'0' {
                significant += 1;
            }
            if significant > 30 {
                return Err(format!("`{s}` has too many significant digits"));
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
        i += 1;
    }
    if !seen_digit {
        return Err(format!("`{s}` is not a number"));
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        let eneg = match bytes.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let start = i;
        let mut e: i64 = 0;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            e = e
                .saturating_mul(10)
                .saturating_add((bytes[i] - b'0') as i64);
            i += 1;
        }
        if i == start {
            return Err(format!("`{s}` has an empty exponent"));
        }
        exp10 = exp10.saturating_add(if eneg { -e } else { e });
    }
    if i != bytes.len() {
        return Err(format!("`{s}` is not a number"));
    }
    // Microseconds to nanoseconds: three more decimal places.
    let mut e = exp10 + 3;
    let mut v = mantissa;
    if e > 0 {
        if v != 0 && e > 20 {
            return Err(overflow());
        }
        while e > 0 {
            v = v.checked_mul(10).ok_or_else(overflow)?;
            e -= 1;
        }
    } else if e < 0 {
        // Round half away from zero on the first dropped digit.
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
    if v > i64::MAX as i128 {
        return Err(overflow());
    }
    let v = v as i64;
    Ok(if neg { -v } else { v })
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
