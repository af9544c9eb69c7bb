//! Errors of the forecasting library.

/// Why a model could not be fitted or a forecast made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// The series is too short for this model.
    #[error("{model}: needs at least {needed} points, got {got}")]
    TooShort {
        /// The model's name.
        model: &'static str,
        /// Points needed.
        needed: usize,
        /// Points given.
        got: usize,
    },
    /// The series holds a value that is NaN, infinite or negative.
    #[error("value at index {index} is {value}: values must be finite and non-negative")]
    BadValue {
        /// Position of the value.
        index: usize,
        /// The value.
        value: f64,
    },
    /// An argument is out of range (horizon 0, a quantile outside (0, 1), ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The model found nothing to forecast with (e.g. Crane DSP on a series with no daily or
    /// weekly period).
    #[error("{model}: {reason}")]
    NoForecast {
        /// The model's name.
        model: &'static str,
        /// Why.
        reason: String,
    },
    /// The decomposition library failed.
    #[error("decomposition failed: {0}")]
    Decomposition(String),
}

impl ForecastError {
    /// A short, stable label for metrics (`errors_total{error=...}`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::BadValue { .. } => "bad_value",
            Self::InvalidArgument(_) => "invalid_argument",
            Self::NoForecast { .. } => "no_forecast",
            Self::Decomposition(_) => "decomposition",
        }
    }
}

/// Result with [`ForecastError`] as the default error.
pub type Result<T, E = ForecastError> = std::result::Result<T, E>;
