//! Expert parallelism in serving (`[moe]`): dispatch and combine as flows on the node,
//! seeded skewed routing, and the errors of a bad deployment.

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario, RunResult, Scenario};

mod common;
use common::err;

fn run(text: &str) -> RunResult {
    let s = Scenario::from_toml_str("ep.toml", text).unwrap();
    let reg = Registry::embedded().expect("embedded profiles");
    run_scenario(&s, &reg, &ModelRegistry::builtin()).unwrap()
}

/// DeepSeek-V4.1-Flash on a system, DP attention over `replicas` GPUs and EP over them.
fn flash(system: &str, replicas: u32, moe: &str) -> String {
    moe_on(system, "deepseek-v4.1-flash", replicas, moe)
}

fn moe_on(system: &str, model: &str, replicas: u32, moe: &str) -> String {
    format!(
        "system = \"{system}\"\nmodel = \"{model}\"\nseed = 3\n\
         compare_without_engram = false\n\
         [workload]\nkind = \"synthetic\"\nrequests = 48\nprompt_tokens = [200, 600]\n\
         output_tokens = [16, 48]\n\
         [engine]\nreplicas = {replicas}\nexpert_parallel = {replicas}\nmax_num_seqs = 16\n\
         kernels_per_layer = 12\n{moe}"
    )
}

fn category<'a>(r: &'a RunResult, name: &str) -> &'a memwall_sim::attribution::CategoryTotals {
    &r.with_engram
        .by_category
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no category {name}"))
        .1
}

/// The all-to-all moves real bytes over NVLink, both phases, and costs step time;
/// the combine carries BF16 where the dispatch carries FP8 plus scales.
#[test]
fn all_to_all_runs_as_flows_over_nvlink() {
    let r = run(&flash("deepseek-h800-node", 8, "[moe]\n"));
    let d = category(&r, "ep-dispatch");
    let c = category(&r, "ep-combine");
    println!(
        "H800 EP8: dispatch {} ops {} B (exposed {} ps), combine {} B; {:.0} tok/s",
        d.ops, d.bytes, d.exposed.0, c.bytes, r.with_engram.tokens_per_s
    );
    assert!(d.bytes > 0 && c.bytes > 0);
    assert_eq!(d.ops, c.ops);
    // 5120 values: FP8 5,120 + 40 x 4 scale bytes = 5,280 vs BF16 10,240 per token.
    let ratio = c.bytes as f64 / d.bytes as f64;
    assert!((ratio - 10240.0 / 5280.0).abs() < 1e-3, "{ratio}");
    assert!(d.exposed.0 > 0, "the dispatch waits on the critical path");
    assert_eq!(r.with_engram.requests, 48);
}

/// A skewed router piles tokens on the hot experts' GPUs: the busiest GPU's experts and
/// its NVLink receive port set each step, so the same requests take longer.
#[test]
fn skewed_routing_is_slower_than_balanced() {
    let prefill = |moe: &str| flash("deepseek-h800-node", 8, moe).replace("[16, 48]", "[1, 2]");
    let uniform = run(&prefill("[moe]\nrouting = \"uniform\"\n"));
    let skewed = run(&prefill("[moe]\nrouting = \"zipf\"\nskew = 1.5\n"));
    let (u, s) = (uniform.with_engram.makespan, skewed.with_engram.makespan);
    println!("EP8 makespan: uniform {} ps, Zipf 1.5 {} ps", u.0, s.0);
    assert!(
        s.0 as f64 > 1.05 * u.0 as f64,
        "uniform {u:?}, skewed {s:?}"
    );
    let (du, ds) = (
        category(&uniform, "ep-dispatch").exposed,
        category(&skewed, "ep-dispatch").exposed,
    );
    assert!(ds > du, "dispatch exposed: uniform {du:?}, skewed {ds:?}");
}

/// Without NVLink the all-to-all crosses PCIe through the host bridge, at the peer
/// path's calibrated rate: far slower per byte than over the H800's NVLink.
#[test]
fn without_nvlink_the_all_to_all_crosses_pcie() {
    let on = |system| moe_on(system, "qwen3-30b-a3b", 2, "[moe]\n").replace("[16, 48]", "[1, 2]");
    let pcie = run(&on("rtxpro6000-2x-pcie"));
    let d = category(&pcie, "ep-dispatch");
    let nv = run(&on("deepseek-h800-node"));
    let dn = category(&nv, "ep-dispatch");
    let per_byte =
        |c: &memwall_sim::attribution::CategoryTotals| c.latency.0 as f64 / c.bytes as f64;
    println!(
        "EP2 dispatch: PCIe {:.1} ps/B, NVLink {:.1} ps/B",
        per_byte(d),
        per_byte(dn)
    );
    assert!(d.bytes > 0);
    assert!(per_byte(d) > 3.0 * per_byte(dn));
}

