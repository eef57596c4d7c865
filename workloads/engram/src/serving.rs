//! A serving-engine batcher that turns requests (compressed token streams) into Engram
//! access-trace steps: continuous batching with chunked prefill, decode first, like vLLM and
//! SGLang schedule. Each step writes one record per Engram layer with every token it hashed.
//!
//! Memory is bounded by the running requests (`max_running * (prompt + decode)` tokens),
//! never by the length of the trace.

use std::io::Write;

use super::error::{EngramError, Result};
use super::hash::{EngramHasher, NgramHistory};
use super::trace::{RowsRecordRef, TraceWriter};

/// How requests are cut and batched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServingSchedule {
    /// Prompt tokens per request (prefilled); the rest of a request is decoded.
    pub prompt_tokens: usize,
    /// Tokens decoded per request, one per step.
    pub decode_tokens: usize,
    /// Largest prefill chunk of one request in one step (chunked prefill).
    pub prefill_chunk: usize,
    /// Token budget of one step (decode tokens first, then prefill chunks).
    pub max_batch_tokens: usize,
    /// Requests in flight at once.
    pub max_running: usize,
}

impl Default for ServingSchedule {
    fn default() -> Self {
        ServingSchedule {
            prompt_tokens: 1024,
            decode_tokens: 128,
            prefill_chunk: 512,
            max_batch_tokens: 2048,
            max_running: 32,
        }
    }
}

impl ServingSchedule {
    /// Rejects schedules that could not make progress.
    pub fn validate(&self) -> Result<()> {
        if self.prompt_tokens + self.decode_tokens == 0
            || self.prefill_chunk == 0
            || self.max_batch_tokens == 0
            || self.max_running == 0
        {
            return Err(EngramError::InvalidArgument(format!(
                "serving schedule {self:?}: request length, prefill chunk, batch tokens and \
                 running requests must all be positive"
            )));
        }
        Ok(())
    }
}

/// Produces requests as compressed token ids, one at a time.
pub trait RequestSource {
    /// Fills `tokens` (cleared first) with the next request; `Ok(false)` when exhausted.
    fn next_request(&mut self, tokens: &mut Vec<u32>) -> Result<bool>;
}

/// What a batcher run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServingStats {
    /// Engine steps (each wrote one record per Engram layer).
    pub steps: u64,
    /// Requests served.
    pub requests: u64,
    /// Tokens hashed (each once, whatever the number of layers).
    pub tokens: u64,
}

struct Running {
    id: u32,
    tokens: Vec<u32>,
    prompt: usize,
    done: usize,
    history: NgramHistory,
}

