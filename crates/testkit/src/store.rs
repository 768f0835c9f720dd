//! The contract every store adapter (a [`Store`]: every storage port, from the
//! [`fido_domain::TransactionStore`] to the [`fido_domain::WriteSwitch`]) must keep.

use std::time::Duration;

use fido_domain::{
    Amount, ChangedField, Claim, ClaimRequest, CursorSave, DateRange, EncryptedName, EventKind,
    FailedDelivery, IdempotencyKey, ListFilter, ListQuery, PageRequest, Position, PublisherCursor,
    RecordPatch, SealedKey, StoreError, Timestamp, TransactionId, TransactionRecord,
    TransactionType, UtcDay, Window, Written,
};

use crate::fixtures::{amount, at, fresh_user, record, settle, IdSeq};

use TransactionType::{Credit, Debit};

/// What a store adapter is: every storage port (the domain's [`fido_domain::Store`]).
pub use fido_domain::Store;

async fn insert_all(store: &dyn Store, records: &[TransactionRecord]) {
    for r in records {
        store.insert(r.clone()).await.expect("insert");
    }
}

fn page(p: u64, l: u64) -> ListQuery {
    ListQuery::page(PageRequest::new(p, l).expect("valid page"))
}

/// Every field survives a round trip exactly, including the largest amount and the
/// millisecond of each date.
pub async fn insert_then_get_round_trips_every_field(store: &dyn Store) {
    let ids = IdSeq::new();
    let mut r = record(
        ids.id(1),
        fresh_user(),
        at("2026-11-26T10:15:30.123Z"),
        Amount::MAX,
        Debit,
    );
    r.full_name = EncryptedName::new("gAAAAABl-opaque_token==");
    r.created_at = at("2026-11-26T10:15:31.456Z");
    r.updated_at = at("2026-11-26T10:15:32.789Z");
    store.insert(r.clone()).await.expect("insert");
    assert_eq!(store.get(r.id).await.expect("get"), Some(r));
}

/// An unknown id is `None`, not an error.
pub async fn get_unknown_is_none(store: &dyn Store) {
    assert_eq!(store.get(IdSeq::new().id(1)).await.expect("get"), None);
}

/// A second insert with the same id is `Duplicate` and changes nothing.
pub async fn duplicate_insert_is_rejected(store: &dyn Store) {
    let ids = IdSeq::new();
    let r = record(
        ids.id(1),
        fresh_user(),
        at("2026-01-01T00:00:00Z"),
        amount("1"),
        Credit,
    );
    store.insert(r.clone()).await.expect("insert");
    let mut again = r.clone();
    again.amount = amount("2");
    assert_eq!(store.insert(again).await, Err(StoreError::Duplicate));
    assert_eq!(store.get(r.id).await.expect("get"), Some(r));
}

/// An update changes only the fields it sets (plus `updated_at`) and returns the result.
pub async fn update_changes_only_what_it_sets(store: &dyn Store) {
    let ids = IdSeq::new();
    let r = record(
        ids.id(1),
        fresh_user(),
        at("2026-01-01T00:00:00Z"),
        amount("10.5"),
        Credit,
    );
    store.insert(r.clone()).await.expect("insert");
    let later = at("2026-02-01T00:00:00.001Z");

    let patch = RecordPatch {
        full_name: None,
        amount: Some(amount("0.07")),
        kind: None,
        updated_at: later,
        expected_version: None,
    };
    let updated = done(store.update(r.id, patch).await.expect("update"));
    let mut expected = r.clone();
    expected.amount = amount("0.07");
    expected.updated_at = later;
    expected.version = 2;
    assert_eq!(updated, expected);

    let patch = RecordPatch {
        full_name: Some(EncryptedName::new("new-token")),
        amount: None,
        kind: Some(Debit),
        updated_at: later.plus_millis(5),
        expected_version: None,
    };
    let updated = done(store.update(r.id, patch).await.expect("update"));
    expected.full_name = EncryptedName::new("new-token");
    expected.kind = Debit;
    expected.updated_at = later.plus_millis(5);
    expected.version = 3;
    assert_eq!(updated, expected);
    assert_eq!(updated.created_at, r.created_at, "created_at never moves");
    assert_eq!(store.get(r.id).await.expect("get"), Some(expected));
}

/// Updating or deleting an unknown id is `None`.
pub async fn update_and_delete_of_unknown_are_none(store: &dyn Store) {
    let id = IdSeq::new().id(9);
    let patch = RecordPatch {
        full_name: None,
        amount: Some(Amount::ZERO),
        kind: None,
        updated_at: at("2026-01-01T00:00:00Z"),
        expected_version: None,
    };
    assert_eq!(
        store.update(id, patch.clone()).await.expect("update"),
        Written::NotFound
    );
    let conditional = RecordPatch {
        expected_version: Some(1),
        ..patch
    };
    assert_eq!(
        store.update(id, conditional).await.expect("update"),
        Written::NotFound
    );
    assert_eq!(
        store
            .delete(id, None, Timestamp::now())
            .await
            .expect("delete"),
        Written::NotFound
    );
    assert_eq!(
        store
            .delete(id, Some(1), Timestamp::now())
            .await
            .expect("delete"),
        Written::NotFound
    );
}

/// Delete returns the removed record; afterwards it is gone.
pub async fn delete_returns_the_record_and_removes_it(store: &dyn Store) {
    let ids = IdSeq::new();
    let r = record(
        ids.id(1),
        fresh_user(),
        at("2026-01-01T00:00:00Z"),
        amount("3"),
        Credit,
    );
    store.insert(r.clone()).await.expect("insert");
    assert_eq!(
        store
            .delete(r.id, None, Timestamp::now())
            .await
            .expect("delete"),
        Written::Done(r.clone())
    );
    assert_eq!(store.get(r.id).await.expect("get"), None);
    assert_eq!(
        store
            .delete(r.id, None, Timestamp::now())
            .await
            .expect("delete"),
        Written::NotFound
    );
}

