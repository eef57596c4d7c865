//! Queue servers: a device with a queue depth and an operations-per-second ceiling,
//! such as an NVMe drive.
//!
//! A request is issued when a slot among `depth` is free and at least `spacing` has
//! passed since the previous issue (the IOPS ceiling, or the bandwidth ceiling for large
//! requests, whichever is slower). It completes `latency + bytes / bandwidth` after it
//! was issued. So queue depth 1 gives `1 / (latency + transfer)` requests per second, and
//! deep queues approach `min(IOPS, bandwidth / bytes, depth / latency)`.

use crate::time::{Ps, TimeOverflow, PS_PER_SEC};
use std::collections::VecDeque;

/// Index of a queue server.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerId(pub u32);

/// What a queue server is: parameters, all in plain units.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSpec {
    pub name: String,
    /// Requests in flight at most (the device's usable queue depth).
    pub depth: u32,
    /// Ceiling on requests per second (e.g. 4 KiB random-read IOPS).
    pub ops_per_sec: u64,
    /// Service latency of one request at queue depth 1.
    pub latency: Ps,
    /// Ceiling on bytes per second (sequential bandwidth).
    pub bandwidth: u64,
}

#[derive(Clone, Debug)]
pub(crate) struct QueueServer {
    pub spec: QueueSpec,
    period: Ps,
    inflight: u32,
    next_issue: Ps,
    waiting: VecDeque<Pending>,
    /// A wake-up already scheduled for this time: do not schedule another.
    wake: Option<Ps>,
    pub issued: u64,
    pub bytes: u128,
}

#[derive(Clone, Debug)]
struct Pending {
    owner: u64,
    left: u32,
    bytes: u64,
}

/// An issue decision: the request of `owner` completes at `done`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Issue {
    Complete {
        owner: u64,
        done: Ps,
    },
    /// Nothing can be issued before this time (IOPS spacing); wake the server then.
    WakeAt(Ps),
}

impl QueueServer {
    pub fn new(spec: QueueSpec) -> Result<Self, String> {
        if spec.depth == 0 || spec.ops_per_sec == 0 || spec.bandwidth == 0 {
            return Err(format!(
                "queue server `{}` needs depth, IOPS and bandwidth above zero",
                spec.name
            ));
        }
        let period = Ps((PS_PER_SEC as u128).div_ceil(spec.ops_per_sec as u128) as u64);
        Ok(QueueServer {
            spec,
            period,
            inflight: 0,
            next_issue: Ps::ZERO,
            waiting: VecDeque::new(),
            wake: None,
            issued: 0,
            bytes: 0,
        })
    }

    pub fn submit(&mut self, owner: u64, requests: u32, bytes: u64) {
        if requests > 0 {
            self.waiting.push_back(Pending {
                owner,
                left: requests,
                bytes,
            });
        }
    }

    pub fn complete_one(&mut self) {
        self.inflight = self.inflight.saturating_sub(1);
    }

    /// Issue what can be issued at `now`, FIFO.
    pub fn issue(&mut self, now: Ps, out: &mut Vec<Issue>) -> Result<(), TimeOverflow> {
        if self.wake.is_some_and(|w| w <= now) {
            self.wake = None;
        }
        while self.inflight < self.spec.depth {
            let Some(head) = self.waiting.front_mut() else {
                break;
            };
            if self.next_issue > now {
                // One pending wake-up is enough: completions also re-pump the server.
                if self.wake.is_none() {
                    self.wake = Some(self.next_issue);
                    out.push(Issue::WakeAt(self.next_issue));
                }
                break;
            }
            let xfer = Ps::transfer_time(head.bytes, self.spec.bandwidth)?;
            let spacing = self.period.max(xfer);
            let t = now;
            self.next_issue = t.checked_add(spacing)?;
            let done = t.checked_add(self.spec.latency)?.checked_add(xfer)?;
            self.inflight += 1;
            self.issued += 1;
            self.bytes += head.bytes as u128;
            out.push(Issue::Complete {
                owner: head.owner,
                done,
            });
            head.left -= 1;
            if head.left == 0 {
                self.waiting.pop_front();
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(depth: u32) -> QueueSpec {
        QueueSpec {
            name: "nvme".into(),
            depth,
            ops_per_sec: 1_000_000,
            latency: Ps::from_us(80),
            bandwidth: 14_000_000_000,
        }
    }

    #[test]
    fn qd1_issues_one_at_a_time() {
        let mut s = QueueServer::new(spec(1)).unwrap();
        s.submit(1, 3, 4096);
        let mut out = Vec::new();
        s.issue(Ps::ZERO, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let xfer = Ps::transfer_time(4096, 14_000_000_000).unwrap();
        assert_eq!(
            out[0],
            Issue::Complete {
                owner: 1,
                done: Ps::from_us(80) + xfer
            }
        );
    }

    #[test]
    fn iops_ceiling_spaces_issues() {
        let mut s = QueueServer::new(spec(64)).unwrap();
        s.submit(1, 3, 4096);
        let mut out = Vec::new();
        s.issue(Ps::ZERO, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert_eq!(out[1], Issue::WakeAt(Ps::from_us(1)));
    }

    #[test]
    fn zero_parameters_are_refused() {
        assert!(QueueServer::new(QueueSpec {
            depth: 0,
            ..spec(1)
        })
        .is_err());
    }
}
