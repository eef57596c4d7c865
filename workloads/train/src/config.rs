//! Training-run configuration as data (TOML; unknown fields are errors): schedule,
//! parallelism, micro-batch, recompute policy, mHC, communication SMs, routing, and the
//! reference per-phase times that compute costs are scaled from.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::TrainError;
use memwall_pipeline::ScheduleKind;
use memwall_sim::Ps;

/// A cluster / parallelism config. See `configs/training/*.toml`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub name: String,
    #[serde(default)]
    pub source: String,
    /// Model name (shipped, or added with `--models`), or the path to a model TOML;
    /// a relative path is taken from [`TrainConfig::dir`].
    pub model: String,
    /// System profile name (`memwall profiles list`).
    pub system: String,
    /// `dualpipe`, `dualpipev`, `1f1b` or `zb1p`.
    pub schedule: String,
    /// Pipeline stages (DualPipeV runs them on PP/2 devices).
    pub pp: u32,
    /// Micro-batches per step per pipeline (the reference's `num_chunks`).
    pub micro_batches: u32,
    /// Global batch in sequences (V3 §4.2: 15,360) and the sequence length: when given,
    /// `dp x micro_batches x micro_batch_tokens` must equal `global_batch x
    /// sequence_length` (the step's tokens).
    #[serde(default)]
    pub global_batch: Option<u64>,
    #[serde(default)]
    pub sequence_length: Option<u64>,
    /// The batch-size ramp at the start of training (V3 §4.2), for the step averaged over
    /// the whole run (`training::ramp_mean`); needs `global_batch`.
    #[serde(default)]
    pub batch_ramp: Option<BatchRamp>,
    /// Expert-parallel group size.
    pub ep: u32,
    /// Data-parallel degree (ZeRO-1): pipelines of `pp` GPUs per step; each stage's
    /// gradients are reduce-scattered and its parameters all-gathered over its copies.
    pub dp: u32,
    /// Tokens per micro-batch per GPU.
    pub micro_batch_tokens: u64,
    /// `none` or `mhc-block` (recompute the mHC kernels of one pipeline stage before its
    /// backward, keeping only the stage input; mHC paper §4.3.2).
    pub recompute: String,
    /// mHC expansion rate: absent = the model's own; 0 = off; n >= 1 = on with n streams.
    #[serde(default)]
    pub mhc: Option<u64>,
    /// mHC kernels fused as the mHC paper §4.3.1 (the fused site's HBM traffic);
    /// `false` prices the unfused HC site of the paper's Table 2.
    #[serde(default = "default_true")]
    pub mhc_fused: bool,
    /// V4's adjusted DualPipe overlap for mHC (V4 report §3.4.2, mHC paper §4.3.3 and
    /// Fig. 4; training_step.md §9): the MLP's F_post,res kernels run on a high-priority
    /// stream beside the compute stream as soon as the combine lands, so the stage
    /// output (and its n-wide pipeline send) does not wait behind the attention kernels;
    /// off, they run on the compute stream after ATTN(B). Only with mHC. The pipeline
    /// sends are on the communication stream either way (V3 Fig. 4).
    #[serde(default)]
    pub mhc_overlap: bool,
    /// SMs that the all-to-all kernels occupy (DeepEP on H800: 20 of 132).
    pub comm_sms: u32,
    /// Nodes a token may be routed to (V3: 4); 0 = unlimited.
    pub node_limit: u32,
    /// Fraction of the achievable link bandwidth that one GPU's all-to-all reaches: the
    /// one factor calibrated on the DeepSeek trace (docs/training.md), used unchanged on
    /// every profile.
    pub a2a_efficiency: f64,
    /// Bytes per parameter held on the GPU for the parameter-memory report.
    #[serde(default = "default_param_bytes")]
    pub param_bytes: u64,
    /// Per-layer phase times measured on a reference GPU for a reference model.
    pub reference: ReferencePhases,
    /// Folder of the file this config was read from (`None` for a shipped one): relative
    /// model paths (`model`, `reference.model`) are taken from here.
    #[serde(skip)]
    pub dir: Option<PathBuf>,
}

fn default_param_bytes() -> u64 {
    2
}

fn default_true() -> bool {
    true
}

/// A batch that grows from `from_batch` sequences to the config's `global_batch` over
/// the first `tokens` of a run of `train_tokens` (V3 §4.2: 3,072 to 15,360 over the first
/// 469B of 14.8T tokens), taken as linear in tokens (the report does not give the shape).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BatchRamp {
    pub from_batch: u64,
    pub tokens: f64,
    pub train_tokens: f64,
}