/// Lists are newest first, ties broken by id descending; pages and totals are right; other
/// users' records never appear.
pub async fn list_orders_and_pages(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let same = at("2026-03-01T12:00:00Z");
    let records = vec![
        record(
            ids.id(1),
            user,
            at("2026-01-01T00:00:00Z"),
            amount("1"),
            Credit,
        ),
        record(ids.id(2), user, same, amount("2"), Debit),
        record(ids.id(3), user, same, amount("3"), Credit),
        record(
            ids.id(4),
            user,
            at("2026-05-01T00:00:00Z"),
            amount("4"),
            Credit,
        ),
        record(ids.id(5), user, same.plus_millis(1), amount("5"), Credit),
    ];
    insert_all(store, &records).await;
    insert_all(
        store,
        &[record(ids.id(6), fresh_user(), same, amount("6"), Credit)],
    )
    .await;

    let all = store.list_by_user(user, page(1, 100)).await.expect("list");
    let order: Vec<_> = all.data.iter().map(|r| r.id).collect();
    assert_eq!(
        order,
        vec![ids.id(4), ids.id(5), ids.id(3), ids.id(2), ids.id(1)]
    );
    assert_eq!((all.total, all.page, all.limit), (5, Some(1), 100));
    assert!(all.next.is_none(), "the last page has no next cursor");

    let second = store.list_by_user(user, page(2, 2)).await.expect("list");
    let order: Vec<_> = second.data.iter().map(|r| r.id).collect();
    assert_eq!(order, vec![ids.id(3), ids.id(2)]);
    assert_eq!((second.total, second.page, second.limit), (5, Some(2), 2));
    assert_eq!(
        second.next.map(|c| c.after),
        Some(Position::of(&records[1])),
        "a page with more after it names where the next starts"
    );

    let past_end = store.list_by_user(user, page(4, 2)).await.expect("list");
    assert!(past_end.data.is_empty());
    assert_eq!(past_end.total, 5);
}

/// A random filter over the rows of [`filters_match_a_brute_force_over_the_rows`]: each
/// part present or not, bounds often on the rows' exact values (inclusive edges).
fn random_filter(rng: &mut Lcg, rows: &[TransactionRecord]) -> ListFilter {
    let pick = |rng: &mut Lcg| &rows[usize::try_from(rng.next(rows.len() as u64)).expect("small")];
    let kind = match rng.next(3) {
        0 => Some(Credit),
        1 => Some(Debit),
        _ => None,
    };
    let date = |rng: &mut Lcg| (rng.next(2) == 0).then(|| pick(rng).transaction_date);
    let (mut start, mut end) = (date(rng), date(rng));
    if let (Some(a), Some(b)) = (start, end) {
        if a > b {
            (start, end) = (Some(b), Some(a));
        }
    }
    let amount = |rng: &mut Lcg| (rng.next(2) == 0).then(|| pick(rng).amount);
    let (mut min, mut max) = (amount(rng), amount(rng));
    if let (Some(a), Some(b)) = (min, max) {
        if a > b {
            (min, max) = (Some(b), Some(a));
        }
    }
    ListFilter::new(kind, DateRange::new(start, end).expect("ordered"), min, max).expect("ordered")
}

/// Filters (type, inclusive dates, inclusive amounts, any combination) list, count, page,
/// walk by position and scan exactly the rows a brute force over the records selects, in
/// the listing order; other users' rows never appear.
pub async fn filters_match_a_brute_force_over_the_rows(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let base = at("2026-02-01T00:00:00Z").as_millis();
    let mut rng = Lcg(0x0f11_7e75);
    let mut rows = Vec::new();
    for i in 0..300u32 {
        // Few distinct dates and amounts: ties on the date (broken by id) and bounds that
        // land exactly on rows.
        let when = base + i64::try_from(rng.next(40)).expect("small") * 3_600_000;
        let r = record(
            ids.id(i),
            user,
            Timestamp::from_millis(when).expect("time"),
            Amount::from_cents(rng.next(50) * 25).expect("amount"),
            if rng.next(2) == 0 { Credit } else { Debit },
        );
        rows.push(r);
    }
    store.put_records(rows.clone()).await.expect("put");
    let stranger = record(
        ids.id(999),
        fresh_user(),
        rows[0].transaction_date,
        rows[0].amount,
        rows[0].kind,
    );
    store.insert(stranger).await.expect("insert");
    let mut ordered = rows.clone();
    ordered.sort_by_key(|r| std::cmp::Reverse((r.transaction_date, r.id)));

    for round in 0..50 {
        let filter = if round == 0 {
            ListFilter::all()
        } else {
            random_filter(&mut rng, &rows)
        };
        let expected: Vec<TransactionId> = ordered
            .iter()
            .filter(|r| filter.matches(r))
            .map(|r| r.id)
            .collect();
        let ids_of = |rs: &[TransactionRecord]| rs.iter().map(|r| r.id).collect::<Vec<_>>();

        // Numbered pages.
        let limit = 1 + rng.next(40);
        let mut by_page = Vec::new();
        for p in 1.. {
            let q = ListQuery {
                filter,
                window: Window::Page(PageRequest::new(p, limit).expect("page")),
            };
            let got = store.list_by_user(user, q).await.expect("list");
            assert_eq!(
                got.total,
                expected.len() as u64,
                "total of {}",
                filter.render()
            );
            assert_eq!(got.page, Some(u32::try_from(p).expect("small")));
            by_page.extend(ids_of(&got.data));
            if got.next.is_none() {
                break;
            }
            assert_eq!(got.data.len() as u64, limit, "only the last page is short");
        }
        assert_eq!(by_page, expected, "pages of {}", filter.render());

        // A walk by position.
        let mut walked = Vec::new();
        let mut after = None;
        loop {
            let q = ListQuery {
                filter,
                window: Window::After {
                    after,
                    limit: u32::try_from(limit).expect("small"),
                },
            };
            let got = store.list_by_user(user, q).await.expect("list");
            assert_eq!(got.total, expected.len() as u64);
            assert_eq!(got.page, None);
            walked.extend(ids_of(&got.data));
            match got.next {
                Some(cursor) => {
                    assert_eq!((cursor.user, cursor.filter), (user, filter));
                    assert_eq!(Some(cursor.after), got.data.last().map(Position::of));
                    after = Some(cursor.after);
                }
                None => break,
            }
        }
        assert_eq!(walked, expected, "walk of {}", filter.render());

        // Export batches.
        let mut scanned = Vec::new();
        let mut after = None;
        loop {
            let batch = store
                .scan_by_user(user, filter, after, 13)
                .await
                .expect("scan");
            scanned.extend(ids_of(&batch));
            if batch.len() < 13 {
                break;
            }
            after = batch.last().map(Position::of);
        }
        assert_eq!(scanned, expected, "scan of {}", filter.render());
    }
}

