//! `memwall merge DIR... [--out DIR]`: combine the folders of a sharded sweep into
//! exactly what one unsharded run writes.

use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct MergeArgs {
    /// Sweep output folders of the shards (one shared folder is fine too).
    #[arg(required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where to write the merged sweep (default: the first folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn run(a: MergeArgs) -> anyhow::Result<()> {
    let out = a.out.clone().unwrap_or_else(|| a.dirs[0].clone());
    let written = memwall_sweep::merge(&a.dirs, &out)?;
    for p in written {
        if p.extension().is_some_and(|e| e != "png") {
            println!("{}", p.display());
        }
    }
    Ok(())
}
