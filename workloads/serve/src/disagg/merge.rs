//! A disaggregated run end to end: the prefill pool, then the decode pool fed with what
//! landed, and one result of the two (requests as the client sees them, every op
//! category and tenant of both pools, the KV transfers' exposure).

use std::collections::BTreeMap;

use memwall_llm::ModelConfig;
use memwall_models::Registry;
use memwall_sim::attribution::CategoryTotals;
use memwall_sim::Ps;

use super::ship::Ship;
use super::spec::FirstToken;
use crate::error::{invalid, ScenarioError};
use crate::kv::{rates, KvStats, TenantStats};
use crate::metrics::Dist;
use crate::requests::Clients;
use crate::run::{RunOptions, RunResult, RunStats};
use crate::scenario::Scenario;
use crate::sim::{Load, Role, ServeSim, SimOutput};

/// The KV transfers of a disaggregated run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DisaggStats {
    pub transfer: String,
    pub layerwise: bool,
    pub first_token: Option<FirstToken>,
    /// Requests whose KV was shipped, transfer ops, KV bytes shipped (all ranks).
    pub requests: u64,
    pub ops: u64,
    pub bytes: u128,
    /// Summed over requests: first transfer op start to landing; the part after the
    /// prefill step that sampled the first token ended (exposed: it delays the first
    /// token), and the rest (hidden behind the prefill's compute).
    pub latency: Ps,
    pub hidden: Ps,
    pub exposed: Ps,
    /// Exposed time per request.
    pub exposed_per_request: Dist,
    /// (resource, bytes, mean bytes per second over the run) of the `kv-transfer` flows.
    pub resources: Vec<(String, u128, f64)>,
}

impl DisaggStats {
    pub(crate) fn of_ship(s: &Ship, resources: Vec<(String, u128, f64)>) -> DisaggStats {
        let mut d = DisaggStats {
            transfer: s.kind.name().into(),
            layerwise: s.layerwise,
            requests: s.landed.len() as u64,
            ops: s.ops,
            bytes: s.bytes,
            resources,
            ..Default::default()
        };
        let mut per = Vec::with_capacity(s.landed.len());
        for l in &s.landed {
            let latency = l.landed - l.start.min(l.landed);
            let exposed = l.landed.saturating_sub(l.ready).min(latency);
            d.latency += latency;
            d.exposed += exposed;
            d.hidden += latency - exposed;
            per.push(exposed.as_secs_f64());
        }
        d.exposed_per_request = Dist::of(&mut per);
        d
    }
}

/// Serves `s` disaggregated: the prefill pool, then the decode pool.
pub(crate) fn run_disaggregated(
    s: &Scenario,
    reg: &Registry,
    model: &ModelConfig,
    load: Load,
    opt: RunOptions,
) -> Result<RunResult, ScenarioError> {
    let spec = s
        .disaggregation
        .as_ref()
        .ok_or_else(|| invalid(&s.origin, "no [disaggregation]".into()))?;
    let engram = s.engram.is_some();
    let (window, slo) = (load.window, load.slo);
    let prefill = ServeSim::new_in(s, reg, model, (load, engram, opt), Some(Role::Prefill))?;
    let (pre, ship) = prefill.run_pool()?;
    let landed = ship.map(|s| s.landed).unwrap_or_default();
    let dload = Load {
        clients: Clients::none(s.seed),
        window,
        slo,
    };
    let decode = ServeSim::new_in(
        s,
        reg,
        model,
        (dload, engram, opt),
        Some(Role::Decode(landed)),
    )?;
    let (dec, _) = decode.run_pool()?;
    let out = merge(pre, dec, spec.first_token);
    Ok(crate::run::result(s, model, out, None))
}

/// One run's output of the prefill pool's and the decode pool's.
pub(crate) fn merge(pre: SimOutput, dec: SimOutput, first: FirstToken) -> SimOutput {
    let (p, d) = (pre.stats, dec.stats);
    let makespan = p.makespan.max(d.makespan);
    let secs = makespan.as_secs_f64();
    // Under vLLM's connector the prefill's token is discarded: the decode pool samples
    // every output token.
    let output_tokens = match first {
        FirstToken::Prefill => p.output_tokens + d.output_tokens,
        FirstToken::Decode => d.output_tokens,
    };
    let mut disagg = p.disagg.clone();
    if let Some(g) = disagg.as_mut() {
        g.first_token = Some(first);
        rates(&mut g.resources, secs);
    }
    let kv = merge_kv(p.kv.clone(), d.kv.clone(), disagg.as_ref(), secs);
    let stats = RunStats {
        engram: p.engram,
        makespan,
        steps: p.steps + d.steps,
        prefill_steps: p.prefill_steps + d.prefill_steps,
        output_tokens,
        prompt_tokens: p.prompt_tokens + d.prompt_tokens,
        requests: d.latency.requests,
        preemptions: p.preemptions + d.preemptions,
        tokens_per_s: if secs > 0.0 {
            output_tokens as f64 / secs
        } else {
            0.0
        },
        busy: p.busy + d.busy,
        bubble: p.bubble + d.bubble,
        exposed_by_category: sum_by_name(&p.exposed_by_category, &d.exposed_by_category, |a, b| {
            *a += *b
        }),
        by_category: sum_by_name(&p.by_category, &d.by_category, add_totals),
        layers: p
            .layers
            .iter()
            .zip(&d.layers)
            .map(|(a, b)| crate::run::LayerStats {
                layer: a.layer,
                fetches: a.fetches + b.fetches,
                rows: a.rows + b.rows,
                bytes: a.bytes + b.bytes,
                latency: a.latency + b.latency,
                exposed: a.exposed + b.exposed,
                hidden: a.hidden + b.hidden,
                min_slack_ps: a.min_slack_ps.min(b.min_slack_ps),
                steps_exposed: a.steps_exposed + b.steps_exposed,
            })
            .collect(),
        step_exposed_p50: p.step_exposed_p50.max(d.step_exposed_p50),
        step_exposed_p99: p.step_exposed_p99.max(d.step_exposed_p99),
        hbm_cache_hit_rate: p.hbm_cache_hit_rate,
        dram_cache_hit_rate: p.dram_cache_hit_rate,
        nvme_pages: p.nvme_pages + d.nvme_pages,
        latency: d.latency,
        kv,
        replay: None,
        memory: pooled(p.memory, "prefill")
            .chain(pooled(d.memory, "decode"))
            .collect(),
        disagg,
    };
    let mut step_rows = pre.step_rows;
    step_rows.extend(dec.step_rows);
    let mut batches = pre.batches;
    batches.extend(dec.batches);
    SimOutput {
        stats,
        step_rows,
        requests: dec.requests,
        batches,
    }
}