/// A walk by position over 10,000 records, with inserts (before and after the walk's
/// position) and deletes (of seen and unseen records) between and during pages: every
/// record that existed throughout is seen exactly once, nothing is seen twice, and the
/// walk is in strict listing order.
pub async fn cursor_walks_see_each_surviving_item_exactly_once(store: &dyn Store) {
    let size: u32 = 10_000;
    let ids = IdSeq::new();
    let user = fresh_user();
    let base = at("2026-01-01T00:00:00Z").as_millis();
    let mut rng = Lcg(0x00c0_5012);
    let mut rows = Vec::new();
    for i in 0..size {
        let when = base + i64::try_from(rng.next(u64::from(size) * 10)).expect("small") * 1_000;
        rows.push(record(
            ids.id(i),
            user,
            Timestamp::from_millis(when).expect("time"),
            amount("1"),
            Credit,
        ));
    }
    for chunk in rows.chunks(1_000) {
        store.put_records(chunk.to_vec()).await.expect("put");
    }
    let before: std::collections::HashSet<TransactionId> = rows.iter().map(|r| r.id).collect();
    let span = i64::from(size) * 10_000;

    let deleted = std::sync::Mutex::new(std::collections::HashSet::new());
    let done = std::sync::atomic::AtomicBool::new(false);
    // Pages fetched so far: the writer makes one insert and one delete per page, while the
    // next page is being read (a slow server is not flooded).
    let pages = std::sync::atomic::AtomicU32::new(0);
    let walk = async {
        let mut seen: Vec<(Timestamp, TransactionId)> = Vec::new();
        let mut after = None;
        loop {
            let q = ListQuery {
                filter: ListFilter::all(),
                window: Window::After { after, limit: 100 },
            };
            let page = store.list_by_user(user, q).await.expect("list");
            seen.extend(page.data.iter().map(|r| (r.transaction_date, r.id)));
            pages.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            match page.next {
                Some(c) => after = Some(c.after),
                None => break,
            }
            tokio::task::yield_now().await;
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        seen
    };
    let writes = async {
        let mut rng = Lcg(0x0bad_5eed);
        let mut n = size;
        let mut rounds = 0;
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            if rounds > pages.load(std::sync::atomic::Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
            rounds += 1;
            // An insert anywhere in time (ahead of the walk or behind it)...
            let when = base
                + i64::try_from(rng.next(u64::try_from(span).expect("positive"))).expect("small");
            n += 1;
            store
                .insert(record(
                    ids.id(n),
                    user,
                    Timestamp::from_millis(when).expect("time"),
                    amount("2"),
                    Debit,
                ))
                .await
                .expect("insert");
            // ...and a delete of a random original record.
            let victim = rows[usize::try_from(rng.next(u64::from(size))).expect("small")].id;
            if let Written::Done(_) = store
                .delete(victim, None, Timestamp::now())
                .await
                .expect("delete")
            {
                deleted.lock().expect("lock").insert(victim);
            }
            tokio::task::yield_now().await;
        }
        n - size
    };
    let (seen, inserted) = tokio::join!(walk, writes);
    assert!(inserted > 0, "writes ran during the walk");
    let deleted = deleted.into_inner().expect("lock");
    assert!(!deleted.is_empty(), "deletes ran during the walk");
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "the walk is in strict listing order (so nothing twice)"
    );
    let seen_ids: std::collections::HashSet<TransactionId> =
        seen.iter().map(|(_, id)| *id).collect();
    for id in before.difference(&deleted) {
        assert!(
            seen_ids.contains(id),
            "a record that existed throughout was skipped"
        );
    }
}

/// A user without records gets an empty page with `total == 0`.
pub async fn list_of_an_unknown_user_is_empty(store: &dyn Store) {
    let p = store
        .list_by_user(fresh_user(), page(1, 10))
        .await
        .expect("list");
    assert_eq!((p.total, p.data.len()), (0, 0));
}

/// Sums are exact: ten 0.10 credits and ten 0.20 debits are exactly 1.00 and 2.00.
pub async fn totals_are_exact(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let day = at("2026-06-01T08:00:00Z");
    let mut records = Vec::new();
    for i in 0..10 {
        records.push(record(
            ids.id(i),
            user,
            day.plus_millis(i64::from(i)),
            amount("0.10"),
            Credit,
        ));
        records.push(record(
            ids.id(100 + i),
            user,
            day.plus_millis(i64::from(i)),
            amount("0.20"),
            Debit,
        ));
    }
    records.push(record(ids.id(500), user, day, Amount::MAX, Credit));
    records.push(record(ids.id(501), user, day, Amount::MAX, Credit));
    insert_all(store, &records).await;
    let t = store.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!(t.count, 22);
    assert_eq!(
        t.total_credit.cents(),
        100 + 2 * i128::from(Amount::MAX.cents())
    );
    assert_eq!(t.total_debit.cents(), 200);
}

