//! Moving a store's contents: `fido copy` (store to store), `fido export` and `fido import`
//! (NDJSON), over the stores' [`StoreTransfer`] ports. Names travel as their Fernet tokens
//! (never decrypted in transit) unless an export asks for `--decrypt`.

use std::collections::BTreeMap;
use std::sync::Arc;

use fido_domain::{
    Actor, Amount, Cache, DailyRollups, EncryptedName, FieldCipher, FullName, HistoryAction,
    HistoryEntry, StoreTransfer, Timestamp, TransactionId, TransactionRecord, TransactionType,
    UserId,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::settings::{Secret, Settings};
use crate::wiring::{open_store, StorePorts};

/// Records per batch when none is given.
pub const DEFAULT_BATCH: u32 = 500;

/// The stores `uri` names, with the rest of `settings` (each URI's own MongoDB database).
pub async fn open_at(settings: &Settings, uri: &str) -> Result<StorePorts> {
    let mut settings = settings.clone();
    settings.store.uri = Secret::new(uri);
    settings.store.database = None;
    open_store(&settings).await
}

/// One transaction as a line of NDJSON.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// 24 hex characters.
    pub id: String,
    /// 24 hex characters.
    pub user_id: String,
    /// The name as its Fernet token (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name_token: Option<String>,
    /// The name in clear text (`fido export --decrypt`); encrypted again on import.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    /// Exact integer cents.
    pub amount_cents: u64,
    /// The same amount as the API writes it (informative; `amount_cents` is authoritative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_amount: Option<f64>,
    /// `credit` or `debit`.
    pub transaction_type: String,
    /// RFC 3339.
    pub transaction_date: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
    /// 1 or more.
    pub version: u64,
}

impl Line {
    /// The line of a record (the name as its token).
    pub fn of(r: &TransactionRecord) -> Self {
        Self {
            id: r.id.to_string(),
            user_id: r.user_id.to_string(),
            full_name_token: Some(r.full_name.as_str().to_owned()),
            full_name: None,
            amount_cents: r.amount.cents(),
            transaction_amount: Some(r.amount.to_f64()),
            transaction_type: r.kind.as_str().to_owned(),
            transaction_date: r.transaction_date.to_string(),
            created_at: r.created_at.to_string(),
            updated_at: r.updated_at.to_string(),
            version: r.version,
        }
    }

    /// The record this line describes: every field checked, the name's token checked to
    /// open with a configured key and to hold a name the API would store as it is (or the
    /// clear name checked and trimmed as a create would, then encrypted). The error names
    /// the field.
    pub async fn record(
        &self,
        cipher: &dyn FieldCipher,
    ) -> std::result::Result<TransactionRecord, String> {
        let field = |name: &str, e: &dyn std::fmt::Display| format!("{name}: {e}");
        let time =
            |name: &str, text: &str| Timestamp::parse_rfc3339(text).map_err(|e| field(name, &e));
        let full_name = match (&self.full_name_token, &self.full_name) {
            (Some(token), None) => {
                let name = cipher.decrypt(token).await.map_err(|_| {
                    "full_name_token: cannot be decrypted with the configured keys".to_owned()
                })?;
                // A name enters the store by the API's rules, whichever way it comes.
                if let Some(rule) = FullName::api_refusal(&name) {
                    return Err(field("full_name_token: the name", &rule));
                }
                EncryptedName::new(token.clone())
            }
            (None, Some(name)) => {
                let name = FullName::parse(name).map_err(|e| field("full_name", &e))?;
                EncryptedName::new(
                    cipher
                        .encrypt(name.expose())
                        .await
                        .map_err(|e| field("full_name", &e))?,
                )
            }
            _ => return Err("full_name_token or full_name: exactly one is required".into()),
        };
        let amount =
            Amount::from_cents(self.amount_cents).map_err(|e| field("amount_cents", &e))?;
        if let Some(shown) = self.transaction_amount {
            if Amount::from_f64(shown).ok() != Some(amount) {
                return Err("transaction_amount: differs from amount_cents".into());
            }
        }
        if self.version == 0 {
            return Err("version: must be at least 1".into());
        }
        Ok(TransactionRecord {
            id: TransactionId::parse(&self.id).map_err(|e| field("id", &e))?,
            user_id: UserId::parse(&self.user_id).map_err(|e| field("user_id", &e))?,
            full_name,
            amount,
            kind: self
                .transaction_type
                .parse::<TransactionType>()
                .map_err(|e| field("transaction_type", &e))?,
            transaction_date: time("transaction_date", &self.transaction_date)?,
            created_at: time("created_at", &self.created_at)?,
            updated_at: time("updated_at", &self.updated_at)?,
            version: self.version,
        })
    }
}

