//! Clients: when requests arrive and how long they are. Requests come from a file read
//! line by line (the Azure LLM inference trace CSV, `TIMESTAMP,ContextTokens,
//! GeneratedTokens`, or a JSONL file of `input_toks`, `output_toks`, `arrival_time` as
//! vLLM's benchmark records them), all at time zero (synthetic), as a seeded Poisson
//! process, or from a closed loop of clients at a fixed concurrency that issue a new
//! request when one finishes. [`Clients`] hands them to the step loop as they fall due,
//! so memory stays flat in the number of requests of a file or a generated workload.

use std::collections::VecDeque;
use std::io::BufRead;
use std::path::PathBuf;

use memwall_sim::{Ps, PS_PER_SEC};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::ScenarioError;
use super::scenario::{LengthSpec, Scenario, WorkloadSpec};
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub arrival: Ps,
    pub prompt: u32,
    pub output: u32,
}

/// `n` requests at time zero, lengths uniform in the inclusive ranges, seeded.
pub fn synthetic(seed: u64, n: u64, prompt: [u32; 2], output: [u32; 2]) -> Vec<Request> {
    let mut u = Uniform::new(seed, prompt, output);
    (0..n)
        .map(|_| {
            let (prompt, output) = u.next();
            Request {
                arrival: Ps::ZERO,
                prompt,
                output,
            }
        })
        .collect()
}

/// Prompt and output lengths uniform in inclusive ranges, seeded.
struct Uniform {
    rng: ChaCha8Rng,
    prompt: [u32; 2],
    output: [u32; 2],
}

impl Uniform {
    fn new(seed: u64, prompt: [u32; 2], output: [u32; 2]) -> Uniform {
        Uniform {
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x5e9_7ea1),
            prompt,
            output,
        }
    }
    fn next(&mut self) -> (u32, u32) {
        let p = self.rng.gen_range(self.prompt[0]..=self.prompt[1]);
        (p, self.rng.gen_range(self.output[0]..=self.output[1]))
    }
}

