//! Opening a store: the file, its tables, the layout check; errors from the engine.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use redb::{
    Database, DatabaseError, ReadableDatabase, ReadableTable, StorageError, TableDefinition,
    TableError, WriteTransaction,
};

use crate::config::{StoreConfig, TierSpec};
use crate::error::{Result, StoreError};

/// Version of the table layout and chunk encoding this build reads and writes.
pub(crate) const LAYOUT_VERSION: u64 = 2;
/// The redb file format version that redb 4 reads and writes.
const REDB_FORMAT_VERSION: u64 = 3;
/// The first bytes of every redb file.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// Layout facts and counters: `layout_version`, `resolution_ms`, `tiers`, `tier{i}_resolution_ms`,
/// `next_series_id`, `tier{i}_horizon_ms`.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Series name → series id.
pub(crate) const SERIES: TableDefinition<&str, u32> = TableDefinition::new("series");
/// State key → bytes.
pub(crate) const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// Keys of base chunks written since the last rollup (only with coarser tiers).
pub(crate) const DIRTY: TableDefinition<u64, ()> = TableDefinition::new("dirty");
/// Chunk tables, one per tier (base first): chunk key → encoded chunk.
const CHUNK_TABLES: [&str; 9] = [
    "chunks0", "chunks1", "chunks2", "chunks3", "chunks4", "chunks5", "chunks6", "chunks7",
    "chunks8",
];

/// The chunk table of tier `tier`.
pub(crate) fn chunks(tier: usize) -> TableDefinition<'static, u64, &'static [u8]> {
    TableDefinition::new(CHUNK_TABLES[tier])
}

/// The meta key of tier `tier`'s retention horizon (ms; chunks before it are gone).
pub(crate) fn horizon_key(tier: usize) -> String {
    format!("tier{tier}_horizon_ms")
}

/// An embedded, crash-safe store of downsampled time series and small state records.
///
/// See the [crate documentation](crate) for the model. A `Store` is `Send + Sync`; share it in
/// an `Arc`. Every method is synchronous and may wait on disk (writes wait for `fsync`), so
/// async callers should use `spawn_blocking`. Writes are serialized; reads run concurrently
/// with each other and with a write, each on a consistent snapshot.
pub struct Store {
    pub(crate) db: Database,
    pub(crate) path: PathBuf,
    pub(crate) config: StoreConfig,
    /// Base tier first.
    pub(crate) tiers: Vec<TierSpec>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store at `path`, creating the file if it does not exist.
    ///
    /// Errors: [`StoreError::InvalidConfig`] for a bad configuration,
    /// [`StoreError::NotAStore`] for a file that is not a store, [`StoreError::Corrupt`] for a
    /// damaged one, [`StoreError::Locked`] when another `Store` has it open,
    /// [`StoreError::UnsupportedVersion`] for another version's file,
    /// [`StoreError::ConfigMismatch`] when the resolutions differ from the file's, and
    /// [`StoreError::Open`] for I/O errors (missing directory, permissions). All name `path`.
    pub fn open(path: &Path, config: StoreConfig) -> Result<Store> {
        let tiers = config.validate()?;
        check_magic(path)?;
        let db = Database::builder()
            .set_cache_size(config.cache_size_bytes)
            .create(path)
            .map_err(|e| open_error(path, e))?;
        let store = Store {
            db,
            path: path.to_path_buf(),
            config,
            tiers,
        };
        store.init_layout()?;
        tracing::debug!(path = %store.path.display(), "Opened history store.");
        Ok(store)
    }

    /// Closes the store, reporting any error the engine meets while closing (dropping the store
    /// closes it too, ignoring such errors).
    pub fn close(self) -> Result<()> {
        let path = self.path;
        self.db.close().map_err(|e| db_error(&path, e))
    }

    /// Checks every page of the file against its checksum (reading the whole file), repairing
    /// what the engine can (rolling back to the last intact commit). Returns `true` when the
    /// file was intact, `false` when it was repaired.
    ///
    /// Errors: [`StoreError::Corrupt`] when the file is damaged beyond repair,
    /// [`StoreError::Storage`] for I/O errors.
    pub fn verify(&mut self) -> Result<bool> {
        let path = self.path.clone();
        self.db.check_integrity().map_err(|e| db_error(&path, e))
    }

