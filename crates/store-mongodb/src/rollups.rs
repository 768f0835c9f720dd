//! Daily roll-ups on MongoDB: per (user, UTC day) the count and the credit and debit sums
//! (in two Int64 parts, billions of cents and the rest), in `fido_daily_totals`, changed
//! in the same multi-document transaction as the transaction itself.
//!
//! Transactions need a replica set (or a sharded cluster). The store finds out which it
//! has on first use: on a standalone server it logs one warning and keeps no roll-ups
//! (statistics are then computed from the rows, as before). On a database written before
//! roll-ups existed (`fido_meta` does not say they are built), it builds them in the
//! background, one user per transaction, while statistics are computed from the rows;
//! once every user is built it records that and reads the roll-ups from then on.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};

use async_trait::async_trait;
use fido_domain::{
    DailyRollups, DayTotals, MoneySum, RollupDrift, StoreError, TransactionRecord, TransactionType,
    UserId, UtcDay, MS_PER_DAY,
};
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::{TRANSIENT_TRANSACTION_ERROR, UNKNOWN_TRANSACTION_COMMIT_RESULT};
use mongodb::ClientSession;

use crate::documents::object_id;
use crate::errors::map_error;
use crate::MongoStore;

/// The collection of daily roll-ups.
pub const ROLLUP_COLLECTION: &str = "fido_daily_totals";
/// The collection of the store's own state (whether roll-ups are built).
pub const META_COLLECTION: &str = "fido_meta";
const BUILT: &str = "daily_totals";
const SPLIT: i64 = 1_000_000_000;
/// A roll-up row's counters: the count, then credit and debit in two parts each.
const FIELDS: [&str; 5] = ["n", "ch", "cl", "dh", "dl"];
/// Attempts of a transaction that keeps losing write conflicts (within the operation
/// timeout overall).
const ATTEMPTS: u32 = 12;

/// What the store does about roll-ups.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mode {
    /// Not known yet (the database has not answered).
    Unknown = 0,
    /// A standalone server: no transactions, no roll-ups; statistics from the rows.
    RowsOnly = 1,
    /// Roll-ups are kept by every write, and being built for the existing rows; reads
    /// still come from the rows.
    Building = 2,
    /// Roll-ups are kept and built: reads use them.
    Kept = 3,
}

/// The mode, shared by every clone of the store.
#[derive(Debug, Default)]
pub(crate) struct ModeCell(AtomicU8);

impl ModeCell {
    fn get(&self) -> Mode {
        match self.0.load(Ordering::Acquire) {
            1 => Mode::RowsOnly,
            2 => Mode::Building,
            3 => Mode::Kept,
            _ => Mode::Unknown,
        }
    }

    fn set(&self, mode: Mode) {
        self.0.store(mode as u8, Ordering::Release);
    }
}

/// A day number since the epoch.
pub(crate) fn day_number(ms: i64) -> i64 {
    ms.div_euclid(MS_PER_DAY)
}

/// What one record adds to its day's roll-up counters ([`FIELDS`]), `sign` 1 or -1.
fn counters(r: &TransactionRecord, sign: i64) -> [i64; 5] {
    let cents = i64::try_from(r.amount.cents()).unwrap_or(i64::MAX);
    let (hi, lo) = (cents / SPLIT * sign, cents % SPLIT * sign);
    match r.kind {
        TransactionType::Credit => [sign, hi, lo, 0, 0],
        TransactionType::Debit => [sign, 0, 0, hi, lo],
    }
}

/// Roll-up counters as a document's fields.
fn counters_doc(values: [i64; 5]) -> Document {
    FIELDS
        .iter()
        .zip(values)
        .map(|(f, v)| ((*f).to_owned(), Bson::Int64(v)))
        .collect()
}

/// The `$inc` of one record in its day's roll-up, `sign` 1 or -1.
fn increment(r: &TransactionRecord, sign: i64) -> Document {
    counters_doc(counters(r, sign))
}