/// Measured per-layer compute phase times of one MoE layer; other models and GPUs are
/// re-timed from these by the ratio of achievable FLOP rates (attention by BF16, MLP by
/// FP8) of the reference GPU's profile and the target GPU's.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReferencePhases {
    pub source: String,
    /// Model name or path, resolved like [`TrainConfig::model`].
    pub model: String,
    pub tokens: u64,
    /// GPU profile the phases were measured on (e.g. `h800`): its achievable FLOP rates
    /// and SM count come from the profile registry.
    pub gpu: String,
    /// SMs taken by communication kernels while measured: the measured times are
    /// stretched by sms/(sms-comm_sms) already.
    pub comm_sms: u32,
    pub attn_f: String,
    pub attn_b: String,
    pub attn_w: String,
    pub mlp_f: String,
    pub mlp_b: String,
    pub mlp_w: String,
    /// Share of each phase's kernel time in kernels launched on at most the SMs left to
    /// compute (sms - comm_sms blocks: the persistent GEMMs), which keep their speed when
    /// no communication kernel runs beside them. Absent: every kernel spreads over all
    /// SMs.
    #[serde(default)]
    pub sm_bound: PhaseShares,
}

/// A fraction per compute phase of a layer.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PhaseShares {
    pub attn_f: f64,
    pub attn_b: f64,
    pub attn_w: f64,
    pub mlp_f: f64,
    pub mlp_b: f64,
    pub mlp_w: f64,
}

impl PhaseShares {
    /// Every share a fraction in 0..=1; else the field, the value and an example.
    fn check(&self, origin: &str) -> Result<(), TrainError> {
        let names = ["attn_f", "attn_b", "attn_w", "mlp_f", "mlp_b", "mlp_w"];
        for (f, v) in names.iter().zip(self.to_array()) {
            if !(0.0..=1.0).contains(&v) {
                return Err(TrainError::Config(format!(
                    "{origin}: field `reference.sm_bound.{f}`: {v} is not a fraction in 0..=1 (e.g. 0.4)"
                )));
            }
        }
        Ok(())
    }

    /// In the order attention F, B, W, then MLP F, B, W.
    pub fn to_array(self) -> [f64; 6] {
        [
            self.attn_f,
            self.attn_b,
            self.attn_w,
            self.mlp_f,
            self.mlp_b,
            self.mlp_w,
        ]
    }
}

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The shipped training configs (`configs/*.toml`, embedded by tools/build/embed.rs):
/// (name, TOML text).
pub fn builtin_configs() -> impl Iterator<Item = (&'static str, &'static str)> {
    embedded::EMBEDDED
        .iter()
        .map(|(file, text)| (file.trim_end_matches(".toml"), *text))
}

impl TrainConfig {
    pub fn from_toml_str(origin: &str, text: &str) -> Result<TrainConfig, TrainError> {
        let c: TrainConfig =
            toml::from_str(text).map_err(|e| TrainError::Config(format!("{origin}: {e}")))?;
        c.validate(origin)?;
        c.check_batch().map_err(|rule| {
            TrainError::Config(format!("{origin}: field `global_batch`: {rule}"))
        })?;
        Ok(c)
    }

    /// A shipped training config by name.
    pub fn builtin(name: &str) -> Result<TrainConfig, TrainError> {
        let (_, t) = builtin_configs().find(|(n, _)| *n == name).ok_or_else(|| {
            let known: Vec<&str> = builtin_configs().map(|(n, _)| n).collect();
            TrainError::Config(format!(
                "unknown training config `{name}`; built-in: {}\nhint: or give the path to a training config TOML",
                known.join(", ")
            ))
        })?;
        TrainConfig::from_toml_str(name, t)
    }

    /// A training config file; relative model paths in it are taken from its folder.
    pub fn load(path: &Path) -> Result<TrainConfig, TrainError> {
        let text = memwall_io::input::read_to_string_capped(path).map_err(|e| TrainError::Io {
            file: path.display().to_string(),
            problem: e.to_string(),
        })?;
        let mut c = TrainConfig::from_toml_str(&path.display().to_string(), &text)?;
        c.dir = path.parent().map(Path::to_path_buf);
        Ok(c)
    }

    /// A shipped config by name, else a config file by path (`--config NAME|PATH`).
    pub fn resolve(name_or_path: &str) -> Result<TrainConfig, TrainError> {
        let path = Path::new(name_or_path);
        let is_builtin = builtin_configs().any(|(n, _)| n == name_or_path);
        if !is_builtin && (path.exists() || memwall_llm::looks_like_path(name_or_path)) {
            return TrainConfig::load(path);
        }
        TrainConfig::builtin(name_or_path)
    }

    pub fn schedule_kind(&self) -> Result<ScheduleKind, TrainError> {
        parse_schedule(&self.schedule)
    }

