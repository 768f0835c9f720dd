//! Transfers between stores: listing and putting back as given, removals, imports as changes.

use super::*;

/// Removing records takes exactly those ids (an unknown one is no error), writes no
/// event, and a roll-up repair then leaves the statistics equal to the rows.
pub async fn transfer_removes_records_as_given(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    for i in 0..3 {
        let r = record(
            ids.id(i),
            user,
            at("2026-03-01T10:00:00Z"),
            amount("2.50"),
            Credit,
        );
        store.put_records(vec![r]).await.expect("put");
    }
    let events_before = store.events_after(0, 1).await.expect("feed").last_sequence;
    store
        .remove_records(vec![ids.id(0), ids.id(2), ids.id(7)])
        .await
        .expect("remove");
    assert_eq!(store.get(ids.id(0)).await.expect("get"), None);
    assert_eq!(store.get(ids.id(2)).await.expect("get"), None);
    assert!(
        store.get(ids.id(1)).await.expect("get").is_some(),
        "the others stay"
    );
    assert_eq!(
        store.events_after(0, 1).await.expect("feed").last_sequence,
        events_before,
        "no event"
    );
    store.check_user(user, true).await.expect("repair");
    let totals = store.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!(totals.count, 1);
    assert_eq!(totals.total_credit.cents(), 250);
}

/// A transfer lists every record in id order, exactly as stored, and puts records back as
/// given (replacing those with the same id), writing no event.
pub async fn transfer_lists_in_order_and_puts_back_as_given(store: &dyn Store) {
    let ids = IdSeq::new();
    let (u1, u2) = (fresh_user(), fresh_user());
    let mut written = Vec::new();
    for i in 0..5 {
        let user = if i % 2 == 0 { u1 } else { u2 };
        let r = record(
            ids.id(i),
            user,
            at("2026-02-01T10:00:00.123Z"),
            amount("3.10"),
            Credit,
        );
        store.insert(r.clone(), actor()).await.expect("insert");
        written.push(r);
    }
    // Only this check's records: they follow the id family's first id.
    let first = store
        .records_after(None, 10_000)
        .await
        .expect("list")
        .into_iter()
        .filter(|r| written.iter().any(|w| w.id == r.id))
        .collect::<Vec<_>>();
    assert_eq!(first, written, "every field as stored, in id order");
    let page = store.records_after(Some(ids.id(1)), 2).await.expect("page");
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids.id(2), ids.id(3)]
    );

    let events_before = store.events_after(0, 1).await.expect("feed").last_sequence;
    let mut changed = written[0].clone();
    changed.full_name = EncryptedName::new("another-token");
    changed.version = 7;
    changed.amount = amount("9.99");
    let mut new = record(
        ids.id(9),
        u2,
        at("2026-02-02T00:00:00Z"),
        amount("1"),
        Debit,
    );
    new.version = 3;
    store
        .put_records(vec![changed.clone(), new.clone()])
        .await
        .expect("put");
    store
        .put_records(vec![changed.clone(), new.clone()])
        .await
        .expect("put again: idempotent");
    assert_eq!(store.get(changed.id).await.expect("get"), Some(changed));
    assert_eq!(store.get(new.id).await.expect("get"), Some(new));
    assert_eq!(
        store.events_after(0, 1).await.expect("feed").last_sequence,
        events_before,
        "a transfer writes no event"
    );
}

