//! Errors of parsing and fitting, naming the input file and line and a hint.

/// Why a measurement file could not be calibrated from.
#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("{file}:{line}: {message} (hint: {hint})")]
    Parse {
        file: String,
        line: usize,
        message: String,
        hint: String,
    },
    #[error("{file}: {message} (hint: {hint})")]
    Input {
        file: String,
        message: String,
        hint: String,
    },
    #[error("cannot read {file}: {source}")]
    Io {
        file: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Collective(#[from] memwall_models::collective::CollectiveError),
    #[error("{part}: {message}")]
    Profile { part: String, message: String },
}

impl CalibrateError {
    pub fn input(file: &str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        CalibrateError::Input {
            file: file.to_string(),
            message: message.into(),
            hint: hint.into(),
        }
    }
}
