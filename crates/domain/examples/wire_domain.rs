//! How another Rust service uses the domain crate: implement (or reuse) the ports, wire
//! them into a `TransactionService`, and call it. Run with
//! `cargo run -p fido-domain --example wire_domain`.
//!
//! The adapters below are deliberately tiny: an in-memory store and a cache that never
//! caches. The "cipher" only reverses text to keep this example dependency-free — it is
//! NOT encryption; real code plugs in `fido_cipher_fernet::FernetCipher`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fido_domain::{
    Amount, Cache, CacheError, CacheKey, CacheLookup, CacheSlot, CipherError, Claim, ClaimRequest,
    DateRange, EncryptedName, FieldCipher, FullName, IdempotencyKey, IdempotencyStore, MoneySum,
    NewTransaction, Page, PageRequest, Ports, RecordPatch, ServiceConfig, StatisticsQuery,
    StoreError, SystemClock, Timestamp, TransactionId, TransactionRecord, TransactionService,
    TransactionStore, TransactionTotals, TransactionType, UserId, Written,
};

#[derive(Default)]
struct MemoryStore(Mutex<HashMap<TransactionId, TransactionRecord>>);

impl MemoryStore {
    fn records(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, HashMap<TransactionId, TransactionRecord>>, StoreError>
    {
        self.0
            .lock()
            .map_err(|_| StoreError::Internal("poisoned".into()))
    }
}

#[async_trait]
impl TransactionStore for MemoryStore {
    async fn insert(&self, r: TransactionRecord) -> Result<(), StoreError> {
        let mut records = self.records()?;
        if records.contains_key(&r.id) {
            return Err(StoreError::Duplicate);
        }
        records.insert(r.id, r);
        Ok(())
    }
    async fn get(&self, id: TransactionId) -> Result<Option<TransactionRecord>, StoreError> {
        Ok(self.records()?.get(&id).cloned())
    }
    async fn update(&self, id: TransactionId, p: RecordPatch) -> Result<Written, StoreError> {
        let mut records = self.records()?;
        let Some(r) = records.get_mut(&id) else {
            return Ok(Written::NotFound);
        };
        if p.expected_version.is_some_and(|v| v != r.version) {
            return Ok(Written::VersionMismatch);
        }
        if let Some(name) = p.full_name {
            r.full_name = name;
        }
        r.amount = p.amount.unwrap_or(r.amount);
        r.kind = p.kind.unwrap_or(r.kind);
        r.updated_at = p.updated_at;
        r.version += 1;
        Ok(Written::Done(r.clone()))
    }
    async fn delete(
        &self,
        id: TransactionId,
        expected: Option<u64>,
    ) -> Result<Written, StoreError> {
        let mut records = self.records()?;
        match records.get(&id) {
            None => Ok(Written::NotFound),
            Some(r) if expected.is_some_and(|v| v != r.version) => Ok(Written::VersionMismatch),
            Some(_) => Ok(records.remove(&id).map_or(Written::NotFound, Written::Done)),
        }
    }
    async fn list_by_user(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> Result<Page<TransactionRecord>, StoreError> {
        let mut mine: Vec<_> = self
            .records()?
            .values()
            .filter(|r| r.user_id == user)
            .cloned()
            .collect();
        mine.sort_by_key(|r| std::cmp::Reverse((r.transaction_date, r.id)));
        let total = mine.len() as u64;
        let skip = usize::try_from(page.offset()).unwrap_or(usize::MAX);
        let data = mine
            .into_iter()
            .skip(skip)
            .take(page.limit() as usize)
            .collect();
        Ok(Page {
            total,
            page: page.page(),
            limit: page.limit(),
            data,
        })
    }
    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn names_after(
        &self,
        after: Option<TransactionId>,
        limit: u32,
    ) -> Result<Vec<(TransactionId, EncryptedName)>, StoreError> {
        let mut names: Vec<_> = self
            .records()?
            .values()
            .filter(|r| after.is_none_or(|a| r.id > a))
            .map(|r| (r.id, r.full_name.clone()))
            .collect();
        names.sort_by_key(|(id, _)| *id);
        names.truncate(limit as usize);
        Ok(names)
    }
    async fn replace_name(
        &self,
        id: TransactionId,
        expected: EncryptedName,
        new: EncryptedName,
    ) -> Result<bool, StoreError> {
        let mut records = self.records()?;
        match records.get_mut(&id) {
            Some(r) if r.full_name == expected => {
                r.full_name = new;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl StatisticsQuery for MemoryStore {
    async fn totals(
        &self,
        user: UserId,
        range: DateRange,
    ) -> Result<TransactionTotals, StoreError> {
        let records = self.records()?;
        let mut t = TransactionTotals::default();
        let mut per_day = HashMap::new();
        for r in records
            .values()
            .filter(|r| r.user_id == user && range.contains(r.transaction_date))
        {
            t.count += 1;
            let sum = match r.kind {
                TransactionType::Credit => &mut t.total_credit,
                TransactionType::Debit => &mut t.total_debit,
            };
            *sum = sum.plus(MoneySum::from(r.amount));
            *per_day.entry(r.transaction_date.day()).or_insert(0u64) += 1;
        }
        t.busiest_day = per_day
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(d, _)| d);
        Ok(t)
    }
}

/// Idempotency keys in memory (a real service keeps them in its database, durably).
#[derive(Default)]
struct MemoryIdempotency(Mutex<HashMap<(String, String), (Claim, Timestamp)>>);

#[async_trait]
impl IdempotencyStore for MemoryIdempotency {
    async fn claim(&self, r: ClaimRequest) -> Result<Claim, StoreError> {
        let mut keys = self
            .0
            .lock()
            .map_err(|_| StoreError::Internal("poisoned".into()))?;
        let slot = (r.scope.clone(), r.key.as_str().to_owned());
        match keys.get(&slot) {
            Some((Claim::Completed { .. }, expires)) if *expires > r.now => {
                Ok(keys[&slot].0.clone())
            }
            Some((Claim::InFlight { .. }, expires)) if *expires > r.now => {
                Ok(keys[&slot].0.clone())
            }
            _ => {
                let claim = Claim::InFlight {
                    fingerprint: r.fingerprint.clone(),
                };
                keys.insert(slot, (claim, r.expires_at));
                Ok(Claim::Acquired {
                    transaction_id: r.candidate_id,
                })
            }
        }
    }
    async fn complete(
        &self,
        scope: String,
        key: IdempotencyKey,
        snapshot: String,
    ) -> Result<(), StoreError> {
        let mut keys = self
            .0
            .lock()
            .map_err(|_| StoreError::Internal("poisoned".into()))?;
        if let Some((claim, _)) = keys.get_mut(&(scope, key.as_str().to_owned())) {
            if let Claim::InFlight { fingerprint } = claim {
                *claim = Claim::Completed {
                    fingerprint: fingerprint.clone(),
                    snapshot,
                };
            }
        }
        Ok(())
    }
    async fn release(&self, scope: String, key: IdempotencyKey) -> Result<(), StoreError> {
        let mut keys = self
            .0
            .lock()
            .map_err(|_| StoreError::Internal("poisoned".into()))?;
        keys.remove(&(scope, key.as_str().to_owned()));
        Ok(())
    }
}

/// A cache that never holds anything: always a miss.
struct NoCache;

#[async_trait]
impl Cache for NoCache {
    async fn lookup(&self, key: &CacheKey) -> Result<CacheLookup, CacheError> {
        Ok(CacheLookup::Miss(CacheSlot::new(key.render())))
    }
    async fn put(&self, _: &CacheSlot, _: String, _: Duration) -> Result<(), CacheError> {
        Ok(())
    }
    async fn invalidate_user(&self, _: UserId) -> Result<(), CacheError> {
        Ok(())
    }
    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }
}

/// NOT encryption: reverses the text, to keep the example free of crypto dependencies.
struct ReversingCipher;

#[async_trait]
impl FieldCipher for ReversingCipher {
    async fn encrypt(&self, plaintext: &str) -> Result<String, CipherError> {
        Ok(plaintext.chars().rev().collect())
    }
    async fn decrypt(&self, token: &str) -> Result<String, CipherError> {
        Ok(token.chars().rev().collect())
    }
    async fn fingerprint(&self, data: &str) -> Result<String, CipherError> {
        Ok(format!("{:x}", data.len()) + data) // NOT a keyed hash: real code uses FernetCipher
    }
    async fn reencrypt(&self, _token: &str) -> Result<Option<String>, CipherError> {
        Ok(None) // one "key" only: nothing to rotate
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(MemoryStore::default());
    let service = TransactionService::new(
        Ports {
            store: store.clone(),
            statistics: store,
            cache: Arc::new(NoCache),
            cipher: Arc::new(ReversingCipher),
            clock: Arc::new(SystemClock),
            idempotency: Arc::new(MemoryIdempotency::default()),
        },
        ServiceConfig::default(),
    );

    // Parse at the edge: invalid values cannot even be constructed.
    let user = UserId::parse("65e25a6bfb249dcbfbf00b93")?;
    for (amount, kind) in [
        ("0.10", TransactionType::Credit),
        ("0.20", TransactionType::Credit),
        ("0.05", TransactionType::Debit),
    ] {
        service
            .create(NewTransaction {
                user_id: user,
                full_name: FullName::parse("Ada Lovelace")?,
                amount: amount.parse::<Amount>()?,
                kind,
                transaction_date: None,
            })
            .await?;
    }
    let page = service.list(user, PageRequest::default()).await?;
    println!(
        "{} transactions; newest: {}",
        page.total, page.data[0].transaction_amount
    );
    let stats = service.statistics(user, DateRange::ALL).await?;
    println!(
        "total {} (credit {} - debit {} = net {}), average {}",
        stats.total_transaction,
        stats.total_credit,
        stats.total_debit,
        stats.net,
        stats.average_transaction
    );
    assert_eq!(
        stats.total_credit.cents(),
        30,
        "0.10 + 0.20 is exactly 0.30"
    );

    // A client retry with the same idempotency key returns the first result, once.
    let key = IdempotencyKey::parse("order-1234")?;
    let order = || -> Result<NewTransaction, Box<dyn std::error::Error>> {
        Ok(NewTransaction {
            user_id: user,
            full_name: FullName::parse("Ada Lovelace")?,
            amount: "9.99".parse::<Amount>()?,
            kind: TransactionType::Debit,
            transaction_date: None,
        })
    };
    let (first, _) = service
        .create_idempotent(order()?, "example", key.clone())
        .await?;
    let (again, replayed) = service.create_idempotent(order()?, "example", key).await?;
    println!(
        "retried order {}: replayed {replayed}, same id {}",
        first.id,
        again.id == first.id
    );
    assert!(replayed && again.id == first.id);
    Ok(())
}
