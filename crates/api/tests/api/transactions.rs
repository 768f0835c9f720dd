use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{fresh_user, spawn_app};

#[actix_web::test]
async fn create_returns_201_with_the_decrypted_resource() {
    let app = spawn_app().await;
    let user = fresh_user();
    let r = app
        .post_json("/api/v1/transactions", &json!({"user_id": user, "full_name": "  Ada Lovelace ",
            "transaction_amount": 10.5, "transaction_type": "credit", "transaction_date": "2025-11-26T12:15:30.123456+02:00"}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.body["message"], "Request successful");
    let t = r.data();
    assert_eq!(t["id"].as_str().unwrap().len(), 24);
    assert_eq!(t["user_id"], user);
    assert_eq!(t["full_name"], "Ada Lovelace", "trimmed and decrypted");
    assert_eq!(t["transaction_amount"], 10.5);
    assert_eq!(t["transaction_type"], "credit");
    assert_eq!(
        t["transaction_date"], "2025-11-26T10:15:30.123Z",
        "UTC, milliseconds"
    );
    assert_eq!(t["created_at"], t["updated_at"]);
    let keys: Vec<_> = t.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys.len(),
        10,
        "exactly the resource's fields, and the deprecated _id: {keys:?}"
    );
    assert_eq!(t["_id"], t["id"]);
    assert_eq!(t["version"], 1);
}

#[actix_web::test]
async fn the_date_defaults_to_now_and_may_be_up_to_five_minutes_ahead() {
    let app = spawn_app().await;
    let before = chrono::Utc::now();
    let t = app.create(&fresh_user(), 1.0, "debit", None).await;
    let date =
        chrono::DateTime::parse_from_rfc3339(t["transaction_date"].as_str().unwrap()).unwrap();
    assert!((date.timestamp_millis() - before.timestamp_millis()).abs() < 5_000);
    assert!(t["transaction_date"].as_str().unwrap().ends_with('Z'));
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(4)).to_rfc3339();
    app.create(&fresh_user(), 1.0, "debit", Some(&soon)).await;
}

#[actix_web::test]
async fn get_returns_the_transaction_and_404_when_unknown() {
    let app = spawn_app().await;
    let created = app.create(&fresh_user(), 0.07, "debit", None).await;
    let r = app
        .get(&format!(
            "/api/v1/transactions/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.data(), &created);
    let r = app
        .get("/api/v1/transactions/6650f0c2e4b0a1b2c3d4e5f6")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body, json!({"message": "Transaction not found"}));
}

#[actix_web::test]
async fn patch_changes_only_the_given_fields_and_moves_updated_at() {
    let app = spawn_app().await;
    let created = app
        .create(&fresh_user(), 10.0, "credit", Some("2025-01-01T00:00:00Z"))
        .await;
    let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
    actix_web::rt::time::sleep(std::time::Duration::from_millis(5)).await;
    let r = app
        .patch_json(
            &path,
            &json!({"transaction_amount": 12.75, "full_name": "Grace Hopper"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let t = r.data();
    assert_eq!(t["transaction_amount"], 12.75);
    assert_eq!(t["full_name"], "Grace Hopper");
    assert_eq!(t["transaction_type"], "credit");
    assert_eq!(t["transaction_date"], created["transaction_date"]);
    assert_eq!(t["created_at"], created["created_at"]);
    assert!(t["updated_at"].as_str().unwrap() > created["updated_at"].as_str().unwrap());
    assert_eq!(app.get(&path).await.data(), t, "the change is stored");
}

#[actix_web::test]
async fn patch_rejects_empty_immutable_and_unknown_fields_and_changes_nothing() {
    let app = spawn_app().await;
    let created = app.create(&fresh_user(), 10.0, "credit", None).await;
    let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
    for (body, field) in [
        (json!({}), "body"),
        (json!({"user_id": fresh_user()}), "user_id"),
        (json!({"id": "6650f0c2e4b0a1b2c3d4e5f6"}), "id"),
        (json!({"created_at": "2025-01-01T00:00:00Z"}), "created_at"),
        (
            json!({"transaction_date": "2025-01-01T00:00:00Z"}),
            "transaction_date",
        ),
        (json!({"transaction_amount": 1, "colour": "red"}), "colour"),
        // `null` is "no change" (as in the original): nulls only make the empty patch.
        (json!({"transaction_amount": null}), "body"),
        (json!({"transaction_type": "CREDIT"}), "transaction_type"),
    ] {
        let r = app.patch_json(&path, &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            r.error_fields(),
            vec![field.to_owned()],
            "{body}: {}",
            r.body
        );
    }
    assert_eq!(app.get(&path).await.data(), &created);
    let r = app
        .patch_json(
            "/api/v1/transactions/6650f0c2e4b0a1b2c3d4e5f6",
            &json!({"transaction_amount": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn delete_removes_and_then_404s() {
    let app = spawn_app().await;
    let created = app.create(&fresh_user(), 3.0, "credit", None).await;
    let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
    let r = app.delete(&path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        json!({"message": "Transaction deleted successfully", "data": null})
    );
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.delete(&path).await.status, StatusCode::NOT_FOUND);
}
