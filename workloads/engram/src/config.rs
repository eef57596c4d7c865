//! Engram configs as data, and the per-layer constants derived from them.
//!
//! A config (`EngramConfig`) is what a model card publishes: layers, n-gram orders, heads,
//! base table sizes, compressed vocabulary, row format. The layout (`EngramLayout`) is what
//! the hash needs and what code must *compute*, never copy: the odd multipliers drawn from
//! NumPy's generator, the prime table sizes, the per-column offsets and the row count of each
//! layer's table. Built-in configs are TOML files embedded in the binary.

use serde::{Deserialize, Serialize};

use super::error::{EngramError, Result};
use super::numpy_rng::Pcg64;
use super::primes::allocate_table_primes;

/// Largest supported n-gram order (look-back window of 8 tokens); the reference uses 3 or 4.
pub const MAX_NGRAM: usize = 8;

/// The seed stride between layers in the reference (`seed + 10007 * layer_id`).
pub const LAYER_SEED_PRIME: u64 = 10007;

/// Row format of an Engram table: what one row read moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowFormat {
    /// Values per row (the per-head embedding dimension).
    pub values: u32,
    /// Human-readable value type ("fp8-e4m3", "bf16", "fp32").
    pub value_dtype: String,
    /// Bytes per value.
    pub value_bytes: u32,
    /// Bytes of per-row scales stored beside the values (block-scaled FP8), 0 if none.
    #[serde(default)]
    pub scale_bytes: u32,
}

impl RowFormat {
    /// Bytes one row read moves: values plus their scales.
    pub fn row_bytes(&self) -> u64 {
        u64::from(self.values) * u64::from(self.value_bytes) + u64::from(self.scale_bytes)
    }
}

/// An Engram model config, as published. See `workloads/engram/configs/*.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngramConfig {
    /// Short name used on the command line (`v41-flash`, `demo`, ...).
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Which tokenizer the compressed vocabulary comes from (informational).
    #[serde(default)]
    pub tokenizer: String,
    /// Decoder layers that carry an Engram module, in allocation order. The id also seeds
    /// that layer's multipliers.
    pub layer_ids: Vec<u32>,
    /// Largest n-gram order; orders are 2..=max_ngram_size (no unigram).
    pub max_ngram_size: u32,
    /// Hash heads per order; each head is one prime-sized table.
    pub heads_per_order: u32,
    /// Base table size per order (index 0 is the 2-gram); each head's prime is above it.
    pub table_size_per_order: Vec<u64>,
    /// Size of the compressed (canonical) token vocabulary. The multipliers depend on it.
    pub compressed_vocab_size: u64,
    /// Compressed id used where the look-back window reaches before the sequence start.
    pub pad_id: u32,
    /// Global seed of the multiplier generator.
    #[serde(default)]
    pub seed: u64,
    /// Published rows per layer table, if the model card lists them; checked against the
    /// computed sums of primes, so a wrong rule fails loudly.
    #[serde(default)]
    pub published_table_rows: Option<Vec<u64>>,
    pub row: RowFormat,
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The shipped configs (`configs/*.toml`, embedded by tools/build/embed.rs): (name, text).
fn builtin_configs() -> impl Iterator<Item = (&'static str, &'static str)> {
    embedded::EMBEDDED
        .iter()
        .map(|(file, text)| (file.trim_end_matches(".toml"), *text))
}

