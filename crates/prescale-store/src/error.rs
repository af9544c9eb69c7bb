//! Errors of the history store.

use std::path::PathBuf;

use chrono::{DateTime, Utc};

/// Why a store operation failed. Every variant that concerns the file names its path.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The configuration is invalid (checked before the file is touched).
    #[error("invalid store configuration: {field}: {reason}")]
    InvalidConfig {
        /// The configuration field, e.g. `tiers[0].resolution`.
        field: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The file exists but is not a prescale store (not a redb database, or a redb database
    /// written by another program).
    #[error("{}: not a prescale history store: {reason}", path.display())]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What was found instead.
        reason: String,
    },
    /// The file is damaged (a checksum or structure check failed, or a chunk does not decode).
    #[error("{}: store is corrupted: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is damaged.
        reason: String,
    },
    /// Another `Store` (in this process or another) has the file open.
    #[error("{}: store is locked: another process or Store has it open", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// The file was written by another version of the store (its layout or redb's file format).
    #[error("{}: unsupported {what} version {found} (this build reads version {expected})", path.display())]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// Which version: `store layout` or `redb file format`.
        what: &'static str,
        /// The version found in the file.
        found: u64,
        /// The version this build reads and writes.
        expected: u64,
    },
    /// The file was created with a different layout (base resolution or tiers) than the
    /// configuration asks for. Retentions may change between opens; resolutions may not.
    #[error("{}: {field} is {stored} in the store but {requested} in the configuration", path.display())]
    ConfigMismatch {
        /// The file.
        path: PathBuf,
        /// The configuration field, e.g. `resolution`.
        field: String,
        /// What the file holds.
        stored: String,
        /// What the configuration asks for.
        requested: String,
    },
    /// A sample value is NaN or infinite; nothing of the call was written.
    #[error("series {series:?}: sample {index} at {timestamp} is {value}: values must be finite")]
    NonFinite {
        /// The series.
        series: String,
        /// Position of the sample in the slice given for this series.
        index: usize,
        /// The sample's timestamp.
        timestamp: DateTime<Utc>,
        /// The value.
        value: f64,
    },
    /// A timestamp is outside what the store can hold (before 1970 or too far in the future);
    /// nothing of the call was written.
    #[error("series {series:?}: sample {index} at {timestamp}: {reason}")]
    TimestampOutOfRange {
        /// The series.
        series: String,
        /// Position of the sample in the slice given for this series.
        index: usize,
        /// The sample's timestamp.
        timestamp: DateTime<Utc>,
        /// Why it is out of range.
        reason: &'static str,
    },
    /// A series name or state key is empty or too long.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        /// `series name` or `state key`.
        what: &'static str,
        /// The name as given (cut to 100 characters).
        name: String,
        /// Why it is invalid.
        reason: &'static str,
    },
    /// A range query's start is after its end.
    #[error("invalid range: start {start} is after end {end}")]
    InvalidRange {
        /// Start of the range.
        start: DateTime<Utc>,
        /// End of the range.
        end: DateTime<Utc>,
    },
    /// A tier index that the configuration does not have.
    #[error("no tier {tier}: the store has tiers 0..={max}")]
    UnknownTier {
        /// The tier asked for.
        tier: usize,
        /// The highest tier there is.
        max: usize,
    },
    /// The store holds more series than series ids allow (2^32).
    #[error("{}: too many series (2^32 ids used)", path.display())]
    TooManySeries {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be opened or created (permissions, missing directory, I/O).
    #[error("{}: cannot open store: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: redb::Error,
    },
    /// A read or write failed in the database engine (I/O error, full disk, ...).
    #[error("{}: {source}", path.display())]
    Storage {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: redb::Error,
    },
}

impl StoreError {
    /// A short, stable label for metrics (`errors_total{error=...}`).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::InvalidConfig { .. } => "invalid_config",
            Self::NotAStore { .. } => "not_a_store",
            Self::Corrupt { .. } => "corrupt",
            Self::Locked { .. } => "locked",
            Self::UnsupportedVersion { .. } => "unsupported_version",
            Self::ConfigMismatch { .. } => "config_mismatch",
            Self::NonFinite { .. } => "non_finite",
            Self::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            Self::InvalidName { .. } => "invalid_name",
            Self::InvalidRange { .. } => "invalid_range",
            Self::UnknownTier { .. } => "unknown_tier",
            Self::TooManySeries { .. } => "too_many_series",
            Self::Open { .. } => "open",
            Self::Storage { .. } => "storage",
        }
    }
}

impl StoreError {
    /// Whether the file itself is damaged or is not a store: [`StoreError::Corrupt`] or
    /// [`StoreError::NotAStore`]. Opening such a file again fails the same way; a caller that
    /// can rebuild the data moves the file aside and starts a new one. Locks, permissions,
    /// versions and configuration mismatches are not damage.
    pub fn is_damaged(&self) -> bool {
        matches!(self, Self::Corrupt { .. } | Self::NotAStore { .. })
    }

    /// Whether the engine failed on I/O (a full disk, a failing device) or was left unusable by
    /// an earlier failure. After one I/O error the open [`Store`](crate::Store) fails every later
    /// write (reads answer from its cache or fail too): drop it and open the file again once
    /// the cause is gone (what was committed before is intact; the failed transaction left
    /// nothing behind).
    pub fn needs_reopen(&self) -> bool {
        matches!(
            self,
            Self::Storage {
                source: redb::Error::Io(_)
                    | redb::Error::PreviousIo
                    | redb::Error::DatabaseClosed
                    | redb::Error::LockPoisoned(_)
                    | redb::Error::TransactionPoisoned,
                ..
            }
        )
    }
}

/// Result with [`StoreError`] as the default error.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_path() {
        let err = StoreError::Locked {
            path: PathBuf::from("/data/history.redb"),
        };
        assert_eq!(
            err.to_string(),
            "/data/history.redb: store is locked: another process or Store has it open"
        );
        assert_eq!(err.metric_label(), "locked");
        assert!(!err.is_damaged());
        assert!(!err.needs_reopen());
    }

    #[test]
    fn damage_and_io_failures_are_told_apart() {
        let path = PathBuf::from("/data/history.redb");
        let corrupt = StoreError::Corrupt {
            path: path.clone(),
            reason: "truncated".into(),
        };
        assert!(corrupt.is_damaged() && !corrupt.needs_reopen());
        let io = StoreError::Storage {
            path: path.clone(),
            source: redb::Error::Io(std::io::Error::from_raw_os_error(28)),
        };
        assert!(io.needs_reopen() && !io.is_damaged());
        let latched = StoreError::Storage {
            path,
            source: redb::Error::PreviousIo,
        };
        assert!(latched.needs_reopen());
    }
}
