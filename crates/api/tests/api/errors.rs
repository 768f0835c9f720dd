use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{fresh_user, spawn_app, USER};

#[actix_web::test]
async fn malformed_json_is_400() {
    let app = spawn_app().await;
    let r = app
        .post_raw(
            "/api/v1/transactions",
            Some("application/json"),
            "{\"user_id\": ",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["message"], "Malformed JSON in the request body");
}

#[actix_web::test]
async fn a_body_over_16_kib_is_413() {
    let app = spawn_app().await;
    let big = format!("{{\"full_name\": \"{}\"}}", "a".repeat(17 * 1024));
    let r = app
        .post_raw("/api/v1/transactions", Some("application/json"), big)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[actix_web::test]
async fn a_wrong_or_missing_content_type_is_415() {
    let app = spawn_app().await;
    let body = json!({"user_id": USER}).to_string();
    assert_eq!(
        app.post_raw("/api/v1/transactions", Some("text/plain"), body.clone())
            .await
            .status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    assert_eq!(
        app.post_raw("/api/v1/transactions", None, body)
            .await
            .status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
}

#[actix_web::test]
async fn invalid_values_are_422_with_every_field_named_and_nothing_is_stored() {
    let app = spawn_app().await;
    let user = fresh_user();
    let cases = [
        (
            json!({"user_id": "nope", "full_name": "A", "transaction_amount": 1, "transaction_type": "credit"}),
            "user_id",
        ),
        (
            json!({"user_id": user, "full_name": "  ", "transaction_amount": 1, "transaction_type": "credit"}),
            "full_name",
        ),
        (
            json!({"user_id": user, "full_name": "a".repeat(201), "transaction_amount": 1, "transaction_type": "credit"}),
            "full_name",
        ),
        (
            json!({"user_id": user, "full_name": "A\u{7}", "transaction_amount": 1, "transaction_type": "credit"}),
            "full_name",
        ),
        (
            json!({"user_id": user, "full_name": "A", "transaction_amount": -1, "transaction_type": "credit"}),
            "transaction_amount",
        ),
        (
            json!({"user_id": user, "full_name": "A", "transaction_amount": 1.005, "transaction_type": "credit"}),
            "transaction_amount",
        ),
        (
            json!({"user_id": user, "full_name": "A", "transaction_amount": 1e13, "transaction_type": "credit"}),
            "transaction_amount",
        ),
        (
            json!({"user_id": user, "full_name": "A", "transaction_amount": "1", "transaction_type": "credit"}),
            "transaction_amount",
        ),
        (
            json!({"user_id": user, "full_name": "A", "transaction_amount": 1, "transaction_type": "refund"}),
            "transaction_type",
        ),
        (
            json!({"user_id": user, "full_name": "A", "transaction_amount": 1, "transaction_type": "credit", "transaction_date": "yesterday"}),
            "transaction_date",
        ),
        (
            json!({"user_id": user, "full_name": "A", "transaction_amount": 1, "transaction_type": "credit", "transaction_date": "2999-01-01T00:00:00Z"}),
            "transaction_date",
        ),
        (
            json!({"user_id": user, "full_name": "A", "transaction_amount": 1, "transaction_type": "credit", "admin": true}),
            "admin",
        ),
        (
            json!({"user_id": user, "full_name": "A", "transaction_type": "credit"}),
            "transaction_amount",
        ),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let r = app.post_json("/api/v1/transactions", &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(r.body["message"], "Validation failed");
        assert!(
            r.error_fields().contains(&field.to_owned()),
            "{body} should name {field}: {}",
            r.body
        );
    }
    let list = app.list(&user, "").await;
    assert_eq!(
        list.data()["total"],
        0,
        "nothing may be stored by a rejected request"
    );
}

#[actix_web::test]
async fn bad_ids_and_query_values_are_422() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/transactions/123",
        "/api/v1/transactions/zzzzzzzzzzzzzzzzzzzzzzzz",
        "/api/v1/transactions/user/not-a-user",
        "/api/v1/analytics/transactions/not-a-user",
    ] {
        assert_eq!(
            app.get(path).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}"
        );
    }
    for query in [
        "?page=0",
        "?limit=0",
        "?limit=101",
        "?page=abc",
        "?page=1&page=2",
        "?unknown=1",
        "?limit=1.5",
    ] {
        let r = app.list(USER, query).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert!(!r.error_fields().is_empty());
    }
    for query in [
        "?start_date=tomorrow",
        "?end_date=2026-02-30",
        "?start_date=2025-02-01&end_date=2025-01-31",
    ] {
        assert_eq!(
            app.stats(USER, query).await.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}"
        );
    }
}

#[actix_web::test]
async fn unknown_routes_are_404_and_wrong_methods_405_with_json_bodies() {
    let app = spawn_app().await;
    let r = app.get("/api/v1/nothing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["message"], "Not found");
    let r = app
        .client
        .put(app.url(&format!("/api/v1/transactions/{USER}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}
