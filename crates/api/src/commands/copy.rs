//! `fido copy --from <DB_URI> --to <DB_URI> [--dry-run] [--batch-size N] [--after ID]`:
//! streams a store's whole contents into another — SQLite to MongoDB and back — then
//! verifies the copy.
//!
//! In order: every transaction (as stored: names as their Fernet tokens, never decrypted;
//! versions and dates as they are), every idempotency record, every history version (as
//! stored, names still encrypted), every retained event with
//! its sequence (and the feed's marks), every publisher's cursor; then the target's daily
//! roll-ups are rebuilt from its rows, and both stores are tallied per user (count and a
//! checksum) and compared. Every write replaces what has the same key, so an interrupted
//! copy is finished by running it again (or resumed with the `--after` it printed).
//! Without `--follow`, writes to the source during a copy are not followed: pause them
//! first (`fido writes pause`; see the README). With `--follow`, the copy then keeps
//! applying the source's later changes, read from its event feed from where it stood
//! before the copy began: each changed transaction is read again from the source and
//! written to the target as it is now (or removed), the events are copied with their
//! sequences, and the touched users' roll-ups repaired (every 2 s). It prints how far
//! behind it is; once writes are paused on the source and everything is applied, it
//! copies the idempotency records and cursors again, verifies every user whose changes
//! raced the pause (all their records, both sides), and exits — the moment to point the
//! instances at the target. With `FERNET_KEY` given, every name is also checked against the API's rules
//! and each one the API would refuse is listed (by id; it is copied as stored). Exit code: 0 copied and verified, 3 the verification found differences,
//! 1 failure, 2 configuration.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fido_domain::{
    FieldCipher, FullName, ListFilter, Position, StoreTransfer, TransactionId, TransactionRecord,
    UserId,
};

use super::progress::Progress;
use super::{fail, say};
use crate::cli::CopyArgs;
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::transfer::{open_at, repair_rollups, tally};
use crate::wiring::StorePorts;

/// Exit code when the two stores differ after the copy.
pub const DIFFERENCES: u8 = 3;

/// Exit code when following was stopped (Ctrl-C) before the switch-over point.
pub const INTERRUPTED: u8 = 130;

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Transactions copied (read, on a dry run).
    pub records: u64,
    /// Idempotency records copied.
    pub idempotency: u64,
    /// History versions copied (read, on a dry run).
    pub history: u64,
    /// Events copied.
    pub events: u64,
    /// Publishers' cursors copied.
    pub cursors: u64,
    /// Roll-up days the target's rebuild corrected.
    pub rollup_days: u64,
    /// Users whose count or checksum differ between the stores, with both sides.
    pub differences: Vec<String>,
    /// Users compared.
    pub users: u64,
    /// Transactions whose stored name the API would refuse (copied as stored; checked
    /// only when `FERNET_KEY` is given), with the rule or why it could not be read.
    pub unusual_names: Vec<(TransactionId, String)>,
    /// With `--follow`: what following did, when it ended at a switch-over point.
    pub followed: Option<Followed>,
}

/// What `--follow` applied after the copy.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Followed {
    /// Events of the source applied to the target.
    pub events: u64,
    /// The last sequence applied (the target's feed goes on after it).
    pub through: u64,
    /// Users touched while following.
    pub users: u64,
    /// From the moment the source's writes were seen paused to the end (applied and
    /// verified): how long the switch-over kept writes waiting, this side of it.
    pub paused_for: std::time::Duration,
    /// Whether following was stopped (Ctrl-C) before the switch-over point.
    pub interrupted: bool,
}

/// Adds to `report` each record of `batch` whose name the API would refuse, or that no
/// configured key opens (names are copied as stored either way; ids only, never names).
async fn check_names(
    cipher: &dyn FieldCipher,
    batch: &[TransactionRecord],
    report: &mut CopyReport,
) {
    for record in batch {
        let rule = match cipher.decrypt(record.full_name.as_str()).await {
            Ok(name) => FullName::api_refusal(&name).map(|rule| format!("full_name {rule}")),
            Err(_) => Some("full_name does not open with the configured keys".to_owned()),
        };
        report
            .unusual_names
            .extend(rule.map(|rule| (record.id, rule)));
    }
}

