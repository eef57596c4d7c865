//! Expert parallelism in serving: the `[moe]` table of a scenario and the seeded
//! top-k routing its all-to-all follows.
//!
//! With `[moe]` the routed experts of every MoE layer are split over the deployment's
//! GPUs (`[engine] expert_parallel` = every GPU the replicas use) and each MoE layer of
//! each step dispatches its tokens to the GPUs holding their experts and combines the
//! results back, as DeepEP (R17) and the engines built on it do (SGLang's DP attention
//! with a DeepEP all-to-all, R102; docs/engines.md, "Expert parallelism"). The step loop
//! runs those
//! transfers as flows on the node (`crate::sim`); this module says how many tokens go
//! from which GPU to which, and how many rows each expert gets.
//!
//! Routing: each token picks `k` distinct experts. Expert popularity follows a Zipf law
//! of exponent `skew` over a seeded ranking of the experts (0 = every expert equally
//! likely; DeepSeek-V3's auxiliary-loss-free balancing aims at 0, real routers leave a
//! skew that grows with specialisation). Small groups of tokens (decode) are drawn token
//! by token; groups of [`FLUID_TOKENS`] or more (prefill chunks) take the expected counts,
//! which their sampled counts approach within a few percent anyway and which cost
//! nothing to compute. One draw per step serves every MoE layer of the step.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use toml::Spanned;

use crate::error::ScenarioError;
use crate::scenario::{line_of, Scenario};

/// Token groups of at least this many tokens take the expected routing counts.
pub const FLUID_TOKENS: u64 = 64;

/// Largest Zipf exponent accepted (beyond it nearly every token picks the same experts).
pub const MAX_SKEW: f64 = 3.0;

/// `[moe]`: expert-parallel all-to-all and the routing it follows.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MoeSpec {
    /// `"uniform"` or `"zipf"`.
    #[serde(default = "default_routing")]
    pub routing: Spanned<String>,
    /// Zipf exponent over the experts' popularity (routing = "zipf"; default 1.0).
    pub skew: Option<Spanned<f64>>,
    /// Dispatch payload: `"fp8"` (FP8 with one FP32 scale per 128 values, DeepEP's
    /// dispatch, V3 report §3.2.2, R15) or `"bf16"`. The combine is BF16.
    #[serde(default = "default_dispatch")]
    pub dispatch: Spanned<String>,
    /// Extra expert slots holding a second copy of the most popular experts, each copy
    /// taking half of its expert's tokens (DeepSeek's redundant experts: 32 over EP144,
    /// R192; EPLB places them). Default 0.
    pub redundant_experts: Option<Spanned<u64>>,
}

fn default_routing() -> Spanned<String> {
    Spanned::new(0..0, "uniform".into())
}
fn default_dispatch() -> Spanned<String> {
    Spanned::new(0..0, "fp8".into())
}

/// How tokens choose their experts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Routing {
    Uniform,
    /// Zipf over a seeded ranking of the experts, with this exponent.
    Zipf(f64),
}

impl MoeSpec {
    fn error(&self, s: &Scenario, at: std::ops::Range<usize>, field: &str, value: String) -> Err {
        let line = (at.end > 0).then(|| line_of(&s.source_text, at.start));
        Err {
            origin: s.origin.clone(),
            line,
            field: format!("moe.{field}"),
            value,
        }
    }

    /// The routing law, checked: a known name, a skew in range and only with Zipf.
    pub fn routing(&self, s: &Scenario) -> Result<Routing, ScenarioError> {
        let name = self.routing.get_ref().as_str();
        let skew = self.skew.as_ref();
        match (name, skew) {
            ("uniform", None) => Ok(Routing::Uniform),
            ("uniform", Some(k)) => Err(self
                .error(s, k.span(), "skew", k.get_ref().to_string())
                .msg(
                    "a skew needs routing = \"zipf\"",
                    "drop skew, or set routing = \"zipf\"",
                )),
            ("zipf", None) => Ok(Routing::Zipf(1.0)),
            ("zipf", Some(k)) if (0.0..=MAX_SKEW).contains(k.get_ref()) => {
                Ok(Routing::Zipf(*k.get_ref()))
            }
            ("zipf", Some(k)) => Err(self
                .error(s, k.span(), "skew", k.get_ref().to_string())
                .msg(
                    &format!("the Zipf exponent must be in 0 to {MAX_SKEW}"),
                    "0 = balanced experts; 1.0 is a strongly skewed router",
                )),
            (other, _) => Err(self
                .error(s, self.routing.span(), "routing", other.to_string())
                .msg(
                    "unknown routing",
                    "use \"uniform\" or \"zipf\" (with skew = ...)",
                )),
        }
    }

