//! The relay: numbers committed events and moves them from a store's outbox to the
//! publishers.
//!
//! The relay's work has two parts, each with its own pace:
//!
//! - **Coordination** ([`EventRelay::coordinate`]): takes or renews the relay's lease (only
//!   the holder works, so with many replicas exactly one relay numbers and delivers),
//!   gives sequences to events committed without one ([`EventLog::sequence`]; a no-op on
//!   stores that number at commit), and runs retention when due.
//! - **One lane per publisher** ([`EventRelay::step_lane`]): hands the publisher the next
//!   events after its cursor and moves the cursor over what the publisher confirmed —
//!   never further. Lanes advance independently: a slow webhook never holds RabbitMQ
//!   back. A lane whose publisher allows it ([`EventPublisher::pipeline_depth`]) keeps
//!   sending while earlier batches await confirmation, in order; a failure drops
//!   everything sent after the failed event, which is sent again from there.
//!
//! A publisher that fails is retried with exponential backoff and jitter; one with a retry
//! horizon (a webhook) gives the event up after it, records it as failed, and goes on; one
//! without (a broker) keeps retrying, so nothing is skipped. Cursors move only while the
//! lease is held (the store checks it in the same step), so a relay that lost its lease
//! cannot move a cursor back or past another relay's work.
//!
//! [`EventRelay::round`] does one of each, in turn, for callers that drive the relay
//! step by step (tests, a single loop). The loops around them (timers, signals) belong
//! to the process that runs the relay.

use std::sync::Arc;
use std::time::Duration;

use std::collections::VecDeque;
use std::future::Future;

use futures_util::future::{select, Either};

use crate::events::{Backlog, CursorSave, FailedDelivery, PublisherCursor, StoredEvent};
use crate::ports::{Clock, EventLog, EventPublisher, PendingOutcome, StoreError};
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
    /// Most events numbered in one coordination (in steps of a thousand).
    pub sequence_per_round: u32,
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
            sequence_per_round: 10_000,
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
    /// Events given their sequence (entered the feed) in this round.
    pub sequenced: u64,
}

/// What one coordination did ([`EventRelay::coordinate`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Coordination {
    /// Whether this relay holds the lease (only then did it number events).
    pub leader: bool,
    /// Events given their sequence.
    pub sequenced: u64,
    /// Whether more events may be waiting for a sequence (go again now).
    pub more: bool,
    /// Events removed by retention.
    pub pruned: u64,
}

/// What one step of a publisher's lane did ([`EventRelay::step_lane`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaneStep {
    /// Nothing to send, or the publisher's next attempt is not due yet.
    Idle,
    /// Another relay holds the lease (or this relay lost it): nothing was moved.
    NotLeader,
    /// The wake-up came before the oldest sent batch was confirmed: step again to send
    /// what has arrived since.
    Waiting,
    /// A batch's outcome was recorded.
    Done {
        /// Events confirmed delivered.
        delivered: usize,
        /// Whether an event was given up on.
        gave_up: bool,
        /// Whether the publisher failed.
        failed: bool,
        /// Whether more may be waiting (a full batch, or batches still in flight).
        more: bool,
    },
}

/// A sent batch awaiting its confirmation.
struct InFlight {
    events: Vec<StoredEvent>,
    outcome: PendingOutcome,
}

/// What a lane remembers between steps: the cursor as stored, how far it has sent, and
/// the batches in flight (oldest first).
#[derive(Default)]
struct LaneState {
    stored: Option<PublisherCursor>,
    sent_through: u64,
    in_flight: VecDeque<InFlight>,
}

struct Lane {
    publisher: Arc<dyn EventPublisher>,
    /// `None` while a step holds it (a second concurrent step finds the lane busy).
    state: std::sync::Mutex<Option<LaneState>>,
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
    lanes: Vec<Lane>,
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
            .field("publishers", &self.publisher_names())
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
        let lanes = publishers
            .into_iter()
            .map(|publisher| Lane {
                publisher,
                state: std::sync::Mutex::new(Some(LaneState::default())),
            })
            .collect();
        Self {
            log,
            lanes,
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
        self.lanes
            .iter()
            .map(|l| l.publisher.name().to_owned())
            .collect()
    }

    /// How many publishers (lanes) this relay delivers to: lanes are numbered from 0.
    pub fn lane_count(&self) -> usize {
        self.lanes.len()
    }

