//! Events end to end: the feed, RabbitMQ (the machine's broker, `FIDO_TEST_AMQP_URL`),
//! webhooks, a relay killed with SIGKILL, two relays racing, and a broker outage.
//!
//! Every test publishes to an exchange of its own, so tests never see each other's
//! messages. The outage test starts a RabbitMQ node of its own (own name, ports and data
//! folder), stops it during a write storm and starts it again; the machine's broker is
//! never stopped.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use awc::http::StatusCode;
use fido_events::Event;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties, ExchangeKind};
use serde_json::{json, Value};

use fido_api::settings::{RelayMode, Secret};

use crate::helpers::{fresh_user, settings_for, spawn_app, spawn_with, TestApp};

fn amqp_url() -> Option<String> {
    fido_testkit::service_url("FIDO_TEST_AMQP_URL")
}

/// Test settings on `dir` with the `events` section changed by `change`.
fn with_events(
    dir: &std::path::Path,
    change: impl FnOnce(&mut fido_api::settings::EventSettings),
) -> fido_api::Settings {
    let mut settings = settings_for(dir, &[]);
    change(&mut settings.events);
    settings
}

/// What a consumer that drops ids it already has sees: each sequence at its first arrival.
fn first_arrivals(received: Vec<u64>) -> Vec<u64> {
    let mut seen = HashSet::new();
    received.into_iter().filter(|s| seen.insert(*s)).collect()
}

fn unique(prefix: &str) -> String {
    format!("{prefix}.{}", fresh_user())
}

