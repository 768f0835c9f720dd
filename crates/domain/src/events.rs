//! Events: every change to a transaction, as other systems learn of it.
//!
//! A store writes an [`OutboxEvent`] in the very transaction of the change it describes
//! (the transactional outbox), and numbers it with a `sequence` that grows with every
//! committed event of that store; a reader that has seen sequence `n` never later sees a
//! new event below `n`. Events carry no personal data: the customer's name is left out
//! (an update that changed it says so in [`OutboxEvent::changed`], without values).
//!
//! From the outbox, events reach consumers in two ways: the pull feed (read by sequence),
//! and the [`EventPublisher`](crate::ports::EventPublisher)s that the relay
//! ([`EventRelay`](crate::relay::EventRelay)) pushes them to, each at least once and in
//! sequence order.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::amount::Amount;
use crate::id::{TransactionId, UserId};
use crate::time::Timestamp;
use crate::transaction::{TransactionRecord, TransactionType};

/// The version of the event envelope and its `data`: grows when a field changes meaning or
/// goes away (new optional fields do not change it).
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// What happened to a transaction.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum EventKind {
    /// It was recorded.
    Created,
    /// Some of its fields changed.
    Updated,
    /// It was removed.
    Deleted,
}

impl EventKind {
    /// The event's type as consumers see it: `transaction.created`, `…updated`, `…deleted`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "transaction.created",
            Self::Updated => "transaction.updated",
            Self::Deleted => "transaction.deleted",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s text (for adapters reading stored events).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "transaction.created" => Some(Self::Created),
            "transaction.updated" => Some(Self::Updated),
            "transaction.deleted" => Some(Self::Deleted),
            _ => None,
        }
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A UUIDv7: 48 bits of milliseconds since the epoch, then random bits (RFC 9562), so ids
/// are unique and sort roughly by time. Written in the canonical lowercase 8-4-4-4-12 form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId([u8; 16]);

impl EventId {
    /// A new id for an event at `now`. Ids made in the same millisecond by this process
    /// still differ (and grow): the random part starts from a per-process counter.
    pub fn generate(now: Timestamp) -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut random = [0u8; 10];
        if getrandom::getrandom(&mut random).is_err() {
            // Without randomness the counter and the time still keep ids of this process
            // apart; mix in the process id for the others.
            random[..4].copy_from_slice(&std::process::id().to_be_bytes());
        }
        let count = COUNTER.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        let ms = u64::try_from(now.as_millis().max(0)).unwrap_or(0) & 0xffff_ffff_ffff;
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
        // Version 7, then 12 bits of the counter.
        bytes[6] = 0x70 | (count[6] & 0x0f);
        bytes[7] = count[7];
        // Variant 10, then 62 random bits.
        bytes[8] = 0x80 | (random[0] & 0x3f);
        bytes[9..].copy_from_slice(&random[1..8]);
        Self(bytes)
    }

    /// Wraps raw bytes (for adapters that store ids in binary form).
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw 16 bytes.
    pub const fn bytes(&self) -> [u8; 16] {
        self.0
    }

    /// Parses the canonical text form (hex digits in either case, with the four dashes).
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
            return None;
        }
        let hex: Vec<u8> = b.iter().copied().filter(|&c| c != b'-').collect();
        let mut bytes = [0u8; 16];
        for (i, pair) in hex.chunks(2).enumerate() {
            let digit = |c: u8| char::from(c).to_digit(16);
            let (hi, lo) = (digit(pair[0])?, digit(*pair.get(1)?)?);
            *bytes.get_mut(i)? = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Self(bytes))
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// A transaction as events show it: every field but the customer's name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TransactionSnapshot {
    /// Its id.
    pub id: TransactionId,
    /// The user it belongs to.
    pub user_id: UserId,
    /// The amount, exact.
    pub amount: Amount,
    /// Credit or debit.
    pub kind: TransactionType,
    /// When it happened.
    pub transaction_date: Timestamp,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// Its version after this change (before it, for a deletion).
    pub version: u64,
}

