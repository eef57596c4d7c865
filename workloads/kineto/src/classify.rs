//! Kernel classification by name (traces.md §3.3), copy direction, NCCL name parsing.

use super::model::{CommCategory, CopyDir, OpClass};

/// Is this kernel a communication kernel? NCCL/RCCL/HCCL, vLLM custom all-reduce,
/// mscclpp, DeepEP dispatch/combine. Returns the category when it is.
pub fn comm_category(name: &str, collective: Option<&str>) -> Option<CommCategory> {
    let lower = name.to_ascii_lowercase();
    let is_ccl = lower.contains("nccl") || lower.contains("rccl") || lower.contains("hccl");
    let is_custom_ar = lower.contains("multimem_all_reduce")
        || lower.contains("cross_device_reduce")
        || lower.contains("one_shot_all_reduce")
        || lower.contains("two_shot_all_reduce")
        || lower.contains("oneshot_all_reduce")
        || lower.contains("twoshot_all_reduce")
        || lower.contains("mscclpp");
    // DeepEP: `...::ep::{internode,intranode,low_latency}::{dispatch,combine,notify_dispatch,
    // cached_notify}` (and the open-source `deep_ep::` namespace).
    let is_deepep = lower.contains("::ep::") || lower.contains("deep_ep::");
    if is_deepep {
        let after = lower
            .rsplit("::")
            .find(|s| !s.is_empty() && !s.starts_with('<'));
        // the function name is the last path segment before the template/arguments
        let func = ep_function(&lower).or(after).unwrap_or("");
        if func.starts_with("notify_dispatch") || func.starts_with("cached_notify") {
            return Some(CommCategory::EpNotify);
        }
        if func.starts_with("dispatch") {
            return Some(CommCategory::EpDispatch);
        }
        if func.starts_with("combine") {
            return Some(CommCategory::EpCombine);
        }
        // get_dispatch_layout and friends compute locally: not communication.
        return None;
    }
    if !is_ccl && !is_custom_ar {
        return None;
    }
    if is_custom_ar {
        return Some(CommCategory::AllReduce);
    }
    if let Some(c) = collective.and_then(collective_from_text) {
        return Some(c);
    }
    Some(collective_from_text(&lower).unwrap_or(CommCategory::Other))
}

/// The DeepEP function name: the path segment after `::ep::<kind>::` (or `::ep::`).
fn ep_function(lower: &str) -> Option<&str> {
    let i = lower
        .find("::ep::")
        .map(|i| i + 6)
        .or_else(|| lower.find("deep_ep::").map(|i| i + 9))?;
    let mut rest = &lower[i..];
    // skip a namespace like `internode::`
    loop {
        let seg_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if rest[seg_end..].starts_with("::") {
            rest = &rest[seg_end + 2..];
        } else {
            return Some(&rest[..seg_end]);
        }
    }
}

/// Maps a collective name (from NCCL args or the kernel name) to a category.
pub fn collective_from_text(text: &str) -> Option<CommCategory> {
    let t: String = text
        .to_ascii_lowercase()
        .chars()
        .filter(|c| *c != '_' && *c != ' ')
        .collect();
    Some(if t.contains("allreduce") {
        CommCategory::AllReduce
    } else if t.contains("allgather") {
        CommCategory::AllGather
    } else if t.contains("reducescatter") {
        CommCategory::ReduceScatter
    } else if t.contains("alltoall") {
        CommCategory::AllToAll
    } else if t.contains("broadcast") {
        CommCategory::Broadcast
    } else if t.contains("sendrecv") || t.contains("send") || t.contains("recv") {
        CommCategory::SendRecv
    } else if t.contains("reduce") {
        CommCategory::Reduce
    } else {
        return None;
    })
}

/// `ncclKernel_AllReduce_RING_LL_Sum_float` / `ncclDevKernel_AllGather_RING_LL`: the
/// algorithm (RING, TREE, NVLS, COLLNET...) and protocol (LL, LL128, SIMPLE).
pub fn nccl_algo_proto(name: &str) -> (Option<String>, Option<String>) {
    let base = name.split('(').next().unwrap_or(name);
    let parts: Vec<&str> = base.split('_').collect();
    let algos = [
        "RING",
        "TREE",
        "NVLS",
        "NVLSTREE",
        "COLLNET",
        "COLLNETDIRECT",
        "COLLNETCHAIN",
        "PAT",
    ];
    let protos = ["LL", "LL128", "SIMPLE"];
    let algo = parts
        .iter()
        .find(|p| algos.contains(p))
        .map(|s| s.to_string());
    let proto = parts
        .iter()
        .find(|p| protos.contains(p))
        .map(|s| s.to_string());
    (algo, proto)
}

