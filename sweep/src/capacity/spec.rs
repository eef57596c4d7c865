//! The plan file: which base scenario, which systems (with the user's prices) and
//! placements, the request stream, the SLOs, the rate search and the target rate.
//! Unknown fields are errors naming the file and line, as in scenarios and sweep files.

use crate::spec::{line_of, merge_tables, SweepError};
use memwall_serve::Dist;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    plan: Spanned<RawPlan>,
    #[serde(default)]
    base: Option<Spanned<toml::Table>>,
    stream: Spanned<RawStream>,
    slo: Spanned<RawSlo>,
    #[serde(default)]
    search: RawSearch,
    #[serde(default)]
    system: Vec<Spanned<RawSystem>>,
    #[serde(default)]
    placement: Vec<Spanned<RawPlacement>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    scenario: Option<Spanned<String>>,
    #[serde(default)]
    profiles: Vec<String>,
    #[serde(default)]
    target_rate: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStream {
    requests: Spanned<u64>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    lengths: Option<String>,
    #[serde(default)]
    prompt_tokens: Option<[u32; 2]>,
    #[serde(default)]
    output_tokens: Option<[u32; 2]>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlo {
    #[serde(default)]
    ttft: Option<RawObjective>,
    #[serde(default)]
    tpot: Option<RawObjective>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObjective {
    percentile: Spanned<String>,
    limit: Spanned<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSearch {
    #[serde(default)]
    min_rate: Option<Spanned<f64>>,
    #[serde(default)]
    max_rate: Option<Spanned<f64>>,
    #[serde(default)]
    tolerance: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    name: Spanned<String>,
    price: Spanned<String>,
    #[serde(default)]
    per: Option<Spanned<String>>,
    source: String,
    #[serde(default)]
    placements: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlacement {
    name: Spanned<String>,
    #[serde(default)]
    set: toml::Table,
}

/// Which statistic of a latency distribution an objective bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Mean,
    P50,
    P90,
    P99,
}

impl Stat {
    pub fn of(self, d: &Dist) -> f64 {
        match self {
            Stat::Mean => d.mean_s,
            Stat::P50 => d.p50_s,
            Stat::P90 => d.p90_s,
            Stat::P99 => d.p99_s,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Stat::Mean => "mean",
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P99 => "p99",
        }
    }
}

/// One service-level objective: `stat` of the measured requests' latency at or under
/// `limit_s` seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    pub stat: Stat,
    pub limit_s: f64,
    /// As written (`"200 ms"`), passed to the scenario's goodput SLO.
    pub limit_text: String,
}

/// The objectives a sustainable rate meets (at least one).
#[derive(Debug, Clone, PartialEq)]
pub struct Slos {
    pub ttft: Option<Objective>,
    pub tpot: Option<Objective>,
}

/// The rate search: bracketing from `min_rate` by doubling up to `max_rate`, then
/// bisection until the bracket is within `tolerance` of its lower end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Search {
    pub min_rate: f64,
    pub max_rate: f64,
    pub tolerance: f64,
}

impl Default for Search {
    fn default() -> Self {
        Search {
            min_rate: 0.25,
            max_rate: 1024.0,
            tolerance: 0.02,
        }
    }
}

impl Search {
    /// The most probes one cell's search can take.
    pub fn max_probes(&self) -> usize {
        let bracket = (self.max_rate / self.min_rate).log2().ceil().max(0.0) as usize + 1;
        let bisect = (1.0 / self.tolerance).log2().ceil().max(0.0) as usize + 1;
        bracket + bisect
    }
}

/// A system to plan on, with the user's price.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSystem {
    pub name: String,
    /// USD per hour, per GPU used (`per = "gpu"`, the default) or per node.
    pub usd_per_hour: f64,
    pub per_gpu: bool,
    pub source: String,
    /// The placements tried on it (all when the file lists none).
    pub placements: Vec<String>,
    pub line: usize,
}

/// A named set of scenario keys merged over the base (parallelism, KV tiers, Engram
/// placement, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    pub name: String,
    pub set: toml::Table,
    pub line: usize,
}