/// Days from 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2023-11-16 18:15:46.6805900` -> picoseconds since the epoch.
fn parse_timestamp(s: &str) -> Option<u128> {
    let s = s.trim();
    let (date, time) = s.split_once([' ', 'T'])?;
    let mut d = date.split('-');
    let (y, m, dd): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let mut t = time.split(':');
    let (h, mi): (u64, u64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let sec = t.next()?;
    let (whole, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let whole: u64 = whole.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&dd) || h > 23 || mi > 59 || whole > 60 {
        return None;
    }
    let frac = frac.trim_end_matches('Z');
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut frac_ps: u128 = 0;
    for (i, c) in frac.chars().take(12).enumerate() {
        frac_ps += (c as u128 - '0' as u128) * 10u128.pow(11 - i as u32);
    }
    let days = days_from_civil(y, m, dd);
    if days < 0 {
        return None;
    }
    let secs = days as u128 * 86_400 + (h * 3600 + mi * 60 + whole) as u128;
    Some(secs * PS_PER_SEC as u128 + frac_ps)
}

const AZURE_HINT: &str =
    "the Azure LLM inference trace layout is `TIMESTAMP,ContextTokens,GeneratedTokens`";
const JSONL_HINT: &str = "one JSON object a line: {\"input_toks\": 2358, \"output_toks\": 531, \
     \"arrival_time\": 1787267980.08} (arrival_time in seconds)";

/// A request file's layout.
#[derive(Debug, Clone, Copy)]
enum Format {
    /// Column indices of TIMESTAMP, ContextTokens, GeneratedTokens.
    Azure([usize; 3]),
    /// `arrival`: whether `arrival_time` is read (else only the lengths).
    Jsonl { arrival: bool },
}

/// A request file read one line at a time; arrivals relative to the first request's.
pub struct RequestFile {
    origin: String,
    path: Option<PathBuf>,
    lines: Box<dyn BufRead>,
    format: Format,
    /// 1-based number of the last line read.
    line: usize,
    buf: String,
    t0_ps: Option<u128>,
    t0_s: Option<f64>,
    prev: Ps,
}

impl RequestFile {
    /// An Azure trace CSV (its header read now); `origin` names it in errors.
    pub fn azure(origin: &str, r: Box<dyn BufRead>) -> Result<RequestFile, ScenarioError> {
        let mut f = RequestFile::new(origin, r, Format::Jsonl { arrival: false });
        f.read_line()?;
        let header = f.buf.trim().trim_start_matches('\u{feff}').to_string();
        let cols: Vec<&str> = header.split(',').map(str::trim).collect();
        let idx = |name: &str| cols.iter().position(|c| c.eq_ignore_ascii_case(name));
        let (Some(t), Some(c), Some(g)) = (
            idx("TIMESTAMP"),
            idx("ContextTokens"),
            idx("GeneratedTokens"),
        ) else {
            return Err(ScenarioError::Csv {
                origin: origin.to_string(),
                line: Some(1),
                message: format!(
                    "header {header:?} lacks TIMESTAMP, ContextTokens and GeneratedTokens"
                ),
                hint: AZURE_HINT.into(),
            });
        };
        f.format = Format::Azure([t, c, g]);
        Ok(f)
    }

    /// A JSONL request file; `arrival`: read `arrival_time` too (else only lengths).
    pub fn jsonl(origin: &str, r: Box<dyn BufRead>, arrival: bool) -> RequestFile {
        RequestFile::new(origin, r, Format::Jsonl { arrival })
    }

    fn new(origin: &str, lines: Box<dyn BufRead>, format: Format) -> RequestFile {
        RequestFile {
            origin: origin.to_string(),
            path: None,
            lines,
            format,
            line: 0,
            buf: String::new(),
            t0_ps: None,
            t0_s: None,
            prev: Ps::ZERO,
        }
    }

    /// Opens `path`: Azure CSV or JSONL by `jsonl`.
    fn open(path: PathBuf, jsonl: Option<bool>) -> Result<RequestFile, ScenarioError> {
        let origin = path.display().to_string();
        let file = std::fs::File::open(&path).map_err(|e| ScenarioError::Csv {
            origin: origin.clone(),
            line: None,
            message: format!("cannot read the request file: {e}"),
            hint: "paths in [workload] are relative to the scenario file".into(),
        })?;
        let r: Box<dyn BufRead> = Box::new(std::io::BufReader::new(file));
        let mut f = match jsonl {
            Some(arrival) => RequestFile::jsonl(&origin, r, arrival),
            None => RequestFile::azure(&origin, r)?,
        };
        f.path = Some(path);
        Ok(f)
    }

    /// Reads the next line into `buf`; false at the end.
    fn read_line(&mut self) -> Result<bool, ScenarioError> {
        self.buf.clear();
        let n = self
            .lines
            .read_line(&mut self.buf)
            .map_err(|e| ScenarioError::Csv {
                origin: self.origin.clone(),
                line: Some(self.line + 1),
                message: format!("cannot read: {e}"),
                hint: "request files are UTF-8 text".into(),
            })?;
        self.line += 1;
        Ok(n > 0)
    }

    fn bad(&self, message: String, hint: &str) -> ScenarioError {
        ScenarioError::Csv {
            origin: self.origin.clone(),
            line: Some(self.line),
            message,
            hint: hint.to_string(),
        }
    }

    /// The next request, or `None` at the end of the file.
    pub fn next_request(&mut self) -> Result<Option<Request>, ScenarioError> {
        loop {
            if !self.read_line()? {
                return Ok(None);
            }
            if self.buf.trim().is_empty() {
                continue;
            }
            return match self.format {
                Format::Azure(cols) => self.azure_row(cols).map(Some),
                Format::Jsonl { arrival } => self.jsonl_row(arrival).map(Some),
            };
        }
    }

    fn azure_row(&mut self, [ti, ci, gi]: [usize; 3]) -> Result<Request, ScenarioError> {
        let line = self.buf.trim_end().to_string();
        let f: Vec<&str> = line.split(',').collect();
        let hint = "rows are `2023-11-16 18:15:46.6805900,374,44`";
        let (origin, at) = (self.origin.clone(), self.line);
        let bad = |what: &str| ScenarioError::Csv {
            origin: origin.clone(),
            line: Some(at),
            message: format!("{what} in {line:?}"),
            hint: hint.to_string(),
        };
        let get = |k: usize| {
            f.get(k)
                .map(|s| s.trim())
                .ok_or_else(|| bad("missing column"))
        };
        let ts = parse_timestamp(get(ti)?).ok_or_else(|| bad("bad TIMESTAMP"))?;
        let prompt: u32 = get(ci)?.parse().map_err(|_| bad("bad ContextTokens"))?;
        let output: u32 = get(gi)?.parse().map_err(|_| bad("bad GeneratedTokens"))?;
        let base = *self.t0_ps.get_or_insert(ts);
        if ts < base {
            return Err(bad(
                "TIMESTAMP earlier than the first request (rows must be sorted)",
            ));
        }
        let rel = u64::try_from(ts - base)
            .map_err(|_| bad("TIMESTAMP too far from the first request"))?;
        Ok(Request {
            arrival: Ps(rel),
            prompt: prompt.max(1),
            output: output.max(1),
        })
    }

    fn jsonl_row(&mut self, arrival: bool) -> Result<Request, ScenarioError> {
        let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&self.buf)
            .map_err(|e| self.bad(format!("not a JSON object: {e}"), JSONL_HINT))?;
        let prompt = self.length(&obj, "input_toks")?;
        let output = self.length(&obj, "output_toks")?;
        let at = if arrival {
            self.arrival(&obj)?
        } else {
            Ps::ZERO
        };
        Ok(Request {
            arrival: at,
            prompt,
            output,
        })
    }

    /// A field of the line's object, or an error naming it.
    fn field<'v>(
        &self,
        obj: &'v serde_json::Map<String, serde_json::Value>,
        key: &str,
    ) -> Result<&'v serde_json::Value, ScenarioError> {
        obj.get(key)
            .ok_or_else(|| self.bad(format!("field `{key}` is missing"), JSONL_HINT))
    }

    /// A token count: a whole number from 1 to 2^20.
    fn length(
        &self,
        obj: &serde_json::Map<String, serde_json::Value>,
        key: &str,
    ) -> Result<u32, ScenarioError> {
        let v = self.field(obj, key)?;
        let hint = "token counts are whole numbers from 1 to 1048576";
        let n = v
            .as_i64()
            .ok_or_else(|| self.bad(format!("field `{key}` = {v}: not a whole number"), hint))?;
        if n < 0 {
            return Err(self.bad(
                format!("field `{key}` = {n}: a length cannot be negative"),
                hint,
            ));
        }
        if n == 0 || n as u64 > crate::limits::TOKENS {
            return Err(self.bad(format!("field `{key}` = {n}: out of range"), hint));
        }
        Ok(n as u32)
    }

    /// `arrival_time` in seconds, relative to the first line's; rows in arrival order.
    fn arrival(
        &mut self,
        obj: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Ps, ScenarioError> {
        let v = self.field(obj, "arrival_time")?;
        let hint = "arrival_time is in seconds (any origin), rows sorted by it";
        let t = v
            .as_f64()
            .filter(|t| t.is_finite())
            .ok_or_else(|| self.bad(format!("field `arrival_time` = {v}: not a number"), hint))?;
        let rel = t - *self.t0_s.get_or_insert(t);
        let ps = rel * PS_PER_SEC as f64;
        if !(0.0..1e19).contains(&ps) {
            return Err(self.bad(
                format!(
                    "field `arrival_time` = {t}: earlier than the first request or too far from it"
                ),
                hint,
            ));
        }
        let at = Ps(ps.round() as u64);
        if at < self.prev {
            return Err(self.bad(
                format!("field `arrival_time` = {t}: earlier than the line before (rows must be sorted)"),
                hint,
            ));
        }
        self.prev = at;
        Ok(at)
    }

    /// Back to the first request (a lengths file is cycled).
    fn rewind(&mut self) -> Result<(), ScenarioError> {
        let Some(p) = self.path.clone() else {
            return Ok(());
        };
        let arrival = matches!(self.format, Format::Jsonl { arrival: true });
        let jsonl = matches!(self.format, Format::Jsonl { .. }).then_some(arrival);
        *self = RequestFile::open(p, jsonl)?;
        Ok(())
    }
}

