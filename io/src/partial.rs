//! Partial files: an output is written beside its destination as
//! `<name>.partial-<pid>` and renamed into place when complete. Three things keep them
//! from piling up:
//! * a writer registers its partial while it writes ([`Partial::new`]) and removes it if
//!   it is dropped unfinished;
//! * on SIGINT or SIGTERM, [`remove_on_signal`] removes every registered partial and
//!   exits with status 130 (the CLI installs it first thing);
//! * before writing `<name>`, [`remove_stale`] removes the `<name>.partial-<pid>` files
//!   of processes that are gone (a run killed with SIGKILL, or a machine that went down).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Partials being written by this process.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// The partial file of `dest` for this process: `<dest>.partial-<pid>`.
pub fn partial_path(dest: &Path) -> PathBuf {
    let mut p = dest.as_os_str().to_owned();
    p.push(format!(".partial-{}", std::process::id()));
    PathBuf::from(p)
}

/// A registered partial file: removed from disk on drop unless [`Partial::finish`]ed.
#[derive(Debug)]
pub struct Partial {
    path: PathBuf,
    done: bool,
}

impl Partial {
    /// Registers `<dest>.partial-<pid>` (after removing stale partials of `dest`).
    pub fn new(dest: &Path) -> Partial {
        remove_stale(dest);
        let path = partial_path(dest);
        lock().push(path.clone());
        Partial { path, done: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the partial to `dest` and unregisters it.
    pub fn finish(mut self, dest: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.path, dest)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if !self.done {
            // Best effort: the file may never have been created.
            std::fs::remove_file(&self.path).ok();
        }
        lock().retain(|p| p != &self.path);
    }
}

fn lock() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Removes `<dest>.partial-<pid>` files whose process is gone. Only where `/proc` tells
/// which processes run (Linux); elsewhere nothing is removed.
pub fn remove_stale(dest: &Path) {
    let (Some(dir), Some(name)) = (dest.parent(), dest.file_name()) else {
        return;
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let proc_fs = Path::new("/proc/self").exists();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{}.partial-", name.to_string_lossy());
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = file
            .strip_prefix(&prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let gone = proc_fs && !Path::new("/proc").join(pid.to_string()).exists();
        if gone && pid != std::process::id() {
            std::fs::remove_file(e.path()).ok();
        }
    }
}

/// Removes every registered partial; for the signal thread and tests.
pub fn remove_live() -> usize {
    let mut live = lock();
    let n = live.len();
    for p in live.drain(..) {
        std::fs::remove_file(&p).ok();
    }
    n
}

/// Blocks SIGINT and SIGTERM in this thread (and every thread it starts later) and starts
/// a thread that waits for them: it removes the registered partials and exits with 130.
/// Call it first thing in `main`, before any thread starts.
pub fn remove_on_signal() {
    // SAFETY: the signal set is initialised by sigemptyset before use; pthread_sigmask
    // and sigwait are given valid pointers to it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        if libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
            return;
        }
        std::thread::spawn(move || {
            let mut sig: libc::c_int = 0;
            if libc::sigwait(&set, &mut sig) == 0 {
                remove_live();
                std::process::exit(128 + sig);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unfinished_partial_is_removed_and_a_stale_one_too() {
        let dir = std::env::temp_dir().join(format!("memwall-partial-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dest = dir.join("out.csv");
        // A pid that cannot be running (above the kernel's pid_max of 2^22).
        let stale = dir.join("out.csv.partial-99999999");
        std::fs::write(&stale, "x").unwrap();
        let p = Partial::new(&dest);
        assert!(!stale.exists() || !Path::new("/proc/self").exists());
        std::fs::write(p.path(), "half").unwrap();
        let path = p.path().to_path_buf();
        drop(p);
        assert!(!path.exists());
        let p = Partial::new(&dest);
        std::fs::write(p.path(), "all").unwrap();
        p.finish(&dest).unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"all");
        assert_eq!(remove_live(), 0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
