//! The runners a sweep file can name (`runner = "..."`), registered here by name. A
//! runner checks a cell's table and calls into a workload crate to run it; the sweep
//! engine never builds a simulation itself.

pub mod engram_fetch;
pub mod scenario;

use crate::runner::CellRunner;
use memwall_llm::ModelRegistry;
use memwall_models::Registry;

/// Every runner, resolving systems from `reg` and models from `models`.
pub fn all(reg: &Registry, models: &ModelRegistry) -> Vec<Box<dyn CellRunner>> {
    let user = user_data_fingerprint(reg, models);
    vec![
        Box::new(scenario::ServingScenario::new(
            reg.clone(),
            models.clone(),
            &user,
        )),
        Box::new(engram_fetch::EngramFetch::new(reg.clone(), &user)),
    ]
}

/// A runner's version with the user's data folded in: `base` alone when there is none,
/// else `base+user-<digest>`. Cell keys hash the version, so a cell cached under other
/// user profiles or models is never reused.
fn versioned(base: &str, user: &Option<String>) -> String {
    match user {
        Some(f) => format!("{base}+user-{f}"),
        None => base.to_string(),
    }
}

/// A digest of the user's profiles and models (names and texts, not paths), or `None`
/// when only shipped data is in use. FNV-1a, 64 bits: stable across runs and machines.
fn user_data_fingerprint(reg: &Registry, models: &ModelRegistry) -> Option<String> {
    let profiles = reg
        .entries()
        .filter(|e| !e.embedded)
        .map(|e| (e.profile.name(), e.text.as_str()));
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut any = false;
    for (name, text) in profiles.chain(models.user_models()) {
        any = true;
        for b in name.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    any.then(|| format!("{h:016x}"))
}
