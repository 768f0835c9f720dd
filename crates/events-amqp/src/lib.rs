//! # fido-events-amqp — events to RabbitMQ
//!
//! An [`EventPublisher`] over AMQP 0-9-1 with the `lapin` client:
//!
//! - a **durable topic exchange** (default `fido.events`), declared when the relay starts
//!   (so consumers can bind their queues before the first event) and at every connection;
//! - each event a **persistent** message (delivery mode 2) whose body is the event's JSON
//!   (`fido_events::Event`), `message_id` = the event's id, routing key = its type
//!   (`transaction.created` …), `content_type` `application/json`;
//! - **publisher confirms** on the channel, and every message **mandatory**: a message the
//!   broker returns (no queue bound for it) is a failure, not a success — an ack alone does
//!   not mean the message reached a queue;
//! - a batch is published in order on one channel and confirmed as a whole; the longest
//!   prefix acked and not returned is reported delivered, the rest is sent again later by
//!   the relay (consumers deduplicate by `message_id`);
//! - **pipelined**: [`EventPublisher::send`] returns once a batch is written to the
//!   channel, and up to [`PIPELINE_DEPTH`] batches await their confirms at once (the broker
//!   confirms persistent messages only after writing them to disk, long after consumers
//!   have them), so confirms decide what counts as delivered without holding back what
//!   comes next;
//! - one connection per process, opened lazily and reopened after any failure, every call
//!   bounded by a timeout (a broker that is down costs a failed round, never a hang).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fido_domain::{EventPublisher, PendingOutcome, PublishError, PublishOutcome, StoredEvent};
use fido_events::Event;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, ExchangeDeclareOptions};
use lapin::types::FieldTable;
use lapin::Confirmation;
use lapin::PublisherConfirm;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use tokio::sync::Mutex;

/// Settings of the RabbitMQ publisher.
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://user:pass@host:5672/vhost` or `amqps://…`; holds credentials, never logged.
    pub url: String,
    /// The topic exchange (default `fido.events`).
    pub exchange: String,
    /// Longest wait for a connection, or for a batch's confirms (default 4 s; keep it
    /// under half the relay's lease).
    pub timeout: Duration,
    /// Events per batch (default 200).
    pub batch_size: usize,
}

impl AmqpConfig {
    /// Defaults for a URL.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            exchange: "fido.events".into(),
            timeout: Duration::from_secs(4),
            batch_size: 200,
        }
    }

    /// Checks the URL's scheme and the exchange name, without quoting the URL.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = self.url.trim();
        if !(url.starts_with("amqp://") || url.starts_with("amqps://")) {
            return Err(ConfigError::Scheme);
        }
        if self.exchange.is_empty() || self.exchange.len() > 255 {
            return Err(ConfigError::Exchange);
        }
        Ok(())
    }
}

impl std::fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &"[redacted]")
            .field("exchange", &self.exchange)
            .field("timeout", &self.timeout)
            .field("batch_size", &self.batch_size)
            .finish()
    }
}

/// A setting of the RabbitMQ publisher that is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Not an AMQP URL.
    #[error("events.amqp_url must start with amqp:// or amqps://")]
    Scheme,
    /// An empty or too long exchange name.
    #[error("events.amqp_exchange must be 1 to 255 characters")]
    Exchange,
}

/// How many batches may await their confirms at once.
pub const PIPELINE_DEPTH: usize = 8;

/// Publishes events to a RabbitMQ topic exchange. One per process.
pub struct AmqpPublisher {
    config: AmqpConfig,
    link: Mutex<Option<(Connection, Channel)>>,
    /// Set by a batch whose confirms failed: the next batch starts on a fresh connection.
    broken: Arc<AtomicBool>,
}

impl std::fmt::Debug for AmqpPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AmqpPublisher")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The broker's error, without the URL (lapin's messages never hold credentials, but the
/// kind is what an operator needs).
fn failure(what: &str, e: &lapin::Error) -> PublishError {
    PublishError(format!("RabbitMQ {what}: {e}"))
}

impl AmqpPublisher {
    /// A publisher; it connects on first use.
    pub fn new(config: AmqpConfig) -> Self {
        Self {
            config,
            link: Mutex::new(None),
            broken: Arc::default(),
        }
    }