/// Runs the batcher over `source` and writes one record per (step, layer) to `writer`.
pub fn run_serving<S: RequestSource, W: Write>(
    hasher: &EngramHasher,
    source: &mut S,
    schedule: &ServingSchedule,
    writer: &mut TraceWriter<W>,
) -> Result<ServingStats> {
    schedule.validate()?;
    let layers = hasher.layer_count();
    let mut running: Vec<Running> = Vec::new();
    let mut exhausted = false;
    let mut next_id = 0u32;
    let mut step = 0u64;
    let mut step_rows: Vec<Vec<u64>> = vec![Vec::new(); layers];
    let (mut seq, mut pos) = (Vec::new(), Vec::new());
    let mut chunk_rows = Vec::new();
    let mut plan: Vec<(usize, usize)> = Vec::new();
    let mut stats = ServingStats::default();
    loop {
        while !exhausted && running.len() < schedule.max_running {
            let mut tokens = Vec::new();
            if !source.next_request(&mut tokens)? {
                exhausted = true;
            } else if !tokens.is_empty() {
                let prompt = tokens.len().min(schedule.prompt_tokens.max(1));
                running.push(Running {
                    id: next_id,
                    tokens,
                    prompt,
                    done: 0,
                    history: NgramHistory::start(hasher),
                });
                next_id = next_id.wrapping_add(1);
            }
        }
        if running.is_empty() {
            break;
        }
        // Plan the step: decode tokens first, then prefill chunks within the budget.
        plan.clear();
        let mut budget = schedule.max_batch_tokens;
        for (i, r) in running.iter().enumerate() {
            if r.done >= r.prompt && budget > 0 {
                plan.push((i, 1));
                budget -= 1;
            }
        }
        for (i, r) in running.iter().enumerate() {
            if r.done < r.prompt && budget > 0 {
                let n = schedule.prefill_chunk.min(r.prompt - r.done).min(budget);
                plan.push((i, n));
                budget -= n;
            }
        }
        for rows in step_rows.iter_mut() {
            rows.clear();
        }
        seq.clear();
        pos.clear();
        for &(i, n) in &plan {
            let r = &mut running[i];
            let chunk = &r.tokens[r.done..r.done + n];
            hasher.hash_chunk(&mut r.history, chunk, &mut chunk_rows)?;
            let per = chunk_rows.len() / layers;
            for (l, rows) in step_rows.iter_mut().enumerate() {
                rows.extend_from_slice(&chunk_rows[l * per..(l + 1) * per]);
            }
            seq.extend(std::iter::repeat_n(r.id, n));
            pos.extend((r.done..r.done + n).map(|p| p as u32));
            r.done += n;
        }
        for (l, rows) in step_rows.iter().enumerate() {
            writer.write_rows(&RowsRecordRef {
                step,
                layer_id: hasher.layer_ids()[l],
                rows,
                token_meta: Some((&seq, &pos)),
                time_ns: None,
            })?;
        }
        stats.tokens += seq.len() as u64;
        running.retain(|r| r.done < r.tokens.len());
        step += 1;
    }
    stats.steps = step;
    stats.requests = u64::from(next_id);
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EngramLayout;
    use crate::trace::{RowsRecord, TraceHeader, TraceReader};

    struct Fixed(Vec<Vec<u32>>);
    impl RequestSource for Fixed {
        fn next_request(&mut self, t: &mut Vec<u32>) -> Result<bool> {
            t.clear();
            match self.0.pop() {
                Some(r) => {
                    t.extend(r);
                    Ok(true)
                }
                None => Ok(false),
            }
        }
    }

    /// Batched, chunked hashing gives each request exactly its one-shot rows.
    #[test]
    fn batched_rows_equal_one_shot() {
        let layout = EngramLayout::builtin("demo").unwrap();
        let h = EngramHasher::new(&layout);
        let reqs: Vec<Vec<u32>> = (0..5u32)
            .map(|r| {
                (0..(20 + r * 7))
                    .map(|i| (i * 13 + r * 101) % 98_627)
                    .collect()
            })
            .collect();
        let sched = ServingSchedule {
            prompt_tokens: 16,
            decode_tokens: 100,
            prefill_chunk: 5,
            max_batch_tokens: 12,
            max_running: 3,
        };
        let header = TraceHeader::for_layout(&layout, serde_json::Value::Null);
        let mut w = TraceWriter::new(Vec::new(), header).unwrap();
        let mut src = Fixed(reqs.iter().rev().cloned().collect());
        let s = run_serving(&h, &mut src, &sched, &mut w).unwrap();
        assert_eq!(s.tokens as usize, reqs.iter().map(Vec::len).sum::<usize>());
        let (_, bytes) = w.finish().unwrap();
        let mut r = TraceReader::new(std::io::Cursor::new(bytes)).unwrap();
        let c = h.columns();
        let mut per_req: Vec<Vec<u64>> = vec![Vec::new(); reqs.len()];
        let mut rec = RowsRecord::default();
        while r.next_record(&mut rec).unwrap() {
            assert!(rec.n_tokens as usize <= sched.max_batch_tokens);
            if rec.layer_id == 15 {
                for t in 0..rec.n_tokens as usize {
                    assert_eq!(per_req[rec.seq[t] as usize].len() / c, rec.pos[t] as usize);
                    per_req[rec.seq[t] as usize].extend_from_slice(&rec.rows[t * c..(t + 1) * c]);
                }
            }
        }
        for (i, req) in reqs.iter().enumerate() {
            let whole = h.hash_sequence(req).unwrap();
            assert_eq!(per_req[i], whole[req.len() * c..], "request {i}");
        }
    }
}