    /// Redundant expert slots for a model of `experts` routed experts: at most one copy of
    /// each.
    pub fn redundant(&self, s: &Scenario, experts: u64) -> Result<u64, ScenarioError> {
        match &self.redundant_experts {
            None => Ok(0),
            Some(r) if *r.get_ref() <= experts => Ok(*r.get_ref()),
            Some(r) => Err(self
                .error(s, r.span(), "redundant_experts", r.get_ref().to_string())
                .msg(
                    &format!("more copies than the model's {experts} routed experts"),
                    "DeepSeek-V3 serves EP144 with 32 (256 + 32 = 2 slots per GPU)",
                )),
        }
    }

    /// Bytes of one token in the dispatch and in the combine, for `hidden` values.
    pub fn token_bytes(&self, s: &Scenario, hidden: u64) -> Result<(u64, u64), ScenarioError> {
        let combine = 2 * hidden;
        match self.dispatch.get_ref().as_str() {
            "fp8" => Ok((hidden + hidden.div_ceil(128) * 4, combine)),
            "bf16" => Ok((combine, combine)),
            other => Err(self
                .error(s, self.dispatch.span(), "dispatch", other.to_string())
                .msg(
                    "unknown dispatch payload",
                    "use \"fp8\" (DeepEP) or \"bf16\"",
                )),
        }
    }
}

/// A field error being built.
struct Err {
    origin: String,
    line: Option<usize>,
    field: String,
    value: String,
}

impl Err {
    fn msg(self, message: &str, hint: &str) -> ScenarioError {
        ScenarioError::Field {
            origin: self.origin,
            line: self.line,
            field: self.field,
            value: self.value,
            message: message.into(),
            hint: hint.into(),
        }
    }
}

/// One step's routing: tokens from GPU to GPU and rows per expert.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routed {
    /// `pairs[src * gpus + dst]`: tokens `src` sends `dst` (a token goes once to each GPU
    /// holding one of its experts, however many of them it holds).
    pub pairs: Vec<u64>,
    /// Rows each expert multiplies this step.
    pub rows: Vec<u64>,
}

/// Seeded top-k routing over `experts` expert slots split evenly over `gpus` GPUs.
pub struct Router {
    k: usize,
    /// The expert each slot holds (a redundant slot: a copy of a popular one).
    expert_of: Vec<u32>,
    gpus: usize,
    per_gpu: usize,
    /// Cumulative choice probabilities, by expert.
    cdf: Vec<f64>,
    /// Experts by decreasing popularity (the fallback of a long rejection run).
    by_popularity: Vec<u32>,
    /// Expected rows per token of each expert, and the chance a token reaches each GPU.
    inclusion: Vec<f64>,
    hit: Vec<f64>,
    rng: ChaCha8Rng,
    chosen: Vec<u32>,
}

impl Router {
    pub fn new(experts: usize, k: usize, gpus: usize, routing: Routing, seed: u64) -> Router {
        Router::with_copies(experts, 0, k, gpus, routing, seed)
    }

