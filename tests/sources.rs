//! Every research-note citation in the repository (`v4.md §2.6`, `traces.md §3.4`,
//! `hardware.md`) has an entry in docs/sources.md. The notes are not shipped, so a
//! citation without an entry would leave a number's provenance uncheckable.
//!
//! A note is a `NAME.md` that is not a file of the repository; a citation is the note
//! followed by its sections (`§2.1, §2.4`, `§4/§9.13`), each cited as `NAME.md §x`, or
//! the note alone when no section follows and it is written as a path into the notes
//! (`shared/research/NAME.md`) or has an entry. (A bare `hamlet.md` with no section is
//! a file name, such as a test corpus's, not a citation.)

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use memwall_models::sources;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `.rs`, `.toml` and `.md` files of the repository (build outputs and hidden
/// folders skipped).
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("rs" | "toml" | "md")
        ) {
            out.push(path);
        }
    }
}

/// `name` as a note: a plain `NAME.md` file name (a path is cut to its last part).
fn note_name(word: &str) -> Option<&str> {
    let name = word.rsplit('/').next()?;
    let stem = name.strip_suffix(".md")?;
    let plain = !stem.is_empty()
        && stem
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    plain.then_some(name)
}

/// A section as cited after a note: `§` and a number or an appendix letter (`§2.6`, `§A`).
fn is_section(s: &str) -> bool {
    let Some(rest) = s.strip_prefix('§') else {
        return false;
    };
    let mut chars = rest.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_digit() || c.is_ascii_uppercase());
    first_ok && !rest.ends_with('.') && chars.all(|c| c.is_ascii_digit() || c == '.')
}

/// The words of `text`: split at white space and punctuation that never belongs to a
/// note name or section (`\` too, for escaped quotes in Rust strings), with a trailing `.` or `:` dropped; comment markers skipped.
fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| c.is_whitespace() || ";,()[]`'\"\\*|".contains(c))
        .map(|w| w.trim_end_matches(['.', ':']))
        .filter(|w| !w.is_empty() && !matches!(*w, "//" | "//!" | "///" | "#" | ">"))
        .collect()
}

/// The research-note citations in `text` (notes are names not in `repo_docs`), and the
/// section words that are not readable sections (`§2–§3`, `§1.7-1.8`).
fn citations(text: &str, repo_docs: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    let (mut cited, mut unreadable) = (Vec::new(), Vec::new());
    let words = words(text);
    for (i, w) in words.iter().enumerate() {
        let Some(note) = note_name(w).filter(|n| !repo_docs.contains(*n)) else {
            continue;
        };
        let mut sections = Vec::new();
        for sec in words[i + 1..]
            .iter()
            .take_while(|s| s.starts_with('§') || **s == "and")
            .filter(|s| **s != "and")
        {
            // `§x` and `§N` are placeholders in prose about the format
            for part in sec.split('/').filter(|p| !matches!(*p, "§x" | "§N")) {
                match is_section(part) {
                    true => sections.push(format!("{note} {part}")),
                    false => unreadable.push(format!("{note} {sec}")),
                }
            }
        }
        let a_note_path = w.contains("research/") || w.contains("shared/");
        if !sections.is_empty() {
            cited.extend(sections);
        } else if a_note_path || sources::title(note).is_some() {
            cited.push(note.to_string());
        }
    }
    (cited, unreadable)
}

#[test]
fn every_research_note_citation_has_an_entry() {
    let root = root();
    let mut paths = Vec::new();
    files(&root, &mut paths);
    let repo_docs: BTreeSet<String> = paths
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut unreadable = Vec::new();
    let mut cited = BTreeSet::new();
    for path in &paths {
        let rel = path.strip_prefix(&root).unwrap().display().to_string();
        // the entries themselves, and this file's examples
        if rel == "docs/sources.md" || rel == "tests/sources.rs" {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        let (keys, bad) = citations(&text, &repo_docs);
        unreadable.extend(bad.into_iter().map(|b| format!("{rel}: {b}")));
        for key in keys {
            if sources::title(&key).is_none() {
                missing.entry(key.clone()).or_default().insert(rel.clone());
            }
            cited.insert(key);
        }
    }
    assert!(
        cited.len() > 30,
        "only {} notes cited: {cited:?}",
        cited.len()
    );
    assert!(
        unreadable.is_empty(),
        "cite each section as `NOTE.md §x, §y` (no ranges):\n{}",
        unreadable.join("\n")
    );
    let listed: Vec<String> = missing
        .iter()
        .map(|(k, at)| format!("{k} (cited in {})", Vec::from_iter(at.clone()).join(", ")))
        .collect();
    assert!(
        listed.is_empty(),
        "no entry in docs/sources.md for:\n{}",
        listed.join("\n")
    );
}

#[test]
fn citations_name_notes_and_their_sections() {
    let docs = BTreeSet::from(["README.md".to_string(), "replay.md".to_string()]);
    let (cited, bad) = citations(
        "HF config.json (research/v4.md §2.1, §2.4); see docs/replay.md §4, README.md, hamlet.md",
        &docs,
    );
    assert_eq!(cited, ["v4.md §2.1", "v4.md §2.4"]);
    let (cited, _) = citations("See shared/research/new_note.md.", &docs);
    assert_eq!(cited, ["new_note.md"]);
    assert!(bad.is_empty());
    let (cited, _) = citations("//! as in mhc_dualpipe.md\n//! §2.3, §2.7. Rest", &docs);
    assert_eq!(cited, ["mhc_dualpipe.md §2.3", "mhc_dualpipe.md §2.7"]);
    let (cited, _) = citations("`../shared/research/traces.md` §1.2, §2.2 and §4", &docs);
    assert_eq!(cited, ["traces.md §1.2", "traces.md §2.2", "traces.md §4"]);
    let (cited, _) = citations(
        "source = \"hardware.md §4/§9.13\"; not in hardware.md",
        &docs,
    );
    assert_eq!(
        cited,
        ["hardware.md §4", "hardware.md §9.13", "hardware.md"]
    );
    let (_, bad) = citations("engram.md §1.7-1.8", &docs);
    assert_eq!(bad, ["engram.md §1.7-1.8"]);
}
