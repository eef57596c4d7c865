//! Whole-cluster expert parallelism in serving (issue 13): an EP group over several nodes
//! of the H800 cluster, dispatch and combine as per-GPU-pair flows over the multi-plane
//! fat-tree. Bytes are conserved on the links, the fabric's time agrees with the aggregate
//! estimate of the same traffic when no fabric link binds and differs, with the binding
//! link named, when one does; the ISCA'25 calculation beside memwall's round; the serving
//! step loop in that mode, its determinism and its errors.

use memwall_llm::ModelRegistry;
use memwall_models::fabric::ResClass;
use memwall_models::{Registry, SystemSpec};
use memwall_serve::ep_cluster::{round, round_with, Phase, Round};
use memwall_serve::moe::{Routed, Router, Routing};
use memwall_serve::{run_scenario, RunResult, Scenario};
use memwall_sim::Ps;

mod common;
use common::err;

fn cluster() -> SystemSpec {
    Registry::embedded()
        .expect("embedded profiles")
        .system("deepseek-h800-cluster")
        .expect("the H800 cluster")
}

/// DeepSeek-V3's dispatch (FP8, one FP32 scale per 128 values) and combine (BF16) bytes
/// per token: 7,168 values.
const V3_TOKEN: (u64, u64) = (7168 + 56 * 4, 2 * 7168);

/// Decode routing of `tokens` per GPU over `gpus` GPUs of two expert slots each (V3's 256
/// routed experts plus 32 redundant ones over EP144), top-8.
fn decode_pairs(gpus: usize, tokens: u64, routing: Routing) -> Vec<u64> {
    let mut r = Router::new(2 * gpus, 8, gpus, routing, 11);
    let mut out = Routed::default();
    r.route(&vec![tokens; gpus], &mut out);
    out.pairs
}

fn class_bytes(p: &Phase, c: ResClass) -> u128 {
    p.fabric
        .loads
        .iter()
        .find(|l| l.class == c)
        .map_or(0, |l| l.bytes)
}

fn us(t: Ps) -> f64 {
    t.0 as f64 / 1e6
}

fn show(name: &str, r: &Round) {
    for (phase, p) in [("dispatch", &r.dispatch), ("combine", &r.combine)] {
        let b = p.fabric.bottleneck().expect("a busy link");
        println!(
            "{name} {phase}: {} flows, simulated {:.2} us, aggregate {:.2} us (busiest endpoint {} \
             {} B, class mean {} B), balanced {:.2} us; bottleneck {} {} at {:.1}%",
            p.fabric.flows,
            us(p.fabric.time),
            us(p.aggregate.time),
            p.aggregate.busiest,
            p.aggregate.busiest_bytes,
            p.aggregate.mean_bytes,
            us(p.aggregate.balanced),
            b.class.label(),
            b.resource,
            100.0 * b.utilisation
        );
    }
}

/// Each token's bytes leave once per destination GPU: every remote byte crosses exactly
/// one NIC out and one in, one GPU PCIe port out and one in; NVLink ports carry the
/// node-local bytes and the remote bytes forwarded across planes, once out and once in.
#[test]
fn bytes_are_conserved_on_every_link_class() {
    let pairs = decode_pairs(144, 40, Routing::Zipf(0.8));
    // Every link kept in the paths, so that each shows its bytes.
    let r = round_with(&cluster(), (144, &pairs), V3_TOKEN, false).unwrap();
    for (p, tb) in [(&r.dispatch, V3_TOKEN.0), (&r.combine, V3_TOKEN.1)] {
        let t = p.traffic;
        // A token routed to an expert on its own GPU does not move.
        let moved: u64 = (0..144 * 144)
            .filter(|i| i / 144 != i % 144)
            .map(|i| pairs[i])
            .sum();
        assert_eq!(t.injected, moved as u128 * tb as u128);
        assert_eq!(t.injected, t.remote + t.local);
        assert!(t.remote > 0 && t.local > 0 && t.forwarded > 0, "{t:?}");
        assert_eq!(class_bytes(p, ResClass::Nic), 2 * t.remote);
        assert_eq!(class_bytes(p, ResClass::GpuPcie), 2 * t.remote);
        assert_eq!(class_bytes(p, ResClass::NicPcie), 2 * t.remote);
        assert_eq!(
            class_bytes(p, ResClass::Nvlink),
            2 * (t.local + t.forwarded)
        );
        assert_eq!(
            class_bytes(p, ResClass::NvlinkSwitch),
            t.local + t.forwarded
        );
        // 18 nodes sit under one leaf per plane: nothing climbs to a spine.
        assert_eq!(class_bytes(p, ResClass::LeafUp), 0);
    }
    assert_eq!(r.nodes, 18);
    assert_eq!(
        r,
        round_with(&cluster(), (144, &pairs), V3_TOKEN, false).unwrap()
    );
}

