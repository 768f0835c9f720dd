//! Moving data between stores with the real binary: `fido copy` SQLite → MongoDB → SQLite
//! ending byte-identical in the API's answers, `fido export` / `fido import` (bad lines,
//! `--strict`, `--decrypt`), and a kill in the middle of a copy and of an import followed
//! by a re-run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use awc::http::StatusCode;
use fido_api::settings::Secret;
use fido_cipher_fernet::FernetCipher;
use serde_json::{json, Value};

use crate::helpers::{fresh_user, settings_for, spawn_with, TestApp};
use crate::idempotency::post_with_key;

/// An app on `dir` with a fixed Fernet key (the same key reads every copy).
async fn app_on(dir: &Path, key: &str) -> TestApp {
    let mut settings = settings_for(dir, &[]);
    settings.store.uri = Secret::new(format!("sqlite://{}/fido.db", dir.display()));
    settings.store.database = None;
    settings.security.fernet_key = Some(Secret::new(key));
    spawn_with(settings).await
}

/// The binary, for the store whose app runs on `dir` (with that app's Redis cache, when the
/// suite runs on Redis, so a write it makes invalidates what the app cached).
fn fido(key: &str, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = crate::helpers::fido_binary();
    cmd.args(args)
        .env("FERNET_KEY", key)
        .env("FIDO__SECURITY__DATA_DIR", dir)
        .env("FIDO__LOG__FILTER", "warn")
        .env("FIDO__METRICS__ADDR", "")
        .stdin(Stdio::null());
    if crate::helpers::on_redis() {
        let settings = settings_for(dir, &[]);
        cmd.env("REDIS_URL", std::env::var("REDIS_URL").unwrap_or_default())
            .env(
                "FIDO__CACHE__REDIS_KEY_PREFIX",
                settings.cache.redis_key_prefix,
            );
    }
    cmd
}

fn run(key: &str, dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = fido(key, dir, args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.code(),
        format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)),
    )
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite://{}/fido.db", dir.display())
}

/// Some users' transactions, written through the API: creates, updates, deletes, and an
/// idempotent create. Returns the users.
async fn write_history(app: &TestApp, users: usize, each: usize) -> Vec<String> {
    let users: Vec<String> = (0..users).map(|_| fresh_user()).collect();
    for (u, user) in users.iter().enumerate() {
        for i in 0..each {
            let kind = if i % 3 == 0 { "debit" } else { "credit" };
            let date = format!("2026-11-{:02}T10:{:02}:00.250Z", 1 + i % 20, u);
            let t = app.create(user, 1.05 + i as f64, kind, Some(&date)).await;
            let path = format!("/api/v1/transactions/{}", t["id"].as_str().unwrap());
            if i % 4 == 1 {
                app.patch_json(
                    &path,
                    &json!({"transaction_amount": 99.99, "full_name": "Grace Hopper"}),
                )
                .await;
            }
            if i % 7 == 2 {
                app.delete(&path).await;
            }
        }
    }
    let body = json!({"user_id": users[0], "full_name": "Ada Lovelace", "transaction_amount": 7.77,
        "transaction_type": "credit"});
    assert_eq!(
        post_with_key(app, "order-1", &body, None).await.status,
        StatusCode::CREATED
    );
    users
}

/// Every answer a client could compare: each user's pages, statistics and series, each
/// transaction and its history, and the event feed.
async fn answers(app: &TestApp, users: &[String]) -> BTreeMap<String, Value> {
    let mut all = BTreeMap::new();
    for user in users {
        for path in [
            format!("/api/v1/transactions/user/{user}?limit=100"),
            format!("/api/v1/analytics/transactions/{user}"),
            format!("/api/v1/analytics/transactions/{user}/daily?granularity=week"),
        ] {
            let r = app.get_owned(path.clone()).await;
            assert_eq!(r.status, StatusCode::OK, "{path}");
            if path.contains("?limit=100") {
                for t in r.data()["data"].as_array().unwrap() {
                    let one = format!("/api/v1/transactions/{}", t["id"].as_str().unwrap());
                    all.insert(one.clone(), app.get_owned(one.clone()).await.body);
                    // Its history travels with it, version for version.
                    let history = format!("{one}/history");
                    all.insert(history.clone(), app.get_owned(history).await.body);
                }
            }
            all.insert(path, r.body);
        }
    }
    app.settled().await;
    all.insert(
        "events".into(),
        app.get("/api/v1/events?limit=1000").await.body,
    );
    all
}

