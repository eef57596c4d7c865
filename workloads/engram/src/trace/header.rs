//! The self-describing JSON header: which Engram config the rows belong to, so that a
//! trace replayed under a different config is detected instead of silently misread.

use serde::{Deserialize, Serialize};

use crate::config::EngramLayout;
use crate::error::{EngramError, Result};

/// Format name in every header.
pub const FORMAT_NAME: &str = "memwall-engram-trace";

/// The identity of the Engram config a trace was recorded under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceConfigId {
    /// Config name (informational; not compared, engines name models their own way).
    pub name: String,
    /// Engram layer ids, in table-allocation order.
    pub layer_ids: Vec<u32>,
    /// N-gram orders, ascending (e.g. [2, 3, 4]).
    pub orders: Vec<u32>,
    pub heads_per_order: u32,
    /// Row ids per token per layer: `orders.len() * heads_per_order`.
    pub columns: u32,
    /// Rows of each layer's flat table; every row id is below it.
    pub table_rows: Vec<u64>,
    /// Per layer, the prime size of each column's head table (optional; compared if present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_table_sizes: Option<Vec<Vec<u64>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compressed_vocab_size: Option<u64>,
    /// Bytes one row read moves (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_bytes: Option<u64>,
}

impl TraceConfigId {
    /// The identity of a layout.
    pub fn from_layout(layout: &EngramLayout) -> Self {
        TraceConfigId {
            name: layout.config.name.clone(),
            layer_ids: layout.layer_ids(),
            orders: layout.orders().collect(),
            heads_per_order: layout.config.heads_per_order,
            columns: layout.columns() as u32,
            table_rows: layout.table_rows(),
            head_table_sizes: Some(layout.layers.iter().map(|l| l.primes.clone()).collect()),
            compressed_vocab_size: Some(layout.config.compressed_vocab_size),
            row_bytes: Some(layout.row_bytes()),
        }
    }
}

/// The decoded JSON header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceHeader {
    /// Always `memwall-engram-trace`.
    pub format: String,
    /// `"<major>.<minor>"`.
    pub version: String,
    pub config: TraceConfigId,
    /// 4 or 8: width of each stored row id.
    pub row_id_bytes: u8,
    /// Unit of record timestamps, always "ns".
    #[serde(default = "default_time_unit")]
    pub time_unit: String,
    /// Where the trace came from: `{"kind": "text" | "synthetic" | "engine", ...}`.
    #[serde(default)]
    pub source: serde_json::Value,
}

fn default_time_unit() -> String {
    "ns".into()
}

impl TraceHeader {
    /// A header for traces of `layout`; row ids are stored as u32 when every table fits.
    pub fn for_layout(layout: &EngramLayout, source: serde_json::Value) -> Self {
        let config = TraceConfigId::from_layout(layout);
        let row_id_bytes = if config.table_rows.iter().all(|&r| r <= 1 << 32) {
            4
        } else {
            8
        };
        TraceHeader {
            format: FORMAT_NAME.into(),
            version: format!("{}.{}", super::VERSION_MAJOR, super::VERSION_MINOR),
            config,
            row_id_bytes,
            time_unit: default_time_unit(),
            source,
        }
    }

    /// Structural checks a reader and a writer both need.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let c = &self.config;
        if self.format != FORMAT_NAME {
            return Err(format!("format is `{}`, not `{FORMAT_NAME}`", self.format));
        }
        if self.time_unit != "ns" {
            return Err(format!(
                "time_unit is `{}`: record timestamps are in \"ns\"",
                self.time_unit
            ));
        }
        if self.row_id_bytes != 4 && self.row_id_bytes != 8 {
            return Err(format!("row_id_bytes {} is not 4 or 8", self.row_id_bytes));
        }
        if c.layer_ids.is_empty() || c.layer_ids.len() != c.table_rows.len() {
            return Err("config needs one table_rows entry per layer id".into());
        }
        if c.columns as usize != c.orders.len() * c.heads_per_order as usize || c.columns == 0 {
            return Err(format!(
                "columns {} != orders {} x heads {}",
                c.columns,
                c.orders.len(),
                c.heads_per_order
            ));
        }
        if self.row_id_bytes == 4 && c.table_rows.iter().any(|&r| r > 1 << 32) {
            return Err("row_id_bytes 4 cannot hold ids of a table above 2^32 rows".into());
        }
        if let Some(h) = &c.head_table_sizes {
            if h.len() != c.layer_ids.len() || h.iter().any(|l| l.len() != c.columns as usize) {
                return Err("head_table_sizes must be [layers][columns]".into());
            }
        }
        Ok(())
    }

    /// Errors unless this trace was recorded under `layout`'s config (layers, orders,
    /// heads, table sizes; head primes and compressed vocabulary when recorded).
    pub fn check_layout(&self, layout: &EngramLayout) -> Result<()> {
        let want = TraceConfigId::from_layout(layout);
        let got = &self.config;
        let mismatch = |what: &str, g: String, w: String| {
            Err(EngramError::TraceConfigMismatch {
                config: layout.config.name.clone(),
                msg: format!("{what}: trace has {g}, config has {w}"),
            })
        };
        if got.layer_ids != want.layer_ids {
            return mismatch(
                "layer ids",
                format!("{:?}", got.layer_ids),
                format!("{:?}", want.layer_ids),
            );
        }
        if got.orders != want.orders {
            return mismatch(
                "n-gram orders",
                format!("{:?}", got.orders),
                format!("{:?}", want.orders),
            );
        }
        if got.heads_per_order != want.heads_per_order {
            return mismatch(
                "heads per order",
                got.heads_per_order.to_string(),
                want.heads_per_order.to_string(),
            );
        }
        if got.table_rows != want.table_rows {
            return mismatch(
                "table rows",
                format!("{:?}", got.table_rows),
                format!("{:?}", want.table_rows),
            );
        }
        if let Some(h) = &got.head_table_sizes {
            if Some(h) != want.head_table_sizes.as_ref() {
                return mismatch(
                    "head table sizes",
                    "different primes".into(),
                    "others".into(),
                );
            }
        }
        if let Some(v) = got.compressed_vocab_size {
            if Some(v) != want.compressed_vocab_size {
                return mismatch(
                    "compressed vocabulary",
                    v.to_string(),
                    layout.config.compressed_vocab_size.to_string(),
                );
            }
        }
        Ok(())
    }

    /// Index of a layer id in the header's layer list.
    pub fn layer_index(&self, layer_id: u32) -> Option<usize> {
        self.config.layer_ids.iter().position(|&l| l == layer_id)
    }
}