/// Leaving out the links that cannot bind (PCIe behind their NIC, NVLink switches, a
/// non-blocking leaf's trunks) changes no time, to the picosecond: sampled decode routing
/// (every flow its own size) on the shipped fabric and on a 3:1 one whose trunks bind.
#[test]
fn pruned_paths_give_the_same_times() {
    let pairs = decode_pairs(144, 16, Routing::Zipf(0.8));
    let mut tight = cluster();
    let f = &mut tight.cluster.as_mut().unwrap().fabric;
    (f.switch_radix, f.leaf_uplinks) = (16, 4);
    for sys in [cluster(), tight] {
        let full = round_with(&sys, (144, &pairs), V3_TOKEN, false).unwrap();
        let pruned = round(&sys, 144, &pairs, V3_TOKEN).unwrap();
        for (a, b) in [
            (&full.dispatch, &pruned.dispatch),
            (&full.combine, &pruned.combine),
        ] {
            println!(
                "{}: {} ps both ways, {} events unpruned, {} pruned",
                sys.cluster.as_ref().unwrap().fabric.leaf_uplinks,
                a.fabric.time.0,
                a.fabric.events,
                b.fabric.events
            );
            assert_eq!(a.fabric.time, b.fabric.time);
            assert_eq!(a.aggregate, b.aggregate);
        }
    }
}

/// EP144 decode, 128 tokens per GPU (DeepSeek's profile-data), balanced routing: no link
/// of the fabric binds, the NICs do, and the flows' time is the aggregate estimate's.
#[test]
fn balanced_decode_step_agrees_with_the_aggregate_estimate() {
    let pairs = decode_pairs(144, 128, Routing::Uniform);
    let r = round(&cluster(), 144, &pairs, V3_TOKEN).unwrap();
    show("EP144 uniform", &r);
    for p in [&r.dispatch, &r.combine] {
        let ratio = p.fabric.time.0 as f64 / p.aggregate.time.0 as f64;
        assert!((ratio - 1.0).abs() < 0.05, "simulated / aggregate {ratio}");
        let balanced = p.fabric.time.0 as f64 / p.aggregate.balanced.0 as f64;
        assert!(
            (balanced - 1.0).abs() < 0.05,
            "simulated / balanced {balanced}"
        );
        assert_eq!(p.fabric.bottleneck().unwrap().class, ResClass::Nic);
    }
}

/// Skewed routing: the hot experts' GPUs receive and return more, their links set the
/// pace; the balanced estimate misses it by several times, the aggregate estimate of the
/// same traffic (its busiest endpoint) does not.
#[test]
fn skewed_routing_is_slower_by_its_hottest_nic() {
    let pairs = decode_pairs(144, 128, Routing::Zipf(1.0));
    let r = round(&cluster(), 144, &pairs, V3_TOKEN).unwrap();
    show("EP144 Zipf 1.0", &r);
    for p in [&r.dispatch, &r.combine] {
        let a = &p.aggregate;
        let hot = a.busiest_bytes as f64 / a.mean_bytes as f64;
        let vs_balanced = p.fabric.time.0 as f64 / a.balanced.0 as f64;
        let vs_aggregate = p.fabric.time.0 as f64 / a.time.0 as f64;
        println!(
            "  busiest endpoint {} / its class mean {hot:.2}, simulated / balanced {vs_balanced:.2}",
            a.busiest
        );
        assert!(hot > 3.0 && vs_balanced > 3.0, "{hot} {vs_balanced}");
        assert!((vs_aggregate - 1.0).abs() < 0.05, "{vs_aggregate}");
    }
}

/// EP320 over 40 nodes on a fabric whose leaves have a quarter of their ports up
/// (radix 16: 12 down, 4 up, 3:1): the spine links bind, the endpoints do not, and the
/// flows take about the oversubscription longer than the aggregate estimate.
#[test]
fn oversubscribed_spine_binds_and_is_named() {
    let mut sys = cluster();
    let f = &mut sys.cluster.as_mut().unwrap().fabric;
    (f.switch_radix, f.leaf_uplinks) = (16, 4);
    let pairs = decode_pairs(320, 128, Routing::Uniform);
    let r = round(&sys, 320, &pairs, V3_TOKEN).unwrap();
    show("EP320 3:1 spine", &r);
    for p in [&r.dispatch, &r.combine] {
        let b = p.fabric.bottleneck().unwrap();
        assert!(
            matches!(b.class, ResClass::LeafUp | ResClass::LeafDown),
            "{b:?}"
        );
        let ratio = p.fabric.time.0 as f64 / p.aggregate.time.0 as f64;
        assert!(ratio > 2.0, "simulated / aggregate {ratio}");
    }
}

