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
    vec![
        Box::new(scenario::ServingScenario::new(reg.clone(), models.clone())),
        Box::new(engram_fetch::EngramFetch {
            registry: reg.clone(),
        }),
    ]
}
