//! `memwall fabric`: one MoE layer's expert all-to-all (dispatch, then combine) in
//! whole-cluster mode: every GPU of the system's cluster its own rank, every token
//! routed (seeded), per-GPU-pair flows over the wired fabric (PCIe, NICs, leaves,
//! spines, NVLink). Prints each phase's simulated time next to the aggregate model's
//! for the same traffic, and the busiest link of each kind: the bottleneck.

use std::time::Instant;

use clap::Args;
use memwall_models::fabric::{ClassLoad, ClusterFabric};
use memwall_models::units::{format_bytes, format_time_ps};
use memwall_train::cluster::{run_ep_layer, EpReport, EpSetup, PhaseCompare, Placement};
use memwall_train::{effective_model, TrainConfig, TrainHw};

#[derive(Args, Debug)]
pub struct FabricArgs {
    /// Training config whose EP degree, tokens per GPU, routing limit, model and
    /// all-to-all efficiency are used (default `deepseek-v3-h800`).
    #[arg(long, value_name = "NAME|PATH")]
    pub config: Option<String>,
    /// System profile with a `[cluster]` (default: the config's).
    #[arg(long)]
    pub system: Option<String>,
    /// Wire only the first N nodes of the cluster.
    #[arg(long)]
    pub nodes: Option<u32>,
    /// Tokens each GPU routes (default: the config's micro-batch tokens).
    #[arg(long)]
    pub tokens: Option<u64>,
    /// Routing seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Spread each EP group over the cluster (its traffic crosses the spines) instead
    /// of packing it into consecutive nodes.
    #[arg(long)]
    pub spread: bool,
    /// Fraction of the NIC and NVLink rates one GPU's all-to-all reaches, in both
    /// models (default: the config's `a2a_efficiency`).
    #[arg(long)]
    pub efficiency: Option<f64>,
    #[command(flatten)]
    pub inputs: super::inputs::Inputs,
    /// Run even when the estimate of memory or time is past the budget (2 GiB, 1 hour).
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: FabricArgs) -> anyhow::Result<()> {
    let cfg = TrainConfig::resolve(args.config.as_deref().unwrap_or("deepseek-v3-h800"))?;
    let (reg, models) = args.inputs.registries(&[])?;
    let system = args.system.clone().unwrap_or_else(|| cfg.system.clone());
    let sys = reg.system(&system)?;
    let hw = TrainHw::resolve(&reg, &system, &cfg.reference.gpu)?;
    let eff = args.efficiency.unwrap_or(cfg.a2a_efficiency);
    if !(eff > 0.0 && eff <= 1.0) {
        anyhow::bail!("--efficiency {eff}: must be in (0, 1]");
    }
    let m = effective_model(&cfg, &models)?;
    let mut s = EpSetup::from_config(&cfg, &m)?;
    s.tokens = args.tokens.unwrap_or(s.tokens);
    s.seed = args.seed;
    s.placement = if args.spread {
        Placement::Spread
    } else {
        Placement::Packed
    };
    let wall = Instant::now();
    let mut f = ClusterFabric::build(&sys, args.nodes, (eff * 1e6).round() as u32)?;
    let est = memwall_train::limits::fabric_estimate(f.gpu_count() as u64, s.tokens);
    est.check(&system, args.force, "lower --tokens, or wire fewer --nodes")?;
    println!("{}", describe(&f));
    println!(
        "EP{} all-to-all of one {} MoE layer: {} tokens per GPU, top-{} of {} experts, node limit {}, seed {}, {} groups, endpoint efficiency {eff}",
        s.ep, m.name, s.tokens, s.k, s.experts, s.node_limit, s.seed,
        if args.spread { "spread" } else { "packed" }
    );
    let progress =
        memwall_io::progress::task(&format!("all-to-all ({})", est.describe()), None, "");
    let r = run_ep_layer(&mut f, &s, &hw, eff)?;
    drop(progress);
    print!("{}", report(&r));
    eprintln!("simulated in {:.2} s wall", wall.elapsed().as_secs_f64());
    Ok(())
}

fn describe(f: &ClusterFabric) -> String {
    let fab = &f.cluster.fabric;
    format!(
        "{}: {} nodes x {} GPUs = {} GPUs; fabric {} ({}, {} planes, {} leaves, {} spines per plane, radix {}, {} uplinks per leaf: oversubscription {:.2}:1); {} links wired",
        f.system,
        f.nodes,
        f.gpus_per_node,
        f.gpu_count(),
        fab.name,
        fab.topology.as_str(),
        fab.planes.unwrap_or(1),
        f.leaves,
        f.spines_per_plane,
        fab.switch_radix,
        fab.leaf_uplinks,
        f.oversubscription,
        f.net.resource_count()
    )
}

fn load(l: &ClassLoad) -> String {
    format!(
        "{} {} at {:.1}%",
        l.class.label(),
        l.resource,
        100.0 * l.utilisation
    )
}

fn phase_line(name: &str, p: &PhaseCompare) -> String {
    let c = &p.cluster;
    let ratio = c.time.0 as f64 / p.aggregate.0.max(1) as f64;
    let verdict = match c.bottleneck() {
        Some(b) if (ratio - 1.0).abs() <= 0.05 => format!("agree (bottleneck: {})", load(b)),
        Some(b) => format!("differ: bottleneck {}", load(b)),
        None => "no traffic".to_string(),
    };
    format!(
        "{name:<9}{:>8}{:>8}{:>13}{:>13}{:>8.3}  {verdict}\n",
        c.flows,
        c.events,
        format_time_ps(c.time.0),
        format_time_ps(p.aggregate.0),
        ratio
    )
}

fn report(r: &EpReport) -> String {
    let mut out = format!(
        "{} GPUs in {} EP groups\n{:<9}{:>8}{:>8}{:>13}{:>13}{:>8}  \n",
        r.gpus, r.groups, "phase", "flows", "events", "whole", "aggregate", "ratio"
    );
    out.push_str(&phase_line("dispatch", &r.dispatch));
    out.push_str(&phase_line("combine", &r.combine));
    for (name, p) in [("dispatch", &r.dispatch), ("combine", &r.combine)] {
        out.push_str(&format!(
            "{name}: fabric bytes per GPU expected {}, most sent by one GPU {}; busiest link per kind:\n",
            format_bytes(p.expected.scale_out),
            format_bytes(p.max_fabric_bytes)
        ));
        for l in &p.cluster.loads {
            out.push_str(&format!("  {}\n", load(l)));
        }
    }
    out
}
