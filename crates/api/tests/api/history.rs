//! `GET /api/v1/transactions/{id}/history`: every version, who made it and what it
//! changed, field by field; kept after the deletion; names encrypted at rest.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{captured_logs, fresh_user, spawn_app, Reply, TestApp, WRITE_KEY};

/// A request with the write-only key (`writer`) instead of the helpers' (`tests`).
async fn as_writer(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Reply {
    let req = match method {
        "PATCH" => app.client.patch(app.url(path)),
        "DELETE" => app.client.delete(app.url(path)),
        other => panic!("not used here: {other}"),
    }
    .insert_header(("authorization", format!("Bearer {WRITE_KEY}")));
    let res = match body {
        Some(body) => req.send_json(&body).await,
        None => req.send().await,
    }
    .expect("request");
    TestApp::read(res).await
}

fn values(v: &Value) -> Value {
    json!({
        "user_id": v["user_id"],
        "full_name": v["full_name"],
        "transaction_amount": v["transaction_amount"],
        "transaction_type": v["transaction_type"],
        "transaction_date": v["transaction_date"],
    })
}

#[actix_web::test]
async fn a_create_two_updates_and_a_delete_by_two_keys_read_back_field_by_field() {
    let app = spawn_app().await;
    let user = fresh_user();
    let created = app
        .create(&user, 10.5, "credit", Some("2026-03-01T10:00:00.250Z"))
        .await;
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/transactions/{id}");

    let renamed = as_writer(
        &app,
        "PATCH",
        &path,
        Some(json!({"full_name": "Grace Hopper", "transaction_amount": 12.05})),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    let retyped = app
        .patch_json(&path, &json!({"transaction_type": "debit"}))
        .await;
    assert_eq!(retyped.status, StatusCode::OK, "{}", retyped.body);
    let deleted = as_writer(&app, "DELETE", &path, None).await;
    assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
    assert_eq!(app.get(&path).await.status, StatusCode::NOT_FOUND);

    let r = app.get(&format!("{path}/history")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let data = r.data();
    assert_eq!(data["transaction_id"], json!(id));
    let versions = data["versions"].as_array().expect("versions");
    let shape: Vec<(u64, &str, &str)> = versions
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().expect("version"),
                v["action"].as_str().expect("action"),
                v["actor"].as_str().expect("actor"),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (1, "created", "tests"),
            (2, "updated", "writer"),
            (3, "updated", "tests"),
            (4, "deleted", "writer"),
        ]
    );
    // The values after each change are exactly what the API answered then.
    let renamed = renamed.data().clone();
    let retyped = retyped.data().clone();
    assert_eq!(versions[0]["values"], values(&created));
    assert_eq!(versions[1]["values"], values(&renamed));
    assert_eq!(versions[2]["values"], values(&retyped));
    assert_eq!(
        versions[3]["values"],
        values(&retyped),
        "as it was when deleted"
    );
    assert_eq!(versions[0]["at"], created["created_at"]);
    assert_eq!(versions[1]["at"], renamed["updated_at"]);
    assert_eq!(versions[2]["at"], retyped["updated_at"]);
    // Updates name the fields they changed, before and after; nothing else.
    assert_eq!(
        versions[1]["changes"],
        json!({
            "full_name": {"before": "Ada Lovelace", "after": "Grace Hopper"},
            "transaction_amount": {"before": 10.5, "after": 12.05},
        })
    );
    assert_eq!(
        versions[2]["changes"],
        json!({"transaction_type": {"before": "credit", "after": "debit"}})
    );
    assert!(versions[0].get("changes").is_none());
    assert!(versions[3].get("changes").is_none());

    // At rest, the history's names are cipher tokens; no log line holds a name.
    let store = fido_api::wiring::open_store(&app.settings)
        .await
        .expect("store opens");
    let kept = store
        .history
        .history(fido_domain::TransactionId::parse(&id).expect("id"))
        .await
        .expect("history");
    assert_eq!(kept.len(), 4);
    for entry in &kept {
        for record in std::iter::once(&entry.record).chain(entry.before.as_ref()) {
            let token = record.full_name.as_str();
            assert!(
                !token.contains("Grace") && !token.contains("Ada"),
                "{token}"
            );
        }
    }
    let logs = captured_logs();
    assert!(!logs.contains("Grace Hopper") && !logs.contains("Ada Lovelace"));
}

#[actix_web::test]
async fn history_answers_404_for_an_unknown_id_and_422_for_a_bad_one() {
    let app = spawn_app().await;
    // Read scope: a write-only key is refused, no key is unauthenticated.
    let path = app.url("/api/v1/transactions/6650f0c2e4b0a1b2c3d4e5f6/history");
    let anonymous = awc::Client::default();
    assert_eq!(
        anonymous.get(&path).send().await.expect("GET").status(),
        StatusCode::UNAUTHORIZED
    );
    let writer = anonymous
        .get(&path)
        .insert_header(("authorization", format!("Bearer {WRITE_KEY}")))
        .send()
        .await
        .expect("GET");
    assert_eq!(writer.status(), StatusCode::FORBIDDEN);
    let r = app
        .get("/api/v1/transactions/6650f0c2e4b0a1b2c3d4e5f6/history")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(r.body["message"], json!("Transaction not found"));
    let r = app.get("/api/v1/transactions/not-an-id/history").await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert!(r.error_fields().contains(&"transaction_id".to_owned()));
}

#[actix_web::test]
async fn a_refused_change_writes_no_version() {
    let app = spawn_app().await;
    let user = fresh_user();
    let created = app.create(&user, 3.0, "credit", None).await;
    let id = created["id"].as_str().expect("id");
    let path = format!("/api/v1/transactions/{id}");
    // A stale If-Match and an invalid body change nothing, so they leave no version.
    let stale = app
        .client
        .patch(app.url(&path))
        .insert_header(("if-match", "\"7\""))
        .send_json(&json!({"transaction_amount": 4.0}))
        .await
        .expect("PATCH");
    assert_eq!(stale.status(), StatusCode::PRECONDITION_FAILED);
    let bad = app
        .patch_json(&path, &json!({"transaction_amount": -1}))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get(&format!("{path}/history")).await;
    assert_eq!(r.status, StatusCode::OK);
    let versions = r.data()["versions"].as_array().expect("versions").clone();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["action"], json!("created"));
}
