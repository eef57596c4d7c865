//! Memory budgeting per tier: impossible deployments are refused with every term named;
//! runs report peak and mean occupancy per (tier, tenant).

use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_serve::{run_scenario, Scenario};

fn run(extra_engine: &str, engram: &str) -> Result<memwall_serve::RunResult, String> {
    let text = format!(
        r#"
name = "budget"
system = "deepseek-h800-node"
model = "deepseek-v4.1-flash"
compare_without_engram = false
[workload]
kind = "synthetic"
requests = 16
prompt_tokens = [64, 256]
output_tokens = [8, 32]
[engine]
expert_parallel = 8
{extra_engine}
[engram]
{engram}
"#
    );
    let s = Scenario::from_toml_str("budget.toml", &text).map_err(|e| e.to_string())?;
    let reg = Registry::embedded().unwrap();
    run_scenario(&s, &reg, &ModelRegistry::builtin()).map_err(|e| e.to_string())
}

const HOST: &str = "layout = \"v41-flash\"\nplacement = \"host-zero-copy\"";

#[test]
fn a_kv_cache_over_hbm_is_refused_naming_each_term() {
    let e = run("kv_cache_tokens = 100000000", HOST).unwrap_err();
    for term in [
        "weights ",
        "KV cache ",
        "Engram ",
        "activations ",
        "> 80 GB capacity",
    ] {
        assert!(e.contains(term), "{term:?} missing from: {e}");
    }
    assert!(
        e.contains("budget.toml") && e.contains("HBM of each GPU") && e.contains("hint:"),
        "{e}"
    );
    // The same deployment with a KV cache that fits runs.
    run("kv_cache_tokens = 100000", HOST).unwrap();
}

#[test]
fn an_engram_table_over_host_dram_is_refused() {
    let custom = "layout = \"custom\"\nlayer_ids = [1, 14]\nrows_per_token = 24\n\
                  row_bytes = 264\ntable_rows = 4000000000\nrow_dim = 128\n\
                  placement = \"host-zero-copy\"";
    let e = run("", custom).unwrap_err();
    assert!(
        e.contains("host-dram.socket0")
            && e.contains("engram 2.112 TB")
            && e.contains("> 1 TB capacity")
            && e.contains("per-node"),
        "{e}"
    );
}

#[test]
fn occupancy_per_tier_and_tenant_is_reported() {
    let r = run(
        "",
        &format!("{HOST}\n[engram.hbm_cache]\npolicy = \"lru\"\nsize = \"1 GiB\""),
    )
    .unwrap();
    let m = &r.with_engram.memory;
    let get = |tier: &str, tenant: &str| {
        m.iter()
            .find(|u| u.tier == tier && u.tenant == tenant)
            .unwrap_or_else(|| panic!("no row for ({tier}, {tenant}) in {m:?}"))
    };
    for u in m {
        assert!(
            u.mean_bytes <= u.peak_bytes as f64 + 0.5 && u.peak_bytes <= u.capacity_bytes,
            "{u:?}"
        );
    }
    assert_eq!(get("hbm", "engram").peak_bytes, 1 << 30);
    let kv = get("hbm", "kv-cache");
    assert!(kv.peak_bytes > 0 && kv.mean_bytes > 0.0 && kv.mean_bytes < kv.peak_bytes as f64);
    assert!(get("hbm", "weights").peak_bytes > 10_000_000_000);
    assert!(get("hbm", "activations").peak_bytes > 0);
    // Both tables (2 x 384M rows x 264 B) on each socket that serves a replica.
    let host = get("host-dram.socket0", "engram");
    assert_eq!(host.peak_bytes, (384_006_168 + 384_016_682) * 264);
    assert!(m.iter().any(|u| u.tier == "host-dram.socket1"));
    let json = String::from_utf8(memwall_serve::summary_json(&r)).unwrap();
    assert!(json.contains("\"tenant\": \"kv-cache\""), "{json}");
}
