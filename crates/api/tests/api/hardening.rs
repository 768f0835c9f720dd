//! Regression tests for what an attacker's review of the running service found (issue
//! 13), each through the public interface: HTTP, or the `fido` binary's functions.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use awc::http::StatusCode;
use fido_cipher_fernet::FernetCipher;
use fido_domain::{
    Actor, Clock, EncryptedName, NoCache, Page, Ports, RecordPatch, ServiceConfig, StoreError,
    Timestamp, TransactionId, TransactionRecord, TransactionService, TransactionStore, UserId,
    Written,
};
use serde_json::{json, Value};

use crate::helpers::{
    captured_logs, fresh_user, settings_for, spawn_app, spawn_service, spawn_with, FULL_KEY,
};
use crate::idempotency::post_with_key;

fn order(user: &str, amount: f64) -> Value {
    json!({"user_id": user, "full_name": "Ada Lovelace", "transaction_amount": amount,
           "transaction_type": "credit"})
}

// ---------- 1. idempotency survives a key rotation ----------

#[actix_web::test]
async fn an_idempotent_retry_survives_a_key_rotation_and_dropping_the_old_key() {
    let (a, b) = (FernetCipher::generate_key(), FernetCipher::generate_key());
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let app = spawn_with(settings_for(dir.path(), &[("FERNET_KEY", a.as_str())])).await;
    let first = post_with_key(&app, "order-1", &order(&user, 12.5), None).await;
    assert_eq!(first.status, StatusCode::CREATED);
    app.stop().await;

    let rotated = settings_for(dir.path(), &[("FERNET_KEY", &format!("{b},{a}"))]);
    let app = spawn_with(rotated.clone()).await;
    let retry = post_with_key(&app, "order-1", &order(&user, 12.5), None).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert_eq!(retry.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(retry.body, first.body);
    let other = post_with_key(&app, "order-1", &order(&user, 13.0), None).await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);

    let records =
        fido_api::commands::reencrypt::reencrypt(&rotated, 100, None, |_| {}, |_| {}, |_| {})
            .await
            .unwrap()
            .records;
    assert!(records.changed >= 1, "the saved answer was re-encrypted");
    assert_eq!(records.unreadable, 0);
    app.stop().await;

    let app = spawn_with(settings_for(dir.path(), &[("FERNET_KEY", b.as_str())])).await;
    let after_drop = post_with_key(&app, "order-1", &order(&user, 12.5), None).await;
    assert_eq!(
        after_drop.status,
        StatusCode::CREATED,
        "{}",
        after_drop.body
    );
    assert_eq!(
        after_drop.body, first.body,
        "the saved answer opens with B alone"
    );
    assert_eq!(app.list(&user, "").await.data()["total"], 1);
}

// ---------- 2. a lapsed claim is never taken over by another request ----------

/// A clock the test moves forward.
#[derive(Default)]
struct ShiftedClock(AtomicI64);

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        Timestamp::now().plus_millis(self.0.load(Ordering::SeqCst))
    }
}

/// The configured store with faults: its first insert fails as if the process had
/// crashed (unless `failed` starts true), and scans fail once `scans_ok` have succeeded.
struct FailsFirstInsert {
    inner: Arc<dyn TransactionStore>,
    failed: std::sync::atomic::AtomicBool,
    scans_ok: AtomicI64,
}

impl FailsFirstInsert {
    fn over(inner: Arc<dyn TransactionStore>) -> Self {
        Self {
            inner,
            failed: Default::default(),
            scans_ok: AtomicI64::new(i64::MAX),
        }
    }
}