/// Parses the Azure trace layout from text; arrivals are relative to the first request.
pub fn azure_csv(
    origin: &str,
    text: &str,
    max: Option<u64>,
) -> Result<Vec<Request>, ScenarioError> {
    let r: Box<dyn BufRead> = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
    let f = RequestFile::azure(origin, r)?;
    collect(f, max, AZURE_HINT)
}

/// Parses JSONL requests from text; arrivals are relative to the first request.
pub fn jsonl(origin: &str, text: &str, max: Option<u64>) -> Result<Vec<Request>, ScenarioError> {
    let r: Box<dyn BufRead> = Box::new(std::io::Cursor::new(text.as_bytes().to_vec()));
    collect(RequestFile::jsonl(origin, r, true), max, JSONL_HINT)
}

fn collect(
    mut f: RequestFile,
    max: Option<u64>,
    hint: &str,
) -> Result<Vec<Request>, ScenarioError> {
    let mut out = Vec::new();
    while max.is_none_or(|m| (out.len() as u64) < m) {
        match f.next_request()? {
            Some(r) => out.push(r),
            None => break,
        }
    }
    if out.is_empty() {
        return Err(no_requests(&f.origin, hint));
    }
    Ok(out)
}

fn no_requests(origin: &str, hint: &str) -> ScenarioError {
    ScenarioError::Csv {
        origin: origin.to_string(),
        line: None,
        message: "no requests in the file".into(),
        hint: hint.to_string(),
    }
}

