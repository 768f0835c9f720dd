//! Idempotent creates: a client's idempotency key, and what the store remembers of it.
//!
//! A create with a key first **claims** it in the store, together with the id the new
//! transaction will get; then creates the transaction; then **completes** the claim with a
//! snapshot of the result (encrypted: it holds the customer's name). A retry with the same
//! key and the same request finds the completed claim and gets the same transaction back;
//! with a different request, a validation error. A request that finds the claim still
//! pending (another request is working on it) gets a conflict.
//!
//! Claims carry a short *lease*. A process that dies after claiming leaves a pending claim
//! whose lease runs out; the next retry takes it over **with the same transaction id**, so
//! if the first attempt had already stored the transaction, the insert reports a duplicate
//! and the stored one is used: nothing is lost and nothing is counted twice. A takeover
//! reports the held request's fingerprint, so a *different* request can never take over
//! (and then be answered with) another request's transaction.
//!
//! The fingerprint of a request is *sealed*: the request's canonical form encrypted with
//! the field cipher. Requests are compared by opening the seals, with any configured key,
//! so a key rotation changes nothing, and `fido reencrypt` re-seals fingerprints and
//! snapshots with the new key like every other encrypted value. (Release 1 stored an HMAC
//! instead; those are still recognised, under every configured key, until they expire.)

use std::fmt;

use crate::error::ValueError;
use crate::id::TransactionId;
use crate::time::Timestamp;

/// A client-chosen key: 1 to 255 printable ASCII characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Validates a key.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        if raw.is_empty() || raw.len() > 255 {
            return Err(ValueError::new("must be 1 to 255 characters"));
        }
        if !raw.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            return Err(ValueError::new("must be printable ASCII characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The key text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({} chars)", self.0.len())
    }
}

/// An attempt to claim a key.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ClaimRequest {
    /// Whose key it is (the API key's name): keys of different callers never meet.
    pub scope: String,
    /// The key.
    pub key: IdempotencyKey,
    /// The request's sealed fingerprint, to recognise "same key, different request".
    pub fingerprint: String,
    /// The id the transaction gets if this request wins the claim.
    pub candidate_id: TransactionId,
    /// Now.
    pub now: Timestamp,
    /// Until when a pending claim belongs to this request.
    pub lease_until: Timestamp,
    /// When the key is forgotten (24 hours after the first request).
    pub expires_at: Timestamp,
}

/// An idempotency record's encrypted parts, for key rotation.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SealedKey {
    /// Whose key it is.
    pub scope: String,
    /// The key.
    pub key: String,
    /// The sealed fingerprint of the request.
    pub fingerprint: String,
    /// The encrypted answer, once completed.
    pub snapshot: Option<String>,
}

/// What a claim found.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Claim {
    /// This request owns the key (it was free) and creates the transaction with the
    /// candidate id.
    Acquired {
        /// The id to create the transaction with.
        transaction_id: TransactionId,
    },
    /// The key was held by a request whose lease ran out; this request now holds the
    /// lease and must create the transaction with that request's id — if it is the same
    /// request (compare the fingerprints).
    TakenOver {
        /// The id the earlier holder was creating.
        transaction_id: TransactionId,
        /// The earlier holder's fingerprint.
        fingerprint: String,
    },
    /// Another request holds the key and is still working on it.
    InFlight {
        /// That request's fingerprint.
        fingerprint: String,
    },
    /// A request with this key finished; here is what it answered.
    Completed {
        /// That request's fingerprint.
        fingerprint: String,
        /// The encrypted snapshot of the created transaction.
        snapshot: String,
    },
}

/// An idempotency key as a store keeps it, whole: for moving a store's contents elsewhere
/// (`fido copy`), where nothing may be lost or changed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct IdempotencyRecord {
    /// The caller's scope (their API key's name).
    pub scope: String,
    /// The key.
    pub key: String,
    /// The sealed fingerprint of the request.
    pub fingerprint: String,
    /// The transaction it created (or is creating).
    pub transaction_id: TransactionId,
    /// The sealed answer; `None` while pending.
    pub snapshot: Option<String>,
    /// Until when a pending claim is held.
    pub lease_until: Timestamp,
    /// When the key is forgotten.
    pub expires_at: Timestamp,
}
