//! Unit tests of the service's branches that need a port to misbehave or to be observed
//! call by call (cache failures, cipher failures, outages, single flight, the exact
//! cache keys and framing), against the mockall mocks of the ports. The plain behaviour —
//! create, read, update, delete, read-your-writes, idempotent replays — is proven over the
//! testkit's in-memory store in `tests/service.rs`.

use std::sync::Arc;
use std::time::Duration;

use mockall::predicate::{always, eq};

use super::*;
use crate::amount::{Amount, MoneySum};
use crate::cache_key::{CacheLookup, CacheSlot};
use crate::error::NotFound;
use crate::ports::EncodeError;
use crate::ports::{
    MockCache, MockClock, MockFieldCipher, MockIdempotencyStore, MockStatisticsQuery,
    MockTransactionStore,
};
use crate::query::PageRequest;
use crate::service::idempotent::canonical_request;
use crate::statistics::TransactionTotals;
use crate::statistics::{Balance, Series, StatisticsSummary};
use crate::time::{Timestamp, UtcDay};
use crate::transaction::{TransactionType, Written};

const NOW_MS: i64 = 1_764_151_530_123; // 2025-11-26T10:05:30.123Z

fn now() -> Timestamp {
    Timestamp::from_millis(NOW_MS).unwrap()
}

fn user() -> UserId {
    UserId::parse("65e25a6bfb249dcbfbf00b93").unwrap()
}

fn tx_id() -> TransactionId {
    TransactionId::parse("6650f0c2e4b0a1b2c3d4e5f6").unwrap()
}

fn name() -> FullName {
    FullName::parse("Ada Lovelace").unwrap()
}

/// A cipher that "encrypts" by prefixing, so tests can see what reached the store.
fn cipher() -> MockFieldCipher {
    let mut c = MockFieldCipher::new();
    c.expect_encrypt().returning(|p| Ok(format!("enc:{p}")));
    c.expect_decrypt().returning(|t| {
        t.strip_prefix("enc:")
            .map(str::to_owned)
            .ok_or(CipherError::InvalidToken)
    });
    c
}

fn clock() -> MockClock {
    let mut c = MockClock::new();
    c.expect_now().returning(now);
    c
}

fn record() -> TransactionRecord {
    TransactionRecord {
        id: tx_id(),
        user_id: user(),
        full_name: EncryptedName::new("enc:Ada Lovelace"),
        amount: Amount::from_cents(1050).unwrap(),
        kind: TransactionType::Credit,
        transaction_date: now(),
        created_at: now(),
        updated_at: now(),
        version: 1,
    }
}

fn new_tx(date: Option<Timestamp>) -> NewTransaction {
    NewTransaction {
        user_id: user(),
        full_name: name(),
        amount: Amount::from_cents(1050).unwrap(),
        kind: TransactionType::Credit,
        transaction_date: date,
    }
}

/// A cache that expects exactly `n` invalidations of `user()`.
fn cache_invalidated(n: usize) -> MockCache {
    let mut c = MockCache::new();
    c.expect_invalidate_user()
        .with(eq(user()))
        .times(n)
        .returning(|_| Ok(()));
    c
}

fn service(
    store: MockTransactionStore,
    stats: MockStatisticsQuery,
    cache: MockCache,
    cipher: MockFieldCipher,
) -> TransactionService {
    TransactionService::new(
        Ports {
            store: Arc::new(store),
            statistics: Arc::new(stats),
            cache: Arc::new(cache),
            cipher: Arc::new(cipher),
            clock: Arc::new(clock()),
            idempotency: Arc::new(MockIdempotencyStore::new()),
            encoder: Arc::new(TestEncoder),
            rollups: Arc::new(crate::ports::MockDailyRollups::new()),
            events: Arc::new(crate::ports::MockEventLog::new()),
            history: Arc::new(crate::ports::MockHistoryLog::new()),
        },
        ServiceConfig::default(),
    )
}

fn store_only(store: MockTransactionStore, cache: MockCache) -> TransactionService {
    service(store, MockStatisticsQuery::new(), cache, cipher())
}

/// The actor every write of these tests is made by.
fn tester() -> Actor {
    Actor::new("tester").expect("a valid actor")
}

/// A readable, deterministic encoding, so tests can see what was encoded and cached.
struct TestEncoder;

impl ReadEncoder for TestEncoder {
    fn format(&self) -> &'static str {
        "test1"
    }
    fn encode_page(&self, page: &Page<Transaction>) -> Result<String, EncodeError> {
        let names: Vec<&str> = page.data.iter().map(|t| t.full_name.expose()).collect();
        Ok(format!(
            "page total={} names={}",
            page.total,
            names.join(",")
        ))
    }
    fn encode_statistics(&self, s: &StatisticsSummary) -> Result<String, EncodeError> {
        Ok(format!(
            "stats count={} average={} net={}",
            s.count,
            s.average.cents(),
            s.net.cents()
        ))
    }
    fn encode_series(&self, s: &Series) -> Result<String, EncodeError> {
        let points: Vec<String> = s
            .points
            .iter()
            .map(|p| format!("{}={}", p.period, p.count))
            .collect();
        Ok(format!("{}:{}", s.granularity, points.join(",")))
    }
    fn encode_transaction(&self, t: &Transaction) -> Result<String, EncodeError> {
        Ok(format!(
            "txn {} v{} {}",
            t.id,
            t.version,
            t.full_name.expose()
        ))
    }
    fn encode_balance(&self, b: &Balance) -> Result<String, EncodeError> {
        Ok(format!(
            "balance count={} cents={}",
            b.count,
            b.balance().cents()
        ))
    }
}