#[actix_web::test]
async fn sqlite_to_mongodb_and_back_serves_identical_answers() {
    let Some(mongo) = fido_testkit::service_url("MONGODB_URI") else {
        return;
    };
    let key = FernetCipher::generate_key();
    let (first, last) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let app = app_on(first.path(), &key).await;
    let users = write_history(&app, 3, 12).await;
    let before = answers(&app, &users).await;
    app.stop().await;

    let database = format!("fido_copy_{}", fresh_user());
    let mongo = mongo.replacen("/?", &format!("/{database}?"), 1);
    let (code, out) = run(
        &key,
        first.path(),
        &[
            "copy",
            "--from",
            &sqlite(first.path()),
            "--to",
            &mongo,
            "--dry-run",
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("dry run: would copy"), "{out}");
    let (code, out) = run(
        &key,
        first.path(),
        &["copy", "--from", &sqlite(first.path()), "--to", &mongo],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("identical"), "{out}");
    let (code, out) = run(
        &key,
        last.path(),
        &[
            "copy",
            "--from",
            &mongo,
            "--to",
            &sqlite(last.path()),
            "--batch-size",
            "7",
        ],
    );
    assert_eq!(code, Some(0), "{out}");

    let copy = app_on(last.path(), &key).await;
    let after = answers(&copy, &users).await;
    for (path, body) in &before {
        assert_eq!(
            after.get(path),
            Some(body),
            "{path} differs after the round trip"
        );
    }
    assert_eq!(after.len(), before.len());
    // The idempotency key came along: a retry replays the first answer.
    let body = json!({"user_id": users[0], "full_name": "Ada Lovelace", "transaction_amount": 7.77,
        "transaction_type": "credit"});
    let replay = post_with_key(&copy, "order-1", &body, None).await;
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    // And the feed goes on after the copied sequences.
    let last_sequence = after["events"]["data"]["last_sequence"].as_u64().unwrap();
    copy.create(&users[1], 1.0, "debit", None).await;
    copy.settled().await;
    let next = copy
        .get_owned(format!("/api/v1/events?after={last_sequence}"))
        .await;
    assert_eq!(next.data()["events"][0]["sequence"], last_sequence + 1);
}

/// Starts `args`, kills it (SIGKILL) once it printed a progress line, and returns.
fn kill_midway(key: &str, dir: &Path, args: &[&str], marker: &str) {
    let mut child = fido(key, dir, args).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let line = lines.next().expect("a progress line").unwrap();
        if line.contains(marker) {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[actix_web::test]
async fn a_copy_and_an_import_killed_midway_finish_when_run_again() {
    let key = FernetCipher::generate_key();
    let (source, copy, imported) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let app = app_on(source.path(), &key).await;
    let users = write_history(&app, 2, 150).await;
    let before = answers(&app, &users).await;
    app.stop().await;

    let from = sqlite(source.path());
    let to = sqlite(copy.path());
    kill_midway(
        &key,
        copy.path(),
        &["copy", "--from", &from, "--to", &to, "--batch-size", "10"],
        "transactions copied",
    );
    let (code, out) = run(&key, copy.path(), &["copy", "--from", &from, "--to", &to]);
    assert_eq!(code, Some(0), "{out}");
    let app = app_on(copy.path(), &key).await;
    assert_eq!(answers(&app, &users).await, before);
    app.stop().await;

    let file = source.path().join("export.ndjson");
    let file = file.to_str().unwrap();
    // An export killed midway leaves a partial file; running it again writes it whole.
    let mut partial = fido(
        &key,
        source.path(),
        &["export", "--output", file, "--batch-size", "10"],
    );
    partial.env("DB_URI", &from).stdout(Stdio::piped());
    let mut child = partial.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines
        .next()
        .unwrap()
        .unwrap()
        .contains("transactions exported")
    {}
    child.kill().unwrap();
    child.wait().unwrap();
    let mut export = fido(&key, source.path(), &["export", "--output", file]);
    export.env("DB_URI", &from);
    assert!(export.status().unwrap().success());
    // Transaction lines, then every history version (lines with an `action`).
    let text = std::fs::read_to_string(file).unwrap();
    let exported = text.lines().filter(|l| !l.contains("\"action\"")).count();
    assert!(
        text.lines().any(|l| l.contains("\"action\":\"created\"")),
        "the history is exported"
    );
    let listed: u64 = users
        .iter()
        .map(|u| {
            before[&format!("/api/v1/transactions/user/{u}?limit=100")]["data"]["total"]
                .as_u64()
                .unwrap()
        })
        .sum();
    assert_eq!(
        exported as u64, listed,
        "the re-run wrote every transaction"
    );
    let mut import = fido(
        &key,
        imported.path(),
        &["import", file, "--batch-size", "10"],
    );
    import.env("DB_URI", sqlite(imported.path()));
    let mut child = import.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while !lines.next().unwrap().unwrap().contains("lines imported") {}
    child.kill().unwrap();
    child.wait().unwrap();
    let mut again = fido(&key, imported.path(), &["import", file]);
    again.env("DB_URI", sqlite(imported.path()));
    let out = again.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let app = app_on(imported.path(), &key).await;
    let after = answers(&app, &users).await;
    for (path, body) in &before {
        if path != "events" {
            assert_eq!(
                after.get(path),
                Some(body),
                "{path} differs after export and import"
            );
        }
    }
}

#[actix_web::test]
async fn an_import_reports_bad_lines_and_strict_writes_nothing() {
    let key = FernetCipher::generate_key();
    let (source, target) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let app = app_on(source.path(), &key).await;
    let users = write_history(&app, 1, 3).await;
    app.stop().await;

    // With --decrypt the names are in clear (and encrypted again on import).
    // At the default log level: the logs go to standard error, never into the lines.
    let mut export = fido(&key, source.path(), &["export", "--decrypt"]);
    export
        .env("DB_URI", sqlite(source.path()))
        .env("FIDO__LOG__FILTER", "info");
    let out = export.output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for line in text.lines() {
        let parsed: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("standard output holds only NDJSON lines: {line:?}: {e}"));
        assert!(
            parsed["id"].is_string() || parsed["action"].is_string(),
            "{line}"
        );
    }
    assert!(
        !String::from_utf8_lossy(&out.stderr).is_empty(),
        "the logs went to standard error"
    );
    assert!(text.contains("\"full_name\":\"Ada Lovelace\""), "{text}");
    assert!(!text.contains("full_name_token"));
    let good: Vec<&str> = text.lines().collect();
    let records = good.iter().filter(|l| !l.contains("\"action\"")).count();
    assert!(
        records < good.len(),
        "history lines follow the transactions"
    );
    let mut bad_amount: Value = serde_json::from_str(good[0]).unwrap();
    bad_amount["amount_cents"] = json!(-5);
    let mut bad_token: Value = serde_json::from_str(good[0]).unwrap();
    bad_token["full_name"] = Value::Null;
    bad_token.as_object_mut().unwrap().remove("full_name");
    bad_token["full_name_token"] = json!("gAAAAABnot-a-token");
    // Names enter by the API's rules, in clear or as a token (issue 27).
    let mut spoofed_name: Value = serde_json::from_str(good[0]).unwrap();
    spoofed_name["id"] = json!("6650f0c2e4b0a1b2c3d4e5f7");
    spoofed_name["full_name"] = json!("Ada\u{202E}ecalevoL");
    let mut broken_token: Value = serde_json::from_str(good[0]).unwrap();
    broken_token["id"] = json!("6650f0c2e4b0a1b2c3d4e5f8");
    broken_token.as_object_mut().unwrap().remove("full_name");
    {
        use fido_domain::FieldCipher;
        let cipher = FernetCipher::from_key_list(&key).unwrap();
        broken_token["full_name_token"] = json!(cipher.encrypt("Ada\nLovelace").await.unwrap());
    }
    let mut lines: Vec<String> = good.iter().map(|s| (*s).to_owned()).collect();
    lines.insert(1, bad_amount.to_string());
    lines.push(bad_token.to_string());
    lines.push("{not json".into());
    lines.push(spoofed_name.to_string());
    lines.push(broken_token.to_string());
    let file = source.path().join("mixed.ndjson");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let file = file.to_str().unwrap();

    let mut strict = fido(&key, target.path(), &["import", file, "--strict"]);
    strict.env("DB_URI", sqlite(target.path()));
    let out = strict.output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(
        report.contains("line 2: not a transaction line"),
        "{report}"
    );
    assert!(
        report.contains("full_name_token: cannot be decrypted"),
        "{report}"
    );
    assert!(
        report.contains("full_name: must not contain invisible formatting"),
        "{report}"
    );
    assert!(
        report.contains("full_name_token: the name: must not contain control characters"),
        "{report}"
    );
    assert!(report.contains("valid (nothing written)"), "{report}");
    let app = app_on(target.path(), &key).await;
    let list = app
        .get_owned(format!("/api/v1/transactions/user/{}", users[0]))
        .await;
    assert_eq!(list.data()["total"], 0, "--strict wrote nothing");
    app.stop().await;

    let mut lenient = fido(&key, target.path(), &["import", file]);
    lenient.env("DB_URI", sqlite(target.path()));
    let out = lenient.output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(3), "{report}");
    assert!(
        report.contains(&format!("{} imported, 5 bad", good.len())),
        "{report}"
    );
    let app = app_on(target.path(), &key).await;
    let list = app
        .get_owned(format!("/api/v1/transactions/user/{}", users[0]))
        .await;
    assert_eq!(list.data()["total"], records);
}

/// Issue 27: `fido import` into a store that is being served: the serving instance's
/// cached lists and statistics see the imported transactions within a second (its
/// in-process cache follows the feed; a Redis cache is invalidated by the import), and
/// the feed holds a `transaction.created` event per new line and `transaction.updated`
/// per changed one — none for a line imported again unchanged.
#[actix_web::test]
async fn an_import_into_a_served_store_is_seen_at_once_and_is_in_the_feed() {
    let key = FernetCipher::generate_key();
    let dir = tempfile::tempdir().unwrap();
    let app = app_on(dir.path(), &key).await;
    let user = fresh_user();
    // Warm the cache: an empty list and a 404 statistics, both cached.
    assert_eq!(app.list(&user, "").await.data()["total"], 0);
    assert_eq!(app.stats(&user, "").await.status, StatusCode::NOT_FOUND);
    let before = app.get("/api/v1/events?limit=1").await.data()["last_sequence"]
        .as_u64()
        .unwrap();

    // As an export writes them: the name as its token (a clear name is encrypted anew on
    // every run, so a re-run would replace it).
    let token = {
        use fido_domain::FieldCipher;
        FernetCipher::from_key_list(&key)
            .unwrap()
            .encrypt("Ada Lovelace")
            .await
            .unwrap()
    };
    let line = |id: &str, cents: u64| {
        json!({"id": id, "user_id": user, "full_name_token": token, "amount_cents": cents,
               "transaction_type": "credit", "transaction_date": "2026-03-01T10:00:00.000Z",
               "created_at": "2026-03-01T10:00:00.000Z", "updated_at": "2026-03-01T10:00:00.000Z",
               "version": 1})
        .to_string()
    };
    let (a, b) = ("6650f0c2e4b0a1b2c3d4e501", "6650f0c2e4b0a1b2c3d4e502");
    let file = dir.path().join("in.ndjson");
    let import = |lines: Vec<String>| {
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let mut cmd = fido(&key, dir.path(), &["import", file.to_str().unwrap()]);
        cmd.env("DB_URI", sqlite(dir.path()));
        let out = cmd.output().unwrap();
        let report = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{report}");
        report
    };
    let report = import(vec![line(a, 1_000), line(b, 250)]);
    assert!(
        report.contains("2 created, 0 replaced, 0 already so"),
        "{report}"
    );

    let seen = |want_total: u64, want_credit: f64| {
        let app = &app;
        let user = user.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                let list = app.list(&user, "").await;
                let stats = app.stats(&user, "").await;
                if list.data()["total"] == want_total && stats.data()["total_credit"] == want_credit
                {
                    return;
                }
                assert!(
                    Instant::now() < deadline,
                    "the served instance still answers {} / {}",
                    list.body,
                    stats.body
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    seen(2, 12.5).await;

    // The same file again changes nothing; a changed amount is an update.
    let report = import(vec![line(a, 1_000), line(b, 250)]);
    assert!(
        report.contains("0 created, 0 replaced, 2 already so"),
        "{report}"
    );
    let report = import(vec![line(b, 400)]);
    assert!(
        report.contains("0 created, 1 replaced, 0 already so"),
        "{report}"
    );
    seen(2, 14.0).await;

    app.settled().await;
    let feed = app
        .get_owned(format!("/api/v1/events?after={before}&limit=100"))
        .await;
    let events: Vec<(String, String)> = feed.data()["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_owned(),
                e["transaction_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        events,
        [
            ("transaction.created".to_owned(), a.to_owned()),
            ("transaction.created".to_owned(), b.to_owned()),
            ("transaction.updated".to_owned(), b.to_owned()),
        ]
    );
}

/// Issue 27: `fido copy` (with the keys given) lists each name the API would refuse, by id,
/// and copies it as stored: the target serves it unchanged.
#[actix_web::test]
async fn a_copy_reports_names_the_api_would_refuse_and_keeps_them() {
    use fido_domain::FieldCipher;
    let key = FernetCipher::generate_key();
    let (source, target) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let app = app_on(source.path(), &key).await;
    let user = fresh_user();
    app.create(&user, 1.0, "credit", None).await;
    app.stop().await;

    let mut settings = settings_for(source.path(), &[]);
    settings.store.uri = Secret::new(sqlite(source.path()));
    settings.store.database = None;
    settings.security.fernet_key = Some(Secret::new(key.clone()));
    let stores = fido_api::wiring::open_store(&settings).await.unwrap();
    let at = fido_domain::Timestamp::parse_rfc3339("2025-01-02T03:04:05.006Z").unwrap();
    let odd = fido_domain::TransactionRecord {
        id: fido_domain::TransactionId::new(fido_domain::ObjectId::generate(at)),
        user_id: fido_domain::UserId::parse(&user).unwrap(),
        full_name: fido_domain::EncryptedName::new(
            FernetCipher::from_key_list(&key)
                .unwrap()
                .encrypt("Ada\nLovelace")
                .await
                .unwrap(),
        ),
        amount: fido_domain::Amount::from_cents(250).unwrap(),
        kind: fido_domain::TransactionType::Debit,
        transaction_date: at,
        created_at: at,
        updated_at: at,
        version: 1,
    };
    stores
        .transfer
        .put_records(vec![odd.clone()])
        .await
        .unwrap();
    drop(stores);

    let (code, out) = run(
        &key,
        source.path(),
        &[
            "copy",
            "--from",
            &sqlite(source.path()),
            "--to",
            &sqlite(target.path()),
        ],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "name copied as stored: {}: the API would refuse it (full_name must not contain control characters)",
            odd.id
        )),
        "{out}"
    );
    assert!(!out.contains("Lovelace"), "never the name itself: {out}");
    let copy = app_on(target.path(), &key).await;
    let read = copy
        .get_owned(format!("/api/v1/transactions/{}", odd.id))
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.data()["full_name"], "Ada\nLovelace");
}

/// Reads a child's standard output line by line on a thread of its own.
fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for a line containing `marker` (without blocking the runtime the apps under test
/// run on); every line seen goes to `seen`.
async fn wait_for(rx: &std::sync::mpsc::Receiver<String>, marker: &str, seen: &mut Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match rx.try_recv() {
            Ok(line) => {
                seen.push(line.clone());
                if line.contains(marker) {
                    return;
                }
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                assert!(
                    Instant::now() < deadline,
                    "no line with {marker:?}; saw {seen:#?}"
                );
                actix_web::rt::time::sleep(Duration::from_millis(10)).await;
            }
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                panic!("the command ended without {marker:?}; saw {seen:#?}")
            }
        }
    }
}