impl EngramConfig {
    /// Names of the built-in configs.
    pub fn builtin_names() -> Vec<&'static str> {
        builtin_configs().map(|(n, _)| n).collect()
    }

    /// A built-in config by name (`v41-flash`, `demo`, `engram-27b`, `engram-40b`).
    pub fn builtin(name: &str) -> Result<Self> {
        let (_, text) = builtin_configs().find(|(n, _)| *n == name).ok_or_else(|| {
            EngramError::UnknownModel(name.to_string(), Self::builtin_names().join(", "))
        })?;
        Self::from_toml_str(name, text)
    }

    /// Parses and validates a config; `origin` names the file in error messages.
    pub fn from_toml_str(origin: &str, text: &str) -> Result<Self> {
        let cfg: EngramConfig =
            toml::from_str(text).map_err(|e| EngramError::config(origin, e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads a user config file.
    pub fn from_toml_file(path: &std::path::Path) -> Result<Self> {
        let text =
            memwall_io::input::read_to_string_capped(path).map_err(|e| EngramError::io(path, e))?;
        Self::from_toml_str(&path.display().to_string(), &text)
    }

    /// Checks the invariants the hash relies on.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Err(EngramError::config(&self.name, m));
        if self.layer_ids.is_empty() {
            return err("layer_ids is empty".into());
        }
        let mut ids = self.layer_ids.clone();
        ids.sort_unstable();
        ids.dedup();
        if ids.len() != self.layer_ids.len() {
            return err(format!("layer_ids {:?} has duplicates", self.layer_ids));
        }
        if self.max_ngram_size < 2 || self.max_ngram_size as usize > MAX_NGRAM {
            return err(format!(
                "max_ngram_size {} must be in 2..={MAX_NGRAM}",
                self.max_ngram_size
            ));
        }
        if self.heads_per_order == 0 || self.heads_per_order > 1024 {
            return err(format!(
                "heads_per_order {} must be in 1..=1024",
                self.heads_per_order
            ));
        }
        if self.table_size_per_order.len() != self.max_ngram_size as usize - 1 {
            return err(format!(
                "table_size_per_order has {} entries; orders 2..={} need {}",
                self.table_size_per_order.len(),
                self.max_ngram_size,
                self.max_ngram_size - 1
            ));
        }
        if self
            .table_size_per_order
            .iter()
            .any(|&s| !(2..=(1 << 48)).contains(&s))
        {
            return err("every table_size_per_order must be in 2..=2^48".into());
        }
        if self.compressed_vocab_size < 2 || self.compressed_vocab_size > u64::from(u32::MAX) {
            return err(format!(
                "compressed_vocab_size {} must be in 2..=2^32-1",
                self.compressed_vocab_size
            ));
        }
        if u64::from(self.pad_id) >= self.compressed_vocab_size {
            return err(format!(
                "pad_id {} is not below compressed_vocab_size {}",
                self.pad_id, self.compressed_vocab_size
            ));
        }
        if self.row.row_bytes() == 0 {
            return err("row format has zero bytes".into());
        }
        if let Some(p) = &self.published_table_rows {
            if p.len() != self.layer_ids.len() {
                return err("published_table_rows needs one entry per layer".into());
            }
        }
        Ok(())
    }

    /// Hash columns per layer: `(max_ngram_size - 1) * heads_per_order`.
    pub fn columns(&self) -> usize {
        (self.max_ngram_size as usize - 1) * self.heads_per_order as usize
    }

    /// Bytes one row read moves.
    pub fn row_bytes(&self) -> u64 {
        self.row.row_bytes()
    }
}

/// Derived constants of one Engram layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerLayout {
    /// Decoder layer id (also the seed input).
    pub layer_id: u32,
    /// Odd multipliers; `multipliers[k]` multiplies the token `k` positions back.
    pub multipliers: Vec<u64>,
    /// Prime table size of each column; column `c = heads * (n - 2) + h`.
    pub primes: Vec<u64>,
    /// Start of each column's head table inside the layer's one flat table.
    pub offsets: Vec<u64>,
    /// Rows in the layer's flat table (sum of its primes).
    pub table_rows: u64,
}

/// A config plus everything derived from it; what the hasher and the trace header use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngramLayout {
    pub config: EngramConfig,
    pub layers: Vec<LayerLayout>,
    /// `half_bound` of the reference: multipliers are `2 * r + 1` with `r` in `[0, bound)`.
    pub multiplier_bound: u64,
}

impl EngramLayout {
    /// Computes multipliers (NumPy PCG64), primes and offsets exactly as the reference.
    pub fn new(config: EngramConfig) -> Result<Self> {
        config.validate()?;
        let max_n = config.max_ngram_size as usize;
        let heads = config.heads_per_order as usize;
        // M_max = int64_max // V'; half_bound = max(1, M_max // 2).
        let m_max = (i64::MAX as u64) / config.compressed_vocab_size;
        let bound = std::cmp::max(1, m_max / 2);
        let primes =
            allocate_table_primes(config.layer_ids.len(), &config.table_size_per_order, heads)
                .ok_or_else(|| EngramError::config(&config.name, "prime search overflowed"))?;
        let mut layers = Vec::with_capacity(config.layer_ids.len());
        for (li, &layer_id) in config.layer_ids.iter().enumerate() {
            let seed =
                u128::from(config.seed) + u128::from(LAYER_SEED_PRIME) * u128::from(layer_id);
            let mut g = Pcg64::from_seed(seed);
            let multipliers = (0..max_n)
                .map(|_| {
                    let r = g.integers_i64(0, bound as i64).unwrap_or(0) as u64;
                    2 * r + 1
                })
                .collect::<Vec<_>>();
            let col_primes: Vec<u64> = primes[li].iter().flatten().copied().collect();
            let mut offsets = Vec::with_capacity(col_primes.len());
            let mut acc = 0u64;
            for &p in &col_primes {
                offsets.push(acc);
                acc += p;
            }
            layers.push(LayerLayout {
                layer_id,
                multipliers,
                primes: col_primes,
                offsets,
                table_rows: acc,
            });
        }
        if let Some(published) = &config.published_table_rows {
            let computed: Vec<u64> = layers.iter().map(|l| l.table_rows).collect();
            if &computed != published {
                return Err(EngramError::config(
                    &config.name,
                    format!(
                        "computed table rows {computed:?} differ from published_table_rows \
                         {published:?}: check layer_ids order and table_size_per_order"
                    ),
                ));
            }
        }
        Ok(EngramLayout {
            config,
            layers,
            multiplier_bound: bound,
        })
    }