// ---------- create ----------

#[tokio::test]
async fn create_rejects_a_date_more_than_five_minutes_ahead_and_stores_nothing() {
    let store = MockTransactionStore::new(); // any call would panic the test
    let svc = store_only(store, MockCache::new());
    let late = now().plus_millis(5 * 60_000 + 1);
    match svc.create(new_tx(Some(late)), &tester()).await {
        Err(DomainError::DateTooFarAhead { max }) => assert_eq!(max, Duration::from_secs(300)),
        other => panic!("expected a validation error, got {other:?}"),
    }
}

#[tokio::test]
async fn create_accepts_a_date_within_the_skew_and_in_the_past() {
    let mut store = MockTransactionStore::new();
    store.expect_insert().times(2).returning(|_, _| Ok(()));
    let svc = store_only(store, cache_invalidated(2));
    let edge = now().plus_millis(5 * 60_000);
    assert_eq!(
        svc.create(new_tx(Some(edge)), &tester())
            .await
            .unwrap()
            .transaction_date,
        edge
    );
    let past = now().plus_millis(-86_400_000);
    assert_eq!(
        svc.create(new_tx(Some(past)), &tester())
            .await
            .unwrap()
            .transaction_date,
        past
    );
}

#[tokio::test]
async fn create_with_a_failing_cipher_is_internal_and_stores_nothing() {
    let mut broken = MockFieldCipher::new();
    broken
        .expect_encrypt()
        .returning(|_| Err(CipherError::Internal("no randomness".into())));
    let svc = service(
        MockTransactionStore::new(),
        MockStatisticsQuery::new(),
        MockCache::new(),
        broken,
    );
    assert!(matches!(
        svc.create(new_tx(None), &tester()).await,
        Err(DomainError::Internal(_))
    ));
}

#[tokio::test]
async fn create_maps_an_unreachable_store_and_does_not_invalidate() {
    let mut store = MockTransactionStore::new();
    store
        .expect_insert()
        .returning(|_, _| Err(StoreError::Unavailable("connection refused".into())));
    let svc = store_only(store, MockCache::new());
    assert!(matches!(
        svc.create(new_tx(None), &tester()).await,
        Err(DomainError::StoreUnavailable(_))
    ));
}

#[tokio::test]
async fn create_succeeds_when_the_cache_cannot_be_invalidated() {
    let mut store = MockTransactionStore::new();
    store.expect_insert().returning(|_, _| Ok(()));
    let mut cache = MockCache::new();
    cache
        .expect_invalidate_user()
        .times(1)
        .returning(|_| Err(CacheError::Unavailable("timeout".into())));
    let svc = store_only(store, cache);
    assert!(svc.create(new_tx(None), &tester()).await.is_ok());
}

#[tokio::test]
async fn create_reports_a_duplicate_id_as_internal() {
    let mut store = MockTransactionStore::new();
    store
        .expect_insert()
        .returning(|_, _| Err(StoreError::Duplicate));
    let svc = store_only(store, MockCache::new());
    assert!(matches!(
        svc.create(new_tx(None), &tester()).await,
        Err(DomainError::Internal(_))
    ));
}

// ---------- get ----------

#[tokio::test]
async fn get_with_an_undecryptable_name_is_internal() {
    let mut store = MockTransactionStore::new();
    store.expect_get().returning(|_| {
        let mut r = record();
        r.full_name = EncryptedName::new("made-with-another-key");
        Ok(Some(r))
    });
    let err = store_only(store, MockCache::new())
        .get(tx_id())
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Internal(_)));
}

#[tokio::test]
async fn get_with_the_store_down_is_unavailable() {
    let mut store = MockTransactionStore::new();
    store
        .expect_get()
        .returning(|_| Err(StoreError::Unavailable("down".into())));
    let err = store_only(store, MockCache::new())
        .get(tx_id())
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::StoreUnavailable(_)));
}

// ---------- update ----------

// ---------- delete ----------

#[tokio::test]
async fn delete_with_the_store_down_is_unavailable() {
    let mut store = MockTransactionStore::new();
    store
        .expect_delete()
        .returning(|_, _, _, _| Err(StoreError::Unavailable("down".into())));
    let err = store_only(store, MockCache::new())
        .delete(tx_id(), None, &tester())
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::StoreUnavailable(_)));
}

// ---------- list ----------