/// The request files a scenario reads (its request file or lengths file).
pub fn input_files(s: &Scenario) -> Vec<PathBuf> {
    let file = match &s.workload {
        WorkloadSpec::Azure { csv, .. } => Some(csv.as_str()),
        WorkloadSpec::Jsonl { file, .. } => Some(file.as_str()),
        WorkloadSpec::EngramTrace { trace, .. } => Some(trace.as_str()),
        _ => match s.workload.lengths() {
            Some(LengthSpec::File(f)) => Some(f),
            _ => None,
        },
    };
    file.map(|f| crate::run::resolve(s, f))
        .into_iter()
        .collect()
}

/// Where generated requests take their lengths from.
enum Lengths {
    Uniform(Uniform),
    File(RequestFile),
}

impl Lengths {
    fn next(&mut self) -> Result<(u32, u32), ScenarioError> {
        match self {
            Lengths::Uniform(u) => Ok(u.next()),
            Lengths::File(f) => {
                let r = match f.next_request()? {
                    Some(r) => r,
                    None => {
                        f.rewind()?;
                        let o = f.origin.clone();
                        f.next_request()?
                            .ok_or_else(|| no_requests(&o, JSONL_HINT))?
                    }
                };
                Ok((r.prompt, r.output))
            }
        }
    }
}

/// How requests are issued (one per run: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Source {
    File(Box<RequestFile>),
    Synthetic(Uniform),
    Poisson {
        lengths: Lengths,
        rng: ChaCha8Rng,
        rate: f64,
        /// The next arrival, seconds.
        next_s: f64,
    },
    ClosedLoop {
        lengths: Lengths,
        /// When clients issue their next request, earliest first.
        due: VecDeque<Ps>,
        think: Ps,
    },
}

/// The requests of a scenario, issued as they fall due; ids in issue order.
pub struct Clients {
    source: Source,
    /// The next request, read ahead to know its arrival.
    ahead: Option<Request>,
    issued: u64,
    /// Requests to issue at most.
    limit: u64,
}

