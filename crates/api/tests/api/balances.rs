//! `GET /api/v1/balances/{user_id}`: the balance at an instant equals a brute force over
//! what was written, follows every write at once, and refuses what it cannot answer.

use awc::http::StatusCode;
use fido_domain::Timestamp;
use fido_testkit::fixtures::Lcg;
use serde_json::json;

use crate::helpers::{fresh_user, spawn_app, TestApp};

const DAY: i64 = 86_400_000;

/// Cents of a JSON amount (the API writes exact decimals with at most two places).
fn cents(v: &serde_json::Value) -> i64 {
    let x = v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    (x * 100.0).round() as i64
}

async fn balance(app: &TestApp, user: &str, query: &str) -> serde_json::Value {
    let r = app.get(&format!("/api/v1/balances/{user}{query}")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.data().clone()
}

#[actix_web::test]
async fn balances_at_random_instants_match_a_brute_force() {
    let app = spawn_app().await;
    let user = fresh_user();
    let base = Timestamp::parse_datetime("2025-03-01T00:00:00Z")
        .expect("time")
        .as_millis();
    let mut rng = Lcg(0xba1a_0ce5);
    // id → (signed cents, date in ms)
    let mut live: Vec<(String, i64, i64)> = Vec::new();
    for _ in 0..60 {
        let action = rng.next(10);
        if action < 6 || live.is_empty() {
            let when = base + i64::try_from(rng.next(6 * DAY as u64)).expect("small");
            let amount = rng.next(100_000);
            let credit = rng.next(2) == 0;
            let date = Timestamp::from_millis(when).expect("time").to_string();
            let created = app
                .create(
                    &user,
                    amount as f64 / 100.0,
                    if credit { "credit" } else { "debit" },
                    Some(&date),
                )
                .await;
            let signed = if credit { 1 } else { -1 } * i64::try_from(amount).expect("small");
            live.push((created["id"].as_str().expect("id").to_owned(), signed, when));
        } else if action < 8 {
            let i = usize::try_from(rng.next(live.len() as u64)).expect("small");
            let amount = rng.next(100_000);
            let credit = rng.next(2) == 0;
            let path = format!("/api/v1/transactions/{}", live[i].0);
            let body = json!({"transaction_amount": amount as f64 / 100.0,
                              "transaction_type": if credit { "credit" } else { "debit" }});
            assert_eq!(app.patch_json(&path, &body).await.status, StatusCode::OK);
            live[i].1 = if credit { 1 } else { -1 } * i64::try_from(amount).expect("small");
        } else {
            let i = usize::try_from(rng.next(live.len() as u64)).expect("small");
            let (id, _, _) = live.swap_remove(i);
            let path = format!("/api/v1/transactions/{id}");
            assert_eq!(app.delete(&path).await.status, StatusCode::OK);
        }
    }
    for i in 0..40 {
        let d = i64::try_from(rng.next(9)).expect("small") - 2;
        let (at, query) = match (i, rng.next(4)) {
            (0, _) => (base - 1, None),
            (1, _) => (base + 10 * DAY, None),
            (_, 0) => (base + d * DAY, None),
            (_, 1) => (base + d * DAY + DAY - 1, None),
            // A date alone means the end of that UTC day.
            (_, 2) => {
                let day_end = base + d * DAY + DAY - 1;
                let date = Timestamp::from_millis(day_end).expect("time").to_string();
                (day_end, Some(date[..10].to_owned()))
            }
            _ => (
                base + d * DAY + i64::try_from(rng.next(DAY as u64)).expect("small"),
                None,
            ),
        };
        let instant = Timestamp::from_millis(at).expect("time");
        let query = query.unwrap_or_else(|| instant.to_string());
        let got = balance(&app, &user, &format!("?at={query}")).await;
        let counted: Vec<i64> = live
            .iter()
            .filter(|(_, _, when)| *when <= at)
            .map(|(_, signed, _)| *signed)
            .collect();
        let credits: i64 = counted.iter().filter(|c| **c > 0).sum();
        let debits: i64 = -counted.iter().filter(|c| **c < 0).sum::<i64>();
        assert_eq!(got["as_of"], instant.to_string(), "at {query}");
        assert_eq!(got["user_id"], user);
        assert_eq!(
            (
                cents(&got["balance"]),
                cents(&got["credits"]),
                cents(&got["debits"]),
                got["transaction_count"].as_u64().expect("count"),
            ),
            (credits - debits, credits, debits, counted.len() as u64),
            "at {query}"
        );
    }
}

#[actix_web::test]
async fn the_balance_now_is_zero_without_transactions_and_follows_each_write() {
    let app = spawn_app().await;
    let user = fresh_user();
    let empty = balance(&app, &user, "").await;
    assert_eq!(
        (empty["balance"].clone(), empty["transaction_count"].clone()),
        (json!(0.0), json!(0)),
        "a balance of nothing is 0, not 404"
    );
    let as_of = empty["as_of"].as_str().expect("as_of");
    assert!(
        as_of.ends_with(".999Z"),
        "now: the end of the current second, {as_of}"
    );

    app.create(&user, 10.25, "credit", None).await;
    assert_eq!(balance(&app, &user, "").await["balance"], 10.25);
    app.create(&user, 0.30, "debit", None).await;
    let now = balance(&app, &user, "").await;
    assert_eq!(
        (now["balance"].clone(), now["debits"].clone()),
        (json!(9.95), json!(0.3))
    );
    assert_eq!(now["transaction_count"], 2);
}

#[actix_web::test]
async fn a_bad_instant_is_a_422_naming_at() {
    let app = spawn_app().await;
    let user = fresh_user();
    let ahead = Timestamp::now().plus_millis(2 * DAY).to_string();
    for query in [
        format!("?at={ahead}"),
        "?at=yesterday".to_owned(),
        "?at=2026-02-30".to_owned(),
        "?at=2026-01-01&at=2026-01-02".to_owned(),
    ] {
        let r = app.get(&format!("/api/v1/balances/{user}{query}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.error_fields(), ["at"], "{query}");
    }
    let r = app
        .get(&format!("/api/v1/balances/{user}?as_of=2026-01-01"))
        .await;
    assert_eq!(r.error_fields(), ["as_of"], "unknown parameter");
    let r = app.get("/api/v1/balances/not-a-user").await;
    assert_eq!(r.error_fields(), ["user_id"]);
    let soon = Timestamp::now().plus_millis(DAY - 60_000).to_string();
    let r = app.get(&format!("/api/v1/balances/{user}?at={soon}")).await;
    assert_eq!(r.status, StatusCode::OK, "less than a day ahead is allowed");
}

/// `user`'s transactions in the balance order (date, then id), each with the balance
/// after it, from what the test wrote: (id, balance after, in cents).
fn brute_force_balances(live: &[(String, i64, i64)]) -> std::collections::HashMap<String, i64> {
    let mut ordered: Vec<&(String, i64, i64)> = live.iter().collect();
    ordered.sort_by(|a, b| (a.2, &a.0).cmp(&(b.2, &b.0)));
    let mut balance = 0;
    ordered
        .into_iter()
        .map(|(id, signed, _)| {
            balance += signed;
            (id.clone(), balance)
        })
        .collect()
}

async fn export_text(app: &TestApp, user: &str, query: &str) -> (StatusCode, String) {
    let mut res = app
        .client
        .get(app.url(&format!("/api/v1/transactions/user/{user}/export{query}")))
        .send()
        .await
        .expect("export");
    let body = res.body().limit(16 << 20).await.expect("body");
    (
        res.status(),
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

#[actix_web::test]
async fn running_balances_of_a_cursor_walk_and_of_an_export_equal_a_brute_force() {
    let app = spawn_app().await;
    let user = fresh_user();
    let mut rng = Lcg(0x5eed_0b1d);
    let base = Timestamp::parse_datetime("2025-05-01T00:00:00Z")
        .expect("time")
        .as_millis();
    let mut live: Vec<(String, i64, i64)> = Vec::new();
    for i in 0..36 {
        // A third share one instant, so pages break between transactions of the same
        // millisecond (ordered by id there).
        let when = if i % 3 == 0 {
            base + 2 * DAY
        } else {
            base + i64::try_from(rng.next(5 * DAY as u64)).expect("small")
        };
        let amount = 1 + rng.next(50_000);
        let credit = rng.next(3) != 0;
        let date = Timestamp::from_millis(when).expect("time").to_string();
        let kind = if credit { "credit" } else { "debit" };
        let created = app
            .create(&user, amount as f64 / 100.0, kind, Some(&date))
            .await;
        let signed = if credit { 1 } else { -1 } * i64::try_from(amount).expect("small");
        live.push((created["id"].as_str().expect("id").to_owned(), signed, when));
    }
    // A delete in the middle moves every later balance.
    let (gone, _, _) = live.swap_remove(7);
    assert_eq!(
        app.delete(&format!("/api/v1/transactions/{gone}"))
            .await
            .status,
        StatusCode::OK
    );
    let expected = brute_force_balances(&live);

    let mut seen = 0;
    let mut query = "?limit=5&running_balance=true".to_owned();
    loop {
        let page = app.list(&user, &query).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for item in page.data()["data"].as_array().expect("items") {
            let id = item["id"].as_str().expect("id");
            assert_eq!(cents(&item["balance_after"]), expected[id], "after {id}");
            seen += 1;
        }
        match page.data()["next_cursor"].as_str() {
            Some(next) => query = format!("?limit=5&running_balance=true&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen, live.len(), "the walk saw every transaction once");

    // A numbered page inside a date range: the same balances.
    let page = app
        .list(
            &user,
            "?page=2&limit=4&running_balance=true&start_date=2025-05-02&end_date=2025-05-04",
        )
        .await;
    for item in page.data()["data"].as_array().expect("items") {
        assert_eq!(
            cents(&item["balance_after"]),
            expected[item["id"].as_str().unwrap()]
        );
    }

    let (status, ndjson) = export_text(&app, &user, "?format=ndjson&running_balance=true").await;
    assert_eq!(status, StatusCode::OK);
    let rows: Vec<serde_json::Value> = ndjson
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    assert_eq!(rows.len(), live.len());
    for row in &rows {
        assert_eq!(
            cents(&row["balance_after"]),
            expected[row["id"].as_str().unwrap()]
        );
    }
    let (_, csv) = export_text(&app, &user, "?format=csv&running_balance=true").await;
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .expect("header")
        .ends_with(",version,balance_after"));
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let balance: f64 = cells.last().expect("cell").parse().expect("number");
        assert_eq!(
            (balance * 100.0).round() as i64,
            expected[cells[0]],
            "{line}"
        );
    }
}

#[actix_web::test]
async fn without_running_balance_items_are_unchanged_and_filters_that_skip_are_refused() {
    let app = spawn_app().await;
    let user = fresh_user();
    app.create(&user, 3.0, "credit", None).await;
    let plain = app.list(&user, "").await;
    let item = &plain.data()["data"][0];
    assert!(item.get("balance_after").is_none(), "{item}");
    let asked_off = app.list(&user, "?running_balance=false").await;
    assert_eq!(asked_off.body, plain.body);
    let (_, csv) = export_text(&app, &user, "?format=csv").await;
    assert!(csv.starts_with("id,user_id,full_name,transaction_amount,transaction_type,transaction_date,created_at,updated_at,version\r\n"));

    for query in [
        "?running_balance=true&transaction_type=credit",
        "?running_balance=true&min_amount=1",
        "?running_balance=yes",
    ] {
        let r = app.list(&user, query).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.error_fields(), ["running_balance"], "{query}");
        let (status, _) = export_text(&app, &user, query).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "export {query}");
    }
    let empty = app.list(&fresh_user(), "?running_balance=true").await;
    assert_eq!(empty.data()["data"], json!([]));
}