impl From<&TransactionRecord> for TransactionSnapshot {
    fn from(r: &TransactionRecord) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            amount: r.amount,
            kind: r.kind,
            transaction_date: r.transaction_date,
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

/// A field an update changed, named as in the API.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ChangedField {
    /// The customer's name (its values are never in an event).
    FullName,
    /// The amount.
    Amount,
    /// Credit or debit.
    Kind,
}

impl ChangedField {
    /// The field's name in the API: `full_name`, `amount`, `type`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::FullName => "full_name",
            Self::Amount => "amount",
            Self::Kind => "type",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s text.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "full_name" => Some(Self::FullName),
            "amount" => Some(Self::Amount),
            "type" => Some(Self::Kind),
            _ => None,
        }
    }
}

/// An event as a store writes it, before it has a sequence number.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct OutboxEvent {
    /// Unique; consumers deduplicate by it.
    pub id: EventId,
    /// What happened.
    pub kind: EventKind,
    /// When it happened (the change's `updated_at`; the time of the deletion).
    pub occurred_at: Timestamp,
    /// The transaction as it is after the change; `None` for a deletion.
    pub after: Option<TransactionSnapshot>,
    /// The transaction as it was before the change; `None` for a creation.
    pub before: Option<TransactionSnapshot>,
    /// For updates, the fields the caller changed (sorted); empty otherwise.
    pub changed: Vec<ChangedField>,
}

impl OutboxEvent {
    /// The event of a creation.
    pub fn created(record: &TransactionRecord) -> Self {
        Self {
            id: EventId::generate(record.created_at),
            kind: EventKind::Created,
            occurred_at: record.created_at,
            after: Some(record.into()),
            before: None,
            changed: Vec::new(),
        }
    }

    /// The event of an update from `before` to `after`.
    pub fn updated(before: &TransactionRecord, after: &TransactionRecord) -> Self {
        let mut changed = Vec::with_capacity(3);
        if before.full_name != after.full_name {
            changed.push(ChangedField::FullName);
        }
        if before.amount != after.amount {
            changed.push(ChangedField::Amount);
        }
        if before.kind != after.kind {
            changed.push(ChangedField::Kind);
        }
        changed.sort_unstable();
        Self {
            id: EventId::generate(after.updated_at),
            kind: EventKind::Updated,
            occurred_at: after.updated_at,
            after: Some(after.into()),
            before: Some(before.into()),
            changed,
        }
    }

    /// The event of a deletion, at `now`.
    pub fn deleted(before: &TransactionRecord, now: Timestamp) -> Self {
        Self {
            id: EventId::generate(now),
            kind: EventKind::Deleted,
            occurred_at: now,
            after: None,
            before: Some(before.into()),
            changed: Vec::new(),
        }
    }

    /// The transaction the event is about (from whichever snapshot it has).
    pub fn subject(&self) -> Option<&TransactionSnapshot> {
        self.after.as_ref().or(self.before.as_ref())
    }

    /// The id of the transaction the event is about.
    pub fn transaction_id(&self) -> Option<TransactionId> {
        self.subject().map(|s| s.id)
    }

    /// The user whose transaction it is.
    pub fn user_id(&self) -> Option<UserId> {
        self.subject().map(|s| s.user_id)
    }

    /// Where this event stands in its transaction's history: the version it leaves
    /// behind (`created` 1, each `updated` the new version), and for `deleted` one past
    /// the last version. Strictly increasing along one transaction's events, so a
    /// sequencer that meets several of them at once can put them in order.
    pub fn position_in_history(&self) -> u64 {
        match (self.kind, &self.after, &self.before) {
            (EventKind::Deleted, _, Some(before)) => before.version.saturating_add(1),
            (_, Some(after), _) => after.version,
            (_, None, Some(before)) => before.version,
            (_, None, None) => 0,
        }
    }
}

