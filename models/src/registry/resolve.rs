//! The resolver: checks one file's numbers (provenance, ranges, peak against
//! achievable), follows references to other parts, and builds the resolved specs of
//! the leaf parts. Errors are collected, located in the file they belong to.

use super::{hint_for_names, Entry, Registry};
use crate::error::{ProfileError, ProfileErrors, Seg};
use crate::quantity::{Basis, ByteRate, Count, FlopRate, Tagged, KNOWN_TAGS};
use crate::schema::*;
use crate::spec::*;

/// HBM capacity above this is absurd for one GPU.
const MAX_HBM_BYTES: u64 = 100_000_000_000_000;
/// A kernel floor or graph launch above this is a unit mistake.
const MAX_KERNEL_TERM_PS: u64 = 1_000_000_000;
/// DRAM above this per socket is absurd.
pub(super) const MAX_DRAM_BYTES: u64 = 100_000_000_000_000;

/// Resolves one file's profile, collecting errors located in that file.
pub(super) struct Resolver<'a> {
    pub(super) reg: &'a Registry,
    entry: &'a Entry,
    errors: Vec<ProfileError>,
}

/// A field path.
pub(super) type P = Vec<Seg>;

/// A path of keys.
pub(super) fn p(parts: &[&str]) -> P {
    parts.iter().map(|s| Seg::Key(s.to_string())).collect()
}

/// `base` extended by keys.
pub(super) fn with(base: &[Seg], more: &[&str]) -> P {
    let mut v = base.to_vec();
    v.extend(more.iter().map(|s| Seg::Key(s.to_string())));
    v
}

