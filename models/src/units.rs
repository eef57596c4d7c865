//! Quantities written with units: `"3.35 TB/s"`, `"80 GiB"`, `"2.8 us"`.
//!
//! Every parser reads the decimal text exactly (an integer mantissa and a power of
//! ten, never an `f64`), multiplies by the unit's exact rational factor in `u128`,
//! and rounds half-up once, at the end, to the integer base unit. So `"2.8 us"` is
//! exactly `2_800_000` ps and `"3.35 TB/s"` exactly `3_350_000_000_000` B/s.
//!
//! Internal representations (all plain integers, so the simulator never rounds):
//!
//! | quantity     | base unit              | type  | absurd above     |
//! |--------------|------------------------|-------|------------------|
//! | size         | bytes                  | `u64` | 10 PB            |
//! | byte rate    | bytes per second       | `u64` | 1 PB/s           |
//! | time         | picoseconds            | `u64` | 1 s              |
//! | compute rate | FLOP per second        | `u64` | 1 EFLOP/s        |
//! | IOPS         | operations per second  | `u64` | 1 G IOPS         |
//! | power        | milliwatts             | `u64` | 10 MW            |
//! | money        | micro-dollars          | `u64` | $1e12            |
//! | money rate   | micro-dollars per hour | `u64` | $1e9/h           |
//! | fraction     | parts per million      | `u32` | 1 (= 1_000_000)  |
//! | count        | items                  | `u64` | 1e9              |
//!
//! Rates, compute rates and IOPS must be positive (a zero bandwidth would make
//! every transfer infinite). Negative values are always rejected.

use std::fmt;

/// A failed parse: what is wrong and a hint listing the accepted forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitError {
    pub message: String,
    pub hint: String,
}

impl fmt::Display for UnitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.message, HINT_SEP, self.hint)
    }
}

impl std::error::Error for UnitError {}

/// Separator between a message and its hint inside serde's string-only custom errors.
pub(crate) const HINT_SEP: &str = "\n  hint: ";

/// The kinds of quantity the profiles use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantityKind {
    Bytes,
    ByteRate,
    Time,
    FlopRate,
    Iops,
    Power,
    Money,
    MoneyRate,
    Fraction,
    Count,
}

impl QuantityKind {
    /// Human name used in messages ("a bandwidth", "a time").
    pub fn noun(self) -> &'static str {
        match self {
            QuantityKind::Bytes => "a size",
            QuantityKind::ByteRate => "a bandwidth",
            QuantityKind::Time => "a time",
            QuantityKind::FlopRate => "a compute rate",
            QuantityKind::Iops => "an IOPS rate",
            QuantityKind::Power => "a power",
            QuantityKind::Money => "a price",
            QuantityKind::MoneyRate => "an hourly price",
            QuantityKind::Fraction => "a fraction",
            QuantityKind::Count => "a count",
        }
    }

    /// Accepted forms, shown as the hint of every error.
    pub fn forms(self) -> &'static str {
        match self {
            QuantityKind::Bytes => {
                "write it with a unit, e.g. \"80 GB\", \"141 GB\", \"50 MiB\", \"4 KiB\" (B, kB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB)"
            }
            QuantityKind::ByteRate => {
                "write it with a unit, e.g. \"3.35 TB/s\", \"55.4 GB/s\", \"400 Gb/s\" (B/s with k M G T P or Ki Mi Gi Ti prefixes; bits: b/s, bit/s, bps)"
            }
            QuantityKind::Time => {
                "write it with a unit, e.g. \"2.8 us\", \"826 ns\", \"60 us\" (ps, ns, us, µs, ms, s)"
            }
            QuantityKind::FlopRate => {
                "write it with a unit, e.g. \"989 TFLOPS\", \"4.5 PFLOPS\", \"989 TFLOP/s\" (k M G T P E prefixes)"
            }
            QuantityKind::Iops => {
                "write it with a unit, e.g. \"2.5 MIOPS\", \"250 kIOPS\", \"1500000 IOPS\""
            }
            QuantityKind::Power => "write it with a unit, e.g. \"700 W\", \"1.2 kW\", \"135 kW\"",
            QuantityKind::Money => "write it in dollars, e.g. \"$30000\" or \"$2.5k\"",
            QuantityKind::MoneyRate => "write it in dollars per hour, e.g. \"$2.5/h\"",
            QuantityKind::Fraction => {
                "write a fraction between 0 and 1, e.g. 0.88 or \"0.88\" or \"88%\""
            }
            QuantityKind::Count => "write a whole number, e.g. 132",
        }
    }
}