/// Range bounds are inclusive to the millisecond, and either may be open.
pub async fn totals_respect_inclusive_ranges(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let t0 = at("2026-07-01T00:00:00Z");
    insert_all(
        store,
        &[
            record(ids.id(1), user, t0, amount("1"), Credit),
            record(ids.id(2), user, t0.plus_millis(1), amount("2"), Credit),
            record(ids.id(3), user, t0.plus_millis(2), amount("4"), Debit),
        ],
    )
    .await;
    let sum = |r: DateRange| async move {
        let t = store.totals(user, r).await.expect("totals");
        (t.count, t.total_credit.plus(t.total_debit).cents())
    };
    let one = t0.plus_millis(1);
    assert_eq!(
        sum(DateRange::new(Some(one), Some(one)).expect("range")).await,
        (1, 200)
    );
    assert_eq!(
        sum(DateRange::new(Some(one), None).expect("range")).await,
        (2, 600)
    );
    assert_eq!(
        sum(DateRange::new(None, Some(one)).expect("range")).await,
        (2, 300)
    );
    assert_eq!(sum(DateRange::ALL).await, (3, 700));
    let after = t0.plus_millis(3);
    assert_eq!(
        sum(DateRange::new(Some(after), None).expect("range")).await,
        (0, 0)
    );
}

/// The busiest UTC day wins; ties go to the earliest day.
pub async fn busiest_day_ties_to_the_earliest(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    insert_all(
        store,
        &[
            // 2026-08-02 and 2026-08-03 have two each (the first pair straddles midnight UTC
            // of 08-01/08-02 to check days are UTC), 2026-08-01 has one.
            record(
                ids.id(1),
                user,
                at("2026-08-01T23:59:59.999Z"),
                amount("1"),
                Credit,
            ),
            record(
                ids.id(2),
                user,
                at("2026-08-02T00:00:00Z"),
                amount("1"),
                Credit,
            ),
            record(
                ids.id(3),
                user,
                at("2026-08-02T23:00:00Z"),
                amount("1"),
                Debit,
            ),
            record(
                ids.id(4),
                user,
                at("2026-08-03T01:00:00Z"),
                amount("1"),
                Credit,
            ),
            record(
                ids.id(5),
                user,
                at("2026-08-03T02:00:00Z"),
                amount("1"),
                Credit,
            ),
        ],
    )
    .await;
    let t = store.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!(
        t.busiest_day,
        Some(UtcDay::parse("2026-08-02").expect("day"))
    );

    insert_all(
        store,
        &[record(
            ids.id(6),
            user,
            at("2026-08-03T03:00:00Z"),
            amount("1"),
            Credit,
        )],
    )
    .await;
    let t = store.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!(
        t.busiest_day,
        Some(UtcDay::parse("2026-08-03").expect("day"))
    );
}

/// No transactions in range: `count == 0`, no busiest day, zero sums — not an error.
pub async fn totals_of_an_empty_range_are_zero(store: &dyn Store) {
    let t = store
        .totals(fresh_user(), DateRange::ALL)
        .await
        .expect("totals");
    assert_eq!(t.count, 0);
    assert_eq!(t.busiest_day, None);
    assert_eq!(t.total_credit.cents() + t.total_debit.cents(), 0);
}

/// Statistics follow updates and deletes.
pub async fn totals_follow_updates_and_deletes(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let day = at("2026-09-09T09:09:09Z");
    insert_all(
        store,
        &[
            record(ids.id(1), user, day, amount("5"), Credit),
            record(ids.id(2), user, day, amount("7"), Credit),
        ],
    )
    .await;
    let patch = RecordPatch {
        full_name: None,
        amount: Some(amount("1.25")),
        kind: Some(Debit),
        updated_at: day,
        expected_version: None,
    };
    store.update(ids.id(1), patch).await.expect("update");
    store
        .delete(ids.id(2), None, Timestamp::now())
        .await
        .expect("delete");
    let t = store.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!(
        (t.count, t.total_credit.cents(), t.total_debit.cents()),
        (1, 0, 125)
    );
}

fn done(w: Written) -> TransactionRecord {
    match w {
        Written::Done(r) => r,
        other => panic!("expected the write to be done, got {other:?}"),
    }
}

/// `If-Match` semantics: a write at a stale version changes nothing; at the current one it
/// applies and moves the version on.
pub async fn conditional_writes_check_the_version(store: &dyn Store) {
    let ids = IdSeq::new();
    let r = record(
        ids.id(1),
        fresh_user(),
        at("2026-01-01T00:00:00Z"),
        amount("5"),
        Credit,
    );
    store.insert(r.clone()).await.expect("insert");
    let patch = |v| RecordPatch {
        full_name: None,
        amount: Some(amount("6")),
        kind: None,
        updated_at: r.updated_at,
        expected_version: Some(v),
    };
    assert_eq!(
        store.update(r.id, patch(2)).await.expect("update"),
        Written::VersionMismatch
    );
    assert_eq!(
        store.get(r.id).await.expect("get"),
        Some(r.clone()),
        "a refused write changes nothing"
    );
    assert_eq!(
        done(store.update(r.id, patch(1)).await.expect("update")).version,
        2
    );
    assert_eq!(
        store.update(r.id, patch(1)).await.expect("update"),
        Written::VersionMismatch
    );
    assert_eq!(
        store
            .delete(r.id, Some(1), Timestamp::now())
            .await
            .expect("delete"),
        Written::VersionMismatch
    );
    assert!(store.get(r.id).await.expect("get").is_some());
    assert_eq!(
        done(
            store
                .delete(r.id, Some(2), Timestamp::now())
                .await
                .expect("delete")
        )
        .version,
        2
    );
}

