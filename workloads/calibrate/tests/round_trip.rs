//! Round trips: measurements rendered, in each tool's documented format, from the
//! simulator's own profile calibrate back to that profile's numbers.

use memwall_calibrate::{fio, nccl_tests, nvbandwidth, Overrides};
use memwall_models::collective::{predict, Collective};
use memwall_models::{Registry, SystemSpec};
use std::path::PathBuf;

/// nccl-tests text for an all-reduce sweep as the model predicts it on `sys`.
fn nccl_text(sys: &SystemSpec, ranks: u32) -> String {
    let mut s = String::from("# nThread 1 nGpus 8 minBytes 1024 maxBytes 8589934592 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1 validation: 1 graph: 0\n#\n# Using devices\n");
    for r in 0..ranks {
        s += &format!("#  Rank {r:2} Group  0 Pid  1000 on  node0 device {r:2} [0x{r:02x}] NVIDIA H100 80GB HBM3\n");
    }
    s += "#\n#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong\n";
    s += "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)\n";
    for shift in 10..=33 {
        let b = 1u64 << shift;
        let p = predict(sys, Collective::AllReduce, b, ranks, None, None).unwrap();
        let t = p.time_ps as f64 / 1e6;
        let (alg, bus) = (p.algbw() / 1e9, p.busbw() / 1e9);
        s += &format!(
            "{b:>12} {:>13}     float     sum      -1  {t:>7.2} {alg:>7.2} {bus:>7.2}      0  {t:>7.2} {alg:>7.2} {bus:>7.2}      0\n",
            b / 4
        );
    }
    s + "# Out of bounds values : 0 OK\n# Avg bus bandwidth    : 200.0\n#\n"
}

fn write_overrides(out: &Overrides, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("memwall-calibrate-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (file, text) in out.files(&["test".into()]) {
        std::fs::write(dir.join(file), text).unwrap();
    }
    dir
}

fn close(a: u64, b: u64, tol: f64) -> bool {
    (a as f64 / b as f64 - 1.0).abs() <= tol
}

