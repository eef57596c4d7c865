//! Engram's tokenizer compression: a surjective map from raw tokenizer ids to canonical
//! ids, built from a real Hugging Face `tokenizer.json` (reference: `CompressedTokenizer`
//! in deepseek-ai/Engram `engram_demo_v1.py`; rules in engram_v41_spec.md §2).
//!
//! Why it matters beyond compression: the size of the compressed vocabulary seeds the bound
//! of every hash multiplier, so a map that is one id off changes every row id. The map is
//! therefore always checked against the config's `compressed_vocab_size`.

use std::collections::HashMap;
use std::path::Path;

use tokenizers::normalizers::replace::ReplacePattern;
use tokenizers::normalizers::{Lowercase, Replace, Sequence, Strip, StripAccents, NFD, NFKC};
use tokenizers::{NormalizedString, Normalizer, Tokenizer};

use super::config::EngramConfig;
use super::error::{EngramError, Result};

/// Private-use sentinel that keeps a whitespace-only token distinct from tokens that
/// normalize to the empty string (the reference's trick).
const SENTINEL: &str = "\u{E000}";

/// The reference normalizer chain: NFKC, NFD, strip accents (Mn/Mc/Me), lowercase,
/// collapse `[ \t\r\n]+`, protect a lone space, strip, restore the lone space.
fn engram_normalizer() -> std::result::Result<Sequence, String> {
    let e = |x: tokenizers::Error| x.to_string();
    Ok(Sequence::new(vec![
        NFKC.into(),
        NFD.into(),
        StripAccents.into(),
        Lowercase.into(),
        Replace::new(ReplacePattern::Regex(r"[ \t\r\n]+".into()), " ")
            .map_err(e)?
            .into(),
        Replace::new(ReplacePattern::Regex(r"^ $".into()), SENTINEL)
            .map_err(e)?
            .into(),
        Strip::new(true, true).into(),
        Replace::new(ReplacePattern::String(SENTINEL.into()), " ")
            .map_err(e)?
            .into(),
    ]))
}

/// Raw token id -> compressed id, plus the compressed vocabulary size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressedVocab {
    map: Vec<u32>,
    size: u32,
}

impl CompressedVocab {
    /// Builds the map from a `tokenizer.json` file.
    pub fn from_tokenizer_file(path: &Path) -> Result<Self> {
        let tok = load_tokenizer(path)?;
        Self::from_tokenizer(&tok, &path.display().to_string())
    }

    /// Builds the map from a loaded tokenizer (`origin` names it in errors).
    ///
    /// For each raw id in order: decode it alone (special tokens kept); if the text contains
    /// U+FFFD the key is the raw vocabulary string, else the normalized text (or the decoded
    /// text if that normalizes to empty). Keys are interned in first-seen order.
    pub fn from_tokenizer(tok: &Tokenizer, origin: &str) -> Result<Self> {
        let terr = |msg: String| EngramError::Tokenizer {
            path: origin.to_string(),
            msg,
        };
        let vocab = tok.get_vocab(true);
        let n = vocab
            .values()
            .max()
            .map(|&m| m as usize + 1)
            .ok_or_else(|| terr("empty vocabulary".into()))?;
        if n > 16 << 20 {
            return Err(terr(format!("vocabulary of {n} ids is implausibly large")));
        }
        let normalizer = engram_normalizer().map_err(terr)?;
        let mut key_ids: HashMap<String, u32> = HashMap::with_capacity(n);
        let mut map = Vec::with_capacity(n);
        for id in 0..n as u32 {
            let raw = tok
                .id_to_token(id)
                .ok_or_else(|| terr(format!("token id {id} has no token (gap in the id space)")))?;
            let text = tok
                .decode(&[id], false)
                .map_err(|e| terr(format!("decoding id {id}: {e}")))?;
            let key = if text.contains('\u{FFFD}') {
                raw
            } else {
                let mut ns = NormalizedString::from(text.as_str());
                normalizer
                    .normalize(&mut ns)
                    .map_err(|e| terr(format!("normalizing id {id}: {e}")))?;
                if ns.get().is_empty() {
                    text
                } else {
                    ns.get().to_string()
                }
            };
            let next = key_ids.len() as u32;
            map.push(*key_ids.entry(key).or_insert(next));
        }
        let size = key_ids.len() as u32;
        Ok(CompressedVocab { map, size })
    }

