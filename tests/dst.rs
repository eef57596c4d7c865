//! Deterministic simulation testing: seeded generators of random but valid inputs (serving
//! scenarios, training configs, Kineto traces replayed on a system, Engram `.mwet`
//! traces), each run twice and checked against every invariant:
//!
//! - inside the kernel, through its audit (`memwall_sim::audit`, on for these threads): no
//!   resource over its capacity at any settle, bytes conserved per resource;
//! - on the attribution (`memwall_sim::attribute`): busy + exposed + bubble = makespan per
//!   stream, hidden + exposed = latency per op (per category for serving), nothing
//!   exposed beyond its latency;
//! - a byte-identical rerun (timelines, summaries, trace files);
//! - for `.mwet` traces: every row id written is read back, the CSV export has a line per
//!   row id, the totals agree.
//!
//! A failure prints the seed, the case and the input that reproduce it. `cargo test
//! --release --test dst` runs a few of each; a long campaign (the counts are printed):
//! `MEMWALL_DST_RUNS=6000 MEMWALL_DST_TRAIN_RUNS=1000 MEMWALL_DST_TRACE_RUNS=2000
//! MEMWALL_DST_MWET_RUNS=1000 MEMWALL_DST_SEED=1 cargo test --release --test dst -- --nocapture`.

use memwall_llm::ModelRegistry;
use memwall_models::perf::HwRates;
use memwall_models::Registry;
use memwall_replay::{replay, LaunchMode, MhcWiden, ReplayOptions, Timing};
use memwall_serve::{run_scenario, summary_csv, Scenario};
use memwall_sim::{attribute, audit, Ps, Timeline};
use memwall_train::{plan, run_step, TrainConfig, TrainHw};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A count or seed from the environment, else `default`.
fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The kernel's audit of the runs since the last call, and the attribution's sums over
/// `(0, end)` of `tl`: every stream's time splits into busy, exposed and bubble, and every
/// op's latency into hidden and exposed.
fn check_timeline(tl: &Timeline, end: Ps) -> Result<(), String> {
    if let Some(e) = audit::take_failure() {
        return Err(format!("kernel audit: {e}"));
    }
    let a = attribute(tl, (Ps::ZERO, end));
    for s in &a.streams {
        if s.busy + s.exposed_total() + s.bubble != s.makespan {
            return Err(format!(
                "stream {:?}: busy + exposed + bubble != makespan ({s:?})",
                s.stream
            ));
        }
    }
    for o in &a.ops {
        if o.exposed > o.latency || o.hidden() + o.exposed != o.latency {
            return Err(format!(
                "op {:?}: hidden + exposed != latency ({o:?})",
                o.op
            ));
        }
    }
    Ok(())
}

/// A random valid scenario.
fn scenario(rng: &mut ChaCha8Rng) -> String {
    let system = ["deepseek-h800-node", "hgx-h200", "hgx-b200", "dgx-h100"][rng.gen_range(0..4)];
    let placement =
        ["host-zero-copy", "hbm", "nvme", "host-dma", "gpu-sharded"][rng.gen_range(0..5)];
    let p0 = rng.gen_range(1..256u32);
    let o0 = rng.gen_range(1..64u32);
    let mut s = format!(
        "name = \"dst\"\nseed = {}\nsystem = \"{system}\"\nmodel = \"qwen3-4b-dense\"\n\
         compare_without_engram = {}\n[workload]\nkind = \"synthetic\"\nrequests = {}\n\
         prompt_tokens = [{p0}, {}]\noutput_tokens = [{o0}, {}]\n[engine]\nreplicas = {}\n\
         max_num_seqs = {}\nmax_batched_tokens = {}\nkernels_per_layer = {}\n\
         cuda_graph_decode = {}\n[engram]\nlayout = \"demo\"\nplacement = \"{placement}\"\n\
         prefetch = {}\n",
        rng.gen::<u32>(),
        rng.gen_bool(0.5),
        rng.gen_range(1..12),
        p0 + rng.gen_range(0..256),
        o0 + rng.gen_range(0..32),
        rng.gen_range(1..3),
        rng.gen_range(1..16),
        rng.gen_range(512..8192),
        rng.gen_range(0..16),
        rng.gen_bool(0.5),
        rng.gen_bool(0.5),
    );
    if placement == "nvme" {
        s.push_str(&format!("drives = {}\n", rng.gen_range(1..5)));
    }
    s
}

