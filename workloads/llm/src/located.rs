//! Model-file errors that say where: file, line, column, the field, and what to do.

use crate::ModelError;

/// An error at one place of a model file.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub col: usize,
    /// The offending key (dotted path), or empty when the file itself is malformed.
    pub field: String,
    pub problem: String,
    pub hint: String,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.col)?;
        if !self.field.is_empty() {
            write!(f, "field `{}`: ", self.field)?;
        }
        write!(f, "{}\nhint: {}", self.problem, self.hint)
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// The first backticked word of a serde message (`unknown field `x``, `missing field `y``).
fn backticked(msg: &str) -> Option<&str> {
    msg.split('`').nth(1)
}

/// A TOML syntax or schema error, located.
pub(crate) fn parse_error(file: &str, text: &str, e: &toml::de::Error) -> ModelError {
    let (line, col) = e.span().map_or((1, 1), |r| line_col(text, r.start));
    let problem = memwall_io::input::toml_message(e.message(), text, e.span().map(|r| r.start));
    let key = e.span().map(|r| key_at(text, r.start)).unwrap_or_default();
    let (field, hint) = if problem.starts_with("unknown field") {
        let expected = problem
            .split_once(", expected")
            .map_or("", |(_, x)| x.trim());
        let field = backticked(&problem).unwrap_or(&key).to_string();
        let hint = format!("remove it or fix its spelling; expected {expected}");
        let problem = format!("unknown field `{field}`");
        return located(file, (line, col), field, problem, hint);
    } else if problem.starts_with("missing field") {
        let field = backticked(&problem).unwrap_or("").to_string();
        (
            field.clone(),
            format!("add `{field} = ...` (see workloads/llm/configs/ for complete examples)"),
        )
    } else {
        (
            key,
            "compare with a shipped config in workloads/llm/configs/".to_string(),
        )
    };
    located(file, (line, col), field, problem, hint)
}

fn located(
    file: &str,
    at: (usize, usize),
    field: String,
    problem: String,
    hint: String,
) -> ModelError {
    let (line, col) = at;
    ModelError::File(Box::new(Located {
        file: file.to_string(),
        line,
        col,
        field,
        problem,
        hint,
    }))
}

/// The key written at (or just before) a byte offset: `key = value` on that line.
fn key_at(text: &str, offset: usize) -> String {
    let start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line = &text[start..];
    let line = line.lines().next().unwrap_or("");
    match line.split_once('=') {
        Some((k, _)) if !k.trim().starts_with('[') => k.trim().to_string(),
        _ => String::new(),
    }
}

/// A value out of range found after parsing: located at the line that sets the field
/// (the last segment of a dotted field name), or at the top of the file.
pub(crate) fn validation_error(file: &str, text: &str, e: ModelError) -> ModelError {
    let ModelError::Invalid { field, problem, .. } = e else {
        return e;
    };
    let key = field.rsplit('.').next().unwrap_or(field);
    let mut offset = 0;
    let mut found = None;
    for l in text.split_inclusive('\n') {
        let t = l.trim_start();
        if t.split_once('=').is_some_and(|(k, _)| k.trim() == key) {
            found = Some(offset + (l.len() - t.len()));
            break;
        }
        offset += l.len();
    }
    let (line, col) = found.map_or((1, 1), |o| line_col(text, o));
    ModelError::File(Box::new(Located {
        file: file.to_string(),
        line,
        col,
        field: field.to_string(),
        problem,
        hint: "change the value as the message says (the shipped configs in workloads/llm/configs/ are examples)".to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::{builtin_models, ModelConfig};

    fn qwen() -> &'static str {
        builtin_models()
            .find(|(n, _)| *n == "qwen3-4b-dense")
            .unwrap()
            .1
    }

    #[test]
    fn errors_name_file_line_field_and_hint() {
        let bad = qwen().replace("num_layers = 36", "num_layerz = 36");
        let e = ModelConfig::from_toml_str("m.toml", &bad)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.toml:8:"), "{e}");
        assert!(e.contains("num_layerz") && e.contains("hint:"), "{e}");

        let bad = qwen().replace("num_layers = 36", "num_layers = \"many\"");
        let e = ModelConfig::from_toml_str("m.toml", &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m.toml:8:") && e.contains("num_layers"),
            "{e}"
        );

        let bad = qwen().replace("num_layers = 36", "num_layers = 0");
        let e = ModelConfig::from_toml_str("m.toml", &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("m.toml:8:") && e.contains("`num_layers`"),
            "{e}"
        );
        assert!(e.contains("hint:"), "{e}");

        let bad = qwen().replace("num_layers = 36\n", "");
        let e = ModelConfig::from_toml_str("m.toml", &bad)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("num_layers") && e.contains("add `num_layers"),
            "{e}"
        );

        let e = ModelConfig::from_toml_str("m.toml", "name = [")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("m.toml:1:"), "{e}");
    }
}
