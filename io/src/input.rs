//! Bounded input reads: every file a user hands memwall (profiles, scenarios, sweeps,
//! models, prices, request CSVs, corpora) is read through [`read_to_string_capped`], so a
//! huge file or a device such as `/dev/zero` fails fast with a clear error instead of
//! being read until memory runs out.
//!
//! The cap is [`DEFAULT_INPUT_LIMIT`] (100 MiB), or the byte count in the
//! `MEMWALL_MAX_INPUT_BYTES` environment variable.

use std::io::Read;
use std::path::Path;

/// The largest input file read without an override: 100 MiB.
pub const DEFAULT_INPUT_LIMIT: u64 = 100 * 1024 * 1024;

/// The environment variable that overrides [`DEFAULT_INPUT_LIMIT`] (a byte count).
pub const INPUT_LIMIT_VAR: &str = "MEMWALL_MAX_INPUT_BYTES";

/// The input cap in force: `MEMWALL_MAX_INPUT_BYTES` when it is a positive integer, else
/// [`DEFAULT_INPUT_LIMIT`].
pub fn input_limit() -> u64 {
    std::env::var(INPUT_LIMIT_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_INPUT_LIMIT)
}

/// Why a bounded read failed. `Display` gives the reason and a hint, not the path: the
/// caller's error names the file.
#[derive(Debug)]
pub enum InputError {
    Io(std::io::Error),
    /// The file is (or keeps going) past the cap.
    TooLarge {
        limit: u64,
    },
    /// Not UTF-8 text.
    NotText {
        offset: usize,
    },
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InputError::Io(e) => write!(f, "{e}"),
            InputError::TooLarge { limit } => write!(
                f,
                "larger than the input limit of {limit} bytes (is it the right file?)\nhint: \
                 set {INPUT_LIMIT_VAR} to a larger byte count to read it anyway"
            ),
            InputError::NotText { offset } => write!(
                f,
                "not UTF-8 text (invalid byte at offset {offset})\nhint: give a text file"
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// Reads at most `limit` bytes of `path`: a regular file's size is checked before reading,
/// and anything else (a pipe, a device) is read only up to the cap.
pub fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let mut f = open_capped(path, limit)?;
    let size = f.file.metadata().map_err(InputError::Io)?.len();
    let mut buf = Vec::with_capacity(size.min(limit) as usize);
    match f.read_to_end(&mut buf) {
        Ok(_) => Ok(buf),
        Err(_) if f.read > limit => Err(InputError::TooLarge { limit }),
        Err(e) => Err(InputError::Io(e)),
    }
}

/// A file opened for streaming under a size cap: reading past `limit` bytes fails with
/// [`InputError::TooLarge`] (as an `io::Error`), so a device such as `/dev/zero` or a file
/// that grows is stopped at the cap while memory stays flat. Unbuffered: wrap it in a
/// `BufReader`.
#[derive(Debug)]
pub struct CappedFile {
    file: std::fs::File,
    limit: u64,
    read: u64,
}

/// Opens `path` for a streaming read of at most `limit` bytes: a regular file's size is
/// checked before anything is read, a folder is refused.
pub fn open_capped(path: &Path, limit: u64) -> Result<CappedFile, InputError> {
    let file = std::fs::File::open(path).map_err(InputError::Io)?;
    let meta = file.metadata().map_err(InputError::Io)?;
    if meta.is_dir() {
        return Err(InputError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "is a folder, not a file",
        )));
    }
    if meta.is_file() && meta.len() > limit {
        return Err(InputError::TooLarge { limit });
    }
    Ok(CappedFile {
        file,
        limit,
        read: 0,
    })
}

impl CappedFile {
    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }
}

impl Read for CappedFile {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        // One byte past the cap is asked for, so that a stream exactly at the cap ends
        // cleanly and a longer one is reported.
        let room = (self.limit + 1 - self.read.min(self.limit + 1)) as usize;
        let want = buf.len().min(room.max(1));
        let n = self.file.read(&mut buf[..want])?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(InputError::TooLarge { limit: self.limit }.into_io());
        }
        Ok(n)
    }
}