/// An exact decimal: `mantissa × 10^exp10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    mantissa: u128,
    exp10: i32,
}

fn err(kind: QuantityKind, message: impl Into<String>) -> UnitError {
    UnitError {
        message: message.into(),
        hint: kind.forms().to_string(),
    }
}

/// Splits `text` into a non-negative decimal and the rest (the unit), trimmed.
fn split_number(kind: QuantityKind, text: &str) -> Result<(Decimal, String), UnitError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(err(
            kind,
            format!("empty value where {} is required", kind.noun()),
        ));
    }
    let bytes = t.as_bytes();
    if bytes[0] == b'-' || t.starts_with('\u{2212}') {
        return Err(err(
            kind,
            format!("negative value \"{t}\": {} cannot be negative", kind.noun()),
        ));
    }
    let sign = usize::from(bytes[0] == b'+');
    let (mut number, digits, mut i) = read_digits(bytes, sign);
    if digits == 0 {
        return Err(err(
            kind,
            format!(
                "\"{t}\" does not start with a number where {} is required",
                kind.noun()
            ),
        ));
    }
    if let Some((e, end)) = read_exponent(kind, t, i)? {
        number.exp10 += e;
        i = end;
    }
    let unit = t[i..].trim().to_string();
    Ok((number, unit))
}

/// The decimal digits (with one optional point and `_` separators) from byte `i`:
/// (the number, how many digits, the index after them). Digits beyond 30 significant
/// ones only scale the number.
fn read_digits(bytes: &[u8], mut i: usize) -> (Decimal, usize, usize) {
    let mut mantissa: u128 = 0;
    let mut exp10: i32 = 0;
    let mut digits = 0usize;
    let mut seen_point = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_digit() {
            digits += 1;
            let d = (c - b'0') as u128;
            match mantissa.checked_mul(10).and_then(|m| m.checked_add(d)) {
                Some(m) if m < 10u128.pow(30) => {
                    mantissa = m;
                    if seen_point {
                        exp10 -= 1;
                    }
                }
                // drop the digit: only its magnitude matters now
                _ if !seen_point => exp10 += 1,
                _ => {}
            }
        } else if c == b'.' && !seen_point {
            seen_point = true;
        } else if !(c == b'_' && digits > 0) {
            break;
        }
        i += 1;
    }
    (Decimal { mantissa, exp10 }, digits, i)
}

/// An optional exponent at byte `i` (`e3`, `E-6`), only when followed by a digit so
/// that "1 EFLOPS" stays a unit: (the exponent, the index after it).
fn read_exponent(kind: QuantityKind, t: &str, i: usize) -> Result<Option<(i32, usize)>, UnitError> {
    let bytes = t.as_bytes();
    if i >= bytes.len() || !(bytes[i] == b'e' || bytes[i] == b'E') {
        return Ok(None);
    }
    let mut j = i + 1;
    let mut neg = false;
    if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
        neg = bytes[j] == b'-';
        j += 1;
    }
    let start = j;
    while j < bytes.len() && bytes[j].is_ascii_digit() {
        j += 1;
    }
    if j == start {
        return Ok(None);
    }
    let e = t[start..j]
        .parse::<i32>()
        .ok()
        .filter(|e| *e <= 60)
        .ok_or_else(|| err(kind, format!("exponent in \"{t}\" is out of range")))?;
    Ok(Some((if neg { -e } else { e }, j)))
}

