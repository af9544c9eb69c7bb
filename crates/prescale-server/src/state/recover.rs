//! Opening the store file: checked page by page, and moved aside when damaged so that the
//! server starts with a new one (what it held comes back from KEDA's calls and Prometheus).

use std::path::{Path, PathBuf};
use std::time::Duration;

use prescale_store::{Store, StoreConfig, StoreError};

use crate::state::metrics::{Recovery, StoreMetrics};
use crate::state::persist::PersistError;

/// How long history is kept: the longest `history` (90 days) plus margin.
pub const RETENTION: Duration = Duration::from_secs(92 * 86_400);

/// Damaged files kept beside the store (`<file>.corrupt-<unix seconds>`), newest first; older
/// ones are deleted, so that repeated damage cannot fill the disk.
pub const KEEP_DAMAGED: usize = 2;

/// The server's store layout: one-minute buckets, no coarser tiers, kept [`RETENTION`].
pub(crate) fn config() -> StoreConfig {
    StoreConfig {
        retention: RETENTION,
        ..StoreConfig::without_tiers()
    }
}

/// Opens the store at `path` and checks every page ([`Store::verify`]). A damaged file
/// ([`StoreError::is_damaged`], or one the engine panics on) is moved aside (logged, counted
/// in `metrics`) and a new store started in its place; `now_unix` names the moved file.
/// Other errors (locked, unreadable, another version) are returned: the file is left alone.
pub fn open_recovering(
    path: &Path,
    metrics: &StoreMetrics,
    now_unix: i64,
) -> Result<Store, PersistError> {
    let failed = |e: StoreError| PersistError(e.to_string());
    match open_checked(path) {
        Err(e) if e.is_damaged() => {
            let aside = move_aside(path, now_unix).map_err(|io| {
                PersistError(format!(
                    "{e}; moving it aside failed: {}: {io}",
                    path.display()
                ))
            })?;
            tracing::error!(
                path = %path.display(),
                moved_to = %aside.display(),
                error = %e,
                "The store file is damaged: moved it aside and started a new one. Registrations \
                 come back with KEDA's next calls, history from Prometheus."
            );
            metrics.recovered(Recovery::Corrupt);
            open_checked(path).map_err(failed)
        }
        other => other.map_err(failed),
    }
}

/// Opens and verifies the file; a panic of the engine on a damaged page is reported as
/// [`StoreError::Corrupt`].
fn open_checked(path: &Path) -> Result<Store, StoreError> {
    let attempt = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut store = Store::open(path, config())?;
        if !store.verify()? {
            tracing::warn!(path = %path.display(), "The store file was damaged and has been repaired: it holds the last intact commit.");
        }
        Ok(store)
    }));
    attempt.unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic".to_string());
        Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("the store engine failed reading it: {what}"),
        })
    })
}

/// Renames `path` to `<path>.corrupt-<now_unix>` (a `-<n>` suffix if taken) and deletes all
/// but the newest [`KEEP_DAMAGED`] such files. Returns the new name.
pub fn move_aside(path: &Path, now_unix: i64) -> std::io::Result<PathBuf> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = format!("{name}.corrupt-");
    let mut aside = dir.join(format!("{prefix}{now_unix}"));
    let mut n = 1;
    while aside.exists() {
        aside = dir.join(format!("{prefix}{now_unix}-{n}"));
        n += 1;
    }
    std::fs::rename(path, &aside)?;
    let mut damaged: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    // Newest first; the file just moved is kept whatever its time stamp says.
    damaged.sort_by(|a, b| b.cmp(a));
    damaged.retain(|(_, p)| *p != aside);
    for (_, old) in damaged.into_iter().skip(KEEP_DAMAGED.saturating_sub(1)) {
        match std::fs::remove_file(&old) {
            Ok(()) => tracing::info!(path = %old.display(), "Deleted an older damaged store file."),
            Err(e) => {
                tracing::warn!(path = %old.display(), error = %e, "Could not delete an older damaged store file.")
            }
        }
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use std::io::{Seek, SeekFrom, Write};

    use super::*;

    /// A store with some history and state, closed.
    fn written(dir: &Path) -> PathBuf {
        let path = dir.join("prescale.redb");
        let store = Store::open(&path, config()).unwrap();
        let t0 = chrono::DateTime::from_timestamp(1_704_067_200, 0).unwrap();
        for k in 0..40 {
            let points: Vec<_> = (0..600)
                .map(|i| (t0 + chrono::Duration::minutes(i), (i + k) as f64))
                .collect();
            store
                .append(&format!("history/ns/o{k}/1"), &points)
                .unwrap();
            store
                .put_state(&format!("registration/ns/o{k}"), b"{}")
                .unwrap();
        }
        store.close().unwrap();
        path
    }

    fn damage(path: &Path, offset: u64, bytes: usize) {
        let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
        f.seek(SeekFrom::Start(offset)).unwrap();
        f.write_all(&vec![0xA5; bytes]).unwrap();
    }

    #[test]
    fn an_intact_file_is_opened_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let metrics = StoreMetrics::new();
        let store = open_recovering(&path, &metrics, 1000).unwrap();
        assert_eq!(store.states("registration/").unwrap().len(), 40);
        assert_eq!(metrics.recoveries(Recovery::Corrupt), 0);
    }

    #[test]
    fn damaged_files_are_moved_aside_and_replaced() {
        type Damage = fn(&Path);
        let cases: [(&str, Damage); 4] = [
            ("garbage", |p| {
                std::fs::write(p, b"not a database at all").unwrap()
            }),
            ("header", |p| damage(p, 64, 400)),
            ("page", |p| damage(p, 4096, 8192)),
            ("truncated", |p| {
                let len = std::fs::metadata(p).unwrap().len();
                let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                f.set_len(len / 2).unwrap();
            }),
        ];
        for (what, spoil) in cases {
            let dir = tempfile::tempdir().unwrap();
            let path = written(dir.path());
            spoil(&path);
            let before = std::fs::read(&path).unwrap();
            let metrics = StoreMetrics::new();
            let store =
                open_recovering(&path, &metrics, 1000).unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(store.states("").unwrap().is_empty(), "{what}");
            store.put_state("registration/ns/new", b"{}").unwrap();
            let aside = dir.path().join("prescale.redb.corrupt-1000");
            assert_eq!(std::fs::read(&aside).unwrap(), before, "{what}");
            assert_eq!(metrics.recoveries(Recovery::Corrupt), 1, "{what}");
        }
    }

    #[test]
    fn a_locked_file_is_an_error_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let _held = Store::open(&path, config()).unwrap();
        let metrics = StoreMetrics::new();
        let err = open_recovering(&path, &metrics, 1000).unwrap_err();
        assert!(err.0.contains("locked"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(metrics.recoveries(Recovery::Corrupt), 0);
    }

    #[test]
    fn only_the_newest_damaged_files_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("prescale.redb");
        for t in [100, 100, 200, 300] {
            std::fs::write(&path, b"junk").unwrap();
            move_aside(&path, t).unwrap();
            // Modification times a few milliseconds apart order the files.
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["prescale.redb.corrupt-200", "prescale.redb.corrupt-300"]
        );
    }
}
