//! The event relay over the testkit's in-memory store, with scripted publishers and a
//! clock the test moves: confirmed prefixes, backoff, giving up after a horizon, brokers
//! retried for ever, retention, and relays racing for the lease.

// Test code: an `unwrap` that fails is a failing test.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fido_domain::{
    Clock, EventLog, EventPublisher, EventRelay, PublishError, PublishOutcome, RelayConfig,
    StoredEvent, Timestamp, TransactionStore, TransactionType,
};
use fido_testkit::fixtures::{amount, at, fresh_user, record, IdSeq};
use fido_testkit::MemoryStore;

/// A clock the test sets.
struct TestClock(AtomicI64);

impl TestClock {
    fn at(rfc3339: &str) -> Arc<Self> {
        Arc::new(Self(AtomicI64::new(at(rfc3339).as_millis())))
    }
    fn advance(&self, d: Duration) {
        self.0
            .fetch_add(i64::try_from(d.as_millis()).unwrap(), Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.load(Ordering::SeqCst)).unwrap()
    }
}

/// A publisher that follows a script: each call takes the next answer (how many to
/// confirm, and whether to fail after them); with the script empty it confirms all.
struct Scripted {
    name: &'static str,
    horizon: Option<Duration>,
    script: Mutex<VecDeque<Option<usize>>>,
    received: Arc<Mutex<Vec<u64>>>,
    pause: Duration,
}

impl Scripted {
    fn new(name: &'static str, horizon: Option<Duration>) -> Self {
        Self {
            name,
            horizon,
            script: Mutex::default(),
            received: Arc::default(),
            pause: Duration::ZERO,
        }
    }
    /// The next call confirms `n` events, then fails.
    fn fail_after(&self, n: usize) {
        self.script.lock().unwrap().push_back(Some(n));
    }
    fn received(&self) -> Vec<u64> {
        self.received.lock().unwrap().clone()
    }
}

#[async_trait]
impl EventPublisher for Scripted {
    fn name(&self) -> &str {
        self.name
    }
    fn retry_horizon(&self) -> Option<Duration> {
        self.horizon
    }
    fn max_batch(&self) -> usize {
        4
    }
    async fn publish(&self, events: &[StoredEvent]) -> PublishOutcome {
        if !self.pause.is_zero() {
            tokio::time::sleep(self.pause).await;
        }
        let next = self.script.lock().unwrap().pop_front().flatten();
        let delivered = next.unwrap_or(events.len()).min(events.len());
        self.received
            .lock()
            .unwrap()
            .extend(events[..delivered].iter().map(|e| e.sequence));
        PublishOutcome {
            delivered,
            error: next.map(|_| PublishError("scripted failure".into())),
        }
    }
}

async fn write(store: &MemoryStore, n: u32) {
    let (ids, user) = (IdSeq::new(), fresh_user());
    for i in 0..n {
        let r = record(
            ids.id(i),
            user,
            at("2026-03-01T00:00:00Z"),
            amount("1.50"),
            TransactionType::Credit,
        );
        store
            .insert(r, fido_testkit::fixtures::actor())
            .await
            .unwrap();
    }
}

fn relay(
    store: &Arc<MemoryStore>,
    publishers: Vec<Arc<dyn EventPublisher>>,
    clock: &Arc<TestClock>,
    holder: &str,
) -> EventRelay {
    EventRelay::new(
        store.clone(),
        publishers,
        clock.clone(),
        RelayConfig::new(holder),
    )
}

