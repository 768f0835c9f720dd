//! # fido-events — the Transactions API's events, typed
//!
//! Every change to a transaction becomes an [`Event`]: on the pull feed
//! (`GET /api/v1/events`), on RabbitMQ (exchange `fido.events`, routing key = the event's
//! type), and in webhook bodies — the same JSON everywhere, described in `docs/events.md`
//! and by the JSON Schema in `docs/events.schema.json`.
//!
//! This crate is for consumers: serde types and nothing else (no I/O, no runtime), so a
//! Rust service can decode what it receives with `serde_json::from_slice::<Event>(body)`.
//! Delivery is at least once: deduplicate by [`Event::id`]. Within one publisher events
//! arrive in [`Event::sequence`] order. Events carry no personal data: the customer's name
//! is never in them (an update of it lists `full_name` in
//! [`Event::changed_fields`]; read the new name through the API with your own key).
//!
//! ```
//! let body = br#"{"id":"01890a5d-ac96-774b-bcce-b302099a8057","type":"transaction.created",
//!   "schema_version":1,"sequence":7,"occurred_at":"2026-03-01T10:00:00.000Z",
//!   "user_id":"65e25a6bfb249dcbfbf00b93","transaction_id":"6650f0c2e4b0a1b2c3d4e5f6",
//!   "data":{"id":"6650f0c2e4b0a1b2c3d4e5f6","user_id":"65e25a6bfb249dcbfbf00b93",
//!     "transaction_amount":10.5,"transaction_amount_cents":1050,"transaction_type":"credit",
//!     "transaction_date":"2026-03-01T10:00:00.000Z","created_at":"2026-03-01T10:00:00.000Z",
//!     "updated_at":"2026-03-01T10:00:00.000Z","version":1}}"#;
//! let event: fido_events::Event = serde_json::from_slice(body).unwrap();
//! assert_eq!(event.kind, fido_events::EventType::Created);
//! assert_eq!(event.data.transaction_amount_cents, 1050);
//! ```

#[cfg(feature = "domain")]
mod from_domain;

use serde::{Deserialize, Serialize};

/// The envelope's version: see [`Event::schema_version`].
pub const SCHEMA_VERSION: u32 = 1;

/// What happened.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub enum EventType {
    /// A transaction was recorded.
    #[serde(rename = "transaction.created")]
    Created,
    /// Some fields of a transaction changed.
    #[serde(rename = "transaction.updated")]
    Updated,
    /// A transaction was removed.
    #[serde(rename = "transaction.deleted")]
    Deleted,
}

impl EventType {
    /// The type's text, which is also the RabbitMQ routing key.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "transaction.created",
            Self::Updated => "transaction.updated",
            Self::Deleted => "transaction.deleted",
        }
    }
}

/// One event.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Event {
    /// Unique (a UUIDv7): deduplicate by it.
    pub id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// The envelope's version; it grows only when a field changes meaning or goes away.
    pub schema_version: u32,
    /// Strictly increasing per store: the feed's cursor and the delivery order.
    pub sequence: u64,
    /// When the change happened (RFC 3339, UTC, milliseconds).
    pub occurred_at: String,
    /// Whose transaction.
    pub user_id: String,
    /// Which transaction.
    pub transaction_id: String,
    /// The transaction after the change; for `transaction.deleted`, as it was before.
    pub data: TransactionData,
    /// For `transaction.updated`: the changed fields as they were before (the name never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<PreviousValues>,
    /// For `transaction.updated`: which fields the update changed, by their API names
    /// (`full_name`, `transaction_amount`, `transaction_type`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_fields: Vec<String>,
}

/// A transaction as events show it: every field of the API's resource but `full_name`.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct TransactionData {
    /// The transaction's id.
    pub id: String,
    /// The owning user's id.
    pub user_id: String,
    /// The amount, as the API writes it (a JSON number with at most 2 decimals).
    pub transaction_amount: f64,
    /// The same amount in integer cents: exact, for sums.
    pub transaction_amount_cents: u64,
    /// `credit` or `debit`.
    pub transaction_type: String,
    /// When it happened.
    pub transaction_date: String,
    /// When it was recorded.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
    /// Its version (the API's `ETag`).
    pub version: u64,
}

/// The values an update replaced (only the changed ones, plus the version and time).
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct PreviousValues {
    /// The amount before, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_amount: Option<f64>,
    /// The amount before in cents, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_amount_cents: Option<u64>,
    /// The type before, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_type: Option<String>,
    /// When it had last changed before this update.
    pub updated_at: String,
    /// Its version before this update.
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_use_their_dotted_names() {
        for t in [EventType::Created, EventType::Updated, EventType::Deleted] {
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.as_str()));
            assert_eq!(serde_json::from_str::<EventType>(&json).unwrap(), t);
        }
    }
}
