//! The relay: moves events from a store's outbox to the publishers.
//!
//! One [`EventRelay::round`] renews the relay's lease (only the holder works, so with many
//! replicas exactly one relay delivers), hands each publisher the next batch after its
//! cursor, and moves the cursor over what the publisher confirmed — never further. A
//! publisher that fails is retried with exponential backoff and jitter; one with a retry
//! horizon (a webhook) gives the event up after it, records it as failed, and goes on; one
//! without (a broker) keeps retrying, so nothing is skipped. Cursors move only while the
//! lease is held (the store checks it in the same step), so a relay that lost its lease
//! cannot move a cursor back or past another relay's work.
//!
//! The loop around rounds (timers, signals) belongs to the process that runs the relay.

use std::sync::Arc;
use std::time::Duration;

use crate::events::{Backlog, CursorSave, FailedDelivery, PublisherCursor};
use crate::ports::{Clock, EventLog, EventPublisher, StoreError};
use crate::time::Timestamp;

/// The name of the relay's lease in the store.
pub const RELAY_LEASE: &str = "event-relay";

/// Tunables of the relay.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Who this relay is (unique per process: host, process id, a random part).
    pub holder: String,
    /// How long the lease lasts without renewal: a dead holder's lease is taken over after
    /// at most this long (default 10 s).
    pub lease_ttl: Duration,
    /// Events older than this are removed once every publisher has them (default 7 days).
    pub retention: Duration,
    /// The first retry's delay (default 1 s); doubles with each failure.
    pub initial_backoff: Duration,
    /// The longest delay between retries (default 5 minutes).
    pub max_backoff: Duration,
    /// How often retention runs (default every minute).
    pub prune_every: Duration,
}

impl RelayConfig {
    /// Defaults for a holder name.
    pub fn new(holder: impl Into<String>) -> Self {
        Self {
            holder: holder.into(),
            lease_ttl: Duration::from_secs(10),
            retention: Duration::from_secs(7 * 24 * 3600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(300),
            prune_every: Duration::from_secs(60),
        }
    }
}

/// What one round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Whether this relay held the lease (only then did it deliver).
    pub leader: bool,
    /// Events confirmed delivered, over all publishers.
    pub delivered: usize,
    /// Events given up on (past a publisher's retry horizon).
    pub gave_up: usize,
    /// Publisher failures in this round.
    pub failures: usize,
    /// Whether some publisher filled a whole batch (more may be waiting: go again now).
    pub more: bool,
    /// Events removed by retention.
    pub pruned: u64,
}

/// How the relay is doing, for health reports: refreshed by every round.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RelayStatus {
    /// Whether this relay held the lease at its last round.
    pub leader: bool,
    /// Publishers whose last attempt failed, with the reason (never event contents).
    pub failing: Vec<(String, String)>,
    /// What the publishers have not received yet (as of `checked_at`).
    pub backlog: Backlog,
    /// When the backlog was last read; `None` before the first round.
    pub checked_at: Option<Timestamp>,
    /// The last round's error, if it failed (the store unreachable).
    pub error: Option<String>,
}

/// Moves events from one store's outbox to its publishers.
pub struct EventRelay {
    log: Arc<dyn EventLog>,
    publishers: Vec<Arc<dyn EventPublisher>>,
    clock: Arc<dyn Clock>,
    config: RelayConfig,
    last_prune: std::sync::Mutex<Option<Timestamp>>,
    status: std::sync::Mutex<RelayStatus>,
    /// When this relay last took or renewed its lease (`None`: it does not hold it).
    leased_at: std::sync::Mutex<Option<Timestamp>>,
}