/// `round(d × num / den)`; `None` when the result does not fit `u128` comfortably.
fn scale(d: Decimal, num: u128, den: u128) -> Option<u128> {
    if d.mantissa == 0 {
        return Some(0);
    }
    let mut n = d.mantissa.checked_mul(num)?;
    let mut dd = den;
    if d.exp10 >= 0 {
        n = n.checked_mul(10u128.checked_pow(d.exp10 as u32)?)?;
    } else {
        let p = (-d.exp10) as u32;
        if p > 38 {
            return Some(0);
        }
        dd = dd.checked_mul(10u128.pow(p))?;
    }
    Some((n + dd / 2) / dd)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    kind: QuantityKind,
    text: &str,
    d: Decimal,
    num: u128,
    den: u128,
    max: u128,
    max_text: &str,
    positive: bool,
) -> Result<u64, UnitError> {
    let t = text.trim();
    let v = scale(d, num, den).unwrap_or(u128::MAX);
    if v > max {
        return Err(err(
            kind,
            format!(
                "absurd value \"{t}\": {} above {max_text} is not a real part (check the unit prefix)",
                kind.noun()
            ),
        ));
    }
    if positive && v == 0 {
        return Err(err(
            kind,
            format!(
                "\"{t}\" is zero or rounds to zero: {} must be positive",
                kind.noun()
            ),
        ));
    }
    Ok(v as u64)
}

/// What a unit string means.
struct UnitDef {
    kind: QuantityKind,
    num: u128,
    den: u128,
}

const K: u128 = 1_000;
const KI: u128 = 1_024;

/// An SI prefix's factor (`k` is 1000).
fn si(p: &str) -> Option<u128> {
    match p {
        "" => Some(1),
        "k" => Some(K),
        "M" => Some(K.pow(2)),
        "G" => Some(K.pow(3)),
        "T" => Some(K.pow(4)),
        "P" => Some(K.pow(5)),
        "E" => Some(K.pow(6)),
        _ => None,
    }
}

/// An IEC prefix's factor (`Ki` is 1024).
fn iec(p: &str) -> Option<u128> {
    match p {
        "Ki" => Some(KI),
        "Mi" => Some(KI.pow(2)),
        "Gi" => Some(KI.pow(3)),
        "Ti" => Some(KI.pow(4)),
        "Pi" => Some(KI.pow(5)),
        _ => None,
    }
}

/// Units written as whole words: times, powers, percent.
fn word_unit(unit: &str) -> Option<UnitDef> {
    use QuantityKind::*;
    let (kind, num) = match unit {
        "ps" => (Time, 1),
        "ns" => (Time, K),
        "us" | "µs" | "μs" => (Time, K.pow(2)),
        "ms" => (Time, K.pow(3)),
        "s" | "sec" => (Time, K.pow(4)),
        "W" => (Power, K),
        "kW" => (Power, K.pow(2)),
        "MW" => (Power, K.pow(3)),
        "%" => (Fraction, 10_000),
        _ => return None,
    };
    Some(UnitDef { kind, num, den: 1 })
}

/// Looks a unit up in every table, so that a wrong unit can be named.
fn lookup_unit(unit: &str) -> Option<UnitDef> {
    let u = |kind, num, den| Some(UnitDef { kind, num, den });
    use QuantityKind::*;
    let prefix = |p: &str| si(p).or_else(|| iec(p));
    if let Some(d) = word_unit(unit) {
        return Some(d);
    }
    // byte rates: <prefix>B/s, <prefix>Bps
    for suffix in ["B/s", "Bps"] {
        if let Some(p) = unit.strip_suffix(suffix) {
            if let Some(f) = prefix(p) {
                return u(ByteRate, f, 1);
            }
        }
    }
    // bit rates: <prefix>b/s, <prefix>bit/s, <prefix>bps
    for suffix in ["b/s", "bit/s", "bps"] {
        if let Some(p) = unit.strip_suffix(suffix) {
            if let Some(f) = prefix(p) {
                return u(ByteRate, f, 8);
            }
        }
    }
    // compute: <prefix>FLOPS, <prefix>FLOP/s
    for suffix in ["FLOPS", "FLOP/s", "FLOPs"] {
        if let Some(p) = unit.strip_suffix(suffix) {
            if let Some(f) = si(p) {
                return u(FlopRate, f, 1);
            }
        }
    }
    if let Some(p) = unit.strip_suffix("IOPS") {
        let p = if p == "K" { "k" } else { p };
        if let Some(f) = si(p) {
            return u(Iops, f, 1);
        }
    }
    // sizes: <prefix>B
    if let Some(p) = unit.strip_suffix('B') {
        if let Some(f) = prefix(p) {
            return u(Bytes, f, 1);
        }
    }
    None
}

