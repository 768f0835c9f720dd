//! The history: one version per change, in the change's own write; kept after deletion;
//! transferred as stored; pruned only past the horizon.

use fido_domain::{Actor, HistoryAction, HistoryEntry};

use super::*;

fn key(name: &str) -> Actor {
    Actor::new(name).expect("valid actor")
}

fn shape(h: &[HistoryEntry]) -> Vec<(u64, HistoryAction, String)> {
    h.iter()
        .map(|e| (e.version, e.action, e.actor.as_str().to_owned()))
        .collect()
}

/// Create → two updates → delete, by two actors: four versions, oldest first, each with
/// the record as the change left it (the update's record before it too), readable after
/// the deletion; an id never written has none.
pub async fn every_change_writes_its_history_version(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let created = record(
        ids.id(1),
        user,
        at("2026-04-01T09:30:00.250Z"),
        amount("10.50"),
        Credit,
    );
    store
        .insert(created.clone(), key("alpha"))
        .await
        .expect("insert");
    let patch = |actor: &str, name: Option<&str>, amount, kind| RecordPatch {
        full_name: name.map(EncryptedName::new),
        amount,
        kind,
        updated_at: at("2026-04-02T00:00:00Z"),
        expected_version: None,
        actor: key(actor),
    };
    let second = done(
        store
            .update(created.id, patch("beta", Some("renamed-token"), None, None))
            .await
            .expect("update name"),
    );
    let third = done(
        store
            .update(
                created.id,
                patch("beta", None, Some(amount("0.01")), Some(Debit)),
            )
            .await
            .expect("update amount"),
    );
    let deleted_at = at("2026-04-03T12:00:00Z");
    store
        .delete(created.id, None, deleted_at, key("alpha"))
        .await
        .expect("delete");

    let history = store.history(created.id).await.expect("history");
    assert_eq!(
        shape(&history),
        [
            (1, HistoryAction::Created, "alpha".to_owned()),
            (2, HistoryAction::Updated, "beta".to_owned()),
            (3, HistoryAction::Updated, "beta".to_owned()),
            (4, HistoryAction::Deleted, "alpha".to_owned()),
        ]
    );
    assert_eq!(history[0], HistoryEntry::created(&created, key("alpha")));
    assert_eq!(
        history[1],
        HistoryEntry::updated(&created, &second, key("beta"))
    );
    assert_eq!(
        history[2],
        HistoryEntry::updated(&second, &third, key("beta"))
    );
    assert_eq!(
        history[3],
        HistoryEntry::deleted(&third, deleted_at, key("alpha"))
    );
    assert_eq!(store.get(created.id).await.expect("get"), None);
    assert!(store
        .history(ids.id(2))
        .await
        .expect("history of nothing")
        .is_empty());
}

/// A write that changes nothing (stale version, unknown id, duplicate id) writes no
/// version.
pub async fn failed_writes_write_no_history(store: &dyn Store) {
    let ids = IdSeq::new();
    let r = record(
        ids.id(1),
        fresh_user(),
        at("2026-04-01T10:00:00Z"),
        amount("1.00"),
        Credit,
    );
    store.insert(r.clone(), key("alpha")).await.expect("insert");
    assert_eq!(
        store.insert(r.clone(), key("beta")).await,
        Err(StoreError::Duplicate)
    );
    let stale = RecordPatch {
        full_name: None,
        amount: Some(amount("2.00")),
        kind: None,
        updated_at: Timestamp::now(),
        expected_version: Some(7),
        actor: key("beta"),
    };
    assert_eq!(
        store.update(r.id, stale.clone()).await.expect("update"),
        Written::VersionMismatch
    );
    assert_eq!(
        store.update(ids.id(2), stale).await.expect("update"),
        Written::NotFound
    );
    assert_eq!(
        store
            .delete(r.id, Some(9), Timestamp::now(), key("beta"))
            .await
            .expect("delete"),
        Written::VersionMismatch
    );
    let history = store.history(r.id).await.expect("history");
    assert_eq!(
        shape(&history),
        [(1, HistoryAction::Created, "alpha".to_owned())]
    );
    assert!(store.history(ids.id(2)).await.expect("history").is_empty());
}

