//! The event log: one event per change, in order; cursors under the lease; retention; numbering.

use super::*;

/// Every change writes its event, in order, with sequences 1, 2, 3…; updates carry the
/// fields before and which fields changed (the name only by its field name); deletes carry
/// the record as it was.
pub async fn events_follow_every_change_in_order(store: &dyn Store) {
    if !store.enabled() {
        return;
    }
    let ids = IdSeq::new();
    let user = fresh_user();
    let r = record(
        ids.id(1),
        user,
        at("2026-03-01T10:00:00Z"),
        amount("10.50"),
        Credit,
    );
    store.insert(r.clone(), actor()).await.expect("insert");
    let patch = |amount, name: Option<&str>| RecordPatch {
        actor: actor(),
        full_name: name.map(EncryptedName::new),
        amount,
        kind: None,
        updated_at: at("2026-03-02T00:00:00Z"),
        expected_version: None,
    };
    store
        .update(r.id, patch(Some(amount("12.25")), None))
        .await
        .expect("update amount");
    store
        .update(r.id, patch(None, Some("another-token")))
        .await
        .expect("update name");
    store
        .delete(r.id, None, Timestamp::now(), actor())
        .await
        .expect("delete");

    settle(store).await;
    let page = store.events_after(0, 100).await.expect("feed");
    let seqs: Vec<u64> = page.events.iter().map(|e| e.sequence).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert_eq!((page.last_sequence, page.pruned_through), (4, 0));
    let kinds: Vec<EventKind> = page.events.iter().map(|e| e.event.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Created,
            EventKind::Updated,
            EventKind::Updated,
            EventKind::Deleted
        ]
    );
    let [created, amount_changed, name_changed, deleted] = &page.events[..] else {
        unreachable!("four events");
    };
    let after = created.event.after.expect("created has the resource");
    assert_eq!(
        (after.id, after.user_id, after.amount, after.kind),
        (r.id, user, amount("10.50"), Credit)
    );
    assert_eq!(
        (after.transaction_date, after.version),
        (r.transaction_date, 1)
    );
    assert_eq!(created.event.before, None);
    assert_eq!(created.event.occurred_at, r.created_at);

    let (before, after) = (
        amount_changed.event.before.expect("before"),
        amount_changed.event.after.expect("after"),
    );
    assert_eq!((before.amount, before.version), (amount("10.50"), 1));
    assert_eq!((after.amount, after.version), (amount("12.25"), 2));
    assert_eq!(amount_changed.event.changed, [ChangedField::Amount]);
    assert_eq!(amount_changed.event.occurred_at, at("2026-03-02T00:00:00Z"));
    assert_eq!(name_changed.event.changed, [ChangedField::FullName]);
    assert_eq!(
        name_changed.event.after.expect("after").amount,
        amount("12.25")
    );

    let gone = deleted
        .event
        .before
        .expect("deleted has the resource before");
    assert_eq!(
        (gone.id, gone.amount, gone.version),
        (r.id, amount("12.25"), 3)
    );
    assert_eq!(deleted.event.after, None);

    let mut ids: Vec<_> = page.events.iter().map(|e| e.event.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 4, "event ids are unique");
    let next = store.events_after(2, 1).await.expect("feed from a cursor");
    assert_eq!(next.events.len(), 1);
    assert_eq!(next.events[0].sequence, 3);
}

