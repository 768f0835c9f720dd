//! # fido-store-sqlite — the embedded store (the default)
//!
//! Implements every storage port of the domain ([`fido_domain::Store`]) on one SQLite file
//! (`./data/fido.db` by default), so the service runs with no server to install. Laid out
//! like the MongoDB store: a module per port (`transactions`, `statistics`, `idempotency`,
//! `events`, `rollups`, `transfer`, `switches`), the row codecs in `rows`, error mapping in
//! `errors`; this root keeps the configuration and the opening.
//!
//! - **Off the async runtime**: reads run on tokio's blocking pool, on one of several reader
//!   connections (WAL lets them run alongside the writer), waiting for a free one in an
//!   async semaphore; writes go to the one writer connection on its own thread.
//! - **Durable, with group commit**: WAL journal, `synchronous = FULL` by default (a commit
//!   survives power loss). Writes that arrive while a commit is under way share the next
//!   one (one fsync for the batch), each in its own savepoint; a write returns only once
//!   its batch has committed (see `writer.rs`).
//! - **Schema** created and migrated at open, versioned by `PRAGMA user_version`.
//! - **Statistics in SQL**: one statement computes count, exact per-type sums and the
//!   busiest UTC day over the `(user_id, transaction_date, id, kind, amount_cents)` index,
//!   which also serves the list query.

mod errors;
mod events;
mod history;
mod idempotency;
mod listing;
mod pool;
mod private;
mod rollups;
mod rows;
mod schema;
mod statistics;
mod switches;
mod transactions;
mod transfer;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fido_domain::StoreError;
use rusqlite::Connection;

use crate::errors::map_error;
use crate::pool::Pool;
use crate::writer::Writer;

/// How a commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = FULL`: every commit is on disk before it returns (default).
    #[default]
    Full,
    /// `synchronous = NORMAL`: commits survive a crash of the process, but the last ones
    /// may be lost on power failure. Much faster on slow disks.
    Normal,
}

/// Settings of the embedded store.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// The database file; its folder is created if missing.
    pub path: PathBuf,
    /// How many reader connections (default 4).
    pub readers: usize,
    /// Commit durability.
    pub durability: Durability,
    /// Whether each change also writes its event to the outbox (default on).
    pub events: bool,
}

/// A setting of the embedded store that is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The number of reader connections.
    #[error("store.sqlite_readers must be between 1 and 64")]
    Readers,
}

impl SqliteConfig {
    /// Checks this adapter's rules, naming the first one broken.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=64).contains(&self.readers) {
            return Err(ConfigError::Readers);
        }
        Ok(())
    }

    /// Defaults for a file path.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            readers: 4,
            durability: Durability::Full,
            events: true,
        }
    }
}

/// The SQLite store. Cheap to clone; clones share the connections.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    readers: Arc<Pool>,
    path: PathBuf,
    events: bool,
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the database.
    pub async fn open(config: SqliteConfig) -> Result<Self, StoreError> {
        let path = config.path.clone();
        let events = config.events;
        tokio::task::spawn_blocking(move || Self::open_blocking(&config))
            .await
            .map_err(|e| StoreError::Internal(format!("open task failed: {e}")))?
            .map(|(writer, readers)| Self {
                writer: Arc::new(writer),
                readers: Arc::new(readers),
                path,
                events,
            })
    }

    fn open_blocking(config: &SqliteConfig) -> Result<(Writer, Pool), StoreError> {
        if let Some(dir) = config.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private::create_dir(dir).map_err(|e| {
                StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
            })?;
        }
        private::prepare_database_file(&config.path).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", config.path.display()))
        })?;
        let writer = connect(&config.path, config.durability)?;
        schema::migrate(&writer)?;
        let readers = (0..config.readers.max(1))
            .map(|_| connect(&config.path, config.durability))
            .collect::<Result<Vec<_>, _>>()?;
        let writer = Writer::start(writer)
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok((writer, Pool::new(readers)))
    }

    /// Signalled after each commit of this process's writes (so the event relay in the
    /// same process can deliver at once instead of waiting for its next poll).
    pub fn commits(&self) -> Arc<tokio::sync::Notify> {
        self.writer.commits()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn connect(path: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(map_error)?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = {synchronous};
         PRAGMA busy_timeout = 5000;
         PRAGMA foreign_keys = ON;"
    ))
    .map_err(map_error)?;
    Ok(conn)
}
