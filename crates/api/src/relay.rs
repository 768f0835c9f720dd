//! The event relay of a process: its publishers (from the settings), and the loop that runs
//! rounds until asked to stop — inside `fido serve` (the embedded default) or as
//! `fido worker`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fido_domain::{EventLog, EventPublisher, EventRelay, RelayConfig, SystemClock};
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

/// The relay's backlog as gauges (no-ops when metrics are off).
fn record(relay: &EventRelay) {
    let status = relay.status();
    metrics::gauge!(names::EVENTS_BACKLOG).set(status.backlog.undelivered as f64);
    let age = status
        .backlog
        .oldest_age_seconds(fido_domain::Timestamp::now())
        .unwrap_or(0.0);
    metrics::gauge!(names::EVENTS_OLDEST_AGE).set(age);
}

/// Runs rounds until `stop` turns true; a round under way (the batch in flight) is
/// finished first, then the lease is given up so another relay takes over at once.
/// Between rounds it waits for `poll`, or less when `commits` signals a new commit.
pub async fn run(
    relay: Arc<EventRelay>,
    poll: Duration,
    commits: Option<Arc<Notify>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failing_since: Option<tokio::time::Instant> = None;
    loop {
        if *stop.borrow() {
            break;
        }
        let result = relay.round().await;
        record(&relay);
        let pause = match result {
            Ok(round) => {
                if failing_since.take().is_some() {
                    tracing::info!("event relay: the store answers again");
                }
                if round.delivered > 0 || round.pruned > 0 {
                    tracing::debug!(
                        delivered = round.delivered,
                        pruned = round.pruned,
                        "event relay round"
                    );
                }
                if round.more {
                    Duration::ZERO
                } else if round.leader {
                    poll
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
        if !pause.is_zero() {
            let committed = async {
                match &commits {
                    Some(signal) => signal.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = committed => {}
                _ = stop.changed() => {}
            }
        }
    }
    if let Err(e) = relay.release().await {
        tracing::warn!(error = %e, "event relay: cannot release the lease; it expires by itself");
    }
    tracing::info!("event relay stopped");
}