/// An import writes changes like the API's writes: new ids are created, changed records
/// replaced, identical ones left alone; each creation and replacement has its event (where
/// events are written) and the roll-ups equal the rows; the same batch again changes
/// nothing.
pub async fn imports_are_changes_with_their_events_and_rollups(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let first: Vec<TransactionRecord> = (0..4)
        .map(|i| {
            record(
                ids.id(i),
                user,
                at("2026-06-01T10:00:00Z").plus_millis(i64::from(i) * 86_400_000),
                amount("2.50"),
                Credit,
            )
        })
        .collect();
    let before = feed_end(store).await;
    let counts = store
        .import_records(first.clone(), actor())
        .await
        .expect("import");
    assert_eq!(
        (counts.created, counts.replaced, counts.unchanged),
        (4, 0, 0)
    );
    // Numbered before the next change (where a sequencer numbers), so the order is known.
    feed_end(store).await;
    let again = store
        .import_records(first.clone(), actor())
        .await
        .expect("again");
    assert_eq!((again.created, again.replaced, again.unchanged), (0, 0, 4));
    let mut changed = first[1].clone();
    changed.amount = amount("9.99");
    changed.kind = Debit;
    changed.transaction_date = at("2026-07-01T00:00:00Z");
    changed.version = 2;
    let counts = store
        .import_records(vec![changed.clone(), first[2].clone()], actor())
        .await
        .expect("import a change");
    assert_eq!(
        (counts.created, counts.replaced, counts.unchanged),
        (0, 1, 1)
    );
    assert_eq!(
        store.get(changed.id).await.expect("get"),
        Some(changed.clone())
    );
    // A new record on a day that already has a roll-up adds to that day's.
    feed_end(store).await;
    let same_day = record(
        ids.id(9),
        user,
        at("2026-06-01T18:00:00Z"),
        amount("1.25"),
        Credit,
    );
    let counts = store
        .import_records(vec![same_day.clone()], actor())
        .await
        .expect("import on a day already rolled up");
    assert_eq!(
        (counts.created, counts.replaced, counts.unchanged),
        (1, 0, 0)
    );

    assert_eq!(
        store.check_user(user, false).await.expect("check"),
        [],
        "the roll-ups (where kept) equal the rows"
    );
    let totals = store.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!(totals.count, 5);
    assert_eq!(totals.total_credit.cents(), 875);
    assert_eq!(totals.total_debit.cents(), 999);

    if store.enabled() {
        feed_end(store).await;
        let events = store.events_after(before, 1000).await.expect("feed").events;
        let mine: Vec<(EventKind, TransactionId)> = events
            .iter()
            .filter(|e| e.event.user_id() == Some(user))
            .map(|e| (e.event.kind, e.event.transaction_id().expect("subject")))
            .collect();
        let mut expected: Vec<(EventKind, TransactionId)> =
            first.iter().map(|r| (EventKind::Created, r.id)).collect();
        expected.push((EventKind::Updated, changed.id));
        expected.push((EventKind::Created, same_day.id));
        assert_eq!(mine, expected);
    }
}

/// Idempotency records, events with their sequences, and cursors move as they are; the
/// feed goes on after the copied sequences.
pub async fn transfer_moves_keys_events_and_cursors(store: &dyn Store) {
    let now = at("2026-03-01T00:00:00Z");
    let ids = IdSeq::new();
    let scope = format!("transfer-{}", fresh_user());
    store
        .claim(claim_request(&scope, "k1", "fp", ids.id(1), now))
        .await
        .expect("claim");
    let listed = store
        .idempotency_after(Some((scope.clone(), String::new())), 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].key.as_str(), listed[0].transaction_id),
        ("k1", ids.id(1))
    );
    let mut copied = listed[0].clone();
    copied.key = "k2".into();
    copied.snapshot = Some("sealed-answer".into());
    store
        .put_idempotency(vec![copied.clone()])
        .await
        .expect("put keys");
    let listed = store
        .idempotency_after(Some((scope.clone(), String::new())), 10)
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1], copied);

    if store.enabled() {
        let user = fresh_user();
        let r = record(
            ids.id(5),
            user,
            at("2026-03-01T00:00:00Z"),
            amount("2"),
            Credit,
        );
        let event = fido_domain::StoredEvent {
            sequence: 100,
            event: fido_domain::OutboxEvent::created(&r),
        };
        let next = fido_domain::StoredEvent {
            sequence: 101,
            event: fido_domain::OutboxEvent::deleted(&r, now),
        };
        store
            .put_events(vec![event.clone(), next.clone()], 101, 99)
            .await
            .expect("put events");
        let page = store.events_after(99, 10).await.expect("feed");
        assert_eq!(page.events, [event, next]);
        assert_eq!((page.last_sequence, page.pruned_through), (101, 99));
        store
            .insert(record(ids.id(6), user, now, amount("1"), Debit), actor())
            .await
            .expect("insert");
        settle(store).await;
        assert_eq!(
            store.events_after(101, 10).await.expect("feed").events[0].sequence,
            102,
            "the sequence goes on after the copied ones"
        );
    }
    let cursor = PublisherCursor {
        delivered_through: 42,
        attempts: 1,
        first_failure_at: Some(now),
        next_attempt_at: Some(now.plus_millis(1000)),
        last_error: Some("503".into()),
    };
    store
        .put_cursors(vec![("webhook:copied".into(), cursor.clone())])
        .await
        .expect("put cursors");
    assert!(store
        .cursors()
        .await
        .expect("cursors")
        .contains(&("webhook:copied".into(), cursor)));
}