fn day_key(user: UserId, day: i64) -> Document {
    doc! {"u": object_id(user.object_id()), "d": day}
}

/// A boxed future borrowing the session, for [`MongoStore::transaction`].
pub(crate) type Step<'a, T> = Pin<Box<dyn Future<Output = mongodb::error::Result<T>> + Send + 'a>>;

impl MongoStore {
    /// The roll-up mode, found out on first use (see the module's documentation).
    pub(crate) async fn rollup_mode(&self) -> Result<Mode, StoreError> {
        let mode = self.mode.get();
        if mode != Mode::Unknown {
            return Ok(mode);
        }
        if !self.server_has_transactions().await? {
            tracing::warn!(
                "MongoDB is a standalone server: multi-document transactions are not available, \
                 so no daily roll-ups are kept and statistics are computed from the rows \
                 (run MongoDB as a replica set, even a single node, for roll-ups)"
            );
            self.mode.set(Mode::RowsOnly);
            return Ok(Mode::RowsOnly);
        }
        let built = self
            .bounded(self.meta.find_one(doc! {"_id": BUILT, "state": "built"}))
            .await?
            .is_some();
        if built {
            self.mode.set(Mode::Kept);
            return Ok(Mode::Kept);
        }
        // Claim the build: several instances may start at once; each builds the users it
        // reaches, and a repair is idempotent, so racing builders only repeat work.
        self.mode.set(Mode::Building);
        let store = self.clone();
        tokio::spawn(async move { store.build_rollups().await });
        Ok(Mode::Building)
    }

    /// Whether the server offers multi-document transactions: a replica set member or a
    /// router of a sharded cluster (asked with `hello`).
    pub(crate) async fn server_has_transactions(&self) -> Result<bool, StoreError> {
        let hello = self
            .bounded(self.client.database("admin").run_command(doc! {"hello": 1}))
            .await?;
        Ok(hello.get_str("setName").is_ok() || hello.get_str("msg").is_ok_and(|m| m == "isdbgrid"))
    }

    /// Whether the server may support transactions (not known to be a standalone server).
    pub(crate) fn transactions_possible(&self) -> bool {
        !matches!(self.mode.get(), Mode::RowsOnly)
    }

    /// Whether writes must keep roll-ups (in transactions).
    pub(crate) async fn keeps_rollups(&self) -> Result<bool, StoreError> {
        Ok(matches!(
            self.rollup_mode().await?,
            Mode::Building | Mode::Kept
        ))
    }

    async fn build_rollups(self) {
        tracing::info!("building the daily roll-ups of the existing transactions");
        let mut after = None;
        let mut users = 0u64;
        loop {
            let batch = match self.users_after(after, 500).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "roll-up build paused; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    continue;
                }
            };
            let Some(last) = batch.last().copied() else {
                break;
            };
            for user in batch {
                while let Err(e) = self.check_user(user, true).await {
                    tracing::warn!(error = %e, "roll-up build of a user failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                users += 1;
            }
            after = Some(last);
        }
        let marked = self
            .bounded(
                self.meta
                    .update_one(doc! {"_id": BUILT}, doc! {"$set": {"state": "built"}})
                    .upsert(true),
            )
            .await;
        match marked {
            Ok(_) => {
                self.mode.set(Mode::Kept);
                tracing::info!(users, "daily roll-ups built; statistics now read them");
            }
            Err(e) => {
                tracing::error!(error = %e, "roll-ups built but not recorded; the next start rebuilds")
            }
        }
    }

