//! Ports: the traits through which the core reaches the outside world, one file per
//! family — [`storage`], [`events`], [`cache`], [`cipher`], [`clock`], [`encoder`]; the
//! errors they report are the domain's ([`crate::error`]).
//!
//! Every port is `Send + Sync` and object-safe, so the app can choose adapters at run time
//! (`Arc<dyn TransactionStore>`). Each method documents its error contract: what an adapter
//! MUST return in which situation. The service relies on these contracts and nothing else,
//! and the testkit's contract suites check them for every adapter.
//!
//! With the `mocks` feature (and in this crate's own tests) mockall generates
//! `MockTransactionStore`, `MockStatisticsQuery`, `MockIdempotencyStore`,
//! `MockDailyRollups`, `MockEventLog`, `MockStoreTransfer`, `MockWriteSwitch`,
//! `MockEventPublisher`, `MockCache`, `MockFieldCipher`, `MockReadEncoder` and `MockClock`.

pub mod cache;
pub mod cipher;
pub mod clock;
pub mod encoder;
pub mod events;
pub mod storage;

pub use self::cache::{Cache, NoCache};
pub use self::cipher::FieldCipher;
pub use self::clock::{Clock, SystemClock};
pub use self::encoder::{EncodeError, ReadEncoder};
pub use self::events::{EventLog, EventPublisher, PendingOutcome, PublishError, PublishOutcome};
pub use self::storage::{
    DailyRollups, HistoryLog, IdempotencyStore, ImportCounts, ImportStep, RollupDrift,
    StatisticsQuery, Store, StoreTransfer, TransactionStore, WritePause, WriteSwitch,
};
pub use crate::error::{CacheError, CipherError, StoreError};

#[cfg(any(test, feature = "mocks"))]
pub use self::{
    cache::MockCache, cipher::MockFieldCipher, clock::MockClock, encoder::MockReadEncoder,
    events::MockEventLog, events::MockEventPublisher, storage::MockDailyRollups,
    storage::MockHistoryLog, storage::MockIdempotencyStore, storage::MockStatisticsQuery,
    storage::MockStoreTransfer, storage::MockTransactionStore, storage::MockWriteSwitch,
};
