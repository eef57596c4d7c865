//! One result file per cell, `cells/<id>.json`, written atomically when the cell
//! finishes. A sweep run again finds them and skips those cells; `memwall merge` reads
//! them from every shard's folder.

use crate::plan::CellScenario;
use crate::runner::CellOutput;
use memwall_reports::output::{write_atomic, OutputError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const CELL_FORMAT: &str = "memwall-sweep-cell/2";

#[derive(Serialize, Deserialize)]
struct CellFile {
    format: String,
    id: String,
    /// The runner, its version and the canonical scenario the id hashes.
    canonical: String,
    /// [`checksum`] of the id, the canonical scenario and the output: a cell file edited
    /// or damaged after it was written is not trusted.
    checksum: String,
    output: CellOutput,
}

/// A digest of what a cell file says (its output as compact JSON).
fn checksum(id: &str, canonical: &str, out: &CellOutput) -> String {
    let json = serde_json::to_string(out).expect("cell serialises");
    crate::plan::hash_hex(&format!("{id}\n{canonical}\n{json}"))
}

/// What a sweep folder holds for a cell.
#[derive(Debug)]
pub enum Stored {
    /// A complete file for exactly this scenario, whose checksum holds.
    Done(CellOutput),
    /// No file, or one for another scenario or an older format (the cell is run again).
    Absent,
    /// A file that does not parse or whose checksum fails: edited or damaged (the cell is
    /// run again, and the run says so).
    Damaged(PathBuf),
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
        checksum: checksum(&c.cell.id, &c.canonical, out),
        output: out.clone(),
    };
    let mut bytes = serde_json::to_vec_pretty(&f).expect("cell serialises");
    bytes.push(b'\n');
    write_atomic(&cell_path(dir, &c.cell.id), &bytes)
}

/// A cell's stored output, if a complete file for exactly this scenario is there and its
/// checksum holds. `canonical` is checked when given (a hash collision is not reused).
pub fn load(dir: &Path, id: &str, canonical: Option<&str>) -> Option<CellOutput> {
    match stored(dir, id, canonical) {
        Stored::Done(out) => Some(out),
        Stored::Absent | Stored::Damaged(_) => None,
    }
}

/// What `dir` holds for cell `id` (see [`Stored`]).
pub fn stored(dir: &Path, id: &str, canonical: Option<&str>) -> Stored {
    let path = cell_path(dir, id);
    let Ok(bytes) = std::fs::read(&path) else {
        return Stored::Absent;
    };
    let Ok(f) = serde_json::from_slice::<CellFile>(&bytes) else {
        let v: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        let other_format = v.is_some_and(|v| v["format"] != CELL_FORMAT);
        return if other_format {
            Stored::Absent
        } else {
            Stored::Damaged(path)
        };
    };
    if f.format != CELL_FORMAT || f.id != id || canonical.is_some_and(|c| c != f.canonical) {
        return Stored::Absent;
    }
    if f.checksum != checksum(&f.id, &f.canonical, &f.output) {
        return Stored::Damaged(path);
    }
    Stored::Done(f.output)
}
