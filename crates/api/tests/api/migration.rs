//! A database written by the original Python service: documents made with the MongoDB
//! driver in exactly its shapes, refused clearly before `fido migrate`, converted by the
//! real binary (dry run, strict, a re-run, a kill in the middle), then served through the
//! HTTP API field by field with exact statistics.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use awc::http::StatusCode;
use fido_api::settings::Secret;
use fido_cipher_fernet::FernetCipher;
use fido_domain::FieldCipher;
use mongodb::bson::{doc, oid::ObjectId, DateTime, Document};
use serde_json::json;

use crate::helpers::{fresh_user, settings_for, spawn_with};

struct Original {
    uri: String,
    database: String,
    keys: String,
    collection: mongodb::Collection<Document>,
    dir: tempfile::TempDir,
}

impl Original {
    /// A fresh database for the original's documents, and the two keys: the current one
    /// first, an older one after it (as `FERNET_KEY` lists them after a rotation).
    async fn new() -> Option<(Self, FernetCipher, FernetCipher)> {
        let uri = fido_testkit::service_url("MONGODB_URI")?;
        let database = format!("fido_original_{}", fresh_user());
        let (current, older) = (FernetCipher::generate_key(), FernetCipher::generate_key());
        let client = mongodb::Client::with_uri_str(&uri).await.unwrap();
        let collection = client.database(&database).collection("fido_transactions");
        Some((
            Self {
                uri,
                database,
                keys: format!("{current},{older}"),
                collection,
                dir: tempfile::tempdir().unwrap(),
            },
            FernetCipher::from_key_list(&current).unwrap(),
            FernetCipher::from_key_list(&older).unwrap(),
        ))
    }

    fn migrate(&self, args: &[&str]) -> Command {
        let mut cmd = crate::helpers::fido_binary();
        cmd.arg("migrate")
            .args(args)
            .env("DB_URI", &self.uri)
            .env("FIDO__STORE__DATABASE", &self.database)
            .env("FERNET_KEY", &self.keys)
            .env("FIDO__SECURITY__DATA_DIR", self.dir.path())
            .env("FIDO__LOG__FILTER", "warn")
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let Output {
            status,
            stdout,
            stderr,
        } = self.migrate(args).output().unwrap();
        let out = String::from_utf8_lossy(&stdout).into_owned();
        let err = String::from_utf8_lossy(&stderr);
        assert!(!err.contains("panicked"), "{err}");
        // What the command said on standard error comes with its output, for the asserts.
        (status.code(), format!("{out}{err}"))
    }

    fn settings(&self) -> fido_api::Settings {
        let mut settings = settings_for(self.dir.path(), &[]);
        settings.store.uri = Secret::new(self.uri.clone());
        settings.store.database = Some(self.database.clone());
        settings.security.fernet_key = Some(Secret::new(self.keys.clone()));
        settings
    }
}

async fn token(cipher: &FernetCipher, text: &str) -> String {
    cipher.encrypt(text).await.unwrap()
}

