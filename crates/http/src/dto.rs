//! The wire contract: every response body is one of these types, built from domain values
//! and serialised with serde, and the OpenAPI document is generated from them. Request
//! bodies are parsed field by field in [`crate::input`] (so that every invalid field is
//! reported at once); the request types here document their schema.

use crate::cursor::CursorCodec;
use fido_domain::{
    Amount, Balance, FieldChange, FullName, HistoryAction, MoneySum, Page, Series,
    StatisticsSummary, Timestamp, Transaction, TransactionId, TransactionType, TransactionVersion,
    UserId, UtcDay,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `credit` or `debit`. (Named `TransactionType` in the OpenAPI document, as in the
/// original service's, so generated clients keep their model names.)
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[schema(as = TransactionType)]
pub enum TransactionTypeBody {
    /// Money in.
    Credit,
    /// Money out.
    Debit,
}

/// A transaction, with the customer's name decrypted.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionBody {
    /// The transaction's id (24 hex characters).
    #[schema(value_type = String, pattern = "^[0-9a-f]{24}$", example = "6650f0c2e4b0a1b2c3d4e5f6")]
    pub id: TransactionId,
    /// The owning user's id (24 hex characters).
    #[schema(value_type = String, pattern = "^[0-9a-f]{24}$", example = "65e25a6bfb249dcbfbf00b93")]
    pub user_id: UserId,
    /// The customer's name.
    #[schema(value_type = String, min_length = 1, max_length = 200, example = "Ada Lovelace")]
    pub full_name: FullName,
    /// The amount: exact, at most 2 decimals, 0 to 1e12.
    #[schema(value_type = f64, minimum = 0, maximum = 1000000000000.0, example = 10.5)]
    pub transaction_amount: Amount,
    /// Credit or debit.
    #[schema(value_type = TransactionTypeBody)]
    pub transaction_type: TransactionType,
    /// When it happened (RFC 3339, UTC, milliseconds).
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T10:15:30.123Z")]
    pub transaction_date: Timestamp,
    /// When it was recorded.
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T10:15:30.123Z")]
    pub created_at: Timestamp,
    /// When it was last changed.
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T10:15:30.123Z")]
    pub updated_at: Timestamp,
    /// 1 when created, one more with every update; the same number as the `ETag`, for
    /// `If-Match`.
    #[schema(example = 1, minimum = 1)]
    pub version: u64,
    /// The user's balance right after this transaction (in `transaction_date`, then id
    /// order). Only on list and export items, and only with `running_balance=true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<f64>, example = 145.0)]
    pub balance_after: Option<MoneySum>,
}

impl From<Transaction> for TransactionBody {
    fn from(t: Transaction) -> Self {
        Self {
            id: t.id,
            user_id: t.user_id,
            full_name: t.full_name,
            transaction_amount: t.amount,
            transaction_type: t.kind,
            transaction_date: t.transaction_date,
            created_at: t.created_at,
            updated_at: t.updated_at,
            version: t.version,
            balance_after: None,
        }
    }
}

impl TransactionBody {
    /// The body of `t`, with the balance after it when there is one.
    pub fn with_balance(t: &Transaction, balance_after: Option<MoneySum>) -> Self {
        Self {
            balance_after,
            ..Self::from(t)
        }
    }
}

impl From<&Transaction> for TransactionBody {
    fn from(t: &Transaction) -> Self {
        Self::from(t.clone())
    }
}

/// The answer to a create: the transaction, and the original service's `_id` beside `id`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTransactionBody {
    /// The transaction.
    #[serde(flatten)]
    pub transaction: TransactionBody,
    /// The same as `id`. Deprecated: the original service's create answered with `_id`
    /// (and its reads with `id`); kept so that code reading `data._id` after a create keeps
    /// working. Read `id`.
    #[serde(rename = "_id")]
    #[schema(value_type = String, deprecated, pattern = "^[0-9a-f]{24}$", example = "6650f0c2e4b0a1b2c3d4e5f6")]
    pub legacy_id: TransactionId,
}

