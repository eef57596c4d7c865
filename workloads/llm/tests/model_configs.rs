//! Model configs and derived quantities against hand-computed values from the notes.

use memwall_llm::{
    builtin, builtin_models, engram::EngramDims, mhc, Dtype, LayerKind, ModelConfig, ModelError,
    Pass, StepShape,
};

fn within(got: u64, want: f64, rel: f64) -> bool {
    ((got as f64) - want).abs() <= want * rel
}

#[test]
fn all_builtins_parse() {
    for (name, _) in builtin_models() {
        let m = builtin(name).unwrap();
        assert_eq!(m.name, name);
        m.total_params().unwrap();
    }
    assert!(matches!(builtin("gpt-9"), Err(ModelError::Unknown(..))));
}

#[test]
fn published_parameter_counts() {
    // (model, total, active, tolerance)
    let cases = [
        ("deepseek-v3", 671e9, 37e9, 0.02),
        ("deepseek-v4-flash", 284e9, 13e9, 0.03),
        ("deepseek-v4-pro", 1.6e12, 49e9, 0.05),
        ("mhc-3b", 2.97e9, 612e6, 0.01),
        ("mhc-9b", 9.18e9, 1.66e9, 0.02),
        ("mhc-27b", 27.0e9, 4.14e9, 0.02),
        ("qwen3-4b-dense", 4.02e9, 4.02e9, 0.02),
    ];
    for (name, total, active, tol) in cases {
        let m = builtin(name).unwrap();
        let t = m.total_params().unwrap() - m.mhc_params() * m.num_layers as u64;
        let a = m.active_params_per_token().unwrap() - m.mhc_params() * m.num_layers as u64;
        assert!(within(t, total, tol), "{name} total {t}");
        assert!(within(a, active, tol), "{name} active {a}");
    }
}

#[test]
fn v3_layer_shapes() {
    let m = builtin("deepseek-v3").unwrap();
    assert_eq!(m.layer_kind(2).unwrap(), LayerKind::DenseFfn);
    assert_eq!(m.layer_kind(3).unwrap(), LayerKind::Moe);
    assert!(m.layer_kind(61).is_err());
    // MLA KV cache: (512 + 64) x 2 B x 61 layers = 70,272 B (ISCA'25 Table 1).
    let kv: u64 = (0..61)
        .map(|l| m.kv_cache_bytes_per_token(l).unwrap())
        .sum();
    assert_eq!(kv, 70_272);
    // attention params per layer: 11.0M + 37.7M + 4.13M + 16.8M + 117.4M
    assert_eq!(m.attention_params(), 187_105_280);
    // MoE FFN of one token: 9 experts x 3 x 7168 x 2048 x 2 FLOPs + router
    let f = m
        .layer_forward_flops(10, Pass::Decode { context_len: 0 })
        .unwrap();
    assert_eq!(f.mlp_flops, 2 * (9 * 3 * 7168 * 2048 + 7168 * 256));
    // no mHC on V3: plain residual, message = T x C x 2 B
    assert_eq!(m.pipeline_message_bytes(4096).unwrap(), 4096 * 7168 * 2);
    assert_eq!(f.mhc_flops, 0);
}

#[test]
fn v3_training_flops_per_token_near_isca_figure() {
    // ISCA'25 Table 2: 250 GFLOPs per token for training at 4K sequence length.
    let m = builtin("deepseek-v3").unwrap();
    let per_token = m.training_flops(4096).unwrap() as f64 / 4096.0;
    assert!((220e9..290e9).contains(&per_token), "{per_token}");
}

#[test]
fn attention_cost_grows_with_context() {
    let m = builtin("deepseek-v3").unwrap();
    let a = m
        .layer_forward_flops(5, Pass::Decode { context_len: 1000 })
        .unwrap();
    let b = m
        .layer_forward_flops(5, Pass::Decode { context_len: 2000 })
        .unwrap();
    assert!(b.attention_core_flops > a.attention_core_flops);
    // decode, absorbed MLA: 2 x 128 x (2 x 512 + 64) x (ctx + 1)
    assert_eq!(a.attention_core_flops, 2 * 128 * (2 * 512 + 64) * 1001);
    // prefill of T tokens: keys sum T(T+1)/2; naive MLA 2 x 128 x (128 + 64 + 128)
    let p = m
        .layer_forward_flops(5, Pass::Prefill { tokens: 100 })
        .unwrap();
    assert_eq!(p.attention_core_flops, 2 * 128 * 320 * 5050);
}

