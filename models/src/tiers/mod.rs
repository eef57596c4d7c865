//! Engram fetch tiers: where an Engram table lives and how a step's rows reach a GPU.
//!
//! A tier is a config (its own TOML fields, tagged by `placement = "..."`) that, once
//! attached to a wired node ([`NodeModel`]), turns "bring these rows of B bytes to GPU g,
//! after these ops" into ops on the kernel ([`Executor`]): flows over the node's links,
//! storage requests on its drives' queue servers, CPU time. Serving, replay and the
//! `engram-fetch` sweep runner all fetch through it, with one vocabulary of names.
//!
//! A new tier is one file in this folder (a config implementing [`TierSpec`], an attached
//! tier implementing [`FetchTier`]) and one line in the `tiers!` table below.

mod cache;
pub mod cxl;
pub mod gpu_sharded;
pub mod hbm;
pub mod host_dma;
pub mod host_zero_copy;
pub mod nvme;

pub use cache::RowCache;

use crate::error::at_line;
use std::collections::BTreeMap;
use std::fmt;

use memwall_sim::{CategoryId, Executor, OpId, OpKind, OpSpec, SimError, StreamId, Work};
use serde::Deserialize;

use crate::node::{NodeModel, WiringError};
use crate::{Registry, SystemSpec};

/// The table of tiers: variant, config type, TOML name and older spellings kept as
/// aliases. Generates [`TierConfig`] (serde-tagged by `placement`) and [`TIERS`].
macro_rules! tiers {
    ($($variant:ident($cfg:ty) = $name:literal $([$($alias:literal),*])?;)*) => {
        /// A tier's config, tagged by `placement`: each variant holds its own fields only.
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        #[serde(tag = "placement")]
        pub enum TierConfig {
            $(
                #[serde(rename = $name $($(, alias = $alias)*)?)]
                $variant($cfg),
            )*
        }

        impl TierConfig {
            /// The config as its tier.
            pub fn spec(&self) -> &dyn TierSpec {
                match self {
                    $(TierConfig::$variant(c) => c,)*
                }
            }
        }

        /// Every tier: its name and the older spellings it also answers to.
        pub const TIERS: &[(&str, &[&str])] = &[$(($name, &[$($($alias),*)?]),)*];
    };
}

tiers! {
    Hbm(hbm::HbmConfig) = "hbm";
    GpuSharded(gpu_sharded::GpuShardedConfig) = "gpu-sharded";
    HostZeroCopy(host_zero_copy::HostZeroCopyConfig) = "host-zero-copy" ["host-dram", "host"];
    HostDma(host_dma::HostDmaConfig) = "host-dma";
    Nvme(nvme::NvmeConfig) = "nvme";
    Cxl(cxl::CxlConfig) = "cxl";
}

/// The TOML name a name or alias stands for.
pub fn canonical_name(name: &str) -> Option<&'static str> {
    TIERS
        .iter()
        .find(|(n, aliases)| *n == name || aliases.contains(&name))
        .map(|(n, _)| *n)
}

/// Every name a user may write, aliases included, for hints.
pub fn known_names() -> String {
    TIERS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
}

impl TierConfig {
    /// A tier by name (or alias) with every field at its default.
    pub fn by_name(name: &str) -> Option<TierConfig> {
        let mut t = toml::Table::new();
        t.insert("placement".into(), canonical_name(name)?.into());
        TierConfig::deserialize(toml::Value::Table(t)).ok()
    }

    /// Parses a tier from the keys of its table (`placement` and the tier's own fields);
    /// `src` says where they came from for errors.
    pub fn from_table(t: toml::Table, src: &FieldSource) -> Result<TierConfig, TierError> {
        let placement = t
            .get("placement")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        TierConfig::deserialize(toml::Value::Table(t)).map_err(|e| {
            let message = e.to_string().lines().next().unwrap_or("").to_string();
            let field = message.split('`').nth(1).unwrap_or("placement").to_string();
            let field = if message.starts_with("unknown field") {
                field
            } else {
                "placement".to_string()
            };
            TierError::Field {
                origin: src.origin.to_string(),
                line: src.line(&field).or_else(|| src.line("placement")),
                message: format!("placement = {:?}: {message}", placement.unwrap_or_default()),
                hint: format!(
                    "placements: {}; each takes its own fields (scenarios/README.md)",
                    known_names()
                ),
            }
        })
    }