/// Concurrent updates of different fields lose nothing: every change lands, and the
/// version counts every one of them.
pub async fn concurrent_updates_lose_nothing(store: &dyn Store) {
    let ids = IdSeq::new();
    let r = record(
        ids.id(1),
        fresh_user(),
        at("2026-01-01T00:00:00Z"),
        amount("1"),
        Credit,
    );
    store.insert(r.clone()).await.expect("insert");
    let names: Vec<String> = (0..10).map(|i| format!("name-{i}")).collect();
    let amounts: Vec<Amount> = (0..10)
        .map(|i| Amount::from_cents(100 + i).expect("amount"))
        .collect();
    let updates = (0..20).map(|i| {
        let patch = RecordPatch {
            full_name: (i % 2 == 0).then(|| EncryptedName::new(names[i / 2].clone())),
            amount: (i % 2 == 1).then(|| amounts[i / 2]),
            kind: None,
            updated_at: r.updated_at,
            expected_version: None,
        };
        store.update(r.id, patch)
    });
    for outcome in futures_util::future::join_all(updates).await {
        assert!(matches!(outcome.expect("update"), Written::Done(_)));
    }
    let last = store.get(r.id).await.expect("get").expect("exists");
    assert_eq!(last.version, 21, "no update was lost");
    assert!(
        names.contains(&last.full_name.as_str().to_owned()),
        "the name is one that was written"
    );
    assert!(
        amounts.contains(&last.amount),
        "the amount is one that was written"
    );
}

/// Names come back in id order, in batches that resume after the last id.
pub async fn names_come_in_id_order_in_resumable_batches(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let day = at("2026-01-01T00:00:00Z");
    for i in [3, 1, 2] {
        store
            .insert(record(ids.id(i), user, day, amount("1"), Credit))
            .await
            .expect("insert");
    }
    // Other tests' records may sit between ours: walk from just before our first id.
    let before_first = ids.id(0);
    let first = store
        .names_after(Some(before_first), 2)
        .await
        .expect("batch");
    assert_eq!(
        first.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
        vec![ids.id(1), ids.id(2)]
    );
    assert_eq!(
        first[0].1,
        EncryptedName::new(format!("token-for-{}", ids.id(1)))
    );
    let second = store.names_after(Some(ids.id(2)), 2).await.expect("batch");
    assert_eq!(second.first().map(|(id, _)| *id), Some(ids.id(3)));
    let from_start = store.names_after(None, 1).await.expect("batch");
    assert_eq!(from_start.len(), 1, "None starts at the first record");
}

/// Replacing a name is a compare-and-set that touches nothing else.
pub async fn replacing_a_name_is_compare_and_set(store: &dyn Store) {
    let ids = IdSeq::new();
    let r = record(
        ids.id(1),
        fresh_user(),
        at("2026-01-01T00:00:00Z"),
        amount("5"),
        Debit,
    );
    store.insert(r.clone()).await.expect("insert");
    let stale = EncryptedName::new("not-the-current-token");
    assert!(!store
        .replace_name(r.id, stale, EncryptedName::new("x"))
        .await
        .expect("cas"));
    assert_eq!(
        store.get(r.id).await.expect("get"),
        Some(r.clone()),
        "a failed CAS changes nothing"
    );
    let fresh = EncryptedName::new("re-encrypted-token");
    assert!(store
        .replace_name(r.id, r.full_name.clone(), fresh.clone())
        .await
        .expect("cas"));
    let mut expected = r.clone();
    expected.full_name = fresh;
    assert_eq!(
        store.get(r.id).await.expect("get"),
        Some(expected),
        "only the name changed, not updated_at"
    );
    assert!(!store
        .replace_name(IdSeq::new().id(1), r.full_name, EncryptedName::new("y"))
        .await
        .expect("cas"));
}

fn claim_request(
    scope: &str,
    key: &str,
    fingerprint: &str,
    candidate: TransactionId,
    now: Timestamp,
) -> ClaimRequest {
    ClaimRequest {
        scope: scope.to_owned(),
        key: IdempotencyKey::parse(key).expect("valid key"),
        fingerprint: fingerprint.to_owned(),
        candidate_id: candidate,
        now,
        lease_until: now.plus_millis(30_000),
        expires_at: now.plus_millis(86_400_000),
        take_over: None,
    }
}

/// An idempotency key is claimed once; others see it in flight, then completed.
pub async fn idempotency_keys_are_claimed_once_then_replayed(store: &dyn Store) {
    let ids = IdSeq::new();
    let scope = format!("caller-{}", fresh_user());
    let now = Timestamp::now();
    let first = store
        .claim(claim_request(&scope, "key-1", "fp-a", ids.id(1), now))
        .await
        .expect("claim");
    assert_eq!(
        first,
        Claim::Acquired {
            transaction_id: ids.id(1)
        }
    );
    let second = store
        .claim(claim_request(&scope, "key-1", "fp-b", ids.id(2), now))
        .await
        .expect("claim");
    assert_eq!(
        second,
        Claim::InFlight {
            fingerprint: "fp-a".into()
        }
    );
    let other_caller = store
        .claim(claim_request(
            &format!("{scope}-other"),
            "key-1",
            "fp-a",
            ids.id(3),
            now,
        ))
        .await
        .expect("claim");
    assert_eq!(
        other_caller,
        Claim::Acquired {
            transaction_id: ids.id(3)
        },
        "keys are per caller"
    );

    store
        .complete(
            scope.clone(),
            IdempotencyKey::parse("key-1").expect("key"),
            "sealed-result".into(),
        )
        .await
        .expect("complete");
    let replay = store
        .claim(claim_request(&scope, "key-1", "fp-a", ids.id(4), now))
        .await
        .expect("claim");
    assert_eq!(
        replay,
        Claim::Completed {
            fingerprint: "fp-a".into(),
            snapshot: "sealed-result".into()
        }
    );
}

