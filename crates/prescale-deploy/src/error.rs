//! The crate's error type.

/// Why an artefact could not be produced or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An embedded schema could not be loaded (a build problem, not an input problem).
    #[error("schema: {0}")]
    Schema(String),
    /// A PromQL expression does not parse, or does not name its metrics.
    #[error("{place}: PromQL `{expr}`: {reason}")]
    PromQl {
        /// Where the expression is, e.g. `prescale-cost.json: panel "Cost by service"`.
        place: String,
        /// The expression as written.
        expr: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A service spec could not be turned into chart values.
    #[error("{file}: {reason}")]
    Spec {
        /// The spec file's name.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// docs/metrics.md does not have the expected shape.
    #[error("metrics documentation: {0}")]
    MetricsDoc(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
