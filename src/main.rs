//! memwall: a hardware-timed discrete-event simulator of the memory hierarchy under
//! large-model serving and training. See README.md and ARCHITECTURE.md.

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(name = "memwall", version, about = "Which latency was hidden behind compute, and which was exposed", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Each subcommand lives in src/cmd/<name>.rs with its own clap Args.
    /// Simulate one pipeline-parallel training step (DualPipe, EP all-to-all, mHC).
    Train(cmd::train::TrainArgs),
}

fn main() {
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Train(a) => cmd::train::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