/// Parses `text` as a quantity of `kind` and returns it in the base unit.
fn parse_with_unit(
    kind: QuantityKind,
    text: &str,
    max: u128,
    max_text: &str,
    positive: bool,
) -> Result<u64, UnitError> {
    let (d, unit) = split_number(kind, text)?;
    let t = text.trim();
    if unit.is_empty() {
        return Err(err(
            kind,
            format!(
                "bare number \"{t}\" where {} is required: the unit is missing",
                kind.noun()
            ),
        ));
    }
    if unit == "KB" || unit == "KB/s" {
        return Err(err(
            kind,
            format!("ambiguous unit \"{unit}\" in \"{t}\": use kB (1000) or KiB (1024)"),
        ));
    }
    match lookup_unit(&unit) {
        Some(def) if def.kind == kind => {
            finish(kind, text, d, def.num, def.den, max, max_text, positive)
        }
        Some(def) => Err(err(
            kind,
            format!(
                "wrong unit \"{unit}\" in \"{t}\": that is {}, but {} is required",
                def.kind.noun(),
                kind.noun()
            ),
        )),
        None => Err(err(kind, format!("unknown unit \"{unit}\" in \"{t}\""))),
    }
}

/// A size in bytes: `"80 GB"`, `"50 MiB"`.
pub fn parse_bytes(text: &str) -> Result<u64, UnitError> {
    parse_with_unit(QuantityKind::Bytes, text, 10 * K.pow(5), "10 PB", false)
}

/// A bandwidth in bytes per second: `"3.35 TB/s"`, `"400 Gb/s"` (= 50 GB/s).
pub fn parse_byte_rate(text: &str) -> Result<u64, UnitError> {
    parse_with_unit(QuantityKind::ByteRate, text, K.pow(5), "1 PB/s", true)
}

/// A time in picoseconds: `"2.8 us"` = 2_800_000.
pub fn parse_time_ps(text: &str) -> Result<u64, UnitError> {
    parse_with_unit(QuantityKind::Time, text, K.pow(4), "1 s", false)
}

/// A compute rate in FLOP/s: `"989 TFLOPS"`, `"4 PFLOP/s"`.
pub fn parse_flop_rate(text: &str) -> Result<u64, UnitError> {
    parse_with_unit(QuantityKind::FlopRate, text, K.pow(6), "1 EFLOP/s", true)
}

/// An I/O rate in operations per second: `"2.5 MIOPS"`, `"1500000 IOPS"`.
pub fn parse_iops(text: &str) -> Result<u64, UnitError> {
    parse_with_unit(QuantityKind::Iops, text, K.pow(3), "1 GIOPS", true)
}

/// A power in milliwatts: `"700 W"` = 700_000.
pub fn parse_power_mw(text: &str) -> Result<u64, UnitError> {
    parse_with_unit(QuantityKind::Power, text, 10 * K.pow(3) * K, "10 MW", false)
}

