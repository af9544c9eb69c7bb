//! Secrets and certificates read from files that may change while the process runs (a rotated
//! token, a renewed certificate): a file is read again when its [`FileStamp`] changes, and a
//! change that cannot be used (missing, empty) keeps the last good value with a warning.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use crate::error::CollectError;

/// What identifies a version of a file without reading it: modification time and length (the
/// file a symlink points at: Kubernetes swaps a Secret volume's link on update). `None` fields
/// when the file cannot be inspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStamp {
    modified: Option<SystemTime>,
    len: Option<u64>,
}

impl FileStamp {
    /// The stamp of `path` now.
    pub fn of(path: &Path) -> Self {
        match std::fs::metadata(path) {
            Ok(m) => Self {
                modified: m.modified().ok(),
                len: Some(m.len()),
            },
            Err(_) => Self::default(),
        }
    }

    /// The stamps of several files, in order (absent paths included as `None`).
    pub fn of_all<'a>(paths: impl IntoIterator<Item = Option<&'a PathBuf>>) -> Vec<Option<Self>> {
        paths.into_iter().map(|p| p.map(|p| Self::of(p))).collect()
    }
}

#[derive(Debug, Default)]
struct Cached {
    stamp: FileStamp,
    value: Option<Arc<str>>,
}

/// A one-line secret (a bearer token, a password) in a file, read again whenever the file
/// changes. Equality and `Debug` look at the path only; the value is never shown.
#[derive(Clone)]
pub struct SecretFile {
    path: PathBuf,
    what: &'static str,
    cache: Arc<Mutex<Cached>>,
}

impl SecretFile {
    /// Reads `path` now (so that a wrong path fails at start-up); `what` names the setting in
    /// errors and warnings (e.g. `bearer_token_file`).
    pub fn load(path: &Path, what: &'static str) -> Result<Self, CollectError> {
        let stamp = FileStamp::of(path);
        let value = read_secret(path, what)?;
        Ok(Self {
            path: path.to_path_buf(),
            what,
            cache: Arc::new(Mutex::new(Cached {
                stamp,
                value: Some(value),
            })),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The current value: the cached one while the file is unchanged, else the file read
    /// again. A changed file that cannot be read or is empty keeps the last good value (and
    /// is tried again on the next call).
    pub fn current(&self) -> Result<Arc<str>, CollectError> {
        let stamp = FileStamp::of(&self.path);
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(value) = &cache.value
            && cache.stamp == stamp
        {
            return Ok(value.clone());
        }
        match read_secret(&self.path, self.what) {
            Ok(value) => {
                if cache.value.is_some() {
                    tracing::info!(file = %self.path.display(), what = self.what, "Reloaded.");
                }
                cache.stamp = stamp;
                cache.value = Some(value.clone());
                Ok(value)
            }
            Err(e) => match &cache.value {
                Some(last) => {
                    tracing::warn!(error = %e, "Keeping the last good value.");
                    Ok(last.clone())
                }
                None => Err(e),
            },
        }
    }
}

impl PartialEq for SecretFile {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.what == other.what
    }
}

impl Eq for SecretFile {}

impl fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The first line-ending-trimmed content of a secret file, which must not be empty.
fn read_secret(path: &Path, what: &str) -> Result<Arc<str>, CollectError> {
    let place = || format!("{what} {}", path.display());
    let text =
        std::fs::read_to_string(path).map_err(|e| CollectError::config(place(), e.to_string()))?;
    let text = text.trim_end_matches(['\n', '\r']);
    if text.is_empty() {
        return Err(CollectError::config(place(), "the file is empty"));
    }
    Ok(Arc::from(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_change_keeps_the_last_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "first\n").unwrap();
        let secret = SecretFile::load(&path, "bearer_token_file").unwrap();
        assert_eq!(&*secret.current().unwrap(), "first");
        // A rotation as Kubernetes does it: a new file renamed over the old one.
        let next = dir.path().join("token.new");
        std::fs::write(&next, "second-and-longer").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_eq!(&*secret.current().unwrap(), "second-and-longer");
        // Emptied or removed: the last good value stays.
        std::fs::write(&path, "").unwrap();
        assert_eq!(&*secret.current().unwrap(), "second-and-longer");
        std::fs::remove_file(&path).unwrap();
        assert_eq!(&*secret.current().unwrap(), "second-and-longer");
        std::fs::write(&path, "third").unwrap();
        assert_eq!(&*secret.current().unwrap(), "third");
        assert!(!format!("{secret:?}").contains("third"));
    }

    #[test]
    fn a_missing_or_empty_file_fails_at_load_naming_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            SecretFile::load(&dir.path().join("nope"), "basic_auth.password_file").unwrap_err();
        assert!(
            err.to_string().contains("basic_auth.password_file"),
            "{err}"
        );
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = SecretFile::load(&empty, "bearer_token_file").unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");
    }
}