/// History entries are listed by `(transaction id, version)` in resumable batches exactly
/// as stored, and put back as given (replacing the same key), with no other effect.
pub async fn history_transfers_in_order_and_puts_back_as_given(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let mut written = Vec::new();
    for i in 1..=3 {
        let r = record(
            ids.id(i),
            user,
            at("2026-04-05T10:00:00Z"),
            amount("4.00"),
            Credit,
        );
        store.insert(r.clone(), key("alpha")).await.expect("insert");
        written.push(HistoryEntry::created(&r, key("alpha")));
    }
    let listed = store
        .history_after(Some((ids.id(0), u64::MAX)), 3)
        .await
        .expect("list");
    assert_eq!(listed, written, "in id order, exactly as stored");
    let rest = store
        .history_after(Some((ids.id(1), 1)), 2)
        .await
        .expect("page");
    assert_eq!(rest, written[1..]);

    // Carried from elsewhere: a version of a transaction this store never held, and a
    // replacement of a kept one.
    let elsewhere = record(
        ids.id(5),
        user,
        at("2026-04-06T10:00:00Z"),
        amount("5.00"),
        Debit,
    );
    let mut later = elsewhere.clone();
    later.version = 2;
    later.amount = amount("6.00");
    let carried = vec![
        HistoryEntry::created(&elsewhere, key("gamma")),
        HistoryEntry::updated(&elsewhere, &later, key("gamma")),
    ];
    store.put_history(carried.clone()).await.expect("put");
    store.put_history(carried.clone()).await.expect("put again");
    assert_eq!(store.history(ids.id(5)).await.expect("history"), carried);
    assert_eq!(store.get(ids.id(5)).await.expect("get"), None, "no record");
}

/// An import writes a version by its actor for each creation and replacement — unless the
/// version is kept already (carried with the export) — and none for an unchanged record.
pub async fn imports_write_history_unless_it_was_carried(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let first = record(
        ids.id(1),
        user,
        at("2026-04-07T10:00:00Z"),
        amount("7.00"),
        Credit,
    );
    let carried = record(
        ids.id(2),
        user,
        at("2026-04-07T11:00:00Z"),
        amount("8.00"),
        Credit,
    );
    store
        .put_history(vec![HistoryEntry::created(&carried, key("source-key"))])
        .await
        .expect("carried history");
    store
        .import_records(vec![first.clone(), carried.clone()], Actor::import())
        .await
        .expect("import");
    let mut replaced = first.clone();
    replaced.amount = amount("7.50");
    replaced.version = 2;
    replaced.updated_at = at("2026-04-08T10:00:00Z");
    store
        .import_records(vec![replaced.clone(), carried.clone()], Actor::import())
        .await
        .expect("import again");
    assert_eq!(
        store.history(first.id).await.expect("history"),
        [
            HistoryEntry::created(&first, Actor::import()),
            HistoryEntry::updated(&first, &replaced, Actor::import()),
        ]
    );
    assert_eq!(
        shape(&store.history(carried.id).await.expect("history")),
        [(1, HistoryAction::Created, "source-key".to_owned())],
        "the carried version stays; unchanged records write none"
    );
}

/// Pruning removes the versions made before the horizon, and only those.
pub async fn pruning_history_removes_only_what_is_older(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    // Far in the past, so no other check's versions are older.
    let old = record(
        ids.id(1),
        user,
        at("1971-01-01T00:00:00Z"),
        amount("1.00"),
        Credit,
    );
    let young = record(
        ids.id(2),
        user,
        at("1971-03-01T00:00:00Z"),
        amount("1.00"),
        Credit,
    );
    store
        .insert(old.clone(), key("alpha"))
        .await
        .expect("insert");
    store
        .insert(young.clone(), key("alpha"))
        .await
        .expect("insert");
    let removed = store
        .prune_history(at("1971-02-01T00:00:00Z"))
        .await
        .expect("prune");
    assert!(removed >= 1);
    assert!(store.history(old.id).await.expect("history").is_empty());
    assert_eq!(store.history(young.id).await.expect("history").len(), 1);
    assert!(
        store.get(old.id).await.expect("get").is_some(),
        "pruning history leaves the transaction"
    );
}