#[actix_web::test]
async fn the_originals_documents_are_migrated_then_served_exactly() {
    let Some((db, current, older)) = Original::new().await else {
        return;
    };
    let user = ObjectId::parse_str(fresh_user()).unwrap();
    let other = ObjectId::parse_str(fresh_user()).unwrap();
    let at = |s: &str| DateTime::parse_rfc3339_str(s).unwrap();
    let (a, b, c, d, e, f, g) = (
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
        ObjectId::new(),
    );
    let docs = vec![
        // As created.
        doc! {"_id": a, "user_id": user, "full_name": token(&current, "Ada Lovelace").await,
        "transaction_type": token(&current, "credit").await, "transaction_amount": 12.5,
        "transaction_date": at("2026-11-20T10:00:00.123Z")},
        // As the original's PATCH leaves it: a naive string date, a stray `id`, a float sum.
        doc! {"_id": b, "user_id": user, "full_name": token(&current, "Grace Hopper").await,
        "transaction_type": token(&current, "debit").await, "transaction_amount": 0.1 + 0.2,
        "transaction_date": "2026-11-26T13:07:16.773000", "id": b.to_hex()},
        // Three decimals: rounded half-to-even, the original kept.
        doc! {"_id": c, "user_id": user, "full_name": token(&current, "Alan Turing").await,
        "transaction_type": token(&current, "credit").await, "transaction_amount": 12.345,
        "transaction_date": at("2026-11-21T00:00:00Z")},
        // Tokens made with the older key.
        doc! {"_id": d, "user_id": user, "full_name": token(&older, "Edsger W.\nDijkstra ").await,
        "transaction_type": token(&older, "debit").await, "transaction_amount": 7.0,
        "transaction_date": at("2026-11-22T08:30:00Z")},
        // A type no key opens, and a negative amount: left untouched.
        doc! {"_id": e, "user_id": user, "full_name": token(&current, "Nobody").await,
        "transaction_type": "gAAAAABnot-a-fernet-token", "transaction_amount": 1.0,
        "transaction_date": at("2026-11-22T08:30:00Z")},
        doc! {"_id": f, "user_id": user, "full_name": token(&current, "Nobody").await,
        "transaction_type": token(&current, "credit").await, "transaction_amount": -5.0,
        "transaction_date": at("2026-11-22T08:30:00Z")},
        // Another user's, convertible.
        doc! {"_id": g, "user_id": other, "full_name": token(&current, "Katherine Johnson").await,
        "transaction_type": token(&current, "credit").await, "transaction_amount": 3.25,
        "transaction_date": at("2026-11-23T09:00:00Z")},
    ];
    db.collection.insert_many(docs.clone()).await.unwrap();

    // Before the migration: refused clearly, never a 500 or a wrong value.
    let app = spawn_with(db.settings()).await;
    let r = app.get_owned(format!("/api/v1/transactions/{a}")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body["message"].as_str().unwrap().contains("fido migrate"));
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.body["checks"]["store"], "migration_required");
    let stats = app
        .get_owned(format!("/api/v1/analytics/transactions/{user}"))
        .await;
    assert_eq!(stats.status, StatusCode::SERVICE_UNAVAILABLE);
    app.stop().await;

    // A dry run writes nothing and reports what a run would do.
    let (code, out) = db.run(&["--dry-run"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains(&format!("rounded: {b}")), "{out}");
    assert!(out.contains(&format!("rounded: {c}")), "{out}");
    assert!(
        out.contains(&format!(
            "not converted: {e}: transaction_type cannot be decrypted"
        )),
        "{out}"
    );
    assert!(out.contains(&format!("not converted: {f}")), "{out}");
    // A name the original accepted and the API would refuse: kept as stored, reported.
    assert!(
        out.contains(&format!(
            "name kept as stored: {d}: the API would refuse it (full_name must not contain control characters)"
        )),
        "{out}"
    );
    assert!(
        out.contains("1 names kept that the API would refuse"),
        "{out}"
    );
    let untouched: Vec<Document> = {
        use futures_util::TryStreamExt;
        db.collection
            .find(doc! {})
            .sort(doc! {"_id": 1})
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap()
    };
    assert_eq!(untouched, docs, "a dry run changes nothing");

    // --strict refuses the amounts that need rounding.
    let (code, out) = db.run(&["--strict", "--dry-run"]);
    assert_eq!(code, Some(3));
    assert!(
        out.contains(&format!(
            "not converted: {c}: transaction_amount 12.345 has more than 2 decimals"
        )),
        "{out}"
    );

    // The migration, in batches of two; then a re-run finds only the two bad ones.
    let (code, out) = db.run(&["--batch-size", "2"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("converted 5, 2 rounded, 2 not converted"),
        "{out}"
    );
    assert!(out.contains("set aside: 2 document(s)"), "{out}");

    // Two documents that could not be converted no longer stop everyone: the other user
    // is served at once, exactly; reads that would include them answer a clear 503.
    let live = spawn_with(db.settings()).await;
    let ready = live.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    assert_eq!(ready.body["checks"]["store"], "ok");
    assert_eq!(ready.body["quarantined_documents"], 2);
    let others = live.list(&other.to_hex(), "").await;
    assert_eq!(others.status, StatusCode::OK, "{}", others.body);
    assert_eq!(others.data()["total"], 1);
    assert_eq!(others.data()["data"][0]["full_name"], "Katherine Johnson");
    assert_eq!(others.data()["data"][0]["transaction_amount"], 3.25);
    let stats = live
        .get_owned(format!("/api/v1/analytics/transactions/{other}"))
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.data()["total_credit"], 3.25);
    for path in [
        format!("/api/v1/transactions/user/{user}"),
        format!("/api/v1/analytics/transactions/{user}"),
        format!("/api/v1/analytics/transactions/{user}/daily"),
        format!("/api/v1/transactions/user/{user}/export"),
    ] {
        let r = live.get_owned(path.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{path}: {}",
            r.body
        );
        let message = r.body["message"].as_str().unwrap();
        assert!(
            message.starts_with(
                "2 of the documents this request reads were set aside by fido migrate"
            ),
            "{path}: {message}"
        );
    }
    let by_id = live.get_owned(format!("/api/v1/transactions/{e}")).await;
    assert_eq!(
        by_id.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        by_id.body
    );
    assert!(by_id.body["message"]
        .as_str()
        .unwrap()
        .starts_with("1 of the documents"));
    let converted = live.get_owned(format!("/api/v1/transactions/{a}")).await;
    assert_eq!(
        converted.status,
        StatusCode::OK,
        "a converted document by id"
    );
    // Its history starts with a `created` version by `migrate`, holding what it reads.
    let history = live
        .get_owned(format!("/api/v1/transactions/{a}/history"))
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.body);
    let versions = history.data()["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0]["actor"], "migrate");
    assert_eq!(versions[0]["action"], "created");
    assert_eq!(
        versions[0]["values"]["full_name"],
        converted.data()["full_name"]
    );
    assert_eq!(
        versions[0]["values"]["transaction_amount"],
        converted.data()["transaction_amount"]
    );
    assert_eq!(
        live.patch_json(
            &format!("/api/v1/transactions/{f}"),
            &json!({"transaction_amount": 1.0})
        )
        .await
        .status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a set-aside document is never written through the API"
    );
    let (code, out) = db.run(&[]);
    assert_eq!(code, Some(3));
    assert!(out.contains("2 documents examined, converted 0"), "{out}");
    let patched = db
        .collection
        .find_one(doc! {"_id": b})
        .await
        .unwrap()
        .unwrap();
    assert!(!patched.contains_key("id"), "the stray id is gone");
    assert_eq!(
        patched
            .get_document("legacy")
            .unwrap()
            .get_f64("transaction_amount")
            .unwrap(),
        0.1 + 0.2,
        "the original value is kept"
    );
    assert_eq!(patched.get_i64("amount_cents").unwrap(), 30);
    let bad = db
        .collection
        .find_one(doc! {"_id": e})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(bad, docs[4], "left untouched");

    // The operator deals with the two listed documents; the last run completes.
    db.collection
        .delete_many(doc! {"_id": {"$in": [e, f]}})
        .await
        .unwrap();
    let (code, out) = db.run(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("daily roll-ups rebuilt"), "{out}");
    // The running instance serves the user again by itself, without a restart.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = live.list(&user.to_hex(), "").await;
        if r.status == StatusCode::OK {
            assert_eq!(r.data()["total"], 4);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still refused: {}",
            r.body
        );
        actix_web::rt::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let ready = live.get("/health/ready").await;
    assert!(
        ready.body.get("quarantined_documents").is_none(),
        "{}",
        ready.body
    );
    live.stop().await;

    // Served field by field, with exact statistics.
    let app = spawn_with(db.settings()).await;
    let get = |id: ObjectId| app.get_owned(format!("/api/v1/transactions/{id}"));
    let expect = [
        (
            a,
            "Ada Lovelace",
            12.5,
            "credit",
            "2026-11-20T10:00:00.123Z",
        ),
        (b, "Grace Hopper", 0.3, "debit", "2026-11-26T13:07:16.773Z"),
        (
            c,
            "Alan Turing",
            12.34,
            "credit",
            "2026-11-21T00:00:00.000Z",
        ),
        (
            d,
            "Edsger W.\nDijkstra ",
            7.0,
            "debit",
            "2026-11-22T08:30:00.000Z",
        ),
    ];
    for (id, name, amount, kind, date) in expect {
        let r = get(id).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let t = r.data();
        assert_eq!(t["id"], id.to_hex());
        assert_eq!(t["user_id"], user.to_hex());
        assert_eq!(t["full_name"], name);
        assert_eq!(t["transaction_amount"], amount);
        assert_eq!(t["transaction_type"], kind);
        assert_eq!(t["transaction_date"], date);
        assert_eq!(t["version"], 1);
        // No creation time in the original: the `_id`'s seconds.
        let created =
            fido_domain::Timestamp::from_millis(id.timestamp().timestamp_millis()).unwrap();
        assert_eq!(t["created_at"], created.to_string());
        assert_eq!(t["updated_at"], created.to_string());
    }
    let stats = app
        .get_owned(format!("/api/v1/analytics/transactions/{user}"))
        .await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.body);
    assert_eq!(stats.data()["transaction_count"], 4);
    assert_eq!(stats.data()["total_credit"], 24.84);
    assert_eq!(stats.data()["total_debit"], 7.3);
    assert_eq!(app.get("/health/ready").await.body["checks"]["store"], "ok");
    // And it keeps working as this service: an update moves the version and the totals.
    let r = app
        .patch_json(
            &format!("/api/v1/transactions/{b}"),
            &json!({"transaction_amount": 1.0}),
        )
        .await;
    assert_eq!(r.data()["version"], 2);
    let stats = app
        .get_owned(format!("/api/v1/analytics/transactions/{user}"))
        .await;
    assert_eq!(stats.data()["total_debit"], 8.0);
}

