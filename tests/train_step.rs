//! The whole DeepSeek-V3 training step (embedding, head, MTP, ZeRO-1 data-parallel
//! communication, optimizer) against the cost DeepSeek reports, its breakdown, mHC as
//! V4 implements it, and HBM per rank.

use memwall_llm::ModelRegistry;
use memwall_sim::{attribute, Ps};
use memwall_train as training;
use memwall_train::{Role, TrainConfig, TrainHw, TrainRun};

fn run(cfg: &TrainConfig) -> (training::Plan, TrainRun) {
    let hw = TrainHw::shipped(&cfg.system, cfg).unwrap();
    let plan = training::plan(cfg, &hw, &ModelRegistry::builtin()).unwrap();
    let run = training::run_step(&plan).unwrap();
    (plan, run)
}

/// V3 §1 Table 1 and §4.2: 180K H800 GPU-hours per trillion tokens on 2,048 GPUs at a
/// batch of 15,360 x 4,096 tokens: 19.9 s per step (training_step.md §7). That figure
/// is pre-training's 2,664K GPU-hours over its 14.8T tokens, so it averages over the
/// batch ramp of the first 469B tokens (V3 §4.2): the like-for-like figure is the
/// simulated step averaged over the same run (`training::ramp_mean`).
#[test]
fn v3_step_against_the_reported_gpu_hours() {
    let cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    assert_eq!(cfg.step_tokens(), 15_360 * 4_096);
    let (plan, run) = run(&cfg);
    assert_eq!(plan.dp.world, 2048);
    let reported = 180_000.0 * 3600.0 / 1e12 * cfg.step_tokens() as f64 / 2048.0;
    assert!((reported - 19.9).abs() < 0.05, "{reported}");
    let step = run.step_time.as_secs_f64();
    let err = step / reported - 1.0;
    let ramp = training::ramp_mean(&cfg, &plan.hw, &ModelRegistry::builtin())
        .unwrap()
        .unwrap();
    assert_eq!(ramp.full_step, run.step_time);
    assert_eq!((ramp.ramp_start, ramp.floor), (24.0, 32));
    let mean = ramp.mean_step.as_secs_f64();
    let mean_err = mean / reported - 1.0;
    eprintln!(
        "V3 step: simulated {step:.3} s at the full batch ({:+.1}%), {mean:.3} s averaged \
         over the run with its batch ramp ({:+.1}%); reported {reported:.3} s",
        100.0 * err,
        100.0 * mean_err
    );
    for (m, s) in &ramp.samples {
        eprintln!("  {m} micro-batches: {:.3} s", s.as_secs_f64());
    }
    // The issue asks for 5 %. At the full batch the model lands at -3.9 % (the SM-bound
    // GEMMs of the non-overlapped chunks took it from -5.3 %); over the run (the ramp
    // taken as linear in tokens, batches below DualPipe's 2 x PP micro-batches at the
    // 32-micro-batch cost) at -3.4 %. Both pinned so that a change shows;
    // docs/training.md lists what the model leaves out.
    assert!(err < -0.03 && err > -0.05, "{:+.2}%", 100.0 * err);
    assert!(
        mean > step && mean_err.abs() < 0.05,
        "{:+.2}%",
        100.0 * mean_err
    );
}

/// The end stages carry the embedding, the head and the MTP module, and the layer split
/// balances them: the last stage has fewer blocks than a middle one.
#[test]
fn end_stages_hold_embedding_head_and_mtp() {
    let cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    let (plan, _) = run(&cfg);
    let roles = |s: usize| -> Vec<Role> { plan.stages[s].layers.iter().map(|l| l.role).collect() };
    assert_eq!(roles(0)[0], Role::Embedding);
    let last = roles(15);
    assert_eq!(last.iter().filter(|r| **r == Role::Head).count(), 2);
    assert!(last.contains(&Role::MtpProjection));
    let blocks = |s: usize| roles(s).iter().filter(|r| **r == Role::Block).count();
    assert!(blocks(15) < blocks(7), "{} {}", blocks(15), blocks(7));
    // 61 blocks and one MTP block.
    let total: usize = (0..16).map(blocks).sum();
    assert_eq!(total, 62);
    // Without extras the split is the even one.
    let even = training::balanced_layers(61, &[Ps::ZERO; 16], Ps(1));
    assert_eq!(even, training::layers_per_stage(61, 16));
}