impl Clients {
    /// The scenario's clients, files opened (paths relative to the scenario's folder).
    pub fn open(s: &Scenario) -> Result<Clients, ScenarioError> {
        let seed_lengths = |l: LengthSpec| -> Result<Lengths, ScenarioError> {
            Ok(match l {
                LengthSpec::Uniform { prompt, output } => {
                    Lengths::Uniform(Uniform::new(s.seed, prompt, output))
                }
                LengthSpec::File(f) => {
                    Lengths::File(RequestFile::open(crate::run::resolve(s, f), Some(false))?)
                }
            })
        };
        let lengths = || {
            s.workload
                .lengths()
                .map(seed_lengths)
                .unwrap_or_else(|| Err(crate::error::invalid(&s.origin, "no lengths".into())))
        };
        let (source, limit) = match &s.workload {
            WorkloadSpec::Synthetic {
                requests,
                prompt_tokens,
                output_tokens,
            } => (
                Source::Synthetic(Uniform::new(s.seed, *prompt_tokens, *output_tokens)),
                *requests,
            ),
            WorkloadSpec::Azure { csv, max_requests } => (
                Source::File(Box::new(RequestFile::open(
                    crate::run::resolve(s, csv),
                    None,
                )?)),
                max_requests.unwrap_or(u64::MAX),
            ),
            WorkloadSpec::Jsonl { file, max_requests } => (
                Source::File(Box::new(RequestFile::open(
                    crate::run::resolve(s, file),
                    Some(true),
                )?)),
                max_requests.unwrap_or(u64::MAX),
            ),
            WorkloadSpec::Poisson { rate, requests, .. } => (
                Source::Poisson {
                    lengths: lengths()?,
                    rng: ChaCha8Rng::seed_from_u64(s.seed ^ 0xa221_7a15),
                    rate: *rate,
                    next_s: 0.0,
                },
                *requests,
            ),
            WorkloadSpec::ClosedLoop {
                concurrency,
                requests,
                think_time,
                ..
            } => {
                let think = match think_time {
                    Some(t) => Ps(s.time_field("workload.think_time", t)?),
                    None => Ps::ZERO,
                };
                let due = (0..(*concurrency).min(*requests))
                    .map(|_| Ps::ZERO)
                    .collect();
                let lengths = lengths()?;
                (
                    Source::ClosedLoop {
                        lengths,
                        due,
                        think,
                    },
                    *requests,
                )
            }
            // A trace replay issues no requests: its steps come from the trace (crate::mwet).
            WorkloadSpec::EngramTrace { .. } => {
                (Source::Synthetic(Uniform::new(s.seed, [1, 1], [1, 1])), 0)
            }
        };
        Ok(Clients {
            source,
            ahead: None,
            issued: 0,
            limit,
        })
    }

    /// Clients that issue nothing: a disaggregated deployment's decode pool, whose
    /// requests come from the prefill pool when their KV lands.
    pub(crate) fn none(seed: u64) -> Clients {
        Clients {
            source: Source::Synthetic(Uniform::new(seed, [1, 1], [1, 1])),
            ahead: None,
            issued: 0,
            limit: 0,
        }
    }

    /// How many requests the scenario issues, where known without reading a file
    /// (a file without `max_requests` is read as it goes).
    pub fn planned(&self) -> Option<u64> {
        (self.limit < u64::MAX).then_some(self.limit)
    }

    /// How many requests the scenario issues, reading its files once through (which
    /// checks every line before anything is simulated).
    pub fn count(s: &Scenario) -> Result<u64, ScenarioError> {
        let mut c = Clients::open(s)?;
        match &mut c.source {
            Source::File(f) => {
                let mut n = 0;
                while n < c.limit && f.next_request()?.is_some() {
                    n += 1;
                }
                if n == 0 {
                    return Err(no_requests(
                        &f.origin,
                        "see scenarios/README.md, [workload]",
                    ));
                }
                Ok(n)
            }
            Source::Poisson { lengths, .. } | Source::ClosedLoop { lengths, .. } => {
                if let Lengths::File(f) = lengths {
                    while f.next_request()?.is_some() {}
                    f.rewind()?;
                    f.next_request()?
                        .ok_or_else(|| no_requests(&f.origin, JSONL_HINT))?;
                }
                Ok(c.limit)
            }
            Source::Synthetic(_) => Ok(c.limit),
        }
    }

