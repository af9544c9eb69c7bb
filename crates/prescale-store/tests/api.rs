//! The store's API: appends and reads, out-of-order and duplicate samples, bad input, reopening,
//! the open errors, state records.

mod common;

use chrono::Duration;
use common::{minute, open_temp, t0, temp_store_path};
use prescale_store::{Aggregation, Store, StoreConfig, StoreError, WriteBatch};

#[test]
fn samples_are_aggregated_per_bucket_and_gaps_stay_gaps() {
    let (_dir, _path, store) = open_temp(StoreConfig::default());
    // Every 15 s for 3 minutes, then nothing for 2 minutes, then one sample.
    let mut samples: Vec<_> = (0..12)
        .map(|i| (t0() + Duration::seconds(15 * i), f64::from(i as u32)))
        .collect();
    samples.push((minute(5) + Duration::seconds(59), 100.0));
    assert_eq!(store.append("q", &samples).expect("stored"), 13);

    let mean = store.range("q", t0(), minute(10)).expect("readable");
    assert_eq!(
        mean,
        vec![
            (minute(0), 1.5),
            (minute(1), 5.5),
            (minute(2), 9.5),
            (minute(5), 100.0)
        ]
    );
    let max = store
        .range_with("q", 0, t0(), minute(10), Aggregation::Max)
        .expect("readable");
    assert_eq!(max[1], (minute(1), 7.0));
    let buckets = store.buckets("q", 0, t0(), minute(1)).expect("readable");
    assert_eq!(buckets.len(), 1);
    let b = buckets[0];
    assert_eq!(
        (b.count, b.sum, b.min, b.max, b.last),
        (4, 6.0, 0.0, 3.0, 3.0)
    );
    assert_eq!(b.last_at, t0() + Duration::seconds(45));
    assert_eq!(b.value(Aggregation::Count), 4.0);
    assert_eq!(
        store.latest("q").expect("readable"),
        Some((minute(5) + Duration::seconds(59), 100.0))
    );
}

#[test]
fn range_bounds_select_overlapping_buckets() {
    let (_dir, _path, store) = open_temp(StoreConfig::default());
    let samples: Vec<_> = (0..180).map(|m| (minute(m), m as f64)).collect();
    store.append("s", &samples).expect("stored");
    // [00:30:30, 01:30:00): the bucket of 00:30 overlaps, 01:30 does not.
    let got = store
        .range("s", minute(30) + Duration::seconds(30), minute(90))
        .expect("readable");
    assert_eq!(got.first(), Some(&(minute(30), 30.0)));
    assert_eq!(got.last(), Some(&(minute(89), 89.0)));
    assert_eq!(got.len(), 60);
    assert!(
        store
            .range("s", minute(5), minute(5))
            .expect("readable")
            .is_empty()
    );
    assert!(matches!(
        store.range("s", minute(6), minute(5)),
        Err(StoreError::InvalidRange { .. })
    ));
    assert!(
        store
            .range("unknown", t0(), minute(5))
            .expect("readable")
            .is_empty()
    );
    assert_eq!(store.latest("unknown").expect("readable"), None);
    assert!(matches!(
        store.range_with("s", 2, t0(), minute(5), Aggregation::Mean),
        Err(StoreError::UnknownTier { tier: 2, max: 1 })
    ));
}

#[test]
fn out_of_order_and_duplicate_samples_land_in_their_buckets() {
    let (_dir, _path, store) = open_temp(StoreConfig::without_tiers());
    store
        .append(
            "s",
            &[(minute(10), 1.0), (minute(2), 2.0), (minute(7), 3.0)],
        )
        .expect("stored");
    // Earlier than everything stored, across calls, and a duplicate of minute 2.
    store
        .append("s", &[(minute(1), 4.0), (minute(2), 6.0)])
        .expect("stored");
    let got = store.range("s", t0(), minute(20)).expect("readable");
    assert_eq!(
        got,
        vec![
            (minute(1), 4.0),
            (minute(2), 4.0),
            (minute(7), 3.0),
            (minute(10), 1.0)
        ]
    );
    let b = store
        .buckets("s", 0, minute(2), minute(3))
        .expect("readable")[0];
    assert_eq!(
        (b.count, b.last),
        (2, 6.0),
        "the later write of a duplicate is last"
    );
    // The latest sample is the newest by timestamp, not the last appended.
    assert_eq!(
        store.latest("s").expect("readable"),
        Some((minute(10), 1.0))
    );
}

