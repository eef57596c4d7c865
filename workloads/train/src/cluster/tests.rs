use super::*;
use memwall_llm::ModelRegistry;
use memwall_models::fabric::ResClass;
use memwall_models::{Registry, SystemSpec};

fn setup(tokens: u64) -> (EpSetup, TrainHw, f64) {
    let cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    let m = crate::effective_model(&cfg, &ModelRegistry::builtin()).unwrap();
    let mut s = EpSetup::from_config(&cfg, &m).unwrap();
    s.tokens = tokens;
    let hw = TrainHw::shipped(&cfg.system, &cfg).unwrap();
    (s, hw, cfg.a2a_efficiency)
}

fn cluster() -> SystemSpec {
    Registry::embedded()
        .unwrap()
        .system("deepseek-h800-cluster")
        .unwrap()
}

fn fabric(sys: &SystemSpec, nodes: u32, eff: f64) -> ClusterFabric {
    ClusterFabric::build(sys, Some(nodes), (eff * 1e6).round() as u32).unwrap()
}

#[test]
fn routed_traffic_matches_the_expected_bytes() {
    let (s, hw, eff) = setup(2048);
    let f = fabric(&cluster(), 8, eff);
    let t = route_tokens(&f, &s).unwrap();
    // One EP64 group: 64 GPUs, 7 remote nodes each, 7 NVLink peers each.
    assert_eq!((t.fabric.len(), t.nvlink.len()), (64 * 7, 64 * 7));
    let geom = EpGeometry::new(64, hw.scale_up_domain(), 4, 8);
    let want = geom.bytes(s.tokens * 64, 1);
    let fabric: u64 = t.fabric.iter().map(|x| x.2).sum();
    let nvlink: u64 = t.nvlink.iter().map(|x| x.2).sum();
    // Experts are drawn without replacement, the expectation with: within 3%.
    assert!(
        (fabric as f64 / want.scale_out as f64 - 1.0).abs() < 0.03,
        "{fabric} vs {}",
        want.scale_out
    );
    assert!(
        (nvlink as f64 / want.scale_up as f64 - 1.0).abs() < 0.03,
        "{nvlink} vs {}",
        want.scale_up
    );
    // Every fabric pair stays on one plane.
    assert!(t
        .fabric
        .iter()
        .all(|&(a, b, _)| a % 8 == b % 8 && a / 8 != b / 8));
    assert!(t.nvlink.iter().all(|&(a, b, _)| a / 8 == b / 8 && a != b));
    // Seeded.
    assert_eq!(route_tokens(&f, &s).unwrap(), t);
    let other = EpSetup {
        seed: 1,
        ..s.clone()
    };
    assert_ne!(route_tokens(&f, &other).unwrap(), t);
}

#[test]
fn an_ep64_layer_agrees_with_the_aggregate_model_when_the_nics_bind() {
    let (s, hw, eff) = setup(1024);
    let mut f = fabric(&cluster(), 16, eff);
    let r = run_ep_layer(&mut f, &s, &hw, eff).unwrap();
    assert_eq!((r.groups, r.gpus), (2, 128));
    for p in [&r.dispatch, &r.combine] {
        let ratio = p.cluster.time.0 as f64 / p.aggregate.0 as f64;
        assert!((ratio - 1.0).abs() < 0.05, "{ratio}: {:?}", p.cluster.loads);
        assert_eq!(p.cluster.bottleneck().unwrap().class, ResClass::Nic);
    }
    // Combine moves BF16, dispatch FP8 with scales: longer.
    assert!(r.combine.cluster.time > r.dispatch.cluster.time);
}

#[test]
fn an_oversubscribed_spine_slows_a_spread_group_and_says_so() {
    let (mut s, hw, eff) = setup(512);
    s.placement = Placement::Spread;
    let mut sys = cluster();
    if let Some(c) = sys.cluster.as_mut() {
        // 8-port leaves, one port up: 7 NICs share one uplink.
        c.fabric.switch_radix = 8;
        c.fabric.leaf_uplinks = 1;
    }
    let mut f = fabric(&sys, 16, eff);
    let r = run_ep_layer(&mut f, &s, &hw, eff).unwrap();
    let d = &r.dispatch;
    let b = d.cluster.bottleneck().unwrap();
    assert!(
        matches!(b.class, ResClass::LeafUp | ResClass::LeafDown),
        "{:?}",
        d.cluster.loads
    );
    assert!(b.utilisation > 0.8, "{}", b.utilisation);
    assert!(
        d.cluster.time.0 as f64 > 1.3 * d.aggregate.0 as f64,
        "{:?} vs {:?}",
        d.cluster.time,
        d.aggregate
    );
}

#[test]
fn a_group_that_does_not_fit_is_refused() {
    let (mut s, _, eff) = setup(16);
    let f = fabric(&cluster(), 4, eff);
    assert!(route_tokens(&f, &s)
        .unwrap_err()
        .to_string()
        .contains("needs 8 domains"));
    s.ep = 48;
    assert!(route_tokens(&f, &s).is_err());
}