fn parse_dollars(kind: QuantityKind, text: &str, per_hour: bool) -> Result<u64, UnitError> {
    let t = text.trim();
    let Some(rest) = t.strip_prefix('$') else {
        if t.starts_with('-') {
            return Err(err(
                kind,
                format!("negative value \"{t}\": {} cannot be negative", kind.noun()),
            ));
        }
        return Err(err(
            kind,
            format!("\"{t}\" is not written in dollars (it must start with $)"),
        ));
    };
    let (d, unit) = split_number(kind, rest)?;
    let mut unit = unit.as_str();
    let mut has_rate = false;
    for suffix in ["/h", "/hr", "/hour"] {
        if let Some(u) = unit.strip_suffix(suffix) {
            unit = u.trim_end();
            has_rate = true;
            break;
        }
    }
    if has_rate != per_hour {
        let what = if has_rate {
            "an hourly price"
        } else {
            "a one-off price"
        };
        return Err(err(
            kind,
            format!(
                "wrong unit in \"{t}\": that is {what}, but {} is required",
                kind.noun()
            ),
        ));
    }
    let mult: u128 = match unit {
        "" => 1,
        "k" | "K" => K,
        "M" => K.pow(2),
        "B" | "G" => K.pow(3),
        other => return Err(err(kind, format!("unknown unit \"{other}\" in \"{t}\""))),
    };
    let (max, max_text) = if per_hour {
        (K.pow(3) * K.pow(2), "$1e9/h")
    } else {
        (K.pow(4) * K.pow(2), "$1e12")
    };
    let v = finish(kind, text, d, mult * K.pow(2), 1, max, max_text, false)?;
    if v == 0 {
        // A free node would give infinite throughput per dollar.
        return Err(err(
            kind,
            format!(
                "\"{t}\": {} must be above $0 (throughput per dollar would be infinite)",
                kind.noun()
            ),
        ));
    }
    Ok(v)
}

/// A purchase price in micro-dollars: `"$30000"`, `"$3.5M"`.
pub fn parse_money_micro(text: &str) -> Result<u64, UnitError> {
    parse_dollars(QuantityKind::Money, text, false)
}

/// An hourly price in micro-dollars per hour: `"$2.5/h"` = 2_500_000.
pub fn parse_money_rate_micro_per_hour(text: &str) -> Result<u64, UnitError> {
    parse_dollars(QuantityKind::MoneyRate, text, true)
}

/// A fraction in parts per million: `"0.88"` = 880_000, `"88%"` = 880_000.
pub fn parse_fraction_ppm(text: &str) -> Result<u32, UnitError> {
    let kind = QuantityKind::Fraction;
    let (d, unit) = split_number(kind, text)?;
    let v = match unit.as_str() {
        "" => scale(d, 1_000_000, 1),
        "%" => scale(d, 10_000, 1),
        other => {
            let what = lookup_unit(other)
                .map(|u| {
                    format!(
                        "wrong unit \"{other}\": that is {}, but a fraction is required",
                        u.kind.noun()
                    )
                })
                .unwrap_or_else(|| format!("unknown unit \"{other}\" in \"{}\"", text.trim()));
            return Err(err(kind, what));
        }
    }
    .unwrap_or(u128::MAX);
    if v > 1_000_000 {
        return Err(err(
            kind,
            format!(
                "absurd value \"{}\": a fraction cannot exceed 1 (100%)",
                text.trim()
            ),
        ));
    }
    Ok(v as u32)
}

/// A whole count: `"132"`.
pub fn parse_count(text: &str) -> Result<u64, UnitError> {
    let kind = QuantityKind::Count;
    let (d, unit) = split_number(kind, text)?;
    if !unit.is_empty() {
        return Err(err(kind, format!("unexpected unit \"{unit}\" on a count")));
    }
    let v = scale(d, 1, 1).unwrap_or(u128::MAX);
    if scale(d, 1000, 1).map(|x| x % 1000 != 0).unwrap_or(false) {
        return Err(err(
            kind,
            format!("\"{}\" is not a whole number", text.trim()),
        ));
    }
    if v > K.pow(3) {
        return Err(err(
            kind,
            format!("absurd count \"{}\" (above 1e9)", text.trim()),
        ));
    }
    Ok(v as u64)
}

// ---------- formatting for human-readable views ----------

fn fmt_scaled(v: u128, units: &[(u128, &str)]) -> String {
    for &(f, name) in units {
        if v >= f {
            let whole = v / f;
            let frac = (v % f) * 1000 / f;
            return if frac == 0 {
                format!("{whole} {name}")
            } else {
                let s = format!("{whole}.{frac:03}");
                format!("{} {name}", s.trim_end_matches('0'))
            };
        }
    }
    format!("0 {}", units.last().map(|u| u.1).unwrap_or(""))
}

