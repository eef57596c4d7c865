//! Text views for the CLI: `list`, `show NAME`, `validate FILES...`.

use crate::error::{ProfileError, ProfileErrors};
use crate::registry::{parse_profile, Entry, Registry};
use crate::schema::{PeakAchievable, Profile};
use crate::spec::{EconomicsSpec, LinkSpec, NodeSpec, Rate, SystemSpec};
use crate::units::{format_byte_rate, format_bytes, format_flop_rate, format_iops, format_time_ps};
use std::fmt::Write;
use std::path::PathBuf;

fn pa<Q: std::fmt::Display>(x: &PeakAchievable<Q>) -> String {
    x.peak.value.to_string()
}

fn summary(e: &Entry) -> String {
    match &e.profile {
        Profile::Gpu(g) => {
            let mut s = format!(
                "{} {}, {}",
                g.memory.capacity.value,
                g.memory.memory_type,
                pa(&g.memory.bandwidth)
            );
            if let Some(b) = &g.compute.bf16 {
                let _ = write!(s, ", BF16 {}", b.peak.value);
            }
            if let Some(b) = &g.compute.fp8 {
                let _ = write!(s, ", FP8 {}", b.peak.value);
            }
            s
        }
        Profile::Host(h) => format!(
            "{} cores, {} {} per socket at {}",
            h.cores.value,
            h.memory.capacity.value,
            h.memory.memory_type,
            pa(&h.memory.bandwidth)
        ),
        Profile::Link(l) => format!(
            "{} {}/dir, latency {}",
            l.link_type.as_str(),
            pa(&l.bandwidth),
            l.latency.value
        ),
        Profile::Nic(n) => format!("{}/dir, latency {}", pa(&n.bandwidth), n.latency.value),
        Profile::Nvme(d) => format!(
            "seq read {}, 4K random read {}, QD1 {}",
            d.seq_read.value, d.random_read_iops.value, d.read_latency_qd1.value
        ),
        Profile::Fabric(f) => format!(
            "{}, radix {}, {} tiers",
            f.technology, f.switch_radix.value, f.tiers.value
        ),
        Profile::System(s) => match &s.node {
            Some(n) => format!(
                "{}x {} + {}x {}",
                n.gpu_count.value, n.gpu, n.sockets.value, n.host
            ),
            None => match (&s.node_system, &s.cluster) {
                (Some(ns), Some(c)) => format!("{} nodes of {}", c.nodes.value, ns),
                (Some(ns), None) => format!("node of {ns}"),
                _ => String::new(),
            },
        },
    }
}

/// `list`: a table of every profile (kind, name, origin, summary).
pub fn list_table(reg: &Registry) -> String {
    let mut rows: Vec<(String, String, String, String)> = reg
        .entries()
        .map(|e| {
            let origin = if e.embedded {
                "shipped".to_string()
            } else {
                "user".to_string()
            };
            (
                e.profile.kind().to_string(),
                e.profile.name().to_string(),
                origin,
                summary(e),
            )
        })
        .collect();
    rows.sort_by(|a, b| {
        let ka = crate::schema::PartKind::parse(&a.0);
        let kb = crate::schema::PartKind::parse(&b.0);
        (ka, &a.1).cmp(&(kb, &b.1))
    });
    let w0 = rows.iter().map(|r| r.0.len()).max().unwrap_or(4).max(4);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:w0$}  {:w1$}  {:7}  SUMMARY\n", "KIND", "NAME", "ORIGIN");
    for (k, n, o, s) in rows {
        let _ = writeln!(out, "{k:w0$}  {n:w1$}  {o:7}  {s}");
    }
    out
}

/// Walks the original TOML and prints each number with its basis and source.
fn provenance_lines(text: &str, out: &mut String) {
    if let Ok(v) = toml::from_str::<toml::Value>(text) {
        walk("", &v, out);
    }
}

/// One line per leaf of `v` at `prefix`; a table with basis and source is one line.
fn walk(prefix: &str, v: &toml::Value, out: &mut String) {
    match v {
        toml::Value::Table(t) => {
            if tagged_line(prefix, t, out) {
                return;
            }
            for (k, x) in t {
                if prefix.is_empty() && (k == "kind" || k == "name" || k == "description") {
                    continue;
                }
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                walk(&p, x, out);
            }
        }
        toml::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                walk(&format!("{prefix}[{i}]"), x, out);
            }
        }
        toml::Value::String(s) => {
            let _ = writeln!(out, "  {prefix} = \"{s}\"");
        }
        other => {
            let _ = writeln!(out, "  {prefix} = {other}");
        }
    }
}

