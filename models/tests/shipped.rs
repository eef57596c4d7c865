use memwall_models::*;

#[test]
fn every_shipped_profile_validates() {
    let reg = Registry::embedded().unwrap_or_else(|e| panic!("{}", e));
    let errors = reg.validate();
    assert!(errors.is_empty(), "{}", errors);
    assert!(reg.entries().count() >= 40);
}

#[test]
fn required_parts_exist() {
    let reg = Registry::embedded().unwrap();
    for name in [
        "h800",
        "h100-sxm",
        "h200",
        "b200",
        "gb200",
        "b300",
        "gb300",
        "rubin",
        "rubin-cpx",
        "mi300x",
        "sapphire-rapids",
        "genoa",
        "grace",
        "vera",
        "samsung-pm1743",
        "micron-9550",
        "micron-9650",
        "connectx-7",
        "connectx-8",
        "connectx-9",
        "deepseek-h800-node",
        "dgx-h100",
        "hgx-h200",
        "hgx-b200",
        "gb200-nvl72",
        "gb300-nvl72",
        "vr200-nvl72",
        "deepseek-h800-cluster",
    ] {
        assert!(reg.get(name).is_some(), "missing {name}");
        assert!(show(&reg, name).is_ok(), "show {name}");
    }
}

#[test]
fn every_system_resolves_and_shows() {
    let reg = Registry::embedded().unwrap();
    for name in reg.names_of(PartKind::System) {
        let s = reg.system(name).unwrap_or_else(|e| panic!("{}", e));
        assert!(!s.node.gpus.is_empty());
        for g in &s.node.gpus {
            assert!(g.socket < s.node.sockets.len());
            assert!(g.switch.is_some() || g.c2c_group.is_some());
        }
        let text = show(&reg, name).unwrap();
        assert!(text.contains("Resolved node"), "{text}");
    }
}

#[test]
fn dgx_h100_pcie_h2d_is_the_measured_55_4() {
    let reg = Registry::embedded().unwrap();
    let s = reg.system("dgx-h100").unwrap();
    for g in &s.node.gpus {
        assert_eq!(g.host_link.bandwidth.achievable, 55_400_000_000);
        assert_eq!(g.host_path, HostPath::PcieSwitch(g.switch.unwrap()));
    }
    assert_eq!(
        s.node.switches[0].uplink.bandwidth.achievable,
        55_400_000_000
    );
    assert_eq!(s.node.gpu.hbm_bandwidth.achievable, 2_970_000_000_000);
    assert_eq!(s.node.sockets[0].dram_capacity_bytes, 1_000_000_000_000);
    assert_eq!(s.node.drives.len(), 8);
}

#[test]
fn deepseek_node_and_cluster() {
    let reg = Registry::embedded().unwrap();
    let n = reg.system("deepseek-h800-node").unwrap();
    assert_eq!(n.node.gpus.len(), 8);
    assert_eq!(n.node.nics.len(), 8);
    for g in &n.node.gpus {
        // each GPU shares its switch with exactly its own NIC
        assert_eq!(g.nics, vec![g.index]);
        assert_eq!(n.node.nics[g.index].switch, g.switch.unwrap());
    }
    let nv = n.node.nvlink.as_ref().unwrap();
    assert_eq!(nv.link.bandwidth.achievable, 160_000_000_000);
    assert_eq!(
        n.node.nic.as_ref().unwrap().bandwidth.achievable,
        40_000_000_000
    );
    let c = reg.system("deepseek-h800-cluster").unwrap();
    let cl = c.cluster.unwrap();
    assert_eq!(cl.total_gpus, 2048);
    assert_eq!(cl.fabric.latency_same_leaf_ps, 2_800_000);
    assert_eq!(c.node, n.node);
}

#[test]
fn grace_systems_use_c2c_host_paths() {
    let reg = Registry::embedded().unwrap();
    for name in ["gb200-nvl72", "gb300-nvl72", "vr200-nvl72"] {
        let s = reg.system(name).unwrap();
        assert_eq!(s.node.nvlink.as_ref().unwrap().domain_size, 72);
        for g in &s.node.gpus {
            assert!(matches!(g.host_path, HostPath::C2c(_)), "{name}");
            assert_eq!(g.socket, g.index / 2);
        }
        assert_eq!(s.cluster.as_ref().unwrap().total_gpus, 72);
    }
    let vr = reg.system("vr200-nvl72").unwrap();
    assert!(vr.preliminary);
    assert_eq!(vr.node.gpus[0].nics.len(), 2);
}

#[test]
fn pcie_small_reads_pay_tlp_overhead() {
    let reg = Registry::embedded().unwrap();
    let l = reg.link("pcie-gen5-x16").unwrap();
    let p = l.pcie.unwrap();
    assert_eq!(p.read_wire_bytes(264), 264 + 2 * 24);
    assert_eq!(p.read_wire_bytes(1), 1 + 24);
    let d = reg.nvme("micron-9550").unwrap();
    assert_eq!(d.read_bytes_for(264), 4096);
}