/// Every rank's breakdown sums to the step exactly, over schedules, sizes, mHC and its
/// switches.
fn breakdown_sums(cfg: &TrainConfig) {
    let (plan, run) = run(cfg);
    let a = attribute(&run.timeline, (Ps::ZERO, run.step_time));
    let b = training::breakdown(&plan, &run, &a);
    assert_eq!(b.ranks.len(), run.ranks.len());
    for (r, row) in b.ranks.iter().enumerate() {
        let sum: u64 = row.iter().map(|p| p.0).sum();
        assert_eq!(sum, run.step_time.0, "rank {r}: {row:?}");
    }
    let mean = b.mean();
    assert!(mean[6] > Ps::ZERO, "optimizer");
    assert!(mean[0] > Ps::ZERO && mean[1] > Ps::ZERO, "{mean:?}");
}

/// Over a grid of configs: every schedule, 4 and 8 stages, micro-batch counts, mHC off
/// and n = 4 with each switch (the property above on each).
#[test]
fn breakdown_sums_to_the_step_on_every_rank() {
    let base = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    let mut k = 0u32;
    for sched in ["dualpipe", "dualpipev", "1f1b", "zb1p"] {
        for pp in [4u32, 8] {
            for (mhc, fused, overlap) in [(0u64, true, false), (4, true, true), (4, false, false)] {
                k += 1;
                let mut cfg = base.clone();
                cfg.schedule = sched.into();
                cfg.pp = pp;
                cfg.micro_batches = 2 * pp + 2 * (k % 3);
                cfg.mhc = Some(mhc);
                cfg.mhc_fused = fused;
                cfg.mhc_overlap = overlap;
                breakdown_sums(&cfg);
            }
        }
    }
}

/// The data-parallel end: ZeRO-1 groups of V3 (DualPipe's two copies of each stage over
/// DP 128; experts on dp / ep = 2 GPUs per copy), an optimizer shard that AdamW prices
/// as a memory-bound kernel, and exposed DP communication in the breakdown.
#[test]
fn zero1_groups_and_optimizer() {
    let cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    let mut small = cfg.clone();
    small.micro_batches = 32;
    let (plan, run) = run(&small);
    assert_eq!((plan.dp.dense_group, plan.dp.expert_group), (256, 4));
    // A stage's dense copies fill whole nodes (EP64 over 8 nodes); the 4 copies of an
    // expert sit in 4 nodes, so every step of their collectives crosses the NICs.
    assert_eq!((plan.dp.dense_per_node, plan.dp.expert_per_node), (8, 1));
    let picks = run.dp_collectives();
    for want in [
        "reduce-scatter x256",
        "reduce-scatter x4",
        "all-gather x256",
        "all-gather x4",
    ] {
        assert!(picks.contains(want), "{picks}");
    }
    assert!(
        run.dp_picks.iter().all(|p| p.path.label() == "network"),
        "{picks}"
    );
    assert!(picks.contains("all-reduce x2048"), "{picks}");
    println!("DP collectives: {picks}");
    let st = &plan.stages[7];
    let shard = plan
        .dp
        .shard(st.params - st.expert_params, st.expert_params);
    assert_eq!(
        shard,
        (st.params - st.expert_params).div_ceil(256) + st.expert_params.div_ceil(4)
    );
    // AdamW moves 22 B per parameter at the achievable HBM rate.
    let t = plan.dp.optimizer_ps(shard, &plan.hw);
    let want = shard as f64 * 22.0 / plan.hw.rates.hbm as f64;
    assert!((t.as_secs_f64() / want - 1.0).abs() < 1e-3);
    let a = attribute(&run.timeline, (Ps::ZERO, run.step_time));
    let b = training::breakdown(&plan, &run, &a);
    assert!(
        b.mean()[5] > Ps::ZERO,
        "the parameter all-gather ends the step"
    );
}