/// A lapsed lease is taken over with the original transaction id; an expired key is new;
/// a released key can be claimed again.
pub async fn idempotency_leases_expiry_and_release(store: &dyn Store) {
    let ids = IdSeq::new();
    let scope = format!("caller-{}", fresh_user());
    let now = Timestamp::now();
    store
        .claim(claim_request(&scope, "lapsed", "fp", ids.id(1), now))
        .await
        .expect("claim");
    let later = now.plus_millis(31_000);
    let lapsed = Claim::Lapsed {
        transaction_id: ids.id(1),
        fingerprint: "fp".into(),
        lease_until: now.plus_millis(30_000),
    };
    // A lapsed claim is reported and left as it is, to whichever request asks, as often
    // as it asks: only the service, once it has compared the fingerprints, takes it over.
    for fingerprint in ["other-fp", "fp", "other-fp"] {
        let seen = store
            .claim(claim_request(
                &scope,
                "lapsed",
                fingerprint,
                ids.id(2),
                later,
            ))
            .await
            .expect("claim");
        assert_eq!(
            seen, lapsed,
            "same id as the crashed holder, its fingerprint to compare, its lease unchanged"
        );
    }
    // A take-over naming another lease (someone else's, meanwhile) changes nothing.
    let mut stale = claim_request(&scope, "lapsed", "fp", ids.id(2), later);
    stale.take_over = Some(now.plus_millis(29_999));
    assert_eq!(store.claim(stale).await.expect("claim"), lapsed);
    let mut taking = claim_request(&scope, "lapsed", "fp", ids.id(2), later);
    taking.take_over = Some(now.plus_millis(30_000));
    let taken = store.claim(taking.clone()).await.expect("claim");
    assert_eq!(
        taken,
        Claim::TakenOver {
            transaction_id: ids.id(1),
            fingerprint: "fp".into(),
        },
        "taken over with the crashed holder's id"
    );
    assert_eq!(
        store.claim(taking).await.expect("claim"),
        Claim::InFlight {
            fingerprint: "fp".into()
        },
        "a second take-over of the same lapsed lease loses"
    );
    let again = store
        .claim(claim_request(&scope, "lapsed", "fp", ids.id(9), later))
        .await
        .expect("claim");
    assert_eq!(
        again,
        Claim::InFlight {
            fingerprint: "fp".into()
        },
        "the lease moved to the new holder"
    );

    store
        .claim(claim_request(&scope, "old", "fp", ids.id(3), now))
        .await
        .expect("claim");
    store
        .complete(
            scope.clone(),
            IdempotencyKey::parse("old").expect("key"),
            "s".into(),
        )
        .await
        .expect("complete");
    let next_day = now.plus_millis(86_400_001);
    let renewed = store
        .claim(claim_request(&scope, "old", "fp2", ids.id(4), next_day))
        .await
        .expect("claim");
    assert_eq!(
        renewed,
        Claim::Acquired {
            transaction_id: ids.id(4)
        },
        "an expired key is forgotten"
    );

    store
        .claim(claim_request(&scope, "released", "fp", ids.id(5), now))
        .await
        .expect("claim");
    store
        .release(
            scope.clone(),
            IdempotencyKey::parse("released").expect("key"),
        )
        .await
        .expect("release");
    let again = store
        .claim(claim_request(&scope, "released", "fp", ids.id(6), now))
        .await
        .expect("claim");
    assert_eq!(
        again,
        Claim::Acquired {
            transaction_id: ids.id(6)
        }
    );
}

/// The encrypted parts of idempotency records come in `(scope, key)` order, in resumable
/// batches, and are replaced only by a compare-and-set on both parts.
pub async fn sealed_parts_are_listed_in_order_and_replaced_by_compare_and_set(store: &dyn Store) {
    let ids = IdSeq::new();
    // A scope of our own that sorts after every other test's ("caller-…"), so the walk
    // below sees only this test's records past its cursor.
    let scope = format!("zz-caller-{}", fresh_user());
    let now = Timestamp::now();
    for (i, key) in ["b", "a", "c"].into_iter().enumerate() {
        let candidate = ids.id(u32::try_from(i).expect("small"));
        store
            .claim(claim_request(
                &scope,
                key,
                &format!("seal-{key}"),
                candidate,
                now,
            ))
            .await
            .expect("claim");
    }
    let key = |k: &str| IdempotencyKey::parse(k).expect("key");
    store
        .complete(scope.clone(), key("a"), "answer-a".into())
        .await
        .expect("complete");
    let start = Some((scope.clone(), String::new()));
    let first = store.sealed_after(start, 2).await.expect("list");
    let keys: Vec<&str> = first.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    assert_eq!(first[0].snapshot.as_deref(), Some("answer-a"));
    assert_eq!(first[1].snapshot, None);
    assert_eq!(first[1].fingerprint, "seal-b");
    let cursor = Some((scope.clone(), "b".to_owned()));
    let rest = store.sealed_after(cursor, 10).await.expect("list");
    let rest: Vec<&str> = rest
        .iter()
        .filter(|r| r.scope == scope)
        .map(|r| r.key.as_str())
        .collect();
    assert_eq!(rest, ["c"]);

    let a = first[0].clone();
    let resealed = SealedKey {
        fingerprint: "seal-a-2".into(),
        snapshot: Some("answer-a-2".into()),
        ..a.clone()
    };
    assert!(store
        .replace_sealed(a.clone(), resealed.clone())
        .await
        .expect("cas"));
    assert!(
        !store.replace_sealed(a, resealed).await.expect("cas"),
        "a stale expectation replaces nothing"
    );
    let b = first[1].clone();
    let b2 = SealedKey {
        fingerprint: "seal-b-2".into(),
        ..b.clone()
    };
    assert!(store.replace_sealed(b, b2).await.expect("cas"));
    let replay = store
        .claim(claim_request(&scope, "a", "other", ids.id(7), now))
        .await
        .expect("claim");
    assert_eq!(
        replay,
        Claim::Completed {
            fingerprint: "seal-a-2".into(),
            snapshot: "answer-a-2".into()
        }
    );
}

