//! A bounded soak: mixed traffic (creates, reads, lists, statistics, updates, deletes)
//! across many users for `FIDO_SOAK_SECS` seconds (5 by default; `make test` runs 60),
//! with zero 5xx — and on until at least [`MIN_REQUESTS`] were answered, within a bound, so
//! that a slow server (the MongoDB-wire test server on a busy machine) still gets a real
//! load instead of a handful of requests — then an exact reconciliation: what the clients saw created minus deleted
//! is what the store holds, per user, with the same amounts and totals.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use awc::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{fresh_user, spawn_app, TestApp};

const WORKERS: usize = 16;
const USERS_PER_WORKER: usize = 4;
/// The least traffic a soak sends, however slow the server.
const MIN_REQUESTS: u64 = 200;

/// When the workers stop: at `until`, or later while fewer than [`MIN_REQUESTS`] were
/// answered, but never after `limit`.
struct Deadline {
    until: Instant,
    limit: Instant,
    answered: std::sync::atomic::AtomicU64,
}

impl Deadline {
    fn going(&self) -> bool {
        let now = Instant::now();
        now < self.until
            || (now < self.limit
                && self.answered.load(std::sync::atomic::Ordering::Relaxed) < MIN_REQUESTS)
    }
}

/// A small deterministic generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What one worker expects the store to hold, per user: id → (cents, is_credit).
type Book = HashMap<String, HashMap<String, (u64, bool)>>;

#[derive(Default)]
struct Tally {
    requests: u64,
    by_status: HashMap<u16, u64>,
}

async fn worker(app: &TestApp, seed: u64, deadline: &Deadline) -> (Book, Tally) {
    let mut rng = Rng(seed | 1);
    let users: Vec<String> = (0..USERS_PER_WORKER).map(|_| fresh_user()).collect();
    let mut book: Book = users.iter().map(|u| (u.clone(), HashMap::new())).collect();
    let mut tally = Tally::default();
    while deadline.going() {
        let user = &users[rng.below(users.len() as u64) as usize];
        let mine: Vec<String> = book[user].keys().cloned().collect();
        let pick = rng.below(100);
        let status = if pick < 40 || mine.is_empty() {
            let cents = rng.below(1_000_000);
            let credit = rng.below(2) == 0;
            let body = json!({"user_id": user, "full_name": format!("Soak {}", rng.below(1000)),
                "transaction_amount": cents as f64 / 100.0, "transaction_type": if credit { "credit" } else { "debit" }});
            let r = app.post_json("/api/v1/transactions", &body).await;
            if r.status == StatusCode::CREATED {
                let id = r.data()["id"].as_str().unwrap_or_default().to_owned();
                book.get_mut(user).unwrap().insert(id, (cents, credit));
            }
            (r.status, StatusCode::CREATED)
        } else {
            let id = &mine[rng.below(mine.len() as u64) as usize];
            let path = format!("/api/v1/transactions/{id}");
            match pick {
                40..=54 => (app.get(&path).await.status, StatusCode::OK),
                55..=69 => {
                    let q = format!("?page={}&limit={}", 1 + rng.below(3), 1 + rng.below(20));
                    (app.list(user, &q).await.status, StatusCode::OK)
                }
                70..=79 => (
                    app.stats(user, "?start_date=2000-01-01").await.status,
                    StatusCode::OK,
                ),
                80..=89 => {
                    let cents = rng.below(1_000_000);
                    let r = app
                        .patch_json(&path, &json!({"transaction_amount": cents as f64 / 100.0}))
                        .await;
                    if r.status == StatusCode::OK {
                        book.get_mut(user).unwrap().get_mut(id).unwrap().0 = cents;
                    }
                    (r.status, StatusCode::OK)
                }
                _ => {
                    let r = app.delete(&path).await;
                    if r.status == StatusCode::OK {
                        book.get_mut(user).unwrap().remove(id);
                    }
                    (r.status, StatusCode::OK)
                }
            }
        };
        tally.requests += 1;
        deadline
            .answered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        *tally.by_status.entry(status.0.as_u16()).or_default() += 1;
        assert!(
            !status.0.is_server_error(),
            "5xx during the soak: {}",
            status.0
        );
        assert_eq!(status.0, status.1, "unexpected answer during the soak");
    }
    (book, tally)
}

async fn stored(app: &TestApp, user: &str) -> HashMap<String, (u64, bool)> {
    let mut out = HashMap::new();
    for page in 1.. {
        let r = app.list(user, &format!("?limit=100&page={page}")).await;
        let items = r.data()["data"].as_array().cloned().unwrap_or_default();
        if items.is_empty() {
            break;
        }
        for t in items {
            let cents = (t["transaction_amount"].as_f64().unwrap() * 100.0).round() as u64;
            out.insert(
                t["id"].as_str().unwrap().to_owned(),
                (cents, t["transaction_type"] == "credit"),
            );
        }
    }
    out
}

#[actix_web::test]
async fn mixed_traffic_reconciles_exactly() {
    let seconds: u64 = std::env::var("FIDO_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let app = spawn_app().await;
    let started = Instant::now();
    let deadline = Deadline {
        until: started + Duration::from_secs(seconds),
        limit: started + Duration::from_secs(seconds * 4 + 60),
        answered: 0.into(),
    };
    let seeds = (0..WORKERS as u64).map(|w| 0x9E37_79B9_7F4A_7C15 ^ (w * 7919));
    let outcomes = futures_util::future::join_all(seeds.map(|s| worker(&app, s, &deadline))).await;
    let elapsed = started.elapsed().as_secs_f64();

    let mut total = Tally::default();
    for (book, tally) in &outcomes {
        total.requests += tally.requests;
        for (s, n) in &tally.by_status {
            *total.by_status.entry(*s).or_default() += n;
        }
        for (user, expected) in book {
            let held = stored(&app, user).await;
            assert_eq!(
                &held, expected,
                "user {user}: the store holds exactly what the clients saw"
            );
            let credit: u64 = expected.values().filter(|(_, c)| *c).map(|(a, _)| a).sum();
            let debit: u64 = expected.values().filter(|(_, c)| !*c).map(|(a, _)| a).sum();
            let stats = app.stats(user, "").await;
            if expected.is_empty() {
                assert_eq!(stats.status, StatusCode::NOT_FOUND);
                continue;
            }
            let cents = |v: &Value| (v.as_f64().unwrap() * 100.0).round() as u64;
            assert_eq!(
                stats.data()["transaction_count"].as_u64(),
                Some(expected.len() as u64),
                "user {user}"
            );
            assert_eq!(cents(&stats.data()["total_credit"]), credit, "user {user}");
            assert_eq!(cents(&stats.data()["total_debit"]), debit, "user {user}");
            assert_eq!(
                cents(&stats.data()["total_transaction"]),
                credit + debit,
                "user {user}"
            );
        }
    }
    let users: usize = outcomes.iter().map(|(b, _)| b.len()).sum();
    let held: usize = outcomes
        .iter()
        .flat_map(|(b, _)| b.values())
        .map(HashMap::len)
        .sum();
    println!(
        "soak: {} requests in {elapsed:.1} s ({:.0}/s) across {users} users, {held} transactions held, statuses {:?}",
        total.requests,
        total.requests as f64 / elapsed,
        total.by_status
    );
    assert!(
        total.requests >= MIN_REQUESTS,
        "the soak generated load: {} requests",
        total.requests
    );
}
