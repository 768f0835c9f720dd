//! Metered wrappers: each port call timed by operation and outcome, then handed on, inside
//! a span of target [`fido_domain::SPAN_TARGET`] (`store.<operation>`, `cache.<operation>`)
//! for distributed traces — except cache lookups, most often answered from memory, whose
//! outcome is the `cache.lookup` attribute of the span that asked. The spans carry no
//! values; with no trace exporter installed their callsites are disabled and cost nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use fido_domain::{
    Actor, Cache, CacheError, CacheKey, CacheLookup, CacheSlot, Claim, ClaimRequest, DateRange,
    DayTotals, EncryptedName, EventPublisher, HistoryEntry, HistoryLog, IdempotencyKey,
    IdempotencyStore, ListFilter, ListQuery, Page, PendingOutcome, Position, PublishError,
    PublishOutcome, RecordPatch, SealedKey, StatisticsQuery, StoreError, StoredEvent, Timestamp,
    TransactionId, TransactionRecord, TransactionStore, TransactionTotals, UserId, Written,
};
use tracing::Instrument;

use crate::names;

fn outcome_of_error(e: &StoreError) -> &'static str {
    match e {
        StoreError::Unavailable(_) => "unavailable",
        StoreError::Duplicate => "conflict",
        StoreError::MigrationRequired(_) => "migration_required",
        StoreError::Quarantined { .. } => "quarantined",
        StoreError::Internal(_) => "internal",
    }
}

/// How a call ended, for the `outcome` label.
trait Outcome {
    fn outcome(&self) -> &'static str;
}

impl<T> Outcome for Result<T, StoreError> {
    fn outcome(&self) -> &'static str {
        match self {
            Ok(_) => "ok",
            Err(e) => outcome_of_error(e),
        }
    }
}

fn found<T>(r: &Result<Option<T>, StoreError>) -> &'static str {
    match r {
        Ok(None) => "not_found",
        other => other.as_ref().map(|_| ()).map_err(Clone::clone).outcome(),
    }
}

fn written(r: &Result<Written, StoreError>) -> &'static str {
    match r {
        Ok(Written::NotFound) => "not_found",
        Ok(Written::VersionMismatch) => "conflict",
        Ok(Written::Done(_)) => "ok",
        Err(e) => outcome_of_error(e),
    }
}

fn observe(operation: &'static str, outcome: &'static str, took: Duration) {
    metrics::histogram!(names::STORE_DURATION, "operation" => operation, "outcome" => outcome)
        .record(took.as_secs_f64());
}

/// Times every call of the store ports the service uses on each request.
#[derive(Debug)]
pub struct MeteredStore<S> {
    inner: Arc<S>,
}

impl<S> MeteredStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<S>) -> Self {
        Self { inner }
    }
}

macro_rules! timed {
    ($operation:literal, $classify:expr, $call:expr) => {{
        let span = tracing::info_span!(
            target: "fido::span",
            concat!("store.", $operation),
            otel.kind = "client",
            db.operation.name = $operation,
            otel.status_code = tracing::field::Empty,
        );
        let start = Instant::now();
        let result = $call.instrument(span.clone()).await;
        let outcome = $classify(&result);
        observe($operation, outcome, start.elapsed());
        if matches!(outcome, "unavailable" | "internal" | "migration_required") {
            span.record("otel.status_code", "error");
        }
        result
    }};
}

/// A cache call's span.
macro_rules! cache_span {
    ($operation:literal) => {
        tracing::info_span!(
            target: "fido::span",
            concat!("cache.", $operation),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
        )
    };
}

/// Marks a span as failed when the call failed.
fn mark<T, E>(span: &tracing::Span, result: &Result<T, E>) {
    if result.is_err() {
        span.record("otel.status_code", "error");
    }
}

