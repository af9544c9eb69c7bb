//! Store configuration: bucket width, retention, coarser tiers, cache.

use std::time::Duration;

use crate::error::{Result, StoreError};
use crate::grid::{BUCKETS_PER_CHUNK, Grid};

/// Largest resolution of any tier (bucket offsets are kept in milliseconds in a `u32`).
const MAX_RESOLUTION: Duration = Duration::from_secs(86_400);
/// Most coarser tiers a store may have.
const MAX_TIERS: usize = 8;

/// How a store buckets, keeps and caches its series.
///
/// The defaults ([`StoreConfig::default`]) keep 1-minute buckets for 35 days and 5-minute
/// buckets for 366 days, with a 128 MiB page cache.
///
/// Samples are aggregated into buckets of `resolution` (aligned to the Unix epoch); each bucket
/// keeps the count, sum, minimum, maximum and last value of its samples (see
/// [`Aggregation`](crate::Aggregation)). Each coarser [`Tier`] holds the same aggregates over wider
/// buckets, computed from the base buckets by [`Store::rollup`](crate::Store::rollup) (which
/// [`Store::enforce_retention`](crate::Store::enforce_retention) runs first).
///
/// The resolutions are part of the file's layout: opening a store with other resolutions than
/// it was created with is an error ([`StoreError::ConfigMismatch`]). Retentions and the cache
/// size may change between opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Width of a base bucket, in whole seconds, from 1 s to 1 day. Default 60 s.
    pub resolution: Duration,
    /// How long base buckets are kept, counted back from the `now` given to
    /// [`Store::enforce_retention`](crate::Store::enforce_retention). Default 35 days.
    ///
    /// Buckets are removed by whole chunks of 60 buckets (1 hour at 1-minute resolution), so up
    /// to one chunk more than the retention is kept.
    pub retention: Duration,
    /// Coarser tiers, finest first. Default: one tier of 5-minute buckets kept 366 days.
    ///
    /// A tier's resolution must be a whole multiple of the base resolution, larger than the
    /// previous tier's, and must divide 60 base buckets (so at 1-minute resolution: 2, 3, 4, 5,
    /// 6, 10, 12, 15, 20, 30 or 60 minutes). Its retention must be at least the base retention.
    pub tiers: Vec<Tier>,
    /// Most memory the page cache may use, in bytes. Default 128 MiB.
    pub cache_size_bytes: usize,
    /// Whether each commit also saves the allocator state and commits in two phases (redb's
    /// quick repair), so that reopening after a crash is almost instant instead of a walk over
    /// the whole file (about 1.3 s per GB of file measured here). Both are crash-safe; quick
    /// repair costs a second `fsync` per commit (a third or so of small batches' throughput
    /// here). Default false.
    pub quick_repair: bool,
}

/// A coarser tier of buckets, derived from the base buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// Width of a bucket of this tier.
    pub resolution: Duration,
    /// How long this tier's buckets are kept.
    pub retention: Duration,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            resolution: Duration::from_secs(60),
            retention: Duration::from_secs(35 * 86_400),
            tiers: vec![Tier {
                resolution: Duration::from_secs(300),
                retention: Duration::from_secs(366 * 86_400),
            }],
            cache_size_bytes: 128 * 1024 * 1024,
            quick_repair: false,
        }
    }
}

impl StoreConfig {
    /// The default configuration without coarser tiers (base buckets only).
    pub fn without_tiers() -> Self {
        Self {
            tiers: Vec::new(),
            ..Self::default()
        }
    }

