//! Resolving a `[node]` table: its parts, its PCIe switches and C2C groups, which
//! device hangs off which, and the per-GPU paths to the host.

use super::resolve::{p, to_u32, with, Resolver, MAX_DRAM_BYTES, P};
use crate::error::Seg;
use crate::quantity::{Basis, Count, Tagged};
use crate::schema::*;
use crate::spec::*;

/// Which switch (or C2C group) each GPU, NIC and drive hangs off, by index.
struct Attachments {
    gpu_switch: Vec<Option<usize>>,
    gpu_c2c: Vec<Option<usize>>,
    nic_switch: Vec<Option<usize>>,
    drive_switch: Vec<Option<usize>>,
}

/// The parts a node names, resolved (`None` where they did not resolve).
struct NodeParts {
    gpu: Option<GpuSpec>,
    host: Option<HostSpec>,
    gpu_host_override: Option<LinkSpec>,
    nic: Option<NicSpec>,
    nic_count: usize,
    drive: Option<NvmeSpec>,
    drive_count: usize,
}

/// A part named together with its count (`nic` + `nic_count`, `drive` + `drive_count`).
struct Counted<'s> {
    field: &'s str,
    count_field: &'s str,
    kind: PartKind,
    /// Hint when the name is there without the count.
    count_hint: &'s str,
    /// Hint when the count is there without the name.
    name_hint: &'s str,
}

const NIC: Counted<'static> = Counted {
    field: "nic",
    count_field: "nic_count",
    kind: PartKind::Nic,
    count_hint: "add nic_count = { value = 8, basis = \"spec\", source = \"...\" }",
    name_hint: "add nic = \"connectx-7\" (a nic profile name)",
};

const DRIVE: Counted<'static> = Counted {
    field: "drive",
    count_field: "drive_count",
    kind: PartKind::Nvme,
    count_hint: "add drive_count = { value = 8, basis = \"spec\", source = \"...\" }",
    name_hint: "add drive = \"samsung-pm1743\" (an nvme profile name)",
};

/// The path of `[[node.<list>]]` entry `i`.
fn list_path(list: &str, i: usize) -> P {
    vec![
        Seg::Key("node".into()),
        Seg::Key(list.into()),
        Seg::Index(i),
    ]
}

impl<'a> Resolver<'a> {
    pub(super) fn node(&mut self, n: &NodeProfile) -> Option<NodeSpec> {
        let base = p(&["node"]);
        let gpu_count = self.count(&with(&base, &["gpu_count"]), &n.gpu_count, 1, 1024) as usize;
        let sockets = self.count(&with(&base, &["sockets"]), &n.sockets, 1, 16) as usize;
        let domain = self.count(
            &with(&base, &["nvlink_domain"]),
            &n.nvlink_domain,
            1,
            100_000,
        );
        let parts = self.node_parts(n, &base);
        let mut at = Attachments {
            gpu_switch: vec![None; gpu_count],
            gpu_c2c: vec![None; gpu_count],
            nic_switch: vec![None; parts.nic_count],
            drive_switch: vec![None; parts.drive_count],
        };
        let switches = self.switches(n, sockets, &mut at);
        let c2c_groups = self.c2c_groups(n, sockets, &mut at);
        self.unattached(&at, &base);
        let gpu = parts.gpu?;
        let host = parts.host?;
        if domain > 1 && gpu.scale_up_link.is_none() {
            self.err(
                &with(&base, &["nvlink_domain"]),
                format!(
                    "NVLink domain of {domain} but GPU \"{}\" has no scale_up_link",
                    gpu.name
                ),
                None,
            );
        }
        if self.has_errors() {
            return None;
        }
        let sockets_v = socket_specs(n, &host, sockets);
        let host_link = parts
            .gpu_host_override
            .unwrap_or_else(|| gpu.host_link.clone());
        let gpus = self.gpu_instances(&at, &switches, &c2c_groups, &host_link)?;
        let nics = on_switch(&at.nic_switch, &switches)
            .map(|(index, switch)| NicInstance { index, switch })
            .collect();
        let drives = on_switch(&at.drive_switch, &switches)
            .map(|(index, switch)| DriveInstance { index, switch })
            .collect();
        let nvlink = gpu.scale_up_link.clone().map(|link| NvlinkDomainSpec {
            domain_size: to_u32(domain),
            link,
        });
        if self.has_errors() {
            return None;
        }
        Some(NodeSpec {
            gpu,
            gpus,
            host,
            sockets: sockets_v,
            switches,
            c2c_groups,
            nic: parts.nic,
            nics,
            drive: parts.drive,
            drives,
            nvlink,
        })
    }

