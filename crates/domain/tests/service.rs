//! The service's behaviour end to end over the testkit's in-memory store, the in-process
//! cache and the real Fernet cipher: what a caller sees, without scripting any port call
//! by call. (Failure branches that need a port to misbehave are unit tests beside the
//! service, with mocks.)

use std::sync::Arc;

use fido_cache_memory::InMemoryCache;
use fido_cipher_fernet::FernetCipher;
use fido_domain::{
    Amount, Balance, Clock, DateRange, DomainError, EncodeError, EventKind, EventLog, FullName,
    IdempotencyKey, NewTransaction, NotFound, Page, PageRequest, Ports, ReadEncoder, Series,
    ServiceConfig, StatisticsSummary, SystemClock, Timestamp, Transaction, TransactionPatch,
    TransactionService, TransactionStore, TransactionType, UserId,
};
use fido_testkit::fixtures::{actor, fresh_user};
use fido_testkit::MemoryStore;

/// A readable encoding: the totals and names of a page, the count and net of statistics.
struct Summary;

impl ReadEncoder for Summary {
    fn format(&self) -> &'static str {
        "summary1"
    }
    fn encode_page(&self, page: &Page<Transaction>) -> Result<String, EncodeError> {
        let names: Vec<&str> = page.data.iter().map(|t| t.full_name.expose()).collect();
        Ok(format!("{}:{}", page.total, names.join(",")))
    }
    fn encode_statistics(&self, s: &StatisticsSummary) -> Result<String, EncodeError> {
        Ok(format!("{}:{}", s.count, s.net))
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
        Ok(format!("{}:v{}:{}", t.id, t.version, t.full_name.expose()))
    }
    fn encode_balance(&self, b: &Balance) -> Result<String, EncodeError> {
        Ok(format!("{}:{}@{}", b.count, b.balance(), b.as_of))
    }
}

struct World {
    store: Arc<MemoryStore>,
    service: TransactionService,
}

fn world() -> World {
    world_at(Arc::new(SystemClock))
}

/// A clock that always says the same instant.
struct Fixed(Timestamp);

impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        self.0
    }
}

fn world_at(clock: Arc<dyn Clock>) -> World {
    let store = Arc::new(MemoryStore::new());
    let key = FernetCipher::generate_key();
    let service = TransactionService::new(
        Ports {
            store: store.clone(),
            statistics: store.clone(),
            idempotency: store.clone(),
            cache: Arc::new(InMemoryCache::default()),
            cipher: Arc::new(FernetCipher::from_key_list(&key).expect("key")),
            clock,
            encoder: Arc::new(Summary),
            rollups: store.clone(),
            history: store.clone(),
            events: store.clone(),
        },
        ServiceConfig::default(),
    );
    World { store, service }
}

fn new_tx(user: UserId, name: &str, cents: u64, kind: TransactionType) -> NewTransaction {
    NewTransaction {
        user_id: user,
        full_name: FullName::parse(name).expect("name"),
        amount: Amount::from_cents(cents).expect("amount"),
        kind,
        transaction_date: None,
    }
}

#[tokio::test]
async fn a_created_transaction_is_stored_encrypted_and_read_back_in_clear() {
    let w = world();
    let user = fresh_user();
    let created = w
        .service
        .create(
            new_tx(user, "Ada Lovelace", 1050, TransactionType::Credit),
            &actor(),
        )
        .await
        .unwrap();
    assert_eq!(created.version, 1);
    assert_eq!(created.created_at, created.updated_at);
    let stored = w.store.get(created.id).await.unwrap().unwrap();
    assert!(
        !stored.full_name.as_str().contains("Ada"),
        "encrypted at rest"
    );
    assert_eq!(w.service.get(created.id).await.unwrap(), created);
}

#[tokio::test]
async fn updates_move_the_version_and_keep_what_they_do_not_set() {
    let w = world();
    let user = fresh_user();
    let created = w
        .service
        .create(new_tx(user, "Ada", 1000, TransactionType::Credit), &actor())
        .await
        .unwrap();
    let rename = TransactionPatch::new(Some(FullName::parse("Grace").unwrap()), None, None);
    let renamed = w
        .service
        .update(created.id, rename.unwrap(), Some(1), &actor())
        .await
        .unwrap();
    assert_eq!(
        (renamed.full_name.expose(), renamed.amount, renamed.version),
        ("Grace", created.amount, 2)
    );
    let debit = TransactionPatch::new(None, None, Some(TransactionType::Debit)).unwrap();
    let stale = w
        .service
        .update(created.id, debit.clone(), Some(1), &actor())
        .await;
    assert!(matches!(stale, Err(DomainError::VersionMismatch)));
    let debited = w
        .service
        .update(created.id, debit, None, &actor())
        .await
        .unwrap();
    assert_eq!(
        debited.full_name.expose(),
        "Grace",
        "decrypted from the store"
    );
    assert_eq!((debited.kind, debited.version), (TransactionType::Debit, 3));
    assert!(matches!(
        TransactionPatch::new(None, None, None),
        Err(DomainError::EmptyPatch)
    ));
}