impl From<Transaction> for CreatedTransactionBody {
    fn from(t: Transaction) -> Self {
        let legacy_id = t.id;
        Self {
            transaction: TransactionBody::from(t),
            legacy_id,
        }
    }
}

/// One page of a user's transactions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionPageBody {
    /// How many of the user's transactions match the filters, across every page.
    #[schema(example = 42)]
    pub total: u64,
    /// This page's number (from 1); `null` for a page asked for by `cursor`.
    #[schema(example = 1, nullable)]
    pub page: Option<u32>,
    /// The page size asked for.
    #[schema(example = 10)]
    pub limit: u32,
    /// The transactions on this page.
    pub data: Vec<TransactionBody>,
    /// Pass as `cursor` (with the same filters) for the page after this one; `null` on
    /// the last page. Opaque: its form may change.
    #[schema(
        example = "AQAAAZrN0L97ZlDwwuSwobLD1OX2Kx8bvD0a9l4mFfHn0G0rLQm7yzYk",
        nullable
    )]
    pub next_cursor: Option<String>,
}

impl TransactionPageBody {
    /// The body of `p`, its next cursor sealed by `cursors`.
    pub fn new(p: &Page<Transaction>, cursors: &CursorCodec) -> Self {
        Self {
            total: p.total,
            page: p.page,
            limit: p.limit,
            data: p
                .data
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let balance = p.balance_after.as_ref().and_then(|b| b.get(i).copied());
                    TransactionBody::with_balance(t, balance)
                })
                .collect(),
            next_cursor: p.next.as_ref().map(|c| cursors.seal(c)),
        }
    }
}

/// A user's statistics over a date range.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatisticsBody {
    /// The UTC day with the most transactions; ties go to the earliest.
    #[schema(value_type = String, format = Date, example = "2026-11-25")]
    pub highest_transaction_day: UtcDay,
    /// `total_transaction / transaction_count`, rounded half-to-even to 2 decimals.
    #[schema(value_type = f64, example = 22.5)]
    pub average_transaction: MoneySum,
    /// Sum of every amount, credits plus debits.
    #[schema(value_type = f64, example = 45.0)]
    pub total_transaction: MoneySum,
    /// How many transactions are in the range.
    #[schema(example = 2)]
    pub transaction_count: u64,
    /// Sum of the credits.
    #[schema(value_type = f64, example = 45.0)]
    pub total_credit: MoneySum,
    /// Sum of the debits.
    #[schema(value_type = f64, example = 0.0)]
    pub total_debit: MoneySum,
    /// `total_credit - total_debit` (may be negative).
    #[schema(value_type = f64, example = 45.0)]
    pub net: MoneySum,
}

impl From<&StatisticsSummary> for StatisticsBody {
    fn from(s: &StatisticsSummary) -> Self {
        Self {
            highest_transaction_day: s.busiest_day,
            average_transaction: s.average,
            total_transaction: s.total,
            transaction_count: s.count,
            total_credit: s.total_credit,
            total_debit: s.total_debit,
            net: s.net,
        }
    }
}

/// A user's balance at an instant.
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceBody {
    /// Whose (24 hex characters).
    #[schema(value_type = String, pattern = "^[0-9a-f]{24}$", example = "65e25a6bfb249dcbfbf00b93")]
    pub user_id: UserId,
    /// The instant: transactions dated at or before it count (RFC 3339, UTC,
    /// milliseconds). Without `at`, the last millisecond of the current second.
    #[schema(value_type = String, format = DateTime, example = "2026-11-30T23:59:59.999Z")]
    pub as_of: Timestamp,
    /// `credits − debits` (may be negative; 0 for a user without transactions).
    #[schema(value_type = f64, example = 45.0)]
    pub balance: MoneySum,
    /// Sum of the credits dated at or before `as_of`.
    #[schema(value_type = f64, example = 55.0)]
    pub credits: MoneySum,
    /// Sum of the debits dated at or before `as_of`.
    #[schema(value_type = f64, example = 10.0)]
    pub debits: MoneySum,
    /// How many transactions are dated at or before `as_of`.
    #[schema(example = 3)]
    pub transaction_count: u64,
}