#[test]
fn random_valid_scenarios_keep_every_invariant() {
    let runs = env_u64("MEMWALL_DST_RUNS", 12);
    let seed = env_u64("MEMWALL_DST_SEED", 15);
    audit::enable(true);
    let reg = Registry::embedded().unwrap();
    let models = ModelRegistry::builtin();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut ran, mut refused) = (0u64, 0u64);
    for case in 0..runs {
        let text = scenario(&mut rng);
        let fail = |why: String| -> ! {
            panic!("DST seed {seed} case {case}: {why}\n--- scenario ---\n{text}")
        };
        let s = Scenario::from_toml_str("dst.toml", &text).unwrap_or_else(|e| fail(e.to_string()));
        let r = match run_scenario(&s, &reg, &models) {
            Ok(r) => r,
            // A valid file the system cannot serve (weights too large, ...) must say so.
            Err(e) if !e.to_string().trim().is_empty() => {
                if refused == 0 {
                    eprintln!("first refusal (case {case}): {e}");
                }
                refused += 1;
                continue;
            }
            Err(e) => fail(format!("empty error {e:?}")),
        };
        let again = run_scenario(&s, &reg, &models).unwrap_or_else(|e| fail(e.to_string()));
        if summary_csv(&r) != summary_csv(&again) {
            fail("the rerun differs".into());
        }
        if let Some(e) = audit::take_failure() {
            fail(format!("kernel audit: {e}"));
        }
        for (name, t) in &r.with_engram.by_category {
            if t.hidden.as_ps() + t.exposed.as_ps() != t.latency.as_ps() {
                fail(format!("{name}: hidden + exposed != latency ({t:?})"));
            }
        }
        ran += 1;
    }
    eprintln!("DST seed {seed}: {runs} scenarios, {ran} simulated twice, {refused} refused");
    assert!(ran > 0 || runs == 0, "every generated scenario was refused");
}

/// A random valid training config: the shipped one with its schedule, stages,
/// micro-batches, EP, tokens, mHC, recompute, SMs, routing limit and system drawn.
fn training_config(rng: &mut ChaCha8Rng, systems: &[String]) -> TrainConfig {
    let mut c = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    c.schedule = ["dualpipe", "dualpipev", "1f1b", "zb1p"][rng.gen_range(0..4)].into();
    c.pp = [2, 4, 6, 8][rng.gen_range(0..4)];
    c.micro_batches = if c.schedule.starts_with("dualpipe") {
        // Half the micro-batches enter at each end, at least two per rank.
        2 * rng.gen_range(c.pp..=2 * c.pp)
    } else {
        rng.gen_range(1..=3 * c.pp)
    };
    c.ep = [8, 16, 32, 64][rng.gen_range(0..4)];
    c.micro_batch_tokens = [512, 1024, 2048, 4096][rng.gen_range(0..4)];
    c.mhc = [None, Some(0), Some(2), Some(4)][rng.gen_range(0..4)];
    c.recompute = ["none", "mhc-block"][rng.gen_range(0..2)].into();
    c.comm_sms = rng.gen_range(8..=32);
    c.node_limit = rng.gen_range(0..=8);
    c.a2a_efficiency = rng.gen_range(0.2..=1.0);
    c.system = systems[rng.gen_range(0..systems.len())].clone();
    c
}

#[test]
fn random_training_configs_keep_every_invariant() {
    let runs = env_u64("MEMWALL_DST_TRAIN_RUNS", 4);
    let seed = env_u64("MEMWALL_DST_SEED", 15);
    let systems = memwall_train::hw::shipped_systems().unwrap();
    let models = ModelRegistry::builtin();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    audit::enable(true);
    let (mut ran, mut refused) = (0u64, 0u64);
    for case in 0..runs {
        let cfg = training_config(&mut rng, &systems);
        let fail =
            |why: String| -> ! { panic!("DST train seed {seed} case {case}: {why}\n{cfg:?}") };
        let built = TrainHw::shipped(&cfg.system, &cfg).and_then(|hw| plan(&cfg, &hw, &models));
        let p = match built {
            Ok(p) => p,
            // A valid config the system cannot hold (memory, SMs, schedule shape) says so.
            Err(e) if !e.to_string().trim().is_empty() => {
                if refused == 0 {
                    eprintln!("first refusal (case {case}): {e}");
                }
                refused += 1;
                continue;
            }
            Err(e) => fail(format!("empty error {e:?}")),
        };
        let a = run_step(&p).unwrap_or_else(|e| fail(e.to_string()));
        check_timeline(&a.timeline, a.step_time).unwrap_or_else(|e| fail(e));
        let b = run_step(&p).unwrap_or_else(|e| fail(e.to_string()));
        if a.step_time != b.step_time || a.timeline.records != b.timeline.records {
            fail("the rerun differs".into());
        }
        ran += 1;
    }
    eprintln!("DST train seed {seed}: {runs} configs, {ran} simulated twice, {refused} refused");
    assert!(
        ran > 0 || runs == 0,
        "every generated training config was refused"
    );
}

