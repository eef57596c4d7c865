//! Writing outputs atomically: a file is written beside its destination under a
//! temporary name and renamed into place only when complete, so an interrupted run never
//! leaves a half-written file that looks finished.

use std::io::Write;
use std::path::{Path, PathBuf};

/// An error writing an output, naming the path.
#[derive(Debug)]
pub struct OutputError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl std::fmt::Display for OutputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot write {}: {} (check the folder exists and is writable)",
            self.path.display(),
            self.source
        )
    }
}
impl std::error::Error for OutputError {}

/// Write `bytes` to `path` atomically (temporary file + rename), creating parent folders.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), OutputError> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Stream an output to `path` atomically: `fill` writes into a buffered temporary file
/// beside `path`, which is renamed into place only if `fill` succeeds. Memory stays
/// bounded whatever the output's size (large Chrome traces, per-op CSVs).
pub fn write_atomic_with<F>(path: &Path, fill: F) -> Result<(), OutputError>
where
    F: FnOnce(&mut dyn Write) -> std::io::Result<()>,
{
    let err = |source| OutputError {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
    }
    let partial = memwall_io::partial::Partial::new(path);
    let res = (|| {
        let f = std::fs::File::create(partial.path())?;
        let mut w = std::io::BufWriter::new(f);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        partial.finish(path)
    })();
    res.map_err(err)?;
    Ok(())
}

/// Build a CSV in memory from a header and rows, for [`write_atomic`].
pub fn csv_bytes<I, R>(header: &[&str], rows: I) -> Vec<u8>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    w.write_record(header).expect("in-memory CSV");
    for r in rows {
        w.write_record(r).expect("in-memory CSV");
    }
    w.into_inner().expect("in-memory CSV")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_creates_dirs_and_leaves_no_partial() {
        let dir = std::env::temp_dir().join(format!("memwall-out-{}", std::process::id()));
        let p = dir.join("a/b.csv");
        write_atomic(&p, b"x,y\n1,2\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"x,y\n1,2\n");
        let left: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn csv_quotes_fields() {
        let b = csv_bytes(&["a", "b"], vec![vec!["1", "x,y"]]);
        assert_eq!(String::from_utf8(b).unwrap(), "a,b\n1,\"x,y\"\n");
    }
}