/// A number (`value` with basis and source), or a table of fields that shares one
/// basis and source (a switch, a C2C group), as one line; false for other tables.
fn tagged_line(prefix: &str, t: &toml::Table, out: &mut String) -> bool {
    let (Some(basis), Some(source)) = (t.get("basis"), t.get("source")) else {
        return false;
    };
    let basis = basis.as_str().unwrap_or("?");
    let source = source.as_str().unwrap_or("?");
    match t.get("value") {
        Some(val) => {
            let val = match val {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = write!(out, "  {prefix} = {val}  [{basis}, {source}");
            if let Some(tag) = t.get("tag").and_then(|x| x.as_str()) {
                let _ = write!(out, ", {tag}");
            }
            out.push(']');
        }
        None => {
            let fields: Vec<String> = t
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "basis" | "source" | "note" | "tag"))
                .map(|(k, x)| format!("{k} = {x}"))
                .collect();
            let _ = write!(
                out,
                "  {prefix}: {}  [{basis}, {source}]",
                fields.join(", ")
            );
        }
    }
    if let Some(note) = t.get("note").and_then(|x| x.as_str()) {
        let _ = write!(out, "  note: {note}");
    }
    out.push('\n');
    true
}

/// Every source id the profile cites, with its title from docs/sources.md.
fn sources_cited(text: &str, out: &mut String) {
    fn collect(v: &toml::Value, keys: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                if let Some(s) = t.get("source").and_then(|s| s.as_str()) {
                    keys.extend(crate::sources::keys(s));
                }
                t.values().for_each(|x| collect(x, keys));
            }
            toml::Value::Array(a) => a.iter().for_each(|x| collect(x, keys)),
            _ => {}
        }
    }
    let mut keys = Vec::new();
    if let Ok(v) = toml::from_str::<toml::Value>(text) {
        collect(&v, &mut keys);
    }
    let mut seen = std::collections::BTreeSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    if keys.is_empty() {
        return;
    }
    out.push_str("Sources (docs/sources.md):\n");
    for k in keys {
        let title = crate::sources::title(&k).unwrap_or("(no entry in docs/sources.md)");
        let _ = writeln!(out, "  {k}: {title}");
    }
}

fn rate(r: Rate) -> String {
    format!(
        "{} achievable of {} peak",
        format_byte_rate(r.achievable),
        format_byte_rate(r.peak)
    )
}

fn link_line(l: &LinkSpec) -> String {
    let mut s = format!(
        "{} ({}): {} per direction, reverse {}, latency {}",
        l.name,
        l.link_type.as_str(),
        rate(l.bandwidth),
        format_byte_rate(l.reverse_achievable),
        format_time_ps(l.latency_ps)
    );
    if l.shared_by > 1 {
        let _ = write!(s, ", shared by {}", l.shared_by);
    }
    if let Some(p) = &l.pcie {
        let _ = write!(
            s,
            ", Gen{} x{}, DMA setup {}, MPS {}, MRRS {}, TLP overhead {}",
            p.generation,
            p.lanes,
            format_time_ps(p.dma_setup_ps),
            format_bytes(p.max_payload_bytes),
            format_bytes(p.max_read_request_bytes),
            format_bytes(p.tlp_overhead_bytes)
        );
    }
    s
}

fn system_view(s: &SystemSpec, out: &mut String) {
    let n = &s.node;
    let _ = writeln!(
        out,
        "Resolved node ({} GPUs, {} sockets):",
        n.gpus.len(),
        n.sockets.len()
    );
    gpu_view(n, out);
    host_view(n, out);
    topology_view(n, out);
    devices_view(n, out);
    cluster_view(s, out);
    economics_view(&s.economics, out);
}

/// The GPU part and its compute rates.
fn gpu_view(n: &NodeSpec, out: &mut String) {
    let g = &n.gpu;
    let _ = writeln!(
        out,
        "  gpu {}: {} {}, HBM {}",
        g.name,
        format_bytes(g.hbm_capacity_bytes),
        g.memory_type,
        rate(g.hbm_bandwidth)
    );
    for (dt, r) in [
        ("bf16", g.compute.bf16),
        ("fp8", g.compute.fp8),
        ("fp4", g.compute.fp4),
        ("tf32", g.compute.tf32),
        ("fp32", g.compute.fp32),
    ] {
        if let Some(r) = r {
            let _ = writeln!(
                out,
                "    {dt}: {} achievable of {} peak",
                format_flop_rate(r.achievable),
                format_flop_rate(r.peak)
            );
        }
    }
    let k = &g.kernels;
    if k.given {
        let _ = writeln!(
            out,
            "    kernels: floor {}, GEMM tile {}x{} (small GEMMs down to {}), graph launch {}",
            format_time_ps(k.floor_ps),
            k.tile_m,
            k.tile_n,
            k.tile_min,
            format_time_ps(k.graph_launch_ps)
        );
    }
}