    /// `experts` experts and a second slot for each of the `copies` most popular ones
    /// (slots `experts..experts + copies`), each copy taking half its expert's share; a
    /// token's `k` experts stay distinct whichever copy serves them.
    pub fn with_copies(
        experts: usize,
        copies: usize,
        k: usize,
        gpus: usize,
        routing: Routing,
        seed: u64,
    ) -> Router {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d6f_652d_726f_7574);
        let mut by_popularity: Vec<u32> = (0..experts as u32).collect();
        by_popularity.shuffle(&mut rng);
        let s = match routing {
            Routing::Uniform => 0.0,
            Routing::Zipf(s) => s,
        };
        let mut p = vec![0.0; experts];
        for (rank, &e) in by_popularity.iter().enumerate() {
            p[e as usize] = (rank as f64 + 1.0).powf(-s);
        }
        let mut expert_of: Vec<u32> = (0..experts as u32).collect();
        for &e in by_popularity.iter().take(copies) {
            p[e as usize] /= 2.0;
            p.push(p[e as usize]);
            expert_of.push(e);
        }
        by_popularity.extend(experts as u32..p.len() as u32);
        let total: f64 = p.iter().sum();
        let mut acc = 0.0;
        let cdf = p
            .iter()
            .map(|x| {
                acc += x / total;
                acc
            })
            .collect();
        let inclusion = water_fill(&p, k as f64);
        let per_gpu = p.len() / gpus.max(1);
        let hit = (0..gpus)
            .map(|g| {
                let miss: f64 = inclusion[g * per_gpu..(g + 1) * per_gpu]
                    .iter()
                    .map(|q| 1.0 - q)
                    .product();
                1.0 - miss
            })
            .collect();
        Router {
            k: k.min(experts),
            expert_of,
            gpus,
            per_gpu,
            cdf,
            by_popularity,
            inclusion,
            hit,
            rng,
            chosen: Vec::with_capacity(k),
        }
    }

    /// Routes `tokens[src]` tokens of each GPU into `out`.
    pub fn route(&mut self, tokens: &[u64], out: &mut Routed) {
        let g = self.gpus;
        out.pairs.clear();
        out.pairs.resize(g * g, 0);
        out.rows.clear();
        out.rows.resize(self.cdf.len(), 0);
        for (src, &t) in tokens.iter().enumerate().take(g) {
            if t >= FLUID_TOKENS {
                self.expected(src, t, out);
            } else {
                for _ in 0..t {
                    self.one_token(src, out);
                }
            }
        }
    }

    /// One token: `k` distinct experts, drawn by popularity.
    fn one_token(&mut self, src: usize, out: &mut Routed) {
        self.chosen.clear();
        while self.chosen.len() < self.k {
            let e = self.draw_distinct();
            self.chosen.push(e);
            out.rows[e as usize] += 1;
        }
        self.chosen
            .sort_unstable_by_key(|&e| e as usize / self.per_gpu);
        let mut last = usize::MAX;
        for &e in &self.chosen {
            let dst = e as usize / self.per_gpu;
            if dst != last {
                out.pairs[src * self.gpus + dst] += 1;
                last = dst;
            }
        }
    }

    /// An expert not yet chosen for this token: redrawn on a repeat, after 32 repeats the
    /// most popular expert not chosen.
    fn draw_distinct(&mut self) -> u32 {
        for _ in 0..32 {
            let u: f64 = self.rng.gen();
            let e = self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1) as u32;
            if self.fresh(e) {
                return e;
            }
        }
        *self
            .by_popularity
            .iter()
            .find(|&&e| self.fresh(e))
            .expect("k <= experts")
    }

    /// Slot `e`'s expert is not yet among this token's.
    fn fresh(&self, e: u32) -> bool {
        let x = self.expert_of[e as usize];
        !self.chosen.iter().any(|&c| self.expert_of[c as usize] == x)
    }

    /// `t` tokens at their expected counts (largest remainders kept whole).
    fn expected(&self, src: usize, t: u64, out: &mut Routed) {
        let tf = t as f64;
        for (r, q) in out.rows.iter_mut().zip(&self.inclusion) {
            *r += (tf * q).round() as u64;
        }
        for (dst, h) in self.hit.iter().enumerate() {
            out.pairs[src * self.gpus + dst] += (tf * h).round() as u64;
        }
    }
}

