use super::*;
use crate::cluster::EpSetup;
use crate::{effective_model, plan, run_step, TrainConfig, TrainHw};
use memwall_llm::ModelRegistry;
use memwall_models::Registry;
use memwall_sim::Ps;

/// DeepSeek-V3 cut to 4 stages and 8 micro-batches of 1,024 tokens, EP16 in 32-GPU
/// pipeline ranks (2 EP groups each): 128 GPUs of the H800 cluster.
fn small() -> (Plan, SystemSpec, EpSetup, u32) {
    let mut cfg = TrainConfig::builtin("deepseek-v3-h800").unwrap();
    cfg.pp = 4;
    cfg.micro_batches = 8;
    cfg.micro_batch_tokens = 1024;
    cfg.ep = 16;
    cfg.dp = 32;
    cfg.global_batch = None;
    cfg.batch_ramp = None;
    cfg.sequence_length = None;
    let models = ModelRegistry::builtin();
    let m = effective_model(&cfg, &models).unwrap();
    let hw = TrainHw::shipped(&cfg.system, &cfg).unwrap();
    let p = plan(&cfg, &hw, &models).unwrap();
    let sys = Registry::embedded().unwrap().system(&cfg.system).unwrap();
    let s = EpSetup::from_config(&cfg, &m).unwrap();
    (p, sys, s, cfg.dp)
}

fn whole(prune: bool, fold: bool) -> WholeRun {
    let (p, sys, s, dp) = small();
    run_whole_cluster(&p, &sys, s, dp, WholeOptions { prune, fold }).unwrap()
}

/// Every op of the lanes of the first EP group of each of the 4 pipeline ranks: stream,
/// category, schedule op, layer, start, end (ps), in a canonical order.
fn first_groups(w: &WholeRun) -> Vec<(String, u16, u32, u32, Ps, Ps)> {
    let tl = &w.run.timeline;
    let ranks = 4;
    let mut v: Vec<_> = tl
        .records
        .iter()
        .filter(|r| {
            let name = &tl.stream(r.stream).name;
            let rank: usize = name[4..name.find('/').unwrap()].parse().unwrap();
            rank < ranks
        })
        .map(|r| {
            let s = tl.stream(r.stream).name.clone();
            (s, r.category.0, r.step, r.layer, r.start, r.end)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn pruning_and_folding_change_no_time_to_the_picosecond() {
    let full = whole(false, false);
    let pruned = whole(true, false);
    let folded = whole(true, true);
    assert_eq!((full.lanes, full.folded, full.gpus), (8, 1, 128));
    assert_eq!((folded.lanes, folded.folded, folded.gpus), (4, 2, 128));
    // Pruning: the same graph, every op at the same times.
    let times = |w: &WholeRun| -> Vec<(Ps, Ps)> {
        w.run
            .timeline
            .records
            .iter()
            .map(|r| (r.start, r.end))
            .collect()
    };
    assert_eq!(times(&pruned), times(&full));
    // Folding: the simulated group of each pipeline rank runs exactly as the first
    // group did with both simulated.
    assert_eq!(first_groups(&folded), first_groups(&pruned));
    assert_eq!(folded.run.step_time, full.run.step_time);
    assert!(folded.pattern_flows < pruned.pattern_flows);
}

#[test]
fn a_small_step_agrees_with_the_aggregate_model_when_the_fabric_does_not_bind() {
    let (p, ..) = small();
    let agg = run_step(&p).unwrap();
    let w = whole(true, true);
    let ratio = w.run.step_time.0 as f64 / agg.step_time.0 as f64;
    // Routed (uneven) traffic against balanced traffic on the same links: within 3%.
    assert!((ratio - 1.0).abs() < 0.03, "{ratio}");
    // The same ops per lane as per aggregate rank, one lane per pipeline rank.
    assert_eq!(w.run.ranks.len(), agg.ranks.len());
    assert_eq!(w.run.timeline.records.len(), agg.timeline.records.len());
}

#[test]
fn a_cluster_too_small_for_the_grid_is_refused() {
    let (p, sys, s, _) = small();
    let err = run_whole_cluster(&p, &sys, s.clone(), 4096, WholeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("need 16384 GPUs"), "{err}");
    let err = run_whole_cluster(&p, &sys, s, 24, WholeOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("must divide dp = 24"), "{err}");
}
