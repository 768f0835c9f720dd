use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{fresh_user, spawn_app};

#[actix_web::test]
async fn money_is_exact_and_the_average_rounds_half_to_even() {
    let app = spawn_app().await;
    let user = fresh_user();
    app.create(&user, 0.10, "credit", Some("2025-11-25T10:00:00Z"))
        .await;
    app.create(&user, 0.20, "credit", Some("2025-11-25T11:00:00Z"))
        .await;
    let r = app.stats(&user, "").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["message"], "Request successful");
    // 0.10 + 0.20 is exactly 0.30; 0.30 / 2 = 0.15.
    assert_eq!(
        r.data(),
        &json!({
            "highest_transaction_day": "2025-11-25",
            "average_transaction": 0.15,
            "total_transaction": 0.3,
            "transaction_count": 2,
            "total_credit": 0.3,
            "total_debit": 0.0,
            "net": 0.3,
        })
    );

    // 0.05 over 2 is 0.025: half-to-even gives 0.02; 0.15 over 2 is 0.075 -> 0.08.
    let u2 = fresh_user();
    app.create(&u2, 0.05, "debit", Some("2025-11-25T10:00:00Z"))
        .await;
    app.create(&u2, 0.0, "credit", Some("2025-11-25T10:00:00Z"))
        .await;
    let r = app.stats(&u2, "").await;
    assert_eq!(r.data()["average_transaction"], 0.02);
    assert_eq!(r.data()["net"], -0.05);
    let u3 = fresh_user();
    app.create(&u3, 0.15, "credit", None).await;
    app.create(&u3, 0.0, "credit", None).await;
    assert_eq!(app.stats(&u3, "").await.data()["average_transaction"], 0.08);
}

#[actix_web::test]
async fn many_small_amounts_sum_without_drift() {
    let app = spawn_app().await;
    let user = fresh_user();
    for _ in 0..30 {
        app.create(&user, 0.1, "credit", Some("2025-06-01T00:00:00Z"))
            .await;
    }
    let r = app.stats(&user, "").await;
    assert_eq!(r.data()["total_transaction"], 3.0);
    assert_eq!(r.data()["average_transaction"], 0.1);
}

#[actix_web::test]
async fn the_busiest_day_ties_to_the_earliest() {
    let app = spawn_app().await;
    let user = fresh_user();
    for date in [
        "2025-11-24T23:59:59.999Z",
        "2025-11-25T00:00:00Z",
        "2025-11-25T09:00:00Z",
        "2025-11-26T01:00:00Z",
        "2025-11-26T02:00:00Z",
    ] {
        app.create(&user, 1.0, "credit", Some(date)).await;
    }
    assert_eq!(
        app.stats(&user, "").await.data()["highest_transaction_day"],
        "2025-11-25"
    );
}

#[actix_web::test]
async fn date_only_bounds_cover_whole_days_and_either_bound_may_be_alone() {
    let app = spawn_app().await;
    let user = fresh_user();
    app.create(&user, 1.0, "credit", Some("2025-11-24T23:59:59.999Z"))
        .await;
    app.create(&user, 2.0, "credit", Some("2025-11-25T00:00:00.000Z"))
        .await;
    app.create(&user, 4.0, "debit", Some("2025-11-25T23:59:59.999Z"))
        .await;
    app.create(&user, 8.0, "credit", Some("2025-11-26T00:00:00.000Z"))
        .await;
    let total = |r: crate::helpers::Reply| {
        (
            r.data()["transaction_count"].as_u64(),
            r.data()["total_transaction"].as_f64(),
        )
    };
    assert_eq!(
        total(
            app.stats(&user, "?start_date=2025-11-25&end_date=2025-11-25")
                .await
        ),
        (Some(2), Some(6.0))
    );
    assert_eq!(
        total(app.stats(&user, "?start_date=2025-11-25").await),
        (Some(3), Some(14.0))
    );
    assert_eq!(
        total(app.stats(&user, "?end_date=2025-11-25").await),
        (Some(3), Some(7.0))
    );
    assert_eq!(
        total(
            app.stats(
                &user,
                "?start_date=2025-11-25T00:00:00Z&end_date=2025-11-25T00:00:00.000Z"
            )
            .await
        ),
        (Some(1), Some(2.0)),
        "RFC 3339 bounds are inclusive to the millisecond"
    );
    let r = app
        .stats(&user, "?start_date=2025-11-26&end_date=2025-11-25")
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn no_transactions_in_range_is_404() {
    let app = spawn_app().await;
    let user = fresh_user();
    let expected =
        json!({"message": "User does not have any transactions or in the specified range"});
    let r = app.stats(&user, "").await;
    assert_eq!((r.status, &r.body), (StatusCode::NOT_FOUND, &expected));
    app.create(&user, 1.0, "credit", Some("2025-01-01T00:00:00Z"))
        .await;
    let r = app.stats(&user, "?start_date=2025-02-01").await;
    assert_eq!((r.status, &r.body), (StatusCode::NOT_FOUND, &expected));
}