#[tokio::test]
async fn unknown_ids_are_not_found_for_every_operation() {
    let w = world();
    let ghost = w
        .service
        .create(
            new_tx(fresh_user(), "Ada", 1, TransactionType::Credit),
            &actor(),
        )
        .await
        .unwrap();
    w.service.delete(ghost.id, Some(1), &actor()).await.unwrap();
    let not_found = |r: Result<(), DomainError>| {
        assert!(
            matches!(r, Err(DomainError::NotFound(NotFound::Transaction))),
            "{r:?}"
        )
    };
    not_found(w.service.get(ghost.id).await.map(drop));
    not_found(w.service.delete(ghost.id, None, &actor()).await);
    let patch = TransactionPatch::new(None, Some(Amount::ZERO), None).unwrap();
    not_found(
        w.service
            .update(ghost.id, patch, None, &actor())
            .await
            .map(drop),
    );
}

#[tokio::test]
async fn every_write_is_read_back_through_the_cache() {
    let w = world();
    let user = fresh_user();
    let page = fido_domain::ListQuery::page(PageRequest::default());
    assert_eq!(w.service.list_encoded(user, page).await.unwrap(), "0:");
    let stats = w.service.statistics_encoded(user, DateRange::ALL).await;
    assert!(matches!(
        stats,
        Err(DomainError::NotFound(NotFound::NoTransactionsInRange))
    ));

    let ada = w
        .service
        .create(new_tx(user, "Ada", 1000, TransactionType::Credit), &actor())
        .await
        .unwrap();
    assert_eq!(w.service.list_encoded(user, page).await.unwrap(), "1:Ada");
    let stats = w.service.statistics_encoded(user, DateRange::ALL).await;
    assert_eq!(stats.unwrap(), "1:10.00");

    w.service
        .create(new_tx(user, "Grace", 250, TransactionType::Debit), &actor())
        .await
        .unwrap();
    let stats = w.service.statistics_encoded(user, DateRange::ALL).await;
    assert_eq!(stats.unwrap(), "2:7.50");
    w.service.delete(ada.id, None, &actor()).await.unwrap();
    assert_eq!(w.service.list_encoded(user, page).await.unwrap(), "1:Grace");
    let typed = w.service.statistics(user, DateRange::ALL).await.unwrap();
    assert_eq!((typed.count, typed.net.cents()), (1, -250));
}

#[tokio::test]
async fn an_idempotent_create_happens_once_and_replays_its_answer() {
    let w = world();
    let user = fresh_user();
    let key = IdempotencyKey::parse("order-1").unwrap();
    let order = || new_tx(user, "Ada", 999, TransactionType::Debit);
    let (first, replayed) = w
        .service
        .create_idempotent(order(), "caller", key.clone(), &actor())
        .await
        .unwrap();
    assert!(!replayed);
    let (again, replayed) = w
        .service
        .create_idempotent(order(), "caller", key.clone(), &actor())
        .await
        .unwrap();
    assert!(replayed);
    assert_eq!(again, first);
    let other = new_tx(user, "Ada", 1000, TransactionType::Debit);
    assert!(matches!(
        w.service
            .create_idempotent(other, "caller", key.clone(), &actor())
            .await,
        Err(DomainError::IdempotencyKeyReused)
    ));
    let (theirs, replayed) = w
        .service
        .create_idempotent(order(), "another-caller", key, &actor())
        .await
        .unwrap();
    assert!(!replayed && theirs.id != first.id, "keys are per caller");
    let page = w
        .service
        .list(user, fido_domain::ListQuery::page(PageRequest::default()))
        .await
        .unwrap();
    assert_eq!(page.total, 2);
}

#[tokio::test]
async fn a_delete_happens_at_the_services_clock_time_and_so_does_its_event() {
    let at = Timestamp::from_millis(1_767_225_600_000).unwrap();
    let w = world_at(Arc::new(Fixed(at)));
    let user = fresh_user();
    let created = w
        .service
        .create(new_tx(user, "Ada", 1000, TransactionType::Credit), &actor())
        .await
        .unwrap();
    w.service.delete(created.id, None, &actor()).await.unwrap();
    w.store.sequence(100).await.unwrap();
    let events = w.store.events_after(0, 100).await.unwrap().events;
    let deleted = events
        .iter()
        .find(|e| e.event.kind == EventKind::Deleted)
        .expect("a transaction.deleted event");
    assert_eq!(
        deleted.event.occurred_at, at,
        "the domain's clock, not the store's"
    );
}

