//! Fuzzing every parser, on stable Rust with cargo alone: a seeded RNG mutates the shipped
//! files with structure-aware mutations (numbers at their limits, wrong types, missing and
//! duplicated keys, truncation, bit flips, deep nesting, control characters) and each
//! parser must answer every input with a value or an error, never a panic or a hang;
//! every error message must be non-empty and name the file it was given.
//!
//! `cargo test --release --test fuzz` runs a short budget (a few seconds). A long
//! campaign, with counts per parser written to target/fuzz-counts.txt:
//!
//! ```text
//! MEMWALL_FUZZ_CASES=1000000 MEMWALL_FUZZ_SEED=1 cargo test --release --test fuzz -- --nocapture
//! ```
//!
//! (`MEMWALL_FUZZ_CASES` is the total over all parsers.) A failure prints the parser, the
//! seed and the case number, and writes the input to target/fuzz-failure.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.toml` (or `ext`) under `dir`, sorted.
fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p, ext));
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn texts(paths: Vec<PathBuf>) -> Vec<Vec<u8>> {
    paths
        .into_iter()
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

/// Values a hostile user would type where a number or string goes.
const LIMITS: &[&str] = &[
    "0",
    "-1",
    "1",
    "4294967296",
    "1000000000000",
    "9223372036854775807",
    "18446744073709551616",
    "-9223372036854775808",
    "1e308",
    "-0.0",
    "nan",
    "inf",
    "\"\"",
    "\"0 us\"",
    "\"-5 GB/s\"",
    "\"1e30 PiB\"",
    "\"$0/h\"",
    "\"x\"",
    "true",
    "[]",
    "{}",
    "[1, \"a\"]",
];

/// One structure-aware mutation of `input`.
fn mutate(rng: &mut ChaCha8Rng, input: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    let n = rng.gen_range(1..=3);
    for _ in 0..n {
        let text = String::from_utf8_lossy(&b).into_owned();
        let lines: Vec<&str> = text.lines().collect();
        let pick = |rng: &mut ChaCha8Rng| rng.gen_range(0..lines.len().max(1));
        b = match rng.gen_range(0..10) {
            // A value replaced by a limit or a wrong type.
            0..=2 => {
                let mut ls: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
                if let Some(i) = (0..8)
                    .map(|_| pick(rng))
                    .find(|&i| ls.get(i).is_some_and(|l| l.contains('=')))
                {
                    let k = ls[i].split('=').next().unwrap().to_string();
                    ls[i] = format!("{k}= {}", LIMITS[rng.gen_range(0..LIMITS.len())]);
                }
                ls.join("\n").into_bytes()
            }
            // A line dropped (a missing key or header).
            3 => {
                let mut ls = lines.clone();
                if !ls.is_empty() {
                    ls.remove(pick(rng));
                }
                ls.join("\n").into_bytes()
            }
            // A line duplicated (a duplicated key or table).
            4 => {
                let mut ls = lines.clone();
                if !ls.is_empty() {
                    let i = pick(rng);
                    ls.insert(i, lines[i]);
                }
                ls.join("\n").into_bytes()
            }
            // Truncation.
            5 => {
                let cut = rng.gen_range(0..=b.len());
                b[..cut].to_vec()
            }
            // Bit flips.
            6 => {
                for _ in 0..rng.gen_range(1..4) {
                    if !b.is_empty() {
                        let i = rng.gen_range(0..b.len());
                        b[i] ^= 1 << rng.gen_range(0..8);
                    }
                }
                b
            }
            // Deep nesting.
            7 => {
                let depth = rng.gen_range(10..3000);
                let (o, c) = if rng.gen_bool(0.5) {
                    ("[", "]")
                } else {
                    ("{\"a\":", "}")
                };
                let nest = format!("x = {}1{}\n", o.repeat(depth), c.repeat(depth));
                let at = rng.gen_range(0..=b.len());
                let mut v = b[..at].to_vec();
                v.extend_from_slice(nest.as_bytes());
                v.extend_from_slice(&b[at..]);
                v
            }
            // A control character or a stray byte.
            8 => {
                let at = rng.gen_range(0..=b.len());
                let c = [0u8, 1, 0x1b, 0x7f, 0xff, b'"', b'[', b'='][rng.gen_range(0..8)];
                b.insert(at, c);
                b
            }
            // Two shipped numbers swapped for a huge repeat count (a long line).
            _ => {
                let at = rng.gen_range(0..=b.len());
                let mut v = b[..at].to_vec();
                v.extend(vec![b'9'; rng.gen_range(1..400)]);
                v.extend_from_slice(&b[at..]);
                v
            }
        };
    }
    b
}

/// A parser: `Err(message)` or `Ok`.
type Parser = Box<dyn Fn(&[u8]) -> Result<(), String>>;

/// A parser under fuzz: a name, seeds, and a function giving `Err(message)` or `Ok`.
struct Target {
    name: &'static str,
    seeds: Vec<Vec<u8>>,
    /// The file name the parser is told (errors must name it), and whether they must.
    origin: &'static str,
    names_file: bool,
    parse: Parser,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn targets() -> Vec<Target> {
    let r = root();
    let reg = std::sync::Arc::new(memwall_models::Registry::embedded().unwrap());
    let tmp = std::env::temp_dir().join(format!("memwall-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let price_file = tmp.join("prices.toml");
    let scenario_seeds: Vec<Vec<u8>> = texts(files(&r.join("scenarios"), "toml"))
        .into_iter()
        .filter(|t| !text(t).contains("[sweep]"))
        .collect();
    let mut sweep_seeds = texts(files(&r.join("examples/sweeps"), "toml"));
    sweep_seeds.extend(
        texts(files(&r.join("scenarios"), "toml"))
            .into_iter()
            .filter(|t| text(t).contains("[sweep]")),
    );
    let reg2 = reg.clone();
    vec![
        Target {
            name: "profiles",
            seeds: texts(files(&r.join("hw-profiles"), "toml")),
            origin: "fuzz-profile.toml",
            names_file: true,
            parse: Box::new(|b| {
                memwall_models::parse_profile("fuzz-profile.toml", &text(b))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "scenarios",
            seeds: scenario_seeds,
            origin: "fuzz-scenario.toml",
            names_file: true,
            parse: Box::new(|b| {
                memwall_serve::Scenario::from_toml_str("fuzz-scenario.toml", &text(b))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "sweeps",
            seeds: sweep_seeds,
            origin: "fuzz-sweep.toml",
            names_file: true,
            parse: Box::new(|b| {
                memwall_sweep::SweepSpec::parse(Path::new("fuzz-sweep.toml"), &text(b))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "prices",
            seeds: texts(files(&r.join("examples/economics"), "toml")),
            origin: "prices.toml",
            names_file: true,
            parse: Box::new(move |b| {
                std::fs::write(&price_file, b).unwrap();
                memwall_sweep::economics::load_overrides(&price_file, &reg2)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "models",
            seeds: texts(files(&r.join("workloads/llm/configs"), "toml")),
            origin: "fuzz-model.toml",
            names_file: true,
            parse: Box::new(|b| {
                memwall_llm::ModelConfig::from_toml_str("fuzz-model.toml", &text(b))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "train-configs",
            seeds: texts(files(&r.join("workloads/train/configs"), "toml")),
            origin: "fuzz-train.toml",
            names_file: true,
            parse: Box::new(|b| {
                memwall_train::TrainConfig::from_toml_str("fuzz-train.toml", &text(b))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "requests",
            seeds: texts(files(&r.join("tests/fixtures"), "csv")),
            origin: "fuzz-requests.csv",
            names_file: true,
            parse: Box::new(|b| {
                memwall_serve::requests::azure_csv("fuzz-requests.csv", &text(b), Some(1000))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "requests-jsonl",
            seeds: texts(files(&r.join("tests/fixtures"), "jsonl")),
            origin: "fuzz-requests.jsonl",
            names_file: true,
            parse: Box::new(|b| {
                memwall_serve::requests::jsonl("fuzz-requests.jsonl", &text(b), Some(1000))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
        Target {
            name: "engram-traces",
            seeds: vec![engram_trace_seed()],
            origin: "",
            names_file: false,
            parse: Box::new(read_engram_trace),
        },
        Target {
            name: "kineto",
            seeds: kineto_seeds(),
            origin: "fuzz-trace.json",
            names_file: true,
            parse: Box::new(|b| {
                memwall_kineto::import_bytes(b, "fuzz-trace.json")
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        },
    ]
}

/// A small valid `.mwet` trace of the demo layout: three steps, every layer, timestamps.
fn engram_trace_seed() -> Vec<u8> {
    use memwall_engram::trace::{RowsRecordRef, TraceHeader, TraceWriter};
    let layout = memwall_engram::EngramLayout::builtin("demo").unwrap();
    let header = TraceHeader::for_layout(&layout, serde_json::json!({"kind": "synthetic"}));
    let cols = header.config.columns as usize;
    let layers = header.config.layer_ids.clone();
    let mut w = TraceWriter::new(Vec::new(), header).unwrap();
    for step in 0..3u64 {
        for &l in &layers {
            let rows: Vec<u64> = (0..2 * cols as u64).map(|i| i + step).collect();
            let rec = RowsRecordRef {
                step,
                layer_id: l,
                rows: &rows,
                token_meta: None,
                time_ns: Some((step * 100, step * 100 + 50)),
            };
            w.write_rows(&rec).unwrap();
        }
    }
    w.finish().unwrap().1
}

fn read_engram_trace(b: &[u8]) -> Result<(), String> {
    let mut r = memwall_engram::trace::TraceReader::new(std::io::Cursor::new(b))
        .map_err(|e| e.to_string())?;
    let mut rec = memwall_engram::trace::RowsRecord::default();
    while r.next_record(&mut rec).map_err(|e| e.to_string())? {}
    Ok(())
}

/// The plain-JSON Kineto fixtures (the gzip ones are seeds of the gzip reader, which
/// bit flips mostly stop at the checksum).
fn kineto_seeds() -> Vec<Vec<u8>> {
    texts(files(&root().join("tests/fixtures/traces"), "json"))
}

/// Whether the input was rejected with an error; `Err` says how the case failed.
fn check(t: &Target, input: &[u8]) -> Result<bool, String> {
    let t0 = Instant::now();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.parse)(input)));
    if t0.elapsed() > Duration::from_secs(5) {
        return Err(format!("took {:?} (a hang?)", t0.elapsed()));
    }
    match res {
        Err(_) => Err("panicked".into()),
        Ok(Err(msg)) if msg.trim().is_empty() => Err("empty error message".into()),
        Ok(Err(msg)) if t.names_file && !msg.contains(t.origin) => {
            Err(format!("error does not name {}: {msg}", t.origin))
        }
        Ok(r) => Ok(r.is_err()),
    }
}

#[test]
fn every_parser_survives_mutated_inputs() {
    let total: u64 = std::env::var("MEMWALL_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_600);
    let seed: u64 = std::env::var("MEMWALL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    std::panic::set_hook(Box::new(|_| {}));
    let targets = targets();
    let per = total.div_ceil(targets.len() as u64);
    let mut report = String::new();
    for (ti, t) in targets.iter().enumerate() {
        assert!(!t.seeds.is_empty(), "{}: no seed files", t.name);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ ((ti as u64) << 32));
        let (mut errors, t0) = (0u64, Instant::now());
        for seed_input in &t.seeds {
            if let Err(why) = check(t, seed_input) {
                drop(std::panic::take_hook());
                panic!("{}: a shipped seed: {why}", t.name);
            }
        }
        for case in 0..per {
            let base = &t.seeds[rng.gen_range(0..t.seeds.len())];
            let input = mutate(&mut rng, base);
            let rejected = check(t, &input).unwrap_or_else(|why| {
                let p = root().join("target").join("fuzz-failure");
                std::fs::write(&p, &input).unwrap();
                drop(std::panic::take_hook());
                panic!(
                    "{}: case {case} of seed {seed}: {why} (input in {})",
                    t.name,
                    p.display()
                )
            });
            errors += u64::from(rejected);
        }
        let line = format!(
            "{:<14} {per:>9} inputs {errors:>9} rejected with an error {:>8.1} s\n",
            t.name,
            t0.elapsed().as_secs_f64()
        );
        eprint!("{line}");
        report.push_str(&line);
    }
    drop(std::panic::take_hook());
    std::fs::write(root().join("target").join("fuzz-counts.txt"), report).unwrap();
}
