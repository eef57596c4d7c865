//! `memwall trace engram ...` (text -> Engram access trace) and `memwall trace csv TRACE`
//! (a trace as tidy CSV on stdout).

use anyhow::Context;
use clap::{Args, Subcommand};
use memwall_engram::trace::{export_csv, TraceReader};
use memwall_engram::{write_text_trace_file, TextTraceOptions};
use memwall_io::paths::{check_outputs, Named};
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum TraceCmd {
    /// Turn real text into an Engram access trace, batched as a serving engine would.
    #[command(
        after_help = "Examples:\n  memwall trace engram --tokenizer tokenizer.json --text corpus.txt --out t.mwet\n  memwall trace engram --model demo --tokenizer tokenizer.json --text a.txt --text b.txt --out demo.mwet"
    )]
    Engram(EngramArgs),
    /// Print a trace as CSV (one line per row read).
    #[command(after_help = "Examples:\n  memwall trace csv t.mwet > rows.csv")]
    Csv(CsvArgs),
    /// Row reuse by distance in steps, beside the synthetic generator's for the same steps.
    #[command(
        after_help = "Examples:\n  memwall trace reuse t.mwet\n  memwall trace reuse t.mwet --model demo --zipf 1.2"
    )]
    Reuse(super::trace_reuse::ReuseArgs),
}

#[derive(Args)]
pub struct EngramArgs {
    /// Built-in Engram layout: v41-flash, demo, engram-27b, engram-40b.
    #[arg(long, default_value = "v41-flash")]
    pub model: String,
    /// Hugging Face tokenizer.json (tools/fetch-inputs.sh fetches DeepSeek's).
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// Text files; each is cut into requests.
    #[arg(long, num_args = 1.., required = true)]
    pub text: Vec<PathBuf>,
    /// Output trace file (written atomically).
    #[arg(long)]
    pub out: PathBuf,
    /// Prompt tokens per request.
    #[arg(long, default_value_t = 1024)]
    pub prompt_tokens: usize,
    /// Decoded tokens per request.
    #[arg(long, default_value_t = 128)]
    pub decode_tokens: usize,
}

#[derive(Args)]
pub struct CsvArgs {
    /// An Engram access trace (`.mwet`, from `memwall trace engram` or tools/memwall_trace.py).
    pub trace: PathBuf,
}

pub fn run(c: TraceCmd) -> anyhow::Result<()> {
    match c {
        TraceCmd::Engram(a) => {
            let mut inputs = vec![Named::new("--tokenizer", &a.tokenizer)];
            inputs.extend(a.text.iter().map(|p| Named::new("--text", p)));
            check_outputs(&inputs, &[Named::new("--out", &a.out)])?;
            let mut opts = TextTraceOptions::default();
            opts.schedule.prompt_tokens = a.prompt_tokens;
            opts.schedule.decode_tokens = a.decode_tokens;
            let (stats, sum) =
                write_text_trace_file(&a.model, &a.tokenizer, &a.text, &opts, &a.out)?;
            println!(
                "wrote {}: {} steps, {} requests, {} tokens, {} row ids, {} bytes",
                a.out.display(),
                stats.steps,
                stats.requests,
                stats.tokens,
                sum.row_ids,
                sum.bytes
            );
            Ok(())
        }
        TraceCmd::Csv(a) => {
            let mut r = TraceReader::open(&a.trace)
                .with_context(|| format!("reading trace {}", a.trace.display()))?;
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            export_csv(&mut r, out).with_context(|| format!("trace {}", a.trace.display()))?;
            Ok(())
        }
        TraceCmd::Reuse(a) => super::trace_reuse::run(a),
    }
}