#[test]
fn resending_samples_at_the_resolution_changes_nothing() {
    let (_dir, _path, store) = open_temp(StoreConfig::default());
    let backfill: Vec<_> = (0..90).map(|m| (minute(m), (m * 3 % 11) as f64)).collect();
    assert_eq!(store.append("s", &backfill).expect("stored"), 90);
    assert_eq!(store.append("s", &backfill).expect("only duplicates"), 0);
    let buckets = store.buckets("s", 0, t0(), minute(90)).expect("readable");
    assert!(buckets.iter().all(|b| b.count == 1));
    // Within one call too (samples are put in time order first).
    let scrape = [
        (minute(100) + Duration::seconds(15), 2.0),
        (minute(100), 1.0),
        (minute(100), 1.0),
    ];
    assert_eq!(store.append("s", &scrape).expect("stored"), 2);
    // A repeat that is not the bucket's latest sample counts again.
    assert_eq!(store.append("s", &[(minute(100), 1.0)]).expect("stored"), 1);
    let b = store
        .buckets("s", 0, minute(100), minute(101))
        .expect("readable")[0];
    assert_eq!((b.count, b.sum, b.last), (3, 4.0, 2.0));
}

#[test]
fn a_write_batch_stores_samples_and_state_together() {
    let (_dir, _path, store) = open_temp(StoreConfig::default());
    store.put_state("old", b"x").expect("stored");
    let a = [(minute(0), 1.0), (minute(1), 2.0)];
    let mut batch = WriteBatch::new();
    assert!(batch.is_empty());
    batch
        .append("a", &a)
        .put_state("backfill/a", b"2")
        .delete_state("old");
    assert_eq!(store.write(&batch).expect("stored"), 2);
    assert_eq!(
        store.range("a", t0(), minute(2)).expect("readable"),
        a.to_vec()
    );
    assert_eq!(
        store.get_state("backfill/a").expect("readable"),
        Some(b"2".to_vec())
    );
    assert_eq!(store.get_state("old").expect("readable"), None);

    // A bad sample or key stops everything.
    let bad = [(minute(5), f64::NAN)];
    let mut batch = WriteBatch::new();
    batch.put_state("backfill/a", b"5").append("a", &bad);
    assert!(matches!(
        store.write(&batch),
        Err(StoreError::NonFinite { .. })
    ));
    let mut batch = WriteBatch::new();
    let five = [(minute(5), 5.0)];
    batch.append("a", &five).put_state("", b"5");
    assert!(matches!(
        store.write(&batch),
        Err(StoreError::InvalidName { .. })
    ));
    assert_eq!(
        store.get_state("backfill/a").expect("readable"),
        Some(b"2".to_vec())
    );
    assert_eq!(
        store.range("a", t0(), minute(10)).expect("readable").len(),
        2
    );
}