/// A parsed, checked plan file.
#[derive(Debug, Clone)]
pub struct PlanSpec {
    pub file: PathBuf,
    pub name: String,
    pub description: Option<String>,
    /// The base scenario file, when named (its folder anchors the scenario's paths).
    pub scenario_file: Option<PathBuf>,
    /// The `scenario` file with `[base]` merged over it.
    pub base: toml::Table,
    pub base_line: usize,
    /// The `[workload]` table of every probe, less its `rate`: Poisson arrivals.
    pub stream: toml::Table,
    pub seed: u64,
    pub slo: Slos,
    pub search: Search,
    pub systems: Vec<PlanSystem>,
    pub placements: Vec<Placement>,
    pub target_rate: Option<f64>,
    pub profiles: Vec<PathBuf>,
}

/// The most requests one probe may issue.
pub const MAX_REQUESTS: u64 = 1_000_000;

impl PlanSpec {
    /// Read and check a plan file.
    pub fn load(path: &Path) -> Result<PlanSpec, SweepError> {
        let text = memwall_io::input::read_to_string_capped(path)
            .map_err(|e| SweepError::new(path, None, format!("cannot read the plan file: {e}")))?;
        Self::parse(path, &text)
    }

    /// Parse plan text; `path` names it in errors and anchors relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<PlanSpec, SweepError> {
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let at = e.span().map(|s| s.start);
            SweepError::new(
                path,
                at.map(|a| line_of(text, a)),
                memwall_io::input::toml_message(e.message(), text, at),
            )
        })?;
        let err = |at: usize, m: String| SweepError::new(path, Some(line_of(text, at)), m);
        let dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let plan_at = raw.plan.span().start;
        let p = raw.plan.into_inner();
        if p.name.trim().is_empty() {
            return Err(err(
                plan_at,
                "[plan] name is empty: give the plan a name".into(),
            ));
        }
        let (base, base_line, scenario_file) = base_scenario(path, text, &dir, &p, raw.base)?;
        let (stream, seed) = stream(path, text, &dir, raw.stream, &base, &scenario_file)?;
        let slo = slos(path, text, raw.slo)?;
        let search = search(path, text, raw.search)?;
        let placements = placements(path, text, raw.placement)?;
        let systems = systems(path, text, raw.system, &placements)?;
        if systems.is_empty() {
            return Err(err(
                plan_at,
                "no [[system]]: name at least one system to plan on, with its price".into(),
            ));
        }
        let target_rate = match p.target_rate {
            Some(t) if !(*t.get_ref() > 0.0 && t.get_ref().is_finite()) => {
                return Err(err(
                    t.span().start,
                    format!(
                        "target_rate {} must be a positive number of requests/s",
                        t.get_ref()
                    ),
                ))
            }
            t => t.map(|t| t.into_inner()),
        };
        Ok(PlanSpec {
            file: path.to_path_buf(),
            name: p.name,
            description: p.description,
            scenario_file,
            base,
            base_line,
            stream,
            seed,
            slo,
            search,
            systems,
            placements,
            target_rate,
            profiles: p.profiles.iter().map(|f| dir.join(f)).collect(),
        })
    }
}

/// The base scenario: the `scenario` file (relative to the plan) with `[base]` over it.
fn base_scenario(
    path: &Path,
    text: &str,
    dir: &Path,
    p: &RawPlan,
    inline: Option<Spanned<toml::Table>>,
) -> Result<(toml::Table, usize, Option<PathBuf>), SweepError> {
    let mut base = toml::Table::new();
    let mut line = 1;
    let mut file = None;
    if let Some(s) = &p.scenario {
        let f = dir.join(s.get_ref());
        line = line_of(text, s.span().start);
        let t = memwall_io::input::read_to_string_capped(&f).map_err(|e| {
            SweepError::new(
                path,
                Some(line),
                format!("cannot read scenario {}: {e}", f.display()),
            )
        })?;
        base = t.parse::<toml::Table>().map_err(|e| {
            let at = e.span().map(|s| s.start);
            SweepError::new(
                &f,
                at.map(|a| line_of(&t, a)),
                memwall_io::input::toml_message(e.message(), &t, at),
            )
        })?;
        file = Some(f);
    }
    if let Some(b) = &inline {
        line = line_of(text, b.span().start);
        merge_tables(&mut base, b.get_ref());
    }
    Ok((base, line, file))
}

