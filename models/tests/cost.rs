//! The op cost model: closed forms on a shipped profile, and the invariants every
//! prediction keeps (monotone in the problem size, never faster than the dtype's peak
//! rate or the HBM bandwidth, never under the kernel floor).

use memwall_models::cost::{Attention, Bound, Gemm, GroupedGemm, MemoryOp, Phase};
use memwall_models::perf::{Dtype, HwRates};
use memwall_models::Registry;
use memwall_models::SystemSpec;
use memwall_sim::PS_PER_SEC;
use proptest::prelude::*;
use std::sync::LazyLock;

/// Four systems of different vendors and generations, and a calibrated H100, resolved
/// once.
static SYSTEMS: LazyLock<Vec<(SystemSpec, HwRates)>> = LazyLock::new(|| {
    let reg = Registry::embedded().unwrap();
    ["dgx-h100", "hgx-b200", "hgx-a100", "mi300x-platform"]
        .iter()
        .map(|n| {
            let s = reg.system(n).unwrap();
            let r = HwRates::from_system(&s);
            (s, r)
        })
        .chain(std::iter::once(calibrated_h100(&reg)))
        .collect()
});

/// The H100 with the numbers `memwall calibrate --kineto` fits to the TraceLens
/// timesformer trace (docs/calibrate.md §3): memory-bound kernels and memory-bound GEMMs
/// each at their own effective bandwidth, a third of the HBM's.
fn calibrated_h100(reg: &Registry) -> (SystemSpec, HwRates) {
    let s = reg.system("dgx-h100").unwrap();
    let mut r = HwRates::from_system(&s);
    r.kernels.memory_bw = Some(1_135_000_000_000);
    r.kernels.gemm_memory_bw = Some(1_131_000_000_000);
    (s, r)
}

fn h100() -> HwRates {
    let reg = Registry::embedded().unwrap();
    HwRates::from_system(&reg.system("dgx-h100").unwrap())
}

fn gemm(m: u64, n: u64, k: u64, dtype: Dtype) -> Gemm {
    Gemm {
        m,
        n,
        k,
        batch: 1,
        dtype,
    }
}

#[test]
fn large_gemm_is_compute_bound_at_the_achievable_rate_with_whole_waves() {
    let r = h100();
    // 8192^3 BF16: 64 x 64 tiles of 128 = 4,096 tiles, 32 waves over 132 SMs (4,224 tile
    // slots): 2 * 8192^3 * 4224/4096 FLOP at 692.3 TFLOPS.
    let t = gemm(8192, 8192, 8192, Dtype::Bf16).time(&r).unwrap();
    assert_eq!(t.bound, Bound::Compute);
    let rate = r.bf16.unwrap() as u128;
    let want = (2u128 * 8192 * 8192 * 8192 * 4224 / 4096 * PS_PER_SEC as u128).div_ceil(rate);
    assert_eq!(t.ps as u128, want);
}

#[test]
fn skinny_gemm_is_memory_bound_and_tiny_ops_sit_on_the_floor() {
    let r = h100();
    // decode GEMV: 1 x 8192 x 8192 reads the 128 MiB weight.
    let t = gemm(1, 8192, 8192, Dtype::Bf16).time(&r).unwrap();
    assert_eq!(t.bound, Bound::Memory);
    assert!(t.bytes >= 2 * 8192 * 8192);
    let tiny = gemm(4, 4, 4, Dtype::Bf16).time(&r).unwrap();
    assert_eq!((tiny.bound, tiny.ps), (Bound::Floor, r.kernels.floor_ps));
    let small = MemoryOp { bytes: 1024 }.time(&r);
    assert_eq!(small.bound, Bound::Floor);
    let big = MemoryOp { bytes: 1 << 30 }.time(&r);
    assert_eq!(big.bound, Bound::Memory);
}

