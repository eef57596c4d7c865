//! memwall: a hardware-timed discrete-event simulator of the memory hierarchy under
//! large-model serving and training. See README.md and ARCHITECTURE.md.

use clap::{Parser, Subcommand};

mod cmd;
mod progress;
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
    #[command(
        after_help = "Examples:\n  memwall train --config deepseek-v3-h800 --schedule dualpipe --out out/train\n  memwall train --config my-train.toml --system hgx-h200 --pp 8 --micro-batches 20 --out out/t"
    )]
    Train(cmd::train::TrainArgs),
    /// One MoE layer's expert all-to-all with every GPU of a cluster as its own rank,
    /// per-pair flows over the wired fabric, beside the aggregate model.
    #[command(
        after_help = "Examples:\n  memwall fabric\n  memwall fabric --system deepseek-h800-cluster --nodes 8 --tokens 8192 --spread"
    )]
    Fabric(cmd::fabric::FabricArgs),
    /// List, show and validate hardware profiles.
    #[command(
        after_help = "Examples:\n  memwall profiles list\n  memwall profiles show hgx-h200\n  memwall profiles validate my-profiles/"
    )]
    Profiles(cmd::profiles::ProfilesArgs),
    /// Simulated nvbandwidth / fio on a system profile.
    #[command(
        after_help = "Examples:\n  memwall probe h2d --system hgx-h200\n  memwall probe gather --system deepseek-h800-node --row-bytes 264 --csv gather.csv"
    )]
    Probe(cmd::probe::ProbeArgs),
    /// Run (or resume) a what-if sweep: a grid of scenarios, in parallel, shardable.
    #[command(
        after_help = "Examples:\n  memwall sweep examples/sweeps/engram-fetch.toml --out out/fetch --threads 8\n  memwall sweep study.toml --shard 0/4 --out out/shard0   (then: memwall merge out/shard*)"
    )]
    Sweep(cmd::sweep::SweepArgs),
    /// Capacity planning: the largest request rate per system and placement under TTFT/TPOT
    /// objectives, its cost, the cheapest deployment for a target rate, the frontier.
    #[command(
        after_help = "Examples:\n  memwall plan scenarios/plan/llama-8b-capacity.toml --out out/plan\n  memwall plan my-plan.toml --check"
    )]
    Plan(cmd::plan::PlanArgs),
    /// Merge the output folders of a sharded sweep into one.
    #[command(
        after_help = "Examples:\n  memwall merge out/shard0 out/shard1 out/shard2 out/shard3 --out out/study"
    )]
    Merge(cmd::merge::MergeArgs),
    /// Replay a Kineto / Chrome trace on another hardware profile, with what-ifs.
    #[command(
        after_help = "Examples:\n  memwall replay trace.json.gz --system hgx-b200 --out out/replay\n  memwall replay trace.json --engram-anchor attn --engram-placement nvme --out out/r"
    )]
    Replay(cmd::replay::ReplayArgs),
    /// Serve a scenario (default: DeepSeek-V4.1-Flash, Engram in host DRAM, H800 node).
    #[command(
        after_help = "Examples:\n  memwall run\n  memwall run scenarios/whatif/h800-nvme-2drives-cache.toml --csv summary.csv --steps-csv steps.csv\n  memwall run big.toml --force   (past the 2 GiB / 1 hour budget)"
    )]
    Run(cmd::run::RunArgs),
    /// Fit profile overrides from your own nccl-tests, nvbandwidth and fio output.
    #[command(
        after_help = "Examples:\n  memwall calibrate --system hgx-h200 --nccl-tests all_reduce.txt --nvbandwidth nvb.txt --out my-profiles\n  memwall calibrate --system dgx-h100 --fio fio.json --out my-profiles   (then: memwall run s.toml --profiles my-profiles)"
    )]
    Calibrate(cmd::calibrate::CalibrateArgs),
    /// Engram access traces: from text, or to CSV.
    #[command(subcommand)]
    #[command(
        after_help = "Examples:\n  memwall trace engram --tokenizer tokenizer.json --text corpus.txt --out t.mwet\n  memwall trace csv t.mwet > rows.csv"
    )]
    Trace(cmd::trace::TraceCmd),
}

fn main() {
    memwall_io::partial::remove_on_signal();
    let cli = Cli::parse();
    if !matches!(&cli.command, Command::Sweep(a) if a.quiet) {
        progress::install_on_terminal();
    }
    let result: anyhow::Result<()> = match cli.command {
        Command::Train(a) => cmd::train::run(a),
        Command::Fabric(a) => cmd::fabric::run(a),
        Command::Profiles(a) => cmd::profiles::run(a),
        Command::Probe(a) => cmd::probe::run(a),
        Command::Sweep(a) => cmd::sweep::run(a),
        Command::Merge(a) => cmd::merge::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Trace(a) => cmd::trace::run(a),
        Command::Calibrate(a) => cmd::calibrate::run(a),
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