fn page_of_one() -> Page<TransactionRecord> {
    Page {
        total: 1,
        page: Some(1),
        limit: 10,
        data: vec![record()],
        next: None,
        balance_after: None,
    }
}

#[tokio::test]
async fn list_cache_hit_does_not_touch_the_store() {
    let svc_for_json = store_only(
        {
            let mut s = MockTransactionStore::new();
            s.expect_list_by_user().returning(|_, _| Ok(page_of_one()));
            s
        },
        {
            let mut c = MockCache::new();
            c.expect_lookup()
                .returning(|_| Ok(CacheLookup::Miss(CacheSlot::new("s"))));
            c.expect_put().returning(|_, _, _| Ok(()));
            c
        },
    );
    let expected = svc_for_json
        .list_encoded(user(), ListQuery::page(PageRequest::default()))
        .await
        .unwrap();
    let framed = format!("+{expected}");

    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .withf(|k| k.render() == "list2test1:p1:l10" && k.user == user())
        .returning(move |_| Ok(CacheLookup::Hit(framed.clone())));
    let svc = store_only(MockTransactionStore::new(), cache);
    assert_eq!(
        svc.list_encoded(user(), ListQuery::page(PageRequest::default()))
            .await
            .unwrap(),
        expected
    );
}

#[tokio::test]
async fn list_miss_reads_the_store_decrypts_and_fills_the_slot() {
    let mut store = MockTransactionStore::new();
    store
        .expect_list_by_user()
        .with(eq(user()), eq(ListQuery::page(PageRequest::default())))
        .times(1)
        .returning(|_, _| Ok(page_of_one()));
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Ok(CacheLookup::Miss(CacheSlot::new("slot-7"))));
    cache
        .expect_put()
        .withf(|slot, framed, ttl| {
            slot.as_str() == "slot-7"
                && framed == "+page total=1 names=Ada Lovelace"
                && *ttl == Duration::from_secs(300)
        })
        .times(1)
        .returning(|_, _, _| Ok(()));
    let page = store_only(store, cache)
        .list_encoded(user(), ListQuery::page(PageRequest::default()))
        .await
        .unwrap();
    assert_eq!(page, "page total=1 names=Ada Lovelace");
}

#[tokio::test]
async fn list_with_a_broken_cache_answers_from_the_store_and_does_not_fill() {
    let mut store = MockTransactionStore::new();
    store
        .expect_list_by_user()
        .times(1)
        .returning(|_, _| Ok(page_of_one()));
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Err(CacheError::Unavailable("timeout".into())));
    cache.expect_put().times(0);
    let page = store_only(store, cache)
        .list_encoded(user(), ListQuery::page(PageRequest::default()))
        .await
        .unwrap();
    assert_eq!(page, "page total=1 names=Ada Lovelace");
}

#[tokio::test]
async fn a_cache_hit_is_handed_over_as_it_is_without_reading_the_store() {
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Ok(CacheLookup::Hit("+{\"cached\":true}".into())));
    let svc = store_only(MockTransactionStore::new(), cache);
    let encoded = svc
        .list_encoded(user(), ListQuery::page(PageRequest::default()))
        .await
        .unwrap();
    assert_eq!(encoded, "{\"cached\":true}");
}

#[tokio::test]
async fn a_cache_entry_not_in_the_services_framing_is_internal() {
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Ok(CacheLookup::Hit("null".into())));
    let svc = store_only(MockTransactionStore::new(), cache);
    assert!(matches!(
        svc.list_encoded(user(), ListQuery::page(PageRequest::default()))
            .await,
        Err(DomainError::Internal(InternalError::CorruptCacheEntry))
    ));
}

#[tokio::test]
async fn typed_list_reads_the_store_and_never_the_cache() {
    let mut store = MockTransactionStore::new();
    store
        .expect_list_by_user()
        .times(1)
        .returning(|_, _| Ok(page_of_one()));
    let page = store_only(store, MockCache::new())
        .list(user(), ListQuery::page(PageRequest::default()))
        .await
        .unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.data[0].full_name.expose(), "Ada Lovelace");
}

#[tokio::test]
async fn list_with_the_store_down_is_unavailable() {
    let mut store = MockTransactionStore::new();
    store
        .expect_list_by_user()
        .returning(|_, _| Err(StoreError::Unavailable("down".into())));
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Ok(CacheLookup::Miss(CacheSlot::new("s"))));
    cache.expect_put().times(0);
    let err = store_only(store, cache)
        .list_encoded(user(), ListQuery::page(PageRequest::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::StoreUnavailable(_)));
}

#[tokio::test]
async fn list_with_an_undecryptable_record_is_internal_and_not_cached() {
    let mut store = MockTransactionStore::new();
    store.expect_list_by_user().returning(|_, _| {
        let mut p = page_of_one();
        p.data[0].full_name = EncryptedName::new("garbage");
        Ok(p)
    });
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Ok(CacheLookup::Miss(CacheSlot::new("s"))));
    cache.expect_put().times(0);
    let err = store_only(store, cache)
        .list_encoded(user(), ListQuery::page(PageRequest::default()))
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::Internal(_)));
}

