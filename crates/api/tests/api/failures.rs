//! 503 and 500 through the real HTTP stack: a store that is down (the testkit's
//! `DownStore`), and a record no configured key can read.

use std::sync::Arc;

use awc::http::StatusCode;
use fido_cipher_fernet::FernetCipher;
use fido_domain::{
    NoCache, Ports, ServiceConfig, SystemClock, TransactionService, TransactionStore,
};
use fido_testkit::{DownStore, MemoryStore};
use serde_json::json;

use crate::helpers::{settings_for, spawn_service, USER};

/// A service over `store` (all four storage ports), no cache, a fresh Fernet key.
fn service<S>(store: Arc<S>) -> TransactionService
where
    S: fido_testkit::store::Store + 'static,
{
    let key = FernetCipher::generate_key();
    TransactionService::new(
        Ports {
            store: store.clone(),
            statistics: store.clone(),
            idempotency: store.clone(),
            rollups: store.clone(),
            history: store.clone(),
            events: store,
            cache: Arc::new(NoCache::default()),
            cipher: Arc::new(FernetCipher::from_key_list(&key).expect("key")),
            clock: Arc::new(SystemClock),
            encoder: Arc::new(fido_http::JsonEncoder::new(
                fido_http::cursor::CursorCodec::from_secrets(&[key.as_str()]),
            )),
        },
        ServiceConfig::default(),
    )
}

#[actix_web::test]
async fn an_unreachable_store_is_503_everywhere_and_fails_readiness() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_service(&settings_for(dir.path(), &[]), service(Arc::new(DownStore))).await;
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
    // A record whose name was encrypted with a key this service does not hold.
    let store = Arc::new(MemoryStore::new());
    store
        .insert(undecryptable_record(), fido_testkit::fixtures::actor())
        .await
        .expect("insert");
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_service(&settings_for(dir.path(), &[]), service(store)).await;
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