#[test]
fn v4_compressed_attention() {
    let m = builtin("deepseek-v4-flash").unwrap();
    // Layers 0-1 SWA (no cache growth), CSA at even layers from 2, HCA at odd.
    assert_eq!(m.kv_cache_bytes_per_token(0).unwrap(), 0);
    assert_eq!(m.kv_cache_bytes_per_token(2).unwrap(), (576 + 68) / 4);
    assert_eq!(m.kv_cache_bytes_per_token(3).unwrap(), 5); // ceil(576 / 128)
    let total: u64 = (0..43)
        .map(|l| m.kv_cache_bytes_per_token(l).unwrap())
        .sum();
    // notes: about 3.47 KB per token
    assert!((3300..3600).contains(&total), "{total}");
    // SWA ring: 128 x 576 B x 43 layers = 3.17 MB
    assert_eq!(m.swa_state_bytes_per_sequence(), 128 * 576 * 43);
    // At 1M context a CSA layer attends to window + top-k, not the whole context.
    let d = m
        .layer_forward_flops(
            2,
            Pass::Decode {
                context_len: 1 << 20,
            },
        )
        .unwrap();
    assert_eq!(d.attention_core_flops, 2 * 64 * 512 * 2 * (128 + 512));
    assert_eq!(d.indexer_flops, 2 * 64 * 128 * (((1u64 << 20) + 1) / 4));
    let h = m
        .layer_forward_flops(
            3,
            Pass::Decode {
                context_len: 1 << 20,
            },
        )
        .unwrap();
    assert_eq!(
        h.attention_core_flops,
        2 * 64 * 512 * 2 * (128 + ((1u64 << 20) + 1) / 128)
    );
    let s = m
        .layer_forward_flops(
            0,
            Pass::Decode {
                context_len: 1 << 20,
            },
        )
        .unwrap();
    assert_eq!(s.attention_core_flops, 2 * 64 * 512 * 2 * 128);
    // mHC weights: 24 x 4d fp32 per site, 1.5 MiB (Flash)
    assert_eq!(mhc::site_params(4096, 4) - 24 - 3, 24 * 4 * 4096);
}

#[test]
fn mhc_traffic_matches_notes() {
    // §2.3 worked numbers at n = 4, bf16: std 43.0 KB, HC unfused 487.5 KB, mHC 258.0 KB.
    assert_eq!(mhc::plain_residual_io_bytes(7168, Dtype::Bf16), 43_008);
    assert_eq!(
        mhc::fused_residual_io(7168, 4, Dtype::Bf16).stream_bytes,
        258_048
    );
    assert_eq!(
        mhc::unfused_hc_residual_io(7168, 4, Dtype::Bf16).stream_bytes,
        487_520
    );
    assert_eq!(
        mhc::fused_residual_io(1280, 4, Dtype::Bf16).stream_bytes,
        46_080
    );
    assert_eq!(
        mhc::fused_residual_io(2560, 4, Dtype::Bf16).stream_bytes,
        92_160
    );
    // coefficient GEMM 2 nC (n^2 + 2n) = 1.38 MFLOP at C = 7168
    assert_eq!(2 * 4 * 7168 * 24, 1_376_256);
    assert!(mhc::site_forward_flops(7168, 4, 20) > 1_376_256);
    // PP message: 4096 x 4 x 7168 x 2 B = 224 MiB (§2.7)
    assert_eq!(
        mhc::pipeline_message_bytes(4096, 7168, 4, Dtype::Bf16).unwrap(),
        224 << 20
    );
    assert_eq!(
        mhc::pipeline_message_bytes(4096, 2560, 4, Dtype::Bf16).unwrap(),
        80 << 20
    );
    // mHC-27B config: message n-fold
    let m = builtin("mhc-27b").unwrap();
    assert_eq!(m.pipeline_message_bytes(4096).unwrap(), 80 << 20);
    // phi params: 96 C per site; 27B: 60 sites -> 14.7M
    assert_eq!((mhc::site_params(2560, 4) - 27) * 60, 14_745_600);
    // L_r* = sqrt(nL/(n+2)): L = 60 -> 6.3, L = 122 -> 9.0
    assert!((mhc::optimal_recompute_block(4, 60) - 6.32).abs() < 0.01);
    assert!((mhc::optimal_recompute_block(4, 122) - 9.02).abs() < 0.01);
}

