use awc::http::StatusCode;

use crate::helpers::{fresh_user, spawn_app};

#[actix_web::test]
async fn a_user_without_transactions_gets_an_empty_page() {
    let app = spawn_app().await;
    let r = app.list(&fresh_user(), "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        serde_json::json!({"message": "Request successful",
        "data": {"total": 0, "page": 1, "limit": 10, "data": [], "next_cursor": null}})
    );
}

#[actix_web::test]
async fn lists_are_newest_first_with_ties_broken_by_id_and_paged() {
    let app = spawn_app().await;
    let user = fresh_user();
    let same = "2025-03-01T12:00:00.000Z";
    let a = app
        .create(&user, 1.0, "credit", Some("2025-01-01T00:00:00Z"))
        .await;
    let b = app.create(&user, 2.0, "credit", Some(same)).await;
    let c = app.create(&user, 3.0, "debit", Some(same)).await;
    let d = app
        .create(&user, 4.0, "credit", Some("2025-05-01T00:00:00Z"))
        .await;
    app.create(&fresh_user(), 9.0, "credit", Some(same)).await;

    let ids = |r: &crate::helpers::Reply| -> Vec<String> {
        r.data()["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let id = |t: &serde_json::Value| t["id"].as_str().unwrap().to_owned();
    // Ids created later in the same process are greater, so c > b breaks their tie.
    let all = app.list(&user, "?limit=100").await;
    assert_eq!(ids(&all), vec![id(&d), id(&c), id(&b), id(&a)]);
    assert_eq!(all.data()["total"], 4);

    let page2 = app.list(&user, "?page=2&limit=2").await;
    assert_eq!(ids(&page2), vec![id(&b), id(&a)]);
    assert_eq!(
        (
            page2.data()["page"].as_u64(),
            page2.data()["limit"].as_u64()
        ),
        (Some(2), Some(2))
    );
    let beyond = app.list(&user, "?page=3&limit=2").await;
    assert_eq!(beyond.status, StatusCode::OK);
    assert!(ids(&beyond).is_empty());
    assert_eq!(beyond.data()["total"], 4);
}

#[actix_web::test]
async fn list_items_are_exactly_the_resource_a_get_returns() {
    let app = spawn_app().await;
    let user = fresh_user();
    let created = app
        .create(&user, 12.34, "debit", Some("2025-02-03T04:05:06.789Z"))
        .await;
    let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
    app.patch_json(&path, &serde_json::json!({"full_name": "Grace Hopper"}))
        .await;
    let single = app.get(&path).await.data().clone();
    for _ in 0..2 {
        // A miss, then a cache hit: both must be the resource, field for field.
        let listed = app.list(&user, "").await;
        assert_eq!(listed.data()["data"][0], single);
    }
    assert_eq!(single["version"], 2);
}
