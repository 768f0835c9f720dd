//! `/metrics` after a scripted run of traffic: the text format parses, the counters moved
//! by exactly what was sent with the right labels, and 1,000 distinct ids add no series.

use std::collections::BTreeMap;

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{fresh_user, settings_for, spawn_with, TestApp};

/// Every sample of the text format: `name{labels}` (labels sorted) → value. Panics on a
/// line that is not the format.
fn parse(text: &str) -> BTreeMap<String, f64> {
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (series, value) = line.rsplit_once(' ').expect("a sample line");
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number: {line}"));
        let key = match series.split_once('{') {
            None => series.to_owned(),
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("closed labels");
                let mut pairs: Vec<&str> = labels
                    .split("\",")
                    .map(|p| p.trim_end_matches('"'))
                    .collect();
                pairs.sort_unstable();
                assert!(
                    name.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':'),
                    "bad metric name: {line}"
                );
                format!("{name}{{{}}}", pairs.join(","))
            }
        };
        samples.insert(key, value);
    }
    samples
}

async fn scrape(app: &TestApp) -> (String, BTreeMap<String, f64>) {
    let port = app.metrics_port.expect("metrics on");
    let mut res = awc::Client::default()
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = String::from_utf8(res.body().await.unwrap().to_vec()).unwrap();
    let samples = parse(&text);
    (text, samples)
}

fn value(samples: &BTreeMap<String, f64>, key: &str) -> f64 {
    samples.get(key).copied().unwrap_or(0.0)
}

#[actix_web::test]
async fn counters_move_by_exactly_what_was_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(dir.path(), &[]);
    settings.metrics.addr = "127.0.0.1:0".into();
    let app = spawn_with(settings).await;
    let (_, before) = scrape(&app).await;

    let user = fresh_user();
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(app.create(&user, 1.0 + f64::from(i), "credit", None).await["id"].clone());
    }
    for id in &ids[..3] {
        app.get_owned(format!("/api/v1/transactions/{}", id.as_str().unwrap()))
            .await;
    }
    for _ in 0..2 {
        let r = app
            .get("/api/v1/transactions/65e25a6bfb249dcbfbf00b00")
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
    let path = format!("/api/v1/transactions/{}", ids[0].as_str().unwrap());
    app.patch_json(&path, &json!({"transaction_amount": 2.5}))
        .await;
    app.delete(&path).await;
    app.get_owned(format!("/api/v1/analytics/transactions/{user}"))
        .await;
    app.get_owned(format!("/api/v1/analytics/transactions/{user}"))
        .await;
    let anonymous = awc::Client::default()
        .get(app.url("/api/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        awc::Client::default()
            .get(app.url("/metrics"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND,
        "never on the public listener"
    );

    let (text, after) = scrape(&app).await;
    let moved = |key: &str| value(&after, key) - value(&before, key);
    let requests = |route: &str, method: &str, status: &str| {
        moved(&format!(
            "fido_http_requests_total{{method=\"{method},route=\"{route},status=\"{status}}}"
        ))
    };
    assert_eq!(
        requests("/api/v1/transactions", "POST", "2xx"),
        7.0,
        "{text}"
    );
    assert_eq!(
        requests("/api/v1/transactions/{transaction_id}", "GET", "2xx"),
        3.0
    );
    assert_eq!(
        requests("/api/v1/transactions/{transaction_id}", "GET", "4xx"),
        2.0
    );
    assert_eq!(
        requests("/api/v1/transactions/{transaction_id}", "PATCH", "2xx"),
        1.0
    );
    assert_eq!(
        requests("/api/v1/transactions/{transaction_id}", "DELETE", "2xx"),
        1.0
    );
    assert_eq!(requests("/api/v1/events", "GET", "4xx"), 1.0);
    assert_eq!(moved("fido_transactions_total{operation=\"create}"), 7.0);
    assert_eq!(moved("fido_transactions_total{operation=\"update}"), 1.0);
    assert_eq!(moved("fido_transactions_total{operation=\"delete}"), 1.0);
    assert_eq!(moved("fido_auth_failures_total{reason=\"missing}"), 1.0);
    assert_eq!(
        moved("fido_store_call_duration_seconds_count{operation=\"insert,outcome=\"ok}"),
        7.0
    );
    assert_eq!(
        moved("fido_store_call_duration_seconds_count{operation=\"get,outcome=\"not_found}"),
        2.0
    );
    assert!(
        moved("fido_cache_lookups_total{result=\"hit}") >= 1.0,
        "{text}"
    );
    assert_eq!(value(&after, "fido_http_requests_in_flight"), 0.0);
    assert!(
        value(&after, "process_resident_memory_bytes") > 0.0,
        "{text}"
    );
    assert!(text.contains("fido_build_info{"), "{text}");
    assert!(!text.contains(&user), "no user id in any label");
}

#[actix_web::test]
async fn a_thousand_distinct_ids_add_no_series() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(dir.path(), &[]);
    settings.metrics.addr = "127.0.0.1:0".into();
    let app = spawn_with(settings).await;
    // Every kind of answer once, so every series exists.
    let user = fresh_user();
    app.create(&user, 1.0, "credit", None).await;
    app.get("/api/v1/transactions/65e25a6bfb249dcbfbf00b00")
        .await;
    app.get_owned(format!("/api/v1/transactions/user/{user}"))
        .await;
    app.get("/no/such/path").await;
    let (_, before) = scrape(&app).await;
    for i in 0..1000u32 {
        let id = format!("{:024x}", u128::from(i) + 0x6000_0000_0000_0000_0000);
        app.get_owned(format!("/api/v1/transactions/{id}")).await;
        app.get_owned(format!("/api/v1/transactions/user/{id}"))
            .await;
        app.get_owned(format!("/no/such/path/{i}")).await;
    }
    let (text, after) = scrape(&app).await;
    let names = |s: &BTreeMap<String, f64>| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&after),
        names(&before),
        "new series appeared:\n{text}"
    );
}
