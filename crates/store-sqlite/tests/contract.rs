//! The embedded store passes the shared store contract suite, on a fresh file per test.

use fido_store_sqlite::{SqliteConfig, SqliteStore};

/// Keeps the temporary folder alive as long as the store.
struct TempStore {
    store: SqliteStore,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TempStore {
    type Target = SqliteStore;
    fn deref(&self) -> &SqliteStore {
        &self.store
    }
}

async fn fresh() -> Option<TempStore> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteConfig::new(dir.path().join("fido.db")))
        .await
        .expect("open");
    Some(TempStore { store, _dir: dir })
}

fido_testkit::store_contract_tests!(fresh());