#[test]
fn fp32_gemms_use_the_fp32_rate_and_tf32_its_own() {
    let r = h100();
    let f32 = gemm(8192, 8192, 8192, Dtype::Fp32).time(&r).unwrap();
    let tf32 = gemm(8192, 8192, 8192, Dtype::Tf32).time(&r).unwrap();
    let bf16 = gemm(8192, 8192, 8192, Dtype::Bf16).time(&r).unwrap();
    assert_eq!(f32.dtype, Some(Dtype::Fp32));
    assert!(
        f32.ps > 7 * tf32.ps && tf32.ps > bf16.ps,
        "{f32:?} {tf32:?} {bf16:?}"
    );
}

#[test]
fn grouped_gemm_pays_for_imbalance_and_touched_experts() {
    let r = h100();
    let even = GroupedGemm::routed(8192, 32, 1.0, 2048, 7168, Dtype::Fp8);
    let skew = GroupedGemm::routed(8192, 32, 4.0, 2048, 7168, Dtype::Fp8);
    assert_eq!(even.tokens.iter().sum::<u64>(), 8192);
    assert_eq!(skew.tokens.iter().sum::<u64>(), 8192);
    assert_eq!(skew.tokens[0], 1024);
    let (te, ts) = (even.time(&r).unwrap(), skew.time(&r).unwrap());
    assert!(ts.ps >= te.ps, "{te:?} {ts:?}");
    // every touched expert's weight is read once
    assert!(te.bytes >= 32 * 2048 * 7168);
}

#[test]
fn attention_prefill_is_compute_bound_and_decode_reads_the_cache() {
    let r = h100();
    let pre = Attention {
        batch: 1,
        q_len: 8192,
        kv_len: 8192,
        heads: 32,
        kv_heads: 8,
        head_dim: 128,
        v_head_dim: 128,
        phase: Phase::Prefill,
        causal: true,
        dtype: Dtype::Bf16,
    };
    let t = pre.time(&r).unwrap();
    assert_eq!(t.bound, Bound::Compute);
    // causal: 8192 * (8192 - 8191/2) = 8192 * 4097 key visits per head
    assert_eq!(t.flops, 2 * 32 * 8192 * 4097 * 256);
    let dec = Attention {
        q_len: 1,
        batch: 64,
        phase: Phase::Decode,
        ..pre
    };
    let d = dec.time(&r).unwrap();
    assert_eq!(d.bound, Bound::Memory);
    assert!(d.bytes >= 64 * 8192 * 8 * 256 * 2);
}

fn dtypes() -> impl Strategy<Value = Dtype> {
    prop_oneof![
        Just(Dtype::Bf16),
        Just(Dtype::Fp8),
        Just(Dtype::Fp4),
        Just(Dtype::Tf32),
        Just(Dtype::Fp32)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// A GEMM never gets faster when M, N or K grows, and never beats the dtype's peak
    /// rate or the HBM's peak bandwidth.
    #[test]
    fn gemm_is_monotone_and_bounded(
        m in 1u64..20_000, n in 1u64..20_000, k in 1u64..20_000,
        dm in 0u64..3000, dn in 0u64..3000, dk in 0u64..3000,
        dtype in dtypes(), sys in 0usize..5,
    ) {
        let (spec, r) = &SYSTEMS[sys];
        let Ok(t) = gemm(m, n, k, dtype).time(r) else {
            return Ok(());
        };
        for g in [gemm(m + dm, n, k, dtype), gemm(m, n + dn, k, dtype), gemm(m, n, k + dk, dtype)] {
            let u = g.time(r).unwrap();
            prop_assert!(u.ps >= t.ps, "{g:?} {u:?} faster than {t:?}");
        }
        let g = &spec.node.gpu;
        let used = t.dtype.unwrap();
        let peak = match used {
            Dtype::Bf16 => g.compute.bf16, Dtype::Fp8 => g.compute.fp8,
            Dtype::Fp4 => g.compute.fp4, Dtype::Tf32 => g.compute.tf32,
            Dtype::Fp32 => g.compute.fp32,
        }.unwrap().peak as u128;
        let secs = |amount: u128, rate: u128| amount * PS_PER_SEC as u128 / rate;
        prop_assert!(t.ps as u128 >= secs(t.flops, peak));
        prop_assert!(t.ps as u128 >= secs(t.bytes, g.hbm_bandwidth.peak as u128));
        prop_assert!(t.ps >= r.kernels.floor_ps);
    }
}