/// Inclusion probabilities of a top-`k` choice by weights `p`: `k p_e / sum p`, with any
/// share over 1 capped at 1 and the rest spread again over the others.
fn water_fill(p: &[f64], k: f64) -> Vec<f64> {
    let mut q = vec![0.0; p.len()];
    let mut capped = vec![false; p.len()];
    let mut left = k.min(p.len() as f64);
    loop {
        let mass: f64 = p.iter().zip(&capped).filter(|x| !*x.1).map(|x| x.0).sum();
        if mass <= 0.0 {
            return q;
        }
        let mut again = false;
        for i in 0..p.len() {
            if !capped[i] {
                q[i] = left * p[i] / mass;
                if q[i] >= 1.0 {
                    capped[i] = true;
                    again = true;
                }
            }
        }
        if !again {
            return q;
        }
        for (qi, c) in q.iter_mut().zip(&capped) {
            if *c {
                *qi = 1.0;
            }
        }
        left = k.min(p.len() as f64) - capped.iter().filter(|c| **c).count() as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routed(r: &mut Router, tokens: &[u64]) -> Routed {
        let mut out = Routed::default();
        r.route(tokens, &mut out);
        out
    }

    #[test]
    fn every_token_gets_k_distinct_experts_and_reaches_each_of_their_gpus_once() {
        let mut r = Router::new(64, 6, 8, Routing::Zipf(1.0), 7);
        let out = routed(&mut r, &[10, 0, 3, 1, 0, 0, 0, 5]);
        assert_eq!(out.rows.iter().sum::<u64>(), 19 * 6);
        let sent = |src: usize| out.pairs[src * 8..src * 8 + 8].iter().sum::<u64>();
        // A token reaches at least one GPU and at most k of them.
        for (src, t) in [(0, 10u64), (2, 3), (3, 1), (7, 5)] {
            assert!(sent(src) >= t && sent(src) <= 6 * t, "{src}: {}", sent(src));
        }
        assert_eq!(sent(1), 0);
    }

    #[test]
    fn skew_concentrates_rows_and_uniform_spreads_them() {
        let busiest = |routing| {
            let mut r = Router::new(256, 8, 8, routing, 1);
            let mut rows = vec![0u64; 256];
            for _ in 0..200 {
                let out = routed(&mut r, &[32; 8]);
                for (a, b) in rows.iter_mut().zip(&out.rows) {
                    *a += b;
                }
            }
            let per_gpu: Vec<u64> = rows.chunks(32).map(|c| c.iter().sum()).collect();
            let mean = per_gpu.iter().sum::<u64>() as f64 / 8.0;
            *per_gpu.iter().max().unwrap() as f64 / mean
        };
        let uniform = busiest(Routing::Uniform);
        let zipf = busiest(Routing::Zipf(1.2));
        assert!(uniform < 1.05, "{uniform}");
        assert!(zipf > 1.3, "{zipf}");
    }

    #[test]
    fn expected_counts_match_sampled_ones() {
        let mut r = Router::new(128, 6, 8, Routing::Zipf(0.8), 3);
        let fluid = routed(&mut r, &[6400, 0, 0, 0, 0, 0, 0, 0]);
        let mut sampled = Routed::default();
        for _ in 0..100 {
            let o = routed(&mut r, &[FLUID_TOKENS - 1, 0, 0, 0, 0, 0, 0, 0]);
            if sampled.pairs.is_empty() {
                sampled = o;
            } else {
                for (a, b) in sampled.pairs.iter_mut().zip(&o.pairs) {
                    *a += b;
                }
            }
        }
        // 6,400 expected vs 6,300 drawn tokens: per destination within 10%.
        for d in 0..8 {
            let (f, s) = (
                fluid.pairs[d] as f64,
                sampled.pairs[d] as f64 * 6400.0 / 6300.0,
            );
            assert!((f / s - 1.0).abs() < 0.1, "gpu {d}: {f} vs {s}");
        }
    }

    #[test]
    fn same_seed_same_routing() {
        let a = routed(
            &mut Router::new(64, 4, 4, Routing::Zipf(1.0), 9),
            &[5, 6, 7, 8],
        );
        let b = routed(
            &mut Router::new(64, 4, 4, Routing::Zipf(1.0), 9),
            &[5, 6, 7, 8],
        );
        let c = routed(
            &mut Router::new(64, 4, 4, Routing::Zipf(1.0), 10),
            &[5, 6, 7, 8],
        );
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// A redundant slot takes half its expert's rows, and a token never gets one expert
    /// twice through its two slots.
    #[test]
    fn redundant_copies_split_their_experts_rows() {
        let mut r = Router::with_copies(16, 4, 6, 4, Routing::Zipf(1.5), 2);
        let mut rows = [0u64; 20];
        for _ in 0..400 {
            let out = routed(&mut r, &[10; 4]);
            assert_eq!(out.rows.len(), 20);
            assert_eq!(out.pairs.len(), 16);
            for (a, b) in rows.iter_mut().zip(&out.rows) {
                *a += b;
            }
        }
        assert_eq!(rows.iter().sum::<u64>(), 400 * 40 * 6);
        for (slot, &e) in r.expert_of.iter().enumerate().skip(16) {
            let (a, b) = (rows[e as usize] as f64, rows[slot] as f64);
            assert!((a / b - 1.0).abs() < 0.1, "expert {e}: {a} vs copy {b}");
        }
        for _ in 0..200 {
            r.chosen.clear();
            let mut out = Routed {
                pairs: vec![0; 16],
                rows: vec![0; 20],
            };
            r.one_token(0, &mut out);
            let mut experts: Vec<u32> = r.chosen.iter().map(|&c| r.expert_of[c as usize]).collect();
            experts.sort_unstable();
            experts.dedup();
            assert_eq!(experts.len(), 6);
        }
    }

    #[test]
    fn water_fill_caps_at_one_and_keeps_k() {
        let q = water_fill(&[100.0, 1.0, 1.0, 1.0], 2.0);
        assert_eq!(q[0], 1.0);
        assert!((q.iter().sum::<f64>() - 2.0).abs() < 1e-9);
    }
}