    /// Checks the configuration and returns the bucket grid of every tier, base first.
    pub(crate) fn validate(&self) -> Result<Vec<TierSpec>> {
        let base_res = whole_seconds("resolution", self.resolution)?;
        if self.resolution > MAX_RESOLUTION {
            return Err(invalid("resolution", "must be at most 1 day"));
        }
        let base_ret = whole_seconds("retention", self.retention)?;
        if base_ret < base_res {
            return Err(invalid("retention", "must be at least the resolution"));
        }
        if self.tiers.len() > MAX_TIERS {
            return Err(invalid("tiers", "at most 8 tiers"));
        }
        let base_span = base_res * BUCKETS_PER_CHUNK as u64;
        let mut specs = vec![TierSpec::new(base_res, base_ret)];
        let mut previous = base_res;
        for (i, tier) in self.tiers.iter().enumerate() {
            let field = format!("tiers[{i}].resolution");
            let res = whole_seconds(&field, tier.resolution)?;
            if res <= previous {
                return Err(invalid(
                    &field,
                    "must be larger than the previous tier's (or the base) resolution",
                ));
            }
            if !res.is_multiple_of(base_res) {
                return Err(invalid(&field, "must be a multiple of the base resolution"));
            }
            if !base_span.is_multiple_of(res) {
                return Err(invalid(
                    &field,
                    &format!("must divide 60 base buckets ({base_span} s)"),
                ));
            }
            let field = format!("tiers[{i}].retention");
            let ret = whole_seconds(&field, tier.retention)?;
            if ret < base_ret {
                return Err(invalid(&field, "must be at least the base retention"));
            }
            specs.push(TierSpec::new(res, ret));
            previous = res;
        }
        Ok(specs)
    }
}

/// A validated tier: its grid and retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TierSpec {
    /// Bucket and chunk arithmetic.
    pub(crate) grid: Grid,
    /// Retention in milliseconds.
    pub(crate) retention_ms: i64,
}

impl TierSpec {
    fn new(res_secs: u64, retention_secs: u64) -> Self {
        Self {
            grid: Grid::new(res_secs as i64 * 1000),
            retention_ms: (retention_secs as i64).saturating_mul(1000),
        }
    }
}

fn whole_seconds(field: &str, d: Duration) -> Result<u64> {
    if d.subsec_nanos() != 0 {
        return Err(invalid(field, "must be a whole number of seconds"));
    }
    if d.as_secs() == 0 {
        return Err(invalid(field, "must be positive"));
    }
    // Keeps every millisecond count well inside i64.
    if d.as_secs() > 1_000 * 366 * 86_400 {
        return Err(invalid(field, "must be at most 1000 years"));
    }
    Ok(d.as_secs())
}

fn invalid(field: &str, reason: &str) -> StoreError {
    StoreError::InvalidConfig {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn default_is_valid() {
        let specs = StoreConfig::default().validate().expect("valid default");
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].grid.res_ms(), 60_000);
        assert_eq!(specs[0].grid.span_ms(), 3_600_000);
        assert_eq!(specs[1].grid.res_ms(), 300_000);
        assert_eq!(specs[0].retention_ms, 35 * 86_400_000);
    }

    #[test]
    fn invalid_configs_name_the_field() {
        let tier = |res, ret| Tier {
            resolution: secs(res),
            retention: secs(ret),
        };
        let cases: Vec<(StoreConfig, &str)> = vec![
            (
                StoreConfig {
                    resolution: Duration::from_millis(1500),
                    ..StoreConfig::default()
                },
                "resolution",
            ),
            (
                StoreConfig {
                    resolution: secs(0),
                    ..StoreConfig::default()
                },
                "resolution",
            ),
            (
                StoreConfig {
                    resolution: secs(2 * 86_400),
                    tiers: vec![],
                    ..StoreConfig::default()
                },
                "resolution",
            ),
            (
                StoreConfig {
                    retention: secs(30),
                    ..StoreConfig::default()
                },
                "retention",
            ),
            (
                StoreConfig {
                    tiers: vec![tier(420, 400 * 86_400)],
                    ..StoreConfig::default()
                },
                "tiers[0].resolution",
            ),
            (
                StoreConfig {
                    tiers: vec![tier(90, 400 * 86_400)],
                    ..StoreConfig::default()
                },
                "tiers[0].resolution",
            ),
            (
                StoreConfig {
                    tiers: vec![tier(300, 86_400)],
                    ..StoreConfig::default()
                },
                "tiers[0].retention",
            ),
            (
                StoreConfig {
                    tiers: vec![tier(600, 400 * 86_400), tier(300, 400 * 86_400)],
                    ..StoreConfig::default()
                },
                "tiers[1].resolution",
            ),
        ];
        for (config, field) in cases {
            match config.validate() {
                Err(StoreError::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{config:?}: expected an error on {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn tiers_that_divide_an_hour_are_accepted() {
        for minutes in [2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60] {
            let config = StoreConfig {
                tiers: vec![Tier {
                    resolution: secs(minutes * 60),
                    retention: secs(400 * 86_400),
                }],
                ..StoreConfig::default()
            };
            assert!(config.validate().is_ok(), "{minutes} min");
        }
    }
}
