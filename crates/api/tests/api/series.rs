//! `GET /api/v1/analytics/transactions/{user_id}/daily`: totals per day, week or month.

use awc::http::StatusCode;

use crate::helpers::{fresh_user, on_mongodb, spawn_app};

#[actix_web::test]
async fn days_weeks_and_months_add_up_exactly_and_follow_writes() {
    let app = spawn_app().await;
    let user = fresh_user();
    // 2025-11-29 is a Saturday (ISO week 48), 2025-12-01 the Monday after (week 49).
    app.create(&user, 10.10, "credit", Some("2025-11-29T08:00:00Z"))
        .await;
    app.create(&user, 0.20, "credit", Some("2025-11-29T23:59:59.999Z"))
        .await;
    app.create(&user, 5.05, "debit", Some("2025-12-01T00:00:00Z"))
        .await;
    let base = format!("/api/v1/analytics/transactions/{user}/daily");
    let series = |query: &'static str| app.get_owned(format!("{base}{query}"));
    let days = series("").await;
    assert_eq!(days.status, StatusCode::OK, "{}", days.body);
    assert_eq!(days.data()["granularity"], "day");
    let points = days.data()["points"].as_array().unwrap().clone();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["period"], "2025-11-29");
    assert_eq!(points[0]["transaction_count"], 2);
    assert_eq!(points[0]["total_credit"], 10.3, "exact: 10.10 + 0.20");
    assert_eq!(points[1]["net"], -5.05);

    let weeks = series("?granularity=week").await;
    let labels: Vec<_> = weeks.data()["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["period"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(labels, ["2025-W48", "2025-W49"]);
    let months = series("?granularity=month&start_date=2025-11-29T12:00:00Z").await;
    let points = months.data()["points"].as_array().unwrap().clone();
    assert_eq!(points[0]["period"], "2025-11");
    assert_eq!(
        points[0]["transaction_count"], 1,
        "a time of day cuts the first day"
    );
    assert_eq!(points[1]["period"], "2025-12");

    // Read-your-writes through the cache.
    app.create(&user, 1.0, "credit", Some("2025-11-30T12:00:00Z"))
        .await;
    let days = series("").await;
    assert_eq!(days.data()["points"].as_array().unwrap().len(), 3);

    for bad in [
        "?granularity=year",
        "?start_date=2025-12-02&end_date=2025-12-01",
        "?page=1",
    ] {
        let reply = series(bad).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    }
    let empty = app
        .get(&format!(
            "/api/v1/analytics/transactions/{}/daily",
            fresh_user()
        ))
        .await;
    assert_eq!(empty.status, StatusCode::OK);
    assert_eq!(empty.data()["points"].as_array().unwrap().len(), 0);
}

#[actix_web::test]
async fn more_than_a_thousand_points_is_422_naming_the_bound() {
    if on_mongodb() {
        return; // 1,001 creates: the embedded store proves the rule; the rule is the service's
    }
    let app = spawn_app().await;
    let user = fresh_user();
    let first = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for i in 0..1001 {
        let day = first + chrono::Days::new(i);
        app.create(&user, 1.0, "credit", Some(&format!("{day}T12:00:00Z")))
            .await;
    }
    let path = format!("/api/v1/analytics/transactions/{user}/daily");
    let reply = app.get(&format!("{path}?end_date=2030-01-01")).await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["end_date"]);
    let reply = app.get(&format!("{path}?start_date=2020-01-01")).await;
    assert_eq!(reply.error_fields(), ["start_date"]);
    let weeks = app.get(&format!("{path}?granularity=week")).await;
    assert_eq!(weeks.status, StatusCode::OK, "weeks fit");
}
