//! What only the embedded store has: a file on disk with a versioned schema.

use fido_domain::{DateRange, StatisticsQuery, StoreError, TransactionStore, TransactionType};
use fido_store_sqlite::{SqliteConfig, SqliteStore};
use fido_testkit::fixtures::{amount, at, fresh_user, record, IdSeq};

#[tokio::test]
async fn reopening_keeps_the_data_and_the_schema_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("nested/folder/fido.db");
    let ids = IdSeq::new();
    let user = fresh_user();
    {
        let store = SqliteStore::open(SqliteConfig::new(&path))
            .await
            .expect("open");
        let r = record(
            ids.id(1),
            user,
            at("2025-05-05T05:05:05.005Z"),
            amount("12.34"),
            TransactionType::Debit,
        );
        store.insert(r).await.expect("insert");
    }
    let store = SqliteStore::open(SqliteConfig::new(&path))
        .await
        .expect("reopen");
    assert!(store.get(ids.id(1)).await.expect("get").is_some());
    assert_eq!(
        store
            .totals(user, DateRange::ALL)
            .await
            .expect("totals")
            .total_debit
            .cents(),
        1234
    );
    let version: i64 = rusqlite::Connection::open(&path)
        .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
        .expect("version");
    assert_eq!(version, 1);
}

#[tokio::test]
async fn a_database_from_a_newer_binary_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fido.db");
    rusqlite::Connection::open(&path)
        .and_then(|c| c.execute_batch("PRAGMA user_version = 99;"))
        .expect("prepare");
    match SqliteStore::open(SqliteConfig::new(&path)).await {
        Err(StoreError::Internal(message)) => assert!(message.contains("newer"), "{message}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unopenable_path_is_unavailable_not_a_panic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, b"not a folder").expect("write");
    let result = SqliteStore::open(SqliteConfig::new(blocker.join("fido.db"))).await;
    assert!(
        matches!(result, Err(StoreError::Unavailable(_))),
        "{result:?}"
    );
}
