//! Concurrent writers: ETags, If-Match, and updates that never get lost.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{fresh_user, spawn_app, TestApp};

async fn patch_if_match(
    app: &TestApp,
    path: &str,
    etag: &str,
    body: serde_json::Value,
) -> (StatusCode, Option<String>, serde_json::Value) {
    let mut res = app
        .client
        .patch(app.url(path))
        .insert_header(("if-match", etag))
        .send_json(&body)
        .await
        .expect("PATCH");
    let tag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = res.json::<serde_json::Value>().await.unwrap_or_default();
    (res.status(), tag, body)
}

async fn delete_if_match(app: &TestApp, path: &str, etag: &str) -> StatusCode {
    app.client
        .delete(app.url(path))
        .insert_header(("if-match", etag))
        .send()
        .await
        .expect("DELETE")
        .status()
}

#[actix_web::test]
async fn etags_follow_versions_and_if_match_guards_writes() {
    let app = spawn_app().await;
    let created = app
        .post_json(
            "/api/v1/transactions",
            &json!({"user_id": fresh_user(), "full_name": "Ada",
            "transaction_amount": 1, "transaction_type": "credit"}),
        )
        .await;
    assert_eq!(created.headers.get("etag").unwrap(), "\"1\"");
    let path = format!(
        "/api/v1/transactions/{}",
        created.data()["id"].as_str().unwrap()
    );
    assert_eq!(app.get(&path).await.headers.get("etag").unwrap(), "\"1\"");

    let (status, tag, _) =
        patch_if_match(&app, &path, "\"1\"", json!({"transaction_amount": 2})).await;
    assert_eq!((status, tag.as_deref()), (StatusCode::OK, Some("\"2\"")));

    // A stale, weak or foreign ETag fails the precondition and changes nothing.
    for stale in ["\"1\"", "W/\"2\"", "\"two\""] {
        let (status, _, body) =
            patch_if_match(&app, &path, stale, json!({"transaction_amount": 99})).await;
        assert_eq!(status, StatusCode::PRECONDITION_FAILED, "{stale}");
        assert!(body["message"].as_str().unwrap().contains("ETag"));
    }
    // A value that is not an ETag at all is a client error.
    let (status, _, _) = patch_if_match(&app, &path, "2", json!({"transaction_amount": 99})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let now = app.get(&path).await;
    assert_eq!(
        (
            now.data()["transaction_amount"].as_f64(),
            now.headers.get("etag").unwrap().to_str().unwrap()
        ),
        (Some(2.0), "\"2\"")
    );

    let (status, tag, _) =
        patch_if_match(&app, &path, "*", json!({"transaction_type": "debit"})).await;
    assert_eq!((status, tag.as_deref()), (StatusCode::OK, Some("\"3\"")));
    // A list of ETags (RFC 9110): applies when the current one is among them.
    let (status, tag, _) = patch_if_match(
        &app,
        &path,
        "\"1\", W/\"3\", \"3\"",
        json!({"transaction_amount": 1}),
    )
    .await;
    assert_eq!((status, tag.as_deref()), (StatusCode::OK, Some("\"4\"")));
    let (status, _, _) = patch_if_match(
        &app,
        &path,
        "\"1\", \"2\"",
        json!({"transaction_amount": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::PRECONDITION_FAILED);
    let twice = app
        .client
        .patch(app.url(&path))
        .insert_header(("if-match", "\"4\""))
        .append_header(("if-match", "\"4\""))
        .send_json(&json!({"transaction_amount": 1}))
        .await
        .unwrap();
    assert_eq!(twice.status(), StatusCode::BAD_REQUEST);

    assert_eq!(
        delete_if_match(&app, &path, "\"2\"").await,
        StatusCode::PRECONDITION_FAILED
    );
    assert_eq!(
        app.get(&path).await.status,
        StatusCode::OK,
        "a refused delete deletes nothing"
    );
    assert_eq!(delete_if_match(&app, &path, "\"4\"").await, StatusCode::OK);
    assert_eq!(
        delete_if_match(&app, &path, "\"4\"").await,
        StatusCode::NOT_FOUND
    );
}

#[actix_web::test]
async fn concurrent_patches_of_different_fields_never_lose_an_update() {
    let app = spawn_app().await;
    let created = app.create(&fresh_user(), 1.0, "credit", None).await;
    let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
    let bodies: Vec<_> = (0..30)
        .map(|i| match i % 3 {
            0 => json!({"transaction_amount": 100 + i}),
            1 => json!({"full_name": format!("Name {i}")}),
            _ => json!({"transaction_type": if i % 2 == 0 { "debit" } else { "credit" }}),
        })
        .collect();
    let replies =
        futures_util::future::join_all(bodies.iter().map(|b| app.patch_json(&path, b))).await;
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    let last = app.get(&path).await;
    assert_eq!(
        last.headers.get("etag").unwrap(),
        "\"31\"",
        "every one of 30 updates counted"
    );
    let amount = last.data()["transaction_amount"].as_f64().unwrap();
    assert!(
        (100.0..130.0).contains(&amount),
        "the amount is one that was written: {amount}"
    );
    assert!(last.data()["full_name"]
        .as_str()
        .unwrap()
        .starts_with("Name "));
}

#[actix_web::test]
async fn read_modify_write_with_if_match_loses_no_increment() {
    let app = spawn_app().await;
    let created = app.create(&fresh_user(), 0.0, "credit", None).await;
    let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
    let clients = 8;
    let increment = |_: usize| {
        let app = &app;
        let path = path.clone();
        async move {
            loop {
                let current = app.get(&path).await;
                let etag = current
                    .headers
                    .get("etag")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned();
                let amount = current.data()["transaction_amount"].as_f64().unwrap();
                let (status, _, _) = patch_if_match(
                    app,
                    &path,
                    &etag,
                    json!({"transaction_amount": amount + 1.0}),
                )
                .await;
                match status {
                    StatusCode::OK => return,
                    StatusCode::PRECONDITION_FAILED => continue,
                    other => panic!("unexpected {other}"),
                }
            }
        }
    };
    futures_util::future::join_all((0..clients).map(increment)).await;
    let last = app.get(&path).await;
    assert_eq!(
        last.data()["transaction_amount"],
        8.0,
        "every client's increment landed exactly once"
    );
}