    /// Runs `work` in a multi-document transaction, retrying write conflicts and unknown
    /// commit results as the driver's documentation prescribes, within the operation
    /// timeout per attempt.
    pub(crate) async fn transaction<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: for<'a> Fn(&'a mut ClientSession) -> Step<'a, T>,
        T: Send,
    {
        let mut last = None;
        let deadline = tokio::time::Instant::now() + self.operation_timeout;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                // Write conflicts: back off (exponentially, with jitter) before retrying,
                // so that racing writers of one day's roll-up take turns.
                static DRAWS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let base = 2u64 << attempt.min(8);
                let draw = DRAWS.fetch_add(1, Ordering::Relaxed) ^ u64::from(std::process::id());
                let jitter = (draw.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % base;
                let pause = std::time::Duration::from_millis(base + jitter);
                if tokio::time::Instant::now() + pause >= deadline {
                    break;
                }
                tokio::time::sleep(pause).await;
            }
            let mut session = self.bounded(self.client.start_session()).await?;
            let attempt = async {
                session.start_transaction().await?;
                let value = match work(&mut session).await {
                    Ok(value) => value,
                    Err(e) => {
                        let _ = session.abort_transaction().await;
                        return Err(e);
                    }
                };
                loop {
                    match session.commit_transaction().await {
                        Ok(()) => return Ok(value),
                        Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
            match tokio::time::timeout(self.operation_timeout, attempt).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) if e.contains_label(TRANSIENT_TRANSACTION_ERROR) => last = Some(e),
                Ok(Err(e)) => return Err(map_error(e)),
                Err(_) => {
                    return Err(StoreError::Unavailable(format!(
                        "MongoDB did not finish a transaction within {:?}",
                        self.operation_timeout
                    )))
                }
            }
        }
        Err(last.map_or_else(
            || StoreError::Unavailable("MongoDB transaction kept conflicting".into()),
            map_error,
        ))
    }

    /// Adds (`sign` 1) or removes (-1) a record in its day's roll-up, within `session`'s
    /// transaction; a day left empty is removed.
    pub(crate) async fn apply_rollup(
        &self,
        session: &mut ClientSession,
        record: &TransactionRecord,
        sign: i64,
    ) -> mongodb::error::Result<()> {
        let key = day_key(
            record.user_id,
            day_number(record.transaction_date.as_millis()),
        );
        self.rollups
            .update_one(key.clone(), doc! {"$inc": increment(record, sign)})
            .upsert(true)
            .session(&mut *session)
            .await?;
        if sign < 0 {
            self.drop_if_empty(session, key).await?;
        }
        Ok(())
    }

    /// Removes the roll-up row `key` if it counts no transaction any more.
    async fn drop_if_empty(
        &self,
        session: &mut ClientSession,
        mut key: Document,
    ) -> mongodb::error::Result<()> {
        key.insert("n", doc! {"$lte": 0_i64});
        self.rollups.delete_one(key).session(&mut *session).await?;
        Ok(())
    }

    /// The roll-up changes of many records at once inside `session`'s transaction (`sign`
    /// 1 or -1 each), in bulk: summed per user and day, the touched days read by user
    /// (in [`IN_SLICE`](crate::slices::IN_SLICE)s), then written back (the old rows
    /// removed, the new ones inserted in one command), so a batch costs a few round trips
    /// whatever the number of days it touches. Inside the transaction this is as safe as
    /// an `$inc` per day: a writer that changed one of these days after the read makes the
    /// commit a write conflict, and [`MongoStore::transaction`] runs the whole batch again.
    pub(crate) async fn apply_rollups(
        &self,
        session: &mut ClientSession,
        changes: &[(&TransactionRecord, i64)],
    ) -> mongodb::error::Result<()> {
        let mut days: std::collections::BTreeMap<(UserId, i64), [i64; 5]> =
            std::collections::BTreeMap::new();
        for (record, sign) in changes {
            let day = day_number(record.transaction_date.as_millis());
            let sum = days.entry((record.user_id, day)).or_default();
            for (slot, add) in sum.iter_mut().zip(counters(record, *sign)) {
                *slot += add;
            }
        }
        let (Some(first), Some(last)) = (
            days.keys().map(|(_, d)| *d).min(),
            days.keys().map(|(_, d)| *d).max(),
        ) else {
            return Ok(());
        };
        let mut users: Vec<Bson> = days
            .keys()
            .map(|(u, _)| Bson::ObjectId(object_id(u.object_id())))
            .collect();
        users.dedup();
        // Rows of these users in the batch's span of days; those of other days are skipped.
        let held = crate::slices::find_in(
            &self.rollups,
            session,
            "u",
            &users,
            &doc! {"d": {"$gte": first, "$lte": last}},
        )
        .await?;
        let mut replaced = Vec::new();
        for row in &held {
            let (Ok(user), Some(day)) = (row.get_object_id("u"), int(row, "d").ok()) else {
                continue;
            };
            let user = UserId::new(fido_domain::ObjectId::from_bytes(user.bytes()));
            let Some(sum) = days.get_mut(&(user, day)) else {
                continue;
            };
            for (slot, field) in sum.iter_mut().zip(FIELDS) {
                *slot +=
                    int(row, field).map_err(|e| mongodb::error::Error::custom(e.to_string()))?;
            }
            replaced.push(row.get("_id").cloned().unwrap_or(Bson::Null));
        }
        crate::slices::delete_ids(&self.rollups, session, &replaced).await?;
        // A day whose count falls to zero has no row (as a single write leaves it).
        let rows: Vec<Document> = days
            .into_iter()
            .filter(|(_, [n, ..])| *n > 0)
            .map(|((user, day), values)| {
                let mut row = day_key(user, day);
                row.extend(counters_doc(values));
                row
            })
            .collect();
        if !rows.is_empty() {
            self.rollups
                .insert_many(rows)
                .session(&mut *session)
                .await?;
        }
        Ok(())
    }

    /// The roll-up rows of `user` for day numbers `from..=to`, ascending.
    pub(crate) async fn rollup_days(
        &self,
        user: UserId,
        from: i64,
        to: i64,
    ) -> Result<Vec<DayTotals>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let filter = doc! {"u": object_id(user.object_id()), "d": {"$gte": from, "$lte": to}};
        let docs: Vec<Document> = self
            .find_sorted(&self.rollups, filter, doc! {"d": 1}, None)
            .await?;
        docs.iter().map(rollup_day).collect()
    }
}

