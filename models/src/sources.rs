//! Provenance: what the `source` of a profile number refers to.
//!
//! A `source` holds reference ids (`R16 §4.5, Fig. 2`, `R6; R22`), sections of the
//! hardware research note (`hardware.md §4`) or of the design note (`DESIGN.md §2`),
//! or a written-out citation (`PCIe 5.0`, `NVIDIA A100 datasheet (40 GB SXM)`).
//! `docs/sources.md` (embedded) says what each one is; [`keys`] finds the ids in a
//! `source` and [`title`] looks one up.

use crate::registry::embedded_sources;

/// The ids a `source` cites, in order of appearance: every `R<n>`, every
/// `hardware.md §x` and `DESIGN.md §x`; a source with none of these is a citation
/// written out, whose id is its text before any `(` or `,`.
pub fn keys(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let words: Vec<&str> = source
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | ',' | '(' | ')'))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, w) in words.iter().enumerate() {
        let is_ref =
            w.len() > 1 && w.starts_with('R') && w[1..].chars().all(|c| c.is_ascii_digit());
        if is_ref {
            out.push(w.to_string());
        } else if matches!(*w, "hardware.md" | "DESIGN.md") {
            for sec in words[i + 1..].iter().take_while(|s| s.starts_with('§')) {
                // `§4/§9.13` cites two sections
                for part in sec.split('/') {
                    out.push(format!("{w} {}", part.trim_end_matches('.')));
                }
            }
        }
    }
    if out.is_empty() {
        let end = source.find([',', '(']).unwrap_or(source.len());
        let key = source[..end].trim();
        if !key.is_empty() {
            out.push(key.to_string());
        }
    }
    out.dedup();
    out
}

/// The one-line title of source `key` in docs/sources.md, if it has an entry.
pub fn title(key: &str) -> Option<&'static str> {
    let prefix = format!("- **{key}** ");
    embedded_sources().lines().find_map(|l| {
        let rest = l.strip_prefix(&prefix)?;
        Some(rest.split(" — ").next().unwrap_or(rest).trim())
    })
}