/// ISCA'25 "Insights into DeepSeek-V3" §2.3.2 (a calculation, not a measurement): one
/// all-to-all round of 32 tokens x 9 experts x 7K (7,000) values, 1 B dispatch + 2 B
/// combine, over a 50 GB/s NIC = 120.96 us. memwall's round of the same traffic (each GPU
/// sends its 32 tokens to 9 GPUs on 9 other nodes of EP144) runs at the CX-7's achievable
/// 40 GB/s (R16) and pays the fabric latency per phase: 120.96 x 50/40 + 2 x 2.8 us.
#[test]
fn isca_round_beside_memwalls() {
    let (gpus, gpn) = (144, 8);
    let mut pairs = vec![0u64; gpus * gpus];
    for src in 0..gpus {
        let (node, pos) = (src / gpn, src % gpn);
        for hop in 1..=9 {
            pairs[src * gpus + ((node + hop) % 18) * gpn + pos] = 32;
        }
    }
    let paper_ps = 32 * 9 * 7000 * 3 * 1_000_000_000_000u64 / 50_000_000_000;
    assert_eq!(paper_ps, 120_960_000);
    let r = round(&cluster(), gpus, &pairs, (7000, 14_000)).unwrap();
    let sim = r.dispatch.fabric.time + r.combine.fabric.time;
    let expect = paper_ps as f64 * 50.0 / 40.0 + 2.0 * 2.8e6;
    println!(
        "ISCA'25 calculation 120.96 us at 50 GB/s; memwall round {:.2} us (dispatch {:.2}, \
         combine {:.2}); at 40 GB/s + 2 x 2.8 us expected {:.2} us",
        us(sim),
        us(r.dispatch.fabric.time),
        us(r.combine.fabric.time),
        expect / 1e6
    );
    assert!((sim.0 as f64 / expect - 1.0).abs() < 0.01, "{sim:?}");
    assert_eq!(r.dispatch.traffic.forwarded, 0, "same position: same plane");
}

/// A round's bad inputs are errors, not panics.
#[test]
fn a_bad_round_is_an_error() {
    let sys = cluster();
    for (gpus, n) in [(0, 0), (12, 144), (16, 10), (4096, 4096 * 4096)] {
        let pairs = vec![1u64; n];
        let e = round(&sys, gpus, &pairs, V3_TOKEN).unwrap_err();
        println!("{gpus} GPUs: {e}");
    }
    let node = Registry::embedded()
        .unwrap()
        .system("deepseek-h800-node")
        .unwrap();
    let e = round(&node, 16, &vec![1; 256], V3_TOKEN).unwrap_err();
    assert!(e.to_string().contains("no [cluster]"), "{e}");
}

fn scenario(system: &str, ep: u32, extra: &str) -> String {
    format!(
        "system = \"{system}\"\nmodel = \"deepseek-v3\"\nseed = 5\n\
         compare_without_engram = false\n\
         [workload]\nkind = \"synthetic\"\nrequests = 512\nprompt_tokens = [1, 4]\n\
         output_tokens = [6, 10]\n\
         [engine]\nexpert_parallel = {ep}\nmax_num_seqs = 8\nkernels_per_layer = 12\n\
         [moe]\n{extra}"
    )
}

fn serve(text: &str) -> RunResult {
    let s = Scenario::from_toml_str("cluster.toml", text).unwrap();
    let reg = Registry::embedded().expect("embedded profiles");
    run_scenario(&s, &reg, &ModelRegistry::builtin()).unwrap()
}

/// EP128 over 16 H800 nodes in the step loop: every replica served, the all-to-all's
/// bytes those of whole tokens in both phases, and the same run twice is the same.
#[test]
fn serving_runs_ep128_over_sixteen_nodes() {
    let text = scenario("deepseek-h800-cluster", 128, "");
    let r = serve(&text);
    let cat = |name: &str| {
        r.with_engram
            .by_category
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let (d, c) = (cat("ep-dispatch"), cat("ep-combine"));
    println!(
        "EP128 serving: {} steps, {} requests, dispatch {} ops {} B, combine {} B, {:.0} tok/s",
        r.with_engram.steps,
        r.with_engram.requests,
        d.ops,
        d.bytes,
        c.bytes,
        r.with_engram.tokens_per_s
    );
    assert_eq!(r.with_engram.requests, 512);
    assert_eq!(d.ops, c.ops);
    assert!(d.bytes > 0 && d.bytes.is_multiple_of(V3_TOKEN.0));
    assert_eq!(d.bytes / V3_TOKEN.0, c.bytes / V3_TOKEN.1);
    let again = serve(&text);
    assert_eq!(r.with_engram.makespan, again.with_engram.makespan);
    assert_eq!(r.with_engram.by_category, again.with_engram.by_category);
}

/// A deployment the cluster cannot hold is an error naming the field and its line.
#[test]
fn whole_cluster_errors_name_the_field() {
    let fails = err;
    let e = fails(&scenario("deepseek-h800-node", 16, ""));
    assert!(
        e.contains("bad.toml:11") && e.contains("engine.expert_parallel"),
        "{e}"
    );
    assert!(e.contains("no [cluster]"), "{e}");
    let e = fails(
        &scenario("deepseek-h800-cluster", 128, "").replace("seed = 5", "seed = 5\nnodes = 2"),
    );
    println!("{e}");
    let e = fails(
        &scenario("deepseek-h800-cluster", 64, "")
            .replace("max_num_seqs", "replicas = 4\nmax_num_seqs"),
    );
    println!("{e}");
    let e = fails(&scenario("deepseek-h800-cluster", 12, ""));
    assert!(e.contains("engine.expert_parallel"), "{e}");
}