/// Every event the feed holds, from the start.
async fn feed(app: &TestApp) -> Vec<Value> {
    app.settled().await;
    let mut all = Vec::new();
    let mut after = 0;
    loop {
        let r = app
            .get_owned(format!("/api/v1/events?after={after}&limit=1000"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let events = r.data()["events"].as_array().unwrap().clone();
        if events.is_empty() {
            return all;
        }
        after = r.data()["next_after"].as_u64().unwrap();
        all.extend(events);
    }
}

/// A queue bound to every routing key of `exchange`, collecting what arrives.
struct Consumer {
    received: Arc<Mutex<Vec<Event>>>,
    _connection: Connection,
}

impl Consumer {
    async fn start(url: &str, exchange: &str) -> Self {
        Self::consume(url, exchange, None).await
    }

    /// Reads from a durable queue named `queue` (declared if missing).
    async fn start_durable(url: &str, exchange: &str, queue: &str) -> Self {
        Self::consume(url, exchange, Some(queue)).await
    }

    async fn consume(url: &str, exchange: &str, durable: Option<&str>) -> Self {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = connection.create_channel().await.unwrap();
        channel
            .exchange_declare(
                exchange.into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let options = match durable {
            Some(_) => QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            None => QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
        };
        let queue = channel
            .queue_declare(durable.unwrap_or("").into(), options, FieldTable::default())
            .await
            .unwrap();
        channel
            .queue_bind(
                queue.name().as_str().into(),
                exchange.into(),
                "transaction.*".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let mut consumer = channel
            .basic_consume(
                queue.name().as_str().into(),
                "fido-test".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await
            .unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        tokio::spawn(async move {
            while let Some(Ok(delivery)) = consumer.next().await {
                let event: Event = serde_json::from_slice(&delivery.data).unwrap();
                assert_eq!(
                    delivery
                        .properties
                        .message_id()
                        .as_ref()
                        .map(|s| s.as_str()),
                    Some(event.id.as_str()),
                    "message_id is the event id"
                );
                assert_eq!(delivery.routing_key.as_str(), event.kind.as_str());
                assert_eq!(delivery.properties.delivery_mode(), &Some(2), "persistent");
                sink.lock().unwrap().push(event);
                let _ = delivery.ack(BasicAckOptions::default()).await;
            }
        });
        Self {
            received,
            _connection: connection,
        }
    }

    fn sequences(&self) -> Vec<u64> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.sequence)
            .collect()
    }

    /// Waits until every sequence up to `last` has arrived (duplicates allowed).
    async fn wait_for(&self, last: u64, within: Duration) -> Vec<u64> {
        let deadline = Instant::now() + within;
        loop {
            let seen: HashSet<u64> = self.sequences().into_iter().collect();
            if (1..=last).all(|s| seen.contains(&s)) {
                return self.sequences();
            }
            assert!(
                Instant::now() < deadline,
                "missing events: have {} of {last}",
                seen.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Creates, updates and deletes: `n` creates, every third updated, every fifth deleted.
async fn mixed_writes(app: &TestApp, n: usize) -> usize {
    let user = fresh_user();
    let mut writes = 0;
    for i in 0..n {
        let created = app.create(&user, 10.0 + i as f64, "credit", None).await;
        writes += 1;
        let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
        if i % 3 == 0 {
            let r = app
                .patch_json(
                    &path,
                    &json!({"transaction_amount": 1.25, "full_name": "Grace Hopper"}),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK);
            writes += 1;
        }
        if i % 5 == 0 {
            assert_eq!(app.delete(&path).await.status, StatusCode::OK);
            writes += 1;
        }
    }
    writes
}

#[actix_web::test]
async fn the_feed_has_every_change_in_order_and_no_names() {
    let app = spawn_app().await;
    let user = fresh_user();
    let created = app.create(&user, 12.5, "credit", None).await;
    let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
    app.patch_json(
        &path,
        &json!({"transaction_amount": 20.75, "full_name": "Grace Hopper"}),
    )
    .await;
    app.delete(&path).await;

    app.settled().await;
    let r = app.get("/api/v1/events?after=0&limit=10").await;
    assert_eq!(r.status, StatusCode::OK);
    let text = r.body.to_string();
    assert!(
        !text.contains("Hopper") && !text.contains("full_name\":\""),
        "{text}"
    );
    let events = r.data()["events"].as_array().unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "transaction.created",
            "transaction.updated",
            "transaction.deleted"
        ]
    );
    let sequences: Vec<u64> = events
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2, 3]);
    assert_eq!(r.data()["next_after"], 3);
    assert_eq!(r.data()["last_sequence"], 3);
    let updated = &events[1];
    assert_eq!(updated["data"]["transaction_amount"], 20.75);
    assert_eq!(updated["data"]["transaction_amount_cents"], 2075);
    assert_eq!(updated["previous"]["transaction_amount"], 12.5);
    assert_eq!(updated["previous"]["version"], 1);
    assert_eq!(
        updated["changed_fields"],
        json!(["full_name", "transaction_amount"])
    );
    assert_eq!(
        events[2]["data"]["version"], 2,
        "a deletion carries the resource before"
    );
    for e in events {
        assert_eq!(e["schema_version"], 1);
        assert_eq!(e["transaction_id"], created["id"]);
        assert_eq!(e["user_id"], user.as_str());
        // Every event decodes into the consumers' crate's types.
        serde_json::from_value::<Event>(e.clone()).unwrap();
    }

    // `make test` validates these against docs/events.schema.json.
    if let Some(path) = std::env::var_os("FIDO_EVENT_SAMPLES") {
        std::fs::write(path, serde_json::to_vec_pretty(events).unwrap()).unwrap();
    }

    let next = app.get("/api/v1/events?after=3").await;
    assert_eq!(next.data()["events"], json!([]));
    assert_eq!(
        next.data()["next_after"],
        3,
        "nothing new: the cursor stays"
    );
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("after=-1", "after"),
        ("after=x", "after"),
        ("cursor=1", "cursor"),
    ] {
        let r = app.get_owned(format!("/api/v1/events?{query}")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(r.error_fields(), [field], "{query}");
    }
    // A cursor beyond the last sequence is refused, not answered with nothing (which would
    // skip the events that take those numbers later); a number past 63 bits says so.
    let ahead = app.get("/api/v1/events?after=4").await;
    assert_eq!(ahead.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(ahead.error_fields(), ["after"]);
    assert!(
        ahead.body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .starts_with("must be at most 3"),
        "{}",
        ahead.body
    );
    let huge = app.get("/api/v1/events?after=18446744073709551615").await;
    assert_eq!(huge.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        huge.body["errors"][0]["message"],
        "must be at most 9223372036854775807 (sequences are 63-bit)"
    );
}

#[actix_web::test]
async fn a_cursor_older_than_retention_is_gone_with_the_way_forward() {
    use fido_domain::{EventLog, Timestamp, TransactionStore};
    let dir = tempfile::tempdir().unwrap();
    if crate::helpers::on_mongodb() {
        return; // the store-level check of retention runs on MongoDB in its contract suite
    }
    // Three old events, removed by retention (no publisher holds them back).
    let store = fido_store_sqlite::SqliteStore::open(fido_store_sqlite::SqliteConfig::new(
        dir.path().join("fido.db"),
    ))
    .await
    .unwrap();
    let user = fido_domain::UserId::parse(&fresh_user()).unwrap();
    for i in 0..3 {
        let at = Timestamp::from_millis(1_600_000_000_000 + i).unwrap();
        let mut r = fido_testkit::fixtures::record(
            fido_domain::TransactionId::generate(at),
            user,
            at,
            fido_testkit::fixtures::amount("1"),
            fido_domain::TransactionType::Credit,
        );
        r.full_name = fido_domain::EncryptedName::new("unused");
        store
            .insert(r, fido_testkit::fixtures::actor())
            .await
            .unwrap();
    }
    assert_eq!(store.prune(Timestamp::now(), &[]).await.unwrap(), 3);
    drop(store);

    let app = spawn_with(settings_for(dir.path(), &[])).await;
    let r = app.get("/api/v1/events?after=1").await;
    assert_eq!(r.status, StatusCode::GONE);
    assert_eq!(r.error_fields(), ["after"]);
    assert!(r.body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("at least 3"));
    let r = app.get("/api/v1/events?after=3").await;
    assert_eq!(r.status, StatusCode::OK);
    app.create(&fresh_user(), 1.0, "debit", None).await;
    let r = app.get("/api/v1/events?after=3").await;
    assert_eq!(r.data()["events"][0]["sequence"], 4);
}

#[actix_web::test]
async fn switched_off_events_write_nothing_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_with(with_events(dir.path(), |e| e.enabled = false)).await;
    app.create(&fresh_user(), 1.0, "debit", None).await;
    let r = app.get("/api/v1/events").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body["message"].as_str().unwrap().contains("switched off"));
}

#[actix_web::test]
async fn rabbitmq_gets_every_event_in_order_and_agrees_with_the_feed() {
    let Some(url) = amqp_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let exchange = unique("fido.test");
    let consumer = Consumer::start(&url, &exchange).await;
    let app = spawn_with(with_events(dir.path(), |e| {
        e.amqp_url = Some(Secret::new(url.clone()));
        e.amqp_exchange = exchange.clone();
    }))
    .await;
    // Concurrent writers, so events of different users interleave.
    let writes: usize = futures_util::future::join_all((0..4).map(|_| mixed_writes(&app, 15)))
        .await
        .into_iter()
        .sum();
    let received = consumer
        .wait_for(writes as u64, Duration::from_secs(30))
        .await;
    let mut sorted = received.clone();
    sorted.sort_unstable();
    assert_eq!(received, sorted, "delivered in sequence order");
    let from_feed = feed(&app).await;
    assert_eq!(from_feed.len(), writes);
    let by_broker: Vec<Event> = consumer.received.lock().unwrap().clone();
    for (fed, brokered) in from_feed.iter().zip(&by_broker) {
        let fed: Event = serde_json::from_value(fed.clone()).unwrap();
        assert_eq!(
            &fed, brokered,
            "the feed and the broker agree event for event"
        );
    }
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.body["events"]["status"], "ok", "{}", ready.body);
}

/// A RabbitMQ node of the test's own (its own node name, ports and data folder), so it
/// can be stopped and started again without touching the machine's broker. Stopped when
/// dropped.
struct PrivateBroker {
    dir: tempfile::TempDir,
    node: String,
    port: u16,
    dist: u16,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivateBroker {
    /// `None` when this machine cannot run one (no rabbitmq-server, or not root).
    fn new() -> Option<Self> {
        let available = std::process::Command::new("sh")
            .args(["-c", "command -v rabbitmq-server && command -v rabbitmqctl && [ \"$(id -u)\" = 0 ] && id -u rabbitmq"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !available {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but no private RabbitMQ can be started here"
            );
            eprintln!("skipping: a private RabbitMQ needs rabbitmq-server and root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        std::fs::write(
            dir.path().join("rabbitmq.conf"),
            format!(
                "listeners.tcp.1 = 127.0.0.1:{port}\nmanagement.tcp.port = {}\n",
                free_port()
            ),
        )
        .unwrap();
        // The server runs as the rabbitmq user: its folder must be that user's.
        let owned = std::process::Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(owned.success());
        Some(Self {
            node: format!("fidotest{port}@localhost"),
            port,
            dist: free_port(),
            dir,
        })
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn start(&self) {
        let d = self.dir.path();
        let status = std::process::Command::new("rabbitmq-server")
            .arg("-detached")
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist.to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("plugins"))
            .env("RABBITMQ_PID_FILE", d.join("pid"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "rabbitmq-server -detached failed");
        let deadline = Instant::now() + Duration::from_secs(90);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the private broker did not start (logs in {})",
                d.display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Stops the node (the broker is down until `start`).
    fn stop(&self) {
        let _ = std::process::Command::new("rabbitmqctl")
            .args(["-n", &self.node, "stop"])
            .env("RABBITMQ_NODENAME", &self.node)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "the private broker did not stop");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for PrivateBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

#[actix_web::test]
async fn a_broker_outage_during_a_write_storm_loses_nothing() {
    let Some(broker) = PrivateBroker::new() else {
        return;
    };
    broker.start();
    let url = broker.url();
    let dir = tempfile::tempdir().unwrap();
    let exchange = unique("fido.test");
    // A durable queue: it outlives the broker's restart with the messages in it.
    let queue = unique("fido.test.q");
    let consumer = Consumer::start_durable(&url, &exchange, &queue).await;
    let app = spawn_with(with_events(dir.path(), |e| {
        e.amqp_url = Some(Secret::new(url.clone()));
        e.amqp_exchange = exchange.clone();
        e.amqp_timeout_ms = 1000;
    }))
    .await;
    let before = mixed_writes(&app, 5).await;
    consumer
        .wait_for(before as u64, Duration::from_secs(20))
        .await;

    broker.stop();
    // Every write still succeeds while the broker is down.
    let during: usize = futures_util::future::join_all((0..4).map(|_| mixed_writes(&app, 10)))
        .await
        .into_iter()
        .sum();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let ready = app.get("/health/ready").await;
    assert_eq!(ready.status, StatusCode::OK, "degraded, never failing");
    assert_eq!(ready.body["events"]["status"], "degraded", "{}", ready.body);
    assert!(ready.body["events"]["backlog"].as_u64().unwrap() > 0);

    broker.start();
    // The consumer's connection died with the broker: read on from the same queue.
    let received_before = consumer.sequences();
    let again = Consumer::start_durable(&url, &exchange, &queue).await;
    let total = (before + during) as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut all = received_before.clone();
    loop {
        all.truncate(received_before.len());
        all.extend(again.sequences());
        let seen: HashSet<u64> = all.iter().copied().collect();
        if (1..=total).all(|s| seen.contains(&s)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "missing events: have {} of {total}",
            seen.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let first_seen = first_arrivals(all);
    assert_eq!(
        first_seen,
        (1..=total).collect::<Vec<_>>(),
        "in order, none missing"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = app.get("/health/ready").await.body;
    while (body["events"]["status"] != "ok" || body["events"]["backlog"] != 0)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        body = app.get("/health/ready").await.body;
    }
    assert_eq!(body["events"]["status"], "ok", "{body}");
    assert_eq!(body["events"]["backlog"], 0, "{body}");
}

#[actix_web::test]
async fn two_relays_racing_for_the_lease_deliver_in_order() {
    let Some(url) = amqp_url() else { return };
    if crate::helpers::on_mongodb() {
        // Both apps share the data folder's store; on MongoDB they share the database
        // the same way, so the race is the same.
    }
    let dir = tempfile::tempdir().unwrap();
    let exchange = unique("fido.test");
    let consumer = Consumer::start(&url, &exchange).await;
    let settings = with_events(dir.path(), |e| {
        e.amqp_url = Some(Secret::new(url.clone()));
        e.amqp_exchange = exchange.clone();
        e.relay_lease_secs = 2;
        e.amqp_timeout_ms = 1000;
        e.amqp_batch_size = 5;
    });
    let first = spawn_with(settings.clone()).await;
    let second = spawn_with(settings).await;
    let writes: usize = futures_util::future::join_all(
        [&first, &second, &first, &second].map(|app| mixed_writes(app, 10)),
    )
    .await
    .into_iter()
    .sum();
    // The leader stops; the other takes the lease over and finishes.
    first.stop().await;
    let more = mixed_writes(&second, 5).await;
    let received = consumer
        .wait_for((writes + more) as u64, Duration::from_secs(60))
        .await;
    // What a consumer deduplicating by id sees: every event once, in sequence order.
    let first_seen = first_arrivals(received);
    assert_eq!(
        first_seen,
        (1..=(writes + more) as u64).collect::<Vec<_>>(),
        "out of order or missing"
    );
}

#[actix_web::test]
async fn a_relay_killed_mid_batch_loses_nothing_after_restart() {
    let Some(url) = amqp_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let exchange = unique("fido.test");
    let consumer = Consumer::start(&url, &exchange).await;
    // The API writes; a separate `fido worker` relays.
    let app = spawn_with(with_events(dir.path(), |e| e.relay = RelayMode::Off)).await;
    let writes = mixed_writes(&app, 60).await;
    // The worker opens the app's store: its SQLite file, or its MongoDB database.
    let (db_uri, database) = if crate::helpers::on_mongodb() {
        (
            std::env::var("MONGODB_URI").unwrap(),
            app.settings.store.database.clone().unwrap_or_default(),
        )
    } else {
        (
            format!("sqlite://{}/fido.db", dir.path().display()),
            String::new(),
        )
    };
    let worker = |health_port: u16| {
        let mut command = crate::helpers::fido_binary();
        command.arg("worker");
        if !database.is_empty() {
            command.env("FIDO__STORE__DATABASE", &database);
        }
        command
            .env("DB_URI", &db_uri)
            .env("FIDO__SECURITY__DATA_DIR", dir.path())
            .env("FIDO__EVENTS__AMQP_URL", &url)
            .env("FIDO__EVENTS__AMQP_EXCHANGE", &exchange)
            .env("FIDO__EVENTS__AMQP_BATCH_SIZE", "3")
            .env("FIDO__EVENTS__RELAY_LEASE_SECS", "2")
            .env("FIDO__EVENTS__AMQP_TIMEOUT_MS", "1000")
            .env("FIDO__EVENTS__WORKER_HEALTH_HOST", "127.0.0.1")
            .env("FIDO__EVENTS__WORKER_HEALTH_PORT", health_port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let mut first = worker(free_port());
    // Kill it once some, not all, events are out.
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumer.sequences().len() < 5 {
        assert!(Instant::now() < deadline, "the worker delivered nothing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let at_kill = consumer.sequences().len();
    let health = free_port();
    let mut second = worker(health);
    let received = consumer
        .wait_for(writes as u64, Duration::from_secs(60))
        .await;
    assert!(at_kill < writes || received.len() >= writes);
    let seen: HashSet<u64> = received.iter().copied().collect();
    assert_eq!(seen.len(), writes, "nothing missing (duplicates allowed)");
    // The restarted worker answers its health check, and stops cleanly on SIGTERM.
    let ready = awc::Client::default()
        .get(format!("http://127.0.0.1:{health}/health/ready"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["store"], "ok", "{ready}");
    assert!(ready["events"].is_object(), "{ready}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &second.id().to_string()])
        .status();
    let status = second.wait().unwrap();
    assert!(
        status.success(),
        "SIGTERM ends the worker cleanly: {status}"
    );
}

/// A webhook receiver that answers 500, then too late, then 200, and checks signatures.
#[actix_web::test]
async fn a_failing_webhook_is_retried_until_it_answers_2xx() {
    use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
    use base64::Engine as _;
    use hmac::{Hmac, Mac};

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let calls = Arc::new(AtomicUsize::new(0));
    let accepted: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (c, a) = (calls.clone(), accepted.clone());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = HttpServer::new(move || {
        let (calls, accepted) = (c.clone(), a.clone());
        App::new().route(
            "/hook",
            web::post().to(move |req: HttpRequest, body: web::Bytes| {
                let (calls, accepted) = (calls.clone(), accepted.clone());
                async move {
                    let header = |name: &str| {
                        req.headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let (id, ts, sig) = (
                        header("webhook-id"),
                        header("webhook-timestamp"),
                        header("webhook-signature"),
                    );
                    let key = base64::engine::general_purpose::STANDARD
                        .decode(SECRET.trim_start_matches("whsec_"))
                        .unwrap();
                    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
                    mac.update(format!("{id}.{ts}.").as_bytes());
                    mac.update(&body);
                    let expected = format!(
                        "v1,{}",
                        base64::engine::general_purpose::STANDARD
                            .encode(mac.finalize().into_bytes())
                    );
                    assert_eq!(sig, expected, "signature verifies");
                    let now = fido_domain::Timestamp::now().as_millis() / 1000;
                    assert!((now - ts.parse::<i64>().unwrap()).abs() < 60);
                    match calls.fetch_add(1, Ordering::SeqCst) {
                        0 => HttpResponse::InternalServerError().finish(),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(1500)).await;
                            HttpResponse::Ok().finish()
                        }
                        _ => {
                            let event: Value = serde_json::from_slice(&body).unwrap();
                            assert_eq!(event["id"].as_str(), Some(id.as_str()));
                            accepted.lock().unwrap().push(event);
                            HttpResponse::NoContent().finish()
                        }
                    }
                }
            }),
        )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let receiver_handle = receiver.handle();
    actix_web::rt::spawn(receiver);

    let dir = tempfile::tempdir().unwrap();
    let hook = format!("http://127.0.0.1:{port}/hook");
    let app = spawn_with(with_events(dir.path(), |e| {
        e.webhook_url = Some(hook.clone());
        e.webhook_secret = Some(Secret::new(SECRET));
        e.webhook_timeout_ms = 500;
    }))
    .await;
    let created = app.create(&fresh_user(), 3.5, "credit", None).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while accepted.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "never delivered ({} calls)",
            calls.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(calls.load(Ordering::SeqCst) >= 3, "500, timeout, then 200");
    let event = accepted.lock().unwrap()[0].clone();
    assert_eq!(event["transaction_id"], created["id"]);
    assert_eq!(event["type"], "transaction.created");
    receiver_handle.stop(true).await;
}

/// Issue 25: three API instances on one MongoDB database (relay off, as deployed) under
/// concurrent creates, updates and deletes of shared users, a `fido worker` numbering and
/// relaying — SIGKILLed in the middle of the load and started again. No write fails; the
/// feed holds exactly one event per acknowledged change, each transaction's in version
/// order; a reader polling the feed throughout never sees a new event at or below one it
/// passed; RabbitMQ ends up with the feed, event for event.
#[actix_web::test]
async fn three_instances_one_feed_through_a_killed_sequencer() {
    if !crate::helpers::on_mongodb() {
        return; // one database shared by several processes: the MongoDB topology
    }
    let Some(url) = amqp_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let exchange = unique("fido.test");
    let consumer = Consumer::start(&url, &exchange).await;
    let base = with_events(dir.path(), |e| e.relay = RelayMode::Off);
    let database = base.store.database.clone().unwrap();
    let mut apps = Vec::new();
    for _ in 0..3 {
        let mut settings = base.clone();
        // Each instance caches for itself: reads are not what this test checks.
        settings.cache.enabled = false;
        apps.push(spawn_with(settings).await);
    }
    let db_uri = std::env::var("MONGODB_URI").unwrap();
    let worker = || {
        let health = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        crate::helpers::fido_binary()
            .arg("worker")
            .env("DB_URI", &db_uri)
            .env("FIDO__STORE__DATABASE", &database)
            .env("FIDO__SECURITY__DATA_DIR", dir.path())
            .env("FIDO__EVENTS__AMQP_URL", &url)
            .env("FIDO__EVENTS__AMQP_EXCHANGE", &exchange)
            .env("FIDO__EVENTS__RELAY_LEASE_SECS", "2")
            .env("FIDO__EVENTS__AMQP_TIMEOUT_MS", "1000")
            .env("FIDO__EVENTS__WORKER_HEALTH_HOST", "127.0.0.1")
            .env("FIDO__EVENTS__WORKER_HEALTH_PORT", health.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut first = Reaped(worker());
    let users = [fresh_user(), fresh_user(), fresh_user()];
    let loading = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // A reader follows the feed through one instance for the whole load.
    let reader = {
        let app = apps[0].base.clone();
        let loading = loading.clone();
        let client = apps[0].client.clone();
        actix_web::rt::spawn(async move {
            let mut seen = 0u64;
            let mut pages = 0;
            while loading.load(Ordering::Acquire) {
                let mut r = client
                    .get(format!("{app}/api/v1/events?after={seen}&limit=1000"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
                let body: Value = r.json().limit(64 << 20).await.unwrap();
                for e in body["data"]["events"].as_array().unwrap() {
                    let s = e["sequence"].as_u64().unwrap();
                    assert!(s > seen, "new event {s} at or below {seen}, already passed");
                    seen = s;
                }
                pages += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (seen, pages)
        })
    };
    // Each instance: 2 writers, two per user from different instances; each creates,
    // updates twice and deletes every other one.
    let changes = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        for w in 0..2 {
            let (base, client) = (app.base.clone(), app.client.clone());
            let user = users[(i + w) % users.len()].clone();
            let changes = changes.clone();
            writers.push(actix_web::rt::spawn(async move {
                for k in 0..8 {
                    let mut r = client
                        .post(format!("{base}/api/v1/transactions"))
                        .send_json(&json!({"user_id": user, "full_name": "Ada Lovelace",
                            "transaction_amount": 10 + k, "transaction_type": "credit"}))
                        .await
                        .unwrap();
                    let body: Value = r.json().await.unwrap();
                    assert_eq!(r.status(), StatusCode::CREATED, "create: {body}");
                    changes.fetch_add(1, Ordering::Relaxed);
                    let path = format!(
                        "{base}/api/v1/transactions/{}",
                        body["data"]["id"].as_str().unwrap()
                    );
                    for amount in [20.5, 30.25] {
                        let r = client
                            .patch(&path)
                            .send_json(&json!({"transaction_amount": amount}))
                            .await
                            .unwrap();
                        assert_eq!(r.status(), StatusCode::OK, "update");
                        changes.fetch_add(1, Ordering::Relaxed);
                    }
                    if k % 2 == 0 {
                        let r = client.delete(&path).send().await.unwrap();
                        assert_eq!(r.status(), StatusCode::OK, "delete");
                        changes.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
    }
    // SIGKILL the sequencer once the load is under way; start another.
    let deadline = Instant::now() + Duration::from_secs(60);
    while changes.load(Ordering::Relaxed) < 40 {
        assert!(Instant::now() < deadline, "the load did not get under way");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();
    let _second = Reaped(worker());
    for w in writers {
        w.await.expect("every write of every instance succeeded");
    }
    let total = changes.load(Ordering::Relaxed);
    assert_eq!(total, 3 * 2 * (8 * 3 + 4));
    // A sequencer killed inside its transaction leaves that transaction open on the server
    // until the server's transaction lifetime runs out (60 s by default): its successor
    // waits for it (docs/events.md). Writes went on meanwhile.
    let settling = Instant::now();
    apps[1].settled_within(Duration::from_secs(90)).await;
    println!(
        "feed settled {:.1} s after the load",
        settling.elapsed().as_secs_f64()
    );
    loading.store(false, Ordering::Release);
    let (_, pages) = reader.await.expect("the reader saw the feed in order");
    assert!(pages > 1, "the reader polled during the load");

    let events = feed(&apps[2]).await;
    assert_eq!(events.len(), total, "one event per acknowledged change");
    let sequences: Vec<u64> = events
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, (1..=total as u64).collect::<Vec<_>>());
    let mut versions: std::collections::HashMap<String, Vec<(u64, String)>> =
        std::collections::HashMap::new();
    for e in &events {
        versions
            .entry(e["transaction_id"].as_str().unwrap().to_owned())
            .or_default()
            .push((
                e["data"]["version"].as_u64().unwrap(),
                e["type"].as_str().unwrap().to_owned(),
            ));
    }
    for (id, history) in &versions {
        let kinds: Vec<&str> = history.iter().map(|(_, k)| k.as_str()).collect();
        let numbers: Vec<u64> = history.iter().map(|(v, _)| *v).collect();
        assert_eq!(&numbers[..3], [1, 2, 3], "{id}: {history:?}");
        assert_eq!(
            &kinds[..3],
            [
                "transaction.created",
                "transaction.updated",
                "transaction.updated"
            ],
            "{id}"
        );
        if let Some((v, kind)) = history.get(3) {
            assert_eq!((*v, kind.as_str()), (3, "transaction.deleted"), "{id}");
        }
    }
    // RabbitMQ: the feed, event for event (duplicates after the kill dropped by id).
    let received = consumer
        .wait_for(total as u64, Duration::from_secs(60))
        .await;
    assert_eq!(first_arrivals(received), sequences);
    let by_sequence: std::collections::HashMap<u64, String> = consumer
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|e| (e.sequence, e.id.as_str().to_owned()))
        .collect();
    for e in &events {
        assert_eq!(
            by_sequence[&e["sequence"].as_u64().unwrap()],
            e["id"].as_str().unwrap(),
            "the same event at the same sequence"
        );
    }
}

/// A child process killed when the test ends, passed or failed.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Issue 27: a webhook that takes 3.5 s to answer holds no other publisher back —
/// RabbitMQ gets each event well within a second of its 201 (each publisher advances on
/// its own lane), while the webhook still receives every event.
#[actix_web::test]
async fn a_slow_webhook_never_delays_rabbitmq() {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let Some(url) = amqp_url() else { return };
    let hooked = Arc::new(AtomicUsize::new(0));
    let h = hooked.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let receiver = HttpServer::new(move || {
        let hooked = h.clone();
        App::new().route(
            "/hook",
            web::post().to(move || {
                let hooked = hooked.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(3500)).await;
                    hooked.fetch_add(1, Ordering::SeqCst);
                    HttpResponse::NoContent().finish()
                }
            }),
        )
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    let receiver_handle = receiver.handle();
    actix_web::rt::spawn(receiver);

    let dir = tempfile::tempdir().unwrap();
    let exchange = unique("fido.test");
    let consumer = Consumer::start(&url, &exchange).await;
    let app = spawn_with(with_events(dir.path(), |e| {
        e.amqp_url = Some(Secret::new(url.clone()));
        e.amqp_exchange = exchange.clone();
        e.webhook_url = Some(format!("http://127.0.0.1:{port}/hook"));
        e.webhook_secret = Some(Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
        e.webhook_timeout_ms = 10_000;
    }))
    .await;
    let user = fresh_user();
    for n in 1..=3u64 {
        app.create(&user, 1.0, "credit", None).await;
        let acknowledged = Instant::now();
        consumer.wait_for(n, Duration::from_secs(10)).await;
        let delay = acknowledged.elapsed();
        assert!(
            delay < Duration::from_millis(1500),
            "event {n} reached RabbitMQ {delay:?} after its 201, behind the slow webhook"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while hooked.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "the webhook got every event");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver_handle.stop(true).await;
}

/// Issue 25: the exchange is declared when the relay starts, before any event, so a
/// consumer can bind its queue first and miss nothing.
#[actix_web::test]
async fn the_exchange_exists_before_the_first_event() {
    let Some(url) = amqp_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let exchange = unique("fido.test");
    let app = spawn_with(with_events(dir.path(), |e| {
        e.amqp_url = Some(Secret::new(url.clone()));
        e.amqp_exchange = exchange.clone();
    }))
    .await;
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        // A passive declaration fails (and closes the channel) while the exchange is missing.
        let channel = connection.create_channel().await.unwrap();
        let found = channel
            .exchange_declare(
                exchange.as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    passive: true,
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        if found.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the exchange was not declared at start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let feed = app.get("/api/v1/events").await;
    assert_eq!(
        feed.data()["last_sequence"],
        0,
        "no event was needed for it"
    );
}
