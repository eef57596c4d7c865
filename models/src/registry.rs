//! The profile registry: embedded profiles plus user files, parsed, validated and
//! resolved into [`crate::spec`] types. Never panics on bad input.

use crate::error::{did_you_mean, line_col, locate, path_string, ProfileError, Seg};
use crate::quantity::{Basis, Tagged, KNOWN_TAGS};
use crate::schema::*;
use crate::spec::*;
use crate::units::HINT_SEP;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// Every shipped profile: (path relative to hw-profiles/, contents).
pub fn embedded_files() -> &'static [(&'static str, &'static str)] {
    embedded::EMBEDDED
}

/// HBM capacity above this is absurd for one GPU.
const MAX_HBM_BYTES: u64 = 100_000_000_000_000;
/// DRAM above this per socket is absurd.
const MAX_DRAM_BYTES: u64 = 100_000_000_000_000;

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

fn split_hint(msg: &str) -> (String, Option<String>) {
    match msg.split_once(HINT_SEP) {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (msg.to_string(), None),
    }
}

fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// Turns a toml/serde error into a [`ProfileError`] with a field path and a hint.
fn convert_de_error(file: &str, text: &str, path: String, e: toml::de::Error) -> ProfileError {
    let (mut message, mut hint) = split_hint(e.message().trim());
    let mut field = if path == "." { String::new() } else { path };
    let join = |f: &str, k: &str| {
        if f.is_empty() {
            k.to_string()
        } else {
            format!("{f}.{k}")
        }
    };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names = backticked(rest);
        if let Some((bad, allowed)) = names.split_first() {
            if !(field == *bad || field.ends_with(&format!(".{bad}"))) {
                field = join(&field, bad);
            }
            let list = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            hint = Some(match did_you_mean(bad, allowed.iter().copied()) {
                Some(best) => format!("did you mean `{best}`? allowed fields here: {list}"),
                None => format!("allowed fields here: {list}"),
            });
            message = format!("unknown field `{bad}`");
        }
    } else if let Some(rest) = message.strip_prefix("missing field ") {
        if let Some(missing) = backticked(rest).first() {
            field = join(&field, missing);
            hint = Some(match *missing {
                "basis" => {
                    "add basis = \"peak\" (one of peak, spec, measured, estimate, derived, user)"
                        .into()
                }
                "source" => {
                    "add source = \"R1\" (a hardware.md reference id or a short citation)".into()
                }
                "value" => {
                    "add value = \"...\" written with a unit, e.g. value = \"3.35 TB/s\"".into()
                }
                "peak" => {
                    "add peak = { value = \"...\", basis = \"peak\", source = \"...\" }".into()
                }
                m => format!("add `{m} = ...` (see hw-profiles/README.md)"),
            });
        }
    } else if let Some(rest) = message.strip_prefix("unknown variant ") {
        let names = backticked(rest);
        if let Some((bad, allowed)) = names.split_first() {
            let list = allowed
                .iter()
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(", ");
            hint = Some(match did_you_mean(bad, allowed.iter().copied()) {
                Some(best) => format!("did you mean \"{best}\"? allowed: {list}"),
                None => format!("allowed: {list}"),
            });
        }
    } else if message.starts_with("invalid type") && hint.is_none() {
        hint = Some("see hw-profiles/README.md for the expected form of this field".into());
    }
    let (line, column) = match e.span() {
        Some(sp) => {
            let (l, c) = line_col(text, sp.start);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    ProfileError {
        file: file.to_string(),
        line,
        column,
        field,
        message,
        hint,
    }
}

fn de<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, ProfileError> {
    let d = toml::Deserializer::new(text);
    serde_path_to_error::deserialize::<_, T>(d).map_err(|e| {
        let path = e.path().to_string();
        convert_de_error(file, text, path, e.into_inner())
    })
}

/// Parses one profile file's text.
pub fn parse_profile(file: &str, text: &str) -> Result<Profile, ProfileError> {
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => return Err(convert_de_error(file, text, String::new(), e)),
    };
    let at = |path: &[Seg], message: String, hint: Option<String>| {
        let (line, column) = locate(text, path)
            .map(|sp| {
                let (l, c) = line_col(text, sp.start);
                (Some(l), Some(c))
            })
            .unwrap_or((None, None));
        ProfileError {
            file: file.to_string(),
            line,
            column,
            field: path_string(path),
            message,
            hint,
        }
    };
    let kinds = PartKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let kind = match table.get("kind") {
        None => {
            return Err(ProfileError {
                file: file.to_string(),
                line: Some(1),
                column: Some(1),
                field: "kind".into(),
                message: "missing field `kind`".into(),
                hint: Some(format!(
                    "start the file with kind = \"gpu\" (one of {kinds})"
                )),
            })
        }
        Some(toml::Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(at(
                &["kind".into()],
                "`kind` must be a string".into(),
                Some(format!("one of {kinds}")),
            ))
        }
    };
    let Some(k) = PartKind::parse(&kind) else {
        let dym = did_you_mean(&kind, PartKind::ALL.iter().map(|k| k.as_str()))
            .map(|b| format!("did you mean \"{b}\"? "))
            .unwrap_or_default();
        return Err(at(
            &["kind".into()],
            format!("unknown kind \"{kind}\""),
            Some(format!("{dym}kinds: {kinds}")),
        ));
    };
    let profile = match k {
        PartKind::Gpu => Profile::Gpu(de(file, text)?),
        PartKind::Host => Profile::Host(de(file, text)?),
        PartKind::Link => Profile::Link(de(file, text)?),
        PartKind::Nic => Profile::Nic(de(file, text)?),
        PartKind::Nvme => Profile::Nvme(de(file, text)?),
        PartKind::Fabric => Profile::Fabric(de(file, text)?),
        PartKind::System => Profile::System(de(file, text)?),
    };
    let name = profile.name();
    let ok = !name.is_empty()
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
        });
    if !ok {
        return Err(at(
            &["name".into()],
            format!("invalid name \"{name}\""),
            Some("use lowercase letters, digits, '-', '_' or '.', e.g. name = \"h100-sxm\"".into()),
        ));
    }
    Ok(profile)
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// All shipped profiles. Errors here are bugs in hw-profiles/ (tests keep it clean).
    pub fn embedded() -> Result<Registry, Vec<ProfileError>> {
        let mut reg = Registry::new();
        let mut errors = Vec::new();
        for (path, text) in embedded_files() {
            if let Err(e) = reg.add_text(&format!("embedded:{path}"), text, true) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(reg)
        } else {
            Err(errors)
        }
    }

    /// The shipped profiles extended and overridden by user files or directories.
    pub fn with_user_paths(paths: &[PathBuf]) -> Result<Registry, Vec<ProfileError>> {
        let mut reg = Registry::embedded()?;
        let mut errors = Vec::new();
        for p in paths {
            errors.extend(reg.add_path(p));
        }
        if errors.is_empty() {
            Ok(reg)
        } else {
            Err(errors)
        }
    }

    /// Adds one profile's text. A user profile with the name of an embedded one of the
    /// same kind replaces it; any other name clash is an error.
    pub fn add_text(&mut self, file: &str, text: &str, embedded: bool) -> Result<(), ProfileError> {
        let profile = parse_profile(file, text)?;
        let name = profile.name().to_string();
        if let Some(old) = self.entries.get(&name) {
            let clash = old.profile.kind() != profile.kind() || !old.embedded || embedded;
            if clash {
                let (line, column) = locate(text, &["name".into()])
                    .map(|sp| {
                        let (l, c) = line_col(text, sp.start);
                        (Some(l), Some(c))
                    })
                    .unwrap_or((None, None));
                return Err(ProfileError {
                    file: file.to_string(),
                    line,
                    column,
                    field: "name".into(),
                    message: format!(
                        "name \"{name}\" is already used by the {} profile in {}",
                        old.profile.kind(),
                        old.file
                    ),
                    hint: Some(if old.profile.kind() != profile.kind() {
                        "names are unique across kinds; pick another name".into()
                    } else {
                        "a user file overrides a shipped profile of the same kind; two user files cannot share a name".into()
                    }),
                });
            }
        }
        self.entries.insert(
            name,
            Entry {
                file: file.to_string(),
                text: text.to_string(),
                profile,
                embedded,
            },
        );
        Ok(())
    }

    /// Adds a file, or every `*.toml` under a directory (sorted, recursive).
    pub fn add_path(&mut self, path: &Path) -> Vec<ProfileError> {
        let mut files = Vec::new();
        if path.is_dir() {
            collect_toml(path, &mut files);
        } else {
            files.push(path.to_path_buf());
        }
        let mut errors = Vec::new();
        for f in files {
            let label = f.display().to_string();
            match std::fs::read_to_string(&f) {
                Ok(text) => {
                    if let Err(e) = self.add_text(&label, &text, false) {
                        errors.push(e);
                    }
                }
                Err(e) => errors.push(ProfileError {
                    file: label,
                    line: None,
                    column: None,
                    field: String::new(),
                    message: format!("cannot read file: {e}"),
                    hint: Some("check the path".into()),
                }),
            }
        }
        errors
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

    /// Validates every profile (parts and systems), resolving all references.
    pub fn validate(&self) -> Vec<ProfileError> {
        let mut errors = Vec::new();
        for e in self.entries.values() {
            if let Err(es) = self.resolve_entry(e) {
                errors.extend(es);
            }
        }
        errors.sort_by(|a, b| {
            (&a.file, a.line, &a.field, &a.message).cmp(&(&b.file, b.line, &b.field, &b.message))
        });
        errors.dedup();
        errors
    }

    fn resolve_entry(&self, e: &Entry) -> Result<(), Vec<ProfileError>> {
        let mut r = Resolver::new(self, e);
        match &e.profile {
            Profile::Gpu(p) => {
                r.gpu(p);
            }
            Profile::Host(p) => {
                r.host(p);
            }
            Profile::Link(p) => {
                r.link(p);
            }
            Profile::Nic(p) => {
                r.nic(p);
            }
            Profile::Nvme(p) => {
                r.nvme(p);
            }
            Profile::Fabric(p) => {
                r.fabric(p);
            }
            Profile::System(p) => {
                r.system(p, 0);
            }
        }
        r.finish(())
    }

    fn lookup_error(&self, name: &str, kind: PartKind) -> ProfileError {
        let known = self.names_of(kind);
        ProfileError {
            file: "(lookup)".into(),
            line: None,
            column: None,
            field: String::new(),
            message: format!("no {kind} profile named \"{name}\""),
            hint: Some(hint_for_names(name, &known)),
        }
    }

    fn entry_of(&self, name: &str, kind: PartKind) -> Result<&Entry, Vec<ProfileError>> {
        match self.entries.get(name) {
            Some(e) if e.profile.kind() == kind => Ok(e),
            _ => Err(vec![self.lookup_error(name, kind)]),
        }
    }

    /// A resolved system.
    pub fn system(&self, name: &str) -> Result<SystemSpec, Vec<ProfileError>> {
        let e = self.entry_of(name, PartKind::System)?;
        let Profile::System(p) = &e.profile else {
            return Err(vec![self.lookup_error(name, e.profile.kind())]);
        };
        let mut r = Resolver::new(self, e);
        let s = r.system(p, 0);
        r.finish_opt(s)
    }

    /// A resolved GPU part.
    pub fn gpu(&self, name: &str) -> Result<GpuSpec, Vec<ProfileError>> {
        let e = self.entry_of(name, PartKind::Gpu)?;
        let Profile::Gpu(p) = &e.profile else {
            return Err(vec![self.lookup_error(name, e.profile.kind())]);
        };
        let mut r = Resolver::new(self, e);
        let s = r.gpu(p);
        r.finish_opt(s)
    }

    /// A resolved host part.
    pub fn host(&self, name: &str) -> Result<HostSpec, Vec<ProfileError>> {
        let e = self.entry_of(name, PartKind::Host)?;
        let Profile::Host(p) = &e.profile else {
            return Err(vec![self.lookup_error(name, e.profile.kind())]);
        };
        let mut r = Resolver::new(self, e);
        let s = r.host(p);
        r.finish_opt(s)
    }

    /// A resolved link part.
    pub fn link(&self, name: &str) -> Result<LinkSpec, Vec<ProfileError>> {
        let e = self.entry_of(name, PartKind::Link)?;
        let Profile::Link(p) = &e.profile else {
            return Err(vec![self.lookup_error(name, e.profile.kind())]);
        };
        let mut r = Resolver::new(self, e);
        let s = r.link(p);
        r.finish_opt(s)
    }

    /// A resolved NIC part.
    pub fn nic(&self, name: &str) -> Result<NicSpec, Vec<ProfileError>> {
        let e = self.entry_of(name, PartKind::Nic)?;
        let Profile::Nic(p) = &e.profile else {
            return Err(vec![self.lookup_error(name, e.profile.kind())]);
        };
        let mut r = Resolver::new(self, e);
        let s = r.nic(p);
        r.finish_opt(s)
    }

    /// A resolved NVMe part.
    pub fn nvme(&self, name: &str) -> Result<NvmeSpec, Vec<ProfileError>> {
        let e = self.entry_of(name, PartKind::Nvme)?;
        let Profile::Nvme(p) = &e.profile else {
            return Err(vec![self.lookup_error(name, e.profile.kind())]);
        };
        let mut r = Resolver::new(self, e);
        let s = r.nvme(p);
        r.finish_opt(s)
    }

    /// A resolved fabric part.
    pub fn fabric(&self, name: &str) -> Result<FabricSpec, Vec<ProfileError>> {
        let e = self.entry_of(name, PartKind::Fabric)?;
        let Profile::Fabric(p) = &e.profile else {
            return Err(vec![self.lookup_error(name, e.profile.kind())]);
        };
        let mut r = Resolver::new(self, e);
        let s = r.fabric(p);
        r.finish_opt(s)
    }
}

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