    /// Loads a precomputed map: little-endian u32 per raw id (the reference data format).
    pub fn from_u32le_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() || !bytes.len().is_multiple_of(4) {
            return Err(EngramError::InvalidArgument(format!(
                "compressed map of {} bytes is not a non-empty list of u32",
                bytes.len()
            )));
        }
        let map: Vec<u32> = bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let size = map.iter().max().map_or(0, |&m| m + 1);
        // A valid map interns in first-seen order: every id is at most one above all before it.
        let mut seen = 0u32;
        for (i, &c) in map.iter().enumerate() {
            if c > seen {
                return Err(EngramError::InvalidArgument(format!(
                    "compressed map entry {i} = {c} skips ids (expected at most {seen})"
                )));
            }
            if c == seen {
                seen += 1;
            }
        }
        Ok(CompressedVocab { map, size })
    }

    /// The map as little-endian u32 bytes.
    pub fn to_u32le_bytes(&self) -> Vec<u8> {
        self.map.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    /// Number of canonical ids (V').
    pub fn size(&self) -> u64 {
        u64::from(self.size)
    }

    /// Number of raw ids covered.
    pub fn raw_len(&self) -> usize {
        self.map.len()
    }

    /// The whole map, indexed by raw id.
    pub fn as_slice(&self) -> &[u32] {
        &self.map
    }

    /// Compressed id of one raw id.
    pub fn compress(&self, raw: u32) -> Result<u32> {
        self.map
            .get(raw as usize)
            .copied()
            .ok_or(EngramError::TokenOutOfRange {
                id: u64::from(raw),
                len: self.map.len() as u64,
            })
    }

    /// Compresses a slice of raw ids into `out` (cleared first).
    pub fn compress_into(&self, raw: &[u32], out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        out.reserve(raw.len());
        for &r in raw {
            out.push(self.compress(r)?);
        }
        Ok(())
    }

    /// Errors unless the compressed vocabulary size is what `config` was trained with.
    pub fn check_config(&self, config: &EngramConfig) -> Result<()> {
        if self.size() != config.compressed_vocab_size {
            return Err(EngramError::VocabMismatch {
                config: config.name.clone(),
                expected: config.compressed_vocab_size,
                got: self.size(),
            });
        }
        if self.compress(config.pad_id).ok() != Some(config.pad_id) {
            return Err(EngramError::Config {
                name: config.name.clone(),
                msg: format!(
                    "raw pad id {} does not compress to itself under this tokenizer",
                    config.pad_id
                ),
            });
        }
        Ok(())
    }
}

/// Loads a Hugging Face `tokenizer.json`, with a clear error.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    if !path.is_file() {
        return Err(EngramError::Tokenizer {
            path: path.display().to_string(),
            msg: "file not found (run tools/fetch-inputs.sh to fetch the DeepSeek tokenizers)"
                .into(),
        });
    }
    let bytes =
        memwall_io::input::read_capped(path, memwall_io::input::input_limit()).map_err(|e| {
            EngramError::Tokenizer {
                path: path.display().to_string(),
                msg: e.to_string(),
            }
        })?;
    Tokenizer::from_bytes(bytes).map_err(|e| EngramError::Tokenizer {
        path: path.display().to_string(),
        msg: format!("not a valid tokenizer.json: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizer_collapses_case_space_and_accents() {
        let n = engram_normalizer().unwrap();
        let norm = |s: &str| {
            let mut ns = NormalizedString::from(s);
            n.normalize(&mut ns).unwrap();
            ns.get().to_string()
        };
        assert_eq!(norm(" Apple"), "apple");
        assert_eq!(norm("APPLE\n"), "apple");
        assert_eq!(norm(" Ä"), "a");
        assert_eq!(norm("   "), " ");
        assert_eq!(norm("\n"), " ");
        assert_eq!(norm("，"), ",");
        assert_eq!(norm("\u{0E48}"), "");
    }

    #[test]
    fn u32_map_validation() {
        let ok = CompressedVocab::from_u32le_bytes(&[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(ok.size(), 2);
        assert_eq!(ok.compress(2).unwrap(), 0);
        assert!(ok.compress(3).is_err());
        assert!(CompressedVocab::from_u32le_bytes(&[5, 0, 0, 0]).is_err());
        assert!(CompressedVocab::from_u32le_bytes(&[0, 0, 0]).is_err());
    }
}
