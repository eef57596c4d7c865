//! `[disaggregation]`: which GPUs prefill and which decode, how the KV travels between
//! them, and where the first token is sampled; checked against the wired node.

use serde::Deserialize;

use memwall_models::node::NodeModel;

use crate::error::ScenarioError;
use crate::scenario::{Scenario, WorkloadSpec};

/// `[disaggregation]` of a scenario.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DisaggSpec {
    /// GPUs (indices in the node) of the prefill pool and of the decode pool.
    pub prefill_gpus: Vec<usize>,
    pub decode_gpus: Vec<usize>,
    /// The KV's path from a prefill GPU to a decode GPU.
    pub transfer: TransferKind,
    /// Each layer's KV leaves when that layer is computed (Mooncake, LMCache layerwise,
    /// SGLang's layer-by-layer send), else when the prefill step ends (vLLM's
    /// NixlConnector pulls the blocks after the request finished on the prefill side).
    #[serde(default)]
    pub layerwise: bool,
    #[serde(default)]
    pub first_token: FirstToken,
}

/// How KV moves between the pools.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum TransferKind {
    /// GPU to GPU through the NVLink switch (the sender's transmit and the receiver's
    /// receive port).
    Nvlink,
    /// GPUDirect RDMA: the sender's PCIe (or C2C) port, its NIC out, the receiver's NIC
    /// in, the receiver's port.
    Rdma,
    /// Staged through pinned host DRAM: a device-to-host copy on the prefill GPU's socket,
    /// then a host-to-device copy into the decode GPU.
    Host,
}

impl TransferKind {
    pub fn name(self) -> &'static str {
        match self {
            TransferKind::Nvlink => "nvlink",
            TransferKind::Rdma => "rdma",
            TransferKind::Host => "host",
        }
    }
}

/// Where the first output token is sampled.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum FirstToken {
    /// By the prefill step; it travels with the KV and reaches the client when the KV
    /// has landed (SGLang).
    #[default]
    Prefill,
    /// By the decode pool, which computes the prompt's last partial block itself after
    /// pulling the full blocks (vLLM NixlConnector).
    Decode,
}

/// The two pools, resolved: GPUs of each replica (tensor-parallel groups in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pools {
    pub prefill: Vec<usize>,
    pub decode: Vec<usize>,
}

fn field_err(s: &Scenario, key: &str, value: String, message: String, hint: &str) -> ScenarioError {
    ScenarioError::Field {
        origin: s.origin.clone(),
        line: s.line_of_table_key("disaggregation", key),
        field: format!("disaggregation.{key}"),
        value,
        message,
        hint: hint.into(),
    }
}

/// One pool's GPUs: each exists, none twice, a whole number of TP groups.
fn check_pool(
    s: &Scenario,
    key: &str,
    gpus: &[usize],
    n: usize,
    tp: usize,
) -> Result<(), ScenarioError> {
    let v = format!("{gpus:?}");
    if gpus.is_empty() {
        return Err(field_err(
            s,
            key,
            v,
            "the pool is empty".into(),
            "name at least one GPU of the node",
        ));
    }
    if let Some(g) = gpus.iter().find(|&&g| g >= n) {
        let m = format!(
            "GPU {g} does not exist: {} has GPUs 0 to {}",
            s.system,
            n - 1
        );
        return Err(field_err(
            s,
            key,
            v,
            m,
            "name GPUs of the scenario's system",
        ));
    }
    let mut seen = gpus.to_vec();
    seen.sort_unstable();
    if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
        let m = format!("GPU {} is named twice", w[0]);
        return Err(field_err(s, key, v, m, "name each GPU once"));
    }
    if !gpus.len().is_multiple_of(tp) {
        let m = format!(
            "{} GPUs is not a whole number of tensor-parallel groups of {tp}",
            gpus.len()
        );
        return Err(field_err(
            s,
            key,
            v,
            m,
            "give the pool a multiple of tensor_parallel GPUs",
        ));
    }
    Ok(())
}

/// The pools of `spec` on the wired `node`, checked: GPUs that exist, disjoint pools, a
/// path of the chosen kind between every prefill and decode GPU, an open-loop workload.
pub(crate) fn check_pools(
    s: &Scenario,
    spec: &DisaggSpec,
    node: &NodeModel,
    tp: usize,
) -> Result<Pools, ScenarioError> {
    let n = node.gpus.len();
    check_pool(s, "prefill_gpus", &spec.prefill_gpus, n, tp)?;
    check_pool(s, "decode_gpus", &spec.decode_gpus, n, tp)?;
    if let Some(g) = spec
        .prefill_gpus
        .iter()
        .find(|g| spec.decode_gpus.contains(g))
    {
        let m = format!("GPU {g} is in both pools");
        let v = format!("{:?}", spec.decode_gpus);
        return Err(field_err(
            s,
            "decode_gpus",
            v,
            m,
            "the prefill and decode pools must not overlap",
        ));
    }
    let link = |gpu: usize| -> Option<String> {
        match spec.transfer {
            TransferKind::Nvlink if node.spec.nvlink.is_none() => {
                Some(format!("{} has no NVLink", s.system))
            }
            TransferKind::Rdma if node.spec.gpus[gpu].nics.is_empty() => {
                Some(format!("GPU {gpu} of {} has no NIC near it", s.system))
            }
            _ => None,
        }
    };
    let all = spec.prefill_gpus.iter().chain(&spec.decode_gpus);
    if let Some(m) = all.copied().find_map(link) {
        let v = spec.transfer.name().to_string();
        return Err(field_err(
            s,
            "transfer",
            v,
            m,
            "use a path the system has: nvlink, rdma or host",
        ));
    }
    let per_node = n / s.nodes.unwrap_or(1).max(1);
    let mut all = spec.prefill_gpus.iter().chain(&spec.decode_gpus);
    let first_node = all.next().map_or(0, |g| g / per_node.max(1));
    if spec.transfer == TransferKind::Host && all.any(|g| g / per_node.max(1) != first_node) {
        let m = format!(
            "staging through host DRAM between the {} nodes of the rack would cross the network, which is not modelled",
            s.nodes.unwrap_or(1)
        );
        return Err(field_err(
            s,
            "transfer",
            "host".into(),
            m,
            "use nvlink or rdma between nodes, or pools on one node",
        ));
    }
    if let WorkloadSpec::ClosedLoop { .. } | WorkloadSpec::EngramTrace { .. } = s.workload {
        return Err(crate::error::invalid(
            &s.origin,
            "[disaggregation] needs requests with known arrivals (poisson, synthetic, azure or \
             jsonl): the prefill pool is simulated before the decode pool\nhint: use an \
             open-loop workload"
                .into(),
        ));
    }
    if s.moe.is_some() {
        return Err(crate::error::invalid(
            &s.origin,
            "[disaggregation] with [moe] (the all-to-all as flows) is not modelled\nhint: drop \
             [moe]; expert parallelism is then priced per GPU"
                .into(),
        ));
    }
    Ok(Pools {
        prefill: spec.prefill_gpus.clone(),
        decode: spec.decode_gpus.clone(),
    })
}