/// A random valid Kineto trace: one or two GPUs of one to three streams each, kernels
/// (GEMM, attention, elementwise, NCCL) in order on each stream with random gaps, each
/// launched by a `cudaLaunchKernel` on a CPU thread shortly before it starts.
fn kineto_trace(rng: &mut ChaCha8Rng) -> String {
    let names = [
        "sm90_xmma_gemm_bf16bf16_bf16f32",
        "flash_fwd_kernel",
        "elementwise_kernel",
        "ncclDevKernel_AllReduce_Sum_bf16_RING_LL",
        "reduce_kernel",
    ];
    let mut events = Vec::new();
    let mut corr = 1u64;
    for dev in 0..rng.gen_range(1..=2u32) {
        for stream in 0..rng.gen_range(1..=3u32) {
            let mut t = 1_000_000.0 + rng.gen_range(0.0..50.0);
            for _ in 0..rng.gen_range(1..40) {
                let (dur, name) = (rng.gen_range(1.0..400.0), names[rng.gen_range(0..5)]);
                let lag = rng.gen_range(2.0..30.0);
                events.push(format!(
                    r#"{{"ph":"X","cat":"cuda_runtime","name":"cudaLaunchKernel","pid":100,"tid":{},"ts":{:.3},"dur":1,"args":{{"correlation":{corr}}}}}"#,
                    dev + 1, t - lag
                ));
                events.push(format!(
                    r#"{{"ph":"X","cat":"kernel","name":"{name}","pid":{dev},"tid":{},"ts":{t:.3},"dur":{dur:.3},"args":{{"device":{dev},"stream":{},"correlation":{corr},"grid":[{},1,1],"block":[128,1,1]}}}}"#,
                    stream + 7, stream + 7, rng.gen_range(1..264)
                ));
                corr += 1;
                t += dur + rng.gen_range(0.0..40.0);
            }
        }
    }
    format!("{{\"traceEvents\": [\n{}\n]}}", events.join(",\n"))
}

#[test]
fn random_kineto_traces_replay_with_every_invariant() {
    let runs = env_u64("MEMWALL_DST_TRACE_RUNS", 20);
    let seed = env_u64("MEMWALL_DST_SEED", 15);
    let reg = Registry::embedded().unwrap();
    let systems = ["hgx-h200", "hgx-b200", "dgx-h100", "deepseek-h800-node"];
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    audit::enable(true);
    let mut ops = 0usize;
    for case in 0..runs {
        let json = kineto_trace(&mut rng);
        let fail =
            |why: String| -> ! { panic!("DST trace seed {seed} case {case}: {why}\n{json}") };
        let g = memwall_kineto::import_bytes(json.as_bytes(), "dst.json")
            .unwrap_or_else(|e| fail(e.to_string()));
        let source = reg.system(systems[rng.gen_range(0..4)]).unwrap();
        let opts = ReplayOptions {
            source: HwRates::from_system(&source),
            source_system: Some(source.clone()),
            target: reg.system(systems[rng.gen_range(0..4)]).unwrap(),
            timing: [Timing::Ratio, Timing::Model][rng.gen_range(0..2)],
            launch: [LaunchMode::Auto, LaunchMode::Always, LaunchMode::Never][rng.gen_range(0..3)],
            mhc: rng.gen_bool(0.3).then_some(MhcWiden { n: 4 }),
            engram: None,
        };
        let a = replay(&g, &opts).unwrap_or_else(|e| fail(e.to_string()));
        check_timeline(&a.timeline, a.timeline.makespan()).unwrap_or_else(|e| fail(e));
        let b = replay(&g, &opts).unwrap_or_else(|e| fail(e.to_string()));
        if a.timeline.records != b.timeline.records
            || format!("{:?}", a.metrics) != format!("{:?}", b.metrics)
        {
            fail("the rerun differs".into());
        }
        ops += g.ops.len();
    }
    eprintln!("DST trace seed {seed}: {runs} Kineto traces ({ops} GPU ops) replayed twice");
}