/// `[stream]`: Poisson arrivals of `requests` requests (seeded), lengths from a JSONL
/// file, uniform ranges, or (neither given) the base scenario's own request lengths.
fn stream(
    path: &Path,
    text: &str,
    dir: &Path,
    raw: Spanned<RawStream>,
    base: &toml::Table,
    scenario_file: &Option<PathBuf>,
) -> Result<(toml::Table, u64), SweepError> {
    let at = line_of(text, raw.span().start);
    let s = raw.into_inner();
    let n = *s.requests.get_ref();
    if n == 0 || n > MAX_REQUESTS {
        return Err(SweepError::new(
            path,
            Some(line_of(text, s.requests.span().start)),
            format!("stream.requests = {n}: give 1 to {MAX_REQUESTS} requests per probe"),
        ));
    }
    let mut w = toml::Table::new();
    w.insert("kind".into(), "poisson".into());
    w.insert("requests".into(), (n as i64).into());
    match (s.lengths, s.prompt_tokens, s.output_tokens) {
        (Some(f), None, None) => {
            w.insert("lengths".into(), anchored(dir, &f).into());
        }
        (None, Some(p), Some(o)) => {
            w.insert("prompt_tokens".into(), range(p));
            w.insert("output_tokens".into(), range(o));
        }
        (None, None, None) => base_lengths(base, scenario_file, &mut w).ok_or_else(|| {
            SweepError::new(path, Some(at), "the base scenario's workload gives no request lengths: set [stream] lengths = \"requests.jsonl\" or prompt_tokens and output_tokens")
        })?,
        _ => {
            return Err(SweepError::new(path, Some(at), "[stream]: give either lengths (a JSONL file) or both prompt_tokens and output_tokens"))
        }
    }
    Ok((w, s.seed))
}

fn range(r: [u32; 2]) -> toml::Value {
    toml::Value::Array(vec![(r[0] as i64).into(), (r[1] as i64).into()])
}

/// `p` relative to `dir` unless absolute.
fn anchored(dir: &Path, p: &str) -> String {
    let pb = Path::new(p);
    if pb.is_absolute() {
        p.to_string()
    } else {
        dir.join(pb).to_string_lossy().into_owned()
    }
}

/// The lengths the base scenario's workload gives: a JSONL request file (`jsonl`), a
/// generated workload's `lengths` file or ranges, a synthetic workload's ranges.
fn base_lengths(
    base: &toml::Table,
    scenario_file: &Option<PathBuf>,
    w: &mut toml::Table,
) -> Option<()> {
    let wl = base.get("workload")?.as_table()?;
    let dir = scenario_file
        .as_deref()
        .and_then(Path::parent)
        .unwrap_or(Path::new(""));
    let file = match wl.get("kind")?.as_str()? {
        "jsonl" => wl.get("file"),
        _ => wl.get("lengths"),
    };
    if let Some(f) = file {
        w.insert("lengths".into(), anchored(dir, f.as_str()?).into());
        return Some(());
    }
    w.insert("prompt_tokens".into(), wl.get("prompt_tokens")?.clone());
    w.insert("output_tokens".into(), wl.get("output_tokens")?.clone());
    Some(())
}