fn int(doc: &Document, field: &str) -> Result<i64, StoreError> {
    match doc.get(field) {
        Some(Bson::Int64(n)) => Ok(*n),
        Some(Bson::Int32(n)) => Ok(i64::from(*n)),
        _ => Err(StoreError::Internal(format!(
            "a daily roll-up has an invalid {field}"
        ))),
    }
}

fn rollup_day(doc: &Document) -> Result<DayTotals, StoreError> {
    let join = |hi: i64, lo: i64| {
        MoneySum::from_cents(i128::from(hi) * i128::from(SPLIT) + i128::from(lo))
    };
    Ok(DayTotals {
        day: UtcDay::from_epoch_days(int(doc, "d")?)
            .map_err(|_| StoreError::Internal("a daily roll-up has an invalid day".into()))?,
        count: u64::try_from(int(doc, "n")?)
            .map_err(|_| StoreError::Internal("a daily roll-up has a negative count".into()))?,
        credit: join(int(doc, "ch")?, int(doc, "cl")?),
        debit: join(int(doc, "dh")?, int(doc, "dl")?),
    })
}

#[async_trait]
impl DailyRollups for MongoStore {
    fn kept(&self) -> bool {
        // Before the database has answered, assume roll-ups: a check then asks it.
        !matches!(self.mode.get(), Mode::RowsOnly)
    }

