//! What a recorded kernel computed, from the framework op that launched it and the
//! shapes the profiler recorded (`record_shapes=True`): the op cost model's view of it.
//! GEMMs (`mm`, `addmm`, `bmm`, `baddbmm`, `_scaled_mm`), fused attention
//! (`_scaled_dot_product_*_attention`, `_flash_attention_forward`) and every memory-bound
//! kernel (HBM bytes of its tensors). A kernel whose op or dtype is not understood has no
//! shape here, and is re-timed from its recorded duration instead (`retime.rs`).

use memwall_kineto::classify::dtype_bytes;
use memwall_kineto::{GpuOp, OpClass, OpShape, TraceGraph};
use memwall_models::cost::{Attention, Gemm, MemoryOp, Op, Phase};
use memwall_models::perf::Dtype;

/// The GEMM dtype of a recorded input type (PyTorch keeps FP32 matmuls off TF32 unless
/// the user allows it, so `float` is FP32).
fn gemm_dtype(t: &str) -> Option<Dtype> {
    Some(match t {
        "c10::BFloat16" | "c10::Half" => Dtype::Bf16,
        "float" => Dtype::Fp32,
        t if t.starts_with("c10::Float8") => Dtype::Fp8,
        _ => return None,
    })
}

/// The one tensor of argument `i`, if it holds exactly one.
fn tensor(s: &OpShape, i: usize) -> Option<&[u64]> {
    match s.inputs.get(i)?.as_slice() {
        [t] => Some(t),
        _ => None,
    }
}

fn numel(dims: &[u64]) -> u128 {
    dims.iter().map(|&d| d as u128).product()
}

/// `a (…, m, k) · b (…, k, n)` with the batch of `a`'s leading dims.
fn matmul(a: &[u64], b: &[u64], dtype: Dtype) -> Option<Op> {
    let (&k, rest) = a.split_last()?;
    let (&m, batch) = rest.split_last()?;
    let n = *b.last()?;
    let kb = *b.get(b.len().checked_sub(2)?)?;
    if kb != k {
        return None;
    }
    let batch = batch.iter().product::<u64>().max(1);
    Some(Op::Gemm(Gemm {
        m,
        n,
        k,
        batch,
        dtype,
    }))
}

fn gemm(s: &OpShape, op: &str) -> Option<Op> {
    let (a, b) = match op {
        "aten::mm" | "aten::bmm" | "aten::matmul" | "aten::_scaled_mm" => (0, 1),
        "aten::addmm" | "aten::baddbmm" => (1, 2),
        _ => return None,
    };
    let dtype = gemm_dtype(s.types.get(a)?)?;
    matmul(tensor(s, a)?, tensor(s, b)?, dtype)
}

/// `q (b, h, l, d)`, `k (b, g, s, d)`, `v (b, g, s, dv)`; causal when `is_causal` is
/// unknown and the query is as long as the keys is not assumed: all keys count.
fn attention(s: &OpShape, op: &str) -> Option<Op> {
    if !(op.starts_with("aten::_scaled_dot_product") || op == "aten::_flash_attention_forward") {
        return None;
    }
    let (q, k, v) = (tensor(s, 0)?, tensor(s, 1)?, tensor(s, 2)?);
    let ([b, h, l, d], [_, g, kv, _], [.., dv]) = (q, k, v) else {
        return None;
    };
    let dtype = gemm_dtype(s.types.first()?)?;
    Some(Op::Attention(Attention {
        batch: *b,
        q_len: *l,
        kv_len: *kv,
        heads: *h,
        kv_heads: *g,
        head_dim: *d,
        v_head_dim: *dv,
        phase: if *l == 1 {
            Phase::Decode
        } else {
            Phase::Prefill
        },
        causal: false,
        dtype,
    }))
}

/// A memory-bound kernel reads its tensor inputs and writes an output as large as the
/// largest of them (an in-place or copy op: the destination is an input, counted once).
fn memory(s: &OpShape, op: &str) -> Option<Op> {
    let mut bytes = 0u128;
    let mut largest = 0u128;
    for (arg, ty) in s.inputs.iter().zip(&s.types) {
        if arg.is_empty() {
            continue;
        }
        let e = dtype_bytes(ty.trim_start_matches("TensorList<").trim_end_matches('>'))? as u128;
        for t in arg {
            let b = numel(t) * e;
            bytes += b;
            largest = largest.max(b);
        }
    }
    let writes = match op {
        "aten::copy_" => 0,
        "aten::cat" => bytes,
        _ => largest,
    };
    (bytes > 0).then_some(Op::Memory(MemoryOp {
        bytes: bytes + writes,
    }))
}

/// The cost-model op a recorded kernel ran, where its launching framework op and
/// shapes say it.
pub fn op_of(g: &TraceGraph, op: &GpuOp) -> Option<Op> {
    let s = op.shape.as_deref()?;
    let name = g.name(s.op);
    match op.class {
        OpClass::Gemm | OpClass::Attention => gemm(s, name).or_else(|| attention(s, name)),
        OpClass::Elementwise | OpClass::Normalization | OpClass::Reduction => memory(s, name),
        _ => None,
    }
}