#[async_trait]
impl<S: TransactionStore> TransactionStore for MeteredStore<S> {
    async fn insert(&self, record: TransactionRecord, actor: Actor) -> Result<(), StoreError> {
        timed!("insert", Outcome::outcome, self.inner.insert(record, actor))
    }
    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        timed!("get", found, self.inner.get(id))
    }
    async fn update(&self, id: TransactionId, patch: RecordPatch) -> Result<Written, StoreError> {
        timed!("update", written, self.inner.update(id, patch))
    }
    async fn delete(
        &self,
        id: TransactionId,
        expected_version: Option<u64>,
        deleted_at: Timestamp,
        actor: Actor,
    ) -> Result<Written, StoreError> {
        timed!(
            "delete",
            written,
            self.inner.delete(id, expected_version, deleted_at, actor)
        )
    }
    async fn list_by_user(
        &self,
        user: UserId,
        query: ListQuery,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        timed!(
            "list",
            Outcome::outcome,
            self.inner.list_by_user(user, query)
        )
    }
    async fn scan_by_user(
        &self,
        user: UserId,
        filter: ListFilter,
        after: Option<Position>,
        limit: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        timed!(
            "scan",
            Outcome::outcome,
            self.inner.scan_by_user(user, filter, after, limit)
        )
    }
    async fn ping(&self) -> Result<(), StoreError> {
        timed!("ping", Outcome::outcome, self.inner.ping())
    }
    async fn quarantined(&self) -> Result<u64, StoreError> {
        // What the store remembers from its last check: not a call worth timing.
        self.inner.quarantined().await
    }
    async fn names_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError> {
        timed!(
            "names_after",
            Outcome::outcome,
            self.inner.names_after(after, limit)
        )
    }
    async fn replace_name(
        &self,
        id: TransactionId,
        expected: EncryptedName,
        new: EncryptedName,
    ) -> Result<bool, StoreError> {
        timed!(
            "replace_name",
            Outcome::outcome,
            self.inner.replace_name(id, expected, new)
        )
    }
}

#[async_trait]
impl<S: StatisticsQuery> StatisticsQuery for MeteredStore<S> {
    async fn totals(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<TransactionTotals, StoreError> {
        timed!("totals", Outcome::outcome, self.inner.totals(user, range))
    }
    async fn daily(&self, user: UserId, range: DateRange) -> Result<Vec<DayTotals>, StoreError> {
        timed!("daily", Outcome::outcome, self.inner.daily(user, range))
    }
}

#[async_trait]
impl<S: HistoryLog> HistoryLog for MeteredStore<S> {
    async fn history(&self, id: TransactionId) -> Result<Vec<HistoryEntry>, StoreError> {
        timed!("history", Outcome::outcome, self.inner.history(id))
    }
    async fn prune_history(&self, before: Timestamp) -> Result<u64, StoreError> {
        timed!(
            "prune_history",
            Outcome::outcome,
            self.inner.prune_history(before)
        )
    }
}

#[async_trait]
impl<S: IdempotencyStore> IdempotencyStore for MeteredStore<S> {
    async fn claim(&self, request: ClaimRequest) -> Result<Claim, StoreError> {
        timed!("claim", Outcome::outcome, self.inner.claim(request))
    }
    async fn complete(
        &self,
        scope: String,
        key: IdempotencyKey,
        snapshot: String,
    ) -> Result<(), StoreError> {
        timed!(
            "complete",
            Outcome::outcome,
            self.inner.complete(scope, key, snapshot)
        )
    }
    async fn release(&self, scope: String, key: IdempotencyKey) -> Result<(), StoreError> {
        timed!("release", Outcome::outcome, self.inner.release(scope, key))
    }
    async fn sealed_after(
        &self,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<Vec<SealedKey>, StoreError> {
        timed!(
            "sealed_after",
            Outcome::outcome,
            self.inner.sealed_after(after, limit)
        )
    }
    async fn replace_sealed(
        &self,
        expected: SealedKey,
        new: SealedKey,
    ) -> Result<bool, StoreError> {
        timed!(
            "replace_sealed",
            Outcome::outcome,
            self.inner.replace_sealed(expected, new)
        )
    }
}

/// Counts and times every cache call. The metric handles are made once, when the cache
/// is wrapped (after the recorder is installed), so a call costs no registry lookup.
pub struct MeteredCache {
    inner: Arc<dyn Cache>,
    hits: metrics::Counter,
    misses: metrics::Counter,
    failures: metrics::Counter,
    calls: [CacheCall; 4],
}

struct CacheCall {
    duration: metrics::Histogram,
    errors: metrics::Counter,
}

impl CacheCall {
    fn new(operation: &'static str) -> Self {
        Self {
            duration: metrics::histogram!(names::CACHE_DURATION, "operation" => operation),
            errors: metrics::counter!(names::CACHE_ERRORS, "operation" => operation),
        }
    }

    fn observe<T>(&self, start: Instant, result: &Result<T, CacheError>) {
        self.duration.record(start.elapsed().as_secs_f64());
        if result.is_err() {
            self.errors.increment(1);
        }
    }
}

const LOOKUP: usize = 0;
const PUT: usize = 1;
const INVALIDATE: usize = 2;
const PING: usize = 3;

impl std::fmt::Debug for MeteredCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MeteredCache { .. }")
    }
}