// ---------- statistics ----------

fn totals() -> TransactionTotals {
    TransactionTotals {
        count: 2,
        total_credit: MoneySum::from_cents(4500),
        total_debit: MoneySum::ZERO,
        busiest_day: Some(UtcDay::parse("2026-11-25").unwrap()),
    }
}

fn stats_service(stats: MockStatisticsQuery, cache: MockCache) -> TransactionService {
    service(MockTransactionStore::new(), stats, cache, cipher())
}

#[tokio::test]
async fn statistics_miss_computes_in_the_store_and_caches_for_ten_minutes() {
    let mut stats = MockStatisticsQuery::new();
    stats
        .expect_totals()
        .with(eq(user()), eq(DateRange::ALL))
        .times(1)
        .returning(|_, _| Ok(totals()));
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .withf(|k| k.render() == "stats2test1:-:-")
        .returning(|_| Ok(CacheLookup::Miss(CacheSlot::new("st"))));
    cache
        .expect_put()
        .with(always(), always(), eq(Duration::from_secs(600)))
        .times(1)
        .returning(|_, _, _| Ok(()));
    let s = stats_service(stats, cache)
        .statistics_encoded(user(), DateRange::ALL)
        .await
        .unwrap();
    assert_eq!(s, "stats count=2 average=2250 net=4500");
}

#[tokio::test]
async fn statistics_cache_hit_does_not_query_the_store() {
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(move |_| Ok(CacheLookup::Hit("+cached stats".into())));
    let s = stats_service(MockStatisticsQuery::new(), cache)
        .statistics_encoded(user(), DateRange::ALL)
        .await
        .unwrap();
    assert_eq!(s, "cached stats");
}

#[tokio::test]
async fn statistics_of_an_empty_range_are_not_found_and_the_answer_is_cached() {
    let mut stats = MockStatisticsQuery::new();
    stats
        .expect_totals()
        .returning(|_, _| Ok(TransactionTotals::default()));
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Ok(CacheLookup::Miss(CacheSlot::new("st"))));
    cache
        .expect_put()
        .withf(|_, framed, _| framed == "-")
        .times(1)
        .returning(|_, _, _| Ok(()));
    let err = stats_service(stats, cache)
        .statistics_encoded(user(), DateRange::ALL)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        DomainError::NotFound(NotFound::NoTransactionsInRange)
    ));
}

#[tokio::test]
async fn statistics_cached_as_empty_are_not_found() {
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Ok(CacheLookup::Hit("-".into())));
    let err = stats_service(MockStatisticsQuery::new(), cache)
        .statistics_encoded(user(), DateRange::ALL)
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::NotFound(_)));
}

#[tokio::test]
async fn statistics_with_a_broken_cache_answer_from_the_store() {
    let mut stats = MockStatisticsQuery::new();
    stats
        .expect_totals()
        .times(1)
        .returning(|_, _| Ok(totals()));
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Err(CacheError::Unavailable("down".into())));
    cache.expect_put().times(0);
    assert!(stats_service(stats, cache)
        .statistics_encoded(user(), DateRange::ALL)
        .await
        .is_ok());
}

#[tokio::test]
async fn statistics_with_the_store_down_are_unavailable() {
    let mut stats = MockStatisticsQuery::new();
    stats
        .expect_totals()
        .returning(|_, _| Err(StoreError::Unavailable("down".into())));
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Ok(CacheLookup::Miss(CacheSlot::new("st"))));
    let err = stats_service(stats, cache)
        .statistics_encoded(user(), DateRange::ALL)
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::StoreUnavailable(_)));
}

// ---------- readiness ----------

#[tokio::test]
async fn readiness_reports_each_dependency() {
    let mut store = MockTransactionStore::new();
    store.expect_ping().returning(|| Ok(()));
    store.expect_quarantined().returning(|| Ok(2));
    let mut cache = MockCache::new();
    cache
        .expect_ping()
        .returning(|| Err(CacheError::Unavailable("down".into())));
    let r = store_only(store, cache).readiness().await;
    assert!(r.store.is_ok());
    assert!(r.cache.is_err());
    assert_eq!(
        r.quarantined, 2,
        "documents set aside by a migration are reported"
    );
}

// ---------- single flight ----------

use std::sync::atomic::{AtomicUsize, Ordering};

/// A store that counts reads and takes its time, so concurrent requests overlap.
#[derive(Default)]
struct SlowCountingStore {
    lists: AtomicUsize,
    totals: AtomicUsize,
}