/// The host part, per-socket DRAM and the cross-socket link.
fn host_view(n: &NodeSpec, out: &mut String) {
    let h = &n.host;
    let _ = writeln!(
        out,
        "  host {}: {} cores, per socket DRAM {} at {}",
        h.name,
        h.cores,
        format_bytes(
            n.sockets
                .first()
                .map(|s| s.dram_capacity_bytes)
                .unwrap_or(0)
        ),
        rate(h.dram_bandwidth)
    );
    if let Some(c) = &h.cross_socket {
        let _ = writeln!(
            out,
            "    cross-socket: {} , +{}",
            format_byte_rate(c.bandwidth),
            format_time_ps(c.extra_latency_ps)
        );
    }
}

/// NVLink domain, PCIe switches, C2C groups and each GPU's place among them.
fn topology_view(n: &NodeSpec, out: &mut String) {
    if let Some(nv) = &n.nvlink {
        let _ = writeln!(
            out,
            "  nvlink domain {} GPUs, link {}",
            nv.domain_size,
            link_line(&nv.link)
        );
    }
    for sw in &n.switches {
        let _ = writeln!(
            out,
            "  switch {} on socket {}: gpus {:?}, nics {:?}, drives {:?}; uplink {}",
            sw.name,
            sw.socket,
            sw.gpus,
            sw.nics,
            sw.drives,
            link_line(&sw.uplink)
        );
    }
    for c in &n.c2c_groups {
        let _ = writeln!(
            out,
            "  c2c group {} on socket {}: gpus {:?}; link {}",
            c.index,
            c.socket,
            c.gpus,
            link_line(&c.link)
        );
    }
    for gi in &n.gpus {
        let _ = writeln!(
            out,
            "  gpu[{}]: socket {}, switch {:?}, c2c {:?}, nics {:?}, host path {:?} via {}",
            gi.index, gi.socket, gi.switch, gi.c2c_group, gi.nics, gi.host_path, gi.host_link.name
        );
    }
}

/// NICs and drives.
fn devices_view(n: &NodeSpec, out: &mut String) {
    if let Some(nic) = &n.nic {
        let _ = writeln!(
            out,
            "  nic {} x{}: {} per direction, latency {}",
            nic.name,
            n.nics.len(),
            rate(nic.bandwidth),
            format_time_ps(nic.latency_ps)
        );
    }
    if let Some(d) = &n.drive {
        let _ = writeln!(
            out,
            "  drive {} x{}: seq read {}, {} 4K random read, QD1 {}, page {}, max QD {}",
            d.name,
            n.drives.len(),
            format_byte_rate(d.seq_read),
            format_iops(d.random_read_iops),
            format_time_ps(d.read_latency_qd1_ps),
            format_bytes(d.page_size_bytes),
            d.max_queue_depth
        );
    }
}

/// The cluster a system spans, if any.
fn cluster_view(s: &SystemSpec, out: &mut String) {
    if let Some(c) = &s.cluster {
        let _ = writeln!(
            out,
            "Cluster: {} nodes, {} GPUs, fabric {} ({}), latency {} same leaf / {} across leaves",
            c.nodes,
            c.total_gpus,
            c.fabric.name,
            c.fabric.technology,
            format_time_ps(c.fabric.latency_same_leaf_ps),
            format_time_ps(c.fabric.latency_cross_leaf_ps)
        );
        if let Some(t) = &c.topology {
            let _ = writeln!(out, "  topology: {t}");
        }
    }
}

/// Economics per node; unknown figures say so.
fn economics_view(e: &EconomicsSpec, out: &mut String) {
    let unknown = || "not given (user-supplied)".to_string();
    let _ = writeln!(
        out,
        "Economics per node: purchase {}, hourly {}, power {}, rack units {}",
        e.purchase_micro_usd
            .map(crate::units::format_money_micro)
            .unwrap_or_else(unknown),
        e.hourly_micro_usd
            .map(|m| format!("{}/h", crate::units::format_money_micro(m)))
            .unwrap_or_else(unknown),
        e.power_mw
            .map(crate::units::format_power_mw)
            .unwrap_or_else(unknown),
        e.rack_units.map(|r| r.to_string()).unwrap_or_else(unknown)
    );
}