/// Resolves one file's profile, collecting errors located in that file.
struct Resolver<'a> {
    reg: &'a Registry,
    entry: &'a Entry,
    errors: Vec<ProfileError>,
}

type P = Vec<Seg>;

fn p(parts: &[&str]) -> P {
    parts.iter().map(|s| Seg::Key(s.to_string())).collect()
}

fn with(base: &[Seg], more: &[&str]) -> P {
    let mut v = base.to_vec();
    v.extend(more.iter().map(|s| Seg::Key(s.to_string())));
    v
}

fn to_u32(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl<'a> Resolver<'a> {
    fn new(reg: &'a Registry, entry: &'a Entry) -> Self {
        Resolver {
            reg,
            entry,
            errors: Vec::new(),
        }
    }

    fn finish<T>(self, v: T) -> Result<T, Vec<ProfileError>> {
        if self.errors.is_empty() {
            Ok(v)
        } else {
            Err(self.errors)
        }
    }

    fn finish_opt<T>(self, v: Option<T>) -> Result<T, Vec<ProfileError>> {
        match v {
            Some(v) if self.errors.is_empty() => Ok(v),
            _ => {
                let mut errs = self.errors;
                if errs.is_empty() {
                    errs.push(ProfileError {
                        file: self.entry.file.clone(),
                        line: None,
                        column: None,
                        field: String::new(),
                        message: "profile could not be resolved".into(),
                        hint: None,
                    });
                }
                Err(errs)
            }
        }
    }

    fn err(&mut self, path: &[Seg], message: impl Into<String>, hint: impl Into<Option<String>>) {
        let text = &self.entry.text;
        let (line, column) = locate(text, path)
            .map(|sp| {
                let (l, c) = line_col(text, sp.start);
                (Some(l), Some(c))
            })
            .unwrap_or((None, None));
        self.errors.push(ProfileError {
            file: self.entry.file.clone(),
            line,
            column,
            field: path_string(path),
            message: message.into(),
            hint: hint.into(),
        });
    }

    /// Provenance rules shared by every number.
    fn tagged<Q>(&mut self, path: &[Seg], t: &Tagged<Q>) {
        if t.source.trim().is_empty() {
            self.err(
                &with(path, &["source"]),
                "empty source",
                Some(
                    "cite a hardware.md reference id (e.g. \"R1\") or a short citation".to_string(),
                ),
            );
        }
        if let Some(tag) = &t.tag {
            if !KNOWN_TAGS.contains(&tag.as_str()) {
                self.err(
                    &with(path, &["tag"]),
                    format!("unknown tag \"{tag}\""),
                    Some(format!("hardware.md tags: {}", KNOWN_TAGS.join(", "))),
                );
            }
        }
        if t.basis == Basis::Estimate && t.note.as_deref().map(str::trim).unwrap_or("").is_empty() {
            self.err(
                &with(path, &["note"]),
                "an estimate needs a note saying why",
                Some("add note = \"...\" explaining the assumption".to_string()),
            );
        }
    }

    fn count(
        &mut self,
        path: &[Seg],
        t: &Tagged<crate::quantity::Count>,
        min: u64,
        max: u64,
    ) -> u64 {
        self.tagged(path, t);
        let v = t.value.0;
        if v < min || v > max {
            self.err(
                &with(path, &["value"]),
                format!("{v} is out of range"),
                Some(format!("expected a whole number from {min} to {max}")),
            );
        }
        v
    }

    fn rate<Q: Copy>(&mut self, path: &[Seg], pa: &PeakAchievable<Q>, get: fn(Q) -> u64) -> Rate {
        self.tagged(&with(path, &["peak"]), &pa.peak);
        let peak = get(pa.peak.value);
        let achievable = match (&pa.achievable, &pa.efficiency) {
            (Some(a), None) => {
                self.tagged(&with(path, &["achievable"]), a);
                let v = get(a.value);
                if v > peak {
                    self.err(
                        &with(path, &["achievable", "value"]),
                        "achievable figure exceeds the peak",
                        Some("check both numbers; achievable is at most the peak".to_string()),
                    );
                }
                v
            }
            (None, Some(f)) => {
                self.tagged(&with(path, &["efficiency"]), f);
                if f.value.0 == 0 {
                    self.err(
                        &with(path, &["efficiency", "value"]),
                        "efficiency of 0 would make every transfer infinite",
                        Some("write a fraction above 0, e.g. 0.88".to_string()),
                    );
                }
                crate::units::apply_fraction(peak, f.value.0).max(1)
            }
            (Some(_), Some(_)) => {
                self.err(
                    path,
                    "both `achievable` and `efficiency` are given",
                    Some(
                        "give exactly one: the measured figure or the fraction of peak".to_string(),
                    ),
                );
                peak
            }
            (None, None) => {
                self.err(
                    path,
                    "missing `achievable` or `efficiency`",
                    Some("peak and achievable differ: add efficiency = { value = 0.88, basis = \"estimate\", source = \"hardware.md §11\", note = \"...\" } or achievable = { value = \"...\", basis = \"measured\", source = \"...\" }".to_string()),
                );
                peak
            }
        };
        Rate { peak, achievable }
    }

    /// Follows a reference to a part of `kind`, returning its entry.
    fn reference(&mut self, path: &[Seg], name: &str, kind: PartKind) -> Option<&'a Entry> {
        match self.reg.entries.get(name) {
            Some(e) if e.profile.kind() == kind => Some(e),
            Some(e) => {
                self.err(
                    path,
                    format!("\"{name}\" is a {} profile, not a {kind}", e.profile.kind()),
                    Some(hint_for_names(name, &self.reg.names_of(kind))),
                );
                None
            }
            None => {
                self.err(
                    path,
                    format!("unknown {kind} \"{name}\""),
                    Some(hint_for_names(name, &self.reg.names_of(kind))),
                );
                None
            }
        }
    }

    /// Resolves a referenced part in its own file's context; its errors are kept.
    fn sub<T>(
        &mut self,
        e: &'a Entry,
        f: impl FnOnce(&mut Resolver<'a>) -> Option<T>,
    ) -> Option<T> {
        let mut r = Resolver::new(self.reg, e);
        let v = f(&mut r);
        self.errors.extend(r.errors);
        v
    }

    fn link_ref(&mut self, path: &[Seg], name: &str, allowed: &[LinkType]) -> Option<LinkSpec> {
        let e = self.reference(path, name, PartKind::Link)?;
        let Profile::Link(lp) = &e.profile else {
            return None;
        };
        if !allowed.contains(&lp.link_type) {
            let names: Vec<&str> = allowed.iter().map(|t| t.as_str()).collect();
            let fitting: Vec<&str> = self
                .reg
                .entries
                .values()
                .filter_map(|x| match &x.profile {
                    Profile::Link(l) if allowed.contains(&l.link_type) => Some(l.name.as_str()),
                    _ => None,
                })
                .collect();
            self.err(
                path,
                format!(
                    "link \"{name}\" is of type {}, but {} is required here",
                    lp.link_type.as_str(),
                    names.join(" or ")
                ),
                Some(format!("links that fit: {}", fitting.join(", "))),
            );
            return None;
        }
        self.sub(e, |r| r.link(lp))
    }

    fn link(&mut self, p_: &LinkProfile) -> Option<LinkSpec> {
        let bandwidth = self.rate(&p(&["bandwidth"]), &p_.bandwidth, |q| q.0);
        let reverse_achievable = match &p_.reverse_achievable {
            Some(t) => {
                self.tagged(&p(&["reverse_achievable"]), t);
                if t.value.0 > bandwidth.peak {
                    self.err(
                        &p(&["reverse_achievable", "value"]),
                        "reverse achievable exceeds the per-direction peak",
                        None,
                    );
                }
                t.value.0
            }
            None => bandwidth.achievable,
        };
        self.tagged(&p(&["latency"]), &p_.latency);
        let shared_by = match &p_.shared_by {
            Some(t) => self.count(&p(&["shared_by"]), t, 1, 1024),
            None => 1,
        };
        let pcie = match (&p_.pcie, p_.link_type) {
            (Some(d), LinkType::Pcie) => {
                let generation = self.count(&p(&["pcie", "generation"]), &d.generation, 1, 8);
                let lanes = self.count(&p(&["pcie", "lanes"]), &d.lanes, 1, 32);
                for (k, t) in [
                    ("max_payload", &d.max_payload),
                    ("max_read_request", &d.max_read_request),
                    ("tlp_overhead", &d.tlp_overhead),
                ] {
                    self.tagged(&p(&["pcie", k]), t);
                }
                self.tagged(&p(&["pcie", "dma_setup"]), &d.dma_setup);
                if d.max_payload.value.0 == 0 || d.max_read_request.value.0 == 0 {
                    self.err(
                        &p(&["pcie", "max_payload"]),
                        "max payload and max read request must be positive",
                        Some("e.g. \"256 B\" and \"512 B\"".to_string()),
                    );
                }
                Some(PcieSpec {
                    generation: to_u32(generation),
                    lanes: to_u32(lanes),
                    dma_setup_ps: d.dma_setup.value.0,
                    max_payload_bytes: d.max_payload.value.0,
                    max_read_request_bytes: d.max_read_request.value.0,
                    tlp_overhead_bytes: d.tlp_overhead.value.0,
                })
            }
            (None, LinkType::Pcie) => {
                self.err(&p(&["type"]), "a PCIe link needs a [pcie] table", Some("add [pcie] with generation, lanes, dma_setup, max_payload, max_read_request, tlp_overhead".to_string()));
                None
            }
            (Some(_), _) => {
                self.err(
                    &p(&["pcie"]),
                    "[pcie] is only allowed on links of type \"pcie\"",
                    None,
                );
                None
            }
            (None, _) => None,
        };
        Some(LinkSpec {
            name: p_.name.clone(),
            link_type: p_.link_type,
            bandwidth,
            reverse_achievable,
            latency_ps: p_.latency.value.0,
            shared_by: to_u32(shared_by),
            pcie,
        })
    }

    fn flops(
        &mut self,
        path: &[Seg],
        pa: &Option<PeakAchievable<crate::quantity::FlopRate>>,
    ) -> Option<Rate> {
        pa.as_ref().map(|pa| self.rate(path, pa, |q| q.0))
    }

    fn gpu(&mut self, g: &GpuProfile) -> Option<GpuSpec> {
        let sms = g
            .sms
            .as_ref()
            .map(|t| to_u32(self.count(&p(&["sms"]), t, 1, 100_000)));
        if let Some(t) = &g.l2 {
            self.tagged(&p(&["l2"]), t);
        }
        let copy_engines = to_u32(self.count(&p(&["copy_engines"]), &g.copy_engines, 1, 64));
        self.tagged(&p(&["kernel_launch"]), &g.kernel_launch);
        if let Some(t) = &g.tdp {
            self.tagged(&p(&["tdp"]), t);
        }
        self.tagged(&p(&["memory", "capacity"]), &g.memory.capacity);
        let cap = g.memory.capacity.value.0;
        if cap > MAX_HBM_BYTES {
            self.err(
                &p(&["memory", "capacity", "value"]),
                format!(
                    "absurd value {}: GPU memory above 100 TB is not a real part",
                    g.memory.capacity.value
                ),
                Some("check the unit prefix, e.g. \"80 GB\" or \"141 GB\"".to_string()),
            );
        }
        if cap == 0 {
            self.err(
                &p(&["memory", "capacity", "value"]),
                "GPU memory capacity must be positive",
                Some("e.g. \"80 GB\"".to_string()),
            );
        }
        let hbm_bandwidth = self.rate(&p(&["memory", "bandwidth"]), &g.memory.bandwidth, |q| q.0);
        let compute = ComputeSpec {
            bf16: self.flops(&p(&["compute", "bf16"]), &g.compute.bf16),
            fp8: self.flops(&p(&["compute", "fp8"]), &g.compute.fp8),
            fp4: self.flops(&p(&["compute", "fp4"]), &g.compute.fp4),
        };
        if compute.bf16.is_none() && compute.fp8.is_none() && compute.fp4.is_none() {
            self.err(
                &p(&["compute"]),
                "no compute rate given",
                Some("add at least one of bf16, fp8, fp4".to_string()),
            );
        }
        let host_link = self.link_ref(
            &p(&["host_link"]),
            &g.host_link,
            &[LinkType::Pcie, LinkType::NvlinkC2c],
        );
        let scale_up_link = match &g.scale_up_link {
            Some(n) => Some(self.link_ref(
                &p(&["scale_up_link"]),
                n,
                &[LinkType::Nvlink, LinkType::InfinityFabric],
            )?),
            None => None,
        };
        Some(GpuSpec {
            name: g.name.clone(),
            description: g.description.clone(),
            preliminary: g.preliminary,
            sms,
            l2_bytes: g.l2.as_ref().map(|t| t.value.0),
            copy_engines,
            kernel_launch_ps: g.kernel_launch.value.0,
            tdp_mw: g.tdp.as_ref().map(|t| t.value.0),
            memory_type: g.memory.memory_type.clone(),
            hbm_capacity_bytes: cap,
            hbm_bandwidth,
            compute,
            host_link: host_link?,
            scale_up_link,
        })
    }

    fn host(&mut self, h: &HostProfile) -> Option<HostSpec> {
        let cores = to_u32(self.count(&p(&["cores"]), &h.cores, 1, 100_000));
        let pcie_lanes = h
            .pcie_lanes
            .as_ref()
            .map(|t| to_u32(self.count(&p(&["pcie_lanes"]), t, 1, 1024)));
        self.tagged(&p(&["memory", "capacity"]), &h.memory.capacity);
        let cap = h.memory.capacity.value.0;
        if cap > MAX_DRAM_BYTES || cap == 0 {
            self.err(
                &p(&["memory", "capacity", "value"]),
                format!(
                    "absurd DRAM capacity {} per socket",
                    h.memory.capacity.value
                ),
                Some("expected between 1 B and 100 TB, e.g. \"1 TB\"".to_string()),
            );
        }
        let dram_bandwidth = self.rate(&p(&["memory", "bandwidth"]), &h.memory.bandwidth, |q| q.0);
        self.tagged(&p(&["memory", "latency"]), &h.memory.latency);
        let cross_socket = h.cross_socket.as_ref().map(|c| {
            self.tagged(&p(&["cross_socket", "bandwidth"]), &c.bandwidth);
            self.tagged(&p(&["cross_socket", "latency"]), &c.latency);
            CrossSocketSpec {
                bandwidth: c.bandwidth.value.0,
                extra_latency_ps: c.latency.value.0,
            }
        });
        Some(HostSpec {
            name: h.name.clone(),
            description: h.description.clone(),
            cores,
            pcie_lanes,
            memory_type: h.memory.memory_type.clone(),
            dram_capacity_bytes: cap,
            dram_bandwidth,
            dram_latency_ps: h.memory.latency.value.0,
            cross_socket,
        })
    }

    fn nic(&mut self, n: &NicProfile) -> Option<NicSpec> {
        let bandwidth = self.rate(&p(&["bandwidth"]), &n.bandwidth, |q| q.0);
        self.tagged(&p(&["latency"]), &n.latency);
        let ports = n
            .ports
            .as_ref()
            .map(|t| to_u32(self.count(&p(&["ports"]), t, 1, 64)));
        let host_link = self.link_ref(&p(&["host_link"]), &n.host_link, &[LinkType::Pcie])?;
        Some(NicSpec {
            name: n.name.clone(),
            description: n.description.clone(),
            bandwidth,
            latency_ps: n.latency.value.0,
            host_link,
            ports,
        })
    }

    fn nvme(&mut self, d: &NvmeProfile) -> Option<NvmeSpec> {
        if let Some(t) = &d.capacity {
            self.tagged(&p(&["capacity"]), t);
        }
        self.tagged(&p(&["seq_read"]), &d.seq_read);
        if let Some(t) = &d.seq_write {
            self.tagged(&p(&["seq_write"]), t);
        }
        self.tagged(&p(&["random_read_iops"]), &d.random_read_iops);
        if let Some(t) = &d.random_write_iops {
            self.tagged(&p(&["random_write_iops"]), t);
        }
        self.tagged(&p(&["read_latency_qd1"]), &d.read_latency_qd1);
        self.tagged(&p(&["page_size"]), &d.page_size);
        let page = d.page_size.value.0;
        if page == 0 || page > 1 << 20 {
            self.err(
                &p(&["page_size", "value"]),
                format!("page size {} is out of range", d.page_size.value),
                Some("e.g. \"4 KiB\"".to_string()),
            );
        }
        let qd = to_u32(self.count(&p(&["max_queue_depth"]), &d.max_queue_depth, 1, 1 << 24));
        let host_link = self.link_ref(&p(&["host_link"]), &d.host_link, &[LinkType::Pcie])?;
        Some(NvmeSpec {
            name: d.name.clone(),
            description: d.description.clone(),
            host_link,
            capacity_bytes: d.capacity.as_ref().map(|t| t.value.0),
            seq_read: d.seq_read.value.0,
            seq_write: d.seq_write.as_ref().map(|t| t.value.0),
            random_read_iops: d.random_read_iops.value.0,
            random_write_iops: d.random_write_iops.as_ref().map(|t| t.value.0),
            read_latency_qd1_ps: d.read_latency_qd1.value.0,
            page_size_bytes: page,
            max_queue_depth: qd,
        })
    }

    fn fabric(&mut self, f: &FabricProfile) -> Option<FabricSpec> {
        self.tagged(&p(&["latency_same_leaf"]), &f.latency_same_leaf);
        self.tagged(&p(&["latency_cross_leaf"]), &f.latency_cross_leaf);
        let radix = self.count(&p(&["switch_radix"]), &f.switch_radix, 2, 4096);
        let tiers = self.count(&p(&["tiers"]), &f.tiers, 1, 8);
        let planes = f
            .planes
            .as_ref()
            .map(|t| to_u32(self.count(&p(&["planes"]), t, 1, 64)));
        Some(FabricSpec {
            name: f.name.clone(),
            description: f.description.clone(),
            technology: f.technology.clone(),
            latency_same_leaf_ps: f.latency_same_leaf.value.0,
            latency_cross_leaf_ps: f.latency_cross_leaf.value.0,
            switch_radix: to_u32(radix),
            tiers: to_u32(tiers),
            planes,
        })
    }

    fn system(&mut self, s: &SystemProfile, depth: usize) -> Option<SystemSpec> {
        let node = match (&s.node, &s.node_system) {
            (Some(n), None) => self.node(n),
            (None, Some(other)) => {
                if depth > 4 {
                    self.err(
                        &p(&["node_system"]),
                        "node_system chain is too deep (a cycle?)",
                        None,
                    );
                    return None;
                }
                let e = self.reference(&p(&["node_system"]), other, PartKind::System)?;
                let Profile::System(sp) = &e.profile else {
                    return None;
                };
                self.sub(e, |r| r.system(sp, depth + 1)).map(|sys| sys.node)
            }
            (Some(_), Some(_)) => {
                self.err(
                    &p(&["node_system"]),
                    "both [node] and node_system are given",
                    Some("give one: a [node] table or node_system = \"<system name>\"".to_string()),
                );
                None
            }
            (None, None) => {
                self.err(&p(&["name"]), "missing [node] (or node_system)", Some("add a [node] table, or node_system = \"deepseek-h800-node\" to reuse another system's node".to_string()));
                None
            }
        };
        let cluster = match &s.cluster {
            Some(c) => {
                let nodes = self.count(&p(&["cluster", "nodes"]), &c.nodes, 1, 1_000_000);
                let fabric =
                    match self.reference(&p(&["cluster", "fabric"]), &c.fabric, PartKind::Fabric) {
                        Some(e) => {
                            let Profile::Fabric(fp) = &e.profile else {
                                return None;
                            };
                            self.sub(e, |r| r.fabric(fp))
                        }
                        None => None,
                    };
                Some((nodes, fabric, c.topology.clone()))
            }
            None => None,
        };
        let mut economics = EconomicsSpec::default();
        if let Some(ec) = &s.economics {
            if let Some(t) = &ec.purchase {
                self.tagged(&p(&["economics", "purchase"]), t);
                economics.purchase_micro_usd = Some(t.value.0);
            }
            if let Some(t) = &ec.hourly {
                self.tagged(&p(&["economics", "hourly"]), t);
                economics.hourly_micro_usd = Some(t.value.0);
            }
            if let Some(t) = &ec.power {
                self.tagged(&p(&["economics", "power"]), t);
                economics.power_mw = Some(t.value.0);
            }
            if let Some(t) = &ec.rack_units {
                economics.rack_units = Some(to_u32(self.count(
                    &p(&["economics", "rack_units"]),
                    t,
                    1,
                    100,
                )));
            }
        }
        let node = node?;
        let cluster = match cluster {
            Some((nodes, fabric, topology)) => Some(ClusterSpec {
                nodes: to_u32(nodes),
                total_gpus: nodes * node.gpus.len() as u64,
                fabric: fabric?,
                topology,
            }),
            None => None,
        };
        Some(SystemSpec {
            name: s.name.clone(),
            description: s.description.clone(),
            preliminary: s.preliminary,
            node,
            cluster,
            economics,
        })
    }

    fn node(&mut self, n: &NodeProfile) -> Option<NodeSpec> {
        let base = p(&["node"]);
        let gpu_count = self.count(&with(&base, &["gpu_count"]), &n.gpu_count, 1, 1024) as usize;
        let sockets = self.count(&with(&base, &["sockets"]), &n.sockets, 1, 16) as usize;
        let domain = self.count(
            &with(&base, &["nvlink_domain"]),
            &n.nvlink_domain,
            1,
            100_000,
        );
        let gpu = match self.reference(&with(&base, &["gpu"]), &n.gpu, PartKind::Gpu) {
            Some(e) => {
                let Profile::Gpu(gp) = &e.profile else {
                    return None;
                };
                self.sub(e, |r| r.gpu(gp))
            }
            None => None,
        };
        let host = match self.reference(&with(&base, &["host"]), &n.host, PartKind::Host) {
            Some(e) => {
                let Profile::Host(hp) = &e.profile else {
                    return None;
                };
                self.sub(e, |r| r.host(hp))
            }
            None => None,
        };
        let gpu_host_override = match &n.gpu_host_link {
            Some(l) => self.link_ref(&with(&base, &["gpu_host_link"]), l, &[LinkType::Pcie]),
            None => None,
        };
        let (nic, nic_count) = match (&n.nic, &n.nic_count) {
            (Some(name), Some(c)) => {
                let count = self.count(&with(&base, &["nic_count"]), c, 0, 4096) as usize;
                let spec = match self.reference(&with(&base, &["nic"]), name, PartKind::Nic) {
                    Some(e) => {
                        let Profile::Nic(np) = &e.profile else {
                            return None;
                        };
                        self.sub(e, |r| r.nic(np))
                    }
                    None => None,
                };
                (spec, count)
            }
            (None, None) => (None, 0),
            (Some(_), None) => {
                self.err(
                    &with(&base, &["nic"]),
                    "`nic` without `nic_count`",
                    Some(
                        "add nic_count = { value = 8, basis = \"spec\", source = \"...\" }"
                            .to_string(),
                    ),
                );
                (None, 0)
            }
            (None, Some(_)) => {
                self.err(
                    &with(&base, &["nic_count"]),
                    "`nic_count` without `nic`",
                    Some("add nic = \"connectx-7\" (a nic profile name)".to_string()),
                );
                (None, 0)
            }
        };
        let (drive, drive_count) = match (&n.drive, &n.drive_count) {
            (Some(name), Some(c)) => {
                let count = self.count(&with(&base, &["drive_count"]), c, 0, 4096) as usize;
                let spec = match self.reference(&with(&base, &["drive"]), name, PartKind::Nvme) {
                    Some(e) => {
                        let Profile::Nvme(dp) = &e.profile else {
                            return None;
                        };
                        self.sub(e, |r| r.nvme(dp))
                    }
                    None => None,
                };
                (spec, count)
            }
            (None, None) => (None, 0),
            (Some(_), None) => {
                self.err(
                    &with(&base, &["drive"]),
                    "`drive` without `drive_count`",
                    Some(
                        "add drive_count = { value = 8, basis = \"spec\", source = \"...\" }"
                            .to_string(),
                    ),
                );
                (None, 0)
            }
            (None, Some(_)) => {
                self.err(
                    &with(&base, &["drive_count"]),
                    "`drive_count` without `drive`",
                    Some("add drive = \"samsung-pm1743\" (an nvme profile name)".to_string()),
                );
                (None, 0)
            }
        };
        if let Some(t) = &n.dram_per_socket {
            self.tagged(&with(&base, &["dram_per_socket"]), t);
            if t.value.0 == 0 || t.value.0 > MAX_DRAM_BYTES {
                self.err(
                    &with(&base, &["dram_per_socket", "value"]),
                    format!("absurd DRAM capacity {} per socket", t.value),
                    Some("expected between 1 B and 100 TB".to_string()),
                );
            }
        }

        // switches
        let mut gpu_switch: Vec<Option<usize>> = vec![None; gpu_count];
        let mut gpu_c2c: Vec<Option<usize>> = vec![None; gpu_count];
        let mut nic_switch: Vec<Option<usize>> = vec![None; nic_count];
        let mut drive_switch: Vec<Option<usize>> = vec![None; drive_count];
        let mut switches = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for (i, sw) in n.switches.iter().enumerate() {
            let sp: P = vec![
                Seg::Key("node".into()),
                Seg::Key("switches".into()),
                Seg::Index(i),
            ];
            if sw.source.trim().is_empty() {
                self.err(
                    &with(&sp, &["source"]),
                    "empty source",
                    Some("cite where the topology comes from".to_string()),
                );
            }
            if sw.basis == Basis::Estimate && sw.note.is_none() {
                self.err(
                    &with(&sp, &["note"]),
                    "an estimate needs a note saying why",
                    Some("add note = \"...\"".to_string()),
                );
            }
            if names.contains(&sw.name.as_str()) {
                self.err(
                    &with(&sp, &["name"]),
                    format!("duplicate switch name \"{}\"", sw.name),
                    None,
                );
            }
            names.push(&sw.name);
            if sw.socket as usize >= sockets {
                self.err(
                    &with(&sp, &["socket"]),
                    format!(
                        "socket {} does not exist (the node has {sockets})",
                        sw.socket
                    ),
                    Some(format!(
                        "sockets are numbered 0 to {}",
                        sockets.saturating_sub(1)
                    )),
                );
            }
            let uplink = self.link_ref(&with(&sp, &["uplink"]), &sw.uplink, &[LinkType::Pcie]);
            let idx = |field: &str,
                       list: &[u32],
                       owner: &mut Vec<Option<usize>>,
                       what: &str,
                       r: &mut Self| {
                let mut out = Vec::new();
                for &g in list {
                    let g = g as usize;
                    if g >= owner.len() {
                        r.err(
                            &with(&sp, &[field]),
                            format!("{what} {g} does not exist (the node has {})", owner.len()),
                            Some(format!(
                                "{what}s are numbered 0 to {}",
                                owner.len().saturating_sub(1)
                            )),
                        );
                    } else if let Some(prev) = owner[g] {
                        r.err(
                            &with(&sp, &[field]),
                            format!("{what} {g} is already on switch {prev}"),
                            Some(format!("each {what} hangs off one switch")),
                        );
                    } else {
                        owner[g] = Some(i);
                        out.push(g);
                    }
                }
                out
            };
            let gpus = idx("gpus", &sw.gpus, &mut gpu_switch, "gpu", self);
            let nics = idx("nics", &sw.nics, &mut nic_switch, "nic", self);
            let drives = idx("drives", &sw.drives, &mut drive_switch, "drive", self);
            if let Some(uplink) = uplink {
                switches.push(SwitchSpec {
                    index: i,
                    name: sw.name.clone(),
                    socket: sw.socket as usize,
                    uplink,
                    gpus,
                    nics,
                    drives,
                });
            }
        }
        let mut c2c_groups = Vec::new();
        for (i, g) in n.c2c.iter().enumerate() {
            let gp: P = vec![
                Seg::Key("node".into()),
                Seg::Key("c2c".into()),
                Seg::Index(i),
            ];
            if g.source.trim().is_empty() {
                self.err(&with(&gp, &["source"]), "empty source", None);
            }
            if g.socket as usize >= sockets {
                self.err(
                    &with(&gp, &["socket"]),
                    format!(
                        "socket {} does not exist (the node has {sockets})",
                        g.socket
                    ),
                    None,
                );
            }
            let link = self.link_ref(&with(&gp, &["link"]), &g.link, &[LinkType::NvlinkC2c]);
            let mut gpus = Vec::new();
            for &x in &g.gpus {
                let x = x as usize;
                if x >= gpu_count {
                    self.err(
                        &with(&gp, &["gpus"]),
                        format!("gpu {x} does not exist (the node has {gpu_count})"),
                        None,
                    );
                } else if gpu_c2c[x].is_some() {
                    self.err(
                        &with(&gp, &["gpus"]),
                        format!("gpu {x} is already in a C2C group"),
                        None,
                    );
                } else {
                    gpu_c2c[x] = Some(i);
                    gpus.push(x);
                }
            }
            if let Some(link) = link {
                c2c_groups.push(C2cGroupSpec {
                    index: i,
                    socket: g.socket as usize,
                    gpus,
                    link,
                });
            }
        }
        for (k, owner) in nic_switch.iter().enumerate() {
            if owner.is_none() {
                self.err(
                    &with(&base, &["switches"]),
                    format!("nic {k} hangs off no PCIe switch"),
                    Some("list it in some switch's `nics`".to_string()),
                );
            }
        }
        for (k, owner) in drive_switch.iter().enumerate() {
            if owner.is_none() {
                self.err(
                    &with(&base, &["switches"]),
                    format!("drive {k} hangs off no PCIe switch"),
                    Some("list it in some switch's `drives`".to_string()),
                );
            }
        }
        for k in 0..gpu_count {
            if gpu_switch[k].is_none() && gpu_c2c[k].is_none() {
                self.err(
                    &with(&base, &["switches"]),
                    format!("gpu {k} is attached to no PCIe switch and no C2C group"),
                    Some("list it in a switch's `gpus` or a [[node.c2c]] group".to_string()),
                );
            }
        }
        let gpu = gpu?;
        let host = host?;
        if domain > 1 && gpu.scale_up_link.is_none() {
            self.err(
                &with(&base, &["nvlink_domain"]),
                format!(
                    "NVLink domain of {domain} but GPU \"{}\" has no scale_up_link",
                    gpu.name
                ),
                None,
            );
        }
        if !self.errors.is_empty() {
            return None;
        }
        let dram_capacity = n
            .dram_per_socket
            .as_ref()
            .map(|t| t.value.0)
            .unwrap_or(host.dram_capacity_bytes);
        let sockets_v = (0..sockets)
            .map(|i| SocketSpec {
                index: i,
                dram_capacity_bytes: dram_capacity,
                dram_bandwidth: host.dram_bandwidth,
            })
            .collect();
        let find_sw = |i: usize| switches.iter().position(|s: &SwitchSpec| s.index == i);
        let find_c2c = |i: usize| c2c_groups.iter().position(|g: &C2cGroupSpec| g.index == i);
        let mut gpus = Vec::with_capacity(gpu_count);
        for k in 0..gpu_count {
            let switch = gpu_switch[k].and_then(find_sw);
            let c2c_group = gpu_c2c[k].and_then(find_c2c);
            let nics = match switch {
                Some(s) => {
                    let sw = &switches[s];
                    if sw.nics.len() == sw.gpus.len() {
                        let pos = sw.gpus.iter().position(|&g| g == k).unwrap_or(0);
                        sw.nics.get(pos).copied().into_iter().collect()
                    } else {
                        sw.nics.clone()
                    }
                }
                None => Vec::new(),
            };
            let (host_path, socket, host_link) = match (c2c_group, switch) {
                (Some(g), _) => (
                    HostPath::C2c(g),
                    c2c_groups[g].socket,
                    c2c_groups[g].link.clone(),
                ),
                (None, Some(s)) => {
                    let link = gpu_host_override
                        .clone()
                        .unwrap_or_else(|| gpu.host_link.clone());
                    if link.link_type != LinkType::Pcie {
                        self.err(&with(&base, &["gpu_host_link"]), format!("gpu {k} sits on a PCIe switch but its host link \"{}\" is {}", link.name, link.link_type.as_str()), Some("set node.gpu_host_link to a PCIe link, or put the GPU in a [[node.c2c]] group".to_string()));
                    }
                    (HostPath::PcieSwitch(s), switches[s].socket, link)
                }
                (None, None) => return None,
            };
            gpus.push(GpuInstance {
                index: k,
                socket,
                switch,
                c2c_group,
                nics,
                host_path,
                host_link,
            });
        }
        let nics = nic_switch
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.and_then(find_sw).map(|s| NicInstance {
                    index: i,
                    switch: s,
                })
            })
            .collect();
        let drives = drive_switch
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.and_then(find_sw).map(|s| DriveInstance {
                    index: i,
                    switch: s,
                })
            })
            .collect();
        let nvlink = gpu.scale_up_link.clone().map(|link| NvlinkDomainSpec {
            domain_size: to_u32(domain),
            link,
        });
        if !self.errors.is_empty() {
            return None;
        }
        Some(NodeSpec {
            gpu,
            gpus,
            host,
            sockets: sockets_v,
            switches,
            c2c_groups,
            nic,
            nics,
            drive,
            drives,
            nvlink,
        })
    }
}
