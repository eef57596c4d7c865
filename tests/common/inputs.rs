//! Shared helpers for tests that need fixtures or fetched inputs.
#![allow(dead_code)]

use std::path::PathBuf;

/// `tests/fixtures/engram/<name>` at the repository root.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/engram")
        .join(name)
}

/// `.cache/inputs/<rel>` (fetched by tools/fetch-inputs.sh). Absent: a printed notice and
/// `None`, so a fresh checkout still passes; but with `CI=true` absence is a failure.
pub fn fetched(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../.cache/inputs")
        .join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").map(|v| v == "true").unwrap_or(false) {
        panic!(
            "fetched input {} is missing and CI=true: run tools/fetch-inputs.sh",
            p.display()
        );
    }
    eprintln!(
        "NOTICE: skipping a check: {} is absent (run tools/fetch-inputs.sh)",
        p.display()
    );
    None
}
