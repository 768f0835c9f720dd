//! Retried creates: an Idempotency-Key makes a create happen at most once.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_user, spawn_app, spawn_app_in, Reply, TestApp, WRITE_KEY};

fn body(user: &str, amount: f64) -> Value {
    json!({"user_id": user, "full_name": "Ada Lovelace", "transaction_amount": amount, "transaction_type": "credit"})
}

pub(crate) async fn post_with_key(
    app: &TestApp,
    key: &str,
    body: &Value,
    api_key: Option<&str>,
) -> Reply {
    let mut req = app
        .client
        .post(app.url("/api/v1/transactions"))
        .insert_header(("idempotency-key", key));
    if let Some(api_key) = api_key {
        req = req.insert_header(("authorization", format!("Bearer {api_key}")));
    }
    let mut res = req.send_json(body).await.expect("POST");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.json::<Value>().await.unwrap_or_default();
    Reply {
        status,
        headers,
        body,
    }
}

#[actix_web::test]
async fn a_retry_replays_the_first_answer_and_stores_nothing_more() {
    let app = spawn_app().await;
    let user = fresh_user();
    let first = post_with_key(&app, "order-7", &body(&user, 12.5), None).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = post_with_key(&app, "order-7", &body(&user, 12.5), None).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        again.body, first.body,
        "the saved body, byte for byte the same transaction"
    );
    assert_eq!(again.headers.get("etag"), first.headers.get("etag"));
    assert_eq!(app.list(&user, "").await.data()["total"], 1);
}

#[actix_web::test]
async fn the_same_key_with_another_body_is_422() {
    let app = spawn_app().await;
    let user = fresh_user();
    assert_eq!(
        post_with_key(&app, "k", &body(&user, 1.0), None)
            .await
            .status,
        StatusCode::CREATED
    );
    let other = post_with_key(&app, "k", &body(&user, 2.0), None).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other.error_fields(), vec!["Idempotency-Key".to_owned()]);
    assert_eq!(app.list(&user, "").await.data()["total"], 1);
}

#[actix_web::test]
async fn concurrent_requests_with_one_key_create_exactly_one_transaction() {
    let app = spawn_app().await;
    let user = fresh_user();
    let b = body(&user, 3.0);
    let replies =
        futures_util::future::join_all((0..10).map(|_| post_with_key(&app, "burst", &b, None)))
            .await;
    let created: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .collect();
    assert!(!created.is_empty());
    assert!(
        replies
            .iter()
            .all(|r| r.status == StatusCode::CREATED || r.status == StatusCode::CONFLICT),
        "only 201 or 409"
    );
    let ids: std::collections::HashSet<_> = created
        .iter()
        .map(|r| r.body["data"]["id"].clone())
        .collect();
    assert_eq!(ids.len(), 1, "every 201 names the same transaction");
    for conflict in replies.iter().filter(|r| r.status == StatusCode::CONFLICT) {
        assert_eq!(conflict.headers.get("retry-after").unwrap(), "1");
    }
    assert_eq!(
        app.list(&user, "").await.data()["total"],
        1,
        "exactly one transaction"
    );
    // After the burst, a retry always gets the saved answer.
    let late = post_with_key(&app, "burst", &b, None).await;
    assert_eq!(
        (late.status, late.body["data"]["id"].clone()),
        (StatusCode::CREATED, ids.into_iter().next().unwrap())
    );
}

#[actix_web::test]
async fn keys_are_scoped_to_the_api_key() {
    let app = spawn_app().await;
    let user = fresh_user();
    let mine = post_with_key(&app, "shared-name", &body(&user, 1.0), None).await;
    let theirs = post_with_key(&app, "shared-name", &body(&user, 1.0), Some(WRITE_KEY)).await;
    assert_eq!(
        (mine.status, theirs.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert_ne!(mine.body["data"]["id"], theirs.body["data"]["id"]);
    assert!(theirs.headers.get("idempotent-replayed").is_none());
}

#[actix_web::test]
async fn invalid_keys_are_422_and_a_rejected_request_does_not_use_up_its_key() {
    let app = spawn_app().await;
    let user = fresh_user();
    for key in ["", &"k".repeat(256), "tab\there"] {
        let r = post_with_key(&app, key, &body(&user, 1.0), None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{key:?}");
        assert_eq!(r.error_fields(), vec!["Idempotency-Key".to_owned()]);
    }
    let bad = json!({"user_id": user, "full_name": "", "transaction_amount": 1, "transaction_type": "credit"});
    assert_eq!(
        post_with_key(&app, "fixable", &bad, None).await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let fixed = post_with_key(&app, "fixable", &body(&user, 1.0), None).await;
    assert_eq!(fixed.status, StatusCode::CREATED);
    assert!(fixed.headers.get("idempotent-replayed").is_none());
}

#[actix_web::test]
async fn the_saved_answer_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let first_app = spawn_app_in(dir.path()).await;
    let first = post_with_key(&first_app, "durable", &body(&user, 4.0), None).await;
    first_app.stop().await;
    let second_app = spawn_app_in(dir.path()).await;
    let again = post_with_key(&second_app, "durable", &body(&user, 4.0), None).await;
    assert_eq!(again.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.body["data"]["id"], first.body["data"]["id"]);
}
