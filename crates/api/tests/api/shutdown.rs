//! SIGTERM in the middle of a burst of writes: every request that got a 2xx is stored, no
//! record is half-written, the process exits cleanly, and a restart finds everything.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::helpers::{fresh_user, test_api_keys, FULL_KEY};

/// Starts the real binary on a free port in `dir`; returns it and its port.
fn start(dir: &std::path::Path) -> (Child, u16) {
    let mut child = crate::helpers::fido_binary()
        .current_dir(dir)
        .env("PORT", "0")
        .env("API_KEYS", test_api_keys())
        .env("FIDO__SECURITY__RATE_LIMIT_PER_SECOND", "0")
        .env("FIDO__LOG__FORMAT", "text")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let logs = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(logs).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                if let Some(port) = rest
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the binary reports its port");
    (child, port)
}

fn wait_for_exit(child: &mut Child) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[actix_web::test]
async fn sigterm_during_a_burst_of_writes_loses_nothing_that_was_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = start(dir.path());
    let base = format!("http://127.0.0.1:{port}");
    let client = awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .add_default_header(("authorization", format!("Bearer {FULL_KEY}")))
        .finish();
    let user = fresh_user();
    let acknowledged = AtomicUsize::new(0);
    let pid = child.id().to_string();

    let write = |i: u32| {
        let client = &client;
        let base = &base;
        let user = &user;
        let acknowledged = &acknowledged;
        async move {
            // Spread the burst over time so that SIGTERM lands in the middle of it.
            actix_web::rt::time::sleep(Duration::from_millis(u64::from(i % 50) * 4)).await;
            let body = json!({"user_id": user, "full_name": format!("Burst {i}"),
                              "transaction_amount": f64::from(i) / 100.0, "transaction_type": "credit"});
            let mut res = client
                .post(format!("{base}/api/v1/transactions"))
                .send_json(&body)
                .await
                .ok()?;
            if !res.status().is_success() {
                return None;
            }
            let reply: Value = res.json().await.ok()?;
            acknowledged.fetch_add(1, Ordering::SeqCst);
            Some((reply["data"]["id"].as_str()?.to_owned(), i))
        }
    };
    let terminate = async {
        while acknowledged.load(Ordering::SeqCst) < 20 {
            actix_web::rt::time::sleep(Duration::from_millis(2)).await;
        }
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success();
        assert!(ok);
    };
    let (results, ()) = futures_util::future::join(
        futures_util::future::join_all((0..200).map(write)),
        terminate,
    )
    .await;
    let acked: Vec<(String, u32)> = results.into_iter().flatten().collect();
    assert!(acked.len() >= 20, "the burst was under way");
    let status = wait_for_exit(&mut child);
    assert!(status.success(), "clean exit, got {status}");

    // A restart on the same folder finds exactly what was acknowledged, whole.
    let (mut again, port) = start(dir.path());
    let base = format!("http://127.0.0.1:{port}");
    let mut stored: Vec<Value> = Vec::new();
    for page in 1..=3 {
        let mut res = client
            .get(format!(
                "{base}/api/v1/transactions/user/{user}?limit=100&page={page}"
            ))
            .send()
            .await
            .unwrap();
        let body: Value = res.json().limit(4 * 1024 * 1024).await.unwrap();
        stored.extend(body["data"]["data"].as_array().unwrap().iter().cloned());
    }
    let stored_ids: HashSet<String> = stored
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    let acked_ids: HashSet<String> = acked.iter().map(|(id, _)| id.clone()).collect();
    assert!(
        acked_ids.is_subset(&stored_ids),
        "every acknowledged write survived"
    );
    assert_eq!(
        stored_ids.len(),
        acked_ids.len(),
        "nothing unacknowledged was stored either"
    );
    for t in &stored {
        let i: u32 = t["full_name"]
            .as_str()
            .unwrap()
            .trim_start_matches("Burst ")
            .parse()
            .unwrap();
        assert_eq!(
            t["transaction_amount"].as_f64().unwrap(),
            f64::from(i) / 100.0,
            "no half-written record"
        );
    }
    println!(
        "{} of 200 writes acknowledged before the shutdown; all stored",
        acked.len()
    );
    Command::new("kill")
        .args(["-TERM", &again.id().to_string()])
        .status()
        .unwrap();
    assert!(wait_for_exit(&mut again).success());
}