    /// The layout of a built-in config.
    pub fn builtin(name: &str) -> Result<Self> {
        Self::new(EngramConfig::builtin(name)?)
    }

    /// Hash columns (head tables) per layer.
    pub fn columns(&self) -> usize {
        self.config.columns()
    }

    /// Heads per n-gram order.
    pub fn heads(&self) -> usize {
        self.config.heads_per_order as usize
    }

    /// The n-gram orders, ascending (2..=max).
    pub fn orders(&self) -> std::ops::RangeInclusive<u32> {
        2..=self.config.max_ngram_size
    }

    /// Layer ids in allocation order.
    pub fn layer_ids(&self) -> Vec<u32> {
        self.config.layer_ids.clone()
    }

    /// Rows of each layer's flat table.
    pub fn table_rows(&self) -> Vec<u64> {
        self.layers.iter().map(|l| l.table_rows).collect()
    }

    /// Bytes one row read moves.
    pub fn row_bytes(&self) -> u64 {
        self.config.row_bytes()
    }

    /// Bytes of all Engram tables together.
    pub fn total_table_bytes(&self) -> u64 {
        self.table_rows().iter().sum::<u64>() * self.row_bytes()
    }

    /// `(order, head)` of a column.
    pub fn column_order_head(&self, col: usize) -> (u32, u32) {
        let heads = self.heads();
        ((col / heads) as u32 + 2, (col % heads) as u32)
    }

    /// Index of a layer id in `layers`, if present.
    pub fn layer_index(&self, layer_id: u32) -> Option<usize> {
        self.layers.iter().position(|l| l.layer_id == layer_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_parse_and_derive() {
        for name in EngramConfig::builtin_names() {
            let l = EngramLayout::builtin(name).unwrap();
            assert_eq!(l.layers.len(), 2, "{name}");
            for layer in &l.layers {
                assert!(layer.multipliers.iter().all(|m| m % 2 == 1));
                assert_eq!(layer.primes.len(), l.columns());
            }
        }
    }

    #[test]
    fn v41_sizes_come_from_code() {
        let l = EngramLayout::builtin("v41-flash").unwrap();
        assert_eq!(l.table_rows(), vec![384_006_168, 384_016_682]);
        assert_eq!(l.row_bytes(), 264);
        assert_eq!(l.columns(), 24);
        assert_eq!(l.multiplier_bound, 46_539_438_283_891);
        assert_eq!(
            l.layers[0].multipliers,
            vec![
                76632096046245,
                4839876093313,
                35959672319349,
                73987337458391
            ]
        );
        assert_eq!(l.column_order_head(17), (4, 1));
    }

    #[test]
    fn wrong_published_rows_is_an_error() {
        let mut c = EngramConfig::builtin("v41-flash").unwrap();
        // Allocating layer 14 first would give layer 14 the smaller sum.
        c.layer_ids = vec![14, 1];
        c.published_table_rows = Some(vec![384_016_682, 384_006_168]);
        let e = EngramLayout::new(c).unwrap_err().to_string();
        assert!(e.contains("published_table_rows"), "{e}");
    }

    #[test]
    fn bad_configs_are_errors() {
        assert!(EngramConfig::builtin("nope").is_err());
        let base = include_str!("../configs/demo.toml");
        let bad = base.replace("max_ngram_size = 3", "max_ngram_size = 4");
        assert!(EngramConfig::from_toml_str("x", &bad).is_err());
        let bad = base.replace("pad_id = 2", "pad_id = 2\nbogus = 1");
        assert!(EngramConfig::from_toml_str("x", &bad).is_err());
    }
}