/// mHC n = 4 on the V3 step with V4's three techniques, each switched on alone and all
/// together: the overhead on the mean overlapped F&B slot (DeepSeek: 6.7 %, V4 report
/// §3.4.2). Prints the table of docs/training.md:
/// `cargo test --release --test train_step -- --nocapture mhc_techniques`.
#[test]
fn mhc_techniques() {
    let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    cfg.mhc = Some(0);
    let base = run(&cfg).1.mean_pair_slot().unwrap();
    let rows = [
        ("none", false, false, "none"),
        ("fused kernels", true, false, "none"),
        ("selective recompute", false, false, "mhc-block"),
        ("adjusted overlap", false, true, "none"),
        (
            "fused kernels and selective recompute",
            true,
            false,
            "mhc-block",
        ),
        ("all three", true, true, "mhc-block"),
    ];
    eprintln!("| mHC n = 4 | mean F&B slot | overhead | peak HBM (rank 1) |");
    eprintln!("|---|---|---|---|");
    eprintln!("| plain residual | {:.1} ms | | |", base.as_ms_f64());
    let mut all = 0.0;
    for (name, fused, overlap, recompute) in rows {
        cfg.mhc = Some(4);
        cfg.mhc_fused = fused;
        cfg.mhc_overlap = overlap;
        cfg.recompute = recompute.into();
        let (plan, r) = run(&cfg);
        let slot = r.mean_pair_slot().unwrap();
        let over = 100.0 * (slot.as_ms_f64() / base.as_ms_f64() - 1.0);
        let mem = training::memory(&plan)[1].total() as f64 / 1e9;
        eprintln!(
            "| {name} | {:.1} ms | {over:+.1} % | {mem:.1} GB |",
            slot.as_ms_f64()
        );
        if name == "all three" {
            all = over;
        }
    }
    // The issue asks for 6.7 +- 2 points; the model gives +9.6 % (docs/training.md).
    assert!(all > 9.0 && all < 10.2, "{all}");
    // Its two parts, all three techniques on: the HBM traffic alone (pipeline messages
    // of the plain residual's size) and the n-fold messages alone (no mHC kernels).
    cfg.mhc = Some(4);
    let hw = TrainHw::shipped(&cfg.system, &cfg).unwrap();
    let full = training::plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap();
    let mut hbm = full.clone();
    hbm.p2p_bytes /= 4;
    let mut p2p = full.clone();
    for l in p2p.stages.iter_mut().flat_map(|s| s.layers.iter_mut()) {
        (l.mhc_f, l.mhc_b, l.mhc_recompute) = (Ps::ZERO, Ps::ZERO, Ps::ZERO);
        (l.mhc_post_f, l.mhc_post_b) = (Ps::ZERO, Ps::ZERO);
    }
    let mut parts = [0.0; 2];
    for (i, (name, p)) in [
        ("HBM traffic alone", hbm),
        ("4x pipeline messages alone", p2p),
    ]
    .into_iter()
    .enumerate()
    {
        let slot = training::run_step(&p).unwrap().mean_pair_slot().unwrap();
        parts[i] = 100.0 * (slot.as_ms_f64() / base.as_ms_f64() - 1.0);
        eprintln!(
            "| all three: {name} | {:.1} ms | {:+.1} % | |",
            slot.as_ms_f64(),
            parts[i]
        );
    }
    assert!(parts.iter().all(|&p| p > 0.0 && p < all), "{parts:?} {all}");
    // DeepSeek measured its 6.7 % on V4, whose layout is not published: V4's layers on
    // V3's cluster layout, all three techniques on (a what-if). Their slot is longer
    // against their n-fold message than V3's, so the overhead is smaller.
    for (model, lo, hi) in [
        ("deepseek-v4-pro", 3.0, 4.0),
        ("deepseek-v4-flash", 3.9, 5.0),
    ] {
        let mut c = TrainConfig::builtin("deepseek-v3-h800").unwrap();
        c.model = model.into();
        c.mhc = Some(0);
        let plain = run(&c).1.mean_pair_slot().unwrap();
        c.mhc = Some(4);
        let slot = run(&c).1.mean_pair_slot().unwrap();
        let over = 100.0 * (slot.as_ms_f64() / plain.as_ms_f64() - 1.0);
        eprintln!(
            "| all three, {model} layers (plain {:.1} ms) | {:.1} ms | {over:+.1} % | |",
            plain.as_ms_f64(),
            slot.as_ms_f64()
        );
        assert!(over > lo && over < hi && over < all, "{model}: {over}");
    }
}