impl From<&Balance> for BalanceBody {
    fn from(b: &Balance) -> Self {
        Self {
            user_id: b.user,
            as_of: b.as_of,
            balance: b.balance(),
            credits: b.credits,
            debits: b.debits,
            transaction_count: b.count,
        }
    }
}

/// A user's totals per day, week or month.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesBody {
    /// `day`, `week` (ISO weeks, Monday to Sunday, UTC) or `month`.
    #[schema(example = "day")]
    pub granularity: &'static str,
    /// Oldest first; only periods with transactions; at most 1,000.
    pub points: Vec<SeriesPointBody>,
}

/// One period of a series.
#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPointBody {
    /// `2026-11-25` (day), `2026-W48` (ISO week) or `2026-11` (month).
    #[schema(example = "2026-11-25")]
    pub period: String,
    /// How many transactions.
    #[schema(example = 2)]
    pub transaction_count: u64,
    /// Sum of the credits.
    #[schema(value_type = f64, example = 45.0)]
    pub total_credit: MoneySum,
    /// Sum of the debits.
    #[schema(value_type = f64, example = 0.0)]
    pub total_debit: MoneySum,
    /// `total_credit - total_debit`.
    #[schema(value_type = f64, example = 45.0)]
    pub net: MoneySum,
    /// The user's balance before the period's first transaction in the range (everything
    /// dated earlier, in the range or not).
    #[schema(value_type = f64, example = 100.0)]
    pub opening_balance: MoneySum,
    /// The balance after the period's last transaction in the range: `opening_balance +
    /// net`; the next point opens with it.
    #[schema(value_type = f64, example = 145.0)]
    pub closing_balance: MoneySum,
}

impl From<&Series> for SeriesBody {
    fn from(s: &Series) -> Self {
        Self {
            granularity: s.granularity.as_str(),
            points: s
                .points
                .iter()
                .map(|p| SeriesPointBody {
                    period: p.period.clone(),
                    transaction_count: p.count,
                    total_credit: p.credit,
                    total_debit: p.debit,
                    net: p.net,
                    opening_balance: p.opening,
                    closing_balance: p.closing,
                })
                .collect(),
        }
    }
}

/// The body of a create. Unknown fields are rejected (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TransactionCreateDto, example = json!({"user_id": "65e25a6bfb249dcbfbf00b93", "full_name": "Ada Lovelace", "transaction_amount": 10.5, "transaction_type": "credit", "transaction_date": "2025-11-25T10:15:30.123Z"}))]
pub struct CreateTransactionRequest {
    /// The owning user's id (24 hex characters).
    #[schema(pattern = "^[0-9a-fA-F]{24}$", example = "65e25a6bfb249dcbfbf00b93")]
    pub user_id: String,
    /// The customer's name: trimmed, 1 to 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$",
        example = "Ada Lovelace"
    )]
    pub full_name: String,
    /// At least 0, at most 1e12, at most 2 decimal places. Stored exactly.
    #[schema(minimum = 0, maximum = 1000000000000.0, example = 10.5)]
    pub transaction_amount: f64,
    /// `credit` or `debit`.
    pub transaction_type: TransactionTypeBody,
    /// RFC 3339, or a date-time without offset read as UTC; defaults to now; at most 5
    /// minutes in the future.
    #[schema(format = DateTime, example = "2025-11-25T10:15:30.123Z")]
    pub transaction_date: Option<String>,
}

/// The body of an update: a non-empty subset of the mutable fields; `null` means "no
/// change" (as in the original service). `id`, `user_id` and the timestamps cannot be
/// changed; they and unknown fields are rejected (422).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = TransactionUpdateDto, example = json!({"transaction_amount": 12.75}))]
pub struct UpdateTransactionRequest {
    /// The customer's name: trimmed, 1 to 200 characters, no control characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub full_name: Option<String>,
    /// At least 0, at most 1e12, at most 2 decimal places.
    #[schema(minimum = 0, maximum = 1000000000000.0)]
    pub transaction_amount: Option<f64>,
    /// `credit` or `debit`.
    pub transaction_type: Option<TransactionTypeBody>,
}

