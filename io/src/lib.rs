//! memwall-io: how memwall reads the files a user gives it and writes its outputs.
//!
//! * [`input`]: every input is read under a size cap, so a huge file or a device such as
//!   `/dev/zero` fails fast with a clear error.
//! * [`partial`]: outputs are written as `<name>.partial-<pid>` and renamed when complete;
//!   unfinished ones are removed on error, on SIGINT/SIGTERM, and (stale ones of dead
//!   processes) on the next run.
//! * [`paths`]: no output may overwrite an input or another output.
//! * [`progress`]: long loops mark their progress; the CLI draws it on a terminal.
//! * [`process`]: CPU seconds and resident memory this process has used (benchmarks).

pub mod input;
pub mod partial;
pub mod paths;
pub mod process;
pub mod progress;