/// The mHC overhead (all three techniques on) by three measures: the mean overlapped
/// F&B slot (the table's), the median slot (the steady state, on every rank's critical
/// path), and the whole step; and its sensitivity to the pipeline messages' rate: the
/// NIC's effective 40 GB/s of the profile, DeepSeek's 45.3 GB/s measured at 128 GPUs and
/// the 50 GB/s it says a 400G NIC delivers (R16 §4.3, §5.1.2; the messages only, by
/// their size). `cargo test --release --test train_step -- --nocapture mhc_overhead_measures`.
#[test]
fn mhc_overhead_measures() {
    let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    let hw = TrainHw::shipped(&cfg.system, &cfg).unwrap();
    let mut plans = Vec::new();
    for n in [0, 4] {
        cfg.mhc = Some(n);
        plans.push(training::plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap());
    }
    let median = |r: &TrainRun| {
        let mut v: Vec<u64> = r.pair_slots.iter().map(|p| (p.end - p.start).0).collect();
        v.sort_unstable();
        v[v.len() / 2] as f64 / 1e9
    };
    let pct = |a: f64, b: f64| 100.0 * (b / a - 1.0);
    let mut over = Vec::new();
    for gbs in [40.0, 45.3, 50.0] {
        let runs: Vec<TrainRun> = plans
            .iter()
            .map(|p| {
                let mut p = p.clone();
                p.p2p_bytes = (p.p2p_bytes as f64 * 40.0 / gbs).round() as u64;
                training::run_step(&p).unwrap()
            })
            .collect();
        let mean = runs.iter().map(|r| r.mean_pair_slot().unwrap().as_ms_f64());
        let mean: Vec<f64> = mean.collect();
        let (md, step) = (
            [median(&runs[0]), median(&runs[1])],
            [0, 1].map(|i| runs[i].step_time.as_secs_f64()),
        );
        eprintln!(
            "messages at {gbs} GB/s: mean slot {:.1} -> {:.1} ms ({:+.2} %), median {:.1} -> \
             {:.1} ms ({:+.2} %), step {:.3} -> {:.3} s ({:+.2} %)",
            mean[0],
            mean[1],
            pct(mean[0], mean[1]),
            md[0],
            md[1],
            pct(md[0], md[1]),
            step[0],
            step[1],
            pct(step[0], step[1])
        );
        over.push((pct(mean[0], mean[1]), pct(md[0], md[1])));
    }
    // The steady-state slot carries more of the overhead than the mean, not less.
    assert!(over[0].1 > over[0].0 && over[0].1 < 11.0, "{over:?}");
    // A faster message shortens the boundary, and only it: 8.7 % is the bound.
    assert!(over[1].0 < over[0].0 && over[2].0 < over[1].0, "{over:?}");
    assert!(over[1].0 > 8.5 && over[1].0 < 9.0, "{over:?}");
    assert!(over[2].0 > 7.8 && over[2].0 < 8.4, "{over:?}");
}