    /// The next request from the source, if one is known now.
    fn pull(&mut self) -> Result<Option<Request>, ScenarioError> {
        if self.issued >= self.limit {
            return Ok(None);
        }
        match &mut self.source {
            Source::File(f) => f.next_request(),
            Source::Synthetic(u) => {
                let (prompt, output) = u.next();
                Ok(Some(Request {
                    arrival: Ps::ZERO,
                    prompt,
                    output,
                }))
            }
            Source::Poisson {
                lengths,
                rng,
                rate,
                next_s,
            } => {
                let arrival = Ps((*next_s * PS_PER_SEC as f64).round() as u64);
                let u: f64 = rng.gen();
                *next_s += -(1.0 - u).ln() / *rate;
                let (prompt, output) = lengths.next()?;
                Ok(Some(Request {
                    arrival,
                    prompt,
                    output,
                }))
            }
            Source::ClosedLoop { lengths, due, .. } => match due.pop_front() {
                Some(arrival) => {
                    let (prompt, output) = lengths.next()?;
                    Ok(Some(Request {
                        arrival,
                        prompt,
                        output,
                    }))
                }
                None => Ok(None),
            },
        }
    }

    /// When the next request arrives, if one is known now.
    pub fn next_arrival(&mut self) -> Result<Option<Ps>, ScenarioError> {
        if self.ahead.is_none() {
            self.ahead = self.pull()?;
        }
        Ok(self.ahead.map(|r| r.arrival))
    }

    /// The next request (with its id) if it has arrived by `now`.
    pub fn pop_due(&mut self, now: Ps) -> Result<Option<(u64, Request)>, ScenarioError> {
        match self.next_arrival()? {
            Some(t) if t <= now => {
                let r = self.ahead.take().expect("read ahead");
                self.issued += 1;
                Ok(Some((self.issued - 1, r)))
            }
            _ => Ok(None),
        }
    }

    /// A request finished at `at`: a closed-loop client issues its next one.
    pub fn finished(&mut self, at: Ps) {
        if let Source::ClosedLoop { due, think, .. } = &mut self.source {
            let pending = due.len() as u64 + u64::from(self.ahead.is_some());
            if self.issued + pending < self.limit {
                due.push_back(at + *think);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_azure_rows() {
        let csv = "TIMESTAMP,ContextTokens,GeneratedTokens\n\
                   2023-11-16 18:15:46.6805900,374,44\n\
                   2023-11-16 18:15:50.9951690,396,109\n";
        let r = azure_csv("t", csv, None).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].arrival, Ps::ZERO);
        assert_eq!(r[1].arrival, Ps(4_314_579_000_000));
        assert_eq!((r[1].prompt, r[1].output), (396, 109));
        let e = azure_csv("t.csv", "a,b\n1,2\n", None).unwrap_err();
        assert!(e.to_string().contains("t.csv:1"), "{e}");
        let e = azure_csv(
            "t.csv",
            "TIMESTAMP,ContextTokens,GeneratedTokens\nx,1,2\n",
            None,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("t.csv:2") && e.to_string().contains("TIMESTAMP"),
            "{e}"
        );
    }

    #[test]
    fn jsonl_lines_name_their_line_and_field() {
        let ok = "{\"input_toks\": 10, \"output_toks\": 3, \"arrival_time\": 100.5, \"x\": 1}\n\n\
                  {\"input_toks\": 20, \"output_toks\": 1, \"arrival_time\": 101.75}\n";
        let r = jsonl("r.jsonl", ok, None).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].arrival, Ps(1_250_000_000_000));
        assert_eq!((r[1].prompt, r[1].output), (20, 1));
        assert_eq!(jsonl("r.jsonl", ok, Some(1)).unwrap().len(), 1);
        for (text, want) in [
            (
                "{\"input_toks\": -5, \"output_toks\": 3, \"arrival_time\": 1}",
                "r.jsonl:1: field `input_toks` = -5: a length cannot be negative",
            ),
            (
                "{\"input_toks\": 5, \"arrival_time\": 1}",
                "r.jsonl:1: field `output_toks` is missing",
            ),
            (
                "{\"input_toks\": 5, \"output_toks\": 2}",
                "field `arrival_time` is missing",
            ),
            (
                "{\"input_toks\": 5.5, \"output_toks\": 2, \"arrival_time\": 1}",
                "`input_toks` = 5.5: not a whole number",
            ),
            (
                "{\"input_toks\": 0, \"output_toks\": 2, \"arrival_time\": 1}",
                "`input_toks` = 0: out of range",
            ),
            ("[1, 2]", "r.jsonl:1: not a JSON object"),
            (
                "{\"input_toks\": 5, \"output_toks\": 2, \"arrival_time\": \"x\"}",
                "`arrival_time` = \"x\": not a number",
            ),
            ("", "r.jsonl: no requests in the file"),
        ] {
            let e = jsonl("r.jsonl", text, None).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let unsorted = "{\"input_toks\": 1, \"output_toks\": 1, \"arrival_time\": 5}\n\
                        {\"input_toks\": 1, \"output_toks\": 1, \"arrival_time\": 4}\n";
        let e = jsonl("r.jsonl", unsorted, None).unwrap_err().to_string();
        assert!(e.contains("r.jsonl:2") && e.contains("earlier"), "{e}");
    }