async fn copy_records(
    from: &Arc<dyn StoreTransfer>,
    to: &Arc<dyn StoreTransfer>,
    cipher: Option<&dyn FieldCipher>,
    args: &CopyArgs,
    report: &mut CopyReport,
) -> Result<()> {
    let progress = Progress::new("transactions copied", None);
    let mut after: Option<TransactionId> = args.after;
    loop {
        let batch = from
            .records_after(after, args.batch_size)
            .await
            .map_err(Error::Store)?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        report.records += batch.len() as u64;
        if let Some(cipher) = cipher {
            check_names(cipher, &batch, report).await;
        }
        if !args.dry_run {
            to.put_records(batch).await.map_err(Error::Store)?;
        }
        progress.update(
            report.records,
            &format!(
                "resume with --after {}",
                after.map(|a| a.to_string()).unwrap_or_default()
            ),
        );
    }
    progress.finish();
    Ok(())
}

/// Copies every idempotency record (replacing what is there); how many.
async fn copy_idempotency(from: &StorePorts, to: &StorePorts, args: &CopyArgs) -> Result<u64> {
    let mut after = None;
    let mut copied = 0;
    loop {
        let keys = from
            .transfer
            .idempotency_after(after, args.batch_size)
            .await
            .map_err(Error::Store)?;
        let Some(last) = keys.last() else { break };
        after = Some((last.scope.clone(), last.key.clone()));
        copied += keys.len() as u64;
        if !args.dry_run {
            to.transfer
                .put_idempotency(keys)
                .await
                .map_err(Error::Store)?;
        }
    }
    Ok(copied)
}

/// Copies every history version as stored (replacing what is there); how many.
async fn copy_history(from: &StorePorts, to: &StorePorts, args: &CopyArgs) -> Result<u64> {
    let mut after = None;
    let mut copied = 0;
    loop {
        let versions = from
            .transfer
            .history_after(after, args.batch_size)
            .await
            .map_err(Error::Store)?;
        let Some(last) = versions.last() else { break };
        after = Some((last.transaction_id, last.version));
        copied += versions.len() as u64;
        if !args.dry_run {
            to.transfer
                .put_history(versions)
                .await
                .map_err(Error::Store)?;
        }
    }
    Ok(copied)
}

/// Copies every publisher's cursor; how many.
async fn copy_cursors(from: &StorePorts, to: &StorePorts) -> Result<u64> {
    let cursors = from.transfer.cursors().await.map_err(Error::Store)?;
    let copied = cursors.len() as u64;
    to.transfer
        .put_cursors(cursors)
        .await
        .map_err(Error::Store)?;
    Ok(copied)
}

/// Forgets the cached reads of `users` in the target's cache: the target may be served
/// already (with a shared cache), and must give no stale answer.
async fn invalidate_target(
    settings: &Settings,
    args: &CopyArgs,
    users: impl IntoIterator<Item = UserId>,
) -> Result<()> {
    let mut target_settings = settings.clone();
    target_settings.store.uri = crate::settings::Secret::new(args.to.clone());
    let cache = crate::wiring::open_cache(&target_settings)?;
    crate::transfer::invalidate(&*cache, users).await;
    Ok(())
}

/// How often following repairs the roll-ups of the users it changed.
const REPAIR_EVERY: Duration = Duration::from_secs(2);

/// How often following looks at the source's feed.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);

/// After the source's writes are seen paused, how long changes may still commit (a write
/// that passed its instance's check just before the pause reached it): the instances read
/// the pause every 0.5 s.
const PAUSE_GRACE: Duration = Duration::from_millis(1_500);

