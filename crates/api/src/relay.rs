//! The event relay of a process: its publishers (from the settings), and the loop that runs
//! rounds until asked to stop — inside `fido serve` (the embedded default) or as
//! `fido worker`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fido_domain::{EventLog, EventPublisher, EventRelay, LaneStep, RelayConfig, SystemClock};
use fido_events_amqp::AmqpPublisher;
use fido_events_webhook::{WebhookClient, WebhookEndpoint, WebhookPublisher};
use fido_observability::{names, MeteredPublisher};
use serde::Deserialize;
use tokio::sync::{watch, Notify};

use crate::error::{Error, Result};
use crate::settings::Settings;

/// One endpoint of `events.webhooks_file`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EndpointEntry {
    name: String,
    url: String,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    secret_file: Option<std::path::PathBuf>,
}

fn read_secret(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|source| Error::File {
            path: path.to_owned(),
            source,
        })
}

/// The webhook endpoints the settings name: `events.webhook_url` (as `default`) and every
/// entry of `events.webhooks_file`.
pub fn webhook_endpoints(settings: &Settings) -> Result<Vec<WebhookEndpoint>> {
    let events = &settings.events;
    let mut endpoints = Vec::new();
    if let Some(url) = events
        .webhook_url
        .as_deref()
        .filter(|u| !u.trim().is_empty())
    {
        let secret =
            match (&events.webhook_secret, &events.webhook_secret_file) {
                (Some(secret), _) => secret.expose().trim().to_owned(),
                (None, Some(path)) => read_secret(path)?,
                (None, None) => return Err(Error::Config(
                    "events.webhook_url needs events.webhook_secret or events.webhook_secret_file"
                        .into(),
                )),
            };
        endpoints.push(WebhookEndpoint::new("default", url.trim(), secret));
    }
    if let Some(path) = &events.webhooks_file {
        let text = read_secret(path)?;
        let entries: Vec<EndpointEntry> = serde_json::from_str(&text).map_err(|e| {
            Error::Config(format!(
                "events.webhooks_file {}: not a list of {{name, url, secret | secret_file}} (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            ))
        })?;
        for entry in entries {
            let secret = match (entry.secret, entry.secret_file) {
                (Some(secret), None) => secret,
                (None, Some(file)) => read_secret(&file)?,
                _ => {
                    return Err(Error::Config(format!(
                        "events.webhooks_file: webhook {} needs exactly one of secret, secret_file",
                        entry.name
                    )))
                }
            };
            endpoints.push(WebhookEndpoint::new(entry.name, entry.url, secret));
        }
    }
    for endpoint in &mut endpoints {
        endpoint.timeout = Duration::from_millis(events.webhook_timeout_ms);
        endpoint.retry_horizon = Duration::from_secs(events.webhook_retry_hours * 3600);
        endpoint.validate()?;
    }
    let mut names: Vec<&str> = endpoints.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    if names.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Config("two webhooks have the same name".into()));
    }
    Ok(endpoints)
}

/// The publishers the settings enable: RabbitMQ, and each webhook endpoint.
pub fn publishers(settings: &Settings) -> Result<Vec<Arc<dyn EventPublisher>>> {
    let mut publishers: Vec<Arc<dyn EventPublisher>> = Vec::new();
    if let Some(config) = settings.amqp_config() {
        config.validate()?;
        publishers.push(Arc::new(AmqpPublisher::new(config)));
    }
    let endpoints = webhook_endpoints(settings)?;
    if !endpoints.is_empty() {
        let client = WebhookClient::start().map_err(|source| Error::File {
            path: "webhook client thread".into(),
            source,
        })?;
        for endpoint in endpoints {
            publishers.push(Arc::new(WebhookPublisher::new(endpoint, client.clone())));
        }
    }
    if settings.metrics_enabled() {
        publishers = publishers
            .into_iter()
            .map(|p| Arc::new(MeteredPublisher::new(p)) as Arc<dyn EventPublisher>)
            .collect();
    }
    Ok(publishers)
}

/// A name for this process's relay: host, process id and a random part.
fn holder() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "fido".into());
    let mut random = [0u8; 4];
    let _ = getrandom::getrandom(&mut random);
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        u32::from_be_bytes(random)
    )
}

/// The relay over `log` with the settings' publishers.
pub fn build(settings: &Settings, log: Arc<dyn EventLog>) -> Result<Arc<EventRelay>> {
    let publishers = publishers(settings)?;
    let mut config = RelayConfig::new(holder());
    config.lease_ttl = Duration::from_secs(settings.events.relay_lease_secs);
    config.retention = Duration::from_secs(settings.events.retention_days * 24 * 3600);
    let relay = EventRelay::new(log, publishers, Arc::new(SystemClock), config);
    tracing::info!(
        publishers = ?relay.publisher_names(),
        holder = %relay.config().holder,
        "event relay ready"
    );
    Ok(Arc::new(relay))
}

/// The relay's backlog as gauges: what the publishers have not received, and what has
/// not yet entered the feed (no-ops when metrics are off).
fn record(relay: &EventRelay) {
    let backlog = relay.status().backlog;
    let now = fido_domain::Timestamp::now();
    metrics::gauge!(names::EVENTS_BACKLOG).set(backlog.undelivered as f64);
    metrics::gauge!(names::EVENTS_OLDEST_AGE).set(backlog.oldest_age_seconds(now).unwrap_or(0.0));
    metrics::gauge!(names::EVENTS_UNSEQUENCED).set(backlog.unsequenced as f64);
    metrics::gauge!(names::EVENTS_UNSEQUENCED_AGE)
        .set(backlog.oldest_unsequenced_age_seconds(now).unwrap_or(0.0));
}