    /// The GPU, host, NIC and drive parts the node names, and its DRAM override.
    fn node_parts(&mut self, n: &NodeProfile, base: &[Seg]) -> NodeParts {
        let gpu = self.part(
            &with(base, &["gpu"]),
            &n.gpu,
            PartKind::Gpu,
            |r, pr| match pr {
                Profile::Gpu(gp) => r.gpu(gp),
                _ => None,
            },
        );
        let host = self.part(
            &with(base, &["host"]),
            &n.host,
            PartKind::Host,
            |r, pr| match pr {
                Profile::Host(hp) => r.host(hp),
                _ => None,
            },
        );
        let gpu_host_override = match &n.gpu_host_link {
            Some(l) => self.link_ref(&with(base, &["gpu_host_link"]), l, &[LinkType::Pcie]),
            None => None,
        };
        let (nic, nic_count) = self.counted(base, &NIC, &n.nic, &n.nic_count, |r, pr| match pr {
            Profile::Nic(np) => r.nic(np),
            _ => None,
        });
        let (drive, drive_count) =
            self.counted(base, &DRIVE, &n.drive, &n.drive_count, |r, pr| match pr {
                Profile::Nvme(dp) => r.nvme(dp),
                _ => None,
            });
        self.dram_override(n, base);
        NodeParts {
            gpu,
            host,
            gpu_host_override,
            nic,
            nic_count,
            drive,
            drive_count,
        }
    }

    /// `dram_per_socket`, when given, with its provenance and a sane size.
    fn dram_override(&mut self, n: &NodeProfile, base: &[Seg]) {
        if let Some(t) = &n.dram_per_socket {
            self.tagged(&with(base, &["dram_per_socket"]), t);
            if t.value.0 == 0 || t.value.0 > MAX_DRAM_BYTES {
                self.err(
                    &with(base, &["dram_per_socket", "value"]),
                    format!("absurd DRAM capacity {} per socket", t.value),
                    Some("expected between 1 B and 100 TB".to_string()),
                );
            }
        }
    }

    /// A part and its count, which come together or not at all.
    fn counted<T>(
        &mut self,
        base: &[Seg],
        c: &Counted<'_>,
        name: &Option<String>,
        count: &Option<Tagged<Count>>,
        resolve: impl FnOnce(&mut Resolver<'a>, &'a Profile) -> Option<T>,
    ) -> (Option<T>, usize) {
        match (name, count) {
            (Some(name), Some(t)) => {
                let count = self.count(&with(base, &[c.count_field]), t, 0, 4096) as usize;
                let spec = self.part(&with(base, &[c.field]), name, c.kind, resolve);
                (spec, count)
            }
            (None, None) => (None, 0),
            (Some(_), None) => {
                self.err(
                    &with(base, &[c.field]),
                    format!("`{}` without `{}`", c.field, c.count_field),
                    Some(c.count_hint.to_string()),
                );
                (None, 0)
            }
            (None, Some(_)) => {
                self.err(
                    &with(base, &[c.count_field]),
                    format!("`{}` without `{}`", c.count_field, c.field),
                    Some(c.name_hint.to_string()),
                );
                (None, 0)
            }
        }
    }

    /// The `[[node.switches]]`, claiming the GPUs, NICs and drives each lists.
    fn switches(
        &mut self,
        n: &NodeProfile,
        sockets: usize,
        at: &mut Attachments,
    ) -> Vec<SwitchSpec> {
        let mut switches = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for (i, sw) in n.switches.iter().enumerate() {
            let sp = list_path("switches", i);
            self.switch_checks(&sp, sw, &names, sockets);
            names.push(&sw.name);
            let uplink = self.link_ref(&with(&sp, &["uplink"]), &sw.uplink, &[LinkType::Pcie]);
            let gpus = self.claim(&sp, i, "gpus", &sw.gpus, &mut at.gpu_switch, "gpu");
            let nics = self.claim(&sp, i, "nics", &sw.nics, &mut at.nic_switch, "nic");
            let drives = self.claim(&sp, i, "drives", &sw.drives, &mut at.drive_switch, "drive");
            if let Some(uplink) = uplink {
                switches.push(SwitchSpec {
                    index: i,
                    name: sw.name.clone(),
                    socket: sw.socket as usize,
                    uplink,
                    gpus,
                    nics,
                    drives,
                });
            }
        }
        switches
    }