/// Bytes per element of an NCCL/PyTorch dtype name (`Float`, `BFloat16`, `Half`, ...),
/// also as a profiler's `Input type` spells it (`c10::BFloat16`, `long int`).
pub fn dtype_bytes(dtype: &str) -> Option<u64> {
    let d = dtype.trim_start_matches("c10::").to_ascii_lowercase();
    Some(match d.as_str() {
        "float" | "float32" | "int" | "int32" | "uint32" | "float_t" | "unsigned int" => 4,
        "double" | "float64" | "long" | "int64" | "uint64" | "long int" | "int64_t"
        | "complex<float>" => 8,
        "half" | "float16" | "bfloat16" | "short" | "int16" => 2,
        "byte" | "char" | "int8" | "uint8" | "bool" | "signed char" | "unsigned char"
        | "uint8_t" => 1,
        d if d.starts_with("float8") => 1,
        _ => return None,
    })
}

/// Copy direction from a memcpy name: `Memcpy HtoD (Pinned -> Device)`, `Memcpy DtoH`,
/// `Memcpy DtoD`, `Memcpy PtoP`; ROCm uses the same names.
pub fn copy_dir(name: &str) -> CopyDir {
    let n = name.to_ascii_uppercase();
    if n.contains("HTOD") {
        CopyDir::HostToDevice
    } else if n.contains("DTOH") {
        CopyDir::DeviceToHost
    } else if n.contains("DTOD") {
        CopyDir::DeviceToDevice
    } else if n.contains("PTOP") {
        CopyDir::PeerToPeer
    } else if n.contains("HTOH") {
        CopyDir::HostToHost
    } else {
        CopyDir::Unknown
    }
}

/// Whether the host side of a copy is pinned (`Pinned`), pageable (`Pageable`), or unknown.
pub fn copy_pinned(name: &str) -> Option<bool> {
    if name.contains("Pinned") {
        Some(true)
    } else if name.contains("Pageable") {
        Some(false)
    } else {
        None
    }
}