impl std::fmt::Debug for EventRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRelay")
            .field("holder", &self.config.holder)
            .field(
                "publishers",
                &self.publishers.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl EventRelay {
    /// A relay over `log` delivering to `publishers`.
    pub fn new(
        log: Arc<dyn EventLog>,
        publishers: Vec<Arc<dyn EventPublisher>>,
        clock: Arc<dyn Clock>,
        config: RelayConfig,
    ) -> Self {
        Self {
            log,
            publishers,
            clock,
            config,
            last_prune: std::sync::Mutex::new(None),
            status: std::sync::Mutex::default(),
            leased_at: std::sync::Mutex::new(None),
        }
    }

    /// How the relay is doing (as of its last round).
    pub fn status(&self) -> RelayStatus {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn update_status(&self, change: impl FnOnce(&mut RelayStatus)) {
        change(
            &mut self
                .status
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
    }

    /// The names of the publishers (the cursors retention and health look at).
    pub fn publisher_names(&self) -> Vec<String> {
        self.publishers
            .iter()
            .map(|p| p.name().to_owned())
            .collect()
    }

    /// This relay's settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// What the publishers have not received yet.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        self.log.backlog(&self.publisher_names()).await
    }

    /// One round: lease, one batch per due publisher, retention when due; the status is
    /// refreshed (with the backlog) on the way out.
    pub async fn round(&self) -> Result<Round, StoreError> {
        let result = self.work().await;
        let now = self.clock.now();
        // The backlog for health reports: after a round that moved something, else at
        // most once a second (an idle relay polls often; its reads should not).
        let last_check = self.status().checked_at;
        let due = last_check.is_none_or(|t| now.as_millis() - t.as_millis() >= 1000)
            || result
                .as_ref()
                .is_ok_and(|r| r.delivered > 0 || r.pruned > 0);
        let backlog = match &result {
            Ok(_) if due => Some(self.backlog().await),
            Ok(_) => None,
            Err(e) => Some(Err(e.clone())),
        };
        self.update_status(|s| {
            match &result {
                Ok(round) => {
                    s.leader = round.leader;
                    s.error = None;
                }
                Err(e) => s.error = Some(e.to_string()),
            }
            match backlog {
                Some(Ok(backlog)) => {
                    s.backlog = backlog;
                    s.checked_at = Some(now);
                }
                Some(Err(e)) => s.error = Some(e.to_string()),
                None => {}
            }
        });
        result
    }

    /// Takes or renews the lease when a third of it has passed since the last renewal;
    /// `false` when another relay holds it.
    async fn hold_lease(&self) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let ttl = millis(self.config.lease_ttl);
        let fresh = self
            .leased_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some_and(|at| now.as_millis() - at.as_millis() < ttl / 3);
        if fresh {
            return Ok(true);
        }
        let held = self
            .log
            .acquire_lease(RELAY_LEASE, &self.config.holder, now, self.config.lease_ttl)
            .await?;
        *self
            .leased_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = held.then_some(now);
        Ok(held)
    }

    fn lost_lease(&self) {
        *self
            .leased_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    async fn work(&self) -> Result<Round, StoreError> {
        let mut round = Round::default();
        if self.publishers.is_empty() {
            // Nothing to deliver (the feed alone): only retention, which needs no lease.
            round.pruned = self.prune_if_due().await?;
            return Ok(round);
        }
        if !self.hold_lease().await? {
            return Ok(round);
        }
        round.leader = true;
        for publisher in &self.publishers {
            // Renewed before each publisher too, so a round of slow publishers never
            // outlives the lease (each call is bounded by its publisher's timeout, which
            // the settings keep under half the lease).
            if !self.hold_lease().await? {
                round.leader = false;
                return Ok(round);
            }
            match self.deliver(publisher.as_ref()).await? {
                Step::Lost => {
                    // Another relay holds the lease now: stop at once.
                    self.lost_lease();
                    round.leader = false;
                    return Ok(round);
                }
                Step::Done {
                    delivered,
                    gave_up,
                    failed,
                    full,
                } => {
                    round.delivered += delivered;
                    round.gave_up += usize::from(gave_up);
                    round.failures += usize::from(failed);
                    round.more |= full;
                }
            }
        }
        round.pruned = self.prune_if_due().await?;
        Ok(round)
    }

    /// Gives the lease up (on a clean shutdown, so another relay takes over at once).
    pub async fn release(&self) -> Result<(), StoreError> {
        self.lost_lease();
        self.log
            .release_lease(RELAY_LEASE, &self.config.holder)
            .await
    }

    async fn prune_if_due(&self) -> Result<u64, StoreError> {
        let now = self.clock.now();
        {
            let last = self
                .last_prune
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(last) = *last {
                if now.as_millis() - last.as_millis() < millis(self.config.prune_every) {
                    return Ok(0);
                }
            }
        }
        let before = now.plus_millis(-millis(self.config.retention));
        let pruned = self.log.prune(before, &self.publisher_names()).await?;
        *self
            .last_prune
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(now);
        Ok(pruned)
    }

    async fn deliver(&self, publisher: &dyn EventPublisher) -> Result<Step, StoreError> {
        let name = publisher.name();
        let cursor = self.log.cursor(name).await?;
        if let Some(due) = cursor.next_attempt_at {
            if self.clock.now() < due {
                return Ok(Step::idle());
            }
        }
        let limit = u32::try_from(publisher.max_batch().clamp(1, 1000)).unwrap_or(1000);
        let page = self
            .log
            .events_after(cursor.delivered_through, limit)
            .await?;
        if page.events.is_empty() {
            return Ok(Step::idle());
        }
        let outcome = publisher.publish(&page.events).await;
        let delivered = outcome.delivered.min(page.events.len());
        self.update_status(|s| {
            s.failing.retain(|(n, _)| n != name);
            if let Some(e) = &outcome.error {
                s.failing.push((name.to_owned(), e.0.clone()));
            }
        });
        let now = self.clock.now();
        let mut next = cursor.clone();
        if delivered > 0 {
            next = PublisherCursor {
                delivered_through: page.events[delivered - 1].sequence,
                ..PublisherCursor::default()
            };
        }
        let mut failed = None;
        let failing = outcome.error.filter(|_| delivered < page.events.len());
        if let Some(error) = &failing {
            let event = &page.events[delivered];
            let (first, attempts) = match (delivered, cursor.first_failure_at) {
                (0, Some(first)) => (first, cursor.attempts.saturating_add(1)),
                _ => (now, 1),
            };
            let expired = publisher
                .retry_horizon()
                .is_some_and(|h| now.as_millis() - first.as_millis() >= millis(h));
            if expired {
                tracing::warn!(
                    publisher = name,
                    sequence = event.sequence,
                    attempts,
                    error = %error,
                    "giving up on an event after the publisher's retry horizon"
                );
                failed = Some(FailedDelivery {
                    publisher: name.to_owned(),
                    sequence: event.sequence,
                    attempts,
                    failed_at: now,
                    last_error: error.0.clone(),
                });
                next = PublisherCursor {
                    delivered_through: event.sequence,
                    ..PublisherCursor::default()
                };
            } else {
                let delay = self.backoff(attempts);
                tracing::warn!(
                    publisher = name,
                    sequence = event.sequence,
                    attempts,
                    retry_in_ms = delay.as_millis() as u64,
                    error = %error,
                    "an event could not be delivered; will retry"
                );
                next.first_failure_at = Some(first);
                next.attempts = attempts;
                next.next_attempt_at = Some(now.plus_millis(millis(delay)));
                next.last_error = Some(error.0.clone());
            }
        }
        let gave_up = failed.is_some();
        let saved = self
            .log
            .save_cursor(CursorSave {
                publisher: name.to_owned(),
                lease: RELAY_LEASE.to_owned(),
                holder: self.config.holder.clone(),
                expected: cursor,
                new: next,
                failed,
            })
            .await?;
        if !saved {
            return Ok(Step::Lost);
        }
        Ok(Step::Done {
            delivered,
            gave_up,
            failed: failing.is_some(),
            full: failing.is_none() && page.events.len() == limit as usize,
        })
    }

    /// Exponential backoff with jitter: `initial * 2^(attempts-1)`, capped, then a random
    /// 50–100 % of it (so relays and endpoints recovering together do not retry in step).
    fn backoff(&self, attempts: u32) -> Duration {
        let exp = attempts.saturating_sub(1).min(30);
        let base = self
            .config
            .initial_backoff
            .saturating_mul(1u32 << exp)
            .min(self.config.max_backoff);
        let mut r = [0u8; 2];
        let fraction = if getrandom::getrandom(&mut r).is_ok() {
            f64::from(u16::from_be_bytes(r)) / f64::from(u16::MAX)
        } else {
            0.5
        };
        base.mul_f64(0.5 + fraction / 2.0)
    }
}

enum Step {
    Lost,
    Done {
        delivered: usize,
        gave_up: bool,
        failed: bool,
        full: bool,
    },
}

impl Step {
    fn idle() -> Self {
        Self::Done {
            delivered: 0,
            gave_up: false,
            failed: false,
            full: false,
        }
    }
}
