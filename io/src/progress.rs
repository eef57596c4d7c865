//! Progress of long work. A workload marks its long loops with a [`Task`]; nothing is
//! shown unless a [`Display`] is installed, which the CLI does only when stderr is a
//! terminal, so captured output (tests, CSVs, pipes) never changes. One task shows at a
//! time: a task started while another is live (a serving run inside a sweep's cell) is
//! silent, so the outer bar is the one drawn.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Draws the live task (the CLI's terminal bar).
pub trait Display: Send + Sync {
    /// A task begins: `total` units of `unit` (none: a spinner with elapsed time).
    fn start(&self, label: &str, total: Option<u64>, unit: &'static str);
    /// `done` units are finished.
    fn set(&self, done: u64);
    /// `n` more units are finished.
    fn add(&self, n: u64);
    /// The task ended (finished or abandoned on an error).
    fn finish(&self);
}

static DISPLAY: OnceLock<Box<dyn Display>> = OnceLock::new();
static LIVE: AtomicBool = AtomicBool::new(false);

/// Installs the display for the rest of the process; false if one was installed already.
pub fn install(display: Box<dyn Display>) -> bool {
    DISPLAY.set(display).is_ok()
}

/// A long piece of work in progress; it ends when dropped.
#[derive(Debug)]
pub struct Task {
    live: bool,
}

/// Starts a task of `total` units (none when unknown), drawn only if a display is
/// installed and no other task is live.
pub fn task(label: &str, total: Option<u64>, unit: &'static str) -> Task {
    let Some(d) = DISPLAY.get() else {
        return Task { live: false };
    };
    let live = LIVE
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok();
    if live {
        d.start(label, total, unit);
    }
    Task { live }
}

impl Task {
    /// `done` units are finished.
    pub fn set(&self, done: u64) {
        if let (true, Some(d)) = (self.live, DISPLAY.get()) {
            d.set(done);
        }
    }

    /// `n` more units are finished.
    pub fn add(&self, n: u64) {
        if let (true, Some(d)) = (self.live, DISPLAY.get()) {
            d.add(n);
        }
    }

    /// Whether this task is the one drawn.
    pub fn is_live(&self) -> bool {
        self.live
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let (true, Some(d)) = (self.live, DISPLAY.get()) {
            d.finish();
            LIVE.store(false, Ordering::Release);
        }
    }
}

/// A reader that reports the bytes read through it to a task (a large input's import).
pub struct Reading<R> {
    inner: R,
    task: Task,
    done: u64,
}

impl<R> Reading<R> {
    /// Reads `inner`, `total` bytes long when known, as a task labelled `label`.
    pub fn new(inner: R, label: &str, total: Option<u64>) -> Self {
        Reading {
            inner,
            task: task(label, total, "bytes"),
            done: 0,
        }
    }
}

impl<R: std::io::Read> std::io::Read for Reading<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        self.task.set(self.done);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::atomic::AtomicU64;
    use std::sync::Arc;

    /// Counts what it is told (one per test process: the display is process-wide).
    struct Count(Arc<AtomicU64>, Arc<AtomicU64>);

    impl Display for Count {
        fn start(&self, _: &str, _: Option<u64>, _: &'static str) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
        fn set(&self, done: u64) {
            self.1.store(done, Ordering::Relaxed);
        }
        fn add(&self, n: u64) {
            self.1.fetch_add(n, Ordering::Relaxed);
        }
        fn finish(&self) {}
    }

    #[test]
    fn one_task_is_drawn_at_a_time_and_reading_reports_bytes() {
        let silent = task("before any display", Some(3), "steps");
        assert!(!silent.is_live());
        let (starts, pos) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        assert!(install(Box::new(Count(starts.clone(), pos.clone()))));
        let outer = task("sweep", Some(10), "cells");
        let inner = task("serving", Some(5), "requests");
        assert!(outer.is_live() && !inner.is_live());
        inner.set(4);
        outer.add(2);
        assert_eq!(pos.load(Ordering::Relaxed), 2);
        drop((inner, outer));
        let mut r = Reading::new(&b"0123456789"[..], "trace", Some(10));
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).unwrap();
        assert_eq!(pos.load(Ordering::Relaxed), 10);
        assert_eq!(starts.load(Ordering::Relaxed), 2);
    }
}
