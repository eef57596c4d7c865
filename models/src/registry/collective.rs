//! Resolving a link's or NIC's `[collective]` table: provenance and ranges of the
//! protocol, NVLS and peer-path figures (docs/collectives.md).

use super::resolve::{p, to_u32, with, Resolver};
use crate::error::Seg;
use crate::quantity::Basis;
use crate::schema::{
    ChunkStepProfile, CollectiveProfile, NvlsProfile, ProtocolProfile, ProtocolSetProfile,
};
use crate::spec::{CollectiveSpec, NvlsSpec, PeerPathSpec, ProtocolSet, ProtocolSpec};

impl Resolver<'_> {
    /// The `[collective]` table, if any.
    pub(super) fn collective(&mut self, c: &Option<CollectiveProfile>) -> Option<CollectiveSpec> {
        let c = c.as_ref()?;
        let base = p(&["collective"]);
        let ring = self.protocol_set(&with(&base, &["ring"]), &c.ring);
        let tree = c
            .tree
            .as_ref()
            .map(|t| self.protocol_set(&with(&base, &["tree"]), t));
        let nvls = c
            .nvls
            .as_ref()
            .map(|n| self.nvls(&with(&base, &["nvls"]), n));
        let peer = c.peer.as_ref().map(|pp| {
            let path = with(&base, &["peer"]);
            self.tagged(&with(&path, &["bandwidth"]), &pp.bandwidth);
            self.tagged(&with(&path, &["latency"]), &pp.latency);
            self.positive(&with(&path, &["bandwidth"]), pp.bandwidth.value.0);
            PeerPathSpec {
                bandwidth: pp.bandwidth.value.0,
                latency_ps: pp.latency.value.0,
            }
        });
        Some(CollectiveSpec {
            ring,
            tree,
            nvls,
            peer,
        })
    }

    fn protocol_set(&mut self, path: &[Seg], s: &ProtocolSetProfile) -> ProtocolSet {
        let ll128 = s.ll128.as_ref();
        ProtocolSet([
            Some(self.protocol(&with(path, &["ll"]), &s.ll)),
            ll128.map(|l| self.protocol(&with(path, &["ll128"]), l)),
            Some(self.protocol(&with(path, &["simple"]), &s.simple)),
        ])
    }

    fn protocol(&mut self, path: &[Seg], pr: &ProtocolProfile) -> ProtocolSpec {
        self.tagged(&with(path, &["base_latency"]), &pr.base_latency);
        self.tagged(&with(path, &["step_latency"]), &pr.step_latency);
        self.tagged(&with(path, &["efficiency"]), &pr.efficiency);
        self.positive(&with(path, &["efficiency"]), pr.efficiency.value.0 as u64);
        self.tagged_opt(&with(path, &["max_bus_bandwidth"]), &pr.max_bus_bandwidth);
        if let Some(m) = &pr.max_bus_bandwidth {
            self.positive(&with(path, &["max_bus_bandwidth"]), m.value.0);
        }
        ProtocolSpec {
            base_latency_ps: pr.base_latency.value.0,
            step_latency_ps: pr.step_latency.value.0,
            efficiency_ppm: pr.efficiency.value.0,
            max_bus_bandwidth: pr.max_bus_bandwidth.as_ref().map(|m| m.value.0),
        }
    }

    fn nvls(&mut self, path: &[Seg], n: &NvlsProfile) -> NvlsSpec {
        self.tagged(&with(path, &["latency"]), &n.latency);
        self.tagged(&with(path, &["bandwidth"]), &n.bandwidth);
        self.positive(&with(path, &["bandwidth"]), n.bandwidth.value.0);
        self.tagged(&with(path, &["chunk_overhead"]), &n.chunk_overhead);
        let channels = self.count(&with(path, &["channels"]), &n.channels, 1, 1024);
        self.tagged(&with(path, &["max_chunk"]), &n.max_chunk);
        self.positive(&with(path, &["max_chunk"]), n.max_chunk.value.0);
        let min_ranks = self.count(&with(path, &["min_ranks"]), &n.min_ranks, 2, 1 << 16);
        let mut prev = n.max_chunk.value.0;
        let mut schedule = Vec::new();
        for (i, step) in n.chunk_schedule.iter().enumerate() {
            let mut at = with(path, &["chunk_schedule"]);
            at.push(Seg::Index(i));
            self.chunk_step(&at, step, prev);
            prev = step.chunk.0;
            schedule.push((step.rounds, step.chunk.0));
        }
        NvlsSpec {
            latency_ps: n.latency.value.0,
            bandwidth: n.bandwidth.value.0,
            chunk_overhead_ps: n.chunk_overhead.value.0,
            channels,
            max_chunk: n.max_chunk.value.0,
            chunk_schedule: schedule,
            min_ranks: to_u32(min_ranks),
        }
    }

    fn chunk_step(&mut self, at: &[Seg], step: &ChunkStepProfile, prev: u64) {
        if step.source.trim().is_empty() {
            self.err(&with(at, &["source"]), "empty source", None);
        }
        if step.basis == Basis::Estimate && step.note.is_none() {
            self.err(
                &with(at, &["note"]),
                "an estimate needs a note saying why",
                None,
            );
        }
        if step.chunk.0 == 0 || step.chunk.0 >= prev || step.rounds == 0 {
            self.err(
                at,
                "chunk schedule steps must shrink the chunk and have rounds above 0",
                Some("list steps largest chunk first, each below the one before".to_string()),
            );
        }
    }

    /// A figure that must be above zero.
    fn positive(&mut self, path: &[Seg], v: u64) {
        if v == 0 {
            self.err(
                &with(path, &["value"]),
                "0 here would make a collective take forever",
                Some("write a value above 0".to_string()),
            );
        }
    }
}
