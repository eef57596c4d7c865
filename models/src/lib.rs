//! memwall-models: the hardware. Profile schema, unit parsing, the profile registry
//! (embedded hw-profiles/ plus user files), validation, and the resolved specs
//! (`SystemSpec` and friends) the simulator builds resources from.
//!
//! Depends on `memwall-sim` only; never on workloads or reports.

// ProfileError is large by design (file, field, message, hint); errors are rare.
#![allow(clippy::result_large_err, clippy::large_enum_variant)]

pub mod error;
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
pub mod units;

pub use error::{ProfileError, ProfileErrors};
pub use registry::{embedded_files, parse_profile, Registry};
pub use render::{
    cli_list, cli_show, cli_validate, list_table, show, validate_paths, validate_text,
};
pub use schema::{PartKind, Profile};
pub use spec::*;
