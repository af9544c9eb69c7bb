//! Faults of the file: damage is reported as damage ([`StoreError::is_damaged`]) and found by
//! [`Store::verify`]; after an I/O error (the kernel's file-size limit, `RLIMIT_FSIZE`, standing
//! in for a full disk) the store fails every write ([`StoreError::needs_reopen`]) until it is
//! opened again, and then holds everything committed before.
//!
//! The I/O test runs this binary again with `PRESCALE_STORE_FAULTS_FILE=<store path>`:
//! [`io_fault_child`] lowers its own file-size limit with `prlimit` (util-linux), writes, lifts
//! the limit and reopens. It is started by a shell that ignores `SIGXFSZ`, so that a write past
//! the limit fails with `EFBIG` instead of killing the process. Without `prlimit` the test is
//! skipped with a message (a failure when `CI` is set).

mod common;

use std::path::Path;
use std::process::Command;

use common::{minute, temp_store_path};
use prescale_store::{Sample, Store, StoreConfig, StoreError};

const FILE_ENV: &str = "PRESCALE_STORE_FAULTS_FILE";

fn samples(from: i64, n: i64) -> Vec<Sample> {
    (from..from + n).map(|i| (minute(i), i as f64)).collect()
}

/// A closed store with some history and state.
fn written(path: &Path) {
    let store = Store::open(path, StoreConfig::default()).unwrap();
    for s in 0..20 {
        store.append(&format!("s{s}"), &samples(0, 600)).unwrap();
        store.put_state(&format!("state/{s}"), b"x").unwrap();
    }
    store.close().unwrap();
}

#[test]
fn damage_is_told_apart_from_other_failures() {
    let (_dir, path) = temp_store_path();
    written(&path);
    let mut store = Store::open(&path, StoreConfig::default()).unwrap();
    assert!(store.verify().unwrap(), "an intact file verifies");
    let locked = Store::open(&path, StoreConfig::default()).unwrap_err();
    assert!(matches!(locked, StoreError::Locked { .. }), "{locked}");
    assert!(!locked.is_damaged() && !locked.needs_reopen());
    drop(store);

    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);
    let truncated = Store::open(&path, StoreConfig::default()).unwrap_err();
    assert!(truncated.is_damaged(), "{truncated}");

    std::fs::write(&path, b"something else entirely").unwrap();
    let other = Store::open(&path, StoreConfig::default()).unwrap_err();
    assert!(matches!(other, StoreError::NotAStore { .. }), "{other}");
    assert!(other.is_damaged());
}

/// Child mode: see the module documentation. Prints `ok` when every check held.
#[test]
fn io_fault_child() {
    let Some(path) = std::env::var_os(FILE_ENV) else {
        return;
    };
    let path = Path::new(&path);
    let limit = |value: &str| {
        let out = Command::new("prlimit")
            .args([
                "--pid",
                &std::process::id().to_string(),
                &format!("--fsize={value}:"),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
    };
    let store = Store::open(path, StoreConfig::default()).unwrap();
    store.append("kept", &samples(0, 600)).unwrap();
    store.put_state("kept", b"before").unwrap();
    // Only the first 4 KiB of the file may be written: the next commit fails, and so does
    // every write after it.
    limit("4096");
    let failed = store.append("lost", &samples(0, 600)).unwrap_err();
    assert!(failed.needs_reopen(), "{failed:?}");
    let latched = store.put_state("lost", b"x").unwrap_err();
    assert!(latched.needs_reopen(), "{latched:?}");
    // Reads answer from the cache or fail the same way; never with the lost writes.
    match store.get_state("lost") {
        Ok(value) => assert!(value.is_none()),
        Err(e) => assert!(e.needs_reopen(), "{e:?}"),
    }
    drop(store);
    // Still full: opening again fails too (the engine cannot finish its recovery).
    assert!(Store::open(path, StoreConfig::default()).is_err());
    limit("unlimited");
    let mut store = Store::open(path, StoreConfig::default()).unwrap();
    assert!(store.verify().unwrap());
    assert_eq!(
        store.get_state("kept").unwrap().as_deref(),
        Some(&b"before"[..])
    );
    assert_eq!(
        store.range("kept", minute(0), minute(600)).unwrap().len(),
        600
    );
    assert!(store.get_state("lost").unwrap().is_none());
    assert!(
        store
            .range("lost", minute(0), minute(600))
            .unwrap()
            .is_empty()
    );
    store.append("after", &samples(0, 600)).unwrap();
    drop(store);
    let store = Store::open(path, StoreConfig::default()).unwrap();
    assert_eq!(
        store.range("after", minute(0), minute(600)).unwrap().len(),
        600
    );
    println!("\nok");
}

#[test]
fn an_io_error_latches_until_the_store_is_reopened() {
    let has_prlimit = Command::new("prlimit")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_prlimit {
        assert!(
            std::env::var_os("CI").is_none(),
            "prlimit (util-linux) is required when CI is set"
        );
        eprintln!("skipping: prlimit (util-linux) not found");
        return;
    }
    let (_dir, path) = temp_store_path();
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; exec timeout 60 \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            "io_fault_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FILE_ENV, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().any(|l| l == "ok"),
        "{out:?}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
