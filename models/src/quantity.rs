//! Typed quantities that deserialize from unit strings, and the provenance tag
//! (`basis`, `source`) that every number in a profile carries.

use crate::units::{self, QuantityKind, UnitError, HINT_SEP};
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::fmt;

fn to_de<E: de::Error>(e: UnitError) -> E {
    E::custom(format!("{}{}{}", e.message, HINT_SEP, e.hint))
}

fn bare_number<E: de::Error>(kind: QuantityKind, shown: String) -> E {
    E::custom(format!(
        "bare number {shown} where {} is required: the unit is missing{HINT_SEP}{}",
        kind.noun(),
        kind.forms()
    ))
}

/// Shortest text for an f64 that round-trips (Rust's `Display`), parsed exactly afterwards.
fn float_text(v: f64) -> String {
    format!("{v}")
}

macro_rules! unit_quantity {
    ($(#[$doc:meta])* $name:ident, $inner:ty, $kind:expr, $parse:path, $fmt:path) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub $inner);

        impl $name {
            /// Parses unit text, e.g. as written in a profile.
            pub fn parse(text: &str) -> Result<Self, UnitError> {
                $parse(text).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&$fmt(self.0))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, "{} written with a unit", $kind.noun())
                    }
                    fn visit_str<E: de::Error>(self, s: &str) -> Result<$name, E> {
                        $parse(s).map($name).map_err(to_de)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        if v < 0 {
                            return Err(E::custom(format!(
                                "negative value {v}: {} cannot be negative{HINT_SEP}{}",
                                $kind.noun(),
                                $kind.forms()
                            )));
                        }
                        Err(bare_number($kind, v.to_string()))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        Err(bare_number($kind, v.to_string()))
                    }
                    fn visit_f64<E: de::Error>(self, v: f64) -> Result<$name, E> {
                        if v < 0.0 {
                            return Err(E::custom(format!(
                                "negative value {v}: {} cannot be negative{HINT_SEP}{}",
                                $kind.noun(),
                                $kind.forms()
                            )));
                        }
                        Err(bare_number($kind, float_text(v)))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

unit_quantity!(
    /// A size in bytes.
    Bytes, u64, QuantityKind::Bytes, units::parse_bytes, units::format_bytes
);
unit_quantity!(
    /// A bandwidth in bytes per second.
    ByteRate, u64, QuantityKind::ByteRate, units::parse_byte_rate, units::format_byte_rate
);
unit_quantity!(
    /// A time in picoseconds.
    Picos, u64, QuantityKind::Time, units::parse_time_ps, units::format_time_ps
);
unit_quantity!(
    /// A compute rate in FLOP per second.
    FlopRate, u64, QuantityKind::FlopRate, units::parse_flop_rate, units::format_flop_rate
);
unit_quantity!(
    /// An I/O rate in operations per second.
    Iops, u64, QuantityKind::Iops, units::parse_iops, units::format_iops
);
unit_quantity!(
    /// A power in milliwatts.
    Milliwatts, u64, QuantityKind::Power, units::parse_power_mw, units::format_power_mw
);
unit_quantity!(
    /// A price in micro-dollars.
    MicroDollars, u64, QuantityKind::Money, units::parse_money_micro, units::format_money_micro
);

/// An hourly price in micro-dollars per hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MicroDollarsPerHour(pub u64);

impl fmt::Display for MicroDollarsPerHour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/h", units::format_money_micro(self.0))
    }
}

impl<'de> Deserialize<'de> for MicroDollarsPerHour {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MicroDollarsPerHour;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an hourly price such as \"$2.5/h\"")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                units::parse_money_rate_micro_per_hour(s)
                    .map(MicroDollarsPerHour)
                    .map_err(to_de)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(bare_number(QuantityKind::MoneyRate, v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Err(bare_number(QuantityKind::MoneyRate, float_text(v)))
            }
        }
        d.deserialize_any(V)
    }
}

/// A fraction (efficiency) in parts per million: 0.88 -> 880_000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ppm(pub u32);

impl fmt::Display for Ppm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&units::format_fraction_ppm(self.0))
    }
}

impl<'de> Deserialize<'de> for Ppm {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Ppm;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fraction between 0 and 1")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Ppm, E> {
                units::parse_fraction_ppm(s).map(Ppm).map_err(to_de)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Ppm, E> {
                units::parse_fraction_ppm(&v.to_string())
                    .map(Ppm)
                    .map_err(to_de)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Ppm, E> {
                units::parse_fraction_ppm(&v.to_string())
                    .map(Ppm)
                    .map_err(to_de)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Ppm, E> {
                units::parse_fraction_ppm(&float_text(v))
                    .map(Ppm)
                    .map_err(to_de)
            }
        }
        d.deserialize_any(V)
    }
}

/// A whole count (SMs, lanes, GPUs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Count(pub u64);

impl fmt::Display for Count {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Count, E> {
                units::parse_count(s).map(Count).map_err(to_de)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                units::parse_count(&v.to_string()).map(Count).map_err(to_de)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                units::parse_count(&v.to_string()).map(Count).map_err(to_de)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                units::parse_count(&float_text(v)).map(Count).map_err(to_de)
            }
        }
        d.deserialize_any(V)
    }
}

/// Where a number comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Basis {
    /// A vendor's peak (theoretical maximum) figure.
    Peak,
    /// A specification fact that is not a performance peak (capacity, count, size).
    Spec,
    /// Measured by someone; the source says who.
    Measured,
    /// An engineering estimate; the note says why.
    Estimate,
    /// Computed arithmetically from other cited numbers.
    Derived,
    /// Supplied by the user (placeholders, site-specific figures).
    User,
    /// Fitted to measurements (`memwall calibrate`, or a fit the note describes).
    Calibrated,
}

impl fmt::Display for Basis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Basis::Peak => "peak",
            Basis::Spec => "spec",
            Basis::Measured => "measured",
            Basis::Estimate => "estimate",
            Basis::Derived => "derived",
            Basis::User => "user",
            Basis::Calibrated => "calibrated",
        })
    }
}

/// A number with its provenance: `{ value = "3.35 TB/s", basis = "peak", source = "R1" }`.
///
/// `source` is a reference id (`R1`, `R22`, `hardware.md §11`) or a short citation, each
/// explained in docs/sources.md; `tag` optionally repeats hardware.md's confidence tag (O, O-p, O-r, M, S,
/// D, E, U); `note` says why, and is required for estimates.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, bound(deserialize = "Q: Deserialize<'de>"))]
pub struct Tagged<Q> {
    pub value: Q,
    pub basis: Basis,
    pub source: String,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// hardware.md's confidence tags (listed in docs/sources.md).
pub const KNOWN_TAGS: &[&str] = &["O", "O-p", "O-r", "M", "S", "D", "E", "U"];

impl<Q: fmt::Display> Tagged<Q> {
    /// `3.35 TB/s [peak, R1]` for human-readable views.
    pub fn describe(&self) -> String {
        let mut s = format!("{} [{}, {}", self.value, self.basis, self.source);
        if let Some(t) = &self.tag {
            s.push_str(&format!(", {t}"));
        }
        s.push(']');
        if let Some(n) = &self.note {
            s.push_str(&format!(" ({n})"));
        }
        s
    }
}