/// Class of a (non-communication) compute kernel from its name.
///
/// Rules, first match wins (case-insensitive substrings):
/// 1. attention: `flash`, `fmha`, `attention`, `attn`, `mha_`, `paged_attention`, `mla`
/// 2. GEMM: `gemm`, `gemv`, `matmul`, `cutlass`, `cublas`, `xmma`, `wgmma`, `nvjet`,
///    `bmm_` (TensorRT-LLM/FlashInfer MoE), `Cijk_` (hipBLASLt/Tensile), `conv` kernels of cuDNN (`implicit_gemm`, `wgrad`, `dgrad`,
///    `fprop`, `winograd`), `_mm_`
/// 3. normalisation: `norm` (layer_norm, rms_norm, batch_norm), `bn_fw`, `bn_bw`
/// 4. reduction: `reduce`, `softmax`, `topk`, `argmax`, `argmin`, `cumsum`, `scan`, `sort`,
///    `sum_`, `mean`, `nll_loss`, `cross_entropy`
/// 5. elementwise: everything else (`elementwise`, casts, copies, fills, activations,
///    rotary, scatter/gather, transposes): memory-bound by default.
pub fn compute_class(name: &str) -> OpClass {
    let n = name.to_ascii_lowercase();
    let any = |keys: &[&str]| keys.iter().any(|k| n.contains(k));
    if any(&["flash", "fmha", "attention", "attn", "mha_", "mla_", "_mla"]) {
        OpClass::Attention
    } else if any(&[
        "gemm",
        "gemv",
        "matmul",
        "cutlass",
        "cublas",
        "xmma",
        "wgmma",
        "nvjet",
        "cijk_",
        "implicit_gemm",
        "bmm_",
        "wgrad",
        "dgrad",
        "fprop",
        "winograd",
        "_mm_",
        "sgemm",
        "hgemm",
    ]) {
        // fill_tensormaps_kernel and similar helpers live in GEMM namespaces but move no
        // FLOPs; call them elementwise.
        if any(&["fill_tensormaps", "transpose<", "::transpose", "utils::"]) {
            OpClass::Elementwise
        } else {
            OpClass::Gemm
        }
    } else if any(&["norm", "bn_fw", "bn_bw"]) && !n.contains("distribution") {
        OpClass::Normalization
    } else if any(&[
        "reduce",
        "softmax",
        "topk",
        "argmax",
        "argmin",
        "cumsum",
        "scan",
        "sort",
        "sum_",
        "mean",
        "nll_loss",
        "cross_entropy",
    ]) {
        OpClass::Reduction
    } else {
        OpClass::Elementwise
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deepep_functions() {
        let d = "void dpsk::ep::internode::dispatch<false, 8, true, 8>(int4*, float*)";
        assert_eq!(comm_category(d, None), Some(CommCategory::EpDispatch));
        let c = "void dpsk::ep::internode::combine<false, 8, __nv_bfloat16>(int4*)";
        assert_eq!(comm_category(c, None), Some(CommCategory::EpCombine));
        let n = "void dpsk::ep::internode::notify_dispatch<false, 8>(int const*)";
        assert_eq!(comm_category(n, None), Some(CommCategory::EpNotify));
        let cn = "void dpsk::ep::internode::cached_notify<false>(int, int)";
        assert_eq!(comm_category(cn, None), Some(CommCategory::EpNotify));
        let l = "void dpsk::ep::cuda::get_dispatch_layout<256, 32, 8>(long const*)";
        assert_eq!(comm_category(l, None), None);
    }

    #[test]
    fn nccl_and_custom_allreduce() {
        let n = "ncclKernel_AllReduce_RING_LL_Sum_float(ncclDevComm*, unsigned long, ncclWork*)";
        assert_eq!(
            comm_category(n, Some("allreduce")),
            Some(CommCategory::AllReduce)
        );
        assert_eq!(nccl_algo_proto(n), (Some("RING".into()), Some("LL".into())));
        let g = "ncclDevKernel_AllGather_RING_LL(ncclDevKernelArgsStorage<4096ul>)";
        assert_eq!(
            comm_category(g, Some("_allgather_base")),
            Some(CommCategory::AllGather)
        );
        assert_eq!(
            comm_category("ncclDevKernel_SendRecv(x)", None),
            Some(CommCategory::SendRecv)
        );
        assert_eq!(
            comm_category("void multimem_all_reduce_kernel<bf16>(x)", None),
            Some(CommCategory::AllReduce)
        );
        assert_eq!(
            comm_category("void at::native::elementwise_kernel<1>", None),
            None
        );
    }

    #[test]
    fn compute_classes() {
        assert_eq!(
            compute_class("void flash::compute_attn_ws<x>"),
            OpClass::Attention
        );
        assert_eq!(
            compute_class(
                "void cutlass::device_kernel<dpsk::grouped_gemm::cuda::fp8_ptp128c::GemmKernel>"
            ),
            OpClass::Gemm
        );
        assert_eq!(
            compute_class("sm90_xmma_gemm_bf16bf16_bf16f32"),
            OpClass::Gemm
        );
        assert_eq!(compute_class("Cijk_Ailk_Bljk_BBS_BH"), OpClass::Gemm);
        assert_eq!(
            compute_class("void layer_norm::ln_fwd_kernel<x>"),
            OpClass::Normalization
        );
        assert_eq!(
            compute_class("void at::native::reduce_kernel<512, 1>"),
            OpClass::Reduction
        );
        assert_eq!(compute_class("rotary_kernel"), OpClass::Elementwise);
    }

    #[test]
    fn copies() {
        assert_eq!(
            copy_dir("Memcpy HtoD (Pinned -> Device)"),
            CopyDir::HostToDevice
        );
        assert_eq!(copy_pinned("Memcpy HtoD (Pinned -> Device)"), Some(true));
        assert_eq!(
            copy_dir("Memcpy DtoH (Device -> Pageable)"),
            CopyDir::DeviceToHost
        );
        assert_eq!(
            copy_dir("Memcpy DtoD (Device -> Device)"),
            CopyDir::DeviceToDevice
        );
        assert_eq!(
            copy_dir("Memcpy PtoP (Device -> Device)"),
            CopyDir::PeerToPeer
        );
    }
}