/// A write that fails or matches nothing writes no event.
pub async fn failed_writes_write_no_event(store: &dyn Store) {
    if !store.enabled() {
        return;
    }
    let ids = IdSeq::new();
    let r = record(
        ids.id(1),
        fresh_user(),
        at("2026-03-01T10:00:00Z"),
        amount("1"),
        Debit,
    );
    store.insert(r.clone(), actor()).await.expect("insert");
    assert_eq!(
        store.insert(r.clone(), actor()).await,
        Err(StoreError::Duplicate)
    );
    let stale = RecordPatch {
        actor: actor(),
        full_name: None,
        amount: Some(amount("2")),
        kind: None,
        updated_at: at("2026-03-02T00:00:00Z"),
        expected_version: Some(7),
    };
    assert_eq!(
        store.update(r.id, stale).await,
        Ok(Written::VersionMismatch)
    );
    assert_eq!(
        store
            .delete(ids.id(2), None, Timestamp::now(), actor())
            .await,
        Ok(Written::NotFound)
    );
    assert_eq!(
        store.delete(r.id, Some(9), Timestamp::now(), actor()).await,
        Ok(Written::VersionMismatch)
    );
    settle(store).await;
    let page = store.events_after(0, 100).await.expect("feed");
    assert_eq!(page.events.len(), 1, "only the insert: {page:?}");
    assert_eq!(store.backlog(&[]).await.expect("backlog").unsequenced, 0);
    assert_eq!(page.last_sequence, 1);
}

/// A save of publisher `p`'s cursor under the lease `relay` by `holder`.
fn save(
    holder: &str,
    expected: PublisherCursor,
    new: PublisherCursor,
    failed: Option<FailedDelivery>,
) -> CursorSave {
    CursorSave {
        publisher: "p".into(),
        lease: "relay".into(),
        holder: holder.into(),
        expected,
        new,
        failed,
    }
}

/// Only the lease's holder moves a cursor, and only from where it expects it to be; a
/// lease is taken over once it expires.
pub async fn cursors_move_only_under_the_lease_by_compare_and_set(store: &dyn Store) {
    let now = at("2026-03-01T00:00:00Z");
    let ttl = Duration::from_secs(10);
    let later = now.plus_millis(10_000);
    assert!(store
        .acquire_lease("relay", "a", now, ttl)
        .await
        .expect("a takes"));
    assert!(store
        .acquire_lease("relay", "a", now, ttl)
        .await
        .expect("a renews"));
    assert!(!store
        .acquire_lease("relay", "b", now, ttl)
        .await
        .expect("b waits"));
    let start = store.cursor("p").await.expect("cursor");
    assert_eq!(start, PublisherCursor::default());
    let moved = PublisherCursor {
        delivered_through: 5,
        ..PublisherCursor::default()
    };
    assert!(!store
        .save_cursor(save("b", start.clone(), moved.clone(), None))
        .await
        .expect("b cannot save"));
    assert!(store
        .save_cursor(save("a", start.clone(), moved.clone(), None))
        .await
        .expect("a saves"));
    assert!(!store
        .save_cursor(save("a", start.clone(), moved.clone(), None))
        .await
        .expect("not from a stale place"));
    assert_eq!(store.cursor("p").await.expect("cursor"), moved);
    assert_eq!(store.cursor("q").await.expect("other publisher"), start);

    // a's lease runs out; b takes it; a can no longer move anything.
    assert!(store
        .acquire_lease("relay", "b", later, ttl)
        .await
        .expect("b takes over"));
    let failing = PublisherCursor {
        delivered_through: 5,
        attempts: 2,
        first_failure_at: Some(now),
        next_attempt_at: Some(later),
        last_error: Some("503".into()),
    };
    assert!(!store
        .save_cursor(save("a", moved.clone(), failing.clone(), None))
        .await
        .expect("a lost it"));
    let gave_up = FailedDelivery {
        publisher: "p".into(),
        sequence: 6,
        attempts: 3,
        failed_at: later,
        last_error: "timed out".into(),
    };
    assert!(store
        .save_cursor(save("b", moved, failing.clone(), Some(gave_up.clone())))
        .await
        .expect("b saves"));
    assert_eq!(store.cursor("p").await.expect("cursor"), failing);
    assert_eq!(
        store.failed_deliveries("p", 0, 10).await.expect("failures"),
        [gave_up]
    );
    assert!(store
        .failed_deliveries("p", 6, 10)
        .await
        .expect("after")
        .is_empty());
    store
        .release_lease("relay", "a")
        .await
        .expect("not a's: no-op");
    assert!(!store
        .acquire_lease("relay", "a", later, ttl)
        .await
        .expect("still b's"));
    store.release_lease("relay", "b").await.expect("release");
    assert!(store
        .acquire_lease("relay", "a", later, ttl)
        .await
        .expect("free again"));
}

