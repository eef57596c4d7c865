//! Kineto import benchmark (custom harness, one thread).
//!
//! `cargo bench -p memwall-workloads --bench kineto [-- MB]`
//!
//! 1. Import rate of uncompressed JSON from memory, on a synthetic trace built by repeating
//!    real-looking events (a cpu_op, python frames, a runtime call with its ac2g flow, a
//!    kernel; one NCCL kernel and one memcpy per block), and on the two MIT real traces.
//! 2. Peak memory: the synthetic trace is written to a temporary file and imported from
//!    disk at two sizes; the growth of the process's peak RSS (VmHWM) is reported next to the
//!    file size and the number of ops kept.

use std::io::{Read, Write};
use std::time::Instant;

use memwall_kineto::{import_bytes, import_file};

fn block(i: u64, out: &mut String) {
    use std::fmt::Write as _;
    let t = 1_711_964_646_000u64 * 1000 + i * 40; // epoch us
    let c = 1000 + i * 3;
    write!(
        out,
        r#"{{"ph": "X", "cat": "python_function", "name": "torch/nn/modules/module.py(1501): _call_impl", "pid": 2910249, "tid": 2910249, "ts": {t}.101, "dur": 35.5, "args": {{"Python parent id": {p}, "Python id": {q}, "Ev Idx": {i}}}}},
{{"ph": "X", "cat": "cpu_op", "name": "aten::addmm", "pid": 2910249, "tid": 2910249, "ts": {t1}.250, "dur": 20.125, "args": {{"External id": {c}, "Record function id": 0, "Sequence number": {i}, "Fwd thread id": 0, "Ev Idx": {i}, "Input Dims": [[4096, 7168], [7168, 2048], []], "Input type": ["c10::BFloat16", "c10::BFloat16", ""], "Input Strides": [[7168, 1], [1, 7168], []], "Concrete Inputs": ["", "", ""]}}}},
{{"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": 2910249, "tid": 2910249, "ts": {t2}.5, "dur": 4.75, "args": {{"External id": {c}, "cbid": 211, "correlation": {c}}}}},
{{"ph": "s", "id": {c}, "pid": 2910249, "tid": 2910249, "ts": {t2}.5, "cat": "ac2g", "name": "ac2g"}},
{{"ph": "X", "cat": "kernel", "name": "void cutlass::Kernel2<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8>(cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8::Params)", "pid": 0, "tid": 7, "ts": {t3}.422, "dur": 31.9, "args": {{"External id": {c}, "queued": 0, "device": 0, "context": 1, "stream": 7, "correlation": {c}, "registers per thread": 230, "shared memory": 73728, "blocks per SM": 2.370370, "warps per SM": 9.481482, "grid": [4, 64, 1], "block": [128, 1, 1], "est. achieved occupancy %": 6}}}},
{{"ph": "f", "id": {c}, "pid": 0, "tid": 7, "ts": {t3}.422, "cat": "ac2g", "name": "ac2g", "bp": "e"}},
"#,
        p = i * 2,
        q = i * 2 + 1,
        t1 = t + 5,
        t2 = t + 10,
        t3 = t + 30,
    )
    .expect("writing to a String cannot fail");
    if i & 7 == 0 {
        write!(
            out,
            r#"{{"ph": "X", "cat": "kernel", "name": "ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)", "pid": 0, "tid": 40, "ts": {t}.017, "dur": 26.6, "args": {{"External id": {c}, "queued": 0, "device": 0, "context": 1, "stream": 40, "correlation": {c1}, "grid": [8, 1, 1], "block": [544, 1, 1], "Collective name": "allreduce", "In msg nelems": 6637568, "Out msg nelems": 6637568, "Group size": 2, "dtype": "Float", "In split size": "[]", "Out split size": "[]", "Process Group Name": "0", "Process Group Description": "default_pg", "Process Group Ranks": "[0, 1]"}}}},
{{"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy DtoD (Device -> Device)", "pid": 0, "tid": 7, "ts": {t4}.431, "dur": 5.088, "args": {{"External id": {c}, "device": 0, "context": 1, "stream": 7, "correlation": {c2}, "bytes": 4000, "memory bandwidth (GB/s)": 0.7861635220125787}}}},
"#,
            c1 = c + 1,
            c2 = c + 2,
            t4 = t + 39,
        )
        .expect("writing to a String cannot fail");
    }
}