#[async_trait]
impl TransactionStore for FailsFirstInsert {
    async fn insert(&self, r: TransactionRecord, actor: Actor) -> Result<(), StoreError> {
        if !self.failed.swap(true, Ordering::SeqCst) {
            return Err(StoreError::Unavailable("simulated crash".into()));
        }
        self.inner.insert(r, actor).await
    }
    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        self.inner.get(id).await
    }
    async fn update(&self, id: TransactionId, p: RecordPatch) -> Result<Written, StoreError> {
        self.inner.update(id, p).await
    }
    async fn delete(
        &self,
        id: TransactionId,
        v: Option<u64>,
        at: Timestamp,
        actor: Actor,
    ) -> Result<Written, StoreError> {
        self.inner.delete(id, v, at, actor).await
    }
    async fn list_by_user(
        &self,
        u: UserId,
        q: fido_domain::ListQuery,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        self.inner.list_by_user(u, q).await
    }
    async fn scan_by_user(
        &self,
        u: UserId,
        f: fido_domain::ListFilter,
        a: Option<fido_domain::Position>,
        l: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        if self.scans_ok.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(StoreError::Unavailable("simulated outage".into()));
        }
        self.inner.scan_by_user(u, f, a, l).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn names_after(
        &self,
        a: Option<TransactionId>,
        l: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError> {
        self.inner.names_after(a, l).await
    }
    async fn replace_name(
        &self,
        id: TransactionId,
        e: EncryptedName,
        n: EncryptedName,
    ) -> Result<bool, StoreError> {
        self.inner.replace_name(id, e, n).await
    }
}

/// A service over the configured store wrapped by `faults`, with no cache and `clock`.
async fn faulty_service(
    settings: &fido_api::Settings,
    clock: Arc<dyn Clock>,
    faults: impl FnOnce(Arc<dyn TransactionStore>) -> FailsFirstInsert,
) -> TransactionService {
    let stores = fido_api::wiring::open_store(settings).await.unwrap();
    TransactionService::new(
        Ports {
            store: Arc::new(faults(stores.store)),
            statistics: stores.statistics,
            idempotency: stores.idempotency,
            cache: Arc::new(NoCache::default()),
            cipher: Arc::new(fido_api::secrets::cipher(settings).unwrap()),
            clock,
            encoder: Arc::new(
                fido_api::secrets::cursor_codec(settings)
                    .map(fido_http::JsonEncoder::new)
                    .unwrap(),
            ),
            rollups: stores.rollups,
            events: stores.events,
            history: stores.history,
        },
        ServiceConfig::default(),
    )
}

#[actix_web::test]
async fn a_lapsed_claim_answers_another_body_422_and_its_own_at_once_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(dir.path(), &[]);
    let clock = Arc::new(ShiftedClock::default());
    let service = faulty_service(&settings, clock.clone(), FailsFirstInsert::over).await;
    let app = spawn_service(&settings, service).await;
    let user = fresh_user();
    let crashed = post_with_key(&app, "order-9", &order(&user, 10.0), None).await;
    assert_eq!(crashed.status, StatusCode::SERVICE_UNAVAILABLE);
    // The claim stays pending; its 30-second lease lapses.
    clock.0.store(31_000, Ordering::SeqCst);
    let other = post_with_key(&app, "order-9", &order(&user, 99.0), None).await;
    assert_eq!(
        other.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        other.body
    );
    assert_eq!(other.body["errors"][0]["field"], "Idempotency-Key");
    // Refused before the lease is taken (issue 27): repeating the wrong body changes
    // nothing, and the original request, retried at once, gets its own transaction, then
    // its replay.
    let again = post_with_key(&app, "order-9", &order(&user, 99.0), None).await;
    assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
    let original = post_with_key(&app, "order-9", &order(&user, 10.0), None).await;
    assert_eq!(original.status, StatusCode::CREATED, "{}", original.body);
    assert_eq!(original.data()["transaction_amount"], 10.0);
    let replay = post_with_key(&app, "order-9", &order(&user, 10.0), None).await;
    assert_eq!(replay.headers.get("idempotent-replayed").unwrap(), "true");
    assert_eq!(replay.data()["id"], original.data()["id"]);
    let list = app.list(&user, "").await;
    assert_eq!(list.data()["total"], 1, "exactly once");
}

// ---------- 3. failed authentication is throttled and its logs are bounded ----------

#[actix_web::test]
async fn failed_authentications_are_throttled_per_address_and_logged_with_a_count() {
    let app = spawn_app().await;
    let anonymous = awc::Client::builder().finish();
    let before = captured_logs()
        .matches("without a valid API key refused")
        .count();
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for i in 0..60 {
        let res = anonymous
            .get(app.url(&format!("/api/v1/transactions/user/{}", fresh_user())))
            .insert_header(("authorization", format!("Bearer wrong-key-{i}")))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after = res.headers().get("retry-after").cloned();
        }
        statuses.push(res.status());
    }
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let throttled = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert!(
        (20..=25).contains(&refused),
        "a burst of 401s, then 429: {refused}"
    );
    assert_eq!(refused + throttled, 60);
    assert!(retry_after.is_some(), "429 says when to retry");
    // A valid key from the same address still works.
    assert_eq!(app.list(&fresh_user(), "").await.status, StatusCode::OK);
    let lines = captured_logs()
        .matches("without a valid API key refused")
        .count()
        - before;
    assert!(lines <= 2, "{lines} warning lines for 60 failures");
}

