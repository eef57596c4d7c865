//! End-to-end checks of the sweep engine on the real engram-fetch simulation:
//! determinism across thread counts, shard + merge equality, resumption, and errors
//! before any cell runs.

use memwall_models::Registry;
use memwall_sweep::runners::engram_fetch::EngramFetch;
use memwall_sweep::{
    merge, prepare, run, CellOutput, CellRunner, CheckError, Shard, SweepOptions, SweepSpec,
};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The real runner, counting how many cells it ran.
struct Counting {
    inner: EngramFetch,
    runs: AtomicUsize,
}

impl CellRunner for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn version(&self) -> &str {
        self.inner.version()
    }
    fn check(&self, s: &toml::Table) -> Result<(), CheckError> {
        self.inner.check(s)
    }
    fn run(&self, s: &toml::Table) -> Result<CellOutput, String> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        self.inner.run(s)
    }
}

fn runner() -> Counting {
    Counting {
        inner: EngramFetch::new(Registry::embedded().unwrap(), String::new()),
        runs: AtomicUsize::new(0),
    }
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("memwall-sweep-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 3 systems x 2 placements x 3 prefetch x 4 batch x 3 rows = 216 cells.
const BIG: &str = r#"
[sweep]
name = "big"
runner = "engram-fetch"
economics = "ECON"

[base]
system = "hgx-h200"
steps = 3
[base.model]
layers = 3
compute_per_layer = "40 us"
[base.batch]
tokens = 16
[base.engram]
placement = "host-dram"
rows_per_token = 8

[[axis]]
key = "system"
values = ["hgx-h200", "hgx-b200", "gb300-nvl72"]

[[axis]]
key = "engram.placement"
values = ["host-dram", "nvme"]

[[axis]]
key = "engram.prefetch_layers"
values = [0, 1, 2]

[[axis]]
key = "batch.tokens"
values = [4, 8, 16, 32]

[[axis]]
key = "engram.rows_per_token"
values = [2, 4, 8]

[report]
exposed_limit = "50 us"

[[report.chart]]
x = "batch.tokens"
y = "throughput"
series = "system"
"#;

fn econ_path() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/economics/prices.toml")
        .display()
        .to_string()
}

fn spec(text: &str, name: &str) -> SweepSpec {
    let d = tmp(&format!("spec-{name}"));
    let p = d.join("sweep.toml");
    std::fs::write(&p, text.replace("ECON", &econ_path())).unwrap();
    SweepSpec::load(&p).unwrap()
}

fn go(
    s: &SweepSpec,
    r: &Counting,
    out: &Path,
    threads: usize,
    shard: Option<Shard>,
    max: Option<usize>,
) -> memwall_sweep::RunSummary {
    let reg = Registry::embedded().unwrap();
    let (prep, _) = prepare(s, &[r as &dyn CellRunner], &reg).unwrap();
    run(
        &prep,
        r,
        &SweepOptions {
            out: out.to_path_buf(),
            threads: Some(threads),
            shard,
            max_cells: max,
            progress: false,
        },
    )
    .unwrap()
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Every output file, relative path -> bytes (cells/ excluded: they are the inputs).
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for name in [
        "sweep.csv",
        "cells.csv",
        "summary.json",
        "summary.md",
        "plan.json",
    ] {
        v.push((name.to_string(), read(&dir.join(name))));
    }
    let mut plots: Vec<_> = std::fs::read_dir(dir.join("plots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    plots.sort();
    for p in plots {
        v.push((
            p.file_name().unwrap().to_string_lossy().into_owned(),
            read(&p),
        ));
    }
    v
}

#[test]
fn big_sweep_is_identical_at_1_and_2_threads_and_over_3_shards() {
    let s = spec(BIG, "big");
    let r = runner();
    let one = tmp("t1");
    let sum = go(&s, &r, &one, 1, None, None);
    assert_eq!(sum.total_cells, 216);
    assert_eq!(sum.ran, 216);
    let two = tmp("t2");
    go(&s, &r, &two, 2, None, None);
    let a = outputs(&one);
    assert_eq!(a, outputs(&two), "1 and 2 threads differ");
    // 216 cells x (metrics + economics + flags + categories) rows, plus the header.
    let csv = String::from_utf8(read(&one.join("sweep.csv"))).unwrap();
    assert!(csv.starts_with("cell,system,engram.placement,engram.prefetch_layers,batch.tokens,engram.rows_per_token,category,quantity,unit,value\n"));
    assert!(csv.lines().count() > 216 * 10);
    // Three shards, each in its own folder, merged.
    let shards: Vec<PathBuf> = (0..3)
        .map(|i| {
            let d = tmp(&format!("shard{i}"));
            let sm = go(&s, &r, &d, 2, Some(Shard { index: i, count: 3 }), None);
            assert_eq!(sm.owned_cells, 72);
            assert!(
                !d.join("sweep.csv").exists(),
                "a shard writes no final outputs"
            );
            d
        })
        .collect();
    let merged = tmp("merged");
    merge(&shards, &merged).unwrap();
    assert_eq!(a, outputs(&merged), "merged shards differ from one run");
    // Merging with a shard missing fails, naming the missing cells.
    let e = merge(&shards[..2], &tmp("partial"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("72 of 216 cells have no result"), "{e}");
}

#[test]
fn an_interrupted_sweep_resumes_without_redoing_cells() {
    let s = spec(BIG, "resume");
    let full = tmp("full");
    go(&s, &runner(), &full, 2, None, None);
    let dir = tmp("resume");
    let r = runner();
    let first = go(&s, &r, &dir, 2, None, Some(50));
    assert_eq!((first.ran, first.remaining), (50, 166));
    assert!(
        !dir.join("sweep.csv").exists(),
        "no final CSV from a partial run"
    );
    assert_eq!(r.runs.load(Ordering::SeqCst), 50);
    // A killed run leaves at most a temporary file beside a cell; simulate one.
    std::fs::write(dir.join("cells").join("junk.json.partial-1"), b"{").unwrap();
    let second = go(&s, &r, &dir, 2, None, None);
    assert_eq!((second.reused, second.ran, second.remaining), (50, 166, 0));
    assert_eq!(r.runs.load(Ordering::SeqCst), 216, "no cell ran twice");
    assert_eq!(read(&dir.join("sweep.csv")), read(&full.join("sweep.csv")));
    assert_eq!(read(&dir.join("cells.csv")), read(&full.join("cells.csv")));
    // A third run reuses everything.
    let third = go(&s, &r, &dir, 2, None, None);
    assert_eq!((third.reused, third.ran), (216, 0));
}

fn error_of(text: &str, name: &str) -> (String, usize) {
    let d = tmp(&format!("err-{name}"));
    let p = d.join("sweep.toml");
    std::fs::write(&p, text.replace("ECON", &econ_path())).unwrap();
    let r = runner();
    let reg = Registry::embedded().unwrap();
    let e = match SweepSpec::load(&p) {
        Err(e) => e,
        Ok(s) => match prepare(&s, &[&r as &dyn CellRunner], &reg) {
            Err(e) => e,
            Ok(_) => panic!("{name}: no error"),
        },
    };
    assert_eq!(r.runs.load(Ordering::SeqCst), 0);
    assert!(!d.join("cells").exists());
    (e.to_string(), e.line.unwrap_or(0))
}

fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn malformed_sweeps_fail_before_any_cell_naming_the_line() {
    // An unknown scenario key in an axis.
    let t = BIG.replace(
        "key = \"engram.rows_per_token\"",
        "key = \"engram.rows_per_tokn\"",
    );
    let (e, l) = error_of(&t, "unknown-axis-key");
    assert_eq!(l, line_of(&t, "rows_per_tokn"), "{e}");
    assert!(e.contains("rows_per_tokn"), "{e}");
    // An unknown key in the sweep file itself.
    let t = BIG.replace("[report]\n", "[report]\nexposed_limt = \"1 us\"\n");
    let (e, l) = error_of(&t, "unknown-file-key");
    assert_eq!(l, line_of(&t, "exposed_limt"), "{e}");
    // An empty axis.
    let t = BIG.replace("values = [2, 4, 8]", "values = []");
    let (e, l) = error_of(&t, "empty-axis");
    assert_eq!(l, line_of(&t, "values = []"), "{e}");
    // A system that does not exist.
    let t = BIG.replace("\"gb300-nvl72\"]", "\"gb400-nvl72\"]");
    let (e, l) = error_of(&t, "no-system");
    assert_eq!(l, line_of(&t, "key = \"system\""), "{e}");
    assert!(
        e.contains("gb400-nvl72") && e.contains("does not exist"),
        "{e}"
    );
    // A bad value for one cell only (NVMe on a system without drives).
    let t = BIG.replace("\"hgx-b200\",", "\"hgx-b200\", \"deepseek-h800-node\",");
    let (e, l) = error_of(&t, "no-drives");
    assert_eq!(l, line_of(&t, "key = \"engram.placement\""), "{e}");
    // An unknown key in the base scenario.
    let t = BIG.replace("rows_per_token = 8\n", "rows_per_token = 8\nrow_byts = 3\n");
    let (e, l) = error_of(&t, "base-key");
    assert_eq!(l, line_of(&t, "row_byts"), "{e}");
}

#[test]
fn every_plot_decodes_and_labels_its_axes_with_units() {
    let small = BIG
        .replace("values = [4, 8, 16, 32]", "values = [16, 64]")
        .replace("values = [2, 4, 8]", "values = [8]")
        .replace("values = [0, 1, 2]", "values = [1]")
        .replace(
            "values = [\"host-dram\", \"nvme\"]",
            "values = [\"host-dram\"]",
        );
    let s = spec(&small, "plots");
    let dir = tmp("plots");
    go(&s, &runner(), &dir, 2, None, None);
    let mut kinds = Vec::new();
    for e in std::fs::read_dir(dir.join("plots")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_stem().unwrap().to_string_lossy().into_owned();
        match p.extension().and_then(|x| x.to_str()) {
            Some("png") => {
                let dec = png::Decoder::new(std::fs::File::open(&p).unwrap());
                let mut r = dec.read_info().unwrap();
                let mut buf = vec![0; r.output_buffer_size()];
                let info = r.next_frame(&mut buf).unwrap();
                assert!(info.width >= 800 && info.height >= 400, "{name}");
            }
            Some("svg") => {
                let text = std::fs::read_to_string(&p).unwrap();
                let doc = roxmltree::Document::parse(&text).unwrap();
                let texts: Vec<String> = doc
                    .descendants()
                    .filter(|n| n.has_tag_name("text"))
                    .filter_map(|n| n.text().map(|t| t.trim().to_string()))
                    .collect();
                let with_unit = texts
                    .iter()
                    .filter(|t| t.contains('(') && t.ends_with(')'))
                    .count();
                // Bars, CDF: the value axis; charts and Pareto: both axes.
                assert!(
                    with_unit >= 1,
                    "{name}: no axis label with a unit in {texts:?}"
                );
                kinds.push(name);
            }
            _ => {}
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "chart-1-throughput",
            "exposed-cdf",
            "hidden-exposed",
            "pareto"
        ]
    );
    let md = std::fs::read_to_string(dir.join("summary.md")).unwrap();
    assert!(md.contains("Pareto frontier"), "{md}");
    let json: serde_json::Value = serde_json::from_slice(&read(&dir.join("summary.json"))).unwrap();
    assert_eq!(json["cell_count"], 6);
    // Every economics figure carries its basis and source into the summary.
    let src = |sys: &str| {
        json["economics"][sys]["hourly_usd"]["source"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(
        src("hgx-h200").starts_with("spec: AWS EC2 Capacity Blocks"),
        "{}",
        src("hgx-h200")
    );
    assert!(
        src("hgx-b200").starts_with("user: illustrative"),
        "{}",
        src("hgx-b200")
    );
}