#[test]
fn mhc_activation_memory_matches_notes() {
    // §2.4: V3-size, L_r = 8 sites, 4096 tokens, bf16: ~0.18 GB extra per chunk,
    // ~3 GB at 17 chunks, transient ~2.8 GB.
    let a = mhc::activation_memory(
        7168,
        4,
        8,
        4096,
        17,
        Dtype::Bf16,
        mhc::RecomputePolicy::BlockRecompute { sites_per_block: 8 },
    )
    .unwrap();
    assert_eq!(a.extra_over_plain_bytes_per_chunk, 3 * 7168 * 4096 * 2);
    assert!(within(a.extra_over_plain_bytes_per_chunk * 17, 3.0e9, 0.02));
    assert_eq!(a.transient_peak_bytes, 6 * 7168 * 8 * 4096 * 2);
    let none = mhc::activation_memory(
        7168,
        4,
        8,
        4096,
        17,
        Dtype::Bf16,
        mhc::RecomputePolicy::None,
    )
    .unwrap();
    assert_eq!(none.resident_bytes_per_chunk, 5 * 7168 * 8 * 4096 * 2);
    assert_eq!(none.transient_peak_bytes, 0);
    assert!(mhc::activation_memory(
        1,
        4,
        8,
        1,
        1,
        Dtype::Bf16,
        mhc::RecomputePolicy::BlockRecompute { sites_per_block: 0 }
    )
    .is_err());
}

#[test]
fn hbm_bytes_decode_and_prefill() {
    let m = builtin("deepseek-v3").unwrap();
    let decode = StepShape {
        sequences: 1,
        new_tokens_per_sequence: 1,
        context_len: 4095,
    };
    let b = m.layer_hbm_bytes(10, &decode).unwrap();
    // one token: 8 routed experts read, KV of 4096 tokens read, one entry written
    let (dense, _) = m.layer_weight_bytes(10).unwrap();
    assert_eq!(b.weight_bytes, dense + 8 * 3 * 7168 * 2048);
    assert_eq!(b.kv_read_bytes, 4096 * 1152);
    assert_eq!(b.kv_write_bytes, 1152);
    assert_eq!(b.residual_bytes, 2 * 43_008);
    // a big prefill touches every expert
    let prefill = StepShape {
        sequences: 4,
        new_tokens_per_sequence: 4096,
        context_len: 0,
    };
    let p = m.layer_hbm_bytes(10, &prefill).unwrap();
    assert_eq!(p.weight_bytes, dense + 256 * 3 * 7168 * 2048);
    // V4: FP4 experts are half a byte per parameter
    let f = builtin("deepseek-v4-flash").unwrap();
    assert_eq!(f.routed_expert_bytes(), 3 * 4096 * 2048 / 2);
}

#[test]
fn engram_hook_v41_dims() {
    // V4.1: 24 rows x 256, wkv 6144 -> 5 x 5120; 264 B rows -> 6,336 B per token per table
    let d = EngramDims {
        rows_per_token: 24,
        row_dim: 256,
        hidden: 5120,
        hc_mult: 4,
        conv_kernel: 0,
        row_bytes: 264,
    };
    assert_eq!(d.projection_params(), 6144 * 25_600);
    assert_eq!(d.gathered_bytes_per_token(), 6_336);
    let f = d.forward_flops_per_token().unwrap();
    assert_eq!(f.projection_flops, 2 * 6144 * 25_600);
    assert_eq!(f.short_conv_flops, 0);
}

#[test]
fn bad_configs_are_refused() {
    let good = builtin_models()
        .find(|(n, _)| *n == "qwen3-4b-dense")
        .unwrap()
        .1;
    let e = ModelConfig::from_toml_str("x.toml", &format!("{good}\nbogus = 1\n")).unwrap_err();
    assert!(e.to_string().contains("bogus"), "{e}");
    let bad = good.replace("num_kv_heads = 8", "num_kv_heads = 7");
    assert!(ModelConfig::from_toml_str("x.toml", &bad).is_err());
    let bad = good.replace("num_layers = 36", "num_layers = 0");
    assert!(ModelConfig::from_toml_str("x.toml", &bad).is_err());
    let flash = builtin_models()
        .find(|(n, _)| *n == "deepseek-v4-flash")
        .unwrap()
        .1;
    let bad = flash.replace("num_layers = 43", "num_layers = 44");
    let e = ModelConfig::from_toml_str("f.toml", &bad).unwrap_err();
    assert!(e.to_string().contains("compress_ratios"), "{e}");
    let bad = good.replace("weight_dtype = \"bf16\"", "weight_dtype = \"fp7\"");
    assert!(ModelConfig::from_toml_str("x.toml", &bad).is_err());
}
