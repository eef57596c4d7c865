//! Profile overrides: copies of the named profiles (as the registry holds them) with the
//! calibrated numbers written in, each `{ value, basis = "calibrated", source, note }`.

use crate::CalibrateError;
use memwall_models::Registry;
use std::collections::BTreeMap;
use toml_edit::{DocumentMut, InlineTable, Item, Value};

/// The profiles being overridden, by part name.
#[derive(Debug, Default)]
pub struct Overrides {
    docs: BTreeMap<String, DocumentMut>,
}

impl Overrides {
    pub fn new() -> Overrides {
        Overrides::default()
    }

    fn doc(&mut self, reg: &Registry, part: &str) -> Result<&mut DocumentMut, CalibrateError> {
        use std::collections::btree_map::Entry;
        match self.docs.entry(part.to_string()) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(v) => {
                let entry = reg.get(part).ok_or_else(|| CalibrateError::Profile {
                    part: part.to_string(),
                    message: "no such profile to override".into(),
                })?;
                let doc =
                    entry
                        .text
                        .parse::<DocumentMut>()
                        .map_err(|e| CalibrateError::Profile {
                            part: part.to_string(),
                            message: format!("profile text does not parse: {e}"),
                        })?;
                Ok(v.insert(doc))
            }
        }
    }

    /// Sets `path` of profile `part` to a calibrated number written as `value` (unit
    /// text, or a plain number for fractions).
    pub fn set(
        &mut self,
        reg: &Registry,
        part: &str,
        path: &[&str],
        value: Value,
        source: &str,
        note: &str,
    ) -> Result<(), CalibrateError> {
        let doc = self.doc(reg, part)?;
        let mut t = InlineTable::new();
        t.insert("value", value);
        t.insert("basis", "calibrated".into());
        t.insert("source", source.into());
        t.insert("note", note.into());
        let (last, parents) = path.split_last().ok_or_else(|| CalibrateError::Profile {
            part: part.to_string(),
            message: "empty field path".into(),
        })?;
        let mut item: &mut Item = doc.as_item_mut();
        for key in parents {
            item = &mut item[*key];
        }
        item[*last] = Item::Value(Value::InlineTable(t));
        Ok(())
    }

    /// Removes `path` of `part` (a field the calibrated one replaces, as `efficiency`
    /// when `achievable` is written).
    pub fn remove(
        &mut self,
        reg: &Registry,
        part: &str,
        path: &[&str],
    ) -> Result<(), CalibrateError> {
        let doc = self.doc(reg, part)?;
        let Some((last, parents)) = path.split_last() else {
            return Ok(());
        };
        let mut item: &mut Item = doc.as_item_mut();
        for key in parents {
            item = &mut item[*key];
        }
        if let Some(t) = item.as_table_like_mut() {
            t.remove(last);
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// `(file name, text)` per overridden part: `<part>.toml`, in name order.
    pub fn files(&self, inputs: &[String]) -> Vec<(String, String)> {
        self.docs
            .iter()
            .map(|(part, doc)| {
                let head = format!(
                    "# Written by `memwall calibrate` from {}: numbers with basis \"calibrated\"\n# replace the shipped ones. Load with --profiles.\n",
                    inputs.join(", ")
                );
                (format!("{part}.toml"), head + &doc.to_string())
            })
            .collect()
    }
}

/// Unit text of a time, exact to the picosecond.
pub fn time_value(ps: u64) -> Value {
    memwall_models::units::format_time_ps(ps).into()
}

/// Unit text of a bandwidth in bytes per second.
pub fn rate_value(bytes_per_s: u64) -> Value {
    memwall_models::units::format_byte_rate(bytes_per_s).into()
}
