// The one way memwall embeds shipped data files (hardware profiles, model configs, Engram
// layouts, training configs, scenarios) into a crate. A crate's `build.rs` does
//
//     include!("<relative path to>/tools/build/embed.rs");
//     fn main() { embed_toml_dir("../hw-profiles", "embedded.rs", Depth::Recursive); }
//
// and the crate then `include!(concat!(env!("OUT_DIR"), "/embedded.rs"))`, which defines
// `pub static EMBEDDED: &[(&str, &str)]`: (path relative to the folder, with `/`, and
// the file's text) for every `*.toml` below it (or, with `Depth::Top`, in it), sorted by
// path. Adding a file to the
// folder is all it takes to ship it; cargo re-runs the script when the folder changes.

/// Whether sub-folders are embedded too.
#[allow(dead_code)] // each build script uses one of the two
enum Depth {
    Recursive,
    Top,
}

fn embed_walk(dir: &std::path::Path, depth: &Depth, out: &mut Vec<std::path::PathBuf>) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<std::path::PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if let Depth::Recursive = depth {
                embed_walk(&p, depth, out);
            }
        } else if p.extension().and_then(|e| e.to_str()) == Some("toml") {
            println!("cargo:rerun-if-changed={}", p.display());
            out.push(p);
        }
    }
}

/// Embeds every `*.toml` under `dir` (relative to the crate's manifest) into
/// `$OUT_DIR/<out_name>`.
fn embed_toml_dir(dir: &str, out_name: &str, depth: Depth) {
    let manifest = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.join(dir);
    let mut files = Vec::new();
    embed_walk(&root, &depth, &mut files);
    assert!(!files.is_empty(), "no *.toml files to embed under {}", root.display());
    let mut code = format!(
        "/// (path relative to {dir}, contents) of every shipped file.\npub static EMBEDDED: &[(&str, &str)] = &[\n"
    );
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        code.push_str(&format!("    ({rel:?}, include_str!({:?})),\n", f.display().to_string()));
    }
    code.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join(out_name);
    std::fs::write(out, code).unwrap();
}