impl MeteredCache {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Cache>) -> Self {
        Self {
            inner,
            hits: metrics::counter!(names::CACHE_LOOKUPS, "result" => "hit"),
            misses: metrics::counter!(names::CACHE_LOOKUPS, "result" => "miss"),
            failures: metrics::counter!(names::CACHE_LOOKUPS, "result" => "error"),
            calls: [
                CacheCall::new("lookup"),
                CacheCall::new("put"),
                CacheCall::new("invalidate"),
                CacheCall::new("ping"),
            ],
        }
    }
}

#[async_trait]
impl Cache for MeteredCache {
    async fn lookup(&self, key: &CacheKey) -> Result<CacheLookup, CacheError> {
        // A lookup is most often answered from memory: its outcome is an attribute of
        // the span that asked (`cache.lookup`), not a span of its own.
        let start = Instant::now();
        let result = self.inner.lookup(key).await;
        self.calls[LOOKUP].observe(start, &result);
        let outcome = match &result {
            Ok(CacheLookup::Hit(_)) => {
                self.hits.increment(1);
                "hit"
            }
            Ok(CacheLookup::Miss(_)) => {
                self.misses.increment(1);
                "miss"
            }
            Err(_) => {
                self.failures.increment(1);
                "error"
            }
        };
        crate::traces::annotate("cache.lookup", outcome);
        result
    }

    async fn put(&self, slot: &CacheSlot, value: String, ttl: Duration) -> Result<(), CacheError> {
        let span = cache_span!("put");
        let start = Instant::now();
        let result = self
            .inner
            .put(slot, value, ttl)
            .instrument(span.clone())
            .await;
        self.calls[PUT].observe(start, &result);
        mark(&span, &result);
        result
    }

    async fn invalidate_user(&self, user: UserId) -> Result<(), CacheError> {
        let span = cache_span!("invalidate");
        let start = Instant::now();
        let result = self
            .inner
            .invalidate_user(user)
            .instrument(span.clone())
            .await;
        self.calls[INVALIDATE].observe(start, &result);
        mark(&span, &result);
        result
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let span = cache_span!("ping");
        let start = Instant::now();
        let result = self.inner.ping().instrument(span.clone()).await;
        self.calls[PING].observe(start, &result);
        mark(&span, &result);
        result
    }
}

/// Times every publish call and counts what it delivered and whether it failed.
pub struct MeteredPublisher {
    inner: Arc<dyn EventPublisher>,
}

impl std::fmt::Debug for MeteredPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeteredPublisher")
            .field("name", &self.inner.name())
            .finish()
    }
}

impl MeteredPublisher {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn EventPublisher>) -> Self {
        Self { inner }
    }
}

#[async_trait]
impl EventPublisher for MeteredPublisher {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn retry_horizon(&self) -> Option<Duration> {
        self.inner.retry_horizon()
    }
    fn max_batch(&self) -> usize {
        self.inner.max_batch()
    }
    fn pipeline_depth(&self) -> usize {
        self.inner.pipeline_depth()
    }
    async fn prepare(&self) -> Result<(), PublishError> {
        self.inner.prepare().await
    }
    async fn publish(&self, events: &[StoredEvent]) -> PublishOutcome {
        let start = Instant::now();
        let outcome = self.inner.publish(events).await;
        record_publish(self.inner.name(), start, &outcome);
        outcome
    }
    async fn send(&self, events: &[StoredEvent]) -> PendingOutcome {
        // Timed from sending to the confirmation of the batch.
        let start = Instant::now();
        let pending = self.inner.send(events).await;
        let name = self.inner.name().to_owned();
        Box::pin(async move {
            let outcome = pending.await;
            record_publish(&name, start, &outcome);
            outcome
        })
    }
}

fn record_publish(name: &str, start: Instant, outcome: &PublishOutcome) {
    // Publisher names come from the configuration (bounded), never from data.
    let publisher = name.to_owned();
    metrics::histogram!(names::PUBLISH_DURATION, "publisher" => publisher.clone())
        .record(start.elapsed().as_secs_f64());
    metrics::counter!(names::PUBLISHED, "publisher" => publisher.clone())
        .increment(outcome.delivered as u64);
    if outcome.error.is_some() {
        metrics::counter!(names::PUBLISH_FAILURES, "publisher" => publisher).increment(1);
    }
}
