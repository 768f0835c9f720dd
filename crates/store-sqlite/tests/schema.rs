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
        store
            .insert(r, fido_testkit::fixtures::actor())
            .await
            .expect("insert");
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
    assert_eq!(version, 7, "the latest schema version");
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

#[tokio::test]
async fn a_version_1_database_is_migrated_and_its_rows_start_at_version_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fido.db");
    // The schema as release 1 wrote it, with one row.
    rusqlite::Connection::open(&path)
        .and_then(|c| {
            c.execute_batch(
                "CREATE TABLE transactions (
                    id BLOB NOT NULL PRIMARY KEY CHECK (length(id) = 12),
                    user_id BLOB NOT NULL CHECK (length(user_id) = 12),
                    full_name TEXT NOT NULL,
                    amount_cents INTEGER NOT NULL CHECK (amount_cents BETWEEN 0 AND 100000000000000),
                    kind TEXT NOT NULL CHECK (kind IN ('credit', 'debit')),
                    transaction_date INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL);
                 INSERT INTO transactions VALUES
                    (x'0102030405060708090a0b0c', x'0102030405060708090a0b0d', 'tok', 1050, 'credit', 0, 0, 0);
                 PRAGMA user_version = 1;",
            )
        })
        .expect("a version 1 database");
    let store = SqliteStore::open(SqliteConfig::new(&path))
        .await
        .expect("migrates");
    let id = fido_domain::TransactionId::parse("0102030405060708090a0b0c").expect("id");
    let record = store
        .get(id)
        .await
        .expect("get")
        .expect("the old row is still there");
    assert_eq!((record.version, record.amount.cents()), (1, 1050));
    // The daily roll-ups were built from the existing rows, and statistics read them.
    let user = fido_domain::UserId::parse("0102030405060708090a0b0d").expect("user");
    let totals = store.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!((totals.count, totals.total_credit.cents()), (1, 1050));
    let rollup: (i64, i64, i64) = rusqlite::Connection::open(&path)
        .and_then(|c| {
            c.query_row("SELECT day, count, credit_lo FROM daily_totals", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
        })
        .expect("one roll-up row");
    assert_eq!(rollup, (0, 1, 1050));
}

/// Issue 27: a transfer that writes rows again (an interrupted `fido import` run again, with
/// changed amounts, types and days) keeps the roll-ups equal to the rows at every commit,
/// without a repair.
#[tokio::test]
async fn writing_a_transfer_batch_again_keeps_the_rollups_equal_to_the_rows() {
    use fido_domain::{DailyRollups, StoreTransfer};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(SqliteConfig::new(dir.path().join("fido.db")))
        .await
        .expect("open");
    let ids = IdSeq::new();
    let user = fresh_user();
    let first: Vec<_> = (0..20)
        .map(|i| {
            record(
                ids.id(i),
                user,
                at("2026-04-01T10:00:00Z").plus_millis(i64::from(i) * 3_600_000),
                amount("1.25"),
                TransactionType::Credit,
            )
        })
        .collect();
    for _ in 0..3 {
        store.put_records(first.clone()).await.expect("put");
    }
    let mut changed = first.clone();
    for (i, r) in changed.iter_mut().enumerate().filter(|(i, _)| i % 3 == 0) {
        r.amount = amount("7.10");
        r.kind = TransactionType::Debit;
        r.transaction_date = at("2026-05-09T00:00:00Z").plus_millis(i64::try_from(i).unwrap_or(0));
    }
    store
        .put_records(changed.clone())
        .await
        .expect("put changed");
    let drift = store.check_user(user, false).await.expect("check");
    assert!(drift.is_empty(), "the roll-ups equal the rows: {drift:?}");
    let totals = store.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!(totals.count, 20);
    let debits = changed
        .iter()
        .filter(|r| r.kind == TransactionType::Debit)
        .count() as u64;
    assert_eq!(totals.total_debit.cents(), i128::from(debits * 710));
    assert_eq!(totals.total_credit.cents(), i128::from((20 - debits) * 125));
}
