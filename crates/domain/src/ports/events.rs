//! Event ports: the outbox seen from outside (the feed, cursors, retention) and the
//! publishers events go to.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::StoreError;
use crate::events::{Backlog, CursorSave, EventPage, FailedDelivery, PublisherCursor, StoredEvent};
use crate::time::Timestamp;

/// The outbox of a store, seen from outside: the feed, the publishers' cursors, the
/// relay's lease and retention. Usually the same adapter as the [`TransactionStore`](super::TransactionStore), which
/// writes the events (in the transaction of each change) when events are switched on.
///
/// Contract, for every adapter:
/// - Every acknowledged change has exactly one event; a change that failed has none.
/// - Sequences start at 1 and grow by one with each event that enters the feed; a reader
///   that has seen `n` never later sees a new event at or below `n`; one transaction's
///   events enter the feed in the order of its versions.
/// - An event enters the feed either when its change commits (a store with one writer,
///   such as SQLite, numbers it there) or when [`sequence`](Self::sequence) numbers it
///   afterwards (a store whose writers must not share a counter, such as MongoDB). Until
///   then [`backlog`](Self::backlog) counts it as `unsequenced`; the change itself has
///   already succeeded.
/// - A cursor saved with [`save_cursor`](Self::save_cursor) only moves when the caller
///   holds the named lease and the cursor is still where the caller read it
///   (compare-and-set), so two relays never both advance one publisher.
/// - [`prune`](Self::prune) never removes an event above any named publisher's cursor.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventLog: Send + Sync {
    /// Whether this store writes events with its changes.
    fn enabled(&self) -> bool;

    /// Up to `limit` events with sequence above `after`, ascending.
    async fn events_after(&self, after: u64, limit: u32) -> Result<EventPage, StoreError>;

    /// Gives the next sequences to up to `limit` committed events that have none yet, in
    /// the order of their commits (one transaction's events in version order), and
    /// returns how many entered the feed. Safe when several callers race (each event is
    /// numbered once, and a batch is numbered all at once or not at all), though only the
    /// relay holding its lease is meant to call it. Stores that number events at commit
    /// return 0.
    async fn sequence(&self, limit: u32) -> Result<u64, StoreError> {
        let _ = limit;
        Ok(0)
    }

    /// The publisher's cursor; a publisher seen for the first time starts before every
    /// retained event (so it receives what is retained, not only what comes next).
    async fn cursor(&self, publisher: &str) -> Result<PublisherCursor, StoreError>;

    /// Replaces the publisher's cursor with `save.new` if it is still `save.expected` and
    /// `save.holder` holds `save.lease`; records `save.failed` (an event given up on) in
    /// the same step. `true` when saved.
    async fn save_cursor(&self, save: CursorSave) -> Result<bool, StoreError>;

    /// Events some publisher gave up on, ascending by sequence, after `after`.
    async fn failed_deliveries(
        &self,
        publisher: &str,
        after: u64,
        limit: u32,
    ) -> Result<Vec<FailedDelivery>, StoreError>;

    /// Takes or renews the lease `lease` for `holder` until `now + ttl`: `true` when
    /// `holder` holds it afterwards (it was free, expired, or already `holder`'s).
    async fn acquire_lease(
        &self,
        lease: &str,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up if `holder` holds it (a clean shutdown, so another relay need
    /// not wait for it to expire).
    async fn release_lease(&self, lease: &str, holder: &str) -> Result<(), StoreError>;

    /// Removes events that happened before `before` and that every publisher in
    /// `publishers` has passed; returns how many were removed.
    async fn prune(&self, before: Timestamp, publishers: &[String]) -> Result<u64, StoreError>;

    /// What the named publishers have not yet received.
    async fn backlog(&self, publishers: &[String]) -> Result<Backlog, StoreError>;
}

/// Why a publisher could not deliver an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PublishError(pub String);

/// What a publisher did with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOutcome {
    /// How many events from the start of the batch are confirmed delivered.
    pub delivered: usize,
    /// Why the next one was not, if the batch stopped early.
    pub error: Option<PublishError>,
}

/// Somewhere events go: a message broker, a webhook endpoint.
///
/// Contract: [`publish`](Self::publish) delivers the batch in order and reports the
/// longest prefix that is confirmed (by the broker's confirm, the endpoint's 2xx); the
/// relay marks only that prefix delivered and sends the rest again later, so a consumer
/// may receive an event twice (deduplicating by its id) but never miss one.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// A stable name, unique among the publishers (the key of its cursor).
    fn name(&self) -> &str;

    /// How long to keep retrying one event before giving up on it and moving on; `None`
    /// retries for ever (a broker: order and completeness matter more than progress).
    fn retry_horizon(&self) -> Option<Duration>;

    /// At most this many events per call.
    fn max_batch(&self) -> usize;

    /// Delivers `events` in order.
    async fn publish(&self, events: &[StoredEvent]) -> PublishOutcome;

    /// Readies the publisher when the relay starts, before any event: a broker declares
    /// what consumers bind their queues to. A failure is only reported (the first
    /// delivery tries again). The default does nothing.
    async fn prepare(&self) -> Result<(), PublishError> {
        Ok(())
    }

    /// How many sent batches may wait for their confirmation at once (default 1: each
    /// batch is confirmed before the next is sent). A broker whose confirmations lag its
    /// deliveries (RabbitMQ confirms persistent messages after writing them to disk) sends
    /// more while earlier ones are confirmed.
    fn pipeline_depth(&self) -> usize {
        1
    }

    /// Sends `events` in order and returns once they are on their way, with the outcome
    /// still to come: the future resolves like [`publish`](Self::publish) once the
    /// confirmations are in. Batches sent one after another are delivered in that order.
    /// The default publishes and hands back the finished outcome.
    async fn send(&self, events: &[StoredEvent]) -> PendingOutcome {
        let outcome = self.publish(events).await;
        Box::pin(std::future::ready(outcome))
    }
}

/// The outcome of a sent batch, still to be confirmed (see [`EventPublisher::send`]).
pub type PendingOutcome =
    std::pin::Pin<Box<dyn std::future::Future<Output = PublishOutcome> + Send>>;
