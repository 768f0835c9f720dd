//! Builders of test data that cannot clash between tests, processes or runs.

use fido_domain::{
    Amount, EncryptedName, ObjectId, Timestamp, TransactionId, TransactionRecord, TransactionType,
    UserId,
};

/// The actor tests write as (an API key's name).
pub fn actor() -> fido_domain::Actor {
    fido_domain::Actor::new("tester").expect("a valid actor name")
}

/// A user id no other test uses.
pub fn fresh_user() -> UserId {
    UserId::new(ObjectId::generate(Timestamp::now()))
}

/// A family of transaction ids, unique to this call, ordered by `i`.
#[derive(Clone, Copy, Debug)]
pub struct IdSeq([u8; 12]);

impl IdSeq {
    /// A new family.
    pub fn new() -> Self {
        let base = ObjectId::generate(Timestamp::now()).bytes();
        let mut bytes = [0u8; 12];
        // The generator's counter (unique in this process) leads, its per-process random
        // bytes follow (unique across processes), and the last three bytes count `i`.
        bytes[..3].copy_from_slice(&base[9..12]);
        bytes[4..9].copy_from_slice(&base[4..9]);
        Self(bytes)
    }

    /// The `i`-th id; a higher `i` is a higher id.
    pub fn id(&self, i: u32) -> TransactionId {
        let mut bytes = self.0;
        bytes[9..].copy_from_slice(&i.to_be_bytes()[1..]);
        TransactionId::new(ObjectId::from_bytes(bytes))
    }
}

impl Default for IdSeq {
    fn default() -> Self {
        Self::new()
    }
}

/// An instant from RFC 3339 text (panics on bad test data).
pub fn at(rfc3339: &str) -> Timestamp {
    Timestamp::parse_rfc3339(rfc3339).expect("valid test timestamp")
}

/// An amount from decimal text (panics on bad test data).
pub fn amount(decimal: &str) -> Amount {
    decimal.parse().expect("valid test amount")
}

/// A record as a store would receive it; the name is an opaque stand-in token.
pub fn record(
    id: TransactionId,
    user: UserId,
    date: Timestamp,
    amount: Amount,
    kind: TransactionType,
) -> TransactionRecord {
    TransactionRecord {
        id,
        user_id: user,
        full_name: EncryptedName::new(format!("token-for-{id}")),
        amount,
        kind,
        transaction_date: date,
        created_at: date,
        updated_at: date,
        version: 1,
    }
}

/// Numbers every committed event that has no sequence yet (what the relay's sequencer
/// does), so the feed holds every acknowledged change. A no-op on stores that number
/// events at commit.
pub async fn settle(store: &dyn fido_domain::EventLog) {
    while store.sequence(1000).await.expect("sequence") == 1000 {}
}

/// A small deterministic generator (an LCG), so random test sequences are the same in
/// every run and on every store.
#[derive(Debug)]
pub struct Lcg(pub u64);

impl Lcg {
    /// An amount in cents: mostly small, a third up to the largest amount (so sums carry
    /// into the billions-of-cents part that stores keep separately).
    pub fn cents(&mut self) -> u64 {
        if self.next(3) == 0 {
            self.next(Amount::MAX.cents() + 1)
        } else {
            self.next(100_000_000)
        }
    }

    /// The next number below `below` (below 1: 0).
    pub fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below.max(1)
    }
}