    /// The TOML name, as a user writes it.
    pub fn name(&self) -> &'static str {
        self.spec().name()
    }
}

/// Where a tier's fields came from: file, line of each key, and the table's prefix
/// (`engram.`), for errors that name file, line and field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSource {
    pub origin: String,
    pub prefix: String,
    pub lines: BTreeMap<String, usize>,
}

impl FieldSource {
    pub fn line(&self, key: &str) -> Option<usize> {
        self.lines.get(key).copied()
    }

    /// A quantity field parsed with `parse`; the error names file, line and field.
    pub fn quantity<T>(
        &self,
        key: &str,
        value: &str,
        parse: fn(&str) -> Result<T, crate::units::UnitError>,
    ) -> Result<T, TierError> {
        parse(value).map_err(|e| TierError::Quantity {
            origin: self.origin.clone(),
            line: self.line(key),
            field: format!("{}{key}", self.prefix),
            value: value.to_string(),
            message: e.message,
            hint: e.hint,
        })
    }

    /// An error about one field of the tier.
    pub fn error(&self, key: &str, message: String, hint: &str) -> TierError {
        TierError::Field {
            origin: self.origin.clone(),
            line: self.line(key),
            message,
            hint: hint.to_string(),
        }
    }
}

/// What can go wrong configuring, attaching or running a tier.
#[derive(Debug, thiserror::Error)]
pub enum TierError {
    #[error(
        "{origin}{}: field `{field}` = {value:?}: {message}\nhint: {hint}",
        at_line(line)
    )]
    Quantity {
        origin: String,
        line: Option<usize>,
        field: String,
        value: String,
        message: String,
        hint: String,
    },
    #[error("{origin}{}: [engram] {message}\nhint: {hint}", at_line(line))]
    Field {
        origin: String,
        line: Option<usize>,
        message: String,
        hint: String,
    },
    /// The system cannot hold the tier (no drives, no NVLink, ...).
    #[error("{origin}: [engram] placement = \"{placement}\": {message}\nhint: {hint}")]
    System {
        origin: String,
        placement: &'static str,
        message: String,
        hint: String,
    },
    #[error("{0}")]
    Profile(crate::ProfileErrors),
    #[error("{0}")]
    Wiring(#[from] WiringError),
    #[error("{0}")]
    Sim(#[from] SimError),
}

/// A tier's config: checks, system changes and attaching to a wired node.
pub trait TierSpec: fmt::Debug {
    /// The TOML name.
    fn name(&self) -> &'static str;
    /// Checks the config's own fields (quantities, ranges).
    fn check(&self, _src: &FieldSource) -> Result<(), TierError> {
        Ok(())
    }
    /// Whether fetches must name their rows (page dedupe, a row cache).
    fn needs_row_ids(&self) -> bool {
        false
    }
    /// Changes the system before it is wired (a what-if: drives added, ...).
    fn adjust_system(
        &self,
        _sys: &mut SystemSpec,
        _reg: &Registry,
        _src: &FieldSource,
    ) -> Result<(), TierError> {
        Ok(())
    }
    /// HBM each of `gpus` GPUs gives to a table of `table_bytes` (a sharded table).
    fn hbm_bytes_per_gpu(&self, _table_bytes: u64, _gpus: usize) -> u64 {
        0
    }
    /// Host DRAM one copy of a table of `table_bytes` takes on its socket: the table
    /// itself where it lives there, or a row cache in front of a slower tier.
    fn host_dram_bytes(&self, _table_bytes: u64) -> u64 {
        0
    }
    /// The tier on a wired node whose first `gpus` GPUs fetch rows of `row_bytes`.
    fn attach(&self, at: &mut Attach) -> Result<Box<dyn FetchTier>, TierError>;
}

/// What attaching a tier sees.
pub struct Attach<'a> {
    pub ex: &'a mut Executor,
    pub node: &'a NodeModel,
    /// GPUs that fetch (and, for a sharded table, hold a shard).
    pub gpus: usize,
    pub row_bytes: u64,
    /// The system's name, for errors.
    pub system: &'a str,
    pub src: &'a FieldSource,
}

impl Attach<'_> {
    pub fn system_error(&self, placement: &'static str, message: String, hint: &str) -> TierError {
        TierError::System {
            origin: self.src.origin.clone(),
            placement,
            message,
            hint: hint.to_string(),
        }
    }
}

/// The rows of one fetch: their ids when known, else only how many.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    Ids(&'a [u64]),
    Count(u64),
}