pub(super) fn to_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl<'a> Resolver<'a> {
    pub(super) fn new(reg: &'a Registry, entry: &'a Entry) -> Self {
        Resolver {
            reg,
            entry,
            errors: Vec::new(),
        }
    }

    /// Resolves the entry's own profile, whatever its kind (for validation); whether
    /// it resolved.
    pub(super) fn entry(&mut self) -> bool {
        let entry = self.entry;
        match &entry.profile {
            Profile::Gpu(p) => self.gpu(p).is_some(),
            Profile::Host(p) => self.host(p).is_some(),
            Profile::Link(p) => self.link(p).is_some(),
            Profile::Nic(p) => self.nic(p).is_some(),
            Profile::Nvme(p) => self.nvme(p).is_some(),
            Profile::Fabric(p) => self.fabric(p).is_some(),
            Profile::System(p) => self.system(p, 0).is_some(),
        }
    }

    pub(super) fn into_errors(self) -> Vec<ProfileError> {
        self.errors
    }

    pub(super) fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    /// The value when it resolved cleanly, else every error (at least one).
    pub(super) fn finish_opt<T>(self, v: Option<T>) -> Result<T, ProfileErrors> {
        match v {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => {
                let mut errs = self.errors;
                if errs.is_empty() {
                    let message = "profile could not be resolved";
                    errs.push(ProfileError::file(&self.entry.file, message, None));
                }
                Err(ProfileErrors(errs))
            }
        }
    }

    pub(super) fn err(
        &mut self,
        path: &[Seg],
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) {
        let e = ProfileError::at(&self.entry.file, &self.entry.text, path, message, hint);
        self.errors.push(e);
    }

    /// Provenance rules shared by every number.
    pub(super) fn tagged<Q>(&mut self, path: &[Seg], t: &Tagged<Q>) {
        if t.source.trim().is_empty() {
            self.err(
                &with(path, &["source"]),
                "empty source",
                Some(
                    "cite a reference id listed in docs/sources.md (e.g. \"R1\") or a short citation".to_string(),
                ),
            );
        }
        if let Some(tag) = &t.tag {
            if !KNOWN_TAGS.contains(&tag.as_str()) {
                self.err(
                    &with(path, &["tag"]),
                    format!("unknown tag \"{tag}\""),
                    Some(format!("hardware.md tags: {}", KNOWN_TAGS.join(", "))),
                );
            }
        }
        if t.basis == Basis::Estimate && t.note.as_deref().map(str::trim).unwrap_or("").is_empty() {
            self.err(
                &with(path, &["note"]),
                "an estimate needs a note saying why",
                Some("add note = \"...\" explaining the assumption".to_string()),
            );
        }
    }

    pub(super) fn tagged_opt<Q>(&mut self, path: &[Seg], t: &Option<Tagged<Q>>) {
        if let Some(t) = t {
            self.tagged(path, t);
        }
    }

    /// A count with its provenance, checked against `min..=max`.
    pub(super) fn count(&mut self, path: &[Seg], t: &Tagged<Count>, min: u64, max: u64) -> u64 {
        self.tagged(path, t);
        let v = t.value.0;
        if v < min || v > max {
            self.err(
                &with(path, &["value"]),
                format!("{v} is out of range"),
                Some(format!("expected a whole number from {min} to {max}")),
            );
            // Checking goes on with the smallest count: nothing is sized by the bad value.
            return min;
        }
        v
    }

    /// A peak with exactly one of `achievable` or `efficiency`.
    pub(super) fn rate<Q: Copy>(
        &mut self,
        path: &[Seg],
        pa: &PeakAchievable<Q>,
        get: fn(Q) -> u64,
    ) -> Rate {
        self.tagged(&with(path, &["peak"]), &pa.peak);
        let peak = get(pa.peak.value);
        let achievable = match (&pa.achievable, &pa.efficiency) {
            (Some(a), None) => self.achievable(path, a, get(a.value), peak),
            (None, Some(f)) => self.efficiency(path, f, peak),
            (Some(_), Some(_)) => {
                self.err(
                    path,
                    "both `achievable` and `efficiency` are given",
                    Some(
                        "give exactly one: the measured figure or the fraction of peak".to_string(),
                    ),
                );
                peak
            }
            (None, None) => {
                self.err(
                    path,
                    "missing `achievable` or `efficiency`",
                    Some("peak and achievable differ: add efficiency = { value = 0.88, basis = \"estimate\", source = \"hardware.md §11\", note = \"...\" } or achievable = { value = \"...\", basis = \"measured\", source = \"...\" }".to_string()),
                );
                peak
            }
        };
        Rate { peak, achievable }
    }

    fn achievable<Q>(&mut self, path: &[Seg], a: &Tagged<Q>, v: u64, peak: u64) -> u64 {
        self.tagged(&with(path, &["achievable"]), a);
        if v > peak {
            self.err(
                &with(path, &["achievable", "value"]),
                "achievable figure exceeds the peak",
                Some("check both numbers; achievable is at most the peak".to_string()),
            );
        }
        v
    }

    fn efficiency(&mut self, path: &[Seg], f: &Tagged<crate::quantity::Ppm>, peak: u64) -> u64 {
        self.tagged(&with(path, &["efficiency"]), f);
        if f.value.0 == 0 {
            self.err(
                &with(path, &["efficiency", "value"]),
                "efficiency of 0 would make every transfer infinite",
                Some("write a fraction above 0, e.g. 0.88".to_string()),
            );
        }
        crate::units::apply_fraction(peak, f.value.0).max(1)
    }

    /// Follows a reference to a part of `kind`, returning its entry.
    pub(super) fn reference(
        &mut self,
        path: &[Seg],
        name: &str,
        kind: PartKind,
    ) -> Option<&'a Entry> {
        match self.reg.entries.get(name) {
            Some(e) if e.profile.kind() == kind => Some(e),
            Some(e) => {
                self.err(
                    path,
                    format!("\"{name}\" is a {} profile, not a {kind}", e.profile.kind()),
                    Some(hint_for_names(name, &self.reg.names_of(kind))),
                );
                None
            }
            None => {
                self.err(
                    path,
                    format!("unknown {kind} \"{name}\""),
                    Some(hint_for_names(name, &self.reg.names_of(kind))),
                );
                None
            }
        }
    }

    /// Resolves a referenced part in its own file's context; its errors are kept.
    pub(super) fn sub<T>(
        &mut self,
        e: &'a Entry,
        f: impl FnOnce(&mut Resolver<'a>, &'a Profile) -> Option<T>,
    ) -> Option<T> {
        let mut r = Resolver::new(self.reg, e);
        let v = f(&mut r, &e.profile);
        self.errors.extend(r.errors);
        v
    }

    /// Follows a reference to a part of `kind` and resolves it with `f`.
    pub(super) fn part<T>(
        &mut self,
        path: &[Seg],
        name: &str,
        kind: PartKind,
        f: impl FnOnce(&mut Resolver<'a>, &'a Profile) -> Option<T>,
    ) -> Option<T> {
        let e = self.reference(path, name, kind)?;
        self.sub(e, f)
    }

    /// A reference to a link whose type must be one of `allowed`.
    pub(super) fn link_ref(
        &mut self,
        path: &[Seg],
        name: &str,
        allowed: &[LinkType],
    ) -> Option<LinkSpec> {
        let e = self.reference(path, name, PartKind::Link)?;
        let Profile::Link(lp) = &e.profile else {
            return None;
        };
        if !allowed.contains(&lp.link_type) {
            self.wrong_link_type(path, name, lp.link_type, allowed);
            return None;
        }
        self.sub(e, |r, _| r.link(lp))
    }

    fn wrong_link_type(&mut self, path: &[Seg], name: &str, got: LinkType, allowed: &[LinkType]) {
        let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
        let fitting: Vec<&str> = self
            .reg
            .entries
            .values()
            .filter_map(|x| match &x.profile {
                Profile::Link(l) if allowed.contains(&l.link_type) => Some(l.name.as_str()),
                _ => None,
            })
            .collect();
        self.err(
            path,
            format!(
                "link \"{name}\" is of type {}, but {} is required here",
                got.as_str(),
                names.join(" or ")
            ),
            Some(format!("links that fit: {}", fitting.join(", "))),
        );
    }

    pub(super) fn link(&mut self, l: &LinkProfile) -> Option<LinkSpec> {
        let bandwidth = self.rate(&p(&["bandwidth"]), &l.bandwidth, |q| q.0);
        let reverse_achievable = match &l.reverse_achievable {
            Some(t) => {
                self.tagged(&p(&["reverse_achievable"]), t);
                if t.value.0 > bandwidth.peak {
                    self.err(
                        &p(&["reverse_achievable", "value"]),
                        "reverse achievable exceeds the per-direction peak",
                        None,
                    );
                }
                t.value.0
            }
            None => bandwidth.achievable,
        };
        self.tagged(&p(&["latency"]), &l.latency);
        let shared_by = match &l.shared_by {
            Some(t) => self.count(&p(&["shared_by"]), t, 1, 1024),
            None => 1,
        };
        let pcie = self.pcie(l);
        let collective = self.collective(&l.collective);
        Some(LinkSpec {
            name: l.name.clone(),
            link_type: l.link_type,
            bandwidth,
            reverse_achievable,
            latency_ps: l.latency.value.0,
            shared_by: to_u32(shared_by),
            pcie,
            collective,
        })
    }

    /// The `[pcie]` table: required on PCIe links, refused on others.
    fn pcie(&mut self, l: &LinkProfile) -> Option<PcieSpec> {
        match (&l.pcie, l.link_type) {
            (Some(d), LinkType::Pcie) => Some(self.pcie_details(d)),
            (None, LinkType::Pcie) => {
                self.err(&p(&["type"]), "a PCIe link needs a [pcie] table", Some("add [pcie] with generation, lanes, dma_setup, max_payload, max_read_request, tlp_overhead".to_string()));
                None
            }
            (Some(_), _) => {
                self.err(
                    &p(&["pcie"]),
                    "[pcie] is only allowed on links of type \"pcie\"",
                    None,
                );
                None
            }
            (None, _) => None,
        }
    }

    fn pcie_details(&mut self, d: &PcieDetails) -> PcieSpec {
        let generation = self.count(&p(&["pcie", "generation"]), &d.generation, 1, 8);
        let lanes = self.count(&p(&["pcie", "lanes"]), &d.lanes, 1, 32);
        for (k, t) in [
            ("max_payload", &d.max_payload),
            ("max_read_request", &d.max_read_request),
            ("tlp_overhead", &d.tlp_overhead),
        ] {
            self.tagged(&p(&["pcie", k]), t);
        }
        self.tagged(&p(&["pcie", "dma_setup"]), &d.dma_setup);
        if d.max_payload.value.0 == 0 || d.max_read_request.value.0 == 0 {
            self.err(
                &p(&["pcie", "max_payload"]),
                "max payload and max read request must be positive",
                Some("e.g. \"256 B\" and \"512 B\"".to_string()),
            );
        }
        PcieSpec {
            generation: to_u32(generation),
            lanes: to_u32(lanes),
            dma_setup_ps: d.dma_setup.value.0,
            max_payload_bytes: d.max_payload.value.0,
            max_read_request_bytes: d.max_read_request.value.0,
            tlp_overhead_bytes: d.tlp_overhead.value.0,
        }
    }

    fn flops(&mut self, path: &[Seg], pa: &Option<PeakAchievable<FlopRate>>) -> Option<Rate> {
        pa.as_ref().map(|pa| self.rate(path, pa, |q| q.0))
    }

    /// HBM capacity: positive and not absurd.
    fn hbm_capacity(&mut self, g: &GpuProfile) -> u64 {
        self.tagged(&p(&["memory", "capacity"]), &g.memory.capacity);
        let cap = g.memory.capacity.value.0;
        if cap > MAX_HBM_BYTES {
            self.err(
                &p(&["memory", "capacity", "value"]),
                format!(
                    "absurd value {}: GPU memory above 100 TB is not a real part",
                    g.memory.capacity.value
                ),
                Some("check the unit prefix, e.g. \"80 GB\" or \"141 GB\"".to_string()),
            );
        }
        if cap == 0 {
            self.err(
                &p(&["memory", "capacity", "value"]),
                "GPU memory capacity must be positive",
                Some("e.g. \"80 GB\"".to_string()),
            );
        }
        cap
    }

    fn compute(&mut self, g: &GpuProfile) -> ComputeSpec {
        let compute = ComputeSpec {
            bf16: self.flops(&p(&["compute", "bf16"]), &g.compute.bf16),
            fp8: self.flops(&p(&["compute", "fp8"]), &g.compute.fp8),
            fp4: self.flops(&p(&["compute", "fp4"]), &g.compute.fp4),
            tf32: self.flops(&p(&["compute", "tf32"]), &g.compute.tf32),
            fp32: self.flops(&p(&["compute", "fp32"]), &g.compute.fp32),
        };
        if compute.bf16.is_none() && compute.fp8.is_none() && compute.fp4.is_none() {
            self.err(
                &p(&["compute"]),
                "no compute rate given",
                Some("add at least one of bf16, fp8, fp4".to_string()),
            );
        }
        compute
    }

    pub(super) fn gpu(&mut self, g: &GpuProfile) -> Option<GpuSpec> {
        let sms = g
            .sms
            .as_ref()
            .map(|t| to_u32(self.count(&p(&["sms"]), t, 1, 100_000)));
        self.tagged_opt(&p(&["l2"]), &g.l2);
        let copy_engines = to_u32(self.count(&p(&["copy_engines"]), &g.copy_engines, 1, 64));
        self.tagged(&p(&["kernel_launch"]), &g.kernel_launch);
        self.tagged_opt(&p(&["tdp"]), &g.tdp);
        let cap = self.hbm_capacity(g);
        let hbm_bandwidth = self.rate(&p(&["memory", "bandwidth"]), &g.memory.bandwidth, |q| q.0);
        let compute = self.compute(g);
        let host_link = self.link_ref(
            &p(&["host_link"]),
            &g.host_link,
            &[LinkType::Pcie, LinkType::NvlinkC2c],
        );
        let scale_up_link = match &g.scale_up_link {
            Some(n) => Some(self.link_ref(
                &p(&["scale_up_link"]),
                n,
                &[LinkType::Nvlink, LinkType::InfinityFabric],
            )?),
            None => None,
        };
        Some(GpuSpec {
            name: g.name.clone(),
            description: g.description.clone(),
            preliminary: g.preliminary,
            sms,
            l2_bytes: g.l2.as_ref().map(|t| t.value.0),
            copy_engines,
            kernel_launch_ps: g.kernel_launch.value.0,
            tdp_mw: g.tdp.as_ref().map(|t| t.value.0),
            memory_type: g.memory.memory_type.clone(),
            hbm_capacity_bytes: cap,
            hbm_bandwidth,
            compute,
            host_link: host_link?,
            scale_up_link,
            kernels: self.kernels(g),
        })
    }

    /// `[kernels]`: tiles between 1 and 1,024, a floor under 1 ms.
    fn kernels(&mut self, g: &GpuProfile) -> KernelSpec {
        let Some(k) = &g.kernels else {
            return KernelSpec {
                floor_ps: 0,
                tile_m: 1,
                tile_n: 1,
                tile_min: 1,
                graph_launch_ps: g.kernel_launch.value.0,
                memory_bw: None,
                gemm_memory_bw: None,
                given: false,
            };
        };
        let path = |f: &str| p(&["kernels", f]);
        let tile_m = to_u32(self.count(&path("gemm_tile_m"), &k.gemm_tile_m, 1, 1024));
        let tile_n = to_u32(self.count(&path("gemm_tile_n"), &k.gemm_tile_n, 1, 1024));
        let tile_min = to_u32(self.count(&path("gemm_tile_min"), &k.gemm_tile_min, 1, 1024));
        self.tagged(&path("floor"), &k.floor);
        self.tagged(&path("graph_launch"), &k.graph_launch);
        for (f, t) in [("floor", &k.floor), ("graph_launch", &k.graph_launch)] {
            if t.value.0 > MAX_KERNEL_TERM_PS {
                self.err(
                    &p(&["kernels", f, "value"]),
                    format!("absurd value {}: above 1 ms", t.value),
                    Some("a kernel floor or launch cost is microseconds, e.g. \"2 us\"".into()),
                );
            }
        }
        let memory_bw = self.effective_bw(&k.memory_bandwidth, "memory_bandwidth");
        let gemm_memory_bw = self.effective_bw(&k.gemm_memory_bandwidth, "gemm_memory_bandwidth");
        KernelSpec {
            floor_ps: k.floor.value.0,
            tile_m,
            tile_n,
            tile_min: tile_min.min(tile_m).min(tile_n),
            graph_launch_ps: k.graph_launch.value.0,
            memory_bw,
            gemm_memory_bw,
            given: true,
        }
    }

    /// An optional `[kernels]` effective bandwidth (`field`), checked above zero.
    fn effective_bw(&mut self, t: &Option<Tagged<ByteRate>>, field: &str) -> Option<u64> {
        t.as_ref().map(|t| {
            self.tagged(&p(&["kernels", field]), t);
            if t.value.0 == 0 {
                self.err(
                    &p(&["kernels", field, "value"]),
                    "must be above zero",
                    Some("an effective bandwidth, e.g. \"1.2 TB/s\"".into()),
                );
            }
            t.value.0.max(1)
        })
    }

    pub(super) fn host(&mut self, h: &HostProfile) -> Option<HostSpec> {
        let cores = to_u32(self.count(&p(&["cores"]), &h.cores, 1, 100_000));
        let pcie_lanes = h
            .pcie_lanes
            .as_ref()
            .map(|t| to_u32(self.count(&p(&["pcie_lanes"]), t, 1, 1024)));
        self.tagged(&p(&["memory", "capacity"]), &h.memory.capacity);
        let cap = h.memory.capacity.value.0;
        if cap > MAX_DRAM_BYTES || cap == 0 {
            self.err(
                &p(&["memory", "capacity", "value"]),
                format!(
                    "absurd DRAM capacity {} per socket",
                    h.memory.capacity.value
                ),
                Some("expected between 1 B and 100 TB, e.g. \"1 TB\"".to_string()),
            );
        }
        let dram_bandwidth = self.rate(&p(&["memory", "bandwidth"]), &h.memory.bandwidth, |q| q.0);
        self.tagged(&p(&["memory", "latency"]), &h.memory.latency);
        let cross_socket = h.cross_socket.as_ref().map(|c| {
            self.tagged(&p(&["cross_socket", "bandwidth"]), &c.bandwidth);
            self.tagged(&p(&["cross_socket", "latency"]), &c.latency);
            CrossSocketSpec {
                bandwidth: c.bandwidth.value.0,
                extra_latency_ps: c.latency.value.0,
            }
        });
        Some(HostSpec {
            name: h.name.clone(),
            description: h.description.clone(),
            cores,
            pcie_lanes,
            memory_type: h.memory.memory_type.clone(),
            dram_capacity_bytes: cap,
            dram_bandwidth,
            dram_latency_ps: h.memory.latency.value.0,
            cross_socket,
        })
    }

    pub(super) fn nic(&mut self, n: &NicProfile) -> Option<NicSpec> {
        let bandwidth = self.rate(&p(&["bandwidth"]), &n.bandwidth, |q| q.0);
        self.tagged(&p(&["latency"]), &n.latency);
        let ports = n
            .ports
            .as_ref()
            .map(|t| to_u32(self.count(&p(&["ports"]), t, 1, 64)));
        let host_link = self.link_ref(&p(&["host_link"]), &n.host_link, &[LinkType::Pcie])?;
        let collective = self.collective(&n.collective);
        Some(NicSpec {
            name: n.name.clone(),
            description: n.description.clone(),
            bandwidth,
            latency_ps: n.latency.value.0,
            host_link,
            ports,
            collective,
        })
    }

    pub(super) fn nvme(&mut self, d: &NvmeProfile) -> Option<NvmeSpec> {
        self.tagged_opt(&p(&["capacity"]), &d.capacity);
        self.tagged(&p(&["seq_read"]), &d.seq_read);
        self.tagged_opt(&p(&["seq_write"]), &d.seq_write);
        self.tagged(&p(&["random_read_iops"]), &d.random_read_iops);
        self.tagged_opt(&p(&["random_write_iops"]), &d.random_write_iops);
        self.tagged(&p(&["read_latency_qd1"]), &d.read_latency_qd1);
        self.tagged(&p(&["page_size"]), &d.page_size);
        let page = d.page_size.value.0;
        if page == 0 || page > 1 << 20 {
            self.err(
                &p(&["page_size", "value"]),
                format!("page size {} is out of range", d.page_size.value),
                Some("e.g. \"4 KiB\"".to_string()),
            );
        }
        let qd = to_u32(self.count(&p(&["max_queue_depth"]), &d.max_queue_depth, 1, 1 << 24));
        let host_link = self.link_ref(&p(&["host_link"]), &d.host_link, &[LinkType::Pcie])?;
        Some(NvmeSpec {
            name: d.name.clone(),
            description: d.description.clone(),
            host_link,
            capacity_bytes: d.capacity.as_ref().map(|t| t.value.0),
            seq_read: d.seq_read.value.0,
            seq_write: d.seq_write.as_ref().map(|t| t.value.0),
            random_read_iops: d.random_read_iops.value.0,
            random_write_iops: d.random_write_iops.as_ref().map(|t| t.value.0),
            read_latency_qd1_ps: d.read_latency_qd1.value.0,
            page_size_bytes: page,
            max_queue_depth: qd,
        })
    }

    pub(super) fn fabric(&mut self, f: &FabricProfile) -> Option<FabricSpec> {
        self.tagged(&p(&["latency_same_leaf"]), &f.latency_same_leaf);
        self.tagged(&p(&["latency_cross_leaf"]), &f.latency_cross_leaf);
        let radix = self.count(&p(&["switch_radix"]), &f.switch_radix, 2, 4096);
        let tiers = self.count(&p(&["tiers"]), &f.tiers, 1, 8);
        let planes = f
            .planes
            .as_ref()
            .map(|t| to_u32(self.count(&p(&["planes"]), t, 1, 64)));
        let port_bandwidth = self.rate(&p(&["port_bandwidth"]), &f.port_bandwidth, |q| q.0);
        let uplinks = self.count(&p(&["leaf_uplinks"]), &f.leaf_uplinks, 1, 4096);
        if uplinks >= radix {
            self.err(
                &p(&["leaf_uplinks", "value"]),
                format!("{uplinks} uplinks leave no leaf port for the NICs (radix {radix})"),
                Some("non-blocking is half the radix; fewer uplinks oversubscribe".to_string()),
            );
        }
        if f.topology == FabricTopology::MultiPlaneFatTree && f.planes.is_none() {
            self.err(
                &p(&["topology"]),
                "a multi-plane fat-tree needs `planes`",
                Some(
                    "e.g. planes = { value = 8, basis = \"spec\", source = \"R16 §5.1\" }"
                        .to_string(),
                ),
            );
        }
        Some(FabricSpec {
            name: f.name.clone(),
            description: f.description.clone(),
            technology: f.technology.clone(),
            latency_same_leaf_ps: f.latency_same_leaf.value.0,
            latency_cross_leaf_ps: f.latency_cross_leaf.value.0,
            switch_radix: to_u32(radix),
            tiers: to_u32(tiers),
            planes,
            topology: f.topology,
            port_bandwidth,
            leaf_uplinks: to_u32(uplinks),
        })
    }
}
