//! Read-your-writes: after a write returns 2xx, every list page, limit and statistics
//! range of that user reflects it, even when those reads were cached just before.

use serde_json::json;

use crate::helpers::{fresh_user, spawn_app, TestApp};

async fn snapshot(app: &TestApp, user: &str) -> Vec<serde_json::Value> {
    let lists = [
        "",
        "?page=1&limit=1",
        "?page=2&limit=1",
        "?page=1&limit=11",
        "?page=11&limit=1",
        "?limit=100",
    ];
    let stats = [
        "",
        "?start_date=2025-11-25",
        "?end_date=2025-11-25",
        "?start_date=2025-11-25&end_date=2025-11-25",
    ];
    app.bodies(user, &lists, &stats).await
}

#[actix_web::test]
async fn every_write_is_visible_on_every_cached_page_and_range() {
    let app = spawn_app().await;
    let user = fresh_user();
    let first = app
        .create(&user, 1.0, "credit", Some("2025-11-25T08:00:00Z"))
        .await;
    app.create(&user, 2.0, "credit", Some("2025-11-24T08:00:00Z"))
        .await;

    // Warm the cache, and check it serves identical answers.
    let warm = snapshot(&app, &user).await;
    assert_eq!(snapshot(&app, &user).await, warm);

    // Create.
    app.create(&user, 4.0, "debit", Some("2025-11-25T09:00:00Z"))
        .await;
    let after_create = snapshot(&app, &user).await;
    assert_eq!(after_create[0]["data"]["total"], 3);
    assert_eq!(
        after_create[2]["data"]["data"][0]["transaction_amount"], 1.0,
        "page 2 limit 1 moved"
    );
    assert_eq!(after_create[6]["data"]["total_transaction"], 7.0);
    assert_eq!(
        after_create[7]["data"]["transaction_count"], 2,
        "start-only range"
    );
    assert_eq!(after_create[9]["data"]["total_debit"], 4.0, "closed range");

    // Update.
    let path = format!("/api/v1/transactions/{}", first["id"].as_str().unwrap());
    app.patch_json(&path, &json!({"transaction_amount": 10.0}))
        .await;
    let after_update = snapshot(&app, &user).await;
    assert_eq!(after_update[6]["data"]["total_transaction"], 16.0);
    assert_eq!(
        after_update[1]["data"]["data"][0]["transaction_amount"],
        4.0
    );
    assert_eq!(
        after_update[2]["data"]["data"][0]["transaction_amount"],
        10.0
    );

    // Delete.
    app.delete(&path).await;
    let after_delete = snapshot(&app, &user).await;
    assert_eq!(after_delete[0]["data"]["total"], 2);
    assert_eq!(after_delete[6]["data"]["total_transaction"], 6.0);
    assert_eq!(after_delete[9]["data"]["transaction_count"], 1);
}

#[actix_web::test]
async fn a_cached_404_for_statistics_goes_away_on_the_first_write() {
    let app = spawn_app().await;
    let user = fresh_user();
    assert_eq!(app.stats(&user, "").await.status.as_u16(), 404);
    app.create(&user, 5.0, "credit", None).await;
    assert_eq!(app.stats(&user, "").await.data()["transaction_count"], 1);
}

#[actix_web::test]
async fn with_caching_switched_off_every_read_still_sees_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = crate::helpers::settings_for(dir.path(), &[]);
    settings.cache.enabled = false;
    let app = crate::helpers::spawn_with(settings).await;
    let user = fresh_user();
    app.create(&user, 1.0, "credit", Some("2025-11-25T08:00:00Z"))
        .await;
    let before = snapshot(&app, &user).await;
    assert_eq!(before[0]["data"]["total"], 1);
    app.create(&user, 2.0, "debit", Some("2025-11-25T09:00:00Z"))
        .await;
    let after = snapshot(&app, &user).await;
    assert_eq!(after[0]["data"]["total"], 2);
    assert_eq!(after[6]["data"]["total_transaction"], 3.0);
}
