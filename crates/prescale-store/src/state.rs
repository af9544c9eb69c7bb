//! State records: small key → bytes values (e.g. JSON), kept across restarts.

use crate::error::Result;
use crate::store::{STATE, Store};
use crate::write::check_name;

impl Store {
    /// Stores `value` under `key`, replacing any previous value. Durable when it returns `Ok`.
    ///
    /// Keys are non-empty and at most 1024 bytes; values are meant to be small (a few KiB: each
    /// call rewrites the value and waits for `fsync`).
    pub fn put_state(&self, key: &str, value: &[u8]) -> Result<()> {
        check_name("state key", key)?;
        let txn = self.begin_write()?;
        {
            let mut table = txn.open_table(STATE).map_err(|e| self.err(e))?;
            table.insert(key, value).map_err(|e| self.err(e))?;
        }
        txn.commit().map_err(|e| self.err(e))
    }

    /// The value stored under `key`, if any.
    pub fn get_state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let txn = self.begin_read()?;
        let table = txn.open_table(STATE).map_err(|e| self.err(e))?;
        Ok(table
            .get(key)
            .map_err(|e| self.err(e))?
            .map(|v| v.value().to_vec()))
    }

    /// Removes the value under `key`; returns whether there was one. Durable when it returns.
    pub fn delete_state(&self, key: &str) -> Result<bool> {
        let txn = self.begin_write()?;
        let existed = {
            let mut table = txn.open_table(STATE).map_err(|e| self.err(e))?;
            table.remove(key).map_err(|e| self.err(e))?.is_some()
        };
        txn.commit().map_err(|e| self.err(e))?;
        Ok(existed)
    }

    /// Every record whose key starts with `prefix` (all records for `""`), sorted by key.
    pub fn states(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let txn = self.begin_read()?;
        let table = txn.open_table(STATE).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for entry in table.range(prefix..).map_err(|e| self.err(e))? {
            let (k, v) = entry.map_err(|e| self.err(e))?;
            let k = k.value();
            if !k.starts_with(prefix) {
                break;
            }
            out.push((k.to_string(), v.value().to_vec()));
        }
        Ok(out)
    }
}
