//! Disaggregated prefill and decode end to end (docs/tiers.md): the first token waits
//! exactly for the exposed part of the KV transfer, layerwise sending hides most of it,
//! and bad pools, links and workloads are refused naming the field.

mod common;

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario_with, RunOptions, RunResult, Scenario};
use memwall_sim::Ps;

fn run(text: &str) -> RunResult {
    let s = Scenario::from_toml_str("pd.toml", text).unwrap();
    let reg = Registry::embedded().unwrap();
    let opt = RunOptions { step_rows: false };
    run_scenario_with(&s, &reg, &ModelRegistry::builtin(), opt).unwrap()
}

/// DeepSeek-V4.1-Flash on the H800 node, requests far apart (one in flight at a time),
/// served on GPU 0; `tail` adds `[disaggregation]` or not.
fn scenario(tail: &str) -> String {
    format!(
        r#"
name = "pd"
seed = 5
system = "deepseek-h800-node"
model = "deepseek-v4.1-flash"
[workload]
kind = "poisson"
rate = 0.05
requests = 16
prompt_tokens = [500, 3000]
output_tokens = [1, 12]
[engine]
engine = "vllm-v1"
expert_parallel = 8
replicas = 1
kv_cache_tokens = 65536
{tail}
"#
    )
}

const PD: &str = "[disaggregation]\nprefill_gpus = [0]\ndecode_gpus = [5]\n";

/// KV bytes per token of the model, all layers (one GPU: no tensor parallelism).
fn kv_bytes_per_token() -> u64 {
    let m = ModelRegistry::builtin()
        .resolve("deepseek-v4.1-flash", None)
        .unwrap();
    (0..m.num_layers)
        .map(|l| m.kv_cache_bytes_per_token(l).unwrap())
        .sum()
}

#[test]
fn disaggregated_ttft_is_colocated_plus_exposed_transfer_to_the_picosecond() {
    let co = run(&scenario(""));
    let pd = run(&scenario(&format!("{PD}transfer = \"nvlink\"\n")));
    let reg = Registry::embedded().unwrap();
    let nv = reg
        .system("deepseek-h800-node")
        .unwrap()
        .node
        .nvlink
        .unwrap()
        .link;
    let per_token = kv_bytes_per_token();
    assert_eq!(co.requests.len(), pd.requests.len());
    let mut exposed_sum = Ps::ZERO;
    for (c, d) in co.requests.iter().zip(&pd.requests) {
        assert_eq!(
            (c.id, c.arrival, c.prompt, c.output),
            (d.id, d.arrival, d.prompt, d.output)
        );
        // The whole prompt's KV after the prefill step: NVLink latency, then
        // ceil(bytes x 1e12 / port bandwidth) ps, nothing hidden.
        let bytes = per_token * d.prompt as u128 as u64;
        let closed = Ps(nv.latency_ps)
            + Ps(
                (bytes as u128 * 1_000_000_000_000).div_ceil(nv.bandwidth.achievable as u128)
                    as u64,
            );
        assert_eq!(d.ttft(), c.ttft() + closed, "request {}", d.id);
        exposed_sum += d.ttft() - c.ttft();
    }
    let g = pd.with_engram.disagg.as_ref().expect("disagg stats");
    assert_eq!(g.requests, 16);
    assert_eq!(g.exposed, exposed_sum, "summed exposed transfer time");
    assert_eq!(g.hidden, Ps::ZERO, "a whole-request send hides nothing");
    assert_eq!(g.hidden + g.exposed, g.latency);
    let prompt_tokens: u64 = pd.requests.iter().map(|r| r.prompt as u64).sum();
    assert_eq!(g.bytes, (prompt_tokens * per_token) as u128);
    // Every byte crossed GPU 0's NVLink transmit port and GPU 5's receive port.
    for port in ["gpu0.nvlink.tx", "gpu5.nvlink.rx"] {
        let b = g.resources.iter().find(|r| r.0 == port).map(|r| r.1);
        assert_eq!(b, Some(g.bytes), "{port}: {:?}", g.resources);
    }
    // Decode is not slowed by prefill: every request's output tokens all arrive.
    let out: u64 = pd.requests.iter().map(|r| r.output as u64).sum();
    assert_eq!(pd.with_engram.output_tokens, out);
}

#[test]
fn layerwise_sending_hides_most_of_the_transfer_and_the_identity_still_holds() {
    let co = run(&scenario(""));
    let whole = run(&scenario(&format!("{PD}transfer = \"host\"\n")));
    let lw = run(&scenario(&format!(
        "{PD}transfer = \"host\"\nlayerwise = true\n"
    )));
    let (gw, gl) = (
        whole.with_engram.disagg.unwrap(),
        lw.with_engram.disagg.unwrap(),
    );
    assert_eq!(gw.bytes, gl.bytes);
    assert!(
        gl.exposed.0 * 4 < gw.exposed.0,
        "layerwise {:?} vs whole {:?}",
        gl.exposed,
        gw.exposed
    );
    assert!(gl.hidden > Ps::ZERO);
    assert_eq!(gl.hidden + gl.exposed, gl.latency);
    let mut sum = Ps::ZERO;
    for (c, d) in co.requests.iter().zip(&lw.requests) {
        // Per-layer compute ops add up to the co-located step exactly.
        assert!(d.ttft() >= c.ttft(), "request {}", d.id);
        sum += d.ttft() - c.ttft();
    }
    assert_eq!(sum, gl.exposed);
    // Through host DRAM: socket 0's DRAM carries every byte twice (written, then read).
    let dram = gl
        .resources
        .iter()
        .find(|r| r.0.ends_with("dram0") || r.0.contains("socket0.dram"));
    assert!(
        dram.is_some_and(|r| r.1 == 2 * gl.bytes),
        "{:?}",
        gl.resources
    );
}

