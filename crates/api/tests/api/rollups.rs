//! Daily roll-ups through the `fido` binary: `fido rollups verify` finds and repairs
//! drift, and a process killed during a write storm leaves none — nor a change without
//! its history version, nor a version without its change.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{fresh_user, on_mongodb, test_api_keys, FULL_KEY};

/// The binary, with only the environment a test gives it.
fn binary(dir: &Path, db: &[(String, String)]) -> Command {
    let mut cmd = crate::helpers::fido_binary();
    cmd.env("API_KEYS", test_api_keys())
        .env("FIDO__LOG__FORMAT", "text")
        .current_dir(dir)
        .stdin(Stdio::null());
    for (k, v) in db {
        cmd.env(k, v);
    }
    cmd
}

/// Where the data lives: the embedded store in `dir`, or a database of its own on the
/// MongoDB-compatible server when the suite runs on MongoDB.
fn store_env() -> Vec<(String, String)> {
    if on_mongodb() {
        let uri = std::env::var("MONGODB_URI").expect("MONGODB_URI");
        let db = format!("fido_rollups_{}", fresh_user());
        vec![("DB_URI".into(), uri), ("FIDO__STORE__DATABASE".into(), db)]
    } else {
        Vec::new()
    }
}

/// Starts the service; returns it with its port.
fn serve(dir: &Path, db: &[(String, String)]) -> (Child, u16) {
    let mut child = binary(dir, db)
        .env("PORT", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(logs).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                if let Some(port) = rest.split_whitespace().next().and_then(|p| p.parse().ok()) {
                    return (child, port);
                }
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("the service did not start");
}

fn verify(dir: &Path, db: &[(String, String)], args: &[&str]) -> (i32, String) {
    let out = binary(dir, db)
        .args(["rollups", "verify"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[actix_web::test]
async fn verify_finds_drift_and_repair_fixes_it() {
    if on_mongodb() {
        return; // the drift is made by hand in the embedded file
    }
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = serve(dir.path(), &[]);
    let client = awc::Client::default();
    let user = fresh_user();
    for (i, day) in ["2025-01-01", "2025-01-02", "2025-01-02"]
        .iter()
        .enumerate()
    {
        let res = client
            .post(format!("http://127.0.0.1:{port}/api/v1/transactions"))
            .insert_header(("authorization", format!("Bearer {FULL_KEY}")))
            .send_json(&json!({"user_id": user, "full_name": "Ada", "transaction_type": "credit",
                               "transaction_amount": 10 + i, "transaction_date": format!("{day}T10:00:00Z")}))
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let (code, out) = verify(dir.path(), &[], &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 days differ"), "{out}");

    // Drift made by hand: one day's count off, and a roll-up of a day without rows.
    let db = rusqlite::Connection::open(dir.path().join("data/fido.db")).unwrap();
    db.execute_batch(
        "UPDATE daily_totals SET count = count + 1 WHERE day = (SELECT min(day) FROM daily_totals);
         INSERT INTO daily_totals SELECT user_id, day + 30, 1, 0, 5, 0, 0 FROM daily_totals LIMIT 1;",
    )
    .unwrap();
    drop(db);
    let (code, out) = verify(dir.path(), &[], &["--user", &user]);
    assert_eq!(code, 3, "{out}");
    assert_eq!(out.matches("drift: user").count(), 2, "{out}");
    let (code, out) = verify(dir.path(), &[], &["--repair"]);
    assert_eq!(code, 3, "drift found (and repaired): {out}");
    assert!(out.contains("repaired"), "{out}");
    let (code, out) = verify(dir.path(), &[], &[]);
    assert_eq!(code, 0, "nothing left after the repair: {out}");
}

/// What a write's answer acknowledged: the transaction at a version, or its deletion.
type Ack = (String, Option<u64>);

#[actix_web::test]
async fn a_process_killed_during_a_write_storm_leaves_no_drift_and_no_change_without_its_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = store_env();
    let (mut child, port) = serve(dir.path(), &db);
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(5))
        .finish();
    let base = format!("http://127.0.0.1:{port}/api/v1/transactions");
    let users: Vec<String> = (0..3).map(|_| fresh_user()).collect();
    let storm = (0..8).map(|worker| {
        let (client, base, users) = (client.clone(), base.clone(), users.clone());
        async move {
            let mut ids: Vec<String> = Vec::new();
            let mut acks: Vec<Ack> = Vec::new();
            for i in 0..10_000u32 {
                let user = &users[(i as usize + worker) % users.len()];
                let auth = ("authorization", format!("Bearer {FULL_KEY}"));
                let sent = match (i % 5, ids.last().cloned()) {
                    (3, Some(id)) => client
                        .patch(format!("{base}/{id}"))
                        .insert_header(auth)
                        .send_json(&json!({"transaction_amount": i, "transaction_type": "debit"}))
                        .await
                        .map(|res| (res, Some(id))),
                    (4, Some(_)) => {
                        let id = ids.pop().unwrap_or_default();
                        client
                            .delete(format!("{base}/{id}"))
                            .insert_header(auth)
                            .send()
                            .await
                            .map(|res| (res, Some(id)))
                    }
                    _ => client
                        .post(&base)
                        .insert_header(auth)
                        .send_json(&json!({"user_id": user, "full_name": "Ada",
                            "transaction_type": "credit", "transaction_amount": i,
                            "transaction_date": format!("2025-02-{:02}T{:02}:00:00Z", 1 + i % 5, i % 24)}))
                        .await
                        .map(|res| (res, None)),
                };
                // An error: the process is gone.
                let Ok((mut res, target)) = sent else { break };
                if !res.status().is_success() {
                    continue;
                }
                let Ok(body) = res.json::<serde_json::Value>().await else {
                    break;
                };
                let version = body["data"]["version"].as_u64();
                match (target, body["data"]["id"].as_str()) {
                    (None, Some(id)) => {
                        ids.push(id.to_owned());
                        acks.push((id.to_owned(), version));
                    }
                    (Some(id), _) => acks.push((id, version)),
                    (None, None) => {}
                }
            }
            acks
        }
    });
    let kill = async {
        actix_web::rt::time::sleep(Duration::from_millis(1500)).await;
        child.kill().unwrap();
    };
    let (acks, ()) = futures_util::join!(futures_util::future::join_all(storm), kill);
    child.wait().unwrap();

    // Restarted, the store reads the same data; the roll-ups equal the rows.
    let (mut again, _) = serve(dir.path(), &db);
    again.kill().unwrap();
    again.wait().unwrap();
    let (code, out) = verify(dir.path(), &db, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 days differ"), "{out}");

    // Every change has its version and every version its change: each surviving record is
    // its history's last version; each record gone ends with `deleted` (or never was);
    // versions run 1, 2, 3… with no gap; every acknowledged write is there.
    let mut settings = crate::helpers::settings_for(&dir.path().join("data"), &[]);
    if let Some((_, name)) = db.iter().find(|(k, _)| k == "FIDO__STORE__DATABASE") {
        settings.store.database = Some(name.clone());
    }
    let stores = fido_api::wiring::open_store(&settings).await.unwrap();
    let mut ids: std::collections::BTreeSet<fido_domain::TransactionId> = acks
        .iter()
        .flatten()
        .map(|(id, _)| fido_domain::TransactionId::parse(id).unwrap())
        .collect();
    for user in &users {
        let user = fido_domain::UserId::parse(user).unwrap();
        let held = stores
            .store
            .scan_by_user(user, fido_domain::ListFilter::default(), None, 100_000)
            .await
            .unwrap();
        ids.extend(held.iter().map(|r| r.id));
    }
    assert!(ids.len() > 20, "the storm wrote something: {}", ids.len());
    for &id in &ids {
        let history = stores.history.history(id).await.unwrap();
        let record = stores.store.get(id).await.unwrap();
        let versions: Vec<u64> = history.iter().map(|e| e.version).collect();
        assert_eq!(
            versions,
            (1..=versions.len() as u64).collect::<Vec<_>>(),
            "{id}: versions without a gap"
        );
        match (&record, history.last()) {
            (Some(record), Some(last)) => {
                assert_ne!(last.action, fido_domain::HistoryAction::Deleted, "{id}");
                assert_eq!(&last.record, record, "{id}: the record is its last version");
            }
            (None, Some(last)) => {
                assert_eq!(last.action, fido_domain::HistoryAction::Deleted, "{id}");
            }
            (Some(_), None) => panic!("{id}: a change without its version"),
            (None, None) => {}
        }
    }
    for (id, version) in acks.iter().flatten() {
        let history = stores
            .history
            .history(fido_domain::TransactionId::parse(id).unwrap())
            .await
            .unwrap();
        match version {
            Some(v) => assert!(
                history.iter().any(|e| e.version == *v),
                "{id}: acknowledged version {v} is kept"
            ),
            None => assert_eq!(
                history.last().map(|e| e.action),
                Some(fido_domain::HistoryAction::Deleted),
                "{id}: acknowledged deletion is kept"
            ),
        }
    }
}
