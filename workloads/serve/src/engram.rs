//! The Engram module of a scenario, resolved: its layers, dimensions and table size from
//! the layout, and, when the tier or a cache needs row ids, the hasher and token text.

use memwall_engram::{EngramHasher, EngramLayout};
use memwall_llm::engram::EngramDims;

use super::corpus::Corpus;
use super::error::{invalid, ScenarioError};
use super::rows::{RequestText, TextGen};
use super::run::resolve;
use super::scenario::{EngramSpec, Scenario};

/// The hasher that gives row ids: its max n-gram size and each table's first row.
pub(crate) struct RowHasher {
    pub hasher: EngramHasher,
    pub max_ngram: usize,
    pub offsets: Vec<u64>,
}

pub(crate) struct EngramSetup {
    pub layers: Vec<u32>,
    pub dims: EngramDims,
    /// Row ids: the hasher and each request's token text (when asked for).
    pub rows: Option<(RowHasher, RequestText)>,
    pub table_bytes: u64,
}

/// Whether row ids are hashed: the tier or an HBM cache needs them, or real text was
/// given (so that every row read comes from real n-grams).
fn needs_rows(s: &Scenario, g: &EngramSpec) -> bool {
    g.tier.spec().needs_row_ids() || g.hbm_cache.is_some() || s.text.is_some()
}

pub(crate) fn engram_setup(
    s: &Scenario,
    hidden: u64,
    hc: u64,
) -> Result<Option<EngramSetup>, ScenarioError> {
    let Some(g) = &s.engram else { return Ok(None) };
    if g.layout == "custom" {
        return custom_setup(s, g, hidden, hc).map(Some);
    }
    let layout = EngramLayout::builtin(&g.layout).map_err(|e| {
        invalid(
            &s.origin,
            format!(
                "[engram] layout: {e}\nhint: v41-flash, demo, engram-27b, engram-40b or custom"
            ),
        )
    })?;
    let dims = EngramDims {
        rows_per_token: layout.columns() as u64,
        row_dim: layout.config.row.values as u64,
        hidden,
        hc_mult: hc,
        conv_kernel: g
            .conv_kernel
            .unwrap_or(if g.layout == "v41-flash" { 0 } else { 4 }),
        row_bytes: layout.row_bytes(),
    };
    let rows = if needs_rows(s, g) {
        Some((row_hasher(&layout), request_text(s, g, &layout)?))
    } else {
        None
    };
    Ok(Some(EngramSetup {
        layers: layout.layer_ids(),
        dims,
        rows,
        table_bytes: layout.total_table_bytes(),
    }))
}

/// A custom layout: dimensions as written, no hash.
fn custom_setup(
    s: &Scenario,
    g: &EngramSpec,
    hidden: u64,
    hc: u64,
) -> Result<EngramSetup, ScenarioError> {
    if needs_rows(s, g) {
        return Err(invalid(
            &s.origin,
            "[engram] a custom layout has no hash, so NVMe dedupe and row caches \
             cannot be simulated, and [text] has nothing to hash\nhint: use a built-in layout (v41-flash, engram-27b, ...)"
                .into(),
        ));
    }
    let layers = g.layer_ids.clone().unwrap_or_default();
    let dims = EngramDims {
        rows_per_token: g.rows_per_token.unwrap_or(0),
        row_dim: g.row_dim.unwrap_or(0),
        hidden,
        hc_mult: hc,
        conv_kernel: g.conv_kernel.unwrap_or(0),
        row_bytes: g.row_bytes.unwrap_or(0),
    };
    let table_bytes = g.table_rows.unwrap_or(0) * dims.row_bytes * layers.len() as u64;
    Ok(EngramSetup {
        layers,
        dims,
        rows: None,
        table_bytes,
    })
}

fn row_hasher(layout: &EngramLayout) -> RowHasher {
    let mut offsets = Vec::new();
    let mut acc = 0u64;
    for r in layout.table_rows() {
        offsets.push(acc);
        acc += r;
    }
    RowHasher {
        hasher: EngramHasher::new(layout),
        max_ngram: layout.config.max_ngram_size as usize,
        offsets,
    }
}

/// Each request's token text: slices of the `[text]` corpus, else seeded Zipf text.
fn request_text(
    s: &Scenario,
    g: &EngramSpec,
    layout: &EngramLayout,
) -> Result<RequestText, ScenarioError> {
    Ok(match &s.text {
        Some(t) => RequestText::Corpus {
            corpus: Corpus::load(
                &resolve(s, &t.corpus),
                &resolve(s, &t.tokenizer),
                &layout.config,
            )
            .map_err(|e| invalid(&s.origin, e.to_string()))?,
            seed: s.seed,
        },
        None => RequestText::Synthetic(TextGen {
            seed: s.seed,
            vocab: layout.config.compressed_vocab_size as u32,
            phrases: g.phrases,
            zipf: g.zipf_exponent,
        }),
    })
}