/// Retention removes old events only up to the lowest cursor of the named publishers, and
/// the feed then reports what it removed.
pub async fn retention_keeps_what_a_publisher_still_needs(store: &dyn Store) {
    if !store.enabled() {
        return;
    }
    let ids = IdSeq::new();
    let user = fresh_user();
    for i in 1..=3 {
        let r = record(
            ids.id(i),
            user,
            at("2020-01-01T00:00:00Z"),
            amount("1"),
            Credit,
        );
        store.insert(r, actor()).await.expect("insert");
    }
    settle(store).await;
    let now = at("2026-03-01T00:00:00Z");
    let ttl = Duration::from_secs(10);
    assert!(store
        .acquire_lease("relay", "a", now, ttl)
        .await
        .expect("lease"));
    let one = PublisherCursor {
        delivered_through: 1,
        ..PublisherCursor::default()
    };
    assert!(store
        .save_cursor(save("a", PublisherCursor::default(), one, None))
        .await
        .expect("save"));
    let backlog = store.backlog(&["p".into()]).await.expect("backlog");
    assert_eq!(backlog.undelivered, 2);
    assert_eq!(backlog.last_sequence, 3);
    assert_eq!(
        backlog.oldest_undelivered_at,
        Some(at("2020-01-01T00:00:00Z"))
    );
    // A publisher without a cursor holds everything back.
    assert_eq!(
        store
            .prune(now, &["p".into(), "new".into()])
            .await
            .expect("prune"),
        0
    );
    assert_eq!(store.prune(now, &["p".into()]).await.expect("prune"), 1);
    let page = store.events_after(1, 10).await.expect("feed");
    assert_eq!(page.pruned_through, 1);
    assert_eq!(
        page.events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [2, 3]
    );
    // Nothing young is removed, whatever the cursors say.
    assert_eq!(
        store
            .prune(at("2019-01-01T00:00:00Z"), &[])
            .await
            .expect("prune"),
        0
    );
    // New events keep counting after removed ones.
    let r = record(
        ids.id(9),
        user,
        at("2026-01-01T00:00:00Z"),
        amount("1"),
        Credit,
    );
    store.insert(r, actor()).await.expect("insert");
    settle(store).await;
    assert_eq!(
        store.events_after(3, 10).await.expect("feed").events[0].sequence,
        4
    );
}

/// Until an event has its sequence it is counted as unsequenced and is not in the feed;
/// once numbered it is in the feed and no longer counted — and the change it belongs to
/// succeeded either way. (Stores that number at commit never count any.)
pub async fn events_wait_unsequenced_until_numbered(store: &dyn Store) {
    if !store.enabled() {
        return;
    }
    settle(store).await;
    let before = store.events_after(0, 1).await.expect("feed").last_sequence;
    let (ids, user) = (IdSeq::new(), fresh_user());
    let records: Vec<_> = (1..=3)
        .map(|i| {
            record(
                ids.id(i),
                user,
                at("2026-03-01T00:00:00Z"),
                amount("1"),
                Credit,
            )
        })
        .collect();
    insert_all(store, &records).await;
    let waiting = store.backlog(&[]).await.expect("backlog");
    let feed = store.events_after(before, 100).await.expect("feed");
    assert_eq!(
        waiting.unsequenced + feed.events.len() as u64,
        3,
        "every change is either in the feed or waiting for its number: {waiting:?}"
    );
    assert_eq!(
        waiting.oldest_unsequenced_at.is_some(),
        waiting.unsequenced > 0,
        "{waiting:?}"
    );
    settle(store).await;
    let after = store.backlog(&[]).await.expect("backlog");
    assert_eq!((after.unsequenced, after.oldest_unsequenced_at), (0, None));
    let feed = store.events_after(before, 100).await.expect("feed");
    assert_eq!(
        feed.events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        (before + 1..=before + 3).collect::<Vec<_>>()
    );
    assert_eq!(
        store.sequence(1000).await.expect("sequence"),
        0,
        "nothing is numbered twice"
    );
}