/// Where mHC's stage-boundary cost comes from (all three techniques on; the middle
/// rank's steady-state pair, docs/training.md "Where the remaining overhead sits"):
/// - the backward COMBINE waits for F^M_post,res(B), which waits for the neighbour's
///   backward message: the first op of the pair that needs it;
/// - that message runs alone on the NIC at the NIC's rate (224 MiB at 40 GB/s), right
///   behind the forward message to the same GPU on the sender's communication stream;
/// - both were issued when the sender's last ATTN(B) ended, before its pair's ATTN(W):
///   as soon as the backward chunk's output exists;
/// - so it lands two messages' time after the output, less the ATTN(W) it overlaps;
/// - the rank's communication stream is busy for nearly the whole slot (all-to-all and
///   its own two sends), so no reorder on it can hide the sends' extra time.
#[test]
fn mhc_stage_boundary_mechanism() {
    let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    cfg.mhc = Some(4);
    let (plan, run) = run(&cfg);
    let tl = &run.timeline;
    let rec = |id| tl.get(id).unwrap();
    let name = |r: &memwall_sim::OpRecord| tl.category(r.category).name.clone();
    let slot = run
        .pair_slots
        .iter()
        .filter(|p| p.rank == 7)
        .nth(50)
        .unwrap();
    let k = &run.ranks[7];
    let combine = tl
        .records
        .iter()
        .filter(|r| r.stream == k.comm && r.start >= slot.start && name(r) == "ep-combine")
        .min_by_key(|r| r.start)
        .unwrap();
    let post = rec(combine.blocker.unwrap());
    assert_eq!((name(post), post.stream), ("mhc-hbm".into(), k.hp));
    let back = rec(post.blocker.unwrap());
    assert_eq!(name(back), "pp-p2p");
    let sender = rank_of(&run, back.stream) as usize;
    assert!(sender == 6 || sender == 8, "{sender}");
    let fwd = rec(back.blocker.unwrap());
    assert_eq!(
        (name(fwd), fwd.stream, fwd.end),
        ("pp-p2p".into(), back.stream, back.start)
    );
    let alone = plan.p2p_bytes as f64 / plan.hw.nic_bandwidth() as f64 * 1e3;
    for m in [fwd, back] {
        let d = m.duration().as_ms_f64();
        assert!((d / alone - 1.0).abs() < 0.01, "{d} ms against {alone} ms");
    }
    let s = &run.ranks[sender];
    let attn_b = tl
        .records
        .iter()
        .find(|r| r.stream == s.compute && r.end == back.ready && name(r) == "attn-b")
        .expect("the backward message is issued when the sender's last ATTN(B) ends");
    let attn_w = tl
        .records
        .iter()
        .find(|r| r.stream == s.compute && r.start == attn_b.end)
        .unwrap();
    assert_eq!(name(attn_w), "attn-w");
    assert!(fwd.ready.0.abs_diff(back.ready.0) < 100_000_000);
    let into = (back.end.0 as f64 - slot.start.0 as f64) / 1e9;
    let expect = 2.0 * alone - attn_w.duration().as_ms_f64();
    assert!(
        (into - expect).abs() < 0.2,
        "lands {into} ms in, {expect} ms expected"
    );
    let busy: u64 = tl
        .records
        .iter()
        .filter(|r| r.stream == k.comm)
        .map(|r| {
            r.end
                .min(slot.end)
                .0
                .saturating_sub(r.start.max(slot.start).0)
        })
        .sum();
    let share = busy as f64 / (slot.end.0 - slot.start.0) as f64;
    assert!(share > 0.95, "{share}");
    eprintln!(
        "backward message: {:.2} ms alone on the NIC, lands {into:.2} ms into the {:.2} ms \
         slot; communication stream busy {:.1} %",
        back.duration().as_ms_f64(),
        (slot.end.0 - slot.start.0) as f64 / 1e9,
        100.0 * share
    );
}

/// V3 Fig. 4: the pipeline P2P runs on the communication stream, after the chunk's
/// all-to-all, with or without mHC. The MLP's F_post,res kernels run on the
/// high-priority stream only with the adjusted overlap, else on the compute stream.
#[test]
fn p2p_on_the_communication_stream_and_f_post_res_placement() {
    let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    cfg.pp = 4;
    cfg.micro_batches = 8;
    for (mhc, overlap) in [(0, false), (4, false), (4, true)] {
        cfg.mhc = Some(mhc);
        cfg.mhc_overlap = overlap;
        let (_, run) = run(&cfg);
        let tl = &run.timeline;
        let on = |cat: &str, pick: &dyn Fn(&training::RankOut) -> memwall_sim::StreamId| {
            tl.records
                .iter()
                .filter(|r| tl.category(r.category).name == cat)
                .filter(|r| run.ranks.iter().any(|k| pick(k) == r.stream))
                .count()
        };
        let p2p = tl
            .records
            .iter()
            .filter(|r| tl.category(r.category).name == "pp-p2p")
            .count();
        assert!(p2p > 0);
        assert_eq!(on("pp-p2p", &|k| k.comm), p2p, "mhc {mhc}");
        let hp = on("mhc-hbm", &|k| k.hp);
        assert_eq!(
            hp > 0,
            mhc > 0 && overlap,
            "mhc {mhc} overlap {overlap}: {hp}"
        );
        assert_eq!(on("mhc-hbm", &|k| k.compute) > 0, mhc > 0);
        // F^M_post,res(B) gives the MLP output's gradient, so the backward COMBINE waits
        // for it (mHC Fig. 4: right before COMBINE(B)): on the high-priority stream with
        // the adjusted overlap, else on the compute stream ahead of ATTN(F).
        let mhc_ends: std::collections::HashSet<(u32, Ps)> = tl
            .records
            .iter()
            .filter(|r| tl.category(r.category).name == "mhc-hbm")
            .map(|r| (rank_of(&run, r.stream), r.end))
            .collect();
        let gated = tl
            .records
            .iter()
            .filter(|r| tl.category(r.category).name == "ep-combine")
            .filter(|r| mhc_ends.contains(&(rank_of(&run, r.stream), r.ready)))
            .count();
        assert_eq!(gated > 0, mhc > 0, "mhc {mhc} overlap {overlap}: {gated}");
        comm_stream_order(&run);
    }
}

