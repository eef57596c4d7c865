//! Parsing one profile file: TOML and serde errors turned into [`ProfileError`]s with a
//! field path, a line and a hint.

use crate::error::{did_you_mean, line_col, ProfileError, Seg};
use crate::schema::*;
use crate::units::HINT_SEP;
use serde::de::DeserializeOwned;

fn split_hint(msg: &str) -> (String, Option<String>) {
    match msg.split_once(HINT_SEP) {
        Some((m, h)) => (m.to_string(), Some(h.to_string())),
        None => (msg.to_string(), None),
    }
}

fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

fn join_field(f: &str, k: &str) -> String {
    if f.is_empty() {
        k.to_string()
    } else {
        format!("{f}.{k}")
    }
}

/// `allowed`, each quoted with `quote`, joined, with a did-you-mean for `bad` first.
fn allowed_hint(bad: &str, allowed: &[&str], quote: char, label: &str) -> String {
    let list = allowed
        .iter()
        .map(|a| format!("{quote}{a}{quote}"))
        .collect::<Vec<_>>()
        .join(", ");
    match did_you_mean(bad, allowed.iter().copied()) {
        Some(best) => format!("did you mean {quote}{best}{quote}? {label}: {list}"),
        None => format!("{label}: {list}"),
    }
}

/// The hint for a missing field: what to add, with an example.
fn missing_field_hint(missing: &str) -> String {
    match missing {
        "basis" => {
            "add basis = \"peak\" (one of peak, spec, measured, estimate, derived, user)".into()
        }
        "source" => {
            "add source = \"R1\" (a reference id listed in docs/sources.md, or a short citation)"
                .into()
        }
        "value" => "add value = \"...\" written with a unit, e.g. value = \"3.35 TB/s\"".into(),
        "peak" => "add peak = { value = \"...\", basis = \"peak\", source = \"...\" }".into(),
        m => format!("add `{m} = ...` (see hw-profiles/README.md)"),
    }
}

/// What serde said, reworded: (field, message, hint).
fn reword(
    mut field: String,
    mut message: String,
    mut hint: Option<String>,
) -> (String, String, Option<String>) {
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let names = backticked(rest);
        if let Some((bad, allowed)) = names.split_first() {
            if !(field == *bad || field.ends_with(&format!(".{bad}"))) {
                field = join_field(&field, bad);
            }
            hint = Some(allowed_hint(bad, allowed, '`', "allowed fields here"));
            message = format!("unknown field `{bad}`");
        }
    } else if let Some(rest) = message.strip_prefix("missing field ") {
        if let Some(missing) = backticked(rest).first() {
            field = join_field(&field, missing);
            hint = Some(missing_field_hint(missing));
        }
    } else if let Some(rest) = message.strip_prefix("unknown variant ") {
        let names = backticked(rest);
        if let Some((bad, allowed)) = names.split_first() {
            hint = Some(allowed_hint(bad, allowed, '"', "allowed"));
        }
    } else if message.starts_with("invalid type") && hint.is_none() {
        hint = Some("see hw-profiles/README.md for the expected form of this field".into());
    }
    (field, message, hint)
}

/// Turns a toml/serde error into a [`ProfileError`] with a field path and a hint.
fn convert_de_error(file: &str, text: &str, path: String, e: toml::de::Error) -> ProfileError {
    let message = memwall_io::input::toml_message(e.message(), text, e.span().map(|r| r.start));
    let (message, hint) = split_hint(&message);
    let field = if path == "." { String::new() } else { path };
    let (field, message, hint) = reword(field, message, hint);
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

/// The file's `kind`, checked against the known kinds.
fn profile_kind(file: &str, text: &str, table: &toml::Table) -> Result<PartKind, ProfileError> {
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
        Some(toml::Value::String(s)) => s,
        Some(_) => {
            return Err(ProfileError::at(
                file,
                text,
                &["kind".into()],
                "`kind` must be a string",
                Some(format!("one of {kinds}")),
            ))
        }
    };
    PartKind::parse(kind).ok_or_else(|| {
        let dym = did_you_mean(kind, PartKind::ALL.iter().map(|k| k.as_str()))
            .map(|b| format!("did you mean \"{b}\"? "))
            .unwrap_or_default();
        ProfileError::at(
            file,
            text,
            &["kind".into()],
            format!("unknown kind \"{kind}\""),
            Some(format!("{dym}kinds: {kinds}")),
        )
    })
}

/// Profile names are lowercase words: they are typed on command lines and in files.
fn check_name(file: &str, text: &str, name: &str) -> Result<(), ProfileError> {
    let ok = !name.is_empty()
        && name.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_' || c == '.'
        });
    if ok {
        return Ok(());
    }
    Err(ProfileError::at(
        file,
        text,
        &[Seg::from("name")],
        format!("invalid name \"{name}\""),
        Some("use lowercase letters, digits, '-', '_' or '.', e.g. name = \"h100-sxm\"".into()),
    ))
}

/// Parses one profile file's text.
pub fn parse_profile(file: &str, text: &str) -> Result<Profile, ProfileError> {
    let table: toml::Table = match toml::from_str(text) {
        Ok(t) => t,
        Err(e) => return Err(convert_de_error(file, text, String::new(), e)),
    };
    let profile = match profile_kind(file, text, &table)? {
        PartKind::Gpu => Profile::Gpu(de(file, text)?),
        PartKind::Host => Profile::Host(de(file, text)?),
        PartKind::Link => Profile::Link(de(file, text)?),
        PartKind::Nic => Profile::Nic(de(file, text)?),
        PartKind::Nvme => Profile::Nvme(de(file, text)?),
        PartKind::Fabric => Profile::Fabric(de(file, text)?),
        PartKind::System => Profile::System(de(file, text)?),
    };
    check_name(file, text, profile.name())?;
    Ok(profile)
}