#[test]
fn same_seed_same_result_and_another_seed_another() {
    let text = flash(
        "deepseek-h800-node",
        8,
        "[moe]\nrouting = \"zipf\"\nskew = 1.0\n",
    );
    let a = run(&text).with_engram;
    let b = run(&text).with_engram;
    assert_eq!(a.makespan, b.makespan);
    let c = run(&text.replace("seed = 3", "seed = 4")).with_engram;
    assert_ne!(a.makespan, c.makespan);
}

#[test]
fn bad_deployments_name_file_line_and_field() {
    let e = err(&flash(
        "deepseek-h800-node",
        8,
        "[moe]\nrouting = \"pareto\"\n",
    ));
    assert!(
        e.contains("bad.toml:16") && e.contains("moe.routing"),
        "{e}"
    );
    let e = err(&flash(
        "deepseek-h800-node",
        8,
        "[moe]\nrouting = \"zipf\"\nskew = 7.0\n",
    ));
    assert!(e.contains("bad.toml:17") && e.contains("moe.skew"), "{e}");
    let e = err(&flash("deepseek-h800-node", 8, "[moe]\nskew = 1.0\n"));
    assert!(
        e.contains("bad.toml:16") && e.contains("routing = \"zipf\""),
        "{e}"
    );
    // 384 experts over 7 GPUs.
    let e = err(&flash("deepseek-h800-node", 7, "[moe]\n"));
    assert!(
        e.contains("bad.toml:12") && e.contains("engine.expert_parallel") && e.contains("384"),
        "{e}"
    );
    // EP over 4 of the 8 GPUs the replicas use.
    let text = flash("deepseek-h800-node", 8, "[moe]\n")
        .replace("expert_parallel = 8", "expert_parallel = 4");
    let e = err(&text);
    assert!(
        e.contains("bad.toml:12") && e.contains("expert_parallel = 8"),
        "{e}"
    );
}

/// V4.1-Flash on an HGX B200 as `tp` x DP groups with EP8 and both Engram tables in
/// host DRAM (zero-copy, at the layer): each TP rank fetches its own share of the rows.
fn b200_engram(tp: u32, placement: &str) -> String {
    format!(
        "system = \"hgx-b200\"\nmodel = \"deepseek-v4.1-flash\"\nseed = 5\n\
         compare_without_engram = false\n\
         [workload]\nkind = \"synthetic\"\nrequests = 16\nprompt_tokens = [200, 400]\n\
         output_tokens = [8, 16]\n\
         [engine]\nengine = \"vllm-v1\"\ntensor_parallel = {tp}\nreplicas = {}\n\
         expert_parallel = 8\n\
         [moe]\n\
         [engram]\nlayout = \"v41-flash\"\nplacement = \"{placement}\"\nprefetch = false\n",
        8 / tp
    )
}

/// TP with Engram (refused before): the rows are split over the ranks, each rank's
/// share landing on its own GPU, so the same requests read the same rows at TP 1, 2 and
/// 4, and every fetch is either hidden or exposed.
#[test]
fn tensor_parallel_with_engram_fetches_per_rank() {
    let mut rows_at = Vec::new();
    for tp in [1, 2, 4] {
        let r = run(&b200_engram(tp, "host-zero-copy"));
        let st = &r.with_engram;
        assert_eq!(st.requests, 16, "tp {tp}");
        let rows: u64 = st.layers.iter().map(|l| l.rows).sum();
        let lat: f64 = st.layers.iter().map(|l| l.latency.0 as f64).sum::<f64>()
            / st.layers.iter().map(|l| l.fetches).sum::<u64>() as f64;
        println!(
            "B200 TP{tp}: {rows} Engram rows, mean fetch {:.1} us",
            lat / 1e6
        );
        assert!(rows > 0);
        rows_at.push(rows);
        for l in &st.layers {
            assert_eq!(l.hidden + l.exposed, l.latency, "tp {tp} layer {}", l.layer);
        }
    }
    assert!(rows_at.iter().all(|&r| r == rows_at[0]), "{rows_at:?}");
}

/// In HBM under TP each rank keeps its columns' shard (table / tp), taken from the KV
/// cache: the whole 189 GiB tables fit no B200 at TP1, a TP4 shard does.
#[test]
fn hbm_tables_are_sharded_over_the_tp_ranks() {
    let e = err(&b200_engram(1, "hbm"));
    assert!(e.contains("do not fit"), "{e}");
    let r = run(&b200_engram(4, "hbm"));
    assert_eq!(r.with_engram.requests, 16);
}
