//! Idempotency keys: claims, leases, expiry, release, sealed parts, concurrent claims.

use super::*;

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
