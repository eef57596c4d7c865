//! Helpers shared by the serve crate's integration tests.

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario, Scenario};

/// The error a scenario text gives, from parsing or else from running it (empty if none).
pub fn err(text: &str) -> String {
    Scenario::from_toml_str("bad.toml", text)
        .map(|s| {
            let reg = Registry::embedded().unwrap();
            run_scenario(&s, &reg, &ModelRegistry::builtin())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        })
        .unwrap_or_else(|e| e.to_string())
}