    async fn users_after(
        &self,
        after: Option<UserId>,
        limit: u32,
    ) -> Result<Vec<UserId>, StoreError> {
        let mut pipeline = Vec::new();
        if let Some(after) = after {
            pipeline.push(doc! {"$match": {"user_id": {"$gt": object_id(after.object_id())}}});
        }
        pipeline.push(doc! {"$group": {"_id": "$user_id"}});
        pipeline.push(doc! {"$sort": {"_id": 1}});
        pipeline.push(doc! {"$limit": i64::from(limit)});
        let docs: Vec<Document> = self
            .bounded(async {
                self.collection
                    .aggregate(pipeline)
                    .await?
                    .try_collect()
                    .await
            })
            .await?;
        let mut users: Vec<UserId> = docs
            .iter()
            .filter_map(|d| d.get_object_id("_id").ok())
            .map(|id| UserId::new(fido_domain::ObjectId::from_bytes(id.bytes())))
            .collect();
        // Users whose every transaction is gone may still have roll-ups left over: the
        // same bounded page of them (never the whole list).
        let mut leftover = Vec::new();
        if let Some(after) = after {
            leftover.push(doc! {"$match": {"u": {"$gt": object_id(after.object_id())}}});
        }
        leftover.push(doc! {"$group": {"_id": "$u"}});
        leftover.push(doc! {"$sort": {"_id": 1}});
        leftover.push(doc! {"$limit": i64::from(limit)});
        let docs: Vec<Document> = self
            .bounded(async { self.rollups.aggregate(leftover).await?.try_collect().await })
            .await?;
        users.extend(
            docs.iter()
                .filter_map(|d| d.get_object_id("_id").ok())
                .map(|id| UserId::new(fido_domain::ObjectId::from_bytes(id.bytes()))),
        );
        users.sort();
        users.dedup();
        users.truncate(limit as usize);
        Ok(users)
    }

    async fn check_user(&self, user: UserId, repair: bool) -> Result<Vec<RollupDrift>, StoreError> {
        if self.rollup_mode().await? == Mode::RowsOnly {
            return Ok(Vec::new());
        }
        let store = self.clone();
        self.transaction(move |session| {
            let store = store.clone();
            Box::pin(async move {
                let rows = store.raw_days_in(session, user).await?;
                let key = doc! {"u": object_id(user.object_id())};
                let docs: Vec<Document> = store
                    .rollups
                    .find(key.clone())
                    .session(&mut *session)
                    .await?
                    .stream(&mut *session)
                    .try_collect()
                    .await?;
                let rollups: Vec<DayTotals> =
                    docs.iter().filter_map(|d| rollup_day(d).ok()).collect();
                let drift = compare(user, &rows, &rollups, docs.len() != rollups.len());
                if repair && !drift.is_empty() {
                    store
                        .rollups
                        .delete_many(key)
                        .session(&mut *session)
                        .await?;
                    let fresh: Vec<Document> = rows
                        .iter()
                        .map(|d| {
                            let split = |m: MoneySum| {
                                let c = i64::try_from(m.cents()).unwrap_or(i64::MAX);
                                (c / SPLIT, c % SPLIT)
                            };
                            let (ch, cl) = split(d.credit);
                            let (dh, dl) = split(d.debit);
                            doc! {"u": object_id(user.object_id()), "d": d.day.epoch_days(),
                            "n": i64::try_from(d.count).unwrap_or(i64::MAX),
                            "ch": ch, "cl": cl, "dh": dh, "dl": dl}
                        })
                        .collect();
                    if !fresh.is_empty() {
                        store
                            .rollups
                            .insert_many(fresh)
                            .session(&mut *session)
                            .await?;
                    }
                }
                Ok(drift)
            })
        })
        .await
    }
}

/// The days where roll-ups and rows differ; a roll-up that could not be read
/// (`corrupt`) is drift of its own, reported on the user's first day.
fn compare(
    user: UserId,
    rows: &[DayTotals],
    rollups: &[DayTotals],
    corrupt: bool,
) -> Vec<RollupDrift> {
    let mut drift = RollupDrift::between(user, rows, rollups);
    if corrupt && drift.is_empty() {
        if let Some(first) = rows.first().or(rollups.first()) {
            drift.push(RollupDrift {
                user,
                day: first.day,
                rows: rows.first().copied(),
                rollup: None,
            });
        }
    }
    drift
}