/// One version of a transaction's history as a line of NDJSON: written after every
/// transaction line by `fido export`, told apart by its `action`. `record` (and, for an
/// update, `before`) are transaction lines, names as tokens (or in clear with `--decrypt`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HistoryLine {
    /// The transaction's id (24 hex characters).
    pub transaction_id: String,
    /// The version the change made.
    pub version: u64,
    /// RFC 3339: when the change was made.
    pub at: String,
    /// Who made it.
    pub actor: String,
    /// `created`, `updated` or `deleted`.
    pub action: String,
    /// The transaction as the change left it.
    pub record: Line,
    /// For an update: the transaction before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Line>,
}

impl HistoryLine {
    /// The line of an entry (names as tokens).
    pub fn of(entry: &HistoryEntry) -> Self {
        Self {
            transaction_id: entry.transaction_id.to_string(),
            version: entry.version,
            at: entry.at.to_string(),
            actor: entry.actor.as_str().to_owned(),
            action: entry.action.as_str().to_owned(),
            record: Line::of(&entry.record),
            before: entry.before.as_ref().map(Line::of),
        }
    }

    /// Whether a line of an export is a history line (it has an `action`).
    pub fn is_history(value: &serde_json::Value) -> bool {
        value.get("action").is_some()
    }

    /// The entry this line describes, every field checked as for transaction lines; the
    /// error names the field.
    pub async fn entry(
        &self,
        cipher: &dyn FieldCipher,
    ) -> std::result::Result<HistoryEntry, String> {
        let record = self
            .record
            .record(cipher)
            .await
            .map_err(|e| format!("record.{e}"))?;
        let before = match &self.before {
            Some(line) => Some(
                line.record(cipher)
                    .await
                    .map_err(|e| format!("before.{e}"))?,
            ),
            None => None,
        };
        let transaction_id = TransactionId::parse(&self.transaction_id)
            .map_err(|e| format!("transaction_id: {e}"))?;
        if record.id != transaction_id {
            return Err("record.id: differs from transaction_id".into());
        }
        let action = HistoryAction::parse(&self.action)
            .ok_or("action: must be created, updated or deleted")?;
        if (action == HistoryAction::Updated) != before.is_some() {
            return Err("before: required for updated, and only for it".into());
        }
        if self.version == 0 {
            return Err("version: must be at least 1".into());
        }
        Ok(HistoryEntry {
            transaction_id,
            user_id: record.user_id,
            version: self.version,
            at: Timestamp::parse_rfc3339(&self.at).map_err(|e| format!("at: {e}"))?,
            actor: Actor::new(self.actor.clone()).map_err(|e| format!("actor: {e}"))?,
            action,
            record,
            before,
        })
    }
}

/// Per user: how many records, and a checksum of them (FNV-1a over each record's line, in
/// id order): what `fido copy` compares between the two stores.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Records.
    pub count: u64,
    /// The checksum.
    pub checksum: u64,
}

/// Every user's tally of `store`, streamed in batches (memory grows with users, not rows).
pub async fn tally(store: &Arc<dyn StoreTransfer>, batch: u32) -> Result<BTreeMap<UserId, Tally>> {
    let mut tallies: BTreeMap<UserId, Tally> = BTreeMap::new();
    let mut after = None;
    loop {
        let records = store
            .records_after(after, batch)
            .await
            .map_err(Error::Store)?;
        let Some(last) = records.last() else { break };
        after = Some(last.id);
        for r in &records {
            let t = tallies.entry(r.user_id).or_default();
            t.count += 1;
            let line = serde_json::to_string(&Line::of(r)).unwrap_or_default();
            t.checksum = line
                .bytes()
                .fold(t.checksum ^ 0xcbf2_9ce4_8422_2325, |h, b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
                });
        }
    }
    Ok(tallies)
}

/// Forgets every cached read of `users` in the cache the settings name (Redis, shared with
/// running instances), so nothing written behind the service's back is hidden by a cached
/// answer. A cache that cannot be reached is reported, not fatal: its entries expire.
pub async fn invalidate(cache: &dyn Cache, users: impl IntoIterator<Item = UserId>) {
    let mut failed = 0u64;
    for user in users {
        if cache.invalidate_user(user).await.is_err() {
            failed += 1;
        }
    }
    if failed > 0 {
        tracing::warn!(
            users = failed,
            "could not invalidate some users' cached reads; they expire with their TTL"
        );
    }
}

/// Makes the daily roll-ups of `rollups` equal to its rows, every user; the number of days
/// corrected.
pub async fn repair_rollups(rollups: &dyn DailyRollups, batch: u32) -> Result<u64> {
    let report = fido_domain::verify_rollups(rollups, None, true, batch, None, |_| {})
        .await
        .map_err(Error::Store)?;
    Ok(report.drift.len() as u64)
}