/// The order on each communication stream (mHC paper Fig. 4, V3 Fig. 4): a chunk's sends
/// come after all of its all-to-alls, and in a steady-state pair the last COMBINE(F) is
/// followed by the two sends, then the next pair's COMBINE(B).
fn comm_stream_order(run: &TrainRun) {
    let tl = &run.timeline;
    let name = |r: &memwall_sim::OpRecord| tl.category(r.category).name.clone();
    let mut windows = 0;
    for k in &run.ranks {
        let mut ops: Vec<_> = tl.records.iter().filter(|r| r.stream == k.comm).collect();
        ops.sort_by_key(|r| r.start);
        for (i, r) in ops.iter().enumerate() {
            if name(r) == "pp-p2p" {
                let later = ops[i..]
                    .iter()
                    .any(|o| o.step == r.step && name(o) != "pp-p2p");
                assert!(
                    !later,
                    "a send of schedule op {} before its all-to-all",
                    r.step
                );
            }
        }
        let names: Vec<String> = ops.iter().map(|r| name(r)).collect();
        windows += names
            .windows(4)
            .filter(|w| w == &["ep-combine", "pp-p2p", "pp-p2p", "ep-combine"])
            .count();
    }
    assert!(windows > 0);
}

fn rank_of(run: &TrainRun, s: memwall_sim::StreamId) -> u32 {
    let k = run
        .ranks
        .iter()
        .position(|k| [k.compute, k.comm, k.hp, k.dp].contains(&s));
    k.unwrap() as u32
}

/// HBM per rank: V3 fits an H800 (80 GB); mHC n = 4 without recompute does not, and the
/// error names the rank, the stage and the numbers.
#[test]
fn memory_is_checked_against_hbm() {
    let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    let hw = TrainHw::shipped(&cfg.system, &cfg).unwrap();
    let plan = training::plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap();
    let mem = training::check_memory(&plan).unwrap();
    assert!(mem.iter().all(|m| m.total() <= 80_000_000_000));
    assert!(
        mem.iter().all(|m| m.chunks == 17),
        "DualPipe keeps PP + 1 chunks"
    );
    cfg.mhc = Some(4);
    cfg.recompute = "none".into();
    let plan = training::plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap();
    let e = training::check_memory(&plan).unwrap_err().to_string();
    for part in [
        "rank",
        "stage",
        "GB of HBM",
        "80.0 GB",
        "activations",
        "in-flight",
        "hint",
    ] {
        assert!(e.contains(part), "{part}: {e}");
    }
    // Recompute keeps only the stage input of the n-wide stream.
    cfg.recompute = "mhc-block".into();
    let with = training::plan(&cfg, &hw, &ModelRegistry::builtin()).unwrap();
    let a = |p: &training::Plan| training::memory(p)[1].activations();
    assert!(a(&with) < a(&plan));
}

/// A training config whose global batch disagrees with dp x micro-batches x tokens is
/// refused, naming the field and both products.
#[test]
fn global_batch_must_match_the_micro_batches() {
    let text = include_str!("../workloads/train/configs/deepseek-v3-h800.toml");
    let bad = text.replace("global_batch = 15360", "global_batch = 3072");
    let e = TrainConfig::from_toml_str("x.toml", &bad)
        .unwrap_err()
        .to_string();
    assert!(e.contains("global_batch") && e.contains("62914560"), "{e}");
}