    /// A switch's provenance, unique name and socket.
    fn switch_checks(&mut self, sp: &[Seg], sw: &SwitchProfile, names: &[&str], sockets: usize) {
        if sw.source.trim().is_empty() {
            self.err(
                &with(sp, &["source"]),
                "empty source",
                Some("cite where the topology comes from".to_string()),
            );
        }
        if sw.basis == Basis::Estimate && sw.note.is_none() {
            self.err(
                &with(sp, &["note"]),
                "an estimate needs a note saying why",
                Some("add note = \"...\"".to_string()),
            );
        }
        if names.contains(&sw.name.as_str()) {
            self.err(
                &with(sp, &["name"]),
                format!("duplicate switch name \"{}\"", sw.name),
                None,
            );
        }
        if sw.socket as usize >= sockets {
            self.err(
                &with(sp, &["socket"]),
                format!(
                    "socket {} does not exist (the node has {sockets})",
                    sw.socket
                ),
                Some(format!(
                    "sockets are numbered 0 to {}",
                    sockets.saturating_sub(1)
                )),
            );
        }
    }

    /// Marks each device in `list` as hanging off switch `i`; a device that does not
    /// exist or already hangs off another switch is an error.
    fn claim(
        &mut self,
        sp: &[Seg],
        i: usize,
        field: &str,
        list: &[u32],
        owner: &mut [Option<usize>],
        what: &str,
    ) -> Vec<usize> {
        let mut out = Vec::new();
        for &g in list {
            let g = g as usize;
            if g >= owner.len() {
                self.err(
                    &with(sp, &[field]),
                    format!("{what} {g} does not exist (the node has {})", owner.len()),
                    Some(format!(
                        "{what}s are numbered 0 to {}",
                        owner.len().saturating_sub(1)
                    )),
                );
            } else if let Some(prev) = owner[g] {
                self.err(
                    &with(sp, &[field]),
                    format!("{what} {g} is already on switch {prev}"),
                    Some(format!("each {what} hangs off one switch")),
                );
            } else {
                owner[g] = Some(i);
                out.push(g);
            }
        }
        out
    }

    /// The `[[node.c2c]]` groups, claiming their GPUs.
    fn c2c_groups(
        &mut self,
        n: &NodeProfile,
        sockets: usize,
        at: &mut Attachments,
    ) -> Vec<C2cGroupSpec> {
        let gpu_count = at.gpu_c2c.len();
        let mut groups = Vec::new();
        for (i, g) in n.c2c.iter().enumerate() {
            let gp = list_path("c2c", i);
            if g.source.trim().is_empty() {
                self.err(&with(&gp, &["source"]), "empty source", None);
            }
            if g.socket as usize >= sockets {
                self.err(
                    &with(&gp, &["socket"]),
                    format!(
                        "socket {} does not exist (the node has {sockets})",
                        g.socket
                    ),
                    None,
                );
            }
            let link = self.link_ref(&with(&gp, &["link"]), &g.link, &[LinkType::NvlinkC2c]);
            let mut gpus = Vec::new();
            for &x in &g.gpus {
                let x = x as usize;
                let message = if x >= gpu_count {
                    format!("gpu {x} does not exist (the node has {gpu_count})")
                } else if at.gpu_c2c[x].is_some() {
                    format!("gpu {x} is already in a C2C group")
                } else {
                    at.gpu_c2c[x] = Some(i);
                    gpus.push(x);
                    continue;
                };
                self.err(&with(&gp, &["gpus"]), message, None);
            }
            if let Some(link) = link {
                groups.push(C2cGroupSpec {
                    index: i,
                    socket: g.socket as usize,
                    gpus,
                    link,
                });
            }
        }
        groups
    }

