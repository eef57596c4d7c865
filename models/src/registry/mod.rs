//! The profile registry: embedded profiles plus user files, parsed, validated and
//! resolved into [`crate::spec`] types. Never panics on bad input.
//!
//! `parse` reads one file; `resolve` checks one part's numbers and follows its
//! references; `system` and `node` resolve a system into its node topology.

mod collective;
mod node;
mod parse;
mod resolve;
mod system;

use crate::error::{did_you_mean, ProfileError, ProfileErrors, Seg};
use crate::schema::*;
use crate::spec::*;
use resolve::Resolver;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use parse::parse_profile;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Every shipped profile: (path relative to hw-profiles/, contents).
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    embedded::EMBEDDED
}

/// docs/sources.md, the catalogue of the sources profiles cite.
pub fn embedded_sources() -> &'static str {
    include_str!("../../../docs/sources.md")
}

/// One loaded profile file.
#[derive(Debug, Clone)]
pub struct Entry {
    /// File label used in errors: a user path, or `embedded:gpus/h100-sxm.toml`.
    pub file: String,
    pub text: String,
    pub profile: Profile,
    pub embedded: bool,
}

/// All known profiles, by name (names are unique across kinds).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: BTreeMap<String, Entry>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// All shipped profiles. Errors here are bugs in hw-profiles/ (tests keep it clean).
    pub fn embedded() -> Result<Registry, ProfileErrors> {
        let mut reg = Registry::new();
        let mut errors = Vec::new();
        for (path, text) in embedded_files() {
            if let Err(e) = reg.add_text(&format!("embedded:{path}"), text, true) {
                errors.push(e);
            }
        }
        ProfileErrors(errors).or_ok(reg)
    }

    /// The shipped profiles extended and overridden by user files or directories.
    pub fn with_user_paths(paths: &[PathBuf]) -> Result<Registry, ProfileErrors> {
        let mut reg = Registry::embedded()?;
        let mut errors = Vec::new();
        for p in paths {
            errors.extend(reg.add_path(p));
        }
        ProfileErrors(errors).or_ok(reg)
    }

    /// Adds one profile's text. A user profile with the name of an embedded one of the
    /// same kind replaces it; any other name clash is an error.
    pub fn add_text(&mut self, file: &str, text: &str, embedded: bool) -> Result<(), ProfileError> {
        let profile = parse_profile(file, text)?;
        let name = profile.name().to_string();
        if let Some(old) = self.entries.get(&name) {
            if old.profile.kind() != profile.kind() || !old.embedded || embedded {
                return Err(name_clash(file, text, old, &profile));
            }
        }
        let entry = Entry {
            file: file.to_string(),
            text: text.to_string(),
            profile,
            embedded,
        };
        self.entries.insert(name, entry);
        Ok(())
    }

    /// Adds a file, or every `*.toml` under a directory (sorted, recursive).
    pub fn add_path(&mut self, path: &Path) -> ProfileErrors {
        let mut files = Vec::new();
        if path.is_dir() {
            collect_toml(path, &mut files);
        } else {
            files.push(path.to_path_buf());
        }
        let mut errors = Vec::new();
        for f in files {
            let label = f.display().to_string();
            match memwall_io::input::read_to_string_capped(&f) {
                Ok(text) => {
                    if let Err(e) = self.add_text(&label, &text, false) {
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(ProfileError::file(
                    &label,
                    format!("cannot read file: {e}"),
                    Some("check the path".into()),
                )),
            }
        }
        ProfileErrors(errors)
    }

    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    pub fn names_of(&self, kind: PartKind) -> Vec<&str> {
        self.entries
            .values()
            .filter(|e| e.profile.kind() == kind)
            .map(|e| e.profile.name())
            .collect()
    }

    /// Validates every profile (parts and systems), resolving all references; sorted
    /// by file and line, empty when all is well.
    pub fn validate(&self) -> ProfileErrors {
        let mut errors = Vec::new();
        for e in self.entries.values() {
            let mut r = Resolver::new(self, e);
            r.entry();
            errors.extend(r.into_errors());
        }
        errors.sort_by(|a, b| {
            (&a.file, a.line, &a.field, &a.message).cmp(&(&b.file, b.line, &b.field, &b.message))
        });
        errors.dedup();
        ProfileErrors(errors)
    }

    /// The entry called `name` resolved by `f`, which is given its profile.
    fn resolved<T>(
        &self,
        name: &str,
        kind: PartKind,
        f: impl FnOnce(&mut Resolver<'_>, &Profile) -> Option<T>,
    ) -> Result<T, ProfileErrors> {
        let e = match self.entries.get(name) {
            Some(e) if e.profile.kind() == kind => e,
            _ => {
                let hint = hint_for_names(name, &self.names_of(kind));
                let message = format!("no {kind} profile named \"{name}\"");
                return Err(ProfileError::file("(lookup)", message, Some(hint)).into());
            }
        };
        let mut r = Resolver::new(self, e);
        let v = f(&mut r, &e.profile);
        r.finish_opt(v)
    }

    /// A resolved system.
    pub fn system(&self, name: &str) -> Result<SystemSpec, ProfileErrors> {
        self.resolved(name, PartKind::System, |r, p| match p {
            Profile::System(s) => r.system(s, 0),
            _ => None,
        })
    }

    /// A resolved GPU part.
    pub fn gpu(&self, name: &str) -> Result<GpuSpec, ProfileErrors> {
        self.resolved(name, PartKind::Gpu, |r, p| match p {
            Profile::Gpu(g) => r.gpu(g),
            _ => None,
        })
    }

    /// A resolved host part.
    pub fn host(&self, name: &str) -> Result<HostSpec, ProfileErrors> {
        self.resolved(name, PartKind::Host, |r, p| match p {
            Profile::Host(h) => r.host(h),
            _ => None,
        })
    }

    /// A resolved link part.
    pub fn link(&self, name: &str) -> Result<LinkSpec, ProfileErrors> {
        self.resolved(name, PartKind::Link, |r, p| match p {
            Profile::Link(l) => r.link(l),
            _ => None,
        })
    }

    /// A resolved NIC part.
    pub fn nic(&self, name: &str) -> Result<NicSpec, ProfileErrors> {
        self.resolved(name, PartKind::Nic, |r, p| match p {
            Profile::Nic(n) => r.nic(n),
            _ => None,
        })
    }

    /// A resolved NVMe part.
    pub fn nvme(&self, name: &str) -> Result<NvmeSpec, ProfileErrors> {
        self.resolved(name, PartKind::Nvme, |r, p| match p {
            Profile::Nvme(d) => r.nvme(d),
            _ => None,
        })
    }

    /// A resolved fabric part.
    pub fn fabric(&self, name: &str) -> Result<FabricSpec, ProfileErrors> {
        self.resolved(name, PartKind::Fabric, |r, p| match p {
            Profile::Fabric(f) => r.fabric(f),
            _ => None,
        })
    }
}

/// A profile named like one already loaded, where that is not an override.
fn name_clash(file: &str, text: &str, old: &Entry, new: &Profile) -> ProfileError {
    let hint = if old.profile.kind() != new.kind() {
        "names are unique across kinds; pick another name"
    } else {
        "a user file overrides a shipped profile of the same kind; two user files cannot share a name"
    };
    let message = format!(
        "name \"{}\" is already used by the {} profile in {}",
        new.name(),
        old.profile.kind(),
        old.file
    );
    ProfileError::at(
        file,
        text,
        &[Seg::from("name")],
        message,
        Some(hint.to_string()),
    )
}

/// "did you mean" plus the known names of a kind.
fn hint_for_names(name: &str, known: &[&str]) -> String {
    let list = known.join(", ");
    match did_you_mean(name, known.iter().copied()) {
        Some(b) => format!("did you mean \"{b}\"? known: {list}"),
        None if known.is_empty() => "no profiles of this kind are loaded".into(),
        None => format!("known: {list}"),
    }
}

fn collect_toml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    v.sort();
    for p in v {
        if p.is_dir() {
            collect_toml(&p, out);
        } else if p.extension().and_then(|e| e.to_str()) == Some("toml") {
            out.push(p);
        }
    }
}
