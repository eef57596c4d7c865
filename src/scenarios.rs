//! The shipped scenarios (`scenarios/*.toml`, embedded by `build.rs` through
//! tools/build/embed.rs), so that `memwall run NAME` works from any folder.

use memwall_serve::{Scenario, ScenarioError};
use std::path::Path;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));
}

/// The scenario `memwall run` serves without an argument.
pub const DEFAULT: &str = "default";

/// Shipped scenario names (file stems), sorted.
pub fn names() -> Vec<&'static str> {
    embedded::EMBEDDED
        .iter()
        .map(|(file, _)| file.trim_end_matches(".toml"))
        .collect()
}

/// A scenario file, or else a shipped scenario by name.
pub fn load(arg: &str) -> anyhow::Result<Scenario> {
    let path = Path::new(arg);
    if path.exists() {
        return Ok(Scenario::from_file(path)?);
    }
    let file = format!("{arg}.toml");
    match embedded::EMBEDDED.iter().find(|(f, _)| *f == file) {
        Some((_, text)) => Ok(shipped(&file, text)?),
        None => anyhow::bail!(
            "{arg}: no such scenario file, and no shipped scenario of that name\nhint: shipped scenarios: {}; or give the path to a scenario TOML",
            names().join(", ")
        ),
    }
}

fn shipped(file: &str, text: &str) -> Result<Scenario, ScenarioError> {
    Scenario::from_toml_str(&format!("<embedded scenarios/{file}>"), text)
}
