//! The collective model against published nccl-tests results it was not fitted to
//! (docs/collectives.md): Azure ND H100 v5, 8x H100, NCCL 2.18.5, NVLS all-reduce,
//! in-place busbw (R22, the fork samuel-bohman/AI-benchmarking-guide,
//! Azure_Results/ND_H100_v5_results.md; serving_engines.md §7). The NVLS figures of
//! nvlink4 were fitted to the ND H200 v5 table, never to this one.

use memwall_models::collective::{predict, Algorithm, Collective, PathKind, Protocol};
use memwall_models::Registry;

/// (bytes, busbw GB/s) from the ND H100 v5 table, 1 MiB to 1 GiB.
const H100_NVLS: [(u64, f64); 11] = [
    (1 << 20, 43.70),
    (2 << 20, 81.93),
    (4 << 20, 128.7),
    (8 << 20, 172.1),
    (16 << 20, 234.5),
    (32 << 20, 295.5),
    (64 << 20, 361.8),
    (128 << 20, 400.6),
    (256 << 20, 423.4),
    (512 << 20, 438.5),
    (1 << 30, 466.4),
];

#[test]
fn dgx_h100_all_reduce_within_15_percent_of_azure_nvls() {
    let sys = Registry::embedded().unwrap().system("dgx-h100").unwrap();
    let mut worst: f64 = 0.0;
    println!("bytes  measured_time_us  model_time_us  time_err%  measured_busbw  model_busbw  busbw_err%  model_pick  pick_busbw");
    for (bytes, measured) in H100_NVLS {
        let c = Collective::AllReduce;
        let nvls = predict(&sys, c, bytes, 8, Some(Algorithm::Nvls), None).unwrap();
        let pick = predict(&sys, c, bytes, 8, None, None).unwrap();
        let got = nvls.busbw() / 1e9;
        // nccl-tests: time = size / algbw, algbw = busbw / (2(n-1)/n) = busbw / 1.75.
        let t_measured = bytes as f64 / (measured * 1e9 / 1.75) * 1e6;
        let t_model = nvls.time_ps as f64 / 1e6;
        let err = (t_model / t_measured - 1.0) * 100.0;
        worst = worst.max(err.abs());
        println!(
            "{bytes:>10}  {t_measured:>8.1}  {t_model:>8.1}  {err:>+5.1}  {measured:>6.1}  {got:>6.1}  {:>+5.1}  {} {}  {:.1}",
            (got / measured - 1.0) * 100.0,
            pick.algorithm.label(),
            pick.protocol.label(),
            pick.busbw() / 1e9
        );
        assert!(
            err.abs() <= 15.0,
            "{bytes} B: model {t_model:.1} us vs {t_measured:.1} us"
        );
        assert_eq!(nvls.path, PathKind::Nvlink);
    }
    println!("worst |time error| {worst:.1}%");
}

#[test]
fn picks_nvls_for_large_all_reduce_and_ring_for_all_gather() {
    let sys = Registry::embedded().unwrap().system("dgx-h100").unwrap();
    let big = predict(&sys, Collective::AllReduce, 1 << 30, 8, None, None).unwrap();
    assert_eq!(big.algorithm, Algorithm::Nvls);
    let ag = predict(&sys, Collective::AllGather, 1 << 30, 8, None, None).unwrap();
    assert_eq!(
        (ag.algorithm, ag.protocol),
        (Algorithm::Ring, Protocol::Simple)
    );
    // Ring Simple busbw tends to the 370 GB/s the maintainer states (R50).
    let bus = ag.busbw() / 1e9;
    assert!((360.0..371.0).contains(&bus), "{bus}");
}

#[test]
fn small_messages_pick_ll_and_latency_grows_with_ranks() {
    let sys = Registry::embedded().unwrap().system("dgx-h100").unwrap();
    let small = predict(&sys, Collective::AllReduce, 1024, 8, None, None).unwrap();
    assert_eq!(small.protocol, Protocol::Ll);
    let two = predict(&sys, Collective::AllReduce, 1024, 2, None, None).unwrap();
    assert!(two.time_ps < small.time_ps);
    assert!(small.latency_ps > small.bandwidth_ps);
}

