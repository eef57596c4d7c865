//! No output overwrites an input or another output: a command lists what it reads and
//! what it will write, and [`check_outputs`] refuses a clash before anything runs. Two
//! paths are the same file when they resolve to the same place (`./a` and `a`, a symbolic
//! link) or, where both exist, are the same inode (a hard link).

use std::path::{Path, PathBuf};

/// A file a command reads or writes, with the argument that named it (`--csv`, `TRACE`).
#[derive(Debug, Clone)]
pub struct Named<'a> {
    pub what: &'a str,
    pub path: PathBuf,
}

impl<'a> Named<'a> {
    pub fn new(what: &'a str, path: impl Into<PathBuf>) -> Self {
        Named {
            what,
            path: path.into(),
        }
    }
}

/// An output path that is an input, or another output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathClash {
    pub output: String,
    pub path: PathBuf,
    pub other: String,
    pub other_path: PathBuf,
    pub other_is_input: bool,
}

impl std::fmt::Display for PathClash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (kind, loss) = if self.other_is_input {
            ("the input", "would destroy the input")
        } else {
            ("also the output", "would keep only one of the two")
        };
        write!(
            f,
            "{} {}: this is {kind} {} {}; writing it {loss}\nhint: give {} another path",
            self.output,
            self.path.display(),
            self.other,
            self.other_path.display(),
            self.output
        )
    }
}

impl std::error::Error for PathClash {}

/// Where `p` resolves to: itself canonicalised when it exists, else its folder
/// canonicalised with its name appended, else `p` made absolute.
fn resolved(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    let abs = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    match (abs.parent(), abs.file_name()) {
        (Some(dir), Some(name)) => dir.canonicalize().map_or(abs.clone(), |d| d.join(name)),
        _ => abs,
    }
}

#[cfg(unix)]
fn same_inode(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.is_file() && x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_inode(_: &Path, _: &Path) -> bool {
    false
}

fn same(a: &Path, b: &Path) -> bool {
    resolved(a) == resolved(b) || same_inode(a, b)
}

/// `Err` on the first output that is one of `inputs` or an earlier output.
pub fn check_outputs(inputs: &[Named], outputs: &[Named]) -> Result<(), PathClash> {
    for (i, o) in outputs.iter().enumerate() {
        let earlier = outputs[..i].iter().map(|x| (x, false));
        for (other, is_input) in inputs.iter().map(|x| (x, true)).chain(earlier) {
            if same(&o.path, &other.path) {
                return Err(PathClash {
                    output: o.what.to_string(),
                    path: o.path.clone(),
                    other: other.what.to_string(),
                    other_path: other.path.clone(),
                    other_is_input: is_input,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_may_not_be_an_input_or_another_output() {
        let dir = std::env::temp_dir().join(format!("memwall-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let s = dir.join("s.toml");
        std::fs::write(&s, "x").unwrap();
        let ins = [Named::new("SCENARIO", &s)];
        let dotted = dir.join(".").join("s.toml");
        let e = check_outputs(&ins, &[Named::new("--csv", &dotted)]).unwrap_err();
        assert!(e.other_is_input);
        assert!(e.to_string().contains("would destroy the input"), "{e}");
        let f = dir.join("f.csv");
        let outs = [Named::new("--csv", &f), Named::new("--steps-csv", &f)];
        let e = check_outputs(&ins, &outs).unwrap_err();
        assert_eq!(e.output, "--steps-csv");
        assert!(!e.other_is_input);
        let ok = [
            Named::new("--csv", &f),
            Named::new("--steps-csv", dir.join("g.csv")),
        ];
        assert!(check_outputs(&ins, &ok).is_ok());
        #[cfg(unix)]
        {
            let link = dir.join("hard.toml");
            std::fs::hard_link(&s, &link).unwrap();
            assert!(check_outputs(&ins, &[Named::new("--csv", &link)]).is_err());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
