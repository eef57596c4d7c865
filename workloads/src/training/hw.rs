//! The few hardware numbers a training run needs, per GPU.
//!
//! Until the profile registry (`memwall-models`, branch `profiles`) lands in main, the
//! systems are built-in presets here, each number tagged with its source in
//! `research/hardware.md` (§1 GPU table, §5 measured efficiency, §6 DeepSeek cluster,
//! §8 networking). `TrainHw` is the seam: once `SystemSpec` is available it is filled
//! from the resolved profile instead (see `docs/training.md`).

use super::TrainError;

/// Rates are bytes (or FLOP) per second, latencies picoseconds. "Achievable" figures
/// are what the simulator uses; peaks are kept for reports.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainHw {
    pub name: &'static str,
    pub description: &'static str,
    /// GPUs in one scale-up (NVLink) domain: 8 for HGX nodes, 72 for NVL72 racks.
    pub scale_up_domain: u32,
    pub sms: u32,
    /// Dense peak FLOP/s; phase times measured on a reference GPU scale by these ratios.
    pub bf16_flops: u64,
    pub fp8_flops: u64,
    /// Achievable HBM bandwidth.
    pub hbm_bandwidth: u64,
    /// Scale-up link, per GPU per direction: peak and achievable.
    pub scale_up_peak: u64,
    pub scale_up_bandwidth: u64,
    pub scale_up_latency_ps: u64,
    /// Scale-out NIC bandwidth per GPU per direction: peak and achievable.
    pub nic_peak: u64,
    pub nic_bandwidth: u64,
    pub nic_latency_ps: u64,
}

const G: u64 = 1_000_000_000;
const T: u64 = 1_000_000_000_000;
const US: u64 = 1_000_000;

/// Names of the built-in systems.
pub const SYSTEMS: &[&str] = &[
    "deepseek-h800-cluster",
    "dgx-h100",
    "hgx-b200",
    "gb200-nvl72",
    "vr200-nvl72",
];

impl TrainHw {
    /// A built-in system by name.
    pub fn builtin(name: &str) -> Result<TrainHw, TrainError> {
        let hw = match name {
            // H800: hardware.md §1 (3.35 TB/s, 989/1979 TFLOPS, 132 SMs), §5 (HBM 3.0 TB/s
            // measured by FlashMLA; NVLink 160 of 200 GB/s/dir measured), §6 (8 GPUs per
            // node, one 400G CX7 per GPU, 50 GB/s nominal, 40 GB/s effective), §8 (IB
            // 3.7 us cross-leaf), NVLink 3.33 us (ISCA Table 5).
            "deepseek-h800-cluster" | "deepseek-h800-node" | "h800" => TrainHw {
                name: "deepseek-h800-cluster",
                description: "DeepSeek H800 cluster: 8x H800 per node (NVLink 200 GB/s/dir), 8x 400G IB CX7",
                scale_up_domain: 8,
                sms: 132,
                bf16_flops: 989 * T,
                fp8_flops: 1979 * T,
                hbm_bandwidth: 3000 * G,
                scale_up_peak: 200 * G,
                scale_up_bandwidth: 160 * G,
                scale_up_latency_ps: 3330 * US / 1000,
                nic_peak: 50 * G,
                nic_bandwidth: 40 * G,
                nic_latency_ps: 3700 * US / 1000,
            },
            // H100 SXM: §1 (NVLink 450 GB/s/dir), §5 (HBM 2.9 TB/s BabelStream; NVLink
            // 380 GB/s/dir measured), §8 (8x CX7 400G as on H800, 40 GB/s effective).
            "dgx-h100" | "h100" => TrainHw {
                name: "dgx-h100",
                description: "DGX H100: 8x H100 SXM (NVLink 450 GB/s/dir), 8x 400G CX7",
                scale_up_domain: 8,
                sms: 132,
                bf16_flops: 989 * T,
                fp8_flops: 1979 * T,
                hbm_bandwidth: 2900 * G,
                scale_up_peak: 450 * G,
                scale_up_bandwidth: 380 * G,
                scale_up_latency_ps: 3330 * US / 1000,
                nic_peak: 50 * G,
                nic_bandwidth: 40 * G,
                nic_latency_ps: 3700 * US / 1000,
            },
            // B200: §1 (7.7 TB/s, 2250/4500 TFLOPS, NVLink 900 GB/s/dir, 148 SMs), §5 (HBM
            // 6.7 TB/s; NVLink 730 GB/s DeepEP V2), 8x 400G CX7 as DGX B200.
            "hgx-b200" | "b200" => TrainHw {
                name: "hgx-b200",
                description: "HGX B200: 8x B200 (NVLink 900 GB/s/dir), 8x 400G CX7",
                scale_up_domain: 8,
                sms: 148,
                bf16_flops: 2250 * T,
                fp8_flops: 4500 * T,
                hbm_bandwidth: 6700 * G,
                scale_up_peak: 900 * G,
                scale_up_bandwidth: 730 * G,
                scale_up_latency_ps: 3330 * US / 1000,
                nic_peak: 50 * G,
                nic_bandwidth: 40 * G,
                nic_latency_ps: 3700 * US / 1000,
            },
            // GB200 NVL72: §1 (8 TB/s, 2500/5000 TFLOPS, NVLink 900 GB/s/dir), §2 (72-GPU
            // NVLink domain), §5 (HBM ~0.86 -> 6.9 TB/s; NVLink 0.81 -> 730 GB/s), 400G CX7.
            "gb200-nvl72" | "gb200" => TrainHw {
                name: "gb200-nvl72",
                description: "GB200 NVL72: 72 B200 in one NVLink domain (900 GB/s/dir), 400G CX7 per GPU",
                scale_up_domain: 72,
                sms: 148,
                bf16_flops: 2500 * T,
                fp8_flops: 5000 * T,
                hbm_bandwidth: 6900 * G,
                scale_up_peak: 900 * G,
                scale_up_bandwidth: 730 * G,
                scale_up_latency_ps: 3330 * US / 1000,
                nic_peak: 50 * G,
                nic_bandwidth: 40 * G,
                nic_latency_ps: 3700 * US / 1000,
            },
            // Vera Rubin NVL72 (preliminary): §1 (22 TB/s HBM4, 4000/17500 TFLOPS dense,
            // NVLink 6 1800 GB/s/dir, 224 SMs), §8 (2x CX9 = 200 GB/s/dir per GPU);
            // achievable fractions as Blackwell (HBM 0.86, NVLink 0.81, NIC 0.8) [E].
            "vr200-nvl72" | "rubin-nvl72" | "vr200" => TrainHw {
                name: "vr200-nvl72",
                description: "Vera Rubin NVL72 (preliminary): 72 Rubin, NVLink 6 1800 GB/s/dir, 2x CX9 per GPU",
                scale_up_domain: 72,
                sms: 224,
                bf16_flops: 4000 * T,
                fp8_flops: 17500 * T,
                hbm_bandwidth: 18900 * G,
                scale_up_peak: 1800 * G,
                scale_up_bandwidth: 1460 * G,
                scale_up_latency_ps: 3330 * US / 1000,
                nic_peak: 200 * G,
                nic_bandwidth: 160 * G,
                nic_latency_ps: 3700 * US / 1000,
            },
            _ => {
                return Err(TrainError::Config(format!(
                    "unknown system `{name}`; built-in systems: {}",
                    SYSTEMS.join(", ")
                )))
            }
        };
        Ok(hw)
    }
}
