//! memwall-reports: what a run shows a person. Tidy CSV written atomically (never a
//! half-written file left looking complete), plots as PNG and SVG with units on both axes
//! (bars, Gantt, CDF, sweep lines, Pareto), Chrome-trace export of timelines side by side,
//! and human units. It reads timelines and attributions (`memwall_sim::attribute`); it
//! never simulates, and depends on `memwall-sim` alone.
//!
//! Entry points: [`output::csv_bytes`] and [`output::write_atomic`] for files, a
//! [`plots::Plot`] implementation's `render()` for pictures, and
//! [`chrome_trace::write_chrome_traces`] for traces.
//!
//! ```
//! use memwall_reports::output::csv_bytes;
//! use memwall_reports::plots::{Cdf, CdfSeries, Plot};
//!
//! let csv = csv_bytes(&["step", "exposed_us"], [["0", "1.5"], ["1", "0"]]);
//! assert_eq!(String::from_utf8(csv).unwrap(), "step,exposed_us\n0,1.5\n1,0\n");
//!
//! let cdf = Cdf {
//!     title: "Exposed Engram latency per step".into(),
//!     quantity: "exposed latency".into(),
//!     population: "steps".into(),
//!     series: vec![CdfSeries { name: "H800".into(), values_s: vec![1e-6, 2e-6, 4e-6] }],
//! };
//! let picture = cdf.render().unwrap();
//! assert!(picture.svg.contains("exposed latency (us)"));
//! assert!(picture.png.starts_with(b"\x89PNG"));
//! ```

pub mod chrome_trace;
pub mod output;
pub mod plots;
pub mod units;
