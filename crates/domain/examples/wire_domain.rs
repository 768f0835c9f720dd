//! How another Rust service uses the domain crate: implement (or reuse) the ports, wire
//! them into a `TransactionService`, and call it. Run with
//! `cargo run -p fido-domain --example wire_domain`.
//!
//! The adapters are deliberately small: the testkit's in-memory store, the domain's cache
//! that never caches, and a "cipher" that only reverses text to keep this example
//! dependency-free — it is NOT encryption; real code plugs in
//! `fido_cipher_fernet::FernetCipher` and the stores of `fido-store-sqlite` or
//! `fido-store-mongodb`.

use std::sync::Arc;

use async_trait::async_trait;
use fido_domain::{
    Actor, Amount, Balance, CipherError, DateRange, EncodeError, FieldCipher, FullName,
    IdempotencyKey, NewTransaction, NoCache, Page, PageRequest, Ports, ReadEncoder, Series,
    ServiceConfig, StatisticsSummary, SystemClock, Transaction, TransactionService,
    TransactionType, UserId,
};
use fido_testkit::MemoryStore;

/// A plain-text encoding of cached reads. The HTTP crate's encoder writes the API's JSON;
/// a service with another transport writes its own format here.
struct TextEncoder;

impl ReadEncoder for TextEncoder {
    fn format(&self) -> &'static str {
        "text1"
    }
    fn encode_page(&self, page: &Page<Transaction>) -> Result<String, EncodeError> {
        Ok(format!("{} transactions", page.total))
    }
    fn encode_statistics(&self, s: &StatisticsSummary) -> Result<String, EncodeError> {
        Ok(format!("{} transactions, net {}", s.count, s.net))
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
        Ok(format!("{} {} v{}", t.id, t.amount, t.version))
    }
    fn encode_balance(&self, b: &Balance) -> Result<String, EncodeError> {
        Ok(format!("balance {} at {}", b.balance(), b.as_of))
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
    async fn fingerprint_matches(&self, data: &str, fp: &str) -> Result<bool, CipherError> {
        Ok(self.fingerprint(data).await? == fp)
    }
    async fn reencrypt(&self, _token: &str) -> Result<Option<String>, CipherError> {
        Ok(None) // one "key" only: nothing to rotate
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(MemoryStore::new());
    let service = TransactionService::new(
        Ports {
            store: store.clone(),
            statistics: store.clone(),
            cache: Arc::new(NoCache::default()),
            cipher: Arc::new(ReversingCipher),
            clock: Arc::new(SystemClock),
            idempotency: store.clone(),
            encoder: Arc::new(TextEncoder),
            rollups: store.clone(),
            events: store.clone(),
            history: store.clone(),
        },
        ServiceConfig::default(),
    );

    // Parse at the edge: invalid values cannot even be constructed. Every change names
    // who made it (kept in the transaction's history).
    let user = UserId::parse("65e25a6bfb249dcbfbf00b93")?;
    let actor = Actor::new("example-service")?;
    for (amount, kind) in [
        ("0.10", TransactionType::Credit),
        ("0.20", TransactionType::Credit),
        ("0.05", TransactionType::Debit),
    ] {
        service
            .create(
                NewTransaction {
                    user_id: user,
                    full_name: FullName::parse("Ada Lovelace")?,
                    amount: amount.parse::<Amount>()?,
                    kind,
                    transaction_date: None,
                },
                &actor,
            )
            .await?;
    }
    let page = service
        .list(user, fido_domain::ListQuery::page(PageRequest::default()))
        .await?;
    println!(
        "{} transactions; newest: {}",
        page.total, page.data[0].amount
    );
    let stats = service.statistics(user, DateRange::ALL).await?;
    println!(
        "total {} (credit {} - debit {} = net {}), average {}",
        stats.total, stats.total_credit, stats.total_debit, stats.net, stats.average
    );
    // What a transport sends: encoded once, then served from the cache as it is.
    println!(
        "{}",
        service.statistics_encoded(user, DateRange::ALL).await?
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
        .create_idempotent(order()?, "example", key.clone(), &actor)
        .await?;
    let (again, replayed) = service
        .create_idempotent(order()?, "example", key, &actor)
        .await?;
    println!(
        "retried order {}: replayed {replayed}, same id {}",
        first.id,
        again.id == first.id
    );
    assert!(replayed && again.id == first.id);
    Ok(())
}
