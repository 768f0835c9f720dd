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
//! and the stored one is used: nothing is lost and nothing is counted twice. The store
//! first reports a lapsed claim with its fingerprint ([`Claim::Lapsed`]) and changes
//! nothing; only a request the service has recognised as the same one takes it over (a
//! second claim naming the lapsed lease). A *different* request is refused without
//! touching the claim, so it can neither take over another request's transaction nor keep
//! the rightful retry waiting.
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
    /// Set on a second claim, once the service has recognised a lapsed claim's request
    /// as this one: the lease it saw ([`Claim::Lapsed`]'s `lease_until`). A store takes a
    /// lapsed claim over only when this is still its lease; without it a lapsed claim is
    /// reported, never extended, so a *different* request cannot hold the key.
    pub take_over: Option<Timestamp>,
}

/// A key as a store holds it, read for a claim (see [`ClaimRequest::decide`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct HeldClaim {
    /// The holder's sealed fingerprint.
    pub fingerprint: String,
    /// The id the holder creates (or created) the transaction with.
    pub transaction_id: TransactionId,
    /// The encrypted answer, once the holder finished.
    pub snapshot: Option<String>,
    /// Until when a pending claim belongs to its holder.
    pub lease_until: Timestamp,
    /// When the key is forgotten.
    pub expires_at: Timestamp,
}

/// What a store does for a claim: the decision of [`ClaimRequest::decide`], which the
/// store carries out atomically with the read it was decided on (a transaction, or a
/// compare-and-set on the field the decision turned on).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum ClaimStep {
    /// The key is free (never held, or expired and not yet swept): store the request's
    /// claim (replacing an expired one) and answer [`ClaimRequest::acquired`].
    Hold,
    /// The holder's lease lapsed and the service recognised this request as the same
    /// one: extend the held claim's lease to the request's `lease_until` (only if it is
    /// still the lease read, and still pending) and answer this ([`Claim::TakenOver`]).
    TakeOver(Claim),
    /// Change nothing; answer this.
    Answer(Claim),
}

impl ClaimRequest {
    /// The decision table of a claim, given the key as the store holds it (`None`: not
    /// held). Written once here; every store only reads and executes it:
    ///
    /// | held | answer |
    /// |---|---|
    /// | nothing, or expired (`expires_at <= now`) | hold it: [`Claim::Acquired`] |
    /// | completed (a snapshot) | [`Claim::Completed`] |
    /// | pending, lease running (`lease_until > now`) | [`Claim::InFlight`] |
    /// | pending, lease lapsed, `take_over` is that lease | take it over: [`Claim::TakenOver`] |
    /// | pending, lease lapsed, otherwise | [`Claim::Lapsed`], nothing changed |
    pub fn decide(&self, held: Option<HeldClaim>) -> ClaimStep {
        let Some(held) = held.filter(|h| h.expires_at > self.now) else {
            return ClaimStep::Hold;
        };
        if let Some(snapshot) = held.snapshot {
            return ClaimStep::Answer(Claim::Completed {
                fingerprint: held.fingerprint,
                snapshot,
            });
        }
        if held.lease_until > self.now {
            return ClaimStep::Answer(Claim::InFlight {
                fingerprint: held.fingerprint,
            });
        }
        if self.take_over == Some(held.lease_until) {
            return ClaimStep::TakeOver(Claim::TakenOver {
                transaction_id: held.transaction_id,
                fingerprint: held.fingerprint,
            });
        }
        // Reported, not changed: the service compares the fingerprints first.
        ClaimStep::Answer(Claim::Lapsed {
            transaction_id: held.transaction_id,
            fingerprint: held.fingerprint,
            lease_until: held.lease_until,
        })
    }

    /// The answer when the store held the key for this request ([`ClaimStep::Hold`]).
    pub fn acquired(&self) -> Claim {
        Claim::Acquired {
            transaction_id: self.candidate_id,
        }
    }
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
    /// The key is held by a request whose lease ran out (it crashed, or gave up). Nothing
    /// was changed: the service compares the fingerprints and, if it is the same request,
    /// claims again with [`ClaimRequest::take_over`] set to this lease.
    Lapsed {
        /// The id the earlier holder was creating.
        transaction_id: TransactionId,
        /// The earlier holder's fingerprint.
        fingerprint: String,
        /// The lease that ran out.
        lease_until: Timestamp,
    },
    /// A lapsed claim, taken over as [`ClaimRequest::take_over`] asked: this request now
    /// holds the lease and creates the transaction with the earlier request's id.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).expect("a valid time")
    }

    fn request(take_over: Option<Timestamp>) -> ClaimRequest {
        ClaimRequest {
            scope: "caller".into(),
            key: IdempotencyKey::parse("k-1").expect("a valid key"),
            fingerprint: "mine".into(),
            candidate_id: TransactionId::generate(at(1_000)),
            now: at(1_000),
            lease_until: at(31_000),
            expires_at: at(86_401_000),
            take_over,
        }
    }

    fn held(snapshot: Option<&str>, lease_until: i64, expires_at: i64) -> HeldClaim {
        HeldClaim {
            fingerprint: "theirs".into(),
            transaction_id: TransactionId::generate(at(500)),
            snapshot: snapshot.map(str::to_owned),
            lease_until: at(lease_until),
            expires_at: at(expires_at),
        }
    }

    #[test]
    fn every_row_of_the_claim_table() {
        let r = request(None);
        assert_eq!(r.decide(None), ClaimStep::Hold);
        assert_eq!(
            r.decide(Some(held(None, 2_000, 1_000))),
            ClaimStep::Hold,
            "expired at now exactly: free"
        );
        assert_eq!(
            r.decide(Some(held(Some("snap"), 0, 5_000))),
            ClaimStep::Answer(Claim::Completed {
                fingerprint: "theirs".into(),
                snapshot: "snap".into()
            })
        );
        assert_eq!(
            r.decide(Some(held(None, 1_001, 5_000))),
            ClaimStep::Answer(Claim::InFlight {
                fingerprint: "theirs".into()
            })
        );
        let lapsed = held(None, 1_000, 5_000);
        assert_eq!(
            r.decide(Some(lapsed.clone())),
            ClaimStep::Answer(Claim::Lapsed {
                transaction_id: lapsed.transaction_id,
                fingerprint: "theirs".into(),
                lease_until: at(1_000)
            }),
            "a lapsed lease is reported, never extended, without take_over"
        );
        assert_eq!(
            request(Some(at(999))).decide(Some(lapsed.clone())),
            r.decide(Some(lapsed.clone())),
            "take_over of another lease: reported"
        );
        assert_eq!(
            request(Some(at(1_000))).decide(Some(lapsed.clone())),
            ClaimStep::TakeOver(Claim::TakenOver {
                transaction_id: lapsed.transaction_id,
                fingerprint: "theirs".into()
            })
        );
        assert_eq!(
            r.acquired(),
            Claim::Acquired {
                transaction_id: r.candidate_id
            }
        );
    }
}
