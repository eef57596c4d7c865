//! The hardware a training run needs, from the profile registry.
//!
//! Everything comes from a resolved [`SystemSpec`] through [`HwRates`] (the achievable
//! rates of GPU 0 in its system, shared with the replay engine): FLOP/s per dtype, SMs,
//! HBM bandwidth, the NVLink link and domain size, and the scale-out bandwidth of the
//! NICs a GPU uses. The only number added here is the scale-out latency, which for a
//! cluster is the fabric's cross-leaf latency (an EP group of 8+ nodes crosses leaves).
//!
//! Compute times are re-timed from phases measured on a reference GPU, so a run also
//! carries that GPU's rates (`[reference] gpu` in the training config).

use memwall_models::perf::{Dtype, HwRates};
use memwall_models::{PartKind, Registry, SystemSpec};

use super::config::TrainConfig;
use super::TrainError;

/// One GPU of the target system, and the reference GPU the measured phases come from.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainHw {
    /// System profile name.
    pub name: String,
    pub description: String,
    /// Achievable rates of GPU 0 of the system (validated: SMs, BF16 and HBM known, a NIC).
    pub rates: HwRates,
    /// Scale-out latency per message: the cluster fabric's cross-leaf latency where the
    /// profile has a cluster (and it exceeds the NIC's), else the NIC's.
    pub scale_out_latency_ps: u64,
    /// Achievable rates of the GPU the reference phases were measured on.
    pub reference: HwRates,
    /// HBM capacity of one GPU, bytes.
    pub hbm_capacity: u64,
    /// The resolved system, which the data-parallel collectives are costed on
    /// ([`memwall_models::collective`]).
    pub system: SystemSpec,
}

/// The system profiles a registry knows (for messages and sweeps).
pub fn system_names(reg: &Registry) -> Vec<String> {
    reg.names_of(PartKind::System)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// The shipped system profiles.
pub fn shipped_systems() -> Result<Vec<String>, TrainError> {
    let reg = Registry::embedded().map_err(TrainError::Profiles)?;
    Ok(system_names(&reg))
}

fn check_gpu(r: &HwRates, what: &'static str) -> Result<(), TrainError> {
    let bad = |missing| {
        Err(TrainError::Incomplete {
            what,
            name: r.name.clone(),
            missing,
        })
    };
    if r.sms.unwrap_or(0) == 0 {
        return bad("no SM count (`sms`): the SM share of communication kernels needs it");
    }
    if r.flops(Dtype::Bf16).is_none() {
        return bad("no BF16 compute rate: compute phases are re-timed by FLOP rate");
    }
    if r.hbm == 0 {
        return bad("no HBM bandwidth");
    }
    Ok(())
}

impl TrainHw {
    /// Builds the run's hardware from a resolved system and the reference GPU's rates.
    pub fn from_system(sys: &SystemSpec, reference: HwRates) -> Result<TrainHw, TrainError> {
        let rates = HwRates::from_system(sys);
        check_gpu(&rates, "system")?;
        check_gpu(&reference, "reference GPU")?;
        if rates.nic.unwrap_or(0) == 0 {
            return Err(TrainError::NoNic {
                system: sys.name.clone(),
            });
        }
        let fabric = sys
            .cluster
            .as_ref()
            .map_or(0, |c| c.fabric.latency_cross_leaf_ps);
        Ok(TrainHw {
            name: sys.name.clone(),
            description: sys.description.clone(),
            scale_out_latency_ps: rates.nic_latency_ps.max(fabric),
            rates,
            reference,
            hbm_capacity: sys.node.gpu.hbm_capacity_bytes,
            system: sys.clone(),
        })
    }

    /// System `system` and reference GPU `reference_gpu` from `reg`.
    pub fn resolve(
        reg: &Registry,
        system: &str,
        reference_gpu: &str,
    ) -> Result<TrainHw, TrainError> {
        let sys = reg.system(system).map_err(TrainError::Profiles)?;
        let g = reg.gpu(reference_gpu).map_err(TrainError::ReferenceGpu)?;
        TrainHw::from_system(&sys, HwRates::from_gpu(&g))
    }

    /// System `system` for `cfg` (its reference GPU) from the shipped profiles.
    pub fn shipped(system: &str, cfg: &TrainConfig) -> Result<TrainHw, TrainError> {
        let reg = Registry::embedded().map_err(TrainError::Profiles)?;
        TrainHw::resolve(&reg, system, &cfg.reference.gpu)
    }

    /// SMs of one GPU.
    pub fn sms(&self) -> u32 {
        self.rates.sms.unwrap_or(0)
    }

    /// Achievable FLOP/s in `d` (BF16 where the GPU lacks `d`).
    pub fn flops(&self, d: Dtype) -> u64 {
        self.rates.flops(d).map_or(0, |(f, _)| f)
    }

    /// GPUs in one scale-up (NVLink) domain: 8 for HGX nodes, 72 for NVL72 racks.
    pub fn scale_up_domain(&self) -> u32 {
        self.rates.nvlink_domain.max(1)
    }

    /// Achievable scale-up bandwidth per direction (0 without NVLink).
    pub fn scale_up_bandwidth(&self) -> u64 {
        self.rates.nvlink.unwrap_or(0)
    }

    pub fn scale_up_latency_ps(&self) -> u64 {
        self.rates.nvlink_latency_ps
    }

    /// Achievable scale-out bandwidth per GPU per direction (all its NICs).
    pub fn nic_bandwidth(&self) -> u64 {
        self.rates.nic.unwrap_or(0)
    }

    /// Compute-resource share of a communication kernel on `comm_sms` SMs.
    pub fn comm_hold(&self, comm_sms: u32) -> u64 {
        self.rates.sm_hold(comm_sms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h800_cluster_from_profiles() {
        let cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
        let hw = TrainHw::shipped("deepseek-h800-cluster", &cfg).unwrap();
        assert_eq!(hw.sms(), 132);
        assert_eq!(hw.scale_up_domain(), 8);
        assert_eq!(hw.nic_bandwidth(), 40_000_000_000);
        assert_eq!(hw.scale_up_bandwidth(), 160_000_000_000);
        assert_eq!(hw.scale_out_latency_ps, 3_700_000);
        // The reference GPU is the target GPU: compute is not re-timed.
        assert_eq!(
            hw.flops(Dtype::Fp8),
            hw.reference.flops(Dtype::Fp8).unwrap().0
        );
        let e = TrainHw::shipped("tpu-v5", &cfg).unwrap_err().to_string();
        assert!(e.contains("deepseek-h800-cluster"), "{e}");
    }
}