/// `80_000_000_000` -> `"80 GB"`; IEC when the value is a whole IEC multiple.
pub fn format_bytes(b: u64) -> String {
    let b = b as u128;
    for (f, name) in [
        (KI.pow(4), "TiB"),
        (KI.pow(3), "GiB"),
        (KI.pow(2), "MiB"),
        (KI, "KiB"),
    ] {
        #[allow(clippy::manual_is_multiple_of)] // rust-version 1.80
        let whole_iec = b % f == 0 && b % K != 0;
        if b >= f && whole_iec {
            return format!("{} {name}", b / f);
        }
    }
    fmt_scaled(
        b,
        &[
            (K.pow(5), "PB"),
            (K.pow(4), "TB"),
            (K.pow(3), "GB"),
            (K.pow(2), "MB"),
            (K, "kB"),
            (1, "B"),
        ],
    )
}

/// Bytes per second -> `"3.35 TB/s"`.
pub fn format_byte_rate(b: u64) -> String {
    fmt_scaled(
        b as u128,
        &[
            (K.pow(5), "PB/s"),
            (K.pow(4), "TB/s"),
            (K.pow(3), "GB/s"),
            (K.pow(2), "MB/s"),
            (K, "kB/s"),
            (1, "B/s"),
        ],
    )
}

/// Picoseconds -> `"2.8 us"`.
pub fn format_time_ps(ps: u64) -> String {
    fmt_scaled(
        ps as u128,
        &[
            (K.pow(4), "s"),
            (K.pow(3), "ms"),
            (K.pow(2), "us"),
            (K, "ns"),
            (1, "ps"),
        ],
    )
}

/// FLOP/s -> `"989 TFLOPS"`.
pub fn format_flop_rate(f: u64) -> String {
    fmt_scaled(
        f as u128,
        &[
            (K.pow(6), "EFLOPS"),
            (K.pow(5), "PFLOPS"),
            (K.pow(4), "TFLOPS"),
            (K.pow(3), "GFLOPS"),
            (1, "FLOPS"),
        ],
    )
}

/// IOPS -> `"2.5 MIOPS"`.
pub fn format_iops(f: u64) -> String {
    fmt_scaled(f as u128, &[(K.pow(2), "MIOPS"), (K, "kIOPS"), (1, "IOPS")])
}

/// Milliwatts -> `"700 W"`.
pub fn format_power_mw(mw: u64) -> String {
    fmt_scaled(mw as u128, &[(K.pow(3) * K, "kW"), (K, "W"), (1, "mW")])
}

/// Micro-dollars -> `"$30000"`.
pub fn format_money_micro(m: u64) -> String {
    let whole = m / 1_000_000;
    let cents = (m % 1_000_000) / 10_000;
    if cents == 0 {
        format!("${whole}")
    } else {
        format!("${whole}.{cents:02}")
    }
}