/// A few writes of every kind, each acknowledged before the next.
async fn more_writes(app: &TestApp, users: &[String], round: usize) {
    for (u, user) in users.iter().enumerate() {
        let t = app
            .create(
                user,
                3.5 + round as f64,
                "credit",
                Some("2026-11-28T09:00:00.500Z"),
            )
            .await;
        let path = format!("/api/v1/transactions/{}", t["id"].as_str().unwrap());
        if u % 2 == 0 {
            let r = app
                .patch_json(&path, &json!({"transaction_amount": 0.01}))
                .await;
            assert_eq!(r.status, StatusCode::OK);
        } else {
            assert_eq!(app.delete(&path).await.status, StatusCode::OK);
        }
    }
}

#[actix_web::test]
async fn writers_run_through_a_followed_copy_then_a_pause_and_the_switch() {
    let Some(mongo) = fido_testkit::service_url("MONGODB_URI") else {
        return;
    };
    let key = FernetCipher::generate_key();
    let (source, target_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let app = app_on(source.path(), &key).await;
    let users = write_history(&app, 3, 6).await;
    let database = format!("fido_follow_{}", fresh_user());
    let mongo = mongo.replacen("/?", &format!("/{database}?"), 1);
    let follow_args = [
        "copy",
        "--from",
        &sqlite(source.path()),
        "--to",
        &mongo,
        "--follow",
    ];
    let mut seen = Vec::new();

    // A first follower, killed (SIGKILL) while writers keep writing.
    let mut first = fido(&key, source.path(), &follow_args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut first);
    wait_for(&lines, "following the source's changes", &mut seen).await;
    more_writes(&app, &users, 1).await;
    wait_for(&lines, "caught up at sequence", &mut seen).await;
    first.kill().unwrap();
    first.wait().unwrap();
    more_writes(&app, &users, 2).await;

    // Started again: it copies anew, then follows while the writers go on.
    let mut second = fido(&key, source.path(), &follow_args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut second);
    wait_for(&lines, "following the source's changes", &mut seen).await;
    for round in 3..6 {
        more_writes(&app, &users, round).await;
    }
    let body = json!({"user_id": users[1], "full_name": "Ada Lovelace", "transaction_amount": 1.23,
        "transaction_type": "debit"});
    assert_eq!(
        post_with_key(&app, "order-2", &body, None).await.status,
        StatusCode::CREATED
    );
    wait_for(&lines, "caught up at sequence", &mut seen).await;

    // The switch-over: writes paused on every instance of the source...
    let paused = Instant::now();
    fido_api::commands::writes::apply(
        &app.settings,
        &fido_api::cli::WritesCommand::Pause {
            reason: "switch-over".into(),
        },
    )
    .await
    .expect("pause");
    wait_for(&lines, "switch-over point", &mut seen).await;
    let status = second.wait().unwrap();
    let waited = paused.elapsed();
    let end = seen.last().unwrap().clone();
    assert_eq!(status.code(), Some(0), "{seen:#?}");
    assert!(end.contains("identical"), "{end}");
    println!("writes paused until the switch-over point: {waited:?} ({end})");
    assert!(
        waited < Duration::from_secs(5),
        "the pause lasted {waited:?}"
    );
    let refused = app
        .post_json(
            "/api/v1/transactions",
            &json!({"user_id": users[0], "full_name": "Late", "transaction_amount": 1.0,
                    "transaction_type": "credit"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::SERVICE_UNAVAILABLE);

    // ...then the instances point at the target, where writes are allowed.
    let before = answers(&app, &users).await;
    let mut settings = settings_for(target_dir.path(), &[]);
    settings.store.uri = Secret::new(mongo.clone());
    settings.store.database = None;
    settings.security.fernet_key = Some(Secret::new(key.clone()));
    let target = spawn_with(settings).await;
    let after = answers(&target, &users).await;
    for (path, body) in &before {
        assert_eq!(after.get(path), Some(body), "{path} differs on the target");
    }
    assert_eq!(after.len(), before.len(), "nothing more, nothing less");
    // Idempotency keys made before and during the follow replay on the target.
    for (k, body) in [
        ("order-2", body),
        (
            "order-1",
            json!({"user_id": users[0], "full_name": "Ada Lovelace", "transaction_amount": 7.77,
                   "transaction_type": "credit"}),
        ),
    ] {
        let replay = post_with_key(&target, k, &body, None).await;
        assert_eq!(
            replay
                .headers
                .get("idempotent-replayed")
                .map(|v| v.to_str().unwrap()),
            Some("true"),
            "{k}"
        );
    }
    // The feed goes on at the next sequence.
    let last_sequence = after["events"]["data"]["last_sequence"].as_u64().unwrap();
    target.create(&users[2], 2.0, "debit", None).await;
    target.settled().await;
    let next = target
        .get_owned(format!("/api/v1/events?after={last_sequence}"))
        .await;
    assert_eq!(next.data()["events"][0]["sequence"], last_sequence + 1);
}