/// The liveness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct LiveBody {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// The readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyBody {
    /// `ok`, `degraded` (the cache is down; still serving) or `unavailable` (the store
    /// is down; 503).
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Each dependency: `ok` or `unavailable`.
    pub checks: ReadyChecks,
    /// The event relay of this process, when it runs one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<EventsHealthBody>,
    /// Whether committed events reach the feed (every process, while events are on):
    /// `lagging` — and the whole answer `degraded`, never 503 — when an event has waited
    /// for its sequence longer than the relay's lease (no relay numbers events: start
    /// `fido worker`, or check its health). Writes go on either way.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feed: Option<FeedHealthBody>,
    /// Documents `fido migrate` set aside (could not convert): the service is ready, but
    /// reads of their users answer 503 until they are fixed or removed. Absent when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 2)]
    pub quarantined_documents: Option<u64>,
    /// `paused` while writes are paused deployment-wide (`fido writes pause`): still
    /// ready, reads are served, writes answer 503 with Retry-After. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "paused")]
    pub writes: Option<&'static str>,
}

/// How far the event feed lags the commits (see `docs/events.md`, "The sequencer").
#[derive(Debug, Serialize, ToSchema)]
pub struct FeedHealthBody {
    /// `ok` or `lagging`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Events committed with their changes and not yet numbered into the feed.
    #[schema(example = 0)]
    pub unsequenced: u64,
    /// Age in seconds of the oldest of them (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 0.01)]
    pub oldest_unsequenced_age_seconds: Option<f64>,
}

/// How the event relay is doing: `degraded` (never `unavailable`) while a publisher fails.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventsHealthBody {
    /// `ok`, or `degraded` when a publisher is failing or the outbox cannot be read.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// Whether this process's relay holds the lease (only one relay delivers at a time).
    pub leader: bool,
    /// Events not yet delivered to every publisher.
    #[schema(example = 0)]
    pub backlog: u64,
    /// Age in seconds of the oldest undelivered event (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = 0.25)]
    pub oldest_undelivered_age_seconds: Option<f64>,
    /// The publishers whose last attempt failed.
    #[schema(example = json!([]))]
    pub failing_publishers: Vec<String>,
}

/// Per-dependency readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyChecks {
    /// The store: `ok`, `unavailable`, or `migration_required` (it holds the original
    /// service's documents: run `fido migrate`).
    #[schema(example = "ok")]
    pub store: &'static str,
    /// The cache.
    #[schema(example = "ok")]
    pub cache: &'static str,
}

/// A page of the event feed.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"events": [{"id": "01890a5d-ac96-774b-bcce-b302099a8057", "type": "transaction.created",
    "schema_version": 1, "sequence": 1, "occurred_at": "2026-11-26T10:15:30.123Z",
    "user_id": "65e25a6bfb249dcbfbf00b93", "transaction_id": "6650f0c2e4b0a1b2c3d4e5f6",
    "data": {"id": "6650f0c2e4b0a1b2c3d4e5f6", "user_id": "65e25a6bfb249dcbfbf00b93",
        "transaction_amount": 10.5, "transaction_amount_cents": 1050, "transaction_type": "credit",
        "transaction_date": "2026-11-26T10:15:30.123Z", "created_at": "2026-11-26T10:15:30.123Z",
        "updated_at": "2026-11-26T10:15:30.123Z", "version": 1}}],
    "next_after": 1, "last_sequence": 1}))]
pub struct EventPageBody {
    /// The events, ascending by `sequence`: the envelope of `docs/events.md` (JSON Schema
    /// in `docs/events.schema.json`).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<fido_events::Event>,
    /// The cursor of the next page: pass it as `after` (equal to the request's `after`
    /// when there was nothing new).
    #[schema(example = 1)]
    pub next_after: u64,
    /// The highest sequence committed so far (to see how far behind a reader is).
    #[schema(example = 1)]
    pub last_sequence: u64,
}