/// Many writers at once — creates, updates and deletes of overlapping users — while a
/// reader follows the feed and sequencers race: every acknowledged change has exactly one
/// event, sequences run 1, 2, 3… without gaps, each transaction's events come in version
/// order, and the reader never sees a new event at or below one it has passed.
pub async fn concurrent_writers_feed_in_order(store: &dyn Store) {
    use futures_util::future::join_all;
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::{AtomicBool, Ordering};

    if !store.enabled() {
        return;
    }
    settle(store).await;
    let start = store.events_after(0, 1).await.expect("feed").last_sequence;
    let ids = IdSeq::new();
    let users = [fresh_user(), fresh_user(), fresh_user()];
    let done = AtomicBool::new(false);
    // Each writer owns two transactions of a shared user: create, update twice, delete
    // one of them; concurrent updates of the same user's day collide on its roll-up.
    let writers = (0..12u32).map(|w| {
        let ids = &ids;
        let user = users[w as usize % users.len()];
        async move {
            let mut changes = 0u64;
            for k in 0..2u32 {
                let id = ids.id(w * 10 + k);
                let r = record(id, user, at("2026-03-01T12:00:00Z"), amount("5"), Credit);
                store.insert(r, actor()).await.expect("insert");
                changes += 1;
                for v in 0..2u32 {
                    let patch = RecordPatch {
                        actor: actor(),
                        full_name: None,
                        amount: Some(amount(&format!("{}.{v}", 6 + k))),
                        kind: None,
                        updated_at: at("2026-03-02T00:00:00Z"),
                        expected_version: None,
                    };
                    match store.update(id, patch).await.expect("update") {
                        Written::Done(_) => changes += 1,
                        other => panic!("update: {other:?}"),
                    }
                }
            }
            let gone = ids.id(w * 10);
            assert!(matches!(
                store
                    .delete(gone, None, Timestamp::now(), actor())
                    .await
                    .expect("delete"),
                Written::Done(_)
            ));
            changes + 1
        }
    });
    // Two sequencers racing (as relays do across a lease handover), and a reader.
    let sequencer = || async {
        while !done.load(Ordering::Acquire) {
            store.sequence(50).await.expect("sequence");
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    };
    let reader = async {
        let mut seen = start;
        let mut passed = HashSet::new();
        while !done.load(Ordering::Acquire) {
            let page = store.events_after(seen, 1000).await.expect("feed");
            for e in &page.events {
                assert!(
                    e.sequence > seen,
                    "a new event {} at or below {seen}, already passed",
                    e.sequence
                );
                assert!(passed.insert(e.sequence));
                seen = e.sequence;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        seen
    };
    let writing = async {
        let total: u64 = join_all(writers).await.into_iter().sum();
        done.store(true, Ordering::Release);
        total
    };
    let (total, _, _, _) = futures_util::join!(writing, sequencer(), sequencer(), reader);
    settle(store).await;
    let mut events = Vec::new();
    let mut after = start;
    loop {
        let page = store.events_after(after, 1000).await.expect("feed");
        let Some(last) = page.events.last().map(|e| e.sequence) else {
            break;
        };
        after = last;
        events.extend(page.events);
    }
    assert_eq!(
        events.len() as u64,
        total,
        "one event per acknowledged change"
    );
    assert_eq!(
        events.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        (start + 1..=start + total).collect::<Vec<_>>(),
        "no gaps, no repeats"
    );
    let unique: HashSet<_> = events.iter().map(|e| e.event.id).collect();
    assert_eq!(unique.len(), events.len(), "event ids are unique");
    let mut history: HashMap<TransactionId, Vec<u64>> = HashMap::new();
    for e in &events {
        history
            .entry(e.event.transaction_id().expect("subject"))
            .or_default()
            .push(e.event.position_in_history());
    }
    for (id, positions) in history {
        let mut sorted = positions.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(positions, sorted, "{id}: events out of version order");
    }
}
