//! The user's extra profile and model files, one flag group for every subcommand that
//! resolves both a system and a model.

use clap::Args;
use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct Inputs {
    /// Extra profile files or folders that extend or override the shipped ones.
    #[arg(long = "profiles", value_name = "PATH")]
    pub profiles: Vec<PathBuf>,
    /// Extra model files or folders (add to or override the shipped models by name).
    #[arg(long = "models", value_name = "PATH")]
    pub models: Vec<PathBuf>,
}

impl Inputs {
    /// The profile and model registries: the shipped ones, then `first` (a sweep or plan
    /// file's own profile paths), then the user's `--profiles` and `--models`.
    pub fn registries(&self, first: &[PathBuf]) -> anyhow::Result<(Registry, ModelRegistry)> {
        let paths: Vec<PathBuf> = first.iter().chain(&self.profiles).cloned().collect();
        let reg = Registry::with_user_paths(&paths)?;
        let models = ModelRegistry::with_user_paths(&self.models)?;
        Ok((reg, models))
    }
}