fn slos(path: &Path, text: &str, raw: Spanned<RawSlo>) -> Result<Slos, SweepError> {
    let at = line_of(text, raw.span().start);
    let r = raw.into_inner();
    let obj = |o: Option<RawObjective>, what: &str| -> Result<Option<Objective>, SweepError> {
        let Some(o) = o else { return Ok(None) };
        let stat = match o.percentile.get_ref().as_str() {
            "mean" => Stat::Mean,
            "p50" => Stat::P50,
            "p90" => Stat::P90,
            "p99" => Stat::P99,
            other => {
                return Err(SweepError::new(
                    path,
                    Some(line_of(text, o.percentile.span().start)),
                    format!("slo.{what}.percentile {other:?} is not known: write \"mean\", \"p50\", \"p90\" or \"p99\""),
                ))
            }
        };
        let ps = memwall_models::units::parse_time_ps(o.limit.get_ref())
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| {
                SweepError::new(
                    path,
                    Some(line_of(text, o.limit.span().start)),
                    format!("slo.{what}.limit {:?} is not a positive duration: write it with its unit, e.g. \"200 ms\"", o.limit.get_ref()),
                )
            })?;
        Ok(Some(Objective {
            stat,
            limit_s: ps as f64 / 1e12,
            limit_text: o.limit.into_inner(),
        }))
    };
    let slo = Slos {
        ttft: obj(r.ttft, "ttft")?,
        tpot: obj(r.tpot, "tpot")?,
    };
    if slo.ttft.is_none() && slo.tpot.is_none() {
        return Err(SweepError::new(path, Some(at), "[slo] sets no objective: give ttft or tpot, e.g. ttft = { percentile = \"p99\", limit = \"200 ms\" }"));
    }
    Ok(slo)
}

fn search(path: &Path, text: &str, raw: RawSearch) -> Result<Search, SweepError> {
    let mut s = Search::default();
    let bad = |v: &Spanned<f64>, m: &str| {
        SweepError::new(
            path,
            Some(line_of(text, v.span().start)),
            format!("{m} (got {})", v.get_ref()),
        )
    };
    let positive = |v: &Spanned<f64>| *v.get_ref() > 0.0 && v.get_ref().is_finite();
    if let Some(v) = &raw.min_rate {
        if !positive(v) {
            return Err(bad(
                v,
                "search.min_rate must be a positive rate (requests/s)",
            ));
        }
        s.min_rate = *v.get_ref();
    }
    if let Some(v) = &raw.max_rate {
        if !positive(v) || *v.get_ref() < s.min_rate {
            return Err(bad(v, "search.max_rate must be at least search.min_rate"));
        }
        s.max_rate = *v.get_ref();
    }
    if let Some(v) = &raw.tolerance {
        if !(*v.get_ref() >= 1e-4 && *v.get_ref() <= 0.5) {
            return Err(bad(
                v,
                "search.tolerance must be from 0.0001 to 0.5 (a fraction of the rate)",
            ));
        }
        s.tolerance = *v.get_ref();
    }
    if s.max_rate / s.min_rate > 1e9 {
        return Err(SweepError::new(
            path,
            None,
            "search: max_rate / min_rate is over 1e9: narrow the range",
        ));
    }
    Ok(s)
}

fn placements(
    path: &Path,
    text: &str,
    raw: Vec<Spanned<RawPlacement>>,
) -> Result<Vec<Placement>, SweepError> {
    let mut out: Vec<Placement> = Vec::new();
    for p in raw {
        let p = p.into_inner();
        let line = line_of(text, p.name.span().start);
        let name = p.name.into_inner();
        if name.trim().is_empty() || out.iter().any(|q| q.name == name) {
            return Err(SweepError::new(path, Some(line), format!("placement name {name:?} is empty or used twice: give each placement its own name")));
        }
        out.push(Placement {
            name,
            set: p.set,
            line,
        });
    }
    if out.is_empty() {
        out.push(Placement {
            name: "base".into(),
            set: toml::Table::new(),
            line: 1,
        });
    }
    Ok(out)
}

fn systems(
    path: &Path,
    text: &str,
    raw: Vec<Spanned<RawSystem>>,
    placements: &[Placement],
) -> Result<Vec<PlanSystem>, SweepError> {
    let mut out: Vec<PlanSystem> = Vec::new();
    for s in raw {
        let s = s.into_inner();
        let line = line_of(text, s.name.span().start);
        let at = |sp: std::ops::Range<usize>| Some(line_of(text, sp.start));
        let name = s.name.into_inner();
        if out.iter().any(|q| q.name == name) {
            return Err(SweepError::new(
                path,
                Some(line),
                format!(
                    "system {name:?} is listed twice: list each system once, with its placements"
                ),
            ));
        }
        let micro = memwall_models::units::parse_money_rate_micro_per_hour(s.price.get_ref())
            .map_err(|e| {
                SweepError::new(
                    path,
                    at(s.price.span()),
                    format!("price {:?}: {}", s.price.get_ref(), e.message),
                )
            })?;
        let per_gpu = match s.per.as_ref().map(|p| p.get_ref().as_str()) {
            None | Some("gpu") => true,
            Some("node") => false,
            Some(other) => {
                return Err(SweepError::new(
                    path,
                    s.per.as_ref().and_then(|p| at(p.span())),
                    format!(
                    "per = {other:?} is not known: write \"gpu\" (price per GPU-hour) or \"node\""
                ),
                ))
            }
        };
        let names = system_placements(path, text, s.placements, placements)?;
        out.push(PlanSystem {
            name,
            usd_per_hour: micro as f64 / 1e6,
            per_gpu,
            source: s.source,
            placements: names,
            line,
        });
    }
    Ok(out)
}

