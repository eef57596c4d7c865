//! Op-time queries per second on one core (`cargo bench -p memwall-models --bench cost`):
//! sweeps and serving ask the cost model for every layer of every step, so a query must
//! cost well under a microsecond. A fixed mix of GEMMs (prefill and decode shapes, four
//! dtypes), attention (prefill and decode) and memory-bound ops, on a resolved H100.

use memwall_models::cost::{Attention, Gemm, MemoryOp, Phase};
use memwall_models::perf::{Dtype, HwRates};
use memwall_models::Registry;
use std::hint::black_box;
use std::time::Instant;

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// One query of the mix, chosen by `x`; returns the predicted picoseconds.
fn query(r: &HwRates, x: u64) -> u64 {
    let m = 1 + x % 16_384;
    let n = 128 << ((x >> 20) % 7);
    let k = 256 << ((x >> 24) % 6);
    let dtype = [Dtype::Bf16, Dtype::Fp8, Dtype::Tf32, Dtype::Fp32][(x >> 30) as usize % 4];
    match (x >> 40) % 4 {
        0 | 1 => Gemm {
            m,
            n,
            k,
            batch: 1,
            dtype,
        }
        .time(r)
        .map_or(0, |t| t.ps),
        2 => Attention {
            batch: 1 + (x >> 8) % 64,
            q_len: if x & 1 == 0 { 1 } else { m },
            kv_len: m + 1024,
            heads: 32,
            kv_heads: 8,
            head_dim: 128,
            v_head_dim: 128,
            phase: if x & 1 == 0 {
                Phase::Decode
            } else {
                Phase::Prefill
            },
            causal: x & 1 == 1,
            dtype: Dtype::Bf16,
        }
        .time(r)
        .map_or(0, |t| t.ps),
        _ => {
            MemoryOp {
                bytes: (m * n) as u128,
            }
            .time(r)
            .ps
        }
    }
}

fn main() {
    let reg = Registry::embedded().expect("shipped profiles resolve");
    let r = HwRates::from_system(&reg.system("dgx-h100").expect("shipped system"));
    let queries = 5_000_000u64;
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let t0 = Instant::now();
    let mut sum = 0u64;
    for _ in 0..queries {
        sum = sum.wrapping_add(query(&r, xorshift(&mut x)));
    }
    let secs = t0.elapsed().as_secs_f64();
    black_box(sum);
    println!(
        "op cost queries: {queries} in {secs:.3} s = {:.2} M queries/s (one core)",
        queries as f64 / secs / 1e6
    );
}
