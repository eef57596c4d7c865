//! `memwall trace reuse TRACE`: how often and how soon an Engram access trace reads a row
//! again, beside the synthetic generator's rows for the same steps (docs/tiers.md).

use clap::Args;
use memwall_engram::EngramLayout;
use memwall_serve::reuse::{trace_reuse, Reuse, Synthetic, BUCKETS};
use std::path::PathBuf;

#[derive(Args)]
pub struct ReuseArgs {
    /// An Engram access trace (`.mwet`).
    pub trace: PathBuf,
    /// Built-in Engram layout the trace was recorded with (default: the name in its header).
    #[arg(long)]
    pub model: Option<String>,
    /// The synthetic generator's seed, Zipf exponent and phrase count (as `[engram]`
    /// zipf_exponent and phrases of a scenario).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long, default_value_t = 1.0)]
    pub zipf: f64,
    #[arg(long, default_value_t = 1_000_000)]
    pub phrases: u64,
}

pub fn run(a: ReuseArgs) -> anyhow::Result<()> {
    if !(a.zipf.is_finite() && a.zipf >= 0.0) || a.phrases == 0 {
        anyhow::bail!("--zipf must be >= 0 and --phrases >= 1\nhint: --zipf 1.0 --phrases 1000000");
    }
    let name = match &a.model {
        Some(m) => m.clone(),
        None => {
            let r = memwall_engram::trace::TraceReader::open(&a.trace)
                .map_err(|e| anyhow::anyhow!("{}: {e}", a.trace.display()))?;
            r.header().config.name.clone()
        }
    };
    let layout = EngramLayout::builtin(&name).map_err(|e| {
        anyhow::anyhow!("{e}\nhint: name the layout the trace was recorded with: --model demo")
    })?;
    let synth = Synthetic {
        seed: a.seed,
        zipf: a.zipf,
        phrases: a.phrases,
    };
    let (real, fake) = trace_reuse(&a.trace, &layout, synth)?;
    print!("{}", table(&a.trace.display().to_string(), &real, &fake));
    Ok(())
}

/// Share of reads by reuse distance, the trace's beside the synthetic generator's.
fn table(name: &str, real: &Reuse, fake: &Reuse) -> String {
    let pct = |r: &Reuse, n: u64| format!("{:>9.1}%", 100.0 * r.share(n));
    let mut s = format!(
        "row reuse of {name}: {} reads ({} distinct rows); synthetic: {} reads ({} distinct)\n",
        real.reads, real.distinct, fake.reads, fake.distinct
    );
    s.push_str("  reads last read       trace  synthetic\n");
    s.push_str(&format!(
        "  never (first read) {} {}\n",
        pct(real, real.first),
        pct(fake, fake.first)
    ));
    for (i, (_, label)) in BUCKETS.iter().enumerate() {
        s.push_str(&format!(
            "  {label:<18} {} {}\n",
            pct(real, real.by_distance[i]),
            pct(fake, fake.by_distance[i])
        ));
    }
    s
}
