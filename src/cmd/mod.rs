//! One module per subcommand: each has a clap `Args` struct and a `run` function.

pub mod calibrate;
pub mod fabric;
pub mod inputs;
pub mod merge;
pub mod plan;
pub mod probe;
pub mod profiles;
pub mod replay;
pub mod run;
pub mod sweep;
pub mod trace;
pub mod trace_reuse;
pub mod train;
