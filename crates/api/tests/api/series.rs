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

/// Each point opens with the balance of everything dated before its first transaction in
/// the range — including what lies before the range — and closes with that plus its net;
/// the next point opens where it closed, and the last closes at the balance at the end.
#[actix_web::test]
async fn each_point_opens_where_the_one_before_it_closed() {
    let app = spawn_app().await;
    let user = fresh_user();
    for (amount, kind, date) in [
        (100.00, "credit", "2025-10-31T23:59:59.999Z"), // before the range
        (20.25, "debit", "2025-11-03T10:00:00Z"),
        (5.50, "credit", "2025-11-03T11:00:00Z"),
        (0.75, "debit", "2025-11-10T09:00:00Z"),
        (40.00, "credit", "2025-12-02T09:00:00Z"), // after the range
    ] {
        app.create(&user, amount, kind, Some(date)).await;
    }
    let r = app
        .get(&format!(
            "/api/v1/analytics/transactions/{user}/daily?start_date=2025-11-01&end_date=2025-11-30"
        ))
        .await;
    let points = r.data()["points"].as_array().unwrap().clone();
    let balances: Vec<(f64, f64)> = points
        .iter()
        .map(|p| {
            (
                p["opening_balance"].as_f64().unwrap(),
                p["closing_balance"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(balances, [(100.0, 85.25), (85.25, 84.5)]);
    let at_end = app
        .get(&format!("/api/v1/balances/{user}?at=2025-11-30"))
        .await;
    assert_eq!(
        at_end.data()["balance"],
        84.5,
        "the last point closes at the balance"
    );

    // Without a start, the first point opens at zero; a month groups both days.
    let r = app
        .get(&format!(
            "/api/v1/analytics/transactions/{user}/daily?granularity=month"
        ))
        .await;
    let months: Vec<(String, f64, f64)> = r.data()["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["period"].as_str().unwrap().to_owned(),
                p["opening_balance"].as_f64().unwrap(),
                p["closing_balance"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        months,
        [
            ("2025-10".to_owned(), 0.0, 100.0),
            ("2025-11".to_owned(), 100.0, 84.5),
            ("2025-12".to_owned(), 84.5, 124.5),
        ]
    );
}