impl Rows<'_> {
    pub fn len(&self) -> u64 {
        match self {
            Rows::Ids(r) => r.len() as u64,
            Rows::Count(n) => *n,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// "Bring these rows to GPU `gpu`, after `after`."
#[derive(Debug, Clone)]
pub struct FetchRequest<'a> {
    pub gpu: usize,
    /// The socket whose DRAM holds the host copy (host tiers).
    pub host_socket: usize,
    pub rows: Rows<'a>,
    pub row_bytes: u64,
    pub after: Vec<OpId>,
}

impl FetchRequest<'_> {
    pub fn bytes(&self) -> u64 {
        self.rows.len() * self.row_bytes
    }
}

/// Category names of the ops a fetch adds (looked up or created on use).
#[derive(Debug, Clone, Copy)]
pub struct FetchCategories {
    /// The transfer that lands the rows on the GPU.
    pub fetch: &'static str,
    /// Drive reads.
    pub storage: &'static str,
    /// Drive data crossing the bus.
    pub storage_bus: &'static str,
    /// CPU time gathering rows.
    pub cpu_gather: &'static str,
}

impl Default for FetchCategories {
    fn default() -> Self {
        FetchCategories {
            fetch: "engram-fetch",
            storage: "engram-nvme",
            storage_bus: "engram-nvme-bus",
            cpu_gather: "engram-cpu-gather",
        }
    }
}

/// Where a fetch's ops go.
pub struct FetchCx<'a> {
    pub ex: &'a mut Executor,
    pub node: &'a NodeModel,
    /// The GPU's fetch stream.
    pub stream: StreamId,
    pub categories: FetchCategories,
    /// Step and layer labels of the ops.
    pub at: (u32, u32),
}

impl FetchCx<'_> {
    /// Adds an op on `stream` in category `cat` (by name).
    pub fn add(
        &mut self,
        stream: StreamId,
        cat: (&str, OpKind),
        work: Work,
        after: impl IntoIterator<Item = OpId>,
    ) -> Result<OpId, TierError> {
        let c: CategoryId = self.ex.category(cat.0, cat.1);
        Ok(self.ex.add_op(
            OpSpec::new(stream, c, work)
                .after(after)
                .at(self.at.0, self.at.1),
        )?)
    }
    /// The final transfer onto the GPU, on the fetch stream.
    pub fn add_fetch(
        &mut self,
        work: Work,
        after: impl IntoIterator<Item = OpId>,
    ) -> Result<OpId, TierError> {
        let (s, c) = (self.stream, self.categories.fetch);
        self.add(s, (c, OpKind::Memory), work, after)
    }
}

/// The ops of one fetch.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The first op and the one that lands the rows.
    pub first: OpId,
    pub last: OpId,
    /// Ops the next fetch in issue order should follow (a drive's reads), if any.
    pub reads: Vec<OpId>,
}

impl Fetched {
    fn one(op: OpId) -> Fetched {
        Fetched {
            first: op,
            last: op,
            reads: Vec::new(),
        }
    }
}

/// Counters a tier keeps over a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TierStats {
    /// Drive pages read.
    pub pages_read: u64,
    /// Row-cache hits and lookups in front of the tier (NVMe's DRAM row cache).
    pub cache_hits: u64,
    pub cache_lookups: u64,
}

/// A tier attached to a wired node: issues fetches.
pub trait FetchTier {
    fn fetch(&mut self, cx: &mut FetchCx, req: &FetchRequest) -> Result<Fetched, TierError>;
    fn stats(&self) -> TierStats {
        TierStats::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_aliases() {
        for (name, aliases) in TIERS {
            assert_eq!(TierConfig::by_name(name).unwrap().name(), *name);
            for a in *aliases {
                assert_eq!(TierConfig::by_name(a).unwrap().name(), *name);
            }
        }
        assert_eq!(canonical_name("host-dram"), Some("host-zero-copy"));
        assert!(TierConfig::by_name("tape").is_none());
    }

    #[test]
    fn own_fields_only() {
        let src = FieldSource::default();
        let t: toml::Table = "placement = \"cxl\"\ndrives = 2".parse().unwrap();
        let e = TierConfig::from_table(t, &src).unwrap_err().to_string();
        assert!(e.contains("unknown field `drives`"), "{e}");
        let t: toml::Table = "placement = \"nvme\"\ndrives = 2".parse().unwrap();
        assert!(TierConfig::from_table(t, &src).is_ok());
    }
}
