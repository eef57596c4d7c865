//! Embeds every `*.toml` under the repository's `hw-profiles/` into the crate, and
//! `docs/sources.md`, the catalogue of the sources those profiles cite.
use std::path::{Path, PathBuf};

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().and_then(|e| e.to_str()) == Some("toml") {
            println!("cargo:rerun-if-changed={}", p.display());
            out.push(p);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join("..").join("hw-profiles");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut code = String::from("/// (path relative to hw-profiles/, contents) of every shipped profile.\npub static EMBEDDED: &[(&str, &str)] = &[\n");
    for f in &files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        code.push_str(&format!(
            "    ({:?}, include_str!({:?})),\n",
            rel,
            f.display().to_string()
        ));
    }
    code.push_str("];\n");
    let sources = manifest.join("..").join("docs").join("sources.md");
    println!("cargo:rerun-if-changed={}", sources.display());
    code.push_str(&format!(
        "/// docs/sources.md: what each source id cited by a profile is.\npub static SOURCES_MD: &str = include_str!({:?});\n",
        sources.display().to_string()
    ));
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("embedded.rs");
    std::fs::write(out, code).unwrap();
}