    async fn connect(&self) -> Result<(Connection, Channel), PublishError> {
        let open = async {
            let connection = Connection::connect(
                self.config.url.trim(),
                ConnectionProperties::default().with_connection_name("fido".into()),
            )
            .await
            .map_err(|e| failure("connection", &e))?;
            let channel = connection
                .create_channel()
                .await
                .map_err(|e| failure("channel", &e))?;
            channel
                .exchange_declare(
                    self.config.exchange.as_str().into(),
                    ExchangeKind::Topic,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(|e| failure("exchange declaration", &e))?;
            channel
                .confirm_select(ConfirmSelectOptions::default())
                .await
                .map_err(|e| failure("confirm mode", &e))?;
            Ok((connection, channel))
        };
        match tokio::time::timeout(self.config.timeout, open).await {
            Ok(result) => result,
            Err(_) => Err(PublishError(format!(
                "RabbitMQ did not accept a connection within {:?}",
                self.config.timeout
            ))),
        }
    }

    /// The open channel, connecting first when there is none (or the last one broke).
    async fn channel(&self) -> Result<Channel, PublishError> {
        let mut link = self.link.lock().await;
        let broken = self.broken.swap(false, Ordering::AcqRel);
        if broken
            || link
                .as_ref()
                .is_some_and(|(c, ch)| !c.status().connected() || !ch.status().connected())
        {
            // Start from a fresh connection (a returned message leaves the channel
            // usable, but a fresh one costs little and is always sound).
            if let Some((connection, _)) = link.take() {
                let _ = tokio::time::timeout(
                    Duration::from_secs(1),
                    connection.close(200, "reconnecting".into()),
                )
                .await;
            }
        }
        if let Some((_, channel)) = link.as_ref() {
            return Ok(channel.clone());
        }
        let opened = self.connect().await?;
        tracing::info!(exchange = %self.config.exchange, "connected to RabbitMQ");
        let channel = opened.1.clone();
        *link = Some(opened);
        Ok(channel)
    }

    /// Writes the batch to `channel` in order: the confirms to wait for, and the error
    /// that stopped the batch early, if any.
    async fn write(
        &self,
        channel: &Channel,
        events: &[StoredEvent],
    ) -> (Vec<PublisherConfirm>, Option<PublishError>) {
        let mut pending = Vec::with_capacity(events.len());
        for stored in events {
            let Some(event) = Event::from_stored(stored) else {
                return (
                    pending,
                    Some(PublishError(format!(
                        "event {} has no transaction",
                        stored.sequence
                    ))),
                );
            };
            let body = match serde_json::to_vec(&event) {
                Ok(body) => body,
                Err(e) => {
                    return (
                        pending,
                        Some(PublishError(format!("cannot encode an event: {e}"))),
                    )
                }
            };
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_message_id(event.id.as_str().into())
                .with_content_type("application/json".into())
                .with_type(event.kind.as_str().into())
                .with_app_id("fido".into())
                .with_timestamp(
                    u64::try_from(stored.event.occurred_at.as_millis() / 1000).unwrap_or(0),
                );
            match channel
                .basic_publish(
                    self.config.exchange.as_str().into(),
                    event.kind.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &body,
                    properties,
                )
                .await
            {
                Ok(confirm) => pending.push(confirm),
                Err(e) => return (pending, Some(failure("publish", &e))),
            }
        }
        (pending, None)
    }
}

/// Counts the confirmed prefix of a written batch, in order; `error` (the batch stopped
/// early) stands after the confirmed ones.
async fn confirmed(
    exchange: String,
    pending: Vec<PublisherConfirm>,
    mut error: Option<PublishError>,
) -> PublishOutcome {
    let mut delivered = 0;
    for confirm in pending {
        match confirm.await {
            Ok(Confirmation::Ack(None)) => delivered += 1,
            Ok(Confirmation::Ack(Some(returned))) => {
                error = Some(PublishError(format!(
                    "RabbitMQ returned the message: no queue is bound to exchange {} for routing key {} ({} {})",
                    exchange,
                    returned.delivery.routing_key,
                    returned.reply_code,
                    returned.reply_text
                )));
                break;
            }
            Ok(Confirmation::Nack(_)) => {
                error = Some(PublishError("RabbitMQ refused the message (nack)".into()));
                break;
            }
            Ok(Confirmation::NotRequested) => {
                error = Some(PublishError("the channel is not in confirm mode".into()));
                break;
            }
            Err(e) => {
                error = Some(failure("confirm", &e));
                break;
            }
        }
    }
    PublishOutcome { delivered, error }
}
#[async_trait]
impl EventPublisher for AmqpPublisher {
    fn name(&self) -> &str {
        "rabbitmq"
    }

    fn retry_horizon(&self) -> Option<Duration> {
        // A broker is retried for ever: nothing is skipped, order is kept.
        None
    }

    fn max_batch(&self) -> usize {
        self.config.batch_size
    }

    fn pipeline_depth(&self) -> usize {
        PIPELINE_DEPTH
    }

    async fn prepare(&self) -> Result<(), PublishError> {
        self.channel().await.map(drop)
    }

    async fn publish(&self, events: &[StoredEvent]) -> PublishOutcome {
        self.send(events).await.await
    }

    async fn send(&self, events: &[StoredEvent]) -> PendingOutcome {
        let timeout = self.config.timeout;
        let channel = match self.channel().await {
            Ok(channel) => channel,
            Err(error) => {
                return Box::pin(std::future::ready(PublishOutcome {
                    delivered: 0,
                    error: Some(error),
                }))
            }
        };
        let written = tokio::time::timeout(timeout, self.write(&channel, events)).await;
        let (pending, error) = match written {
            Ok(written) => written,
            Err(_) => (
                Vec::new(),
                Some(PublishError(format!(
                    "RabbitMQ did not take the messages within {timeout:?}"
                ))),
            ),
        };
        let exchange = self.config.exchange.clone();
        let broken = self.broken.clone();
        Box::pin(async move {
            let outcome =
                match tokio::time::timeout(timeout, confirmed(exchange, pending, error)).await {
                    Ok(outcome) => outcome,
                    Err(_) => PublishOutcome {
                        delivered: 0,
                        error: Some(PublishError(format!(
                            "RabbitMQ did not confirm within {timeout:?}"
                        ))),
                    },
                };
            if outcome.error.is_some() {
                broken.store(true, Ordering::Release);
            }
            outcome
        })
    }
}
