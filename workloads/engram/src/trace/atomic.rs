//! Output files appear complete or not at all: written to a sibling temporary file, renamed
//! into place on `commit`. A crash or an error leaves no partial file under the final name.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{EngramError, Result};

/// A buffered file that only takes its final name when committed.
#[derive(Debug)]
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates `<dest>.partial` for writing.
    pub fn create(dest: &Path) -> Result<Self> {
        let mut name = dest.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let tmp = dest.with_file_name(name);
        let file = File::create(&tmp).map_err(|e| EngramError::io(&tmp, e))?;
        Ok(AtomicFile {
            tmp,
            dest: dest.to_path_buf(),
            file: Some(BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Flushes, syncs and renames the file to its final name.
    pub fn commit(mut self) -> Result<()> {
        let mut w = self.file.take().expect("file present until commit");
        w.flush().map_err(|e| EngramError::io(&self.tmp, e))?;
        let f = w
            .into_inner()
            .map_err(|e| EngramError::io(&self.tmp, e.into_error()))?;
        f.sync_all().map_err(|e| EngramError::io(&self.tmp, e))?;
        std::fs::rename(&self.tmp, &self.dest).map_err(|e| EngramError::io(&self.dest, e))
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

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