#[tokio::test]
async fn only_the_confirmed_prefix_moves_and_failures_back_off() {
    let store = Arc::new(MemoryStore::new());
    let clock = TestClock::at("2026-03-01T00:00:00Z");
    let broker = Arc::new(Scripted::new("broker", None));
    let relay = relay(&store, vec![broker.clone()], &clock, "a");
    write(&store, 6).await;

    broker.fail_after(2);
    let round = relay.round().await.unwrap();
    assert_eq!(
        (round.leader, round.delivered, round.failures),
        (true, 2, 1)
    );
    let cursor = store.cursor("broker").await.unwrap();
    assert_eq!(cursor.delivered_through, 2);
    assert_eq!(cursor.attempts, 1);
    assert!(cursor.next_attempt_at.unwrap() > clock.now(), "backs off");
    assert_eq!(relay.status().failing.len(), 1, "health says degraded");

    // Not due yet: nothing is sent.
    let round = relay.round().await.unwrap();
    assert_eq!(round.delivered, 0);
    clock.advance(Duration::from_secs(2));
    broker.fail_after(0);
    relay.round().await.unwrap();
    let cursor = store.cursor("broker").await.unwrap();
    assert_eq!((cursor.delivered_through, cursor.attempts), (2, 2));
    let first_delay = Duration::from_secs(1);
    assert!(
        cursor.next_attempt_at.unwrap().as_millis() - clock.now().as_millis()
            >= i64::try_from(first_delay.as_millis()).unwrap(),
        "the second delay is at least the first base delay (doubling, jitter 50-100 %)"
    );

    // A broker is never given up on: an hour later it still holds its place.
    clock.advance(Duration::from_secs(3600));
    while relay.round().await.unwrap().more {}
    relay.round().await.unwrap();
    assert_eq!(broker.received(), [1, 2, 3, 4, 5, 6]);
    assert!(relay.status().failing.is_empty());
    assert!(store
        .failed_deliveries("broker", 0, 10)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn an_endpoint_past_its_horizon_gives_the_event_up_and_goes_on() {
    let store = Arc::new(MemoryStore::new());
    let clock = TestClock::at("2026-03-01T00:00:00Z");
    let hook = Arc::new(Scripted::new("webhook:a", Some(Duration::from_secs(60))));
    let relay = relay(&store, vec![hook.clone()], &clock, "a");
    write(&store, 3).await;

    for _ in 0..4 {
        hook.fail_after(0);
    }
    relay.round().await.unwrap();
    clock.advance(Duration::from_secs(30));
    relay.round().await.unwrap();
    clock.advance(Duration::from_secs(31));
    // 61 s after the first failure: given up on, recorded, and the next ones go.
    let round = relay.round().await.unwrap();
    assert_eq!(round.gave_up, 1);
    let failed = store.failed_deliveries("webhook:a", 0, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!((failed[0].sequence, failed[0].attempts), (1, 3));
    hook.script.lock().unwrap().clear();
    relay.round().await.unwrap();
    assert_eq!(hook.received(), [2, 3]);
    assert_eq!(
        store.cursor("webhook:a").await.unwrap().delivered_through,
        3
    );
}

#[tokio::test]
async fn retention_waits_for_every_publisher() {
    let store = Arc::new(MemoryStore::new());
    let clock = TestClock::at("2026-06-01T00:00:00Z");
    let slow = Arc::new(Scripted::new("slow", None));
    let relay = relay(&store, vec![slow.clone()], &clock, "a");
    write(&store, 3).await; // occurred in March: older than the 7-day retention
    slow.fail_after(1);
    relay.round().await.unwrap();
    let page = store.events_after(0, 10).await.unwrap();
    assert_eq!(page.pruned_through, 1, "only what the publisher has");
    assert_eq!(page.events.len(), 2);
    assert_eq!(relay.status().backlog.undelivered, 2);
}

#[tokio::test]
async fn relays_racing_for_the_lease_deliver_in_order() {
    let store = Arc::new(MemoryStore::new());
    let clock = TestClock::at("2026-03-01T00:00:00Z");
    let received: Arc<Mutex<Vec<u64>>> = Arc::default();
    let mut relays = Vec::new();
    for holder in ["a", "b", "c"] {
        let mut publisher = Scripted::new("broker", None);
        publisher.received = received.clone();
        publisher.pause = Duration::from_millis(1);
        let mut config = RelayConfig::new(holder);
        config.lease_ttl = Duration::from_millis(30);
        relays.push(Arc::new(EventRelay::new(
            store.clone(),
            vec![Arc::new(publisher)],
            clock.clone(),
            config,
        )));
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for _ in 0..20 {
                write(&store, 5).await;
                tokio::task::yield_now().await;
            }
        })
    };
    let tasks: Vec<_> = relays
        .iter()
        .enumerate()
        .map(|(i, relay)| {
            let (relay, clock) = (relay.clone(), clock.clone());
            tokio::spawn(async move {
                for round in 0..400 {
                    relay.round().await.unwrap();
                    // Now and then this relay stalls past its lease, and another takes over.
                    if (round + i) % 37 == 0 {
                        clock.advance(Duration::from_millis(40));
                    }
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    writer.await.unwrap();
    for t in tasks {
        t.await.unwrap();
    }
    for relay in &relays {
        clock.advance(Duration::from_millis(40));
        while relay.round().await.unwrap().more {}
    }
    // What a consumer sees once it drops the ids it already has: every event, in order.
    // (A relay that stalled past its lease may repeat what its successor also sends;
    // a cursor never moves over an unconfirmed event, so nothing new jumps ahead.)
    let all = received.lock().unwrap().clone();
    let mut first_seen = Vec::new();
    for s in all {
        if !first_seen.contains(&s) {
            first_seen.push(s);
        }
    }
    assert_eq!(
        first_seen,
        (1..=100).collect::<Vec<_>>(),
        "out of order or missing"
    );
}
