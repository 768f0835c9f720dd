//! Finding transactions: filters, cursor pagination and streaming export, through the
//! real HTTP stack on the configured store.

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_user, spawn_app, TestApp};

/// 48 transactions over four days: both types, amounts from a small set (so bounds land
/// on rows), several at the very same instant.
async fn seed(app: &TestApp, user: &str) -> Vec<Value> {
    let amounts = [0.0, 5.25, 10.0, 99.99, 100.0, 2500.5];
    let mut created = Vec::new();
    for i in 0..48u32 {
        let day = 1 + i % 4;
        let hour = (i * 7) % 24;
        let date = if i % 5 == 0 {
            format!("2026-03-0{day}T12:00:00.000Z")
        } else {
            format!("2026-03-0{day}T{hour:02}:{:02}:00.000Z", i % 60)
        };
        let kind = if i % 3 == 0 { "debit" } else { "credit" };
        created.push(
            app.create(
                user,
                amounts[(i as usize) % amounts.len()],
                kind,
                Some(&date),
            )
            .await,
        );
    }
    // Newest first, ties by id descending: the listing's order.
    created.sort_by(|a, b| {
        (b["transaction_date"].as_str(), b["id"].as_str())
            .cmp(&(a["transaction_date"].as_str(), a["id"].as_str()))
    });
    created
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Exact comparison of amounts: the JSON numbers as cents.
fn cents(v: &Value) -> i64 {
    (v.as_f64().unwrap() * 100.0).round() as i64
}

async fn all_pages(app: &TestApp, user: &str, filters: &str, limit: u32) -> (Vec<Value>, u64) {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = None;
    loop {
        let mut query = format!("?limit={limit}{filters}");
        if let Some(c) = &cursor {
            query.push_str(&format!("&cursor={c}"));
        }
        let r = app.list(user, &query).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.body);
        let data = r.data();
        total = total.or(data["total"].as_u64());
        assert_eq!(
            data["total"].as_u64(),
            total,
            "the total holds across pages"
        );
        if cursor.is_some() {
            assert_eq!(data["page"], Value::Null, "a page by cursor has no number");
        }
        items.extend(data["data"].as_array().unwrap().iter().cloned());
        match data["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    (items, total.unwrap())
}

#[actix_web::test]
async fn filters_select_exactly_what_a_brute_force_over_the_rows_selects() {
    let app = spawn_app().await;
    let user = fresh_user();
    let rows = seed(&app, &user).await;
    // Another user's rows never appear.
    app.create(&fresh_user(), 10.0, "debit", Some("2026-03-02T00:00:00Z"))
        .await;

    type Pick = fn(&Value) -> bool;
    let cases: Vec<(&str, Pick)> = vec![
        ("", |_| true),
        ("&transaction_type=debit", |t| {
            t["transaction_type"] == "debit"
        }),
        ("&transaction_type=credit", |t| {
            t["transaction_type"] == "credit"
        }),
        ("&start_date=2026-03-02", |t| {
            t["transaction_date"].as_str().unwrap() >= "2026-03-02T00:00:00.000Z"
        }),
        ("&end_date=2026-03-02", |t| {
            t["transaction_date"].as_str().unwrap() <= "2026-03-02T23:59:59.999Z"
        }),
        // RFC 3339 bounds are inclusive to the millisecond: 12:00:00.000 is in.
        (
            "&start_date=2026-03-03T12:00:00Z&end_date=2026-03-04T12:00:00.000Z",
            |t| {
                let d = t["transaction_date"].as_str().unwrap();
                ("2026-03-03T12:00:00.000Z"..="2026-03-04T12:00:00.000Z").contains(&d)
            },
        ),
        ("&min_amount=100", |t| {
            cents(&t["transaction_amount"]) >= 10_000
        }),
        ("&max_amount=10", |t| {
            cents(&t["transaction_amount"]) <= 1_000
        }),
        ("&min_amount=5.25&max_amount=99.99", |t| {
            (525..=9_999).contains(&cents(&t["transaction_amount"]))
        }),
        ("&min_amount=0&max_amount=0", |t| {
            cents(&t["transaction_amount"]) == 0
        }),
        (
            "&transaction_type=credit&start_date=2026-03-02&end_date=2026-03-03&min_amount=10",
            |t| {
                let d = t["transaction_date"].as_str().unwrap();
                t["transaction_type"] == "credit"
                    && ("2026-03-02T00:00:00.000Z"..="2026-03-03T23:59:59.999Z").contains(&d)
                    && cents(&t["transaction_amount"]) >= 1_000
            },
        ),
        ("&start_date=2027-01-01", |_| false),
    ];
    for (filters, pick) in cases {
        let expected: Vec<Value> = rows.iter().filter(|t| pick(t)).cloned().collect();
        // One page of up to 100: every match, in order, the total counted.
        let r = app.list(&user, &format!("?limit=100{filters}")).await;
        assert_eq!(r.status, StatusCode::OK, "{filters}: {}", r.body);
        assert_eq!(r.data()["total"], expected.len(), "total for {filters}");
        assert_eq!(
            r.data()["data"].as_array().unwrap(),
            &expected,
            "items for {filters}"
        );
        assert_eq!(r.data()["next_cursor"], Value::Null);
        // Numbered pages of 5 and a cursor walk of 7 give the same items.
        let mut paged = Vec::new();
        for page in 1..=(expected.len().div_ceil(5).max(1)) {
            let r = app
                .list(&user, &format!("?page={page}&limit=5{filters}"))
                .await;
            paged.extend(r.data()["data"].as_array().unwrap().iter().cloned());
        }
        assert_eq!(ids(&paged), ids(&expected), "pages for {filters}");
        let (walked, total) = all_pages(&app, &user, filters, 7).await;
        assert_eq!(total, expected.len() as u64);
        assert_eq!(ids(&walked), ids(&expected), "walk for {filters}");
    }
}

#[actix_web::test]
async fn bad_filters_and_paging_are_422_naming_each_field_and_nothing_is_listed() {
    let app = spawn_app().await;
    let user = fresh_user();
    let cases = [
        ("?transaction_type=refund", vec!["transaction_type"]),
        ("?start_date=yesterday", vec!["start_date"]),
        ("?end_date=2026-02-30", vec!["end_date"]),
        (
            "?start_date=2026-03-02&end_date=2026-03-01",
            vec!["start_date"],
        ),
        ("?min_amount=abc", vec!["min_amount"]),
        ("?max_amount=1.234", vec!["max_amount"]),
        ("?min_amount=-1", vec!["min_amount"]),
        ("?min_amount=1e13", vec!["min_amount"]),
        ("?min_amount=10&max_amount=9.99", vec!["min_amount"]),
        ("?page=2&cursor=abc", vec!["cursor"]),
        ("?cursor=", vec!["cursor"]),
        (
            "?transaction_type=x&min_amount=y&limit=0",
            vec!["limit", "min_amount", "transaction_type"],
        ),
        ("?min_amount=1&min_amount=2", vec!["min_amount"]),
        ("?sort=amount", vec!["sort"]),
    ];
    for (query, fields) in cases {
        let r = app.list(&user, query).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {}",
            r.body
        );
        let mut named = r.error_fields();
        named.sort();
        named.dedup();
        assert_eq!(named, fields, "{query}: {}", r.body);
    }
}

#[actix_web::test]
async fn cursors_are_authenticated_and_bound_to_their_user_and_filters() {
    let app = spawn_app().await;
    let user = fresh_user();
    for i in 0..5 {
        app.create(&user, f64::from(i) + 1.0, "debit", None).await;
    }
    let first = app.list(&user, "?limit=2&transaction_type=debit").await;
    let cursor = first.data()["next_cursor"].as_str().unwrap().to_owned();
    let ok = app
        .list(
            &user,
            &format!("?limit=2&transaction_type=debit&cursor={cursor}"),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);

    let refused = |r: &crate::helpers::Reply| {
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.error_fields(), ["cursor"]);
        r.body.to_string()
    };
    // Every single-character edit, a truncation, junk, and a made-up cursor.
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for i in [0, 5, cursor.len() / 2, cursor.len() - 1] {
        let mut edited: Vec<char> = cursor.chars().collect();
        let original = edited[i];
        edited[i] = alphabet.chars().find(|c| *c != original).unwrap();
        let edited: String = edited.into_iter().collect();
        let r = app
            .list(
                &user,
                &format!("?limit=2&transaction_type=debit&cursor={edited}"),
            )
            .await;
        assert!(refused(&r).contains("not a valid cursor"));
    }
    for junk in [
        &cursor[..cursor.len() - 2],
        "not-a-cursor",
        "AAAA",
        &"A".repeat(300),
    ] {
        let r = app
            .list(
                &user,
                &format!("?limit=2&transaction_type=debit&cursor={junk}"),
            )
            .await;
        assert!(refused(&r).contains("not a valid cursor"));
    }
    // Another user's listing, or other filters: refused, and said so.
    let r = app
        .list(
            &fresh_user(),
            &format!("?limit=2&transaction_type=debit&cursor={cursor}"),
        )
        .await;
    assert!(refused(&r).contains("another user or other filters"));
    for other in [
        "",
        "&transaction_type=credit",
        "&transaction_type=debit&min_amount=1",
    ] {
        let r = app
            .list(&user, &format!("?limit=2{other}&cursor={cursor}"))
            .await;
        assert!(
            refused(&r).contains("another user or other filters"),
            "{other}"
        );
    }
    // The limit may change between pages; the cursor still holds.
    let r = app
        .list(
            &user,
            &format!("?limit=50&transaction_type=debit&cursor={cursor}"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.data()["data"].as_array().unwrap().len(), 3);
}

#[actix_web::test]
async fn filtered_and_cursor_pages_are_cached_and_still_read_every_write() {
    let app = spawn_app().await;
    let user = fresh_user();
    for _ in 0..3 {
        app.create(&user, 50.0, "credit", Some("2026-03-01T10:00:00Z"))
            .await;
    }
    let query = "?limit=2&transaction_type=credit&min_amount=50";
    let before = app.list(&user, query).await;
    assert_eq!(before.data()["total"], 3);
    let cursor = before.data()["next_cursor"].as_str().unwrap().to_owned();
    let second = format!("{query}&cursor={cursor}");
    assert_eq!(
        app.list(&user, &second).await.data()["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // An older matching transaction lands after the cursor; a debit matches nothing.
    let older = app
        .create(&user, 75.0, "credit", Some("2026-02-01T10:00:00Z"))
        .await;
    app.create(&user, 75.0, "debit", None).await;
    let after = app.list(&user, query).await;
    assert_eq!(after.data()["total"], 4, "the cached page saw the write");
    let page = app.list(&user, &second).await;
    let items = page.data()["data"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1]["id"], older["id"]);
}

/// Runs Python's `csv` module over `text` and returns the rows as JSON.
fn python_csv(text: &str) -> Vec<Vec<String>> {
    let python = std::env::var("FIDO_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let mut child = std::process::Command::new(python)
        .args([
            "-c",
            "import csv, io, json, sys\n\
             data = sys.stdin.buffer.read().decode('utf-8')\n\
             assert data.endswith('\\r\\n'), 'a complete export ends with CRLF'\n\
             print(json.dumps(list(csv.reader(io.StringIO(data, newline='')))))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python's csv reader failed");
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) async fn export(
    app: &TestApp,
    user: &str,
    query: &str,
    accept: Option<&str>,
) -> (StatusCode, awc::http::header::HeaderMap, String) {
    let mut req = app
        .client
        .get(app.url(&format!("/api/v1/transactions/user/{user}/export{query}")));
    if let Some(a) = accept {
        req = req.insert_header(("accept", a));
    }
    let mut res = req.send().await.unwrap();
    let body = res.body().limit(64 << 20).await.unwrap();
    (
        res.status(),
        res.headers().clone(),
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[actix_web::test]
async fn exports_read_back_with_pythons_csv_equal_the_json_api() {
    let app = spawn_app().await;
    let user = fresh_user();
    let names = [
        "Ada Lovelace",
        "O'Brien, Pat",
        "Say \"hi\"",
        "=HYPERLINK(\"http://x\")",
        "+1 555",
        "-minus",
        "@handle",
        "Zoë Ångström 李",
    ];
    for (i, name) in names.iter().enumerate() {
        let body = json!({"user_id": user, "full_name": name,
                          "transaction_amount": 10.5 + i as f64, "transaction_type": if i % 2 == 0 { "credit" } else { "debit" },
                          "transaction_date": format!("2026-03-0{}T10:00:00Z", 1 + i % 4)});
        let r = app.post_json("/api/v1/transactions", &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    for filters in [
        "",
        "&transaction_type=debit",
        "&start_date=2026-03-02&max_amount=15",
    ] {
        let listed = app.list(&user, &format!("?limit=100{filters}")).await;
        let expected = listed.data()["data"].as_array().unwrap().clone();

        let (status, headers, text) =
            export(&app, &user, &format!("?format=csv{filters}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers.get("content-type").unwrap(),
            "text/csv; charset=utf-8"
        );
        let disposition = headers
            .get("content-disposition")
            .unwrap()
            .to_str()
            .unwrap();
        assert!(
            disposition.starts_with(&format!("attachment; filename=\"transactions-{user}-"))
                && disposition.ends_with(".csv\""),
            "{disposition}"
        );
        let rows = python_csv(&text);
        assert_eq!(
            rows[0],
            [
                "id",
                "user_id",
                "full_name",
                "transaction_amount",
                "transaction_type",
                "transaction_date",
                "created_at",
                "updated_at",
                "version"
            ]
        );
        assert_eq!(rows.len() - 1, expected.len(), "{filters}");
        for (row, t) in rows[1..].iter().zip(&expected) {
            assert_eq!(row[0], t["id"].as_str().unwrap());
            assert_eq!(row[1], t["user_id"].as_str().unwrap());
            let name = t["full_name"].as_str().unwrap();
            if name.starts_with(['=', '+', '-', '@']) {
                assert_eq!(row[2], format!("'{name}"), "a formula is neutralised");
            } else {
                assert_eq!(row[2], name);
            }
            let (units, hundredths) = row[3].split_once('.').expect("two decimals");
            assert_eq!(hundredths.len(), 2);
            assert_eq!(
                units.parse::<i64>().unwrap() * 100 + hundredths.parse::<i64>().unwrap(),
                cents(&t["transaction_amount"])
            );
            assert_eq!(row[4], t["transaction_type"].as_str().unwrap());
            assert_eq!(row[5], t["transaction_date"].as_str().unwrap());
            assert_eq!(row[6], t["created_at"].as_str().unwrap());
            assert_eq!(row[7], t["updated_at"].as_str().unwrap());
            assert_eq!(row[8], t["version"].to_string());
        }

        // NDJSON, chosen by the parameter and by the Accept header: the API's objects.
        for (query, accept) in [
            (format!("?format=ndjson{filters}"), None),
            (
                format!("?{}", filters.trim_start_matches('&')),
                Some("application/x-ndjson"),
            ),
        ] {
            let (status, headers, text) = export(&app, &user, &query, accept).await;
            assert_eq!(status, StatusCode::OK);
            assert_eq!(headers.get("content-type").unwrap(), "application/x-ndjson");
            assert!(text.is_empty() || text.ends_with('\n'));
            let lines: Vec<Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines, expected, "{query}");
        }
    }
    // An empty export is a header only; bad parameters are 422 before anything is sent.
    let (status, _, text) = export(&app, &fresh_user(), "?format=csv", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(python_csv(&text).len(), 1);
    for (query, field) in [
        ("?format=xlsx", "format"),
        ("?min_amount=x", "min_amount"),
        ("?page=2", "page"),
        ("?cursor=abc", "cursor"),
    ] {
        let r = app
            .get(&format!("/api/v1/transactions/user/{user}/export{query}"))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.error_fields(), [field]);
    }
}

#[actix_web::test]
async fn exports_need_the_read_scope() {
    let app = spawn_app().await;
    let url = app.url(&format!(
        "/api/v1/transactions/user/{}/export",
        fresh_user()
    ));
    let anonymous = awc::Client::default().get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let write_only = awc::Client::default()
        .get(&url)
        .insert_header((
            "authorization",
            format!("Bearer {}", crate::helpers::WRITE_KEY),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(write_only.status(), StatusCode::FORBIDDEN);
    // A browser front end may read the suggested file name (CORS exposes the header).
    let from_browser = app
        .client
        .get(&url)
        .insert_header(("origin", "http://localhost:3000"))
        .send()
        .await
        .unwrap();
    assert_eq!(from_browser.status(), StatusCode::OK);
    let exposed = from_browser
        .headers()
        .get("access-control-expose-headers")
        .map(|v| v.to_str().unwrap().to_ascii_lowercase())
        .unwrap_or_default();
    assert!(exposed.contains("content-disposition"), "{exposed}");
}

/// Resident memory of `pid`, in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Loads `count` transactions of `user` straight into the store (names encrypted with the
/// data folder's key, as the service would), in batches.
async fn load(settings: &fido_api::Settings, user: fido_domain::UserId, count: u32) {
    use fido_domain::{Amount, FieldCipher, ObjectId, Timestamp, TransactionId, TransactionRecord};
    let stores = fido_api::wiring::open_store(settings).await.unwrap();
    let cipher = fido_api::secrets::cipher(settings).unwrap();
    let base = Timestamp::parse_rfc3339("2020-01-01T00:00:00Z").unwrap();
    let mut batch = Vec::with_capacity(2_000);
    for i in 0..count {
        let at = base.plus_millis(i64::from(i) * 60_000);
        let name = cipher
            .encrypt(&format!("Customer number {i}, \"quoted\""))
            .await
            .unwrap();
        batch.push(TransactionRecord {
            id: TransactionId::new(ObjectId::generate(at)),
            user_id: user,
            full_name: fido_domain::EncryptedName::new(name),
            amount: Amount::from_cents(u64::from(i % 100_000)).unwrap(),
            kind: if i % 2 == 0 {
                fido_domain::TransactionType::Credit
            } else {
                fido_domain::TransactionType::Debit
            },
            transaction_date: at,
            created_at: at,
            updated_at: at,
            version: 1,
        });
        if batch.len() == 2_000 {
            stores
                .transfer
                .put_records(std::mem::take(&mut batch))
                .await
                .unwrap();
        }
    }
    stores.transfer.put_records(batch).await.unwrap();
}

/// An export of 100,000 transactions (10,000 on MongoDB: the pinned stand-in server is a
/// Python program that stores a few hundred documents a second; `FIDO_TEST_EXPORT_ROWS`
/// overrides) from the real binary: every row arrives, in order, and the process's resident memory, sampled while
/// the body streams, does not grow with the export (under 20 MB over its level after a
/// small export).
#[actix_web::test]
async fn a_large_export_streams_in_constant_memory() {
    let rows: u32 = std::env::var("FIDO_TEST_EXPORT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if crate::helpers::on_mongodb() {
            10_000
        } else {
            100_000
        });
    let dir = tempfile::tempdir().unwrap();
    let settings = crate::helpers::settings_for(dir.path(), &[]);
    let user = fido_domain::UserId::parse(&fresh_user()).unwrap();
    load(&settings, user, rows).await;
    let small = fido_domain::UserId::parse(&fresh_user()).unwrap();
    load(&settings, small, 2_000).await;

    let db_uri = if crate::helpers::on_mongodb() {
        std::env::var("MONGODB_URI").unwrap()
    } else {
        format!("sqlite://{}/fido.db", dir.path().display())
    };
    let mut cmd = crate::helpers::fido_binary();
    cmd.current_dir(dir.path())
        .env("PORT", "0")
        .env("DB_URI", db_uri)
        .env("FIDO__SECURITY__DATA_DIR", dir.path())
        .env("API_KEYS", crate::helpers::test_api_keys())
        .env("FIDO__SECURITY__RATE_LIMIT_PER_SECOND", "0")
        .env("FIDO__LOG__FORMAT", "text")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    if let Some(db) = &settings.store.database {
        cmd.env("FIDO__STORE__DATABASE", db);
    }
    let mut child = cmd.spawn().unwrap();
    let logs = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(logs).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                let port: String = rest.chars().take_while(char::is_ascii_digit).collect();
                let _ = tx.send(port);
            }
        }
    });
    let port = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the binary reports its port");
    let pid = child.id();
    let client = awc::Client::builder()
        .timeout(std::time::Duration::from_secs(600))
        .add_default_header((
            "authorization",
            format!("Bearer {}", crate::helpers::FULL_KEY),
        ))
        .finish();
    let url = |u: fido_domain::UserId| {
        format!("http://127.0.0.1:{port}/api/v1/transactions/user/{u}/export?format=csv")
    };

    // Warm up (code paths, pools, buffers) with a small export, then take the baseline.
    let mut warm = client.get(url(small)).send().await.unwrap();
    let warm_body = warm.body().limit(16 << 20).await.unwrap();
    assert_eq!(warm_body.iter().filter(|b| **b == b'\n').count(), 2_001);
    let baseline = rss_kib(pid).unwrap();

    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut peak = 0;
            while sampling.load(std::sync::atomic::Ordering::SeqCst) {
                peak = peak.max(rss_kib(pid).unwrap_or(0));
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            peak
        })
    };
    let started = std::time::Instant::now();
    let mut res = client.get(url(user)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Read the stream chunk by chunk, keeping only what is needed to check it.
    let mut lines = 0u64;
    let mut last = Vec::new();
    let mut previous_date = String::from("~");
    let mut partial = Vec::new();
    use futures_util::StreamExt;
    while let Some(chunk) = res.next().await {
        let chunk = chunk.unwrap();
        partial.extend_from_slice(&chunk);
        while let Some(end) = partial.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = partial.drain(..end + 2).collect();
            lines += 1;
            if lines > 1 {
                // Dates descend: the sixth column (names hold one quoted comma).
                let text = String::from_utf8(line.clone()).unwrap();
                let date = text.split(',').nth(6).unwrap().to_owned();
                assert!(date < previous_date, "newest first");
                previous_date = date;
            }
            last = line;
        }
    }
    let elapsed = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();

    assert!(partial.is_empty(), "the export ends with a whole line");
    assert_eq!(lines, u64::from(rows) + 1, "a header and every row");
    assert!(String::from_utf8(last)
        .unwrap()
        .contains("Customer number 0,"));
    let growth_mib = peak.saturating_sub(baseline) as f64 / 1024.0;
    println!(
        "export: {rows} rows in {:.2} s ({:.0} rows/s); RSS {:.1} MiB before, peak {:.1} MiB (+{growth_mib:.1} MiB)",
        elapsed.as_secs_f64(),
        f64::from(rows) / elapsed.as_secs_f64(),
        baseline as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(
        growth_mib < 20.0,
        "resident memory grew by {growth_mib:.1} MiB during the export"
    );
}
