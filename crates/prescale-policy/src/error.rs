//! The errors of the policy crate.

use crate::formula::FormulaError;

/// Why a policy computation could not be carried out.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PolicyError {
    /// A configuration field has a value outside its allowed range.
    #[error("invalid `{field}`: {reason}")]
    InvalidField {
        /// The field's name, as written in configuration (e.g. `capacity_per_replica`).
        field: &'static str,
        /// What is wrong with it, e.g. `must be a finite number > 0, got -1`.
        reason: String,
    },
    /// A signal carries an unusable target or value.
    #[error("signal `{name}`: {reason}")]
    InvalidSignal {
        /// The signal's (trigger's) name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two signals share a name (KEDA requires trigger names to be unique).
    #[error("signal `{0}` appears more than once (trigger names must be unique)")]
    DuplicateSignal(String),
    /// A weight names a signal that is not among the inputs.
    #[error("weight for unknown signal `{0}`")]
    UnknownSignal(String),
    /// No signal had a fresh value, so no replica count can be proposed (the HPA does not
    /// scale when all of its metrics are invalid).
    #[error("no signal has a fresh value ({0} signal(s), all missing or stale)")]
    NoFreshSignal(usize),
    /// The combination formula failed.
    #[error("formula: {0}")]
    Formula(#[from] FormulaError),
}