/// Applies the source's changes after `start` to the target until the source's writes
/// are paused and everything is applied (then verifies the users it touched), or until
/// Ctrl-C.
async fn follow(
    settings: &Settings,
    from: &StorePorts,
    to: &StorePorts,
    args: &CopyArgs,
    start: u64,
    report: &mut CopyReport,
) -> Result<Followed> {
    let mut followed = Followed {
        through: start,
        ..Followed::default()
    };
    let mut touched: BTreeSet<UserId> = BTreeSet::new();
    // Users whose roll-ups wait for a repair (done every REPAIR_EVERY, not per change),
    // and users changed since the pause was seen (verified at the end).
    let mut dirty: BTreeSet<UserId> = BTreeSet::new();
    let mut raced: BTreeSet<UserId> = BTreeSet::new();
    let mut last_repair = Instant::now();
    let mut paused_at: Option<Instant> = None;
    let mut said_caught_up = false;
    let mut last_status = Instant::now();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    say(&format!(
        "following the source's changes after sequence {start}"
    ));
    loop {
        // Paused first, then drained: nothing the drain misses can have been accepted
        // before the pause was seen (PAUSE_GRACE covers writes already past the check).
        let paused = from
            .switch
            .write_pause()
            .await
            .map_err(Error::Store)?
            .is_some();
        if paused && paused_at.is_none() {
            paused_at = Some(Instant::now());
            say("writes are paused on the source: applying what is left");
        } else if !paused && paused_at.is_some() {
            paused_at = None;
            say("writes were resumed on the source: following on");
        }
        let mut changed = BTreeSet::new();
        let applied = apply_changes(from, to, &mut followed, &mut changed).await?;
        if paused_at.is_some() {
            raced.extend(changed.iter().copied());
        }
        touched.extend(changed.iter().copied());
        dirty.extend(changed);
        if !dirty.is_empty() && (paused_at.is_some() || last_repair.elapsed() >= REPAIR_EVERY) {
            for user in std::mem::take(&mut dirty) {
                to.rollups
                    .check_user(user, true)
                    .await
                    .map_err(Error::Store)?;
            }
            last_repair = Instant::now();
        }
        let backlog = from.events.backlog(&[]).await.map_err(Error::Store)?;
        let behind = backlog.last_sequence.saturating_sub(followed.through) + backlog.unsequenced;
        if behind == 0 && !said_caught_up {
            say(&format!(
                "caught up at sequence {}: pause writes (`fido writes pause`) to switch over",
                followed.through
            ));
            said_caught_up = true;
        } else if behind > 0 {
            said_caught_up = false;
        }
        if last_status.elapsed() >= Duration::from_secs(2) {
            last_status = Instant::now();
            let oldest = backlog
                .oldest_unsequenced_at
                .map(|t| format!(", the oldest waiting since {t}"))
                .unwrap_or_default();
            say(&format!(
                "following: applied through sequence {} of {} ({behind} behind{oldest}); {} events applied",
                followed.through, backlog.last_sequence, followed.events
            ));
        }
        if let Some(at) = paused_at {
            if behind == 0 && applied == 0 && at.elapsed() >= PAUSE_GRACE {
                report.idempotency = copy_idempotency(from, to, args).await?;
                report.cursors = copy_cursors(from, to).await?;
                verify_users(from, to, &raced, report).await?;
                invalidate_target(settings, args, touched.iter().copied()).await?;
                followed.users = touched.len() as u64;
                followed.paused_for = at.elapsed();
                return Ok(followed);
            }
        }
        tokio::select! {
            _ = &mut interrupted => {
                followed.interrupted = true;
                followed.users = touched.len() as u64;
                return Ok(followed);
            }
            () = tokio::time::sleep(FOLLOW_EVERY) => {}
        }
    }
}

