//! Requests: arrival time, prompt tokens, output tokens. From the Azure LLM inference
//! trace CSV layout (`TIMESTAMP,ContextTokens,GeneratedTokens`) or synthetic (seeded).

use memwall_sim::{Ps, PS_PER_SEC};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::error::ScenarioError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub arrival: Ps,
    pub prompt: u32,
    pub output: u32,
}

/// `n` requests at time zero, lengths uniform in the inclusive ranges, seeded.
pub fn synthetic(seed: u64, n: u64, prompt: [u32; 2], output: [u32; 2]) -> Vec<Request> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5e9_7ea1);
    (0..n)
        .map(|_| Request {
            arrival: Ps::ZERO,
            prompt: rng.gen_range(prompt[0]..=prompt[1]),
            output: rng.gen_range(output[0]..=output[1]),
        })
        .collect()
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

/// Parses the Azure trace layout; arrivals are relative to the first request.
pub fn azure_csv(
    origin: &str,
    text: &str,
    max: Option<u64>,
) -> Result<Vec<Request>, ScenarioError> {
    let mut lines = text.lines().enumerate();
    let header = lines
        .next()
        .map(|(_, l)| l.trim().trim_start_matches('\u{feff}'))
        .unwrap_or("");
    let cols: Vec<&str> = header.split(',').map(str::trim).collect();
    let idx = |name: &str| cols.iter().position(|c| c.eq_ignore_ascii_case(name));
    let (Some(ti), Some(ci), Some(gi)) = (
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
            hint:
                "the Azure LLM inference trace layout is `TIMESTAMP,ContextTokens,GeneratedTokens`"
                    .into(),
        });
    };
    let mut out = Vec::new();
    let mut t0: Option<u128> = None;
    for (i, line) in lines {
        if max.is_some_and(|m| out.len() as u64 >= m) {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let bad = |what: &str| ScenarioError::Csv {
            origin: origin.to_string(),
            line: Some(i + 1),
            message: format!("{what} in {line:?}"),
            hint: "rows are `2023-11-16 18:15:46.6805900,374,44`".into(),
        };
        let get = |k: usize| {
            f.get(k)
                .map(|s| s.trim())
                .ok_or_else(|| bad("missing column"))
        };
        let ts = parse_timestamp(get(ti)?).ok_or_else(|| bad("bad TIMESTAMP"))?;
        let prompt: u32 = get(ci)?.parse().map_err(|_| bad("bad ContextTokens"))?;
        let output: u32 = get(gi)?.parse().map_err(|_| bad("bad GeneratedTokens"))?;
        let base = *t0.get_or_insert(ts);
        if ts < base {
            return Err(bad(
                "TIMESTAMP earlier than the first request (rows must be sorted)",
            ));
        }
        let rel = ts - base;
        if rel > u64::MAX as u128 {
            return Err(bad("TIMESTAMP too far from the first request"));
        }
        out.push(Request {
            arrival: Ps(rel as u64),
            prompt: prompt.max(1),
            output: output.max(1),
        });
    }
    if out.is_empty() {
        return Err(ScenarioError::Csv {
            origin: origin.to_string(),
            line: None,
            message: "no requests in the CSV".into(),
            hint:
                "the Azure LLM inference trace layout is `TIMESTAMP,ContextTokens,GeneratedTokens`"
                    .into(),
        });
    }
    Ok(out)
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
    fn synthetic_is_seeded() {
        let a = synthetic(1, 100, [100, 1024], [100, 1024]);
        assert_eq!(a, synthetic(1, 100, [100, 1024], [100, 1024]));
        assert_ne!(a, synthetic(2, 100, [100, 1024], [100, 1024]));
        assert!(a.iter().all(|r| (100..=1024).contains(&r.prompt)));
    }
}