#[async_trait::async_trait]
impl TransactionStore for SlowCountingStore {
    async fn insert(&self, _: TransactionRecord, _: Actor) -> Result<(), StoreError> {
        Err(StoreError::Internal("not used".into()))
    }
    async fn get(&self, _: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        Err(StoreError::Internal("not used".into()))
    }
    async fn update(&self, _: TransactionId, _: RecordPatch) -> Result<Written, StoreError> {
        Err(StoreError::Internal("not used".into()))
    }
    async fn delete(
        &self,
        _: TransactionId,
        _: Option<u64>,
        _: Timestamp,
        _: Actor,
    ) -> Result<Written, StoreError> {
        Err(StoreError::Internal("not used".into()))
    }
    async fn list_by_user(
        &self,
        _: UserId,
        _: ListQuery,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        self.lists.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(page_of_one())
    }
    async fn scan_by_user(
        &self,
        _: UserId,
        _: crate::ListFilter,
        _: Option<crate::Position>,
        _: u32,
    ) -> Result<Vec<TransactionRecord>, StoreError> {
        Err(StoreError::Internal("not used".into()))
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn names_after(
        &self,
        _: Option<TransactionId>,
        _: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError> {
        Err(StoreError::Internal("not used".into()))
    }
    async fn replace_name(
        &self,
        _: TransactionId,
        _: EncryptedName,
        _: EncryptedName,
    ) -> Result<bool, StoreError> {
        Err(StoreError::Internal("not used".into()))
    }
}

#[async_trait::async_trait]
impl StatisticsQuery for SlowCountingStore {
    async fn totals(
        &self,
        _: UserId,
        _: DateRange,
    ) -> Result<crate::TransactionTotals, StoreError> {
        self.totals.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(totals())
    }
    async fn daily(&self, _: UserId, _: DateRange) -> Result<Vec<crate::DayTotals>, StoreError> {
        Err(StoreError::Internal("not used".into()))
    }
}

/// A cache that always misses; `slot` decides which slot each lookup hands out.
fn missing_cache(slot: impl Fn() -> String + Send + Sync + 'static) -> MockCache {
    let mut c = MockCache::new();
    c.expect_lookup()
        .returning(move |_| Ok(CacheLookup::Miss(CacheSlot::new(slot()))));
    c.expect_put().returning(|_, _, _| Ok(()));
    c
}

fn counting_service(store: Arc<SlowCountingStore>, cache: MockCache) -> TransactionService {
    TransactionService::new(
        Ports {
            store: store.clone(),
            statistics: store,
            cache: Arc::new(cache),
            cipher: Arc::new(cipher()),
            clock: Arc::new(clock()),
            idempotency: Arc::new(MockIdempotencyStore::new()),
            encoder: Arc::new(TestEncoder),
            rollups: Arc::new(crate::ports::MockDailyRollups::new()),
            events: Arc::new(crate::ports::MockEventLog::new()),
            history: Arc::new(crate::ports::MockHistoryLog::new()),
        },
        ServiceConfig::default(),
    )
}

#[tokio::test]
async fn concurrent_misses_on_one_slot_make_one_store_call() {
    let store = Arc::new(SlowCountingStore::default());
    let svc = counting_service(store.clone(), missing_cache(|| "same-slot".into()));
    let calls = (0..20).map(|_| svc.list_encoded(user(), ListQuery::page(PageRequest::default())));
    let results = futures_util::future::join_all(calls).await;
    assert_eq!(
        store.lists.load(Ordering::SeqCst),
        1,
        "one store call for 20 requests"
    );
    assert!(results
        .iter()
        .all(|r| r.as_ref().is_ok_and(|p| p.starts_with("page total=1"))));
    assert_eq!(
        svc.flights.in_flight(),
        0,
        "the finished flight is forgotten"
    );

    let stats = (0..10).map(|_| svc.statistics_encoded(user(), DateRange::ALL));
    let results = futures_util::future::join_all(stats).await;
    assert_eq!(store.totals.load(Ordering::SeqCst), 1);
    assert!(results.iter().all(Result::is_ok));
}

#[tokio::test]
async fn different_generations_never_share_a_flight() {
    let store = Arc::new(SlowCountingStore::default());
    let n = Arc::new(AtomicUsize::new(0));
    let counter = n.clone();
    // Every lookup sees a new generation, as after a write.
    let svc = counting_service(
        store.clone(),
        missing_cache(move || format!("gen-{}", counter.fetch_add(1, Ordering::SeqCst))),
    );
    let calls = (0..3).map(|_| svc.list_encoded(user(), ListQuery::page(PageRequest::default())));
    futures_util::future::join_all(calls).await;
    assert_eq!(store.lists.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn without_a_cache_every_request_reads_the_store() {
    let store = Arc::new(SlowCountingStore::default());
    let mut cache = MockCache::new();
    cache
        .expect_lookup()
        .returning(|_| Err(CacheError::Unavailable("down".into())));
    let svc = counting_service(store.clone(), cache);
    let calls = (0..4).map(|_| svc.list_encoded(user(), ListQuery::page(PageRequest::default())));
    assert!(futures_util::future::join_all(calls)
        .await
        .iter()
        .all(Result::is_ok));
    assert_eq!(store.lists.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_cancelled_flight_does_not_block_the_next_request() {
    let store = Arc::new(SlowCountingStore::default());
    let svc = counting_service(store.clone(), missing_cache(|| "same-slot".into()));
    let cancelled = tokio::time::timeout(
        Duration::from_millis(5),
        svc.list_encoded(user(), ListQuery::page(PageRequest::default())),
    )
    .await;
    assert!(cancelled.is_err(), "the first request gave up");
    let page = svc
        .list_encoded(user(), ListQuery::page(PageRequest::default()))
        .await
        .unwrap();
    assert!(page.starts_with("page total=1"), "{page}");
    assert_eq!(
        store.lists.load(Ordering::SeqCst),
        2,
        "the abandoned read was not reused"
    );
    assert_eq!(svc.flights.in_flight(), 0);
}

// ---------- key rotation ----------

fn id_n(n: u8) -> TransactionId {
    TransactionId::new(crate::ObjectId::from_bytes([
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n,
    ]))
}

#[tokio::test]
async fn reencryption_walks_batches_and_counts_each_outcome() {
    let mut store = MockTransactionStore::new();
    // Two batches, then the end.
    store
        .expect_names_after()
        .with(eq(None), eq(2))
        .returning(|_, _| {
            Ok(vec![
                (id_n(1), EncryptedName::new("old:a")),
                (id_n(2), EncryptedName::new("new:b")),
            ])
        });
    store
        .expect_names_after()
        .with(eq(Some(id_n(2))), eq(2))
        .returning(|_, _| {
            Ok(vec![
                (id_n(3), EncryptedName::new("old:c")),
                (id_n(4), EncryptedName::new("garbage")),
            ])
        });
    store
        .expect_names_after()
        .with(eq(Some(id_n(4))), eq(2))
        .returning(|_, _| Ok(vec![]));
    // Record 3 was changed through the API meanwhile: the compare-and-set fails.
    store
        .expect_replace_name()
        .withf(|id, old, new| *id == id_n(1) && old.as_str() == "old:a" && new.as_str() == "new:a")
        .times(1)
        .returning(|_, _, _| Ok(true));
    store
        .expect_replace_name()
        .withf(|id, _, _| *id == id_n(3))
        .times(1)
        .returning(|_, _, _| Ok(false));
    let mut cipher = MockFieldCipher::new();
    cipher
        .expect_reencrypt()
        .returning(|t| match t.split_once(':') {
            Some(("old", plain)) => Ok(Some(format!("new:{plain}"))),
            Some(("new", _)) => Ok(None),
            _ => Err(CipherError::InvalidToken),
        });
    let svc = service(store, MockStatisticsQuery::new(), MockCache::new(), cipher);
    let mut batches = Vec::new();
    let report = svc
        .reencrypt_names(2, None, |p| batches.push(*p))
        .await
        .unwrap();
    assert_eq!(
        (
            report.scanned,
            report.changed,
            report.skipped,
            report.unreadable
        ),
        (4, 1, 1, 1)
    );
    assert_eq!(report.last_id, Some(id_n(4)));
    assert_eq!(batches.len(), 2);
    assert_eq!(
        batches[0].last_id,
        Some(id_n(2)),
        "progress says where to resume"
    );
}

#[tokio::test]
async fn reencryption_resumes_after_an_id_and_stops_on_a_store_outage() {
    let mut store = MockTransactionStore::new();
    store
        .expect_names_after()
        .with(eq(Some(id_n(9))), always())
        .returning(|_, _| Err(StoreError::Unavailable("down".into())));
    let svc = service(
        store,
        MockStatisticsQuery::new(),
        MockCache::new(),
        MockFieldCipher::new(),
    );
    let err = svc
        .reencrypt_names(100, Some(id_n(9)), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, DomainError::StoreUnavailable(_)));
}

// ---------- idempotent creates ----------

fn idem_service(
    store: MockTransactionStore,
    cache: MockCache,
    cipher: MockFieldCipher,
    idem: MockIdempotencyStore,
) -> TransactionService {
    TransactionService::new(
        Ports {
            store: Arc::new(store),
            statistics: Arc::new(MockStatisticsQuery::new()),
            cache: Arc::new(cache),
            cipher: Arc::new(cipher),
            clock: Arc::new(clock()),
            idempotency: Arc::new(idem),
            encoder: Arc::new(TestEncoder),
            rollups: Arc::new(crate::ports::MockDailyRollups::new()),
            events: Arc::new(crate::ports::MockEventLog::new()),
            history: Arc::new(crate::ports::MockHistoryLog::new()),
        },
        ServiceConfig::default(),
    )
}

fn fingerprinting_cipher() -> MockFieldCipher {
    let mut c = cipher();
    c.expect_fingerprint()
        .returning(|d| Ok(format!("fp({})", d.len())));
    c
}

fn key() -> crate::IdempotencyKey {
    crate::IdempotencyKey::parse("order-1").unwrap()
}

#[tokio::test]
async fn a_completed_key_replays_its_snapshot_without_writing() {
    let saved = Transaction {
        id: tx_id(),
        user_id: user(),
        full_name: name(),
        amount: Amount::from_cents(1050).unwrap(),
        kind: TransactionType::Credit,
        transaction_date: now(),
        created_at: now(),
        updated_at: now(),
        version: 1,
    };
    // The snapshot's stored form, as earlier releases wrote it (a frozen format).
    let snapshot = format!(
        "enc:{}",
        r#"{"id":"6650f0c2e4b0a1b2c3d4e5f6","user_id":"65e25a6bfb249dcbfbf00b93","full_name":"Ada Lovelace","transaction_amount":10.5,"transaction_type":"credit","transaction_date":"2025-11-26T10:05:30.123Z","created_at":"2025-11-26T10:05:30.123Z","updated_at":"2025-11-26T10:05:30.123Z","version":1}"#
    );
    let fp = format!("enc:{}", canonical_request(&new_tx(None)));
    let mut idem = MockIdempotencyStore::new();
    idem.expect_claim().returning(move |_| {
        Ok(crate::Claim::Completed {
            fingerprint: fp.clone(),
            snapshot: snapshot.clone(),
        })
    });
    let svc = idem_service(
        MockTransactionStore::new(),
        MockCache::new(),
        fingerprinting_cipher(),
        idem,
    );
    let (tx, replayed) = svc
        .create_idempotent(new_tx(None), "caller", key(), &tester())
        .await
        .unwrap();
    assert!(replayed);
    assert_eq!(tx, saved);
}

#[tokio::test]
async fn a_key_reused_with_another_request_or_still_in_flight_is_refused() {
    let mut idem = MockIdempotencyStore::new();
    idem.expect_claim().times(1).returning(|_| {
        Ok(crate::Claim::InFlight {
            fingerprint: "enc:another request".into(),
        })
    });
    let svc = idem_service(
        MockTransactionStore::new(),
        MockCache::new(),
        fingerprinting_cipher(),
        idem,
    );
    match svc
        .create_idempotent(new_tx(None), "caller", key(), &tester())
        .await
    {
        Err(DomainError::IdempotencyKeyReused) => {}
        other => panic!("{other:?}"),
    }

    let fp = format!("enc:{}", canonical_request(&new_tx(None)));
    let mut idem = MockIdempotencyStore::new();
    idem.expect_claim().returning(move |_| {
        Ok(crate::Claim::InFlight {
            fingerprint: fp.clone(),
        })
    });
    let svc = idem_service(
        MockTransactionStore::new(),
        MockCache::new(),
        fingerprinting_cipher(),
        idem,
    );
    assert!(matches!(
        svc.create_idempotent(new_tx(None), "caller", key(), &tester())
            .await,
        Err(DomainError::IdempotencyInFlight)
    ));
}

#[tokio::test]
async fn a_takeover_finds_the_crashed_attempts_transaction() {
    let lapsed_lease = Timestamp::from_millis(1_000).unwrap();
    let mut idem = MockIdempotencyStore::new();
    // First the lapsed claim is reported; the same request then takes over that lease.
    idem.expect_claim()
        .withf(|r| r.take_over.is_none())
        .times(1)
        .returning(move |_| {
            Ok(crate::Claim::Lapsed {
                transaction_id: tx_id(),
                fingerprint: format!("enc:{}", canonical_request(&new_tx(None))),
                lease_until: lapsed_lease,
            })
        });
    idem.expect_claim()
        .withf(move |r| r.take_over == Some(lapsed_lease))
        .times(1)
        .returning(|_| {
            Ok(crate::Claim::TakenOver {
                transaction_id: tx_id(),
                fingerprint: format!("enc:{}", canonical_request(&new_tx(None))),
            })
        });
    idem.expect_complete().times(1).returning(|_, _, _| Ok(()));
    let mut store = MockTransactionStore::new();
    store
        .expect_insert()
        .returning(|_, _| Err(StoreError::Duplicate));
    store
        .expect_get()
        .with(eq(tx_id()))
        .returning(|_| Ok(Some(record())));
    let svc = idem_service(store, MockCache::new(), fingerprinting_cipher(), idem);
    let (tx, replayed) = svc
        .create_idempotent(new_tx(None), "caller", key(), &tester())
        .await
        .unwrap();
    assert_eq!((tx.id, replayed), (tx_id(), false));
}

#[tokio::test]
async fn another_request_cannot_take_over_a_lapsed_claim() {
    let mut idem = MockIdempotencyStore::new();
    // One claim, which changes nothing: the request never asks to take the lease over.
    idem.expect_claim().times(1).returning(|_| {
        Ok(crate::Claim::Lapsed {
            transaction_id: tx_id(),
            fingerprint: "enc:v1|someone else's request".into(),
            lease_until: Timestamp::from_millis(1_000).unwrap(),
        })
    });
    // Nothing is written, nothing released: the claim stays the original request's.
    idem.expect_release().times(0);
    let svc = idem_service(
        MockTransactionStore::new(),
        MockCache::new(),
        fingerprinting_cipher(),
        idem,
    );
    assert!(matches!(
        svc.create_idempotent(new_tx(None), "caller", key(), &tester())
            .await,
        Err(DomainError::IdempotencyKeyReused)
    ));
}

#[tokio::test]
async fn release_one_fingerprints_are_matched_under_every_key() {
    let legacy = "ab".repeat(32);
    let held = legacy.clone();
    let mut idem = MockIdempotencyStore::new();
    idem.expect_claim().returning(move |_| {
        Ok(crate::Claim::InFlight {
            fingerprint: held.clone(),
        })
    });
    let mut cipher = cipher();
    cipher
        .expect_fingerprint_matches()
        .withf(move |data, fp| data.starts_with("v1|") && fp == legacy)
        .times(1)
        .returning(|_, _| Ok(true));
    let svc = idem_service(MockTransactionStore::new(), MockCache::new(), cipher, idem);
    assert!(matches!(
        svc.create_idempotent(new_tx(None), "caller", key(), &tester())
            .await,
        Err(DomainError::IdempotencyInFlight)
    ));
}

#[tokio::test]
async fn a_failure_before_writing_releases_the_key_but_an_uncertain_write_keeps_it() {
    let mut idem = MockIdempotencyStore::new();
    idem.expect_claim().returning(|_| {
        Ok(crate::Claim::Acquired {
            transaction_id: tx_id(),
        })
    });
    idem.expect_release().times(1).returning(|_, _| Ok(()));
    // The request's seal is made; the name's encryption then fails.
    let mut broken = MockFieldCipher::new();
    broken
        .expect_encrypt()
        .withf(|p| p.starts_with("v1|"))
        .returning(|p| Ok(format!("enc:{p}")));
    broken
        .expect_encrypt()
        .returning(|_| Err(CipherError::Internal("no randomness".into())));
    let svc = idem_service(MockTransactionStore::new(), MockCache::new(), broken, idem);
    assert!(matches!(
        svc.create_idempotent(new_tx(None), "caller", key(), &tester())
            .await,
        Err(DomainError::Internal(_))
    ));

    let mut idem = MockIdempotencyStore::new();
    idem.expect_claim().returning(|_| {
        Ok(crate::Claim::Acquired {
            transaction_id: tx_id(),
        })
    });
    idem.expect_release().times(0);
    let mut store = MockTransactionStore::new();
    store
        .expect_insert()
        .returning(|_, _| Err(StoreError::Unavailable("timeout".into())));
    let svc = idem_service(store, MockCache::new(), fingerprinting_cipher(), idem);
    assert!(matches!(
        svc.create_idempotent(new_tx(None), "caller", key(), &tester())
            .await,
        Err(DomainError::StoreUnavailable(_))
    ));
}

#[tokio::test]
async fn following_the_feed_forgets_each_changed_user_once_and_keeps_up_with_full_pages() {
    use crate::events::{EventPage, OutboxEvent, StoredEvent};
    let (a, b) = (user(), UserId::parse("65e25a6bfb249dcbfbf00b94").unwrap());
    let event = |sequence: u64, owner: UserId| {
        let mut r = record();
        r.user_id = owner;
        StoredEvent {
            sequence,
            event: OutboxEvent::created(&r),
        }
    };
    let mut events = crate::ports::MockEventLog::new();
    events.expect_enabled().return_const(true);
    // A full page (user a only), then a short one (a and b): read in one call.
    events
        .expect_events_after()
        .with(eq(10), eq(MAX_FEED_LIMIT))
        .times(1)
        .returning(move |after, limit| {
            Ok(EventPage {
                events: (1..=u64::from(limit))
                    .map(|i| event(after + i, a))
                    .collect(),
                pruned_through: 0,
                last_sequence: 1_012,
            })
        });
    events
        .expect_events_after()
        .with(eq(1_010), eq(MAX_FEED_LIMIT))
        .times(1)
        .returning(move |_, _| {
            Ok(EventPage {
                events: vec![event(1_011, a), event(1_012, b)],
                pruned_through: 0,
                last_sequence: 1_012,
            })
        });
    let mut cache = MockCache::new();
    cache
        .expect_invalidate_user()
        .with(eq(a))
        .times(2)
        .returning(|_| Ok(()));
    cache
        .expect_invalidate_user()
        .with(eq(b))
        .times(1)
        .returning(|_| Ok(()));
    let svc = TransactionService::new(
        Ports {
            store: Arc::new(MockTransactionStore::new()),
            statistics: Arc::new(MockStatisticsQuery::new()),
            cache: Arc::new(cache),
            cipher: Arc::new(cipher()),
            clock: Arc::new(clock()),
            idempotency: Arc::new(MockIdempotencyStore::new()),
            encoder: Arc::new(TestEncoder),
            rollups: Arc::new(crate::ports::MockDailyRollups::new()),
            history: Arc::new(crate::ports::MockHistoryLog::new()),
            events: Arc::new(events),
        },
        ServiceConfig::default(),
    );
    assert_eq!(svc.forget_changed_since(10).await.unwrap(), 1_012);
}
