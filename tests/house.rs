//! The shape of the house (ARCHITECTURE.md): crates in layers whose dependency arrows
//! only point down, `tokenizers` in the Engram crate alone, and no long functions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Each workspace crate's layer: a crate may depend only on crates of a lower layer.
const LAYERS: &[(&str, u32)] = &[
    ("memwall-io", 0),
    ("memwall-sim", 0),
    ("memwall-models", 1),
    ("memwall-reports", 1),
    ("memwall-llm", 2),
    ("memwall-engram", 2),
    ("memwall-kineto", 2),
    ("memwall-pipeline", 2),
    ("memwall-serve", 3),
    ("memwall-train", 3),
    ("memwall-replay", 3),
    ("memwall-calibrate", 3),
    ("memwall-sweep", 4),
    ("memwall", 5),
];

/// The longest function allowed in non-test code, in lines.
const MAX_FN_LINES: usize = 120;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// (package name, manifest folder, [(dependency name, kind)]) of every workspace member.
type Package = (String, PathBuf, Vec<(String, String)>);

fn workspace() -> Vec<Package> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(root())
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pkgs = meta["packages"].as_array().unwrap();
    pkgs.iter()
        .map(|p| {
            let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
            let deps = p["dependencies"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    let kind = d["kind"].as_str().unwrap_or("normal").to_string();
                    (d["name"].as_str().unwrap().to_string(), kind)
                })
                .collect();
            let dir = manifest.parent().unwrap().to_path_buf();
            (p["name"].as_str().unwrap().to_string(), dir, deps)
        })
        .collect()
}

#[test]
fn dependency_arrows_only_point_down() {
    let layer: BTreeMap<&str, u32> = LAYERS.iter().copied().collect();
    let mut bad = Vec::new();
    for (name, _, deps) in workspace() {
        let Some(&mine) = layer.get(name.as_str()) else {
            bad.push(format!("{name} has no layer in tests/house.rs: place it"));
            continue;
        };
        for (dep, kind) in deps {
            if let Some(&theirs) = layer.get(dep.as_str()) {
                if theirs >= mine {
                    bad.push(format!(
                        "{name} (layer {mine}) -> {dep} (layer {theirs}, {kind})"
                    ));
                }
            }
            if dep == "tokenizers" && name != "memwall-engram" {
                bad.push(format!(
                    "{name} depends on tokenizers: only memwall-engram may"
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "upward or forbidden edges:\n{}",
        bad.join("\n")
    );
}

/// Lengths of the functions in one Rust source, skipping `#[cfg(test)]` items: (line, name,
/// lines). Braces are counted outside strings, chars and comments.
fn function_lengths(text: &str) -> Vec<(usize, String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let t = lines[i].trim_start();
        if t.starts_with("#[cfg(test)]") {
            i = end_of_item(&lines, i + 1) + 1;
            continue;
        }
        if let Some(name) = fn_name(t) {
            let end = end_of_item(&lines, i);
            out.push((i + 1, name, end + 1 - i));
            // Nested functions are counted inside their parent.
            i = end + 1;
            continue;
        }
        i += 1;
    }
    out
}

fn fn_name(t: &str) -> Option<String> {
    let mut words = t.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            "pub" | "const" | "async" | "unsafe" | "extern" => continue,
            w if w.starts_with("pub(") => continue,
            "fn" => {
                let n = words.next()?;
                return Some(n.split(['(', '<']).next()?.to_string());
            }
            _ => return None,
        }
    }
    None
}

/// The line where the item starting at `start` closes its first `{` block (or ends with
/// `;` before any block).
fn end_of_item(lines: &[&str], start: usize) -> usize {
    let mut depth = 0i64;
    let mut opened = false;
    for (k, line) in lines.iter().enumerate().skip(start) {
        for c in code_chars(line) {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                ';' if !opened => return k,
                _ => {}
            }
        }
        if opened && depth <= 0 {
            return k;
        }
    }
    lines.len().saturating_sub(1)
}

/// The characters of a line outside string and char literals and `//` comments.
fn code_chars(line: &str) -> Vec<char> {
    let mut out = Vec::new();
    let cs: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        match cs[i] {
            '/' if cs.get(i + 1) == Some(&'/') => break,
            '"' => {
                i += 1;
                while i < cs.len() && cs[i] != '"' {
                    i += if cs[i] == '\\' { 2 } else { 1 };
                }
            }
            '\'' if cs.get(i + 2) == Some(&'\'') => i += 2,
            '\'' if cs.get(i + 1) == Some(&'\\') => {
                while i + 1 < cs.len() && cs[i + 1] != '\'' {
                    i += 1;
                }
                i += 1;
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.filter_map(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_function_is_longer_than_the_limit() {
    let mut all = Vec::new();
    for (_, dir, _) in workspace() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            let rel = f.strip_prefix(root()).unwrap_or(&f).display().to_string();
            for (line, name, n) in function_lengths(&text) {
                all.push((n, format!("{rel}:{line} {name}")));
            }
        }
    }
    all.sort_by(|a, b| b.cmp(a));
    eprintln!("the ten longest functions:");
    for (n, at) in all.iter().take(10) {
        eprintln!("  {n:4} {at}");
    }
    let long: Vec<String> = all
        .iter()
        .filter(|(n, _)| *n > MAX_FN_LINES)
        .map(|(n, at)| format!("{n} lines: {at}"))
        .collect();
    assert!(
        long.is_empty(),
        "functions over {MAX_FN_LINES} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_length_counter_counts() {
    let src = "fn a() {\n    let s = \"}\";\n    let c = '{';\n}\n#[cfg(test)]\nmod tests {\n    fn t() {}\n}\npub(crate) fn b(x: u8) -> u8 {\n    x // }\n}\n";
    let got = function_lengths(src);
    assert_eq!(got, vec![(1, "a".into(), 4), (9, "b".into(), 3)]);
}
