//! Output files appear complete or not at all: written to a sibling temporary file, renamed
//! into place on `commit`. A crash or an error leaves no partial file under the final name;
//! the partial itself is removed on error, on SIGINT/SIGTERM and, if the process was
//! killed outright, by the next run ([`memwall_io::partial`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use memwall_io::partial::Partial;

use crate::error::{EngramError, Result};

/// A buffered file that only takes its final name when committed.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: Option<Partial>,
    dest: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates `<dest>.partial-<pid>` for writing.
    pub fn create(dest: &Path) -> Result<Self> {
        let tmp = Partial::new(dest);
        let file = File::create(tmp.path()).map_err(|e| EngramError::io(tmp.path(), e))?;
        Ok(AtomicFile {
            tmp: Some(tmp),
            dest: dest.to_path_buf(),
            file: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Flushes, syncs and renames the file to its final name.
    pub fn commit(mut self) -> Result<()> {
        let mut w = self.file.take().expect("file present until commit");
        let tmp = self.tmp.take().expect("partial present until commit");
        w.flush().map_err(|e| EngramError::io(tmp.path(), e))?;
        let f = w
            .into_inner()
            .map_err(|e| EngramError::io(tmp.path(), e.into_error()))?;
        f.sync_all().map_err(|e| EngramError::io(tmp.path(), e))?;
        drop(f);
        tmp.finish(&self.dest)
            .map_err(|e| EngramError::io(&self.dest, e))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().expect("not committed").write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.file.as_mut().expect("not committed").write_all(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().expect("not committed").flush()
    }
}