#[tokio::test]
async fn a_balance_counts_what_is_dated_up_to_its_instant_and_follows_every_write() {
    let now = Timestamp::parse_datetime("2026-11-30T12:00:00.250Z").expect("time");
    let w = world_at(Arc::new(Fixed(now)));
    let user = fresh_user();
    let end_of_second = Timestamp::parse_datetime("2026-11-30T12:00:00.999Z").expect("time");
    assert_eq!(
        w.service.balance_encoded(user, None).await.unwrap(),
        format!("0:0.00@{end_of_second}"),
        "nothing yet: zero, at the end of the current second"
    );
    let dated = |day: &str, cents, kind| NewTransaction {
        transaction_date: Some(Timestamp::parse_datetime(day).expect("time")),
        ..new_tx(user, "Ada", cents, kind)
    };
    w.service
        .create(
            dated("2026-11-01T08:00:00Z", 10_000, TransactionType::Credit),
            &actor(),
        )
        .await
        .unwrap();
    let debit = w
        .service
        .create(
            dated("2026-11-20T08:00:00Z", 2_550, TransactionType::Debit),
            &actor(),
        )
        .await
        .unwrap();
    assert_eq!(
        w.service.balance_encoded(user, None).await.unwrap(),
        format!("2:74.50@{end_of_second}"),
        "read through the cache, after both writes"
    );
    let before = Timestamp::parse_datetime("2026-11-20T07:59:59.999Z").expect("time");
    let past = w.service.balance(user, Some(before)).await.unwrap();
    assert_eq!((past.count, past.balance().cents()), (1, 10_000));
    w.service.delete(debit.id, None, &actor()).await.unwrap();
    assert_eq!(
        w.service.balance_encoded(user, None).await.unwrap(),
        format!("1:100.00@{end_of_second}")
    );
    let a_day_ahead = now.plus_millis(Balance::MAX_AHEAD_MS);
    assert!(w.service.balance(user, Some(a_day_ahead)).await.is_ok());
    assert!(matches!(
        w.service
            .balance(user, Some(a_day_ahead.plus_millis(1)))
            .await,
        Err(DomainError::TooFarAhead)
    ));
}

#[tokio::test]
async fn the_history_shows_each_version_in_clear_and_outlives_the_transaction() {
    use fido_domain::{Actor, FieldChange, HistoryAction, StoreTransfer};
    let w = world();
    let user = fresh_user();
    let (alice, bob) = (Actor::new("alice").unwrap(), Actor::new("bob").unwrap());
    let created = w
        .service
        .create(
            new_tx(user, "Ada Lovelace", 1050, TransactionType::Credit),
            &alice,
        )
        .await
        .unwrap();
    let patch = TransactionPatch::new(
        Some(FullName::parse("Grace Hopper").unwrap()),
        None,
        Some(TransactionType::Debit),
    )
    .unwrap();
    w.service
        .update(created.id, patch, Some(1), &bob)
        .await
        .unwrap();
    w.service.delete(created.id, None, &alice).await.unwrap();

    let versions = w.service.history(created.id).await.unwrap();
    let shape: Vec<_> = versions
        .iter()
        .map(|v| (v.version, v.action, v.actor.as_str()))
        .collect();
    assert_eq!(
        shape,
        [
            (1, HistoryAction::Created, "alice"),
            (2, HistoryAction::Updated, "bob"),
            (3, HistoryAction::Deleted, "alice"),
        ]
    );
    assert_eq!(versions[0].values.full_name.expose(), "Ada Lovelace");
    assert_eq!(
        versions[1].changes,
        [
            FieldChange::FullName(
                FullName::parse("Ada Lovelace").unwrap(),
                FullName::parse("Grace Hopper").unwrap()
            ),
            FieldChange::Kind(TransactionType::Credit, TransactionType::Debit),
        ]
    );
    assert_eq!(versions[2].values.full_name.expose(), "Grace Hopper");
    assert!(matches!(
        w.service.get(created.id).await,
        Err(DomainError::NotFound(NotFound::Transaction))
    ));

    // A transaction stored before history was kept (written as stored, with no version):
    // an empty history, not a 404; an id never written: 404.
    let mut older = w
        .store
        .history_after(None, 1)
        .await
        .unwrap()
        .remove(0)
        .record;
    older.id = fido_domain::TransactionId::generate(Timestamp::now());
    w.store.put_records(vec![older.clone()]).await.unwrap();
    assert!(w.store.get(older.id).await.unwrap().is_some());
    assert!(w.service.history(older.id).await.unwrap().is_empty());
    assert!(matches!(
        w.service
            .history(fido_domain::TransactionId::generate(Timestamp::now()))
            .await,
        Err(DomainError::NotFound(NotFound::Transaction))
    ));
}