/// [`read_capped`] under [`input_limit`], as UTF-8 text: a drop-in for
/// `std::fs::read_to_string` whose error says why (the caller names the file).
pub fn read_to_string_capped(path: &Path) -> std::io::Result<String> {
    let bytes = read_capped(path, input_limit()).map_err(InputError::into_io)?;
    String::from_utf8(bytes).map_err(|e| {
        InputError::NotText {
            offset: e.utf8_error().valid_up_to(),
        }
        .into_io()
    })
}

impl InputError {
    /// As an `io::Error` whose text is this error's.
    pub fn into_io(self) -> std::io::Error {
        match self {
            InputError::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidData, other),
        }
    }
}

/// A TOML parser's message made specific: never empty, and naming the character at fault
/// (a control character, the end of the file). `offset` is where the parser stopped.
pub fn toml_message(message: &str, text: &str, offset: Option<usize>) -> String {
    let message = message.trim();
    let at = offset.and_then(|o| text.get(o.min(text.len())..));
    let ch = at.and_then(|rest| rest.chars().next());
    let detail = match ch {
        None if offset.is_some() => {
            Some("the file ends where a value is expected (is it truncated?)".to_string())
        }
        Some(c) if c.is_control() && c != '\n' && c != '\t' && c != '\r' => Some(format!(
            "control character U+{:04X} is not allowed here (write it as \\u{:04X} inside a string)",
            c as u32, c as u32
        )),
        _ => None,
    };
    match (message.is_empty(), detail) {
        (false, Some(d)) => format!("{message}: {d}"),
        (false, None) => message.to_string(),
        (true, Some(d)) => d,
        (true, None) => match ch {
            Some(c) => format!("unexpected {c:?} here"),
            None => "not valid TOML".to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_toml_message_is_never_empty() {
        assert!(toml_message("", "name = ", Some(7)).contains("file ends"));
        let m = toml_message("invalid basic string", "a = \"x\u{1}\"", Some(6));
        assert!(m.contains("U+0001"), "{m}");
        assert_eq!(toml_message("", "a = ]", Some(4)), "unexpected ']' here");
        assert_eq!(toml_message("bad", "a", None), "bad");
    }

    #[test]
    fn a_device_is_read_only_up_to_the_cap() {
        let e = read_capped(Path::new("/dev/zero"), 4096).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { limit: 4096 }), "{e}");
        assert!(e.to_string().contains(INPUT_LIMIT_VAR));
    }

    #[test]
    fn a_capped_stream_stops_at_the_cap() {
        let mut f = open_capped(Path::new("/dev/zero"), 10_000).unwrap();
        let mut buf = Vec::new();
        let e = f.read_to_end(&mut buf).unwrap_err();
        assert!(e.to_string().contains(INPUT_LIMIT_VAR), "{e}");
        assert!(buf.len() <= 10_000 && f.bytes_read() == 10_001);
        let dir = std::env::temp_dir().join(format!("memwall-capped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.bin");
        std::fs::write(&p, [7u8; 64]).unwrap();
        assert!(matches!(
            open_capped(&p, 63),
            Err(InputError::TooLarge { limit: 63 })
        ));
        let mut f = open_capped(&p, 64).unwrap();
        buf.clear();
        assert_eq!(f.read_to_end(&mut buf).unwrap(), 64);
        assert_eq!(f.bytes_read(), 64);
        assert!(open_capped(&dir, 100).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_large_file_fails_before_reading_and_a_small_one_reads() {
        let dir = std::env::temp_dir().join(format!("memwall-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("f.toml");
        std::fs::write(&p, "a = 1\n").unwrap();
        assert!(matches!(
            read_capped(&p, 5),
            Err(InputError::TooLarge { limit: 5 })
        ));
        assert_eq!(read_capped(&p, 6).unwrap(), b"a = 1\n");
        std::fs::write(&p, [0xff, 0xfe]).unwrap();
        let e = read_to_string_capped(&p).unwrap_err();
        assert!(e.to_string().contains("not UTF-8 text"), "{e}");
        assert!(read_capped(&dir, 100).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
