//! Sweep speed-up: a 216-cell engram-fetch sweep (3 systems x 2 placements x 3 prefetch
//! depths x 4 batch sizes x 3 row counts) at 1 and 2 threads, from empty folders; checks
//! the CSVs are byte-identical and prints wall times.
//!
//! cargo bench -p memwall-sweep --bench threads

use memwall_models::Registry;
use memwall_sweep::runners::engram_fetch::EngramFetch;
use memwall_sweep::{prepare, run, CellRunner, SweepOptions, SweepSpec};
use std::path::Path;

const SWEEP: &str = r#"
[sweep]
name = "bench"
runner = "engram-fetch"
[base]
system = "hgx-h200"
steps = 16
[base.model]
layers = 8
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
values = [8, 16, 32, 64]
[[axis]]
key = "engram.rows_per_token"
values = [8, 16, 32]
"#;

fn main() {
    let dir = std::env::temp_dir().join(format!("memwall-sweep-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let spec = SweepSpec::parse(&dir.join("bench.toml"), SWEEP).unwrap();
    let reg = Registry::embedded().unwrap();
    let r = EngramFetch::new(reg.clone(), String::new());
    let (prep, _) = prepare(&spec, &[&r as &dyn CellRunner], &reg).unwrap();
    let mut csvs = Vec::new();
    let mut times = Vec::new();
    for threads in [1usize, 2] {
        let out = dir.join(format!("t{threads}"));
        let s = run(
            &prep,
            &r,
            &SweepOptions {
                out: out.clone(),
                threads: Some(threads),
                ..Default::default()
            },
        )
        .unwrap();
        let t = s.wall.as_secs_f64();
        println!(
            "{} cells, {threads} thread(s): {t:.2} s ({:.1} ms/cell)",
            s.ran,
            t * 1e3 / s.ran as f64
        );
        times.push(t);
        csvs.push(std::fs::read(Path::new(&out).join("sweep.csv")).unwrap());
    }
    println!("speed-up at 2 threads: {:.2}x", times[0] / times[1]);
    assert_eq!(csvs[0], csvs[1], "CSV differs between 1 and 2 threads");
    println!(
        "sweep.csv byte-identical at 1 and 2 threads ({} bytes)",
        csvs[0].len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