// ---------- 4, 5. bodies: duplicate keys, exact amounts ----------

#[actix_web::test]
async fn duplicate_keys_and_inexact_amounts_are_422_and_store_nothing() {
    let app = spawn_app().await;
    let user = fresh_user();
    let body = |amount: &str, extra: &str| {
        format!(
            r#"{{"user_id":"{user}","full_name":"Ada","transaction_type":"credit","transaction_amount":{amount}{extra}}}"#
        )
    };
    let twice = app
        .post_raw(
            "/api/v1/transactions",
            Some("application/json"),
            body("1", r#","transaction_amount":2"#),
        )
        .await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(twice.error_fields(), ["transaction_amount"]);
    for amount in [
        "1000000000000.0000001",
        "0.009999999999999999999",
        "10.5000000000000001",
        "1e-400",
        "1E400",
        "-0.01",
    ] {
        let reply = app
            .post_raw(
                "/api/v1/transactions",
                Some("application/json"),
                body(amount, ""),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{amount}");
        assert_eq!(reply.error_fields(), ["transaction_amount"], "{amount}");
    }
    for (amount, cents) in [("10.50", 10.5), ("1.5e1", 15.0), ("125E-2", 1.25)] {
        let reply = app
            .post_raw(
                "/api/v1/transactions",
                Some("application/json"),
                body(amount, ""),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{amount}");
        assert_eq!(reply.data()["transaction_amount"], cents);
    }
    assert_eq!(app.list(&user, "").await.data()["total"], 3);
}

// ---------- 6. the database is private ----------

#[cfg(unix)]
#[actix_web::test]
async fn the_embedded_database_is_private_and_a_shared_one_is_reported() {
    use std::os::unix::fs::PermissionsExt;
    if crate::helpers::on_mongodb() {
        return; // the embedded store's files only
    }
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let app = spawn_with(settings_for(&data, &[])).await;
    app.create(&fresh_user(), 1.0, "credit", None).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for file in ["fido.db", "fido.db-wal", "fido.db-shm"] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    app.stop().await;
    std::fs::set_permissions(data.join("fido.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let app = spawn_with(settings_for(&data, &[])).await;
    assert!(captured_logs().contains("the database file is readable by other users"));
    app.stop().await;
}

// ---------- 7. a trickled body gets 408 ----------

#[actix_web::test]
async fn a_body_that_trickles_in_is_cut_off_with_408() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(dir.path(), &[]);
    settings.server.body_read_timeout_ms = 400;
    let app = spawn_with(settings).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let answer = actix_web::rt::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(address).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let head = format!(
            "POST /api/v1/transactions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {FULL_KEY}\r\n\
             Content-Type: application/json\r\nContent-Length: 16000\r\n\r\n{{"
        );
        socket.write_all(head.as_bytes()).unwrap();
        let started = Instant::now();
        let mut answer = Vec::new();
        // Read to the end: the server closes the connection after its answer.
        let _ = socket.read_to_end(&mut answer);
        (
            String::from_utf8_lossy(&answer).into_owned(),
            started.elapsed(),
        )
    })
    .await
    .unwrap();
    let (text, took) = answer;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(took < Duration::from_secs(3), "cut off after {took:?}");
}

// ---------- 8. HEAD wherever GET ----------

#[actix_web::test]
async fn head_works_wherever_get_does_without_a_body() {
    let app = spawn_app().await;
    let user = fresh_user();
    let id = app.create(&user, 1.0, "credit", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for path in [
        "/".to_owned(),
        "/health/live".to_owned(),
        "/health/ready".to_owned(),
        format!("/api/v1/transactions/{id}"),
        format!("/api/v1/transactions/user/{}", fresh_user()),
        format!("/api/v1/transactions/user/{user}/export?format=csv"),
        format!("/api/v1/analytics/transactions/{user}"),
        format!("/api/v1/analytics/transactions/{user}/daily"),
        "/api/v1/events".to_owned(),
    ] {
        let mut res = app.client.head(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "HEAD {path}");
        assert!(
            res.body().await.unwrap().is_empty(),
            "HEAD {path} has no body"
        );
    }
    let res = app
        .client
        .put(app.url(&format!("/api/v1/transactions/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers().get("allow").unwrap(),
        "GET, HEAD, PATCH, DELETE"
    );
}

// ---------- decided: ambiguous headers, spoofing names ----------

#[actix_web::test]
async fn two_credentials_or_two_idempotency_keys_are_400() {
    let app = spawn_app().await;
    let user = fresh_user();
    let res = awc::Client::default()
        .get(app.url(&format!("/api/v1/transactions/user/{user}")))
        .insert_header(("authorization", format!("Bearer {FULL_KEY}")))
        .append_header(("authorization", "Bearer another"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = app
        .client
        .post(app.url("/api/v1/transactions"))
        .insert_header(("idempotency-key", "a"))
        .append_header(("idempotency-key", "b"))
        .send_json(&order(&user, 1.0))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.list(&user, "").await.data()["total"], 0);
}

#[actix_web::test]
async fn names_with_invisible_formatting_are_refused() {
    let app = spawn_app().await;
    let user = fresh_user();
    for name in [
        "Ada\u{202E}ecalevoL",
        "Ada\u{200B}Lovelace",
        "\u{FEFF}Ada",
        "Ada\u{2028}Lovelace",
    ] {
        let reply = app
            .post_json(
                "/api/v1/transactions",
                &json!({"user_id": user, "full_name": name, "transaction_amount": 1,
                        "transaction_type": "credit"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert_eq!(reply.error_fields(), ["full_name"]);
    }
    let joined = "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}";
    let reply = app
        .post_json(
            "/api/v1/transactions",
            &json!({"user_id": user, "full_name": joined, "transaction_amount": 1,
                    "transaction_type": "credit"}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "ZWNJ is allowed");
}

// ---------- issue 27: a stored name never makes a history unreadable ----------

/// Names the original service stored (a line break, surrounding spaces, a bidirectional
/// override) read back exactly as stored by id, in every list page and in the export —
/// never a 500 — and `fido import` refuses them with the field named.
#[actix_web::test]
async fn stored_names_that_break_todays_rules_read_back_unchanged_everywhere() {
    use fido_domain::{Amount, FieldCipher, ObjectId, TransactionType};
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(dir.path(), &[]);
    let cipher = fido_api::secrets::cipher(&settings).unwrap();
    let user = UserId::parse(&fresh_user()).unwrap();
    let names = [
        "Ada\nLovelace",
        "  Ada Lovelace\t",
        "Ada\u{202E}ecalevoL",
        "Grace Hopper",
    ];
    let base = Timestamp::parse_rfc3339("2024-05-01T10:00:00Z").unwrap();
    let mut records = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let at = base.plus_millis(i64::try_from(i).unwrap() * 60_000);
        records.push(TransactionRecord {
            id: TransactionId::new(ObjectId::generate(at)),
            user_id: user,
            full_name: EncryptedName::new(cipher.encrypt(name).await.unwrap()),
            amount: Amount::from_cents(100).unwrap(),
            kind: TransactionType::Credit,
            transaction_date: at,
            created_at: at,
            updated_at: at,
            version: 1,
        });
    }
    let stores = fido_api::wiring::open_store(&settings).await.unwrap();
    stores.transfer.put_records(records.clone()).await.unwrap();
    let app = spawn_with(settings).await;
    for (record, name) in records.iter().zip(names) {
        let one = app
            .get(&format!("/api/v1/transactions/{}", record.id))
            .await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.body);
        assert_eq!(one.data()["full_name"], name);
    }
    for limit in [1, 2, 4] {
        let mut seen = Vec::new();
        for page in 1..=(4 / limit) {
            let r = app
                .list(&user.to_string(), &format!("?limit={limit}&page={page}"))
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
            for t in r.data()["data"].as_array().unwrap() {
                seen.push(t["full_name"].as_str().unwrap().to_owned());
            }
        }
        let expected: Vec<String> = names.iter().rev().map(|n| (*n).to_owned()).collect();
        assert_eq!(seen, expected, "limit {limit}");
    }
    let (status, _, text) =
        crate::finding::export(&app, &user.to_string(), "?format=ndjson", None).await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[3]["full_name"], "Ada\nLovelace");
}

/// Issue 27: sums above 2^53 cents are written with their exact digits (no binary float
/// rounding), in the statistics and the series.
#[actix_web::test]
async fn totals_above_2_to_the_53_cents_are_exact_in_the_json_text() {
    let app = spawn_app().await;
    let user = fresh_user();
    for _ in 0..91 {
        let r = app
            .post_json(
                "/api/v1/transactions",
                &json!({"user_id": user, "full_name": "Ada Lovelace",
                        "transaction_amount": 999_999_999_999.99_f64, "transaction_type": "credit"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let raw = |path: String| {
        let app = &app;
        async move {
            let mut res = app.client.get(app.url(&path)).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            String::from_utf8(res.body().await.unwrap().to_vec()).unwrap()
        }
    };
    // 91 × 999,999,999,999.99 = 90,999,999,999,999.09: 9.1e15 cents, past 2^53.
    let stats = raw(format!("/api/v1/analytics/transactions/{user}")).await;
    assert!(
        stats.contains("\"total_credit\":90999999999999.09"),
        "{stats}"
    );
    assert!(
        stats.contains("\"total_transaction\":90999999999999.09"),
        "{stats}"
    );
    assert!(stats.contains("\"net\":90999999999999.09"), "{stats}");
    assert!(
        stats.contains("\"average_transaction\":999999999999.99"),
        "{stats}"
    );
    let series = raw(format!("/api/v1/analytics/transactions/{user}/daily")).await;
    assert!(
        series.contains("\"total_credit\":90999999999999.09"),
        "{series}"
    );
}

/// Issue 27: an export whose store fails after the 200 went out ends its body without
/// the terminator, and is counted in `fido_exports_truncated_total`.
#[actix_web::test]
async fn an_export_that_stops_halfway_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(dir.path(), &[]);
    settings.metrics.addr = "127.0.0.1:0".into();
    let recorder = fido_api::metrics::install(&settings).unwrap().unwrap();
    let metrics = fido_api::metrics::serve(recorder, None).unwrap();
    let metrics_port = metrics.port();
    actix_web::rt::spawn(metrics.run());

    // More than one export batch (1,000 rows) for one user.
    let user = UserId::parse(&fresh_user()).unwrap();
    let cipher = fido_api::secrets::cipher(&settings).unwrap();
    let name = {
        use fido_domain::FieldCipher;
        EncryptedName::new(cipher.encrypt("Ada Lovelace").await.unwrap())
    };
    let base = Timestamp::parse_rfc3339("2024-01-01T00:00:00Z").unwrap();
    let rows: Vec<TransactionRecord> = (0..1_200)
        .map(|i| {
            let at = base.plus_millis(i * 1_000);
            TransactionRecord {
                id: TransactionId::new(fido_domain::ObjectId::generate(at)),
                user_id: user,
                full_name: name.clone(),
                amount: fido_domain::Amount::from_cents(100).unwrap(),
                kind: fido_domain::TransactionType::Credit,
                transaction_date: at,
                created_at: at,
                updated_at: at,
                version: 1,
            }
        })
        .collect();
    let stores = fido_api::wiring::open_store(&settings).await.unwrap();
    stores.transfer.put_records(rows).await.unwrap();
    let service = faulty_service(&settings, Arc::new(fido_domain::SystemClock), |inner| {
        let faulty = FailsFirstInsert::over(inner);
        faulty.scans_ok.store(1, Ordering::SeqCst);
        faulty
    })
    .await;
    let app = spawn_service(&settings, service).await;

    let mut res = app
        .client
        .get(app.url(&format!(
            "/api/v1/transactions/user/{user}/export?format=csv"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "the first batch went out");
    // The body stops after the first batch (how a client notices — an error or a short
    // read — is its HTTP library's business).
    let body = res
        .body()
        .limit(64 << 20)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    let rows = String::from_utf8_lossy(&body).lines().count();
    assert!(
        rows <= 1_001,
        "only the first batch (and the header): {rows} lines"
    );

    let mut scrape = awc::Client::default()
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap();
    let text = String::from_utf8(scrape.body().await.unwrap().to_vec()).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("fido_exports_truncated_total{format=\"csv\"} 1")),
        "{text}"
    );
}