#[test]
fn nccl_tests_all_reduce_round_trip() {
    let reg = Registry::embedded().unwrap();
    let sys = reg.system("dgx-h100").unwrap();
    let text = nccl_text(&sys, 8);
    let run = nccl_tests::parse(&text, "ar.txt").unwrap();
    assert_eq!(run.ranks, Some(8));
    assert_eq!(run.rows.len(), 24);
    let mut out = Overrides::new();
    let reps = nccl_tests::calibrate(
        &reg,
        &sys,
        Collective::AllReduce,
        &run,
        8,
        "ar.txt",
        &mut out,
    )
    .unwrap();
    let classes: Vec<&str> = reps.iter().map(|r| r.class.as_str()).collect();
    assert_eq!(classes, ["all-reduce ring LL", "all-reduce nvls Simple"]);
    for r in &reps {
        assert!(r.max_error_pct < 0.5, "{}", r.line());
    }
    let dir = write_overrides(&out, "nccl");
    let cal = Registry::with_user_paths(std::slice::from_ref(&dir)).unwrap();
    let before = sys
        .node
        .nvlink
        .as_ref()
        .unwrap()
        .link
        .collective
        .clone()
        .unwrap();
    let csys = cal.system("dgx-h100").unwrap();
    let after = csys
        .node
        .nvlink
        .as_ref()
        .unwrap()
        .link
        .collective
        .clone()
        .unwrap();
    let (n0, n1) = (before.nvls.unwrap(), after.nvls.unwrap());
    assert!(
        close(n1.latency_ps, n0.latency_ps, 0.01),
        "{} vs {}",
        n1.latency_ps,
        n0.latency_ps
    );
    assert!(
        close(n1.bandwidth, n0.bandwidth, 0.01),
        "{} vs {}",
        n1.bandwidth,
        n0.bandwidth
    );
    assert!(close(n1.chunk_overhead_ps, n0.chunk_overhead_ps, 0.02));
    let (l0, l1) = (before.ring.0[0].unwrap(), after.ring.0[0].unwrap());
    assert!(close(l1.base_latency_ps, l0.base_latency_ps, 0.01));
    assert!(close(
        l1.max_bus_bandwidth.unwrap(),
        l0.max_bus_bandwidth.unwrap(),
        0.01
    ));
    let text = std::fs::read_to_string(dir.join("nvlink4.toml")).unwrap();
    assert!(
        text.contains("basis = \"calibrated\", source = \"ar.txt\""),
        "{text}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn nvbandwidth_round_trip_and_spread() {
    let reg = Registry::embedded().unwrap();
    let sys = reg.system("dgx-h100").unwrap();
    let text = "nvbandwidth Version: v0.5\n\nRunning host_to_device_memcpy_ce.\nmemcpy CE CPU(row) -> GPU(column) bandwidth (GB/s)\n           0         1         2         3\n 0     50.00     52.00     50.00     52.00\n\nSUM host_to_device_memcpy_ce 204.00\n\nRunning device_to_device_memcpy_read_ce.\nmemcpy CE GPU(row) <- GPU(column) bandwidth (GB/s)\n           0         1\n 0       N/A    380.00\n 1    380.00       N/A\n\nSUM device_to_device_memcpy_read_ce 760.00\n";
    let tests = nvbandwidth::parse(text, "nvb.txt").unwrap();
    assert_eq!(tests.len(), 2);
    let mut out = Overrides::new();
    let reps = nvbandwidth::calibrate(&reg, &sys, &tests, "nvb.txt", &mut out).unwrap();
    assert_eq!(reps.len(), 2);
    // 51 against 50 and 52: 2% at most.
    assert!(
        (reps[0].max_error_pct - 2.0).abs() < 1e-9,
        "{}",
        reps[0].line()
    );
    let dir = write_overrides(&out, "nvb");
    let cal = Registry::with_user_paths(std::slice::from_ref(&dir)).unwrap();
    let csys = cal.system("dgx-h100").unwrap();
    assert_eq!(
        csys.node.gpus[0].host_link.bandwidth.achievable,
        51_000_000_000
    );
    assert_eq!(
        csys.node.nvlink.unwrap().link.bandwidth.achievable,
        380_000_000_000
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn fio_round_trip() {
    let reg = Registry::embedded().unwrap();
    let sys = reg.system("dgx-h100").unwrap();
    let d = sys.node.drive.clone().unwrap();
    let json = format!(
        r#"{{"fio version": "fio-3.36", "global options": {{"bs": "4k", "direct": "1"}},
        "jobs": [
          {{"jobname": "seq", "job options": {{"rw": "read", "bs": "1M", "iodepth": "64"}}, "read": {{"bw_bytes": {}, "iops": 1000.0, "lat_ns": {{"mean": 500000.0}}}}}},
          {{"jobname": "qd1", "job options": {{"rw": "randread", "iodepth": "1"}}, "read": {{"bw_bytes": 50000000, "iops": 12000.0, "lat_ns": {{"mean": {}}}}}}},
          {{"jobname": "qd256", "job options": {{"rw": "randread", "iodepth": "256"}}, "read": {{"bw_bytes": 9000000000, "iops": {}, "lat_ns": {{"mean": 90000.0}}}}}}
        ]}}"#,
        d.seq_read,
        d.read_latency_qd1_ps as f64 / 1000.0,
        d.random_read_iops
    );
    let jobs = fio::parse(&json, "fio.json").unwrap();
    let mut out = Overrides::new();
    let reps = fio::calibrate(&reg, &sys, &jobs, "fio.json", &mut out).unwrap();
    assert_eq!(reps.len(), 3);
    let dir = write_overrides(&out, "fio");
    let cal = Registry::with_user_paths(std::slice::from_ref(&dir)).unwrap();
    let c = cal.system("dgx-h100").unwrap().node.drive.unwrap();
    assert_eq!(c.seq_read, d.seq_read);
    assert_eq!(c.read_latency_qd1_ps, d.read_latency_qd1_ps);
    assert_eq!(c.random_read_iops, d.random_read_iops);
    std::fs::remove_dir_all(dir).unwrap();
    assert!(fio::parse("{", "bad.json").is_err());
}