fn synth(target_bytes: usize) -> (Vec<u8>, u64) {
    let mut s = String::with_capacity(target_bytes + 4096);
    s.push_str(r#"{"schemaVersion": 1, "deviceProperties": [{"id": 0, "name": "NVIDIA A100-SXM4-80GB", "totalGlobalMem": 85045559296, "numSms": 108}], "traceEvents": ["#);
    s.push('\n');
    let mut i = 0u64;
    while s.len() < target_bytes {
        block(i, &mut s);
        i += 1;
    }
    s.push_str(r#"{"name": "process_name", "ph": "M", "ts": 0, "pid": 0, "tid": 0, "args": {"name": "GPU 0"}}"#);
    s.push_str("\n], \"traceName\": \"synthetic\"}\n");
    (s.into_bytes(), i)
}

/// Resets the peak-RSS counter, or says why not.
fn reset_hwm() {
    if let Err(e) = memwall_io::process::reset_peak_rss() {
        eprintln!("(peak RSS not reset: {e}; the peak shown includes earlier runs)");
    }
}

/// Reports a temporary file or folder that could not be removed.
fn remove_or_warn(r: std::io::Result<()>, path: &std::path::Path) {
    if let Err(e) = r {
        eprintln!("could not remove {}: {e}", path.display());
    }
}

fn rate(bytes: &[u8], name: &str, reps: usize) {
    let mut best = f64::INFINITY;
    let mut ops = 0;
    for _ in 0..reps {
        let t = Instant::now();
        let g = import_bytes(bytes, name).expect("import");
        best = best.min(t.elapsed().as_secs_f64());
        ops = g.ops.len();
    }
    let mb = bytes.len() as f64 / 1e6;
    println!(
        "import {name:<36} {mb:8.1} MB  {ops:8} ops  best {:7.3} s  {:7.1} MB/s",
        best,
        mb / best
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mb: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(200);

    println!("== peak memory while importing from a file (VmHWM growth over the RSS before)");
    let dir = std::env::temp_dir().join(format!("memwall-kineto-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for size in [mb / 4, mb] {
        let path = dir.join(format!("synthetic-{size}MB.json"));
        {
            let (bytes, _) = synth(size * 1_000_000);
            let mut f = std::fs::File::create(&path).unwrap();
            f.write_all(&bytes).unwrap();
        }
        let file_mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;
        reset_hwm();
        let before = memwall_io::process::rss_kib().unwrap_or(0);
        let t = Instant::now();
        let g = import_file(&path).expect("import");
        let s = t.elapsed().as_secs_f64();
        let peak = memwall_io::process::peak_rss_kib().unwrap_or(0);
        let ops = g.ops.len();
        let grown = peak.saturating_sub(before) as f64 / 1024.0;
        println!(
            "file {file_mb:8.1} MB: {ops:8} ops kept, peak RSS growth {grown:7.1} MiB ({:.0} B/op, {:.3} of file size), {:.1} MB/s from disk; GpuOp is {} B",
            grown * 1024.0 * 1024.0 / ops.max(1) as f64,
            grown * 1.048576 / file_mb,
            file_mb / s,
            std::mem::size_of::<memwall_kineto::GpuOp>()
        );
        drop(g);
        remove_or_warn(std::fs::remove_file(&path), &path);
    }
    remove_or_warn(std::fs::remove_dir(&dir), &dir);

    println!("== import rate, uncompressed JSON in memory, one thread");
    let (big, blocks) = synth(mb * 1_000_000);
    println!(
        "synthetic trace: {} events blocks, {:.1} MB",
        blocks,
        big.len() as f64 / 1e6
    );
    rate(&big, "synthetic", 3);
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/traces");
    for f in [
        "hta-a100-ddp-nccl.json.gz",
        "tracelens-b200-vllm-prefill.json.gz",
    ] {
        let mut raw = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(fixtures.join(f)).unwrap())
            .read_to_end(&mut raw)
            .unwrap();
        rate(&raw, f, 5);
        let gz = std::fs::read(fixtures.join(f)).unwrap();
        let t = Instant::now();
        import_bytes(&gz, f).unwrap();
        let s = t.elapsed().as_secs_f64();
        println!(
            "import {:<36} (gzip, counted in uncompressed MB) {:7.1} MB/s",
            f,
            raw.len() as f64 / 1e6 / s
        );
    }
    drop(big);
}
