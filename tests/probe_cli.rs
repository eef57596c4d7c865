//! `memwall probe gemm|attention`: the op cost model from the command line, one row per
//! op with the columns the issue names, CSV on request, and clear errors.

use std::process::Command;

fn memwall(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_memwall"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn gemm_probe_prints_time_tflops_and_bound() {
    let args = [
        "probe", "--system", "dgx-h100", "gemm", "--m", "8192", "--n", "8192",
    ];
    let (ok, out, err) = memwall(&[&args[..], &["--k", "8192", "--csv", "-"]].concat());
    assert!(ok, "{err}");
    let mut lines = out.lines();
    assert_eq!(
        lines.next().unwrap(),
        "m,n,k,batch,time_us,tflops,bound,dtype,hbm_bytes"
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(row[6], "compute");
    let tflops: f64 = row[5].parse().unwrap();
    // below the H100's 989 TFLOPS BF16 peak, near its 692 achievable
    assert!(tflops > 550.0 && tflops < 700.0, "{tflops}");
    // a GEMV is HBM-bound; FP32 runs on the FP32 rate
    let (ok, out, _) = memwall(&[
        "probe", "--system", "dgx-h100", "gemm", "--m", "1", "--n", "8192", "--k", "8192",
        "--dtype", "fp32", "--csv", "-",
    ]);
    assert!(ok);
    assert!(
        out.lines().nth(1).unwrap().contains(",memory,fp32,"),
        "{out}"
    );
}

#[test]
fn attention_probe_prefill_and_decode() {
    let base = [
        "probe",
        "--system",
        "deepseek-h800-node",
        "attention",
        "--batch",
        "8",
        "--heads",
        "32",
        "--kv-heads",
        "8",
        "--head-dim",
        "128",
    ];
    let (ok, out, err) = memwall(&[&base[..], &["--q-len", "4096", "--kv-len", "4096"]].concat());
    assert!(ok, "{err}");
    assert!(out.contains("prefill attention on one h800"), "{out}");
    assert!(out.contains("compute"), "{out}");
    let dec = ["--q-len", "1", "--kv-len", "32768", "--phase", "decode"];
    let (ok, out, err) = memwall(&[&base[..], &dec[..]].concat());
    assert!(ok, "{err}");
    assert!(
        out.contains("decode attention") && out.contains("memory"),
        "{out}"
    );
}

#[test]
fn bad_op_arguments_are_clear_errors() {
    let (ok, _, err) = memwall(&[
        "probe", "--system", "dgx-h100", "gemm", "--m", "0", "--n", "4", "--k", "4",
    ]);
    assert!(!ok);
    assert!(err.contains("m must be at least 1"), "{err}");
    let (ok, _, err) = memwall(&[
        "probe", "--system", "dgx-h100", "gemm", "--m", "4", "--n", "4", "--k", "4", "--dtype",
        "int3",
    ]);
    assert!(!ok);
    assert!(err.contains("unknown dtype \"int3\""), "{err}");
}