#[test]
fn bad_samples_reject_the_whole_call() {
    let (_dir, _path, store) = open_temp(StoreConfig::default());
    let good = [(minute(0), 1.0)];
    let bad = [(minute(0), 1.0), (minute(1), f64::NAN)];
    let err = store
        .append_batch(&[("a", &good), ("b", &bad)])
        .expect_err("NaN is rejected");
    match &err {
        StoreError::NonFinite { series, index, .. } => {
            assert_eq!((series.as_str(), *index), ("b", 1))
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("series \"b\": sample 1 at 2024-05-01 00:01:00 UTC is NaN")
    );
    assert!(
        store.series().expect("readable").is_empty(),
        "nothing was written"
    );

    let inf = [(minute(0), f64::INFINITY)];
    assert!(matches!(
        store.append("a", &inf),
        Err(StoreError::NonFinite { .. })
    ));
    let before_1970 = [(t0() - Duration::days(365 * 60), 1.0)];
    assert!(matches!(
        store.append("a", &before_1970),
        Err(StoreError::TimestampOutOfRange { index: 0, .. })
    ));
    assert!(matches!(
        store.append("", &good),
        Err(StoreError::InvalidName { .. })
    ));
    let long = "x".repeat(2000);
    assert!(matches!(
        store.append(&long, &good),
        Err(StoreError::InvalidName { .. })
    ));
    assert_eq!(store.append("a", &[]).expect("nothing to store"), 0);
    assert_eq!(store.check().expect("consistent").buckets, vec![0, 0]);
}

#[test]
fn batches_span_many_series_and_list_them() {
    let (_dir, _path, store) = open_temp(StoreConfig::default());
    let a = [(minute(0), 1.0), (minute(1), 2.0)];
    let b = [(minute(0), 3.0)];
    assert_eq!(
        store
            .append_batch(&[("redis/b", &b), ("rabbitmq/a", &a), ("redis/b", &b)])
            .expect("stored"),
        3,
        "the second redis/b sample is a duplicate"
    );
    assert_eq!(
        store.series().expect("readable"),
        vec!["rabbitmq/a", "redis/b"]
    );
    assert_eq!(
        store.range("redis/b", t0(), minute(1)).expect("readable"),
        vec![(minute(0), 3.0)]
    );
    assert!(store.delete_series("redis/b").expect("deleted"));
    assert!(!store.delete_series("redis/b").expect("already gone"));
    assert_eq!(store.series().expect("readable"), vec!["rabbitmq/a"]);
    assert!(
        store
            .range("redis/b", t0(), minute(1))
            .expect("readable")
            .is_empty()
    );
    // A new series of the same name starts empty.
    store
        .append("redis/b", &[(minute(3), 9.0)])
        .expect("stored");
    assert_eq!(
        store.range("redis/b", t0(), minute(10)).expect("readable"),
        vec![(minute(3), 9.0)]
    );
}

#[test]
fn reopening_after_a_clean_close_keeps_everything() {
    let (_dir, path) = temp_store_path();
    let samples: Vec<_> = (0..600).map(|m| (minute(m), (m % 17) as f64)).collect();
    {
        let store = Store::open(&path, StoreConfig::default()).expect("a new store");
        store.append("s", &samples).expect("stored");
        store.put_state("k", b"v").expect("stored");
        store.close().expect("closed cleanly");
    }
    let store = Store::open(&path, StoreConfig::default()).expect("reopened");
    assert_eq!(
        store.range("s", t0(), minute(600)).expect("readable"),
        samples
    );
    assert_eq!(store.get_state("k").expect("readable"), Some(b"v".to_vec()));
    // Writing continues with new ids for new series.
    store.append("t", &[(minute(1), 1.0)]).expect("stored");
    assert_eq!(store.series().expect("readable"), vec!["s", "t"]);
    let stats = store.check().expect("consistent");
    assert_eq!(stats.series, 2);
    assert_eq!(stats.buckets[0], 601);
}

#[test]
fn open_errors_are_typed_and_name_the_path() {
    let (dir, path) = temp_store_path();
    let store = Store::open(&path, StoreConfig::default()).expect("a new store");
    let err = Store::open(&path, StoreConfig::default()).expect_err("already open");
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(err.to_string().contains(&path.display().to_string()));
    drop(store);

    let other = StoreConfig {
        resolution: std::time::Duration::from_secs(30),
        tiers: vec![],
        ..StoreConfig::default()
    };
    let err = Store::open(&path, other).expect_err("other resolution");
    assert!(
        matches!(&err, StoreError::ConfigMismatch { field, .. } if field == "resolution"),
        "{err:?}"
    );
    let err = Store::open(&path, StoreConfig::without_tiers()).expect_err("other tiers");
    assert!(matches!(&err, StoreError::ConfigMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("[300 s]"), "{err}");
    // Retention may change.
    let longer = StoreConfig {
        retention: std::time::Duration::from_secs(90 * 86_400),
        ..StoreConfig::default()
    };
    Store::open(&path, longer).expect("retention is not part of the layout");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "timestamp,value\n2024-01-01T00:00:00Z,1\n").expect("written");
    let err = Store::open(&text, StoreConfig::default()).expect_err("not a store");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&text.display().to_string()));

    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb_database(&foreign);
        drop(db);
    }
    let err = Store::open(&foreign, StoreConfig::default()).expect_err("another program's redb");
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err:?}");

    let missing_dir = dir.path().join("no/such/dir/history.redb");
    let err = Store::open(&missing_dir, StoreConfig::default()).expect_err("no directory");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");

    let bad = StoreConfig {
        retention: std::time::Duration::ZERO,
        ..StoreConfig::default()
    };
    let fresh = dir.path().join("fresh.redb");
    assert!(matches!(
        Store::open(&fresh, bad),
        Err(StoreError::InvalidConfig { .. })
    ));
    assert!(!fresh.exists(), "a bad configuration touches no file");
}