/// Parts per million -> `"0.88"`.
pub fn format_fraction_ppm(p: u32) -> String {
    let s = format!("{}.{:06}", p / 1_000_000, p % 1_000_000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `value × ppm / 1e6`, rounded half-up, exactly.
pub fn apply_fraction(value: u64, ppm: u32) -> u64 {
    ((value as u128 * ppm as u128 + 500_000) / 1_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_exact_picoseconds() {
        assert_eq!(parse_time_ps("2.8 us"), Ok(2_800_000));
        assert_eq!(parse_time_ps("2.8us"), Ok(2_800_000));
        assert_eq!(parse_time_ps("2.8 µs"), Ok(2_800_000));
        assert_eq!(parse_time_ps("2.8 μs"), Ok(2_800_000));
        assert_eq!(parse_time_ps("826 ns"), Ok(826_000));
        assert_eq!(parse_time_ps("79 ps"), Ok(79));
        assert_eq!(parse_time_ps("0.1 ns"), Ok(100));
        assert_eq!(parse_time_ps("3.33 us"), Ok(3_330_000));
        assert_eq!(parse_time_ps("1 s"), Ok(1_000_000_000_000));
        assert_eq!(parse_time_ps("0.000001 ms"), Ok(1_000));
        assert_eq!(parse_time_ps("1.85e0 us"), Ok(1_850_000));
        assert_eq!(parse_time_ps("0.4 ps"), Ok(0));
        assert_eq!(parse_time_ps("0.5 ps"), Ok(1));
        assert_eq!(parse_time_ps("0 ns"), Ok(0));
    }

    #[test]
    fn sizes_si_and_iec() {
        assert_eq!(parse_bytes("80 GB"), Ok(80_000_000_000));
        assert_eq!(parse_bytes("50 MiB"), Ok(50 * 1024 * 1024));
        assert_eq!(parse_bytes("4 KiB"), Ok(4096));
        assert_eq!(parse_bytes("4 kB"), Ok(4000));
        assert_eq!(parse_bytes("126.5 MiB"), Ok(132_644_864));
        assert_eq!(parse_bytes("1.5 TiB"), Ok(1_649_267_441_664));
        assert_eq!(parse_bytes("264 B"), Ok(264));
        assert!(parse_bytes("4 KB")
            .unwrap_err()
            .message
            .contains("ambiguous"));
    }

    #[test]
    fn rates_bytes_and_bits() {
        assert_eq!(parse_byte_rate("3.35 TB/s"), Ok(3_350_000_000_000));
        assert_eq!(parse_byte_rate("55.4 GB/s"), Ok(55_400_000_000));
        assert_eq!(parse_byte_rate("400 Gb/s"), Ok(50_000_000_000));
        assert_eq!(parse_byte_rate("400 Gbit/s"), Ok(50_000_000_000));
        assert_eq!(parse_byte_rate("1.6 Tb/s"), Ok(200_000_000_000));
        assert_eq!(parse_byte_rate("800 Gbps"), Ok(100_000_000_000));
        assert_eq!(parse_byte_rate("1 GiB/s"), Ok(1 << 30));
        assert_eq!(parse_byte_rate("6.6 TiB/s"), Ok(7_256_776_743_322));
    }

    #[test]
    fn compute_iops_power_money_fraction() {
        assert_eq!(parse_flop_rate("989 TFLOPS"), Ok(989_000_000_000_000));
        assert_eq!(parse_flop_rate("989 TFLOP/s"), Ok(989_000_000_000_000));
        assert_eq!(parse_flop_rate("17.5 PFLOPS"), Ok(17_500_000_000_000_000));
        assert_eq!(parse_flop_rate("1307.4 TFLOPS"), Ok(1_307_400_000_000_000));
        assert_eq!(parse_iops("1.5 MIOPS"), Ok(1_500_000));
        assert_eq!(parse_iops("1500000 IOPS"), Ok(1_500_000));
        assert_eq!(parse_iops("250 kIOPS"), Ok(250_000));
        assert_eq!(parse_iops("250 KIOPS"), Ok(250_000));
        assert_eq!(parse_power_mw("700 W"), Ok(700_000));
        assert_eq!(parse_power_mw("1.2 kW"), Ok(1_200_000));
        assert_eq!(parse_money_micro("$30000"), Ok(30_000_000_000));
        assert_eq!(parse_money_micro("$3.5M"), Ok(3_500_000_000_000));
        assert_eq!(parse_money_rate_micro_per_hour("$2.5/h"), Ok(2_500_000));
        assert_eq!(parse_fraction_ppm("0.88"), Ok(880_000));
        assert_eq!(parse_fraction_ppm("88%"), Ok(880_000));
        assert_eq!(parse_fraction_ppm("1"), Ok(1_000_000));
        assert_eq!(parse_count("132"), Ok(132));
        assert_eq!(parse_count("1_000"), Ok(1000));
    }

    #[test]
    fn rejects_with_hints() {
        let e = parse_byte_rate("3.35").unwrap_err();
        assert!(e.message.contains("bare number"), "{e}");
        assert!(e.hint.contains("3.35 TB/s"), "{e}");
        let e = parse_byte_rate("2.8 us").unwrap_err();
        assert!(
            e.message.contains("wrong unit") && e.message.contains("a time"),
            "{e}"
        );
        let e = parse_time_ps("3.35 TB/s").unwrap_err();
        assert!(e.message.contains("wrong unit"), "{e}");
        let e = parse_bytes("-80 GB").unwrap_err();
        assert!(e.message.contains("negative"), "{e}");
        let e = parse_byte_rate("2 PB/s").unwrap_err();
        assert!(e.message.contains("absurd"), "{e}");
        let e = parse_time_ps("2 s").unwrap_err();
        assert!(e.message.contains("absurd"), "{e}");
        assert!(parse_byte_rate("0 GB/s")
            .unwrap_err()
            .message
            .contains("positive"));
        assert!(parse_fraction_ppm("1.2")
            .unwrap_err()
            .message
            .contains("exceed"));
        assert!(parse_fraction_ppm("0.5 GB")
            .unwrap_err()
            .message
            .contains("wrong unit"));
        assert!(parse_count("1.5").unwrap_err().message.contains("whole"));
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("GB").is_err());
        assert!(parse_bytes("80 furlongs")
            .unwrap_err()
            .message
            .contains("unknown unit"));
        assert!(parse_money_micro("$2/h")
            .unwrap_err()
            .message
            .contains("wrong unit"));
        assert!(parse_money_rate_micro_per_hour("$2")
            .unwrap_err()
            .message
            .contains("wrong unit"));
        assert!(parse_money_micro("30000").is_err());
        assert!(parse_bytes("1e300 B").is_err());
        assert!(parse_bytes("99999999999999999999999999999999999999999 B")
            .unwrap_err()
            .message
            .contains("absurd"));
    }

    #[test]
    fn formatting_round_trips_common_values() {
        assert_eq!(format_byte_rate(3_350_000_000_000), "3.35 TB/s");
        assert_eq!(format_time_ps(2_800_000), "2.8 us");
        assert_eq!(format_bytes(80_000_000_000), "80 GB");
        assert_eq!(format_bytes(4096), "4 KiB");
        assert_eq!(format_flop_rate(989_000_000_000_000), "989 TFLOPS");
        assert_eq!(format_fraction_ppm(880_000), "0.88");
        assert_eq!(
            apply_fraction(3_350_000_000_000, 880_000),
            2_948_000_000_000
        );
    }

    mod prop {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics(s in "\\PC{0,40}") {
                let _ = parse_bytes(&s);
                let _ = parse_byte_rate(&s);
                let _ = parse_time_ps(&s);
                let _ = parse_flop_rate(&s);
                let _ = parse_iops(&s);
                let _ = parse_power_mw(&s);
                let _ = parse_money_micro(&s);
                let _ = parse_money_rate_micro_per_hour(&s);
                let _ = parse_fraction_ppm(&s);
                let _ = parse_count(&s);
            }

            #[test]
            fn never_panics_on_numberish(s in "[-+]?[0-9_.]{0,45}([eE][-+]?[0-9]{0,4})? ?(ps|ns|us|µs|s|B|GB|KiB|TB/s|Gb/s|TFLOPS|MIOPS|W|kW|%|\\$|/h)?") {
                let _ = parse_bytes(&s);
                let _ = parse_byte_rate(&s);
                let _ = parse_time_ps(&s);
                let _ = parse_flop_rate(&s);
                let _ = parse_fraction_ppm(&s);
                let _ = parse_count(&s);
                let _ = parse_money_micro(&format!("${s}"));
            }

            #[test]
            fn integer_picoseconds_are_exact(n in 0u64..1_000_000_000_000u64) {
                prop_assert_eq!(parse_time_ps(&format!("{n} ps")), Ok(n));
                let text = format!("{}.{:03} ns", n / 1000, n % 1000);
                prop_assert_eq!(parse_time_ps(&text), Ok(n));
            }

            #[test]
            fn decimal_gbps_are_exact(whole in 0u64..100_000, frac in 0u64..1000) {
                let v = whole * 1_000_000_000 + frac * 1_000_000;
                let r = parse_byte_rate(&format!("{whole}.{frac:03} GB/s"));
                if v == 0 { prop_assert!(r.is_err()); } else { prop_assert_eq!(r, Ok(v)); }
            }
        }
    }
}