/// Runs the relay until `stop` turns true: one task coordinates (lease, sequences,
/// retention) and one per publisher delivers, each at its own pace, so a slow publisher
/// holds no other back. Between steps a task waits for `poll` (the coordinator at most
/// 25 ms), or less when `commits` signals a new commit of this process.
/// On stop each task finishes its step under way, then the lease is given up so another
/// relay takes over at once.
pub async fn run(
    relay: Arc<EventRelay>,
    poll: Duration,
    commits: Option<Arc<Notify>>,
    stop: watch::Receiver<bool>,
) {
    // Bumped whenever new events may be in the feed: wakes the lanes.
    let (arrived, _) = watch::channel(0u64);
    let mut lanes = Vec::new();
    for lane in 0..relay.lane_count() {
        lanes.push(tokio::spawn(run_lane(
            relay.clone(),
            lane,
            poll,
            arrived.subscribe(),
            stop.clone(),
        )));
    }
    coordinate(relay.clone(), poll, commits, arrived, stop).await;
    for lane in lanes {
        if lane.await.is_err() {
            tracing::error!("an event publisher's task failed");
        }
    }
    if let Err(e) = relay.release().await {
        tracing::warn!(error = %e, "event relay: cannot release the lease; it expires by itself");
    }
    tracing::info!("event relay stopped");
}

/// The shortest time between two numbering batches (see `docs/decisions/0020-sequencer.md`):
/// bounds the sequencer's transactions to 100 a second whatever the write rate, at the
/// price of up to this much delay from commit to feed.
const SEQUENCE_GAP: Duration = Duration::from_millis(10);

/// How often an idle coordinator looks for events to number (an empty outbox costs one
/// indexed read), at most: sets the delay from commit to feed where no commit signal
/// reaches the sequencer (another process's writes).
const SEQUENCE_POLL: Duration = Duration::from_millis(25);

/// The coordinating task: numbers new events (as the lease holder) and wakes the lanes.
async fn coordinate(
    relay: Arc<EventRelay>,
    poll: Duration,
    commits: Option<Arc<Notify>>,
    arrived: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing_since: Option<tokio::time::Instant> = None;
    let mut woken = false;
    loop {
        if *stop.borrow() {
            break;
        }
        let result = relay.coordinate().await;
        record(&relay);
        let mut gather = false;
        let pause = match result {
            Ok(done) => {
                if failing_since.take().is_some() {
                    tracing::info!("event relay: the store answers again");
                }
                if done.sequenced > 0 || woken {
                    // New events in the feed (numbered now, or at commit by the store).
                    arrived.send_modify(|n| *n = n.wrapping_add(1));
                }
                gather = done.sequenced > 0 && !done.more;
                if done.pruned > 0 {
                    tracing::debug!(pruned = done.pruned, "event retention");
                }
                if done.more {
                    Duration::ZERO
                } else if done.leader {
                    poll.min(SEQUENCE_POLL)
                } else {
                    // Not the leader: check the lease now and then.
                    poll.max(Duration::from_millis(500))
                }
            }
            Err(e) => {
                if failing_since.is_none() {
                    tracing::warn!(error = %e, "event relay: cannot reach the store; retrying");
                    failing_since = Some(tokio::time::Instant::now());
                }
                Duration::from_secs(1)
            }
        };
        woken = false;
        if gather {
            // Let commits gather into the next batch: numbering costs a transaction per
            // batch, so under load batches grow instead of the store's work.
            tokio::select! {
                () = tokio::time::sleep(SEQUENCE_GAP) => {}
                _ = stop.changed() => {}
            }
        }
        if !pause.is_zero() {
            let committed = async {
                match &commits {
                    Some(signal) => signal.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = committed => woken = true,
                _ = stop.changed() => {}
            }
        }
    }
}

/// One publisher's task: steps its lane, waking for new events, for its pipeline's
/// confirmations, or at `poll`.
async fn run_lane(
    relay: Arc<EventRelay>,
    lane: usize,
    poll: Duration,
    mut arrived: watch::Receiver<u64>,
    mut stop: watch::Receiver<bool>,
) {
    relay.prepare_lane(lane).await;
    let mut failing_since: Option<tokio::time::Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        arrived.borrow_and_update();
        // While batches are in flight, new events are sent as they arrive (or at `poll`).
        let mut woken = arrived.clone();
        let wake = async move {
            tokio::select! {
                _ = woken.changed() => {}
                () = tokio::time::sleep(poll) => {}
            }
        };
        let result = relay.step_lane(lane, wake).await;
        let pause = match result {
            Ok(step) => {
                if failing_since.take().is_some() {
                    tracing::info!("event publisher: the store answers again");
                }
                match step {
                    LaneStep::Waiting | LaneStep::Done { more: true, .. } => Duration::ZERO,
                    LaneStep::Done { failed: true, .. } => poll,
                    LaneStep::Done { .. } => Duration::ZERO,
                    LaneStep::Idle => poll,
                    LaneStep::NotLeader => poll.max(Duration::from_millis(500)),
                }
            }
            Err(e) => {
                if failing_since.is_none() {
                    tracing::warn!(error = %e, "event publisher: cannot reach the store; retrying");
                    failing_since = Some(tokio::time::Instant::now());
                }
                Duration::from_secs(1)
            }
        };
        if !pause.is_zero() {
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                _ = arrived.changed() => {}
                _ = stop.changed() => {}
            }
        }
    }
}