#[test]
fn a_damaged_file_is_reported_not_panicked_on() {
    let (_dir, path) = temp_store_path();
    {
        let store = Store::open(&path, StoreConfig::default()).expect("a new store");
        store.append("s", &[(minute(0), 1.0)]).expect("stored");
    }
    // Overwrite the header (after the signature) with garbage.
    let mut bytes = std::fs::read(&path).expect("readable");
    for b in &mut bytes[9..64] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).expect("written");
    let err = Store::open(&path, StoreConfig::default()).expect_err("damaged");
    assert!(
        matches!(
            err,
            StoreError::Corrupt { .. } | StoreError::UnsupportedVersion { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(&path.display().to_string()));
}

#[test]
fn state_records_round_trip_by_key_and_prefix() {
    let (_dir, path) = temp_store_path();
    {
        let store = Store::open(&path, StoreConfig::default()).expect("a new store");
        assert_eq!(
            store.get_state("scaledobject/ns/a").expect("readable"),
            None
        );
        store
            .put_state("scaledobject/ns/a", br#"{"min":0}"#)
            .expect("stored");
        store
            .put_state("scaledobject/ns/b", br#"{"min":1}"#)
            .expect("stored");
        store.put_state("decision/ns/a", b"3").expect("stored");
        store
            .put_state("scaledobject/ns/a", br#"{"min":2}"#)
            .expect("replaced");
        store.put_state("scaledobject0", b"").expect("stored");
        assert!(matches!(
            store.put_state("", b"x"),
            Err(StoreError::InvalidName { .. })
        ));
    }
    let store = Store::open(&path, StoreConfig::default()).expect("reopened");
    assert_eq!(
        store.states("scaledobject/").expect("readable"),
        vec![
            ("scaledobject/ns/a".to_string(), br#"{"min":2}"#.to_vec()),
            ("scaledobject/ns/b".to_string(), br#"{"min":1}"#.to_vec()),
        ]
    );
    assert_eq!(store.states("").expect("readable").len(), 4);
    assert!(store.delete_state("scaledobject/ns/a").expect("deleted"));
    assert!(
        !store
            .delete_state("scaledobject/ns/a")
            .expect("already gone")
    );
    assert_eq!(store.states("scaledobject/").expect("readable").len(), 1);
    assert_eq!(
        store.get_state("decision/ns/a").expect("readable"),
        Some(b"3".to_vec())
    );
}

/// A redb database with a table of its own, as another program would write.
fn redb_database(path: &std::path::Path) -> redb::Database {
    let db = redb::Database::create(path).expect("a redb database");
    let txn = db.begin_write().expect("a transaction");
    {
        let def: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("other");
        let mut table = txn.open_table(def).expect("a table");
        table.insert("k", "v").expect("inserted");
    }
    txn.commit().expect("committed");
    db
}