/// `show NAME`: the profile as written (every number with basis and source), then
/// the resolved figures the simulator will use.
pub fn show(reg: &Registry, name: &str) -> Result<String, ProfileErrors> {
    let Some(e) = reg.get(name) else {
        let all: Vec<&str> = reg.entries().map(|e| e.profile.name()).collect();
        let hint = match crate::error::did_you_mean(name, all.iter().copied()) {
            Some(b) => format!("did you mean \"{b}\"? run `memwall profiles list` for all names"),
            None => "run `memwall profiles list` for all names".to_string(),
        };
        let message = format!("no profile named \"{name}\"");
        return Err(ProfileError::file("(lookup)", message, Some(hint)).into());
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} \"{}\" — {}",
        e.profile.kind(),
        e.profile.name(),
        e.profile.description()
    );
    let _ = writeln!(out, "file: {}", e.file);
    let _ = writeln!(out, "As written (value [basis, source, tag]):");
    provenance_lines(&e.text, &mut out);
    sources_cited(&e.text, &mut out);
    match &e.profile {
        Profile::System(_) => system_view(&reg.system(name)?, &mut out),
        Profile::Gpu(_) => {
            let g = reg.gpu(name)?;
            let _ = writeln!(
                out,
                "Resolved: HBM {} {}, {}",
                format_bytes(g.hbm_capacity_bytes),
                g.memory_type,
                rate(g.hbm_bandwidth)
            );
            let _ = writeln!(out, "  host link {}", link_line(&g.host_link));
            if let Some(l) = &g.scale_up_link {
                let _ = writeln!(out, "  scale-up {}", link_line(l));
            }
        }
        Profile::Link(_) => {
            let _ = writeln!(out, "Resolved: {}", link_line(&reg.link(name)?));
        }
        Profile::Host(_) => {
            let h = reg.host(name)?;
            let _ = writeln!(
                out,
                "Resolved: DRAM per socket {} at {}",
                format_bytes(h.dram_capacity_bytes),
                rate(h.dram_bandwidth)
            );
        }
        Profile::Nic(_) => {
            let n = reg.nic(name)?;
            let _ = writeln!(
                out,
                "Resolved: {} per direction; host {}",
                rate(n.bandwidth),
                link_line(&n.host_link)
            );
        }
        Profile::Nvme(_) => {
            let d = reg.nvme(name)?;
            let _ = writeln!(out, "Resolved: host {}", link_line(&d.host_link));
        }
        Profile::Fabric(_) => {
            reg.fabric(name)?;
        }
    }
    Ok(out)
}

/// `validate FILES...`: parses the given files (or directories) on top of the shipped
/// profiles, then validates everything. `Ok` carries a summary line.
pub fn validate_paths(paths: &[PathBuf]) -> Result<String, ProfileErrors> {
    let mut reg = Registry::embedded()?;
    let mut errors = Vec::new();
    for p in paths {
        errors.extend(reg.add_path(p));
    }
    errors.extend(reg.validate());
    let user = reg.entries().filter(|e| !e.embedded).count();
    let summary = format!(
        "ok: {} profiles valid ({} from the given files)",
        reg.entries().count(),
        user
    );
    ProfileErrors(errors).or_ok(summary)
}

/// Validates one text alone (plus the shipped profiles for references).
pub fn validate_text(file: &str, text: &str) -> Result<(), ProfileErrors> {
    let mut reg = Registry::embedded()?;
    parse_profile(file, text)?;
    reg.add_text(file, text, false)?;
    let errs = reg
        .validate()
        .into_iter()
        .filter(|e| e.file == file)
        .collect();
    ProfileErrors(errs).or_ok(())
}

/// CLI helper: `list` with optional user paths; errors rendered as text.
pub fn cli_list(user_paths: &[PathBuf]) -> Result<String, String> {
    let reg = Registry::with_user_paths(user_paths).map_err(|e| e.to_string())?;
    Ok(list_table(&reg))
}

/// CLI helper: `show NAME` with optional user paths; errors rendered as text.
pub fn cli_show(name: &str, user_paths: &[PathBuf]) -> Result<String, String> {
    let reg = Registry::with_user_paths(user_paths).map_err(|e| e.to_string())?;
    show(&reg, name).map_err(|e| e.to_string())
}

/// CLI helper: `validate FILES...`; errors rendered as text.
pub fn cli_validate(paths: &[PathBuf]) -> Result<String, String> {
    validate_paths(paths).map_err(|e| e.to_string())
}
