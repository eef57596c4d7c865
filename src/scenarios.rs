//! The shipped scenarios (`scenarios/*.toml`, embedded by `build.rs` through
//! tools/build/embed.rs), so that `memwall run NAME` works from any folder.

use memwall_serve::Scenario;
use std::path::Path;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));
}

/// The scenario `memwall run` serves without an argument.
pub const DEFAULT: &str = "default";

/// Shipped scenario names (file stems), sorted; sweep files (a `[sweep]` table) are not
/// scenarios.
pub fn names() -> Vec<&'static str> {
    embedded::EMBEDDED
        .iter()
        .filter(|(_, text)| !is_sweep(text))
        .map(|(file, _)| file.trim_end_matches(".toml"))
        .collect()
}

fn is_sweep(text: &str) -> bool {
    text.parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("sweep"))
}

/// A scenario file, or else a shipped scenario by name.
pub fn load(arg: &str) -> anyhow::Result<Scenario> {
    let path = Path::new(arg);
    if path.exists() {
        return Ok(Scenario::from_file(path)?);
    }
    let file = format!("{arg}.toml");
    match embedded::EMBEDDED.iter().find(|(f, _)| *f == file) {
        Some((_, text)) if is_sweep(text) => anyhow::bail!(
            "{arg}: a shipped sweep, not a scenario\nhint: memwall sweep scenarios/{file}"
        ),
        Some((_, text)) => shipped(&file, text),
        None => anyhow::bail!(
            "{arg}: no such scenario file, and no shipped scenario of that name\nhint: shipped scenarios: {}; or give the path to a scenario TOML",
            names().join(", ")
        ),
    }
}

fn shipped(file: &str, text: &str) -> anyhow::Result<Scenario> {
    Ok(Scenario::from_toml_str(
        &format!("<embedded scenarios/{file}>"),
        text,
    )?)
}
