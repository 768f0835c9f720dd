//! `fido copy --from <DB_URI> --to <DB_URI> [--dry-run] [--batch-size N] [--after ID]`:
//! streams a store's whole contents into another — SQLite to MongoDB and back — then
//! verifies the copy.
//!
//! In order: every transaction (as stored: names as their Fernet tokens, never decrypted;
//! versions and dates as they are), every idempotency record, every retained event with
//! its sequence (and the feed's marks), every publisher's cursor; then the target's daily
//! roll-ups are rebuilt from its rows, and both stores are tallied per user (count and a
//! checksum) and compared. Every write replaces what has the same key, so an interrupted
//! copy is finished by running it again (or resumed with the `--after` it printed).
//! Writes to the source during a copy are not followed: stop writers first (see the
//! README). With `FERNET_KEY` given, every name is also checked against the API's rules
//! and each one the API would refuse is listed (by id; it is copied as stored). Exit code: 0 copied and verified, 3 the verification found differences,
//! 1 failure, 2 configuration.

use std::process::ExitCode;
use std::sync::Arc;

use fido_domain::{FieldCipher, FullName, StoreTransfer, TransactionId, TransactionRecord};

use super::progress::Progress;
use super::{fail, say};
use crate::cli::CopyArgs;
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::transfer::{open_at, repair_rollups, tally};

/// Exit code when the two stores differ after the copy.
pub const DIFFERENCES: u8 = 3;

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// Transactions copied (read, on a dry run).
    pub records: u64,
    /// Idempotency records copied.
    pub idempotency: u64,
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

/// Runs the copy.
pub async fn copy(settings: &Settings, args: &CopyArgs) -> Result<CopyReport> {
    if args.from.trim() == args.to.trim() {
        return Err(Error::Config("--from and --to name the same store".into()));
    }
    let from = open_at(settings, &args.from).await?;
    let to = open_at(settings, &args.to).await?;
    let mut report = CopyReport::default();
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

    let mut after = None;
    loop {
        let keys = from
            .transfer
            .idempotency_after(after, args.batch_size)
            .await
            .map_err(Error::Store)?;
        let Some(last) = keys.last() else { break };
        after = Some((last.scope.clone(), last.key.clone()));
        report.idempotency += keys.len() as u64;
        if !args.dry_run {
            to.transfer
                .put_idempotency(keys)
                .await
                .map_err(Error::Store)?;
        }
    }

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

    let cursors = from.transfer.cursors().await.map_err(Error::Store)?;
    report.cursors = cursors.len() as u64;
    if !args.dry_run {
        to.transfer
            .put_cursors(cursors)
            .await
            .map_err(Error::Store)?;
        report.rollup_days = repair_rollups(&*to.rollups, args.batch_size).await?;
        let (source, target) = (
            tally(&from.transfer, args.batch_size).await?,
            tally(&to.transfer, args.batch_size).await?,
        );
        report.users = source.len() as u64;
        // The target may be served already (with a shared cache): no stale answers.
        let mut target_settings = settings.clone();
        target_settings.store.uri = crate::settings::Secret::new(args.to.clone());
        let cache = crate::wiring::open_cache(&target_settings)?;
        crate::transfer::invalidate(&*cache, source.keys().copied()).await;
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
    if args.dry_run {
        say(&format!(
            "dry run: would copy {} transactions, {} idempotency records, {} events, {} cursors",
            report.records, report.idempotency, report.events, report.cursors
        ));
        return ExitCode::SUCCESS;
    }
    say(&format!(
        "copied {} transactions, {} idempotency records, {} events, {} cursors; \
         roll-ups rebuilt ({} days corrected); verified {} users: {}",
        report.records,
        report.idempotency,
        report.events,
        report.cursors,
        report.rollup_days,
        report.users,
        if report.differences.is_empty() {
            "identical".to_owned()
        } else {
            format!("{} differ", report.differences.len())
        }
    ));
    if report.differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(DIFFERENCES)
    }
}