    fn scenario(workload: &str) -> Scenario {
        let text = format!(
            "system = \"hgx-h200\"\nmodel = \"qwen3-4b-dense\"\nseed = 3\n[workload]\n{workload}"
        );
        Scenario::from_toml_str("t.toml", &text).unwrap()
    }

    #[test]
    fn poisson_arrivals_are_seeded_at_the_rate() {
        let s = scenario(
            "kind = \"poisson\"\nrate = 50.0\nrequests = 2000\n\
             prompt_tokens = [10, 20]\noutput_tokens = [5, 6]\n",
        );
        let draw = |s: &Scenario| {
            let mut c = Clients::open(s).unwrap();
            let mut v = Vec::new();
            while let Some((id, r)) = c.pop_due(Ps(u64::MAX)).unwrap() {
                assert_eq!(id, v.len() as u64);
                v.push(r);
            }
            v
        };
        let a = draw(&s);
        assert_eq!(a.len(), 2000);
        assert_eq!(a, draw(&s));
        assert_eq!(a[0].arrival, Ps::ZERO);
        assert!(a.windows(2).all(|w| w[0].arrival <= w[1].arrival));
        // Mean gap 1/rate = 20 ms, within 3 standard errors (20 ms / sqrt(2000)).
        let mean = a[1999].arrival.as_secs_f64() / 1999.0;
        assert!(
            (mean - 0.020).abs() < 3.0 * 0.020 / 2000f64.sqrt(),
            "{mean}"
        );
        assert!(a
            .iter()
            .all(|r| (10..=20).contains(&r.prompt) && (5..=6).contains(&r.output)));
        let mut other = s.clone();
        other.seed = 4;
        assert_ne!(a, draw(&other));
    }

    #[test]
    fn a_closed_loop_issues_when_a_request_finishes() {
        let s = scenario(
            "kind = \"closed-loop\"\nconcurrency = 2\nrequests = 4\nthink_time = \"5 ms\"\n\
             prompt_tokens = [10, 20]\noutput_tokens = [5, 6]\n",
        );
        let mut c = Clients::open(&s).unwrap();
        assert_eq!(Clients::count(&s).unwrap(), 4);
        let ids: Vec<u64> =
            std::iter::from_fn(|| c.pop_due(Ps::ZERO).unwrap().map(|r| r.0)).collect();
        assert_eq!(ids, [0, 1]);
        assert_eq!(c.next_arrival().unwrap(), None);
        let ms = |x: u64| Ps(x * 1_000_000_000);
        c.finished(ms(10));
        assert_eq!(c.next_arrival().unwrap(), Some(ms(15)));
        assert!(c.pop_due(ms(14)).unwrap().is_none());
        assert_eq!(c.pop_due(ms(15)).unwrap().map(|r| r.0), Some(2));
        c.finished(ms(20));
        c.finished(ms(30));
        c.finished(ms(40));
        // Four requests in all: the last finishes issue nothing more.
        assert_eq!(
            c.pop_due(ms(100)).unwrap().map(|r| (r.0, r.1.arrival)),
            Some((3, ms(25)))
        );
        assert_eq!(c.next_arrival().unwrap(), None);
    }

    #[test]
    fn synthetic_is_seeded() {
        let a = synthetic(1, 100, [100, 1024], [100, 1024]);
        assert_eq!(a, synthetic(1, 100, [100, 1024], [100, 1024]));
        assert_ne!(a, synthetic(2, 100, [100, 1024], [100, 1024]));
        assert!(a.iter().all(|r| (100..=1024).contains(&r.prompt)));
    }
}
