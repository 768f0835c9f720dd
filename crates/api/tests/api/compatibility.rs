//! Clients of the original service keep working (issue 20): PATCH with explicit nulls,
//! date-times without an offset, and `_id` in the create answer.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{fresh_user, spawn_app};

#[actix_web::test]
async fn null_in_a_patch_means_no_change() {
    let app = spawn_app().await;
    let created = app.create(&fresh_user(), 10.0, "credit", None).await;
    let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
    let reply = app
        .patch_json(
            &path,
            &json!({"full_name": null, "transaction_amount": 12.5, "transaction_type": null}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.data()["transaction_amount"], 12.5);
    assert_eq!(reply.data()["full_name"], "Ada Lovelace");
    assert_eq!(reply.data()["transaction_type"], "credit");
    let nothing = app
        .patch_json(
            &path,
            &json!({"full_name": null, "transaction_amount": null, "transaction_type": null}),
        )
        .await;
    assert_eq!(nothing.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(nothing.error_fields(), ["body"]);
}

#[actix_web::test]
async fn date_times_without_an_offset_are_read_as_utc() {
    let app = spawn_app().await;
    let user = fresh_user();
    let created = app
        .create(&user, 5.0, "debit", Some("2025-11-25T13:40:31.184834"))
        .await;
    assert_eq!(created["transaction_date"], "2025-11-25T13:40:31.184Z");
    let stats = app
        .stats(
            &user,
            "?start_date=2025-11-25T13:40:31.184&end_date=2025-11-25T13:40:31.184999",
        )
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.data()["transaction_count"], 1);
    let outside = app
        .stats(&user, "?start_date=2025-11-25T13:40:31.185")
        .await;
    assert_eq!(outside.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn the_create_answer_keeps_the_originals_id_beside_id() {
    let app = spawn_app().await;
    let reply = app
        .post_json(
            "/api/v1/transactions",
            &json!({"user_id": fresh_user(), "full_name": "Ada", "transaction_amount": 1,
                    "transaction_type": "credit"}),
        )
        .await;
    let created = reply.data();
    assert_eq!(created["_id"], created["id"]);
    let read = app
        .get(&format!(
            "/api/v1/transactions/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert!(
        read.data().get("_id").is_none(),
        "reads answer with id, as the original's"
    );
}