fn add_totals(a: &mut CategoryTotals, b: &CategoryTotals) {
    a.ops += b.ops;
    a.bytes = a.bytes.saturating_add(b.bytes);
    a.latency += b.latency;
    a.exposed += b.exposed;
    a.hidden += b.hidden;
}

/// Both lists' entries, those of one name combined by `add`, in name order.
fn sum_by_name<T: Clone>(
    a: &[(String, T)],
    b: &[(String, T)],
    add: impl Fn(&mut T, &T),
) -> Vec<(String, T)> {
    let mut m: BTreeMap<String, T> = BTreeMap::new();
    for (k, v) in a.iter().chain(b) {
        match m.get_mut(k) {
            Some(x) => add(x, v),
            None => {
                m.insert(k.clone(), v.clone());
            }
        }
    }
    m.into_iter().collect()
}

fn pooled(
    m: Vec<crate::budget::TierUse>,
    pool: &'static str,
) -> impl Iterator<Item = crate::budget::TierUse> {
    m.into_iter().map(move |mut t| {
        t.tier = format!("{pool}:{}", t.tier);
        t
    })
}

/// Both pools' KV-cache figures; the `kv-transfer` tenant's split is the one its
/// requests' first tokens saw (no GPU of the prefill pool waits for it).
fn merge_kv(
    p: Option<KvStats>,
    d: Option<KvStats>,
    g: Option<&DisaggStats>,
    secs: f64,
) -> Option<KvStats> {
    let mut k = match (p, d) {
        (Some(mut a), Some(b)) => {
            a.lookup_tokens += b.lookup_tokens;
            for i in 0..3 {
                a.hit_tokens[i] += b.hit_tokens[i];
            }
            for i in 0..2 {
                a.reloaded[i] += b.reloaded[i];
                a.prefetched[i] += b.prefetched[i];
            }
            a.offloaded += b.offloaded;
            a.to_nvme += b.to_nvme;
            a.resource_bytes = sum_by_name(&a.resource_bytes, &b.resource_bytes, |x, y| *x += *y);
            let ta: Vec<(String, TenantStats)> =
                a.tenants.drain(..).map(|t| (t.tenant.clone(), t)).collect();
            let tb: Vec<(String, TenantStats)> = b
                .tenants
                .into_iter()
                .map(|t| (t.tenant.clone(), t))
                .collect();
            a.tenants = sum_by_name(&ta, &tb, add_tenant)
                .into_iter()
                .map(|x| x.1)
                .collect();
            a
        }
        (a, b) => a.or(b)?,
    };
    for t in k.tenants.iter_mut() {
        rates(&mut t.resources, secs);
        if let (Some(g), "kv-transfer") = (g, t.tenant.as_str()) {
            t.latency = g.latency;
            t.hidden = g.hidden;
            t.exposed = g.exposed;
        }
    }
    Some(k)
}

fn add_tenant(a: &mut TenantStats, b: &TenantStats) {
    a.ops += b.ops;
    a.latency += b.latency;
    a.hidden += b.hidden;
    a.exposed += b.exposed;
    a.resources = sum_by_name(
        &a.resources
            .iter()
            .map(|x| (x.0.clone(), (x.1, x.2)))
            .collect::<Vec<_>>(),
        &b.resources
            .iter()
            .map(|x| (x.0.clone(), (x.1, x.2)))
            .collect::<Vec<_>>(),
        |x, y| x.0 += y.0,
    )
    .into_iter()
    .map(|(n, (b, r))| (n, b, r))
    .collect();
}

/// `summary.json`'s `disaggregation` object.
pub fn stats_json(d: &DisaggStats) -> serde_json::Value {
    let ms = |p: Ps| p.as_secs_f64() * 1e3;
    let e = &d.exposed_per_request;
    serde_json::json!({
        "transfer": d.transfer,
        "layerwise": d.layerwise,
        "first_token": match d.first_token {
            Some(FirstToken::Decode) => "decode",
            _ => "prefill",
        },
        "requests": d.requests,
        "ops": d.ops,
        "bytes": d.bytes as f64,
        "latency_ms": ms(d.latency),
        "hidden_ms": ms(d.hidden),
        "exposed_ms": ms(d.exposed),
        "exposed_per_request_ms": {
            "mean": e.mean_s * 1e3, "p50": e.p50_s * 1e3, "p90": e.p90_s * 1e3, "p99": e.p99_s * 1e3,
        },
        "resources": d.resources.iter().map(|(n, b, r)| serde_json::json!({
            "resource": n, "bytes": *b as f64, "gb_per_s": r / 1e9,
        })).collect::<Vec<_>>(),
    })
}
