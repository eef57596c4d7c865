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
    let data = data_digest(reg, models);
    vec![
        Box::new(scenario::ServingScenario::new(
            reg.clone(),
            models.clone(),
            data.clone(),
        )),
        Box::new(engram_fetch::EngramFetch::new(reg.clone(), data)),
    ]
}

/// A digest of every profile (shipped and the user's), model and engine profile the
/// runners resolve cells against: names and texts, not paths. A cell's key includes it,
/// so a result cached before a profile changed (a user's file, or the shipped ones of
/// another memwall version) is never reused. FNV-1a, 64 bits: stable across runs and
/// machines.
fn data_digest(reg: &Registry, models: &ModelRegistry) -> String {
    let profiles = reg.entries().map(|e| (e.profile.name(), e.text.as_str()));
    let engines = memwall_serve::engine::engine_files().iter().copied();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, text) in profiles.chain(models.texts()).chain(engines) {
        for b in name.bytes().chain([0]).chain(text.bytes()).chain([0]) {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_covers_the_models_the_cells_resolve_against() {
        let reg = Registry::embedded().unwrap();
        let shipped = data_digest(&reg, &ModelRegistry::builtin());
        assert_eq!(shipped, data_digest(&reg, &ModelRegistry::builtin()));
        let d = std::env::temp_dir().join(format!("memwall-digest-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let (_, text) = memwall_llm::builtin_models()
            .find(|(n, _)| *n == "qwen3-4b-dense")
            .unwrap();
        std::fs::write(
            d.join("qwen3-4b-dense.toml"),
            text.replace("151936", "151000"),
        )
        .unwrap();
        let user = ModelRegistry::with_user_paths(&[d]).unwrap();
        assert_ne!(shipped, data_digest(&reg, &user));
    }
}
