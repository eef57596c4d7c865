//! Where model configs come from: the shipped ones (every `configs/*.toml`, embedded by
//! `tools/build/embed.rs`), files and folders the user adds at run time (`--models PATH`),
//! which extend or override the shipped ones by name (the file's stem), and a path given
//! in place of a name (`model = "my-models/foo.toml"`, relative to the file that names it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::{ModelConfig, ModelError};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// The shipped configs: (name, TOML text), by name.
pub fn builtin_models() -> impl Iterator<Item = (&'static str, &'static str)> {
    embedded::EMBEDDED
        .iter()
        .map(|(file, text)| (file.trim_end_matches(".toml"), *text))
}

/// One known model: where its text came from, and the text.
#[derive(Debug, Clone)]
struct Entry {
    origin: String,
    text: String,
}

/// Model configs by name: the shipped ones plus the user's.
#[derive(Debug, Clone)]
pub struct ModelRegistry {
    entries: BTreeMap<String, Entry>,
}

impl Default for ModelRegistry {
    fn default() -> Self {
        Self::builtin()
    }
}

impl ModelRegistry {
    /// The shipped configs only.
    pub fn builtin() -> Self {
        let entries = builtin_models()
            .map(|(name, text)| {
                let origin = format!("embedded:workloads/llm/configs/{name}.toml");
                let text = text.to_string();
                (name.to_string(), Entry { origin, text })
            })
            .collect();
        ModelRegistry { entries }
    }

    /// The shipped configs, extended or overridden by every `*.toml` in `paths` (files,
    /// or folders searched recursively). Each user file is parsed and validated now, so a
    /// broken file fails at start-up naming its line and field, not when first used.
    pub fn with_user_paths(paths: &[PathBuf]) -> Result<Self, ModelError> {
        let mut reg = Self::builtin();
        for p in paths {
            for file in toml_files(p)? {
                reg.add_file(&file)?;
            }
        }
        Ok(reg)
    }

    fn add_file(&mut self, file: &Path) -> Result<(), ModelError> {
        let origin = file.display().to_string();
        let text = read(file)?;
        ModelConfig::from_toml_str(&origin, &text)?;
        let name = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.entries.insert(name, Entry { origin, text });
        Ok(())
    }

    /// Every known model, shipped and the user's: (name, TOML text), by name. What a
    /// result cached under these models must be keyed on.
    pub fn texts(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|(n, e)| (n.as_str(), e.text.as_str()))
    }

    /// Known names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.entries.keys().map(String::as_str).collect()
    }

    /// Where the model `name` comes from (`embedded:...` or the user's path).
    pub fn origin(&self, name: &str) -> Option<&str> {
        self.entries.get(name).map(|e| e.origin.as_str())
    }

    /// A model by name, or by path to a model file (`*.toml`, or anything with a `/`);
    /// a relative path is taken from `base` (the folder of the file that names it) when
    /// it is not found from the working directory.
    pub fn resolve(
        &self,
        name_or_path: &str,
        base: Option<&Path>,
    ) -> Result<ModelConfig, ModelError> {
        if let Some(e) = self.entries.get(name_or_path) {
            return ModelConfig::from_toml_str(&e.origin, &e.text);
        }
        if looks_like_path(name_or_path) {
            let file = relative_to(name_or_path, base);
            let text = read(&file)?;
            return ModelConfig::from_toml_str(&file.display().to_string(), &text);
        }
        Err(ModelError::Unknown(
            name_or_path.to_string(),
            self.names().join(", "),
        ))
    }
}

/// Whether a config reference names a file rather than a shipped config: it ends in
/// `.toml` or has a path separator. The one rule for models and training configs.
pub fn looks_like_path(s: &str) -> bool {
    s.ends_with(".toml") || s.contains('/') || s.contains('\\')
}

fn relative_to(p: &str, base: Option<&Path>) -> PathBuf {
    let pb = PathBuf::from(p);
    match base {
        Some(b) if pb.is_relative() && !pb.exists() => b.join(pb),
        _ => pb,
    }
}

fn read(file: &Path) -> Result<String, ModelError> {
    memwall_io::input::read_to_string_capped(file).map_err(|e| ModelError::Io {
        file: file.display().to_string(),
        problem: e.to_string(),
    })
}

/// `path` itself if it is a file, else every `*.toml` below it, sorted.
fn toml_files(path: &Path) -> Result<Vec<PathBuf>, ModelError> {
    let meta = std::fs::metadata(path).map_err(|e| ModelError::Io {
        file: path.display().to_string(),
        problem: format!("{e} (--models takes a model TOML file or a folder of them)"),
    })?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let rd = std::fs::read_dir(&dir).map_err(|e| ModelError::Io {
            file: dir.display().to_string(),
            problem: e.to_string(),
        })?;
        for entry in rd.filter_map(Result::ok) {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("memwall-llm-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_copy_at_another_path_is_the_same_model() {
        let reg = ModelRegistry::builtin();
        let d = tmp("copy");
        let (_, text) = builtin_models()
            .find(|(n, _)| *n == "qwen3-4b-dense")
            .unwrap();
        std::fs::write(d.join("mine.toml"), text).unwrap();
        let by_name = reg.resolve("qwen3-4b-dense", None).unwrap();
        let by_path = reg.resolve("mine.toml", Some(&d)).unwrap();
        assert_eq!(by_name, by_path);
        let user = ModelRegistry::with_user_paths(std::slice::from_ref(&d)).unwrap();
        assert_eq!(user.resolve("mine", None).unwrap(), by_name);
        assert!(user.origin("mine").unwrap().ends_with("mine.toml"));
        let names = |r: &ModelRegistry| r.texts().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
        let mut want = names(&reg);
        want.push("mine".into());
        want.sort();
        assert_eq!(names(&user), want);
    }

    #[test]
    fn a_user_file_overrides_the_shipped_one_of_its_name() {
        let d = tmp("override");
        let (_, text) = builtin_models()
            .find(|(n, _)| *n == "qwen3-4b-dense")
            .unwrap();
        let changed = text.replace("vocab_size = 151936", "vocab_size = 151000");
        std::fs::write(d.join("qwen3-4b-dense.toml"), changed).unwrap();
        let user = ModelRegistry::with_user_paths(&[d]).unwrap();
        assert_eq!(
            user.resolve("qwen3-4b-dense", None).unwrap().vocab_size,
            151000
        );
    }

    #[test]
    fn unknown_names_and_missing_files_are_clear_errors() {
        let reg = ModelRegistry::builtin();
        let e = reg.resolve("gpt-9", None).unwrap_err().to_string();
        assert!(e.contains("gpt-9") && e.contains("deepseek-v3"), "{e}");
        let e = reg.resolve("nowhere/x.toml", None).unwrap_err().to_string();
        assert!(e.contains("nowhere/x.toml"), "{e}");
        let e = ModelRegistry::with_user_paths(&[PathBuf::from("/no/such/dir")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/no/such/dir") && e.contains("--models"), "{e}");
    }
}
