//! `memwall profiles list | show NAME | validate FILE...`

use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args)]
pub struct ProfilesArgs {
    #[command(subcommand)]
    pub action: ProfilesAction,
    /// Extra profile files or folders that extend or override the shipped ones.
    #[arg(long = "profiles", global = true, value_name = "PATH")]
    pub user: Vec<PathBuf>,
}

#[derive(Subcommand)]
pub enum ProfilesAction {
    /// List every profile: kind, name, origin, summary.
    List,
    /// Show one profile resolved, with the basis and source of every number.
    Show {
        /// The profile's name (`memwall profiles list` shows them).
        name: String,
    },
    /// Check profile files (or folders of them) against the schema and the shipped parts.
    Validate {
        /// Profile files (TOML) or folders of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

pub fn run(args: ProfilesArgs) -> anyhow::Result<()> {
    let out = match &args.action {
        ProfilesAction::List => memwall_models::cli_list(&args.user),
        ProfilesAction::Show { name } => memwall_models::cli_show(name, &args.user),
        ProfilesAction::Validate { files } => memwall_models::cli_validate(files),
    };
    match out {
        Ok(text) => {
            print!("{text}");
            if !text.ends_with('\n') {
                println!();
            }
            Ok(())
        }
        Err(e) => anyhow::bail!("{e}"),
    }
}