/// Puts events that a sequencer is about to number in the order they get their sequences.
///
/// `events` arrive in the store's order of commit (or its best estimate, such as the
/// time-ordered event ids of writers whose clocks may differ). The events of one
/// transaction keep the places they hold among the others, but are rearranged among those
/// places in history order ([`OutboxEvent::position_in_history`]), so a reader of the feed
/// always sees a transaction's versions in the order they were made. Stable otherwise.
pub fn arrange_for_sequencing<T>(events: Vec<T>, event: impl Fn(&T) -> &OutboxEvent) -> Vec<T> {
    use std::collections::HashMap;
    let mut places: HashMap<TransactionId, Vec<usize>> = HashMap::new();
    for (i, e) in events.iter().enumerate() {
        if let Some(t) = event(e).transaction_id() {
            places.entry(t).or_default().push(i);
        }
    }
    // source[k]: which of the given events goes to place k.
    let mut source: Vec<usize> = (0..events.len()).collect();
    for slots in places.values().filter(|s| s.len() > 1) {
        let mut by_history = slots.clone();
        by_history.sort_by_key(|&i| (event(&events[i]).position_in_history(), i));
        for (&slot, from) in slots.iter().zip(by_history) {
            source[slot] = from;
        }
    }
    let mut given: Vec<Option<T>> = events.into_iter().map(Some).collect();
    source
        .into_iter()
        .filter_map(|i| given.get_mut(i).and_then(Option::take))
        .collect()
}

/// A committed event with its place in the store's sequence.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct StoredEvent {
    /// Strictly increasing per store, from 1.
    pub sequence: u64,
    /// The event.
    pub event: OutboxEvent,
}

/// Most events one retention step removes (a short hold of the store's writer).
pub const PRUNE_STEP: u64 = 10_000;

/// Through which sequence one retention step removes events, written once for every
/// store: up to the event before the first one young enough to keep (`first_young`; all
/// of the feed, through `last`, when none is), never past what every publisher has
/// delivered (`lowest_cursor`, when publishers are named), and at most [`PRUNE_STEP`]
/// beyond what is already removed (`already`). `None` when there is nothing to remove.
pub fn prune_through(
    already: u64,
    last: u64,
    first_young: Option<u64>,
    lowest_cursor: Option<u64>,
) -> Option<u64> {
    let mut limit = first_young.map_or(last, |s| s.saturating_sub(1));
    if let Some(lowest) = lowest_cursor {
        limit = limit.min(lowest);
    }
    limit = limit.min(already.saturating_add(PRUNE_STEP));
    (limit > already).then_some(limit)
}

/// A page of the feed.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct EventPage {
    /// Events after the requested sequence, ascending, at most the requested number.
    pub events: Vec<StoredEvent>,
    /// The highest sequence that retention has removed (0 when none): a reader whose
    /// cursor lies below it has missed events.
    pub pruned_through: u64,
    /// The highest sequence committed so far (0 when none).
    pub last_sequence: u64,
}

/// Where one publisher stands in the outbox.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct PublisherCursor {
    /// Every event up to this sequence has been delivered (or given up on).
    pub delivered_through: u64,
    /// Failed attempts at the next event since its first failure.
    pub attempts: u32,
    /// When the next event first failed, if it is failing.
    pub first_failure_at: Option<Timestamp>,
    /// Not before this time is the next attempt due.
    pub next_attempt_at: Option<Timestamp>,
    /// The last failure's reason (never event contents).
    pub last_error: Option<String>,
}

/// An event one publisher gave up on after its retry horizon: stored beside the cursor.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct FailedDelivery {
    /// The publisher.
    pub publisher: String,
    /// The event's sequence.
    pub sequence: u64,
    /// How many attempts were made.
    pub attempts: u32,
    /// When it was given up on.
    pub failed_at: Timestamp,
    /// The last failure's reason.
    pub last_error: String,
}