/// A small deterministic generator (an LCG), so the random sequences below are the same
/// in every run and on every store.
struct Lcg(u64);

impl Lcg {
    /// An amount in cents: mostly small, a third up to the largest amount (so sums carry
    /// into the billions-of-cents part that stores keep separately).
    fn cents(&mut self) -> u64 {
        if self.next(3) == 0 {
            self.next(Amount::MAX.cents() + 1)
        } else {
            self.next(100_000_000)
        }
    }

    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}

/// After a random sequence of creates, updates (amount, type) and deletes, the totals and
/// the day rows of random ranges — whole days, times of day, open bounds — equal a brute
/// force over the rows that remain (count, exact sums, busiest day with its tie-break).
pub async fn totals_match_a_brute_force_over_random_writes(store: &dyn Store) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let base = at("2026-03-01T00:00:00Z").as_millis();
    let day = 86_400_000_i64;
    let mut rng = Lcg(0x5eed_f1d0);
    let mut live: Vec<TransactionRecord> = Vec::new();
    for i in 0..240u32 {
        let action = rng.next(10);
        if action < 6 || live.is_empty() {
            let when = base + i64::try_from(rng.next(6 * 86_400_000)).expect("small");
            let kind = if rng.next(2) == 0 { Credit } else { Debit };
            let cents = rng.cents();
            let r = record(
                ids.id(i),
                user,
                Timestamp::from_millis(when).expect("time"),
                Amount::from_cents(cents).expect("amount"),
                kind,
            );
            store.insert(r.clone()).await.expect("insert");
            live.push(r);
        } else if action < 8 {
            let index = usize::try_from(rng.next(live.len() as u64)).expect("small");
            let patch = RecordPatch {
                full_name: None,
                amount: Some(Amount::from_cents(rng.cents()).expect("amount")),
                kind: Some(if rng.next(2) == 0 { Credit } else { Debit }),
                updated_at: Timestamp::now(),
                expected_version: None,
            };
            live[index] = done(store.update(live[index].id, patch).await.expect("update"));
        } else {
            let index = usize::try_from(rng.next(live.len() as u64)).expect("small");
            let gone = live.swap_remove(index);
            done(
                store
                    .delete(gone.id, None, Timestamp::now())
                    .await
                    .expect("delete"),
            );
        }
    }
    assert_eq!(
        store.check_user(user, false).await.expect("check"),
        [],
        "the roll-ups (where kept) equal the rows"
    );
    if store.kept() {
        let users = store.users_after(None, 100_000).await.expect("users");
        assert!(users.contains(&user), "the user is listed for checks");
    }
    for _ in 0..40 {
        let bound = |rng: &mut Lcg| {
            let d = i64::try_from(rng.next(8)).expect("small") - 1;
            match rng.next(4) {
                0 => None,
                1 => Some(base + d * day), // a day's first instant
                2 => Some(base + d * day + day - 1), // a day's last instant
                _ => Some(base + d * day + i64::try_from(rng.next(86_400_000)).expect("small")),
            }
        };
        let (a, b) = (bound(&mut rng), bound(&mut rng));
        let (start, end) = match (a, b) {
            (Some(x), Some(y)) if x > y => (Some(y), Some(x)),
            other => other,
        };
        let ts = |ms: Option<i64>| ms.map(|m| Timestamp::from_millis(m).expect("time"));
        let range = DateRange::new(ts(start), ts(end)).expect("ordered");
        let inside: Vec<&TransactionRecord> = live
            .iter()
            .filter(|r| range.contains(r.transaction_date))
            .collect();
        let sum = |kind| -> i128 {
            inside
                .iter()
                .filter(|r| r.kind == kind)
                .map(|r| i128::from(r.amount.cents()))
                .sum()
        };
        let mut per_day: std::collections::BTreeMap<UtcDay, u64> = Default::default();
        for r in &inside {
            *per_day.entry(r.transaction_date.day()).or_default() += 1;
        }
        let busiest = per_day
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(d, _)| *d);
        let daily = store.daily(user, range).await.expect("daily");
        let expected_days: Vec<(UtcDay, u64, i128, i128)> = per_day
            .iter()
            .map(|(day, n)| {
                let of_day = |kind| -> i128 {
                    inside
                        .iter()
                        .filter(|r| r.kind == kind && r.transaction_date.day() == *day)
                        .map(|r| i128::from(r.amount.cents()))
                        .sum()
                };
                (*day, *n, of_day(Credit), of_day(Debit))
            })
            .collect();
        let got_days: Vec<(UtcDay, u64, i128, i128)> = daily
            .iter()
            .map(|d| (d.day, d.count, d.credit.cents(), d.debit.cents()))
            .collect();
        assert_eq!(got_days, expected_days, "daily {start:?}..={end:?}");
        let totals = store.totals(user, range).await.expect("totals");
        assert_eq!(
            (
                totals.count,
                totals.total_credit.cents(),
                totals.total_debit.cents(),
                totals.busiest_day
            ),
            (inside.len() as u64, sum(Credit), sum(Debit), busiest),
            "range {start:?}..={end:?}"
        );
    }
}

/// Of many concurrent claims of one key, exactly one wins.
pub async fn concurrent_claims_have_one_winner(store: &dyn Store) {
    let ids = IdSeq::new();
    let scope = format!("caller-{}", fresh_user());
    let now = Timestamp::now();
    let claims = (0..10).map(|i| store.claim(claim_request(&scope, "race", "fp", ids.id(i), now)));
    let outcomes = futures_util::future::join_all(claims).await;
    let winners = outcomes
        .iter()
        .filter(|c| matches!(c, Ok(Claim::Acquired { .. })))
        .count();
    assert_eq!(winners, 1, "{outcomes:?}");
    assert!(outcomes
        .iter()
        .all(|c| matches!(c, Ok(Claim::Acquired { .. } | Claim::InFlight { .. }))));
}