/// The records of a trace: step, layer id, row ids.
type Records = Vec<(u64, u32, Vec<u64>)>;

/// A random valid `.mwet` trace of a shipped layout: steps in order, each with some of
/// the layers, random tokens and row ids in range, with or without token metadata and
/// timestamps. Returns the file and the records written.
fn engram_trace(rng: &mut ChaCha8Rng) -> (Vec<u8>, Records) {
    use memwall_engram::trace::{RowsRecordRef, TraceHeader, TraceWriter};
    let names = memwall_engram::EngramConfig::builtin_names();
    let layout =
        memwall_engram::EngramLayout::builtin(names[rng.gen_range(0..names.len())]).unwrap();
    let header = TraceHeader::for_layout(&layout, serde_json::json!({"kind": "synthetic"}));
    let (cols, cfg) = (header.config.columns as u64, header.config.clone());
    let mut w = TraceWriter::new(Vec::new(), header).unwrap();
    let (mut written, mut step, mut t) = (Vec::new(), rng.gen_range(0..5u64), 0u64);
    let (meta, timed) = (rng.gen_bool(0.5), rng.gen_bool(0.5));
    for _ in 0..rng.gen_range(1..12) {
        for (li, &layer_id) in cfg.layer_ids.iter().enumerate() {
            if rng.gen_bool(0.2) {
                continue;
            }
            let n = rng.gen_range(0..6u64);
            let rows: Vec<u64> = (0..n * cols)
                .map(|_| rng.gen_range(0..cfg.table_rows[li]))
                .collect();
            let seq: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
            let pos: Vec<u32> = (0..n as u32).collect();
            let dt = rng.gen_range(0..1000);
            let rec = RowsRecordRef {
                step,
                layer_id,
                rows: &rows,
                token_meta: meta.then_some((&seq[..], &pos[..])),
                time_ns: timed.then_some((t, t + dt)),
            };
            w.write_rows(&rec).unwrap();
            written.push((step, layer_id, rows));
            t += dt;
        }
        step += rng.gen_range(1..4);
    }
    (w.finish().unwrap().1, written)
}

#[test]
fn random_engram_traces_round_trip_exactly() {
    use memwall_engram::trace::{export_csv, RowsRecord, TraceReader};
    let runs = env_u64("MEMWALL_DST_MWET_RUNS", 50);
    let seed = env_u64("MEMWALL_DST_SEED", 15);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rows_total = 0u64;
    for case in 0..runs {
        let state = rng.clone();
        let (bytes, written) = engram_trace(&mut rng);
        let fail = |why: String| -> ! { panic!("DST .mwet seed {seed} case {case}: {why}") };
        if engram_trace(&mut state.clone()).0 != bytes {
            fail("the rewrite differs".into());
        }
        let mut r =
            TraceReader::new(std::io::Cursor::new(&bytes)).unwrap_or_else(|e| fail(e.to_string()));
        let mut rec = RowsRecord::default();
        let mut read = Vec::new();
        while r
            .next_record(&mut rec)
            .unwrap_or_else(|e| fail(e.to_string()))
        {
            read.push((rec.step, rec.layer_id, rec.rows.clone()));
        }
        if read != written {
            fail(format!(
                "{} records read back, {} written, or rows differ",
                read.len(),
                written.len()
            ));
        }
        let ids: u64 = written.iter().map(|w| w.2.len() as u64).sum();
        let mut csv = Vec::new();
        let mut r = TraceReader::new(std::io::Cursor::new(&bytes)).unwrap();
        let lines = export_csv(&mut r, &mut csv).unwrap_or_else(|e| fail(e.to_string()));
        let csv_lines = csv.iter().filter(|&&b| b == b'\n').count() as u64;
        if lines != ids || csv_lines != ids + 1 {
            fail(format!(
                "{ids} row ids written, {lines} exported, {csv_lines} CSV lines"
            ));
        }
        rows_total += ids;
    }
    eprintln!("DST .mwet seed {seed}: {runs} traces ({rows_total} row ids) written twice, read back, exported");
}