    /// The file of this store.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Creates the tables of a new store, or checks an existing store's layout against the
    /// configuration.
    fn init_layout(&self) -> Result<()> {
        let txn = self.begin_write()?;
        {
            let existing: Vec<String> = txn
                .list_tables()
                .map_err(|e| self.err(e))?
                .map(|t| redb::TableHandle::name(&t).to_string())
                .collect();
            let mut meta = txn.open_table(META).map_err(|e| self.table_error(e))?;
            let version = meta.get("layout_version").map_err(|e| self.err(e))?;
            match version.map(|v| v.value()) {
                None if !existing.is_empty() => {
                    return Err(StoreError::NotAStore {
                        path: self.path.clone(),
                        reason: format!(
                            "a redb database with other tables ({})",
                            existing.join(", ")
                        ),
                    });
                }
                None => self.write_layout(&mut meta)?,
                Some(LAYOUT_VERSION) => self.check_layout(&meta)?,
                Some(found) => {
                    return Err(StoreError::UnsupportedVersion {
                        path: self.path.clone(),
                        what: "store layout",
                        found,
                        expected: LAYOUT_VERSION,
                    });
                }
            }
            for tier in 0..self.tiers.len() {
                txn.open_table(chunks(tier))
                    .map_err(|e| self.table_error(e))?;
            }
            txn.open_table(SERIES).map_err(|e| self.table_error(e))?;
            txn.open_table(STATE).map_err(|e| self.table_error(e))?;
            txn.open_table(DIRTY).map_err(|e| self.table_error(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    fn write_layout(&self, meta: &mut redb::Table<&str, u64>) -> Result<()> {
        let mut put = |k: &str, v: u64| meta.insert(k, v).map(|_| ()).map_err(|e| self.err(e));
        put("layout_version", LAYOUT_VERSION)?;
        put("tiers", self.tiers.len() as u64 - 1)?;
        for (i, tier) in self.tiers.iter().enumerate() {
            put(&format!("tier{i}_resolution_ms"), tier.grid.res_ms() as u64)?;
        }
        put("next_series_id", 0)
    }

    fn check_layout(&self, meta: &redb::Table<&str, u64>) -> Result<()> {
        let get = |k: &str| -> Result<Option<u64>> {
            Ok(meta.get(k).map_err(|e| self.err(e))?.map(|v| v.value()))
        };
        let stored_tiers = get("tiers")?.unwrap_or(0) as usize;
        let mismatch =
            |field: &str, stored: String, requested: String| StoreError::ConfigMismatch {
                path: self.path.clone(),
                field: field.to_string(),
                stored,
                requested,
            };
        let stored_res = |i: usize| -> Result<u64> {
            get(&format!("tier{i}_resolution_ms"))?.ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                reason: format!("layout record tier{i}_resolution_ms is missing"),
            })
        };
        let base = stored_res(0)?;
        if base != self.tiers[0].grid.res_ms() as u64 {
            return Err(mismatch(
                "resolution",
                format!("{} s", base / 1000),
                format!("{} s", self.tiers[0].grid.res_ms() / 1000),
            ));
        }
        let stored: Vec<u64> = (1..=stored_tiers).map(stored_res).collect::<Result<_>>()?;
        let requested: Vec<u64> = self.tiers[1..]
            .iter()
            .map(|t| t.grid.res_ms() as u64)
            .collect();
        if stored != requested {
            let show = |v: &[u64]| {
                let items: Vec<String> = v.iter().map(|ms| format!("{} s", ms / 1000)).collect();
                format!("[{}]", items.join(", "))
            };
            return Err(mismatch(
                "tiers (resolutions)",
                show(&stored),
                show(&requested),
            ));
        }
        Ok(())
    }

    /// Begins a write transaction with immediate durability (committed means on disk).
    pub(crate) fn begin_write(&self) -> Result<WriteTransaction> {
        let mut txn = self.db.begin_write().map_err(|e| self.err(e))?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(|e| self.err(e))?;
        txn.set_quick_repair(self.config.quick_repair);
        Ok(txn)
    }

    /// Begins a read transaction (a consistent snapshot).
    pub(crate) fn begin_read(&self) -> Result<redb::ReadTransaction> {
        self.db.begin_read().map_err(|e| self.err(e))
    }

    /// Maps an engine error to a store error naming the file.
    pub(crate) fn err(&self, e: impl Into<redb::Error>) -> StoreError {
        db_error(&self.path, e)
    }

    /// Maps a table error; a table of unexpected types means the file is not a store.
    pub(crate) fn table_error(&self, e: TableError) -> StoreError {
        match e {
            TableError::TableTypeMismatch { table, .. } => StoreError::NotAStore {
                path: self.path.clone(),
                reason: format!("table {table:?} has other key or value types"),
            },
            other => self.err(other),
        }
    }

    /// A chunk that does not decode.
    pub(crate) fn corrupt_chunk(&self, tier: usize, key: u64, reason: String) -> StoreError {
        let (series, chunk) = crate::grid::split_key(key);
        StoreError::Corrupt {
            path: self.path.clone(),
            reason: format!("tier {tier}, series id {series}, chunk {chunk}: {reason}"),
        }
    }
}

/// Refuses an existing, non-empty file that does not start like a redb database.
fn check_magic(path: &Path) -> Result<()> {
    let Ok(mut file) = File::open(path) else {
        // Missing (it will be created) or unreadable (the engine reports it).
        return Ok(());
    };
    let mut head = [0u8; REDB_MAGIC.len()];
    let mut filled = 0;
    while filled < head.len() {
        match file.read(&mut head[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(_) => return Ok(()),
        }
    }
    if filled == 0 || head == REDB_MAGIC {
        return Ok(());
    }
    Err(StoreError::NotAStore {
        path: path.to_path_buf(),
        reason: "the file does not start with redb's signature".to_string(),
    })
}

fn open_error(path: &Path, e: DatabaseError) -> StoreError {
    match e {
        DatabaseError::Storage(StorageError::Io(io)) => {
            if io.kind() == std::io::ErrorKind::InvalidData {
                StoreError::NotAStore {
                    path: path.to_path_buf(),
                    reason: io.to_string(),
                }
            } else {
                StoreError::Open {
                    path: path.to_path_buf(),
                    source: redb::Error::Io(io),
                }
            }
        }
        other => db_error(path, other),
    }
}

/// Maps an engine error to a store error naming `path`.
pub(crate) fn db_error(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    let path = path.to_path_buf();
    match e.into() {
        redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
            StoreError::Locked { path }
        }
        redb::Error::UpgradeRequired(version) => StoreError::UnsupportedVersion {
            path,
            what: "redb file format",
            found: u64::from(version),
            expected: REDB_FORMAT_VERSION,
        },
        redb::Error::Corrupted(reason) => StoreError::Corrupt { path, reason },
        redb::Error::RepairAborted => StoreError::Corrupt {
            path,
            reason: "the file needs repair and repair was aborted".to_string(),
        },
        source => StoreError::Storage { path, source },
    }
}
