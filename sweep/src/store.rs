//! One result file per cell, `cells/<id>.json`, written atomically when the cell
//! finishes. A sweep run again finds them and skips those cells; `memwall merge` reads
//! them from every shard's folder.

use crate::plan::CellScenario;
use crate::runner::CellOutput;
use memwall_reports::output::{write_atomic, OutputError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const CELL_FORMAT: &str = "memwall-sweep-cell/1";

#[derive(Serialize, Deserialize)]
struct CellFile {
    format: String,
    id: String,
    /// The runner, its version and the canonical scenario the id hashes.
    canonical: String,
    output: CellOutput,
}

/// Path of a cell's result file under a sweep folder.
pub fn cell_path(dir: &Path, id: &str) -> PathBuf {
    dir.join("cells").join(format!("{id}.json"))
}

/// Write a finished cell.
pub fn save(dir: &Path, c: &CellScenario, out: &CellOutput) -> Result<(), OutputError> {
    let f = CellFile {
        format: CELL_FORMAT.into(),
        id: c.cell.id.clone(),
        canonical: c.canonical.clone(),
        output: out.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&f).expect("cell serialises");
    bytes.push(b'\n');
    write_atomic(&cell_path(dir, &c.cell.id), &bytes)
}

/// A cell's stored output, if a complete file for exactly this scenario is there.
/// `canonical` is checked when given (a hash collision or a hand-edited file is not
/// reused).
pub fn load(dir: &Path, id: &str, canonical: Option<&str>) -> Option<CellOutput> {
    let bytes = std::fs::read(cell_path(dir, id)).ok()?;
    let f: CellFile = serde_json::from_slice(&bytes).ok()?;
    if f.format != CELL_FORMAT || f.id != id || canonical.is_some_and(|c| c != f.canonical) {
        return None;
    }
    Some(f.output)
}