#[test]
fn beyond_one_node_the_network_is_the_bottleneck() {
    let sys = Registry::embedded().unwrap().system("dgx-h100").unwrap();
    let one = predict(&sys, Collective::AllReduce, 1 << 30, 8, None, None).unwrap();
    let two = predict(&sys, Collective::AllReduce, 1 << 30, 16, None, None).unwrap();
    assert_eq!(two.path, PathKind::Network);
    assert!(
        two.time_ps > 5 * one.time_ps,
        "{} vs {}",
        two.time_ps,
        one.time_ps
    );
    // Bus bandwidth cannot beat the 8 NICs' 40 GB/s each per GPU.
    assert!(two.busbw() <= 40e9 * 1.0001, "{}", two.busbw());
    let a2a = predict(&sys, Collective::AllToAll, 1 << 30, 16, None, None).unwrap();
    assert_eq!(a2a.algorithm, Algorithm::Direct);
}

#[test]
fn time_never_falls_as_bytes_grow() {
    let sys = Registry::embedded().unwrap().system("dgx-h100").unwrap();
    for c in [
        Collective::AllReduce,
        Collective::AllGather,
        Collective::ReduceScatter,
        Collective::AllToAll,
        Collective::Broadcast,
    ] {
        for ranks in [2, 8, 16] {
            let mut last = 0;
            for shift in 0..34 {
                let t = predict(&sys, c, 1u64 << shift, ranks, None, None)
                    .unwrap()
                    .time_ps;
                assert!(t >= last, "{c:?} {ranks} ranks at 2^{shift} B");
                last = t;
            }
        }
    }
}

/// An 8-GPU box without NVLink (a user profile: the H100 part with no scale-up link).
fn pcie_box() -> memwall_models::SystemSpec {
    let dir = std::env::temp_dir().join(format!("memwall-pcie-box-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gpu = include_str!("../../hw-profiles/gpus/h100-sxm.toml")
        .replace("name = \"h100-sxm\"", "name = \"h100-no-nvlink\"")
        .replace("scale_up_link = \"nvlink4\"\n", "");
    let sys = include_str!("../../hw-profiles/systems/dgx-h100.toml")
        .replace("name = \"dgx-h100\"", "name = \"pcie-box\"")
        .replace("gpu = \"h100-sxm\"", "gpu = \"h100-no-nvlink\"")
        .replace(
            "nvlink_domain = { value = 8,",
            "nvlink_domain = { value = 1,",
        );
    std::fs::write(dir.join("gpu.toml"), gpu).unwrap();
    std::fs::write(dir.join("sys.toml"), sys).unwrap();
    let reg = Registry::with_user_paths(std::slice::from_ref(&dir)).unwrap();
    let s = reg.system("pcie-box").unwrap();
    std::fs::remove_dir_all(dir).unwrap();
    s
}

#[test]
fn gpus_without_nvlink_go_through_the_host() {
    let sys = pcie_box();
    let small = predict(&sys, Collective::AllReduce, 1024, 8, None, None).unwrap();
    assert_eq!(small.path, PathKind::PcieHost);
    // 14 ring steps, each at least the 17 us of a hop through the host (hardware.md §4).
    assert!(small.latency_ps >= 14 * 17_000_000, "{}", small.latency_ps);
    let big = predict(&sys, Collective::AllReduce, 1 << 30, 8, None, None).unwrap();
    assert!(
        big.busbw() <= 37e9 * 1.0001 && big.busbw() > 30e9,
        "{}",
        big.busbw()
    );
    // No NVLS without NVLink; LL128 is not run over PCIe.
    assert!(predict(
        &sys,
        Collective::AllReduce,
        1 << 30,
        8,
        Some(Algorithm::Nvls),
        None
    )
    .is_err());
    assert!(predict(
        &sys,
        Collective::AllReduce,
        1 << 30,
        8,
        None,
        Some(Protocol::Ll128)
    )
    .is_err());
}

#[test]
fn ranks_one_per_node_cross_the_network_every_step() {
    use memwall_models::collective::candidates_placed;
    let sys = Registry::embedded()
        .unwrap()
        .system("deepseek-h800-cluster")
        .unwrap();
    let c = Collective::ReduceScatter;
    let fastest = |per_node| {
        candidates_placed(&sys, c, 64 << 20, 4, per_node)
            .unwrap()
            .into_iter()
            .min_by_key(|p| p.time_ps)
            .unwrap()
    };
    // Packed, 4 ranks share one node's NVLink; one per node, every step is a NIC step.
    let packed = fastest(u32::MAX);
    let spread = fastest(1);
    assert_eq!(packed, predict(&sys, c, 64 << 20, 4, None, None).unwrap());
    assert_eq!(packed.path, PathKind::Nvlink);
    assert_eq!(spread.path, PathKind::Network);
    assert!(spread.latency_ps > packed.latency_ps);
    assert!(spread.bandwidth_ps > 3 * packed.bandwidth_ps);
}
