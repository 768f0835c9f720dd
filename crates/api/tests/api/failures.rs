//! 503 and 500 through the real HTTP stack, with the domain's mock ports standing in for a
//! store that is down and a cipher that cannot read a record.

use std::sync::Arc;

use awc::http::StatusCode;
use fido_domain::{
    CacheLookup, CacheSlot, CipherError, MockCache, MockFieldCipher, MockStatisticsQuery,
    MockTransactionStore, Ports, ServiceConfig, StoreError, SystemClock, TransactionService,
};
use serde_json::json;

use crate::helpers::{settings_for, spawn_service, USER};

fn cache() -> MockCache {
    let mut c = MockCache::new();
    c.expect_lookup()
        .returning(|_| Ok(CacheLookup::Miss(CacheSlot::new("k"))));
    c.expect_put().returning(|_, _, _| Ok(()));
    c.expect_invalidate_user().returning(|_| Ok(()));
    c.expect_ping().returning(|| Ok(()));
    c
}

fn service(
    store: MockTransactionStore,
    stats: MockStatisticsQuery,
    cipher: MockFieldCipher,
) -> TransactionService {
    TransactionService::new(
        Ports {
            store: Arc::new(store),
            statistics: Arc::new(stats),
            cache: Arc::new(cache()),
            cipher: Arc::new(cipher),
            clock: Arc::new(SystemClock),
            idempotency: Arc::new(fido_domain::MockIdempotencyStore::new()),
            encoder: Arc::new(fido_http::JsonEncoder),
        },
        ServiceConfig::default(),
    )
}

fn down<T>() -> Result<T, StoreError> {
    Err(StoreError::Unavailable(
        "connection refused by db:27017 (secret detail)".into(),
    ))
}

#[actix_web::test]
async fn an_unreachable_store_is_503_everywhere_and_fails_readiness() {
    let mut store = MockTransactionStore::new();
    store.expect_insert().returning(|_| down());
    store.expect_get().returning(|_| down());
    store.expect_update().returning(|_, _| down());
    store.expect_delete().returning(|_, _| down());
    store.expect_list_by_user().returning(|_, _| down());
    store.expect_ping().returning(down);
    let mut stats = MockStatisticsQuery::new();
    stats.expect_totals().returning(|_, _| down());
    let mut cipher = MockFieldCipher::new();
    cipher.expect_encrypt().returning(|p| Ok(format!("t:{p}")));

    let dir = tempfile::tempdir().unwrap();
    let app = spawn_service(
        &settings_for(dir.path(), &[]),
        service(store, stats, cipher),
    )
    .await;
    let id = "/api/v1/transactions/6650f0c2e4b0a1b2c3d4e5f6";
    let replies = [
        app.post_json(
            "/api/v1/transactions",
            &json!({"user_id": USER, "full_name": "A",
            "transaction_amount": 1, "transaction_type": "credit"}),
        )
        .await,
        app.get(id).await,
        app.patch_json(id, &json!({"transaction_amount": 2})).await,
        app.delete(id).await,
        app.list(USER, "").await,
        app.stats(USER, "").await,
    ];
    for r in replies {
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            r.body,
            json!({"message": "The store is unavailable; please retry later"})
        );
        assert_eq!(r.headers.get("retry-after").unwrap(), "1");
    }
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        ready.body,
        json!({"status": "unavailable", "checks": {"store": "unavailable", "cache": "ok"}})
    );
    assert_eq!(
        app.get("/health/live").await.status,
        StatusCode::OK,
        "liveness checks no dependency"
    );
}

#[actix_web::test]
async fn an_unexpected_failure_is_a_generic_500() {
    let mut store = MockTransactionStore::new();
    store
        .expect_get()
        .returning(|_| Ok(Some(undecryptable_record())));
    let mut cipher = MockFieldCipher::new();
    cipher
        .expect_decrypt()
        .returning(|_| Err(CipherError::InvalidToken));
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_service(
        &settings_for(dir.path(), &[]),
        service(store, MockStatisticsQuery::new(), cipher),
    )
    .await;
    let r = app
        .get("/api/v1/transactions/6650f0c2e4b0a1b2c3d4e5f6")
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        r.body,
        json!({"message": "Internal server error"}),
        "no details leak to the caller"
    );
}

fn undecryptable_record() -> fido_domain::TransactionRecord {
    let at = fido_domain::Timestamp::parse_rfc3339("2025-01-01T00:00:00Z").expect("date");
    fido_domain::TransactionRecord {
        id: fido_domain::TransactionId::parse("6650f0c2e4b0a1b2c3d4e5f6").expect("id"),
        user_id: fido_domain::UserId::parse(USER).expect("user"),
        full_name: fido_domain::EncryptedName::new("made-with-a-lost-key"),
        amount: fido_domain::Amount::ZERO,
        kind: fido_domain::TransactionType::Credit,
        transaction_date: at,
        created_at: at,
        updated_at: at,
        version: 1,
    }
}