/// The store answers a ping.
pub async fn ping_succeeds(store: &dyn Store) {
    store.ping().await.expect("ping");
}

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

/// The write pause reads back as set, and is gone once lifted.
pub async fn the_write_pause_reads_back_as_set(store: &dyn Store) {
    let pause = fido_domain::WritePause {
        since: Timestamp::from_millis(1_765_000_000_123).expect("time"),
        reason: "switch-over to the new cluster".into(),
    };
    store.set_write_pause(None).await.expect("lift");
    assert_eq!(store.write_pause().await.expect("read"), None);
    store
        .set_write_pause(Some(pause.clone()))
        .await
        .expect("pause");
    assert_eq!(
        store.write_pause().await.expect("read"),
        Some(pause.clone())
    );
    // Setting it again replaces it.
    let again = fido_domain::WritePause {
        reason: "again".into(),
        ..pause
    };
    store
        .set_write_pause(Some(again.clone()))
        .await
        .expect("pause again");
    assert_eq!(store.write_pause().await.expect("read"), Some(again));
    store.set_write_pause(None).await.expect("lift");
    assert_eq!(store.write_pause().await.expect("read"), None);
}

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
    store.insert(r.clone()).await.expect("insert");
    let patch = |amount, name: Option<&str>| RecordPatch {
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
        .delete(r.id, None, Timestamp::now())
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
    store.insert(r.clone()).await.expect("insert");
    assert_eq!(store.insert(r.clone()).await, Err(StoreError::Duplicate));
    let stale = RecordPatch {
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
        store.delete(ids.id(2), None, Timestamp::now()).await,
        Ok(Written::NotFound)
    );
    assert_eq!(
        store.delete(r.id, Some(9), Timestamp::now()).await,
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
        store.insert(r).await.expect("insert");
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
    store.insert(r).await.expect("insert");
    settle(store).await;
    assert_eq!(
        store.events_after(3, 10).await.expect("feed").events[0].sequence,
        4
    );
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
        store.insert(r.clone()).await.expect("insert");
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

/// The feed's last sequence once what waits has been numbered (where a sequencer numbers).
async fn feed_end(store: &dyn Store) -> u64 {
    store.sequence(1000).await.expect("sequence");
    store.events_after(0, 1).await.expect("feed").last_sequence
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
    let counts = store.import_records(first.clone()).await.expect("import");
    assert_eq!(
        (counts.created, counts.replaced, counts.unchanged),
        (4, 0, 0)
    );
    // Numbered before the next change (where a sequencer numbers), so the order is known.
    feed_end(store).await;
    let again = store.import_records(first.clone()).await.expect("again");
    assert_eq!((again.created, again.replaced, again.unchanged), (0, 0, 4));
    let mut changed = first[1].clone();
    changed.amount = amount("9.99");
    changed.kind = Debit;
    changed.transaction_date = at("2026-07-01T00:00:00Z");
    changed.version = 2;
    let counts = store
        .import_records(vec![changed.clone(), first[2].clone()])
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
        .import_records(vec![same_day.clone()])
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
            .insert(record(ids.id(6), user, now, amount("1"), Debit))
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
                store.insert(r).await.expect("insert");
                changes += 1;
                for v in 0..2u32 {
                    let patch = RecordPatch {
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
                    .delete(gone, None, Timestamp::now())
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

/// Expands to one `#[tokio::test]` per store contract check. `$make` is an expression
/// evaluating to a future of `Option<fixture>`: the fixture derefs to an adapter implementing
/// both ports (a `Box`, or a guard that also owns temporary resources); `None` skips the
/// test (see [`crate::service_url`]).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@tests $make;
            insert_then_get_round_trips_every_field,
            get_unknown_is_none,
            duplicate_insert_is_rejected,
            update_changes_only_what_it_sets,
            update_and_delete_of_unknown_are_none,
            delete_returns_the_record_and_removes_it,
            list_orders_and_pages,
            list_of_an_unknown_user_is_empty,
            filters_match_a_brute_force_over_the_rows,
            cursor_walks_see_each_surviving_item_exactly_once,
            totals_are_exact,
            totals_respect_inclusive_ranges,
            busiest_day_ties_to_the_earliest,
            totals_of_an_empty_range_are_zero,
            totals_follow_updates_and_deletes,
            names_come_in_id_order_in_resumable_batches,
            conditional_writes_check_the_version,
            concurrent_updates_lose_nothing,
            idempotency_keys_are_claimed_once_then_replayed,
            idempotency_leases_expiry_and_release,
            concurrent_claims_have_one_winner,
            sealed_parts_are_listed_in_order_and_replaced_by_compare_and_set,
            totals_match_a_brute_force_over_random_writes,
            replacing_a_name_is_compare_and_set,
            events_follow_every_change_in_order,
            failed_writes_write_no_event,
            cursors_move_only_under_the_lease_by_compare_and_set,
            retention_keeps_what_a_publisher_still_needs,
            transfer_lists_in_order_and_puts_back_as_given,
            transfer_moves_keys_events_and_cursors,
            imports_are_changes_with_their_events_and_rollups,
            events_wait_unsequenced_until_numbered,
            concurrent_writers_feed_in_order,
            ping_succeeds,
            the_write_pause_reads_back_as_set,
            transfer_removes_records_as_given,
        );
    };
    (@tests $make:expr; $($check:ident,)*) => {
        $(
            #[tokio::test]
            async fn $check() {
                let Some(store) = $make.await else { return };
                $crate::store::$check(&*store).await;
            }
        )*
    };
}
