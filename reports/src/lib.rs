//! memwall-reports: what a run answers. Attribution of every stall to hidden or exposed
//! latency, tidy CSV, summaries, plots and Chrome-trace export of a simulated timeline.
//! Reads timelines; never re-simulates.

pub mod chrome_trace;
pub mod output;
pub mod plots;
pub mod summary;
pub mod units;