    /// Checks every field; errors name the field and the rule.
    pub fn validate(&self, origin: &str) -> Result<(), TrainError> {
        let bad = |field: &str, rule: String| {
            Err(TrainError::Config(format!(
                "{origin}: field `{field}`: {rule}"
            )))
        };
        self.schedule_kind()
            .map_err(|e| TrainError::Config(format!("{origin}: {e}")))?;
        if self.pp == 0 {
            return bad("pp", "must be at least 1".into());
        }
        if self.ep == 0 || self.dp == 0 {
            return bad("ep/dp", "must be at least 1".into());
        }
        if self.micro_batch_tokens == 0 || self.micro_batch_tokens > 1 << 24 {
            return bad("micro_batch_tokens", "must be in 1..=16M".into());
        }
        if !(self.a2a_efficiency > 0.0 && self.a2a_efficiency <= 1.0) {
            return bad("a2a_efficiency", "must be in (0, 1]".into());
        }
        if self.recompute != "none" && self.recompute != "mhc-block" {
            return bad("recompute", "must be `none` or `mhc-block`".into());
        }
        if let Some(n) = self.mhc {
            if n > 16 {
                return bad("mhc", format!("expansion rate {n} is above 16"));
            }
        }
        if let Some(r) = &self.batch_ramp {
            let ok = r.tokens.is_finite() && r.train_tokens.is_finite();
            if !(ok && r.tokens > 0.0 && r.tokens <= r.train_tokens) {
                return bad(
                    "batch_ramp.tokens",
                    "must be above 0 and at most batch_ramp.train_tokens".into(),
                );
            }
            if r.from_batch == 0 || self.global_batch.is_none_or(|b| r.from_batch > b) {
                return bad(
                    "batch_ramp.from_batch",
                    "must be at least 1 and at most global_batch (which it needs)".into(),
                );
            }
        }
        let r = &self.reference;
        if r.tokens == 0 {
            return bad("reference.tokens", "must be at least 1".into());
        }
        if r.gpu.trim().is_empty() {
            return bad(
                "reference.gpu",
                "name the GPU profile the phases were measured on (e.g. \"h800\")".into(),
            );
        }
        for (f, v) in [
            ("attn_f", &r.attn_f),
            ("attn_b", &r.attn_b),
            ("attn_w", &r.attn_w),
            ("mlp_f", &r.mlp_f),
            ("mlp_b", &r.mlp_b),
            ("mlp_w", &r.mlp_w),
        ] {
            parse_duration(v)
                .map_err(|e| TrainError::Config(format!("{origin}: reference.{f}: {e}")))?;
        }
        r.sm_bound.check(origin)
    }
}

impl TrainConfig {
    /// Tokens of one step over all pipelines: `dp x micro_batches x micro_batch_tokens`.
    pub fn step_tokens(&self) -> u128 {
        self.dp as u128 * self.micro_batches as u128 * self.micro_batch_tokens as u128
    }

    /// The global batch (`global_batch` sequences of `sequence_length`) against the
    /// micro-batch size and count of every pipeline.
    pub fn check_batch(&self) -> Result<(), String> {
        match (self.global_batch, self.sequence_length) {
            (None, None) => Ok(()),
            (Some(b), Some(s)) => {
                let want = b as u128 * s as u128;
                if want == self.step_tokens() {
                    return Ok(());
                }
                Err(format!(
                    "{b} sequences x {s} tokens = {want} tokens per step, but dp {} x \
                     micro_batches {} x micro_batch_tokens {} = {}; make them agree (or drop \
                     global_batch and sequence_length)",
                    self.dp,
                    self.micro_batches,
                    self.micro_batch_tokens,
                    self.step_tokens()
                ))
            }
            _ => Err("give both global_batch and sequence_length, or neither".into()),
        }
    }
}

pub fn parse_schedule(s: &str) -> Result<ScheduleKind, TrainError> {
    match s {
        "dualpipe" => Ok(ScheduleKind::DualPipe),
        "dualpipev" => Ok(ScheduleKind::DualPipeV),
        "1f1b" => Ok(ScheduleKind::OneFOneB),
        "zb1p" => Ok(ScheduleKind::Zb1p),
        _ => Err(TrainError::Config(format!(
            "schedule `{s}`: must be one of dualpipe, dualpipev, 1f1b, zb1p"
        ))),
    }
}

/// "4.37 ms" -> picoseconds, parsed exactly by the profile unit parser (ps, ns, us, ms, s).
pub fn parse_duration(s: &str) -> Result<Ps, String> {
    memwall_models::units::parse_time_ps(s)
        .map(Ps)
        .map_err(|e| format!("`{s}`: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("4.37 ms").unwrap(), Ps(4_370_000_000));
        assert_eq!(parse_duration("2 us").unwrap(), Ps::from_us(2));
        assert!(parse_duration("4.37").is_err());
        assert!(parse_duration("4 parsecs").is_err());
    }

    #[test]
    fn builtin_parses_and_bad_fields_are_named() {
        let c = TrainConfig::builtin("deepseek-v3-h800").unwrap();
        assert_eq!(c.pp, 16);
        let text = include_str!("../configs/deepseek-v3-h800.toml");
        let e = TrainConfig::from_toml_str(
            "x.toml",
            &text.replace("recompute = \"mhc-block\"", "recompute = \"all\""),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("recompute"), "{e}");
        let e = TrainConfig::from_toml_str("x.toml", &format!("{text}\nbogus = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bogus"), "{e}");
    }
}
