//! Statistics: exact totals over ranges, the busiest day, and a brute force over random writes.

use super::*;

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
        actor: actor(),
        full_name: None,
        amount: Some(amount("1.25")),
        kind: Some(Debit),
        updated_at: day,
        expected_version: None,
    };
    store.update(ids.id(1), patch).await.expect("update");
    store
        .delete(ids.id(2), None, Timestamp::now(), actor())
        .await
        .expect("delete");
    let t = store.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!(
        (t.count, t.total_credit.cents(), t.total_debit.cents()),
        (1, 0, 125)
    );
}

/// 240 random creates, updates and deletes of a fresh user over six days from
/// 2026-03-01, with the roll-ups (where kept) checked against the rows: the user, the
/// first day's start in milliseconds, and the records left.
async fn random_history(
    store: &dyn Store,
    seed: u64,
) -> (fido_domain::UserId, i64, Vec<TransactionRecord>) {
    let ids = IdSeq::new();
    let user = fresh_user();
    let base = at("2026-03-01T00:00:00Z").as_millis();
    let mut rng = Lcg(seed);
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
            store.insert(r.clone(), actor()).await.expect("insert");
            live.push(r);
        } else if action < 8 {
            let index = usize::try_from(rng.next(live.len() as u64)).expect("small");
            let patch = RecordPatch {
                actor: actor(),
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
                    .delete(gone.id, None, Timestamp::now(), actor())
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
    (user, base, live)
}

/// After a random sequence of creates, updates (amount, type) and deletes, the totals and
/// the day rows of random ranges — whole days, times of day, open bounds — equal a brute
/// force over the rows that remain (count, exact sums, busiest day with its tie-break).
pub async fn totals_match_a_brute_force_over_random_writes(store: &dyn Store) {
    let (user, base, live) = random_history(store, 0x5eed_f1d0).await;
    let day = 86_400_000_i64;
    let mut rng = Lcg(0x0b5e_55ed);
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

/// A balance is the totals of everything up to an instant: at 40 instants (a day's first
/// and last millisecond, times of day, before the first transaction and after the last),
/// after random creates, updates and deletes, the credits, debits and count equal a brute
/// force over what is left.
pub async fn balances_at_random_instants_match_a_brute_force(store: &dyn Store) {
    let (user, base, live) = random_history(store, 0xba1a_0ce5).await;
    let day = 86_400_000_i64;
    let mut rng = Lcg(0xa50f);
    for i in 0..40 {
        let d = i64::try_from(rng.next(9)).expect("small") - 2;
        let at = match i {
            0 => base - 1,        // before the first transaction
            1 => base + 10 * day, // after the last
            _ => match rng.next(3) {
                0 => base + d * day,           // a day's first instant
                1 => base + d * day + day - 1, // a day's last instant
                _ => base + d * day + i64::try_from(rng.next(86_400_000)).expect("small"),
            },
        };
        let at = Timestamp::from_millis(at).expect("time");
        let counted: Vec<&TransactionRecord> =
            live.iter().filter(|r| r.transaction_date <= at).collect();
        let sum = |kind| -> i128 {
            counted
                .iter()
                .filter(|r| r.kind == kind)
                .map(|r| i128::from(r.amount.cents()))
                .sum()
        };
        let totals = store
            .totals(user, DateRange::until(at))
            .await
            .expect("totals");
        assert_eq!(
            (
                totals.count,
                totals.total_credit.cents(),
                totals.total_debit.cents()
            ),
            (counted.len() as u64, sum(Credit), sum(Debit)),
            "balance at {at}"
        );
    }
}