    /// This relay's settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// What the publishers have not received yet.
    pub async fn backlog(&self) -> Result<Backlog, StoreError> {
        self.log.backlog(&self.publisher_names()).await
    }

    /// One round: a coordination (lease, sequences, retention), then one step of every
    /// lane in turn, each taking what is confirmed without waiting further; the status is
    /// refreshed (with the backlog) on the way out.
    pub async fn round(&self) -> Result<Round, StoreError> {
        let result = self.work().await;
        self.refresh_status(
            &result
                .as_ref()
                .map(|r| (r.leader, r.delivered > 0 || r.pruned > 0 || r.sequenced > 0))
                .map_err(Clone::clone),
        )
        .await;
        result
    }

    async fn work(&self) -> Result<Round, StoreError> {
        // Retention last, so it sees what this round delivered.
        let c = self.coordinate_once(false).await?;
        let mut round = Round {
            leader: c.leader,
            sequenced: c.sequenced,
            pruned: c.pruned,
            more: c.more,
            ..Round::default()
        };
        if !c.leader {
            return Ok(round);
        }
        for lane in 0..self.lanes.len() {
            match self.step_lane(lane, std::future::ready(())).await? {
                LaneStep::NotLeader => {
                    round.leader = false;
                    return Ok(round);
                }
                LaneStep::Idle | LaneStep::Waiting => {}
                LaneStep::Done {
                    delivered,
                    gave_up,
                    failed,
                    more,
                } => {
                    round.delivered += delivered;
                    round.gave_up += usize::from(gave_up);
                    round.failures += usize::from(failed);
                    round.more |= more;
                }
            }
        }
        round.pruned = self.prune_if_due().await?;
        Ok(round)
    }

    /// One coordination: takes or renews the lease; as its holder, numbers the events
    /// committed without a sequence (up to [`RelayConfig::sequence_per_round`]) and runs
    /// retention when due. The status is refreshed on the way out.
    pub async fn coordinate(&self) -> Result<Coordination, StoreError> {
        let result = self.coordinate_once(true).await;
        self.refresh_status(
            &result
                .as_ref()
                .map(|c| (c.leader, c.sequenced > 0 || c.pruned > 0))
                .map_err(Clone::clone),
        )
        .await;
        result
    }

    async fn coordinate_once(&self, prune: bool) -> Result<Coordination, StoreError> {
        let mut done = Coordination::default();
        if !self.log.enabled() {
            return Ok(done);
        }
        if !self.hold_lease().await? {
            return Ok(done);
        }
        done.leader = true;
        let step = 1000;
        while done.sequenced < u64::from(self.config.sequence_per_round) {
            let n = self.log.sequence(step).await?;
            done.sequenced += n;
            if n < u64::from(step) {
                break;
            }
        }
        done.more = done.sequenced >= u64::from(self.config.sequence_per_round);
        if prune {
            done.pruned = self.prune_if_due().await?;
        }
        Ok(done)
    }