/// A system's `placements`, each defined (all placements when it lists none).
fn system_placements(
    path: &Path,
    text: &str,
    listed: Option<Vec<Spanned<String>>>,
    placements: &[Placement],
) -> Result<Vec<String>, SweepError> {
    let Some(v) = listed else {
        return Ok(placements.iter().map(|p| p.name.clone()).collect());
    };
    for n in &v {
        if !placements.iter().any(|p| &p.name == n.get_ref()) {
            let known: Vec<&str> = placements.iter().map(|p| p.name.as_str()).collect();
            return Err(SweepError::new(
                path,
                Some(line_of(text, n.span().start)),
                format!(
                    "placement {:?} is not defined; placements: {}",
                    n.get_ref(),
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(v.into_iter().map(|n| n.into_inner()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = "[plan]\nname = \"p\"\ntarget_rate = 10.0\n[base]\nsystem = \"x\"\n[stream]\nrequests = 50\nprompt_tokens = [10, 20]\noutput_tokens = [5, 6]\n[slo]\nttft = { percentile = \"p99\", limit = \"200 ms\" }\n[[placement]]\nname = \"tp1\"\n[placement.set.engine]\ntensor_parallel = 1\n[[system]]\nname = \"hgx-h200\"\nprice = \"$3/h\"\nsource = \"quote\"\n";

    fn parse(t: &str) -> Result<PlanSpec, SweepError> {
        PlanSpec::parse(Path::new("p.toml"), t)
    }

    #[test]
    fn a_plan_parses_with_its_defaults() {
        let p = parse(OK).unwrap();
        assert_eq!(p.systems[0].usd_per_hour, 3.0);
        assert!(p.systems[0].per_gpu);
        assert_eq!(p.systems[0].placements, ["tp1"]);
        assert_eq!(p.slo.ttft.as_ref().unwrap().limit_s, 0.2);
        assert_eq!(p.stream["kind"].as_str(), Some("poisson"));
        assert_eq!(p.search, Search::default());
        assert_eq!(p.target_rate, Some(10.0));
        // 0.25 to 1024 req/s is 12 doublings (13 probes); 2% is 6 halvings (7 probes).
        assert_eq!(p.search.max_probes(), 20);
    }

    #[test]
    fn unknown_fields_and_bad_values_name_their_line() {
        let e =
            parse(&OK.replace("source = \"quote\"", "source = \"quote\"\ncost = 1")).unwrap_err();
        assert_eq!(e.line, Some(20), "{e}");
        assert!(e.message.contains("cost"), "{e}");
        let e = parse(&OK.replace("\"p99\"", "\"p95\"")).unwrap_err();
        assert_eq!(e.line, Some(11), "{e}");
        let e = parse(&OK.replace("\"$3/h\"", "\"3 dollars\"")).unwrap_err();
        assert_eq!(e.line, Some(18), "{e}");
        let e = parse(&OK.replace(
            "source = \"quote\"",
            "source = \"q\"\nplacements = [\"tp9\"]",
        ))
        .unwrap_err();
        assert_eq!(e.line, Some(20), "{e}");
        assert!(
            e.message.contains("tp9") && e.message.contains("tp1"),
            "{e}"
        );
        let e = parse(&OK.replace("ttft = { percentile = \"p99\", limit = \"200 ms\" }", ""))
            .unwrap_err();
        assert_eq!(e.line, Some(10), "{e}");
    }
}
