//! memwall: a hardware-timed discrete-event simulator of the memory hierarchy under
//! large-model serving and training. See README.md and ARCHITECTURE.md.

use clap::{Parser, Subcommand};

mod cmd;
mod scenarios;

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
    /// List, show and validate hardware profiles.
    Profiles(cmd::profiles::ProfilesArgs),
    /// Simulated nvbandwidth / fio on a system profile.
    Probe(cmd::probe::ProbeArgs),
    /// Run (or resume) a what-if sweep: a grid of scenarios, in parallel, shardable.
    Sweep(cmd::sweep::SweepArgs),
    /// Merge the output folders of a sharded sweep into one.
    Merge(cmd::merge::MergeArgs),
    /// Replay a Kineto / Chrome trace on another hardware profile, with what-ifs.
    Replay(cmd::replay::ReplayArgs),
    /// Serve a scenario (default: DeepSeek-V4.1-Flash, Engram in host DRAM, H800 node).
    Run(cmd::run::RunArgs),
    /// Engram access traces: from text, or to CSV.
    #[command(subcommand)]
    Trace(cmd::trace::TraceCmd),
}

fn main() {
    memwall_io::partial::remove_on_signal();
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Train(a) => cmd::train::run(a),
        Command::Profiles(a) => cmd::profiles::run(a),
        Command::Probe(a) => cmd::probe::run(a),
        Command::Sweep(a) => cmd::sweep::run(a),
        Command::Merge(a) => cmd::merge::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Trace(a) => cmd::trace::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {}", render(&e));
        std::process::exit(1);
    }
}

/// The error and its causes, each cause once: typed errors already print the error they
/// wrap, so a cause whose text is already shown is not repeated.
fn render(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg = format!("{msg}: {c}");
        }
    }
    msg
}
