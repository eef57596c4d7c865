//! memwall-models: the hardware. Profile schema, unit parsing, the profile registry
//! (embedded hw-profiles/ plus user files), validation, and the resolved specs
//! (`SystemSpec` and friends) the simulator builds resources from; the wiring of a node
//! into kernel resources ([`node`]), simulated micro-benchmarks ([`probe`]) and the
//! provenance of every number ([`sources`], from `docs/sources.md`).
//!
//! Depends on `memwall-sim` only; never on workloads or reports.
//!
//! A profile number is written with its unit, a basis and a source; the registry
//! resolves a system by name into exact integers (bytes, bytes per second,
//! picoseconds), keeping peak and achievable apart:
//!
//! ```
//! use memwall_models::quantity::Basis;
//! use memwall_models::units::{format_byte_rate, format_bytes};
//! use memwall_models::{sources, Profile, Registry};
//!
//! let reg = Registry::embedded()?;
//! let sys = reg.system("dgx-h100")?;
//! assert_eq!(sys.node.gpus.len(), 8);
//! let gpu = &sys.node.gpu;
//! assert_eq!(gpu.hbm_capacity_bytes, 80_000_000_000);
//! assert_eq!(format_bytes(gpu.hbm_capacity_bytes), "80 GB");
//! assert_eq!(format_byte_rate(gpu.hbm_bandwidth.peak), "3.35 TB/s");
//! assert!(gpu.hbm_bandwidth.achievable < gpu.hbm_bandwidth.peak);
//!
//! // The same number as the profile wrote it: basis and source.
//! let Some(Profile::Gpu(p)) = reg.get(&gpu.name).map(|e| &e.profile) else {
//!     unreachable!("dgx-h100 names a GPU profile")
//! };
//! assert_eq!(p.memory.capacity.basis, Basis::Spec);
//! assert_eq!(p.memory.capacity.source, "R1");
//! assert_eq!(sources::title("R1"), Some("NVIDIA H100 Tensor Core GPU datasheet"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

// ProfileError is large by design (file, field, message, hint); errors are rare.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

pub mod budget;
pub mod collective;
pub mod cost;
pub mod error;
pub mod fabric;
pub mod gather;
pub mod node;
pub mod perf;
pub mod probe;
pub mod quantity;
pub mod registry;
pub mod render;
pub mod schema;
pub mod sources;
pub mod spec;
pub mod tiers;
pub mod units;

pub use error::{ProfileError, ProfileErrors};
pub use registry::{embedded_files, parse_profile, Registry};
pub use render::{
    cli_list, cli_show, cli_validate, list_table, show, validate_paths, validate_text,
};
pub use schema::{PartKind, Profile};
pub use spec::*;