#[actix_web::test]
async fn a_migration_killed_in_the_middle_finishes_when_run_again() {
    let Some((db, current, _older)) = Original::new().await else {
        return;
    };
    let user = ObjectId::parse_str(fresh_user()).unwrap();
    let (name, credit) = (
        token(&current, "Ada").await,
        token(&current, "credit").await,
    );
    let docs: Vec<Document> = (0..400)
        .map(|i| {
            doc! {"_id": ObjectId::new(), "user_id": user, "full_name": &name,
            "transaction_type": &credit, "transaction_amount": 1.25 + f64::from(i),
            "transaction_date": "2026-11-26T13:07:16.773000"}
        })
        .collect();
    db.collection.insert_many(docs).await.unwrap();

    let mut child = db
        .migrate(&["--batch-size", "20"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Kill it once it has converted some, not all.
    loop {
        let line = lines.next().unwrap().unwrap();
        if line.starts_with("examined 40 ") {
            break;
        }
        assert!(Instant::now() < deadline);
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let left = db
        .collection
        .count_documents(fido_store_mongodb::legacy_filter())
        .await
        .unwrap();
    assert!(left > 0 && left < 400, "{left} left");

    let (code, out) = db.run(&[]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(
        db.collection
            .count_documents(fido_store_mongodb::legacy_filter())
            .await
            .unwrap(),
        0
    );
    let app = spawn_with(db.settings()).await;
    let stats = app
        .get_owned(format!("/api/v1/analytics/transactions/{user}"))
        .await;
    assert_eq!(stats.data()["transaction_count"], 400);
    // 400 × 1.25 + (0 + 1 + … + 399) = 500 + 79,800
    assert_eq!(stats.data()["total_credit"], 80_300.0);
}
