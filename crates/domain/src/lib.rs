//! # fido-domain — the core of the Transactions API
//!
//! This crate holds everything the service *means*, and nothing about how it talks to the
//! world: value types that cannot hold invalid data ([`Amount`], [`FullName`],
//! [`TransactionId`], [`UserId`], [`Timestamp`], [`DateRange`], …), the entities built from
//! them ([`Transaction`], [`NewTransaction`], [`TransactionPatch`], [`Page`],
//! [`StatisticsSummary`]), the **ports** through which the core reaches storage, caching,
//! encryption and time ([`ports`]), and the [`TransactionService`] that owns the rules.
//! Every change is also an event ([`events`]), written by the store with the change and
//! moved to brokers and webhooks by the [`EventRelay`], and a permanent version in the
//! transaction's [`history`], written in the same atomic write.
//!
//! It depends on no web framework, database driver, cache client or crypto library: the
//! HTTP app and the adapters depend on it, never the other way round. Other Rust services
//! can link it directly and plug in their own adapters — see `examples/wire_domain.rs`.
//!
//! It speaks no wire format either: errors are typed ([`DomainError`], [`NotFound`]),
//! entities use the business's names (`amount`, `kind`, `busiest_day`), and the one place
//! where a read's bytes matter — the cache, which hands hits back without decoding them —
//! goes through the [`ReadEncoder`] port, which the transport implements.
//!
//! With the `mocks` feature, [`mockall`](https://docs.rs/mockall) mocks of every port are
//! generated (`MockTransactionStore`, `MockStatisticsQuery`, `MockIdempotencyStore`,
//! `MockDailyRollups`, `MockEventLog`, `MockStoreTransfer`, `MockWriteSwitch`, `MockHistoryLog`,
//! `MockEventPublisher`, `MockCache`, `MockFieldCipher`, `MockReadEncoder`, `MockClock`) so
//! downstream crates can unit-test against them.
//!
//! ## Money
//! Amounts are integer minor units (cents). They are parsed from JSON numbers through the
//! shortest decimal that round-trips the number, so `0.1` is exactly ten cents, and every
//! sum is integer arithmetic: `0.10 + 0.20` totals exactly `0.30`.

pub mod amount;
pub mod cache_key;
pub mod error;
pub mod events;
pub mod history;
pub mod id;
pub mod idempotency;
pub mod name;
pub mod page;
pub mod ports;
pub mod query;
pub mod relay;
pub mod service;
pub mod statistics;
pub mod time;
pub mod transaction;
pub mod value_error;

pub use amount::{Amount, MoneySum};
pub use cache_key::{CacheEntry, CacheKey, CacheLookup, CachePolicy, CacheSlot};
pub use error::{error_chain, DomainError, InternalError, NotFound, ValueError};
pub use events::{
    arrange_for_sequencing, prune_through, Backlog, ChangedField, CursorSave, EventId, EventKind,
    EventPage, FailedDelivery, OutboxEvent, PublisherCursor, StoredEvent, TransactionSnapshot,
    EVENT_SCHEMA_VERSION, PRUNE_STEP,
};
pub use history::{
    Actor, FieldChange, HistoryAction, HistoryEntry, TransactionVersion, VersionValues,
};
pub use id::{ObjectId, TransactionId, UserId};
pub use idempotency::{
    Claim, ClaimRequest, ClaimStep, HeldClaim, IdempotencyKey, IdempotencyRecord, SealedKey,
};
pub use name::{EncryptedName, FullName};
pub use page::Page;
pub use ports::{
    Cache, CacheError, CipherError, Clock, DailyRollups, EncodeError, EventLog, EventPublisher,
    FieldCipher, HistoryLog, IdempotencyStore, ImportCounts, ImportStep, NoCache, PendingOutcome,
    PublishError, PublishOutcome, ReadEncoder, RollupDrift, StatisticsQuery, Store, StoreError,
    StoreTransfer, SystemClock, TransactionStore, WritePause, WriteSwitch,
};
#[cfg(any(test, feature = "mocks"))]
pub use ports::{
    MockCache, MockClock, MockDailyRollups, MockEventLog, MockEventPublisher, MockFieldCipher,
    MockHistoryLog, MockIdempotencyStore, MockReadEncoder, MockStatisticsQuery, MockStoreTransfer,
    MockTransactionStore, MockWriteSwitch,
};
pub use query::{
    Cursor, FilterError, ListFilter, ListQuery, PageRequest, PageRequestError, Position, Window,
};
pub use relay::{Coordination, EventRelay, LaneStep, RelayConfig, RelayStatus, Round, RELAY_LEASE};
pub use service::{
    reencrypt_history, verify_rollups, EncodedTransaction, Ports, Readiness, ReencryptProgress,
    ResealProgress, RollupReport, ServiceConfig, TransactionService, FORGET_PAGES, MAX_FEED_LIMIT,
};
pub use statistics::{
    signed, Balance, DayTotals, Granularity, RunningBalance, Series, SeriesPoint,
    StatisticsSummary, TransactionTotals,
};
pub use time::{DateRange, DaySplit, Timestamp, UtcDay, MS_PER_DAY};
pub use transaction::{
    NewTransaction, RecordPatch, Transaction, TransactionPatch, TransactionRecord, TransactionType,
    Written,
};

/// The `tracing` target of the spans that exist for distributed traces: the HTTP
/// handler's, the service's, and each store and cache call. They carry no field values
/// (no ids, names or amounts). A log layer filters them out; a trace exporter keeps them;
/// with no exporter their callsites are disabled and cost nothing.
pub const SPAN_TARGET: &str = "fido::span";
