//! The crate's error type.

use std::fmt;

/// A place in a YAML file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a spec or manifest was rejected, or output could not be produced.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The input is not YAML, or not of the expected shape (unknown field, wrong type).
    #[error("{file}:{position}: {message}")]
    Parse {
        /// The file name as given by the caller.
        file: String,
        /// Where the problem is.
        position: Position,
        /// What is wrong, with the field path where known.
        message: String,
    },
    /// A field has a value that prescale or KEDA would reject.
    #[error("{file}:{position}: {path}: {message}")]
    Invalid {
        /// The file name as given by the caller.
        file: String,
        /// Where the field is (or its closest written parent).
        position: Position,
        /// The field path, e.g. `services[1].triggers[0].threshold`.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// The generated YAML could not be written (should not happen).
    #[error("cannot write YAML: {0}")]
    Render(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
