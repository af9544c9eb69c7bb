//! Downsampling into the coarser tier and retention of every tier.

mod common;

use std::time::Duration as StdDuration;

use chrono::Duration;
use common::{minute, open_temp, t0};
use prescale_store::{Aggregation, Sample, StoreConfig, Tier};

const DAY: u64 = 86_400;

/// 1-minute buckets kept 2 days, 5-minute buckets kept 10 days.
fn short_config() -> StoreConfig {
    StoreConfig {
        resolution: StdDuration::from_secs(60),
        retention: StdDuration::from_secs(2 * DAY),
        tiers: vec![Tier {
            resolution: StdDuration::from_secs(300),
            retention: StdDuration::from_secs(10 * DAY),
        }],
        ..StoreConfig::default()
    }
}

fn minutes(from: i64, to: i64, value: impl Fn(i64) -> f64) -> Vec<Sample> {
    (from..to).map(|m| (minute(m), value(m))).collect()
}

#[test]
fn rollup_aggregates_base_buckets_into_the_coarser_tier() {
    let (_dir, _path, store) = open_temp(short_config());
    // Minutes 0..10 one sample each (value = minute); minute 10 gets four samples.
    store
        .append("s", &minutes(0, 10, |m| m as f64))
        .expect("stored");
    let burst: Vec<Sample> = (0..4)
        .map(|i| (minute(10) + Duration::seconds(15 * i), 100.0 + i as f64))
        .collect();
    store.append("s", &burst).expect("stored");
    assert_eq!(store.check().expect("consistent").pending_rollup, 1);
    assert!(
        store
            .range_with("s", 1, t0(), minute(60), Aggregation::Mean)
            .expect("readable")
            .is_empty(),
        "the tier fills at rollup"
    );
    assert_eq!(store.rollup().expect("rolled up"), 1);
    assert_eq!(store.rollup().expect("nothing pending"), 0);

    let tier = store.buckets("s", 1, t0(), minute(60)).expect("readable");
    assert_eq!(tier.len(), 3);
    assert_eq!(tier[0].start, minute(0));
    assert_eq!(
        (tier[0].count, tier[0].sum, tier[0].min, tier[0].max),
        (5, 10.0, 0.0, 4.0)
    );
    assert_eq!((tier[0].last, tier[0].last_at), (4.0, minute(4)));
    assert_eq!(tier[1].mean(), 7.0);
    // The mean is over samples, not over base buckets: (100+101+102+103) / 4.
    assert_eq!(
        (tier[2].start, tier[2].count, tier[2].mean()),
        (minute(10), 4, 101.5)
    );
    assert_eq!(tier[2].last_at, minute(10) + Duration::seconds(45));

    // A late sample shows in the tier after the next rollup.
    store.append("s", &[(minute(2), 50.0)]).expect("stored");
    let before = store
        .range_with("s", 1, t0(), minute(5), Aggregation::Max)
        .expect("readable");
    assert_eq!(before, vec![(minute(0), 4.0)]);
    store.rollup().expect("rolled up");
    let after = store
        .range_with("s", 1, t0(), minute(5), Aggregation::Max)
        .expect("readable");
    assert_eq!(after, vec![(minute(0), 50.0)]);
    assert_eq!(
        store
            .range_with("s", 1, t0(), minute(5), Aggregation::Count)
            .expect("readable"),
        vec![(minute(0), 6.0)]
    );
}

#[test]
fn retention_removes_old_buckets_per_tier_and_keeps_the_rollup() {
    let (_dir, _path, store) = open_temp(short_config());
    let total = 12 * 1440;
    let value = |m: i64| (m % 7) as f64;
    store
        .append("a", &minutes(0, total, value))
        .expect("stored");
    store
        .append("b", &minutes(0, total, value))
        .expect("stored");
    let now = minute(total);

    let removed = store.enforce_retention(now).expect("enforced");
    // Base: everything before now - 2 days goes (an hour boundary, as t0 is). Tier: everything
    // before now - 10 days rounded down to its chunk boundary (5 hours since the epoch).
    let base_kept_from = total - 2 * 1440;
    let t0_min = t0().timestamp() / 60;
    let tier_horizon_min = (t0_min + 2 * 1440) / 300 * 300 - t0_min;
    assert_eq!(tier_horizon_min, 2640);
    let tier_removed_per_series = tier_horizon_min / 5;
    let base_removed_per_series = base_kept_from;
    assert_eq!(
        removed as i64,
        2 * (base_removed_per_series + tier_removed_per_series),
        "buckets removed"
    );

    let base = store.range("a", t0(), now).expect("readable");
    assert_eq!(
        base.first(),
        Some(&(minute(base_kept_from), value(base_kept_from)))
    );
    assert_eq!(base.len() as i64, 2 * 1440);
    // The tier still holds 5-minute means of the days the base tier dropped.
    let tier = store
        .range_with("a", 1, t0(), now, Aggregation::Mean)
        .expect("readable");
    assert_eq!(tier.first().map(|p| p.0), Some(minute(tier_horizon_min)));
    assert_eq!(tier.len() as i64, (total - tier_horizon_min) / 5);
    let expected_first = (0..5).map(|i| value(tier_horizon_min + i)).sum::<f64>() / 5.0;
    assert_eq!(tier[0].1, expected_first);

    // Samples older than the base horizon are skipped, not stored.
    assert_eq!(
        store.append("a", &[(minute(10), 1.0)]).expect("accepted"),
        0
    );
    assert_eq!(
        store
            .append("a", &[(minute(10), 1.0), (minute(base_kept_from), 1.5)])
            .expect("accepted"),
        1
    );
    // The horizon never moves back.
    assert_eq!(store.enforce_retention(t0()).expect("enforced"), 0);
    assert_eq!(
        store.append("a", &[(minute(10), 1.0)]).expect("accepted"),
        0
    );
    // Nothing more to remove at the same time.
    assert_eq!(store.enforce_retention(now).expect("enforced"), 0);
    let stats = store.check().expect("consistent");
    assert_eq!(stats.pending_rollup, 0);
    assert_eq!(stats.buckets[0] as i64, 2 * 2 * 1440);

    // Deleting a series removes it from every tier.
    assert!(store.delete_series("b").expect("deleted"));
    let stats = store.check().expect("consistent");
    assert_eq!(stats.series, 1);
    assert_eq!(stats.buckets[1] as i64, (total - tier_horizon_min) / 5);
}

#[test]
fn without_tiers_nothing_is_rolled_up() {
    let (_dir, _path, store) = open_temp(StoreConfig::without_tiers());
    store
        .append("s", &minutes(0, 120, |m| m as f64))
        .expect("stored");
    assert_eq!(store.rollup().expect("nothing to do"), 0);
    let stats = store.check().expect("consistent");
    assert_eq!((stats.chunks.len(), stats.pending_rollup), (1, 0));
    // 35 days later, both hours are gone.
    let removed = store
        .enforce_retention(minute(120) + Duration::days(35))
        .expect("enforced");
    assert_eq!(removed, 120);
    assert!(
        store
            .range("s", t0(), minute(120))
            .expect("readable")
            .is_empty()
    );
    assert_eq!(store.latest("s").expect("readable"), None);
    assert_eq!(store.series().expect("readable"), vec!["s"]);
}
