//! Profile errors: what is wrong, where (file, line, column, field path) and how to fix it.

use crate::units::HINT_SEP;
use std::fmt;

/// One problem in one profile file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileError {
    /// The file as the user named it (`embedded:gpus/h100-sxm.toml` for shipped ones).
    pub file: String,
    /// 1-based line and column, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Dotted field path, e.g. `memory.bandwidth.peak.value`; empty for whole-file errors.
    pub field: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
            if let Some(c) = self.column {
                write!(f, ":{c}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": field `{}`", self.field)?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "{HINT_SEP}{h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProfileError {}

impl ProfileError {
    /// An error at the value `path` points to in `text` (line and column when found).
    pub fn at(
        file: &str,
        text: &str,
        path: &[Seg],
        message: impl Into<String>,
        hint: impl Into<Option<String>>,
    ) -> ProfileError {
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
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// A whole-file error with no line (unreadable file, failed lookup).
    pub fn file(file: &str, message: impl Into<String>, hint: Option<String>) -> ProfileError {
        ProfileError {
            file: file.to_string(),
            line: None,
            column: None,
            field: String::new(),
            message: message.into(),
            hint,
        }
    }
}

/// Every problem found in one go: what the registry and the validators return.
///
/// Prints one error per line; derefs to the slice so callers can iterate, count and
/// filter as they would a `Vec`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileErrors(pub Vec<ProfileError>);

impl ProfileErrors {
    /// The list as a plain vector.
    pub fn into_vec(self) -> Vec<ProfileError> {
        self.0
    }

    /// `Ok(ok)` when the list is empty, else `Err(self)`.
    pub fn or_ok<T>(self, ok: T) -> Result<T, ProfileErrors> {
        if self.0.is_empty() {
            Ok(ok)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for ProfileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProfileErrors {}

impl std::ops::Deref for ProfileErrors {
    type Target = [ProfileError];
    fn deref(&self) -> &[ProfileError] {
        &self.0
    }
}

impl From<ProfileError> for ProfileErrors {
    fn from(e: ProfileError) -> ProfileErrors {
        ProfileErrors(vec![e])
    }
}

impl From<Vec<ProfileError>> for ProfileErrors {
    fn from(v: Vec<ProfileError>) -> ProfileErrors {
        ProfileErrors(v)
    }
}

impl From<ProfileErrors> for Vec<ProfileError> {
    fn from(e: ProfileErrors) -> Vec<ProfileError> {
        e.0
    }
}

impl IntoIterator for ProfileErrors {
    type Item = ProfileError;
    type IntoIter = std::vec::IntoIter<ProfileError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ProfileErrors {
    type Item = &'a ProfileError;
    type IntoIter = std::slice::Iter<'a, ProfileError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// 1-based (line, column) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut off = offset;
    while off > 0 && !text.is_char_boundary(off) {
        off -= 1;
    }
    let before = &text[..off];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map(|i| before[i + 1..].chars().count())
        .unwrap_or_else(|| before.chars().count())
        + 1;
    (line, col)
}

/// A segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

impl From<&str> for Seg {
    fn from(s: &str) -> Seg {
        Seg::Key(s.to_string())
    }
}

impl From<usize> for Seg {
    fn from(i: usize) -> Seg {
        Seg::Index(i)
    }
}

/// `node.switches[2].uplink`
pub fn path_string(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// Byte span of the value at `path` in TOML `text` (the deepest segment found).
pub fn locate(text: &str, path: &[Seg]) -> Option<std::ops::Range<usize>> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best: Option<std::ops::Range<usize>> = None;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => {
                // prefer the key's own span: it points at the line that names the field
                let key_span = match item {
                    toml_edit::Item::Table(t) => t.key(k).and_then(|k| k.span()),
                    toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => {
                        t.key(k).and_then(|k| k.span())
                    }
                    _ => None,
                };
                let next = item.get(k.as_str());
                if let Some(sp) = key_span.or_else(|| next.and_then(|n| n.span())) {
                    best = Some(sp);
                }
                next
            }
            Seg::Index(i) => {
                let next = item.get(*i);
                if let Some(sp) = next.and_then(|n| n.span()) {
                    best = Some(sp);
                }
                next
            }
        };
        match next {
            Some(n) => item = n,
            None => break,
        }
    }
    best
}

/// Levenshtein distance, for did-you-mean hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest candidate within a sensible distance.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word.to_lowercase(), &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `:LINE` when the line is known, else nothing: for messages `FILE:LINE: ...`.
pub fn at_line(line: &Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}