/// Applies one pass over the source's feed after `followed.through`; how many events. The
/// users changed go to `touched` (their roll-ups are the caller's to repair).
async fn apply_changes(
    from: &StorePorts,
    to: &StorePorts,
    followed: &mut Followed,
    touched: &mut BTreeSet<UserId>,
) -> Result<u64> {
    let mut applied = 0;
    loop {
        let page = from
            .events
            .events_after(followed.through, 1000)
            .await
            .map_err(Error::Store)?;
        let Some(last) = page.events.last().map(|e| e.sequence) else {
            return Ok(applied);
        };
        let mut ids = BTreeSet::new();
        let mut users = BTreeSet::new();
        for e in &page.events {
            for snapshot in [&e.event.after, &e.event.before].into_iter().flatten() {
                ids.insert(snapshot.id);
                users.insert(snapshot.user_id);
            }
        }
        // Each changed transaction as it is now (later events of it only repeat this),
        // with its history.
        let (mut puts, mut removes, mut versions) = (Vec::new(), Vec::new(), Vec::new());
        for &id in &ids {
            versions.extend(from.history.history(id).await.map_err(Error::Store)?);
        }
        for id in ids {
            match from.store.get(id).await.map_err(Error::Store)? {
                Some(record) => {
                    users.insert(record.user_id);
                    puts.push(record);
                }
                None => removes.push(id),
            }
        }
        to.transfer.put_records(puts).await.map_err(Error::Store)?;
        to.transfer
            .remove_records(removes)
            .await
            .map_err(Error::Store)?;
        to.transfer
            .put_history(versions)
            .await
            .map_err(Error::Store)?;
        applied += page.events.len() as u64;
        followed.events += page.events.len() as u64;
        to.transfer
            .put_events(page.events, page.last_sequence, page.pruned_through)
            .await
            .map_err(Error::Store)?;
        touched.extend(users);
        followed.through = last;
    }
}

/// Compares every record of `users` in the two stores; differences go to the report.
async fn verify_users(
    from: &StorePorts,
    to: &StorePorts,
    users: &BTreeSet<UserId>,
    report: &mut CopyReport,
) -> Result<()> {
    for user in users {
        let (source, target) = (all_of(from, *user).await?, all_of(to, *user).await?);
        if source != target {
            report.differences.push(format!(
                "user {user}: source {} transactions, target {}",
                source.len(),
                target.len()
            ));
        }
    }
    report.users = users.len() as u64;
    Ok(())
}

/// Every record of `user`, in the listing order.
async fn all_of(ports: &StorePorts, user: UserId) -> Result<Vec<TransactionRecord>> {
    let mut all: Vec<TransactionRecord> = Vec::new();
    loop {
        let after = all.last().map(|r| Position {
            date: r.transaction_date,
            id: r.id,
        });
        let batch = ports
            .store
            .scan_by_user(user, ListFilter::all(), after, 1000)
            .await
            .map_err(Error::Store)?;
        let done = batch.len() < 1000;
        all.extend(batch);
        if done {
            return Ok(all);
        }
    }
}