/// A compare-and-set of one publisher's cursor, made by the relay holding a lease.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CursorSave {
    /// Whose cursor.
    pub publisher: String,
    /// The lease the relay must hold.
    pub lease: String,
    /// The relay (the lease's holder).
    pub holder: String,
    /// The cursor as the relay read it: saved only if it is still so.
    pub expected: PublisherCursor,
    /// The cursor to save.
    pub new: PublisherCursor,
    /// An event given up on, recorded in the same step.
    pub failed: Option<FailedDelivery>,
}

/// What is waiting in the outbox, for health reports.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Backlog {
    /// Events not yet delivered to every publisher asked about.
    pub undelivered: u64,
    /// When the oldest of them happened.
    pub oldest_undelivered_at: Option<Timestamp>,
    /// The highest sequence committed so far.
    pub last_sequence: u64,
    /// Events committed with their changes but not yet given a sequence (not yet in the
    /// feed): 0 on stores that sequence at commit. Grows while no sequencer runs.
    pub unsequenced: u64,
    /// When the oldest of those happened.
    pub oldest_unsequenced_at: Option<Timestamp>,
}

impl Backlog {
    /// How long the oldest undelivered event has waited at `now`, in seconds; `None`
    /// when nothing waits.
    pub fn oldest_age_seconds(&self, now: Timestamp) -> Option<f64> {
        self.oldest_undelivered_at
            .map(|t| (now.as_millis() - t.as_millis()).max(0) as f64 / 1000.0)
    }

    /// How long the oldest event without a sequence has waited at `now`, in seconds;
    /// `None` when every committed event is in the feed.
    pub fn oldest_unsequenced_age_seconds(&self, now: Timestamp) -> Option<f64> {
        self.oldest_unsequenced_at
            .map(|t| (now.as_millis() - t.as_millis()).max(0) as f64 / 1000.0)
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_retention_step_stops_at_the_young_the_undelivered_and_its_size() {
        // Nothing young, no publishers: the whole feed, a step at a time.
        assert_eq!(prune_through(0, 25_000, None, None), Some(PRUNE_STEP));
        assert_eq!(prune_through(20_000, 25_000, None, None), Some(25_000));
        // The first event to keep is 7: through 6.
        assert_eq!(prune_through(0, 100, Some(7), None), Some(6));
        // A publisher that has delivered through 3 holds it there.
        assert_eq!(prune_through(0, 100, Some(7), Some(3)), Some(3));
        // Nothing beyond what is already removed.
        assert_eq!(prune_through(6, 100, Some(7), None), None);
        assert_eq!(prune_through(5, 100, Some(1), None), None);
        assert_eq!(prune_through(0, 0, None, None), None);
    }

    use super::*;

    #[test]
    fn event_ids_are_version_7_and_round_trip() {
        let now = Timestamp::from_millis(1_700_000_000_123).unwrap();
        let a = EventId::generate(now);
        let b = EventId::generate(now);
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "7", "version nibble: {text}");
        assert!(
            matches!(&text[19..20], "8" | "9" | "a" | "b"),
            "variant: {text}"
        );
        assert!(text.starts_with("018bcfe5-"), "time prefix: {text}");
        assert_eq!(EventId::parse(&text), Some(a));
        assert_eq!(EventId::parse(&text.to_uppercase()), Some(a));
        assert_eq!(EventId::parse("not-a-uuid"), None);
        assert_eq!(EventId::parse(&text.replace('-', "+")), None);
    }

    #[test]
    fn kinds_and_fields_round_trip() {
        for kind in [EventKind::Created, EventKind::Updated, EventKind::Deleted] {
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
        }
        for field in [
            ChangedField::FullName,
            ChangedField::Amount,
            ChangedField::Kind,
        ] {
            assert_eq!(ChangedField::parse(field.as_str()), Some(field));
        }
    }
}
