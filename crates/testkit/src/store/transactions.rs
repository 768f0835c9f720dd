//! Transactions: writes, reads, pages, filters, cursors, conditional and concurrent writes, name rotation, ping.

use super::*;

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
    store.insert(r.clone(), actor()).await.expect("insert");
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
    store.insert(r.clone(), actor()).await.expect("insert");
    let mut again = r.clone();
    again.amount = amount("2");
    assert_eq!(
        store.insert(again, actor()).await,
        Err(StoreError::Duplicate)
    );
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
    store.insert(r.clone(), actor()).await.expect("insert");
    let later = at("2026-02-01T00:00:00.001Z");

    let patch = RecordPatch {
        actor: actor(),
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
        actor: actor(),
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
        actor: actor(),
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
            .delete(id, None, Timestamp::now(), actor())
            .await
            .expect("delete"),
        Written::NotFound
    );
    assert_eq!(
        store
            .delete(id, Some(1), Timestamp::now(), actor())
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
    store.insert(r.clone(), actor()).await.expect("insert");
    assert_eq!(
        store
            .delete(r.id, None, Timestamp::now(), actor())
            .await
            .expect("delete"),
        Written::Done(r.clone())
    );
    assert_eq!(store.get(r.id).await.expect("get"), None);
    assert_eq!(
        store
            .delete(r.id, None, Timestamp::now(), actor())
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
    store.insert(stranger, actor()).await.expect("insert");
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
                .insert(
                    record(
                        ids.id(n),
                        user,
                        Timestamp::from_millis(when).expect("time"),
                        amount("2"),
                        Debit,
                    ),
                    actor(),
                )
                .await
                .expect("insert");
            // ...and a delete of a random original record.
            let victim = rows[usize::try_from(rng.next(u64::from(size))).expect("small")].id;
            if let Written::Done(_) = store
                .delete(victim, None, Timestamp::now(), actor())
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
    store.insert(r.clone(), actor()).await.expect("insert");
    let patch = |v| RecordPatch {
        actor: actor(),
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
            .delete(r.id, Some(1), Timestamp::now(), actor())
            .await
            .expect("delete"),
        Written::VersionMismatch
    );
    assert!(store.get(r.id).await.expect("get").is_some());
    assert_eq!(
        done(
            store
                .delete(r.id, Some(2), Timestamp::now(), actor())
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
    store.insert(r.clone(), actor()).await.expect("insert");
    let names: Vec<String> = (0..10).map(|i| format!("name-{i}")).collect();
    let amounts: Vec<Amount> = (0..10)
        .map(|i| Amount::from_cents(100 + i).expect("amount"))
        .collect();
    let updates = (0..20).map(|i| {
        let patch = RecordPatch {
            actor: actor(),
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
            .insert(record(ids.id(i), user, day, amount("1"), Credit), actor())
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
    store.insert(r.clone(), actor()).await.expect("insert");
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

/// The store answers a ping.
pub async fn ping_succeeds(store: &dyn Store) {
    store.ping().await.expect("ping");
}