/// A transaction's values as one version of its history shows them.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionValuesBody {
    /// The owning user's id.
    #[schema(value_type = String, pattern = "^[0-9a-f]{24}$", example = "65e25a6bfb249dcbfbf00b93")]
    pub user_id: UserId,
    /// The customer's name, decrypted (as the transaction's own read shows it).
    #[schema(value_type = String, example = "Ada Lovelace")]
    pub full_name: FullName,
    /// The amount, exact.
    #[schema(value_type = f64, example = 10.5)]
    pub transaction_amount: Amount,
    /// Credit or debit.
    #[schema(value_type = TransactionTypeBody)]
    pub transaction_type: TransactionType,
    /// When it happened.
    #[schema(value_type = String, format = DateTime, example = "2026-11-26T10:15:30.123Z")]
    pub transaction_date: Timestamp,
}

/// One field an update changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChangeBody {
    /// The value before (same type as the field: number, text, date-time).
    #[schema(value_type = Value, example = 10.5)]
    pub before: serde_json::Value,
    /// The value after.
    #[schema(value_type = Value, example = 12.0)]
    pub after: serde_json::Value,
}

/// One version of a transaction: who changed what, when.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionVersionBody {
    /// The version this change made (1 for the creation; a deletion is one past the last
    /// version).
    #[schema(example = 2, minimum = 1)]
    pub version: u64,
    /// When the change was made.
    #[schema(value_type = String, format = DateTime, example = "2026-11-27T08:00:00.000Z")]
    pub at: Timestamp,
    /// Who made it: the API key's name, or the command (`migrate`, `import`).
    #[schema(example = "billing-service")]
    pub actor: String,
    /// `created`, `updated` or `deleted`.
    #[schema(example = "updated")]
    pub action: &'static str,
    /// The values after the change (for a deletion: the values it had).
    pub values: VersionValuesBody,
    /// For `updated` only: each changed field (by its API name), before and after.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = json!({"transaction_amount": {"before": 10.5, "after": 12.0}}))]
    pub changes: Option<std::collections::BTreeMap<&'static str, FieldChangeBody>>,
}

/// Every kept version of a transaction, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryBody {
    /// The transaction's id.
    #[schema(value_type = String, pattern = "^[0-9a-f]{24}$", example = "6650f0c2e4b0a1b2c3d4e5f6")]
    pub transaction_id: TransactionId,
    /// The versions, oldest first.
    pub versions: Vec<TransactionVersionBody>,
}

fn change_body<T: Serialize>(before: &T, after: &T) -> FieldChangeBody {
    let value = |v: &T| serde_json::to_value(v).unwrap_or(serde_json::Value::Null);
    FieldChangeBody {
        before: value(before),
        after: value(after),
    }
}

impl From<TransactionVersion> for TransactionVersionBody {
    fn from(v: TransactionVersion) -> Self {
        let changes = (v.action == HistoryAction::Updated).then(|| {
            v.changes
                .iter()
                .map(|c| match c {
                    FieldChange::UserId(b, a) => ("user_id", change_body(b, a)),
                    FieldChange::FullName(b, a) => ("full_name", change_body(b, a)),
                    FieldChange::Amount(b, a) => ("transaction_amount", change_body(b, a)),
                    FieldChange::Kind(b, a) => ("transaction_type", change_body(b, a)),
                    FieldChange::TransactionDate(b, a) => ("transaction_date", change_body(b, a)),
                })
                .collect()
        });
        Self {
            version: v.version,
            at: v.at,
            actor: v.actor.as_str().to_owned(),
            action: v.action.as_str(),
            values: VersionValuesBody {
                user_id: v.values.user_id,
                full_name: v.values.full_name,
                transaction_amount: v.values.amount,
                transaction_type: v.values.kind,
                transaction_date: v.values.transaction_date,
            },
            changes,
        }
    }
}