    /// Every NIC and drive hangs off a switch; every GPU off a switch or a C2C group.
    fn unattached(&mut self, at: &Attachments, base: &[Seg]) {
        let path = with(base, &["switches"]);
        for (what, owners, field) in [
            ("nic", &at.nic_switch, "nics"),
            ("drive", &at.drive_switch, "drives"),
        ] {
            for (k, owner) in owners.iter().enumerate() {
                if owner.is_none() {
                    self.err(
                        &path,
                        format!("{what} {k} hangs off no PCIe switch"),
                        Some(format!("list it in some switch's `{field}`")),
                    );
                }
            }
        }
        for k in 0..at.gpu_switch.len() {
            if at.gpu_switch[k].is_none() && at.gpu_c2c[k].is_none() {
                self.err(
                    &path,
                    format!("gpu {k} is attached to no PCIe switch and no C2C group"),
                    Some("list it in a switch's `gpus` or a [[node.c2c]] group".to_string()),
                );
            }
        }
    }

    /// Each GPU's socket, switch, C2C group, nearest NICs and path to the host.
    fn gpu_instances(
        &mut self,
        at: &Attachments,
        switches: &[SwitchSpec],
        c2c_groups: &[C2cGroupSpec],
        pcie_host_link: &LinkSpec,
    ) -> Option<Vec<GpuInstance>> {
        let find_sw = |i: usize| switches.iter().position(|s| s.index == i);
        let find_c2c = |i: usize| c2c_groups.iter().position(|g| g.index == i);
        let mut gpus = Vec::with_capacity(at.gpu_switch.len());
        for k in 0..at.gpu_switch.len() {
            let switch = at.gpu_switch[k].and_then(find_sw);
            let c2c_group = at.gpu_c2c[k].and_then(find_c2c);
            let nics = match switch {
                Some(s) => nearest_nics(&switches[s], k),
                None => Vec::new(),
            };
            let (host_path, socket, host_link) = match (c2c_group, switch) {
                (Some(g), _) => (
                    HostPath::C2c(g),
                    c2c_groups[g].socket,
                    c2c_groups[g].link.clone(),
                ),
                (None, Some(s)) => {
                    self.check_pcie_host_link(k, pcie_host_link);
                    (
                        HostPath::PcieSwitch(s),
                        switches[s].socket,
                        pcie_host_link.clone(),
                    )
                }
                (None, None) => return None,
            };
            gpus.push(GpuInstance {
                index: k,
                socket,
                switch,
                c2c_group,
                nics,
                host_path,
                host_link,
            });
        }
        Some(gpus)
    }

    fn check_pcie_host_link(&mut self, k: usize, link: &LinkSpec) {
        if link.link_type != LinkType::Pcie {
            self.err(
                &p(&["node", "gpu_host_link"]),
                format!(
                    "gpu {k} sits on a PCIe switch but its host link \"{}\" is {}",
                    link.name,
                    link.link_type.as_str()
                ),
                Some(
                    "set node.gpu_host_link to a PCIe link, or put the GPU in a [[node.c2c]] group"
                        .to_string(),
                ),
            );
        }
    }
}

/// Every socket with the node's DRAM (the `dram_per_socket` override, else the host
/// part's).
fn socket_specs(n: &NodeProfile, host: &HostSpec, sockets: usize) -> Vec<SocketSpec> {
    let dram_capacity = n
        .dram_per_socket
        .as_ref()
        .map(|t| t.value.0)
        .unwrap_or(host.dram_capacity_bytes);
    (0..sockets)
        .map(|i| SocketSpec {
            index: i,
            dram_capacity_bytes: dram_capacity,
            dram_bandwidth: host.dram_bandwidth,
        })
        .collect()
}

/// (device index, position of its switch in `switches`) of every device on a switch.
fn on_switch<'s>(
    owners: &'s [Option<usize>],
    switches: &'s [SwitchSpec],
) -> impl Iterator<Item = (usize, usize)> + 's {
    owners.iter().enumerate().filter_map(|(i, s)| {
        s.and_then(|s| switches.iter().position(|x| x.index == s))
            .map(|s| (i, s))
    })
}

/// The NICs nearest GPU `k` on its switch: its own when the switch pairs one NIC
/// with each GPU, else all of the switch's NICs.
fn nearest_nics(sw: &SwitchSpec, k: usize) -> Vec<usize> {
    if sw.nics.len() == sw.gpus.len() {
        let pos = sw.gpus.iter().position(|&g| g == k).unwrap_or(0);
        sw.nics.get(pos).copied().into_iter().collect()
    } else {
        sw.nics.clone()
    }
}