    /// Refreshes the status after a round or coordination that ended with `result`
    /// (`(leader, moved something)`): the backlog after one that moved something, else at
    /// most once a second (an idle relay polls often; its reads should not).
    async fn refresh_status(&self, result: &Result<(bool, bool), StoreError>) {
        let now = self.clock.now();
        let last_check = self.status().checked_at;
        let due = last_check.is_none_or(|t| now.as_millis() - t.as_millis() >= 1000)
            || result.as_ref().is_ok_and(|(_, moved)| *moved);
        let backlog = match result {
            Ok(_) if due => Some(self.backlog().await),
            Ok(_) => None,
            Err(e) => Some(Err(e.clone())),
        };
        self.update_status(|s| {
            match result {
                Ok((leader, _)) => {
                    s.leader = *leader;
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

    /// Gives the lease up (on a clean shutdown, so another relay takes over at once).
    pub async fn release(&self) -> Result<(), StoreError> {
        self.lost_lease();
        for lane in &self.lanes {
            if let Some(state) = lane
                .state
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_mut()
            {
                *state = LaneState::default();
            }
        }
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

    /// Readies lane `lane`'s publisher (see [`EventPublisher::prepare`]); a failure is
    /// logged, and the first delivery tries again.
    pub async fn prepare_lane(&self, lane: usize) {
        let Some(l) = self.lanes.get(lane) else {
            return;
        };
        if let Err(e) = l.publisher.prepare().await {
            tracing::warn!(publisher = l.publisher.name(), error = %e, "an event publisher is not ready yet");
        }
    }

    /// One step of lane `lane` (its publisher, numbered as given to [`EventRelay::new`]):
    /// sends what has arrived after what it sent (while fewer batches than the
    /// publisher's pipeline depth are in flight), then waits for the oldest batch's
    /// outcome — or for `wake`, whichever comes first — and records the outcome: the
    /// cursor moves over the confirmed prefix, a failure drops every later batch in
    /// flight (sent again from the failed event on) and backs off.
    ///
    /// A lane steps one caller at a time: a second concurrent step returns
    /// [`LaneStep::Idle`]. A lane out of range is idle.
    pub async fn step_lane(
        &self,
        lane: usize,
        wake: impl Future<Output = ()> + Send,
    ) -> Result<LaneStep, StoreError> {
        let Some(l) = self.lanes.get(lane) else {
            return Ok(LaneStep::Idle);
        };
        let taken = l
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        let Some(mut state) = taken else {
            return Ok(LaneStep::Idle);
        };
        let result = self.lane_work(l.publisher.as_ref(), &mut state, wake).await;
        if matches!(result, Err(_) | Ok(LaneStep::NotLeader)) {
            // Start over from the stored cursor (another relay may have moved it).
            state = LaneState::default();
        }
        *l.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(state);
        result
    }

    async fn lane_work(
        &self,
        publisher: &dyn EventPublisher,
        state: &mut LaneState,
        wake: impl Future<Output = ()> + Send,
    ) -> Result<LaneStep, StoreError> {
        let name = publisher.name();
        if !self.hold_lease().await? {
            return Ok(LaneStep::NotLeader);
        }
        let cursor = match &state.stored {
            Some(cursor) => cursor.clone(),
            None => {
                let cursor = self.log.cursor(name).await?;
                state.stored = Some(cursor.clone());
                cursor
            }
        };
        if state.in_flight.is_empty() {
            if cursor
                .next_attempt_at
                .is_some_and(|due| self.clock.now() < due)
            {
                // Backing off: forget the cursor, another relay may move it meanwhile.
                state.stored = None;
                return Ok(LaneStep::Idle);
            }
            state.sent_through = cursor.delivered_through;
        }
        let limit = u32::try_from(publisher.max_batch().clamp(1, 1000)).unwrap_or(1000);
        let depth = publisher.pipeline_depth().max(1);
        let mut full = false;
        while state.in_flight.len() < depth {
            let page = self.log.events_after(state.sent_through, limit).await?;
            let Some(last) = page.events.last().map(|e| e.sequence) else {
                break;
            };
            full = page.events.len() == limit as usize;
            let outcome = publisher.send(&page.events).await;
            state.sent_through = last;
            state.in_flight.push_back(InFlight {
                events: page.events,
                outcome,
            });
            if !full {
                break;
            }
        }
        let Some(front) = state.in_flight.front_mut() else {
            return Ok(LaneStep::Idle);
        };
        let outcome = match select(&mut front.outcome, Box::pin(wake)).await {
            Either::Left((outcome, _)) => outcome,
            Either::Right(((), _)) => return Ok(LaneStep::Waiting),
        };
        let Some(batch) = state.in_flight.pop_front() else {
            return Ok(LaneStep::Idle);
        };
        let events = batch.events;
        let delivered = outcome.delivered.min(events.len());
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
                delivered_through: events[delivered - 1].sequence,
                ..PublisherCursor::default()
            };
        }
        let mut failed = None;
        let failing = outcome.error.filter(|_| delivered < events.len());
        if let Some(error) = &failing {
            // Everything sent after the failed event is sent again from it.
            state.in_flight.clear();
            let event = &events[delivered];
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
                new: next.clone(),
                failed,
            })
            .await?;
        if !saved {
            self.lost_lease();
            return Ok(LaneStep::NotLeader);
        }
        state.stored = Some(next);
        Ok(LaneStep::Done {
            delivered,
            gave_up,
            failed: failing.is_some(),
            more: failing.is_none() && (full || !state.in_flight.is_empty()),
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