#[test]
fn first_token_at_decode_costs_a_decode_step_after_landing() {
    let pre = run(&scenario(&format!("{PD}transfer = \"rdma\"\n")));
    let dec = run(&scenario(&format!(
        "{PD}transfer = \"rdma\"\nfirst_token = \"decode\"\n"
    )));
    for (a, b) in pre.requests.iter().zip(&dec.requests) {
        assert!(b.ttft() > a.ttft(), "request {}", a.id);
        assert_eq!(a.output, b.output);
    }
    let out: u64 = dec.requests.iter().map(|r| r.output as u64).sum();
    assert_eq!(dec.with_engram.output_tokens, out);
}

#[test]
fn bad_pools_and_links_name_the_field() {
    let cases = [
        (
            "prefill_gpus = [0, 9]\ndecode_gpus = [1]\ntransfer = \"nvlink\"",
            "disaggregation.prefill_gpus",
            "GPU 9 does not exist",
        ),
        (
            "prefill_gpus = [0, 1]\ndecode_gpus = [1, 2]\ntransfer = \"nvlink\"",
            "disaggregation.decode_gpus",
            "GPU 1 is in both pools",
        ),
        (
            "prefill_gpus = [0, 0]\ndecode_gpus = [1]\ntransfer = \"nvlink\"",
            "disaggregation.prefill_gpus",
            "named twice",
        ),
        (
            "prefill_gpus = []\ndecode_gpus = [1]\ntransfer = \"nvlink\"",
            "disaggregation.prefill_gpus",
            "empty",
        ),
        (
            "prefill_gpus = [0]\ndecode_gpus = [1]\ntransfer = \"pigeon\"",
            "pigeon",
            "nvlink",
        ),
    ];
    for (body, field, what) in cases {
        let e = common::err(&scenario(&format!("[disaggregation]\n{body}\n")));
        assert!(e.contains(field) && e.contains(what), "{e}");
        assert!(e.contains("bad.toml"), "{e}");
    }
    // A link the system does not have.
    let pcie = scenario(
        "[disaggregation]\nprefill_gpus = [0]\ndecode_gpus = [1]\ntransfer = \"nvlink\"\n",
    )
    .replace("deepseek-h800-node", "rtxpro6000-2x-pcie")
    .replace(
        "model = \"deepseek-v4.1-flash\"",
        "model = \"llama-3.1-8b\"",
    )
    .replace("expert_parallel = 8", "expert_parallel = 1");
    let e = common::err(&pcie);
    assert!(
        e.contains("disaggregation.transfer") && e.contains("no NVLink"),
        "{e}"
    );
    let e = common::err(&pcie.replace("\"nvlink\"", "\"rdma\""));
    assert!(
        e.contains("disaggregation.transfer") && e.contains("no NIC"),
        "{e}"
    );
    // More trays than the NVLink domain holds.
    let e = common::err(&scenario("").replace("deepseek-h800-node\"", "gb200-nvl72\"\nnodes = 19"));
    assert!(
        e.contains("`nodes`") && e.contains("76 GPUs") && e.contains("holds 72"),
        "{e}"
    );
    // Host staging between trays of a rack.
    let rack =
        scenario("[disaggregation]\nprefill_gpus = [0]\ndecode_gpus = [4]\ntransfer = \"host\"\n")
            .replace("deepseek-h800-node\"", "gb200-nvl72\"\nnodes = 2");
    let e = common::err(&rack);
    assert!(
        e.contains("disaggregation.transfer") && e.contains("cross the network"),
        "{e}"
    );
    // A pool whose HBM cannot hold the weights and the KV cache asked for.
    let e = common::err(
        &scenario(&format!("{PD}transfer = \"nvlink\"\n")).replace("65536", "900000000"),
    );
    assert!(e.contains("HBM") || e.contains("hbm"), "{e}");
}

#[test]
fn a_disaggregated_run_is_deterministic() {
    let text = scenario(&format!("{PD}transfer = \"rdma\"\nlayerwise = true\n"))
        .replace("rate = 0.05", "rate = 4.0");
    let (a, b) = (run(&text), run(&text));
    assert_eq!(
        memwall_serve::summary_json(&a),
        memwall_serve::summary_json(&b)
    );
    assert_eq!(
        memwall_serve::requests_csv(&a),
        memwall_serve::requests_csv(&b)
    );
    assert!(a.with_engram.disagg.unwrap().requests == 16);
}
