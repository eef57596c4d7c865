//! Expert all-to-all bytes per GPU, from message sizes and routing (DeepEP's scheme,
//! V3 report §3.2.2, ISCA'25 §4.3): a token crosses the scale-out network once per
//! remote *node* it is routed to (landing on the GPU with the same in-node index), then
//! is forwarded over the scale-up link to each target GPU in that node. Node-limited
//! routing caps the nodes a token reaches at `node_limit` (V3: 4).
//!
//! Balanced routing (the DeepSeek profile is "absolutely balanced"): a token's k experts
//! fall uniformly over the GPUs of its selected nodes. Every GPU sends and receives the
//! same volume, so one GPU's numbers describe the whole EP group.

/// Per-GPU bytes of one all-to-all (dispatch or combine) of one MoE layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct A2aBytes {
    /// Over the scale-out NIC, each direction.
    pub scale_out: u64,
    /// Over the scale-up link (NVLink), each direction.
    pub scale_up: u64,
}

/// Routing geometry of an EP group.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpGeometry {
    /// GPUs of the EP group in one scale-up domain.
    pub gpus_per_node: u32,
    /// Scale-up domains (nodes) the EP group spans.
    pub nodes: u32,
    /// Nodes a token may reach (0 = unlimited).
    pub node_limit: u32,
    /// Experts chosen per token.
    pub experts_per_token: u32,
}

impl EpGeometry {
    pub fn new(ep: u32, scale_up_domain: u32, node_limit: u32, k: u32) -> EpGeometry {
        let g = ep.min(scale_up_domain).max(1);
        EpGeometry {
            gpus_per_node: g,
            nodes: ep.div_ceil(g),
            node_limit,
            experts_per_token: k,
        }
    }

    fn selected_nodes(&self) -> f64 {
        let m = if self.node_limit == 0 {
            self.nodes
        } else {
            self.node_limit.min(self.nodes)
        };
        m.max(1) as f64
    }

    /// Expected distinct nodes a token reaches, and the remote ones among them.
    pub fn nodes_per_token(&self) -> (f64, f64) {
        let m = self.selected_nodes();
        let k = self.experts_per_token as f64;
        let distinct = m * (1.0 - (1.0 - 1.0 / m).powf(k));
        let remote = distinct * (1.0 - 1.0 / self.nodes.max(1) as f64);
        (distinct, remote)
    }

    /// Expected distinct GPUs a token reaches (over its selected nodes).
    pub fn gpus_per_token(&self) -> f64 {
        let n = self.selected_nodes() * self.gpus_per_node as f64;
        let k = self.experts_per_token as f64;
        n * (1.0 - (1.0 - 1.0 / n).powf(k))
    }

    /// Bytes per GPU for `tokens` tokens of `token_bytes` each.
    pub fn bytes(&self, tokens: u64, token_bytes: u64) -> A2aBytes {
        let (_, remote) = self.nodes_per_token();
        // Scale-up copies: one per target GPU, except the GPU that received it over the
        // NIC (same in-node index) or, for the own node, the sender itself: 1/G of them.
        let g = self.gpus_per_node as f64;
        let up = self.gpus_per_token() * (1.0 - 1.0 / g);
        let per = |x: f64| (x * tokens as f64 * token_bytes as f64).round() as u64;
        A2aBytes {
            scale_out: per(remote),
            scale_up: per(up),
        }
    }
}

/// Bytes of one token in FP8 with one FP32 scale per 128 elements (V3's dispatch).
pub fn fp8_token_bytes(hidden: u64) -> u64 {
    hidden + hidden.div_ceil(128) * 4
}

/// Bytes of one token in BF16 (V3's combine).
pub fn bf16_token_bytes(hidden: u64) -> u64 {
    2 * hidden
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v3_ep64_geometry() {
        // 64 GPUs over 8 nodes, at most 4 nodes per token, top-8.
        let g = EpGeometry::new(64, 8, 4, 8);
        assert_eq!((g.gpus_per_node, g.nodes), (8, 8));
        let (d, r) = g.nodes_per_token();
        assert!((d - 3.6).abs() < 0.01, "{d}");
        assert!((r - 3.15).abs() < 0.01, "{r}");
        let b = g.bytes(4096, fp8_token_bytes(7168));
        // ~95 MB over IB per GPU per dispatch
        assert!(
            (b.scale_out as f64 / 95.4e6 - 1.0).abs() < 0.01,
            "{}",
            b.scale_out
        );
        assert!(b.scale_up > b.scale_out);
    }

    #[test]
    fn one_domain_has_no_scale_out() {
        let g = EpGeometry::new(64, 72, 4, 8);
        assert_eq!(g.nodes, 1);
        let b = g.bytes(4096, bf16_token_bytes(7168));
        assert_eq!(b.scale_out, 0);
        assert!(b.scale_up > 0);
    }
}