/// Runs the copy.
pub async fn copy(settings: &Settings, args: &CopyArgs) -> Result<CopyReport> {
    if args.from.trim() == args.to.trim() {
        return Err(Error::Config("--from and --to name the same store".into()));
    }
    let from = open_at(settings, &args.from).await?;
    let to = open_at(settings, &args.to).await?;
    let mut report = CopyReport::default();
    // Where the source's feed stands before anything is read: following starts here, so
    // every change committed after a record was copied is applied again afterwards.
    let start = if args.follow {
        if !from.events.enabled() {
            return Err(Error::Config(
                "--follow reads the source's event feed: switch events on for it (FIDO__EVENTS__ENABLED=true)".into(),
            ));
        }
        Some(
            from.events
                .backlog(&[])
                .await
                .map_err(Error::Store)?
                .last_sequence,
        )
    } else {
        None
    };
    // Names are checked against the API's rules when the keys are given (a copy needs no
    // key otherwise: names travel as their tokens).
    let cipher = match &settings.security.fernet_key {
        Some(_) => Some(crate::secrets::cipher(settings)?),
        None => None,
    };
    copy_records(
        &from.transfer,
        &to.transfer,
        cipher.as_ref().map(|c| c as &dyn FieldCipher),
        args,
        &mut report,
    )
    .await?;

    report.idempotency = copy_idempotency(&from, &to, args).await?;
    report.history = copy_history(&from, &to, args).await?;

    let mut cursor = 0;
    loop {
        let page = from
            .events
            .events_after(cursor, 1000)
            .await
            .map_err(Error::Store)?;
        let done = page.events.is_empty();
        cursor = page.events.last().map_or(cursor, |e| e.sequence);
        report.events += page.events.len() as u64;
        if !args.dry_run {
            to.transfer
                .put_events(page.events, page.last_sequence, page.pruned_through)
                .await
                .map_err(Error::Store)?;
        }
        if done {
            break;
        }
    }

    if args.dry_run {
        report.cursors = from.transfer.cursors().await.map_err(Error::Store)?.len() as u64;
        return Ok(report);
    }
    report.cursors = copy_cursors(&from, &to).await?;
    report.rollup_days = repair_rollups(&*to.rollups, args.batch_size).await?;
    if let Some(start) = start {
        report.followed = Some(follow(settings, &from, &to, args, start, &mut report).await?);
        return Ok(report);
    }
    let (source, target) = (
        tally(&from.transfer, args.batch_size).await?,
        tally(&to.transfer, args.batch_size).await?,
    );
    report.users = source.len() as u64;
    invalidate_target(settings, args, source.keys().copied()).await?;
    for (user, theirs) in &source {
        match target.get(user) {
            Some(ours) if ours == theirs => {}
            other => report.differences.push(format!(
                "user {user}: source {} transactions (checksum {:016x}), target {}",
                theirs.count,
                theirs.checksum,
                other.map_or("none".to_owned(), |t| format!(
                    "{} transactions (checksum {:016x})",
                    t.count, t.checksum
                ))
            )),
        }
    }
    for user in target.keys().filter(|u| !source.contains_key(u)) {
        report
            .differences
            .push(format!("user {user}: only in the target"));
    }
    Ok(report)
}

/// `fido copy`.
#[actix_web::main]
pub async fn run(args: &CopyArgs) -> ExitCode {
    let settings = match super::start() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match copy(&settings, args).await {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    for d in &report.differences {
        say(&format!("differs: {d}"));
    }
    for (id, rule) in &report.unusual_names {
        say(&format!(
            "name copied as stored: {id}: the API would refuse it ({rule})"
        ));
    }
    if let Some(followed) = &report.followed {
        if followed.interrupted {
            say(&format!(
                "stopped following at sequence {} ({} events applied); run the same command again to copy and follow anew",
                followed.through, followed.events
            ));
            return ExitCode::from(INTERRUPTED);
        }
        say(&format!(
            "switch-over point: copied {} transactions, then applied {} events through sequence {}; \
             {} idempotency records, {} cursors; verified the {} users changed while pausing: {}; writes were paused for {:.1} s \
             this side. Point the instances at the target now (its writes are allowed).",
            report.records,
            followed.events,
            followed.through,
            report.idempotency,
            report.cursors,
            report.users,
            verdict(&report),
            followed.paused_for.as_secs_f64()
        ));
        return exit_code(&report);
    }
    if args.dry_run {
        say(&format!(
            "dry run: would copy {} transactions, {} idempotency records, {} history versions, {} events, {} cursors",
            report.records, report.idempotency, report.history, report.events, report.cursors
        ));
        return ExitCode::SUCCESS;
    }
    say(&format!(
        "copied {} transactions, {} idempotency records, {} history versions, {} events, {} cursors; \
         roll-ups rebuilt ({} days corrected); verified {} users: {}",
        report.records,
        report.idempotency,
        report.history,
        report.events,
        report.cursors,
        report.rollup_days,
        report.users,
        verdict(&report)
    ));
    exit_code(&report)
}

/// What the verification found, in a word or two.
fn verdict(report: &CopyReport) -> String {
    if report.differences.is_empty() {
        "identical".to_owned()
    } else {
        format!("{} differ", report.differences.len())
    }
}

/// 0 when the verification found the stores equal, [`DIFFERENCES`] otherwise.
fn exit_code(report: &CopyReport) -> ExitCode {
    if report.differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DIFFERENCES)
    }
}
