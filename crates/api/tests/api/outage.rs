//! The store goes away and comes back: 503s within the configured timeouts (never a hang,
//! never a 500), readiness 503, then recovery without a restart. Runs its own MongoDB-
//! compatible test server so it can stop it.

use std::time::{Duration, Instant};

use awc::http::StatusCode;
use fido_testkit::servers::{Kind, TestServer};
use serde_json::json;

use crate::helpers::{fresh_user, settings_for, spawn_with};

#[actix_web::test]
async fn the_store_down_is_503_and_the_service_recovers_by_itself() {
    let Some(mut server) = TestServer::start(Kind::MongoDb) else {
        return;
    };
    let port = server.port();

    let dir = tempfile::tempdir().unwrap();
    let uri =
        format!("mongodb://127.0.0.1:{port}/fido_outage?directConnection=true&retryWrites=false");
    let mut settings = settings_for(dir.path(), &[("DB_URI", uri.as_str())]);
    settings.store.database = None;
    settings.store.mongodb_server_selection_timeout_ms = 1_000;
    settings.store.mongodb_connect_timeout_ms = 1_000;
    settings.store.mongodb_operation_timeout_ms = 2_000;
    let app = spawn_with(settings).await;
    let user = fresh_user();
    let body = json!({"user_id": user, "full_name": "Ada", "transaction_amount": 1, "transaction_type": "credit"});
    assert_eq!(
        app.post_json("/api/v1/transactions", &body).await.status,
        StatusCode::CREATED
    );

    server.stop();
    let started = Instant::now();
    let r = app.post_json("/api/v1/transactions", &body).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        app.list(&user, "?limit=1&page=7").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.get("/health/ready").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);

    server.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.post_json("/api/v1/transactions", &body).await;
        if r.status == StatusCode::CREATED {
            break;
        }
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "never anything but 503 while recovering"
        );
        assert!(Instant::now() < deadline, "did not recover within 30 s");
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(app.get("/health/ready").await.status, StatusCode::OK);
    println!("recovered after {:?}", started.elapsed());
}
