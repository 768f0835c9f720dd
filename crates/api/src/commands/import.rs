//! `fido import FILE [--strict] [--dry-run] [--batch-size N]`: reads NDJSON written by
//! `fido export` (or by hand, `-` for standard input) into the configured store. Every
//! line is checked (ids, amounts, types, dates, and that a name token opens with a
//! configured key — a clear `full_name` is encrypted); a bad line is reported with its
//! number and field and skipped, the good ones are written in batches. With `--strict`,
//! the whole file is checked first and nothing is written if any line is bad. Writing a
//! line again replaces the transaction with the same id (an identical one is left alone),
//! so an interrupted import is finished by running it again. Each batch is written as
//! changes, like the API's writes: rows, roll-ups and `transaction.created`/`.updated`
//! events together, so a served store's feed, RabbitMQ and webhook consumers learn of
//! them; the cached reads of the batch's users are invalidated as it commits. Each
//! creation or replacement also starts a history version by `import`; history lines
//! (written by `fido export` after the transactions) are written as they are, so the
//! imported store holds the exported history. Exit code: 0
//! every line imported, 3 bad lines (reported), 1 failure, 2 configuration.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::process::ExitCode;

use fido_domain::{Cache, FieldCipher, HistoryEntry, ImportCounts, TransactionRecord};

use super::progress::Progress;
use super::{fail, say};
use crate::cli::ImportArgs;
use crate::error::{Error, Result};
use crate::secrets;
use crate::settings::Settings;
use crate::transfer::{HistoryLine, Line};
use crate::wiring::{open_store, StorePorts};

/// Exit code when some lines were bad.
pub const BAD_LINES: u8 = 3;

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Lines read.
    pub lines: u64,
    /// Transactions written (or valid, on a dry run or a refused strict run).
    pub imported: u64,
    /// Bad lines: number and reason.
    pub bad: Vec<(u64, String)>,
    /// Whether anything was written.
    pub written: bool,
    /// What the written lines changed: created, replaced, or already so.
    pub changes: ImportCounts,
    /// History versions among the lines imported (written as they are).
    pub versions: u64,
}

fn open_input(path: &str) -> Result<Box<dyn BufRead>> {
    if path == "-" {
        return Ok(Box::new(BufReader::new(std::io::stdin())));
    }
    File::open(path)
        .map(|f| Box::new(BufReader::new(f)) as Box<dyn BufRead>)
        .map_err(|source| Error::File {
            path: path.into(),
            source,
        })
}

/// Runs the import.
pub async fn import(settings: &Settings, args: &ImportArgs) -> Result<ImportReport> {
    let stores = open_store(settings).await?;
    let cipher = secrets::cipher(settings)?;
    // One cache client for the whole import (a Redis pool when REDIS_URL is set).
    let cache = crate::wiring::open_cache(settings)?;
    let mut report = ImportReport::default();
    // A strict run checks the whole file before writing anything.
    let passes: &[bool] = if args.strict && !args.dry_run {
        &[false, true]
    } else {
        &[!args.dry_run]
    };
    for &write in passes {
        report = ImportReport::default();
        let progress = Progress::new("lines imported", None);
        let mut batch: Vec<TransactionRecord> = Vec::new();
        let mut versions: Vec<HistoryEntry> = Vec::new();
        let mut users = std::collections::BTreeSet::new();
        for (index, line) in open_input(&args.file)?.lines().enumerate() {
            let number = index as u64 + 1;
            let text = line.map_err(|source| Error::File {
                path: args.file.clone().into(),
                source,
            })?;
            if text.trim().is_empty() {
                continue;
            }
            report.lines += 1;
            match parse(&text, &cipher).await {
                Ok(Parsed::Record(record)) => {
                    report.imported += 1;
                    users.insert(record.user_id);
                    batch.push(record);
                }
                Ok(Parsed::Version(entry)) => {
                    report.imported += 1;
                    report.versions += 1;
                    versions.push(entry);
                }
                Err(reason) => {
                    progress.println(&format!("line {number}: {reason}"));
                    report.bad.push((number, reason));
                }
            }
            if write && versions.len() >= args.batch_size as usize {
                put_versions(&stores, std::mem::take(&mut versions)).await?;
            }
            if write && batch.len() >= args.batch_size as usize {
                report.changes = report.changes.plus(
                    write_batch(&*cache, &stores, std::mem::take(&mut batch), &mut users).await?,
                );
                progress.update(
                    report.imported,
                    &format!("line {number}; run again to finish"),
                );
            }
        }
        if write && !batch.is_empty() {
            report.changes = report
                .changes
                .plus(write_batch(&*cache, &stores, batch, &mut users).await?);
        }
        if write && !versions.is_empty() {
            put_versions(&stores, versions).await?;
        }
        progress.finish();
        report.written = write;
        if args.strict && !report.bad.is_empty() {
            // Nothing written: the first pass found bad lines.
            report.written = false;
            break;
        }
    }
    Ok(report)
}

/// What one line holds.
enum Parsed {
    Record(TransactionRecord),
    Version(HistoryEntry),
}

/// One line, checked: a transaction, or a history version (it has an `action`).
async fn parse(text: &str, cipher: &dyn FieldCipher) -> std::result::Result<Parsed, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON line ({e})"))?;
    if HistoryLine::is_history(&value) {
        let line: HistoryLine =
            serde_json::from_value(value).map_err(|e| format!("not a history line ({e})"))?;
        return line.entry(cipher).await.map(Parsed::Version);
    }
    let line: Line =
        serde_json::from_value(value).map_err(|e| format!("not a transaction line ({e})"))?;
    line.record(cipher).await.map(Parsed::Record)
}

/// Writes history versions as they are (a version carried from the export replaces the
/// one the import wrote for the same change).
async fn put_versions(stores: &StorePorts, versions: Vec<HistoryEntry>) -> Result<()> {
    stores
        .transfer
        .put_history(versions)
        .await
        .map_err(Error::Store)
}

/// Writes one batch as changes (rows, roll-ups and events together), then invalidates the
/// cached reads of its users in the configured cache (shared by every instance when it
/// is Redis; in-process caches learn of the changes from the event feed).
async fn write_batch(
    cache: &dyn Cache,
    stores: &StorePorts,
    batch: Vec<TransactionRecord>,
    users: &mut std::collections::BTreeSet<fido_domain::UserId>,
) -> Result<ImportCounts> {
    let counts = stores
        .transfer
        .import_records(batch, fido_domain::Actor::import())
        .await
        .map_err(Error::Store)?;
    crate::transfer::invalidate(cache, std::mem::take(users)).await;
    Ok(counts)
}

/// `fido import`.
#[actix_web::main]
pub async fn run(args: &ImportArgs) -> ExitCode {
    let settings = match super::start() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let report = match import(&settings, args).await {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    let verb = if report.written {
        "imported"
    } else {
        "valid (nothing written)"
    };
    say(&format!(
        "{} lines: {} {verb}, {} bad ({} of the lines are history versions)",
        report.lines,
        report.imported,
        report.bad.len(),
        report.versions
    ));
    if report.written {
        let c = report.changes;
        say(&format!(
            "changes: {} created, {} replaced, {} already so (each created or replaced transaction has its event in the feed)",
            c.created, c.replaced, c.unchanged
        ));
    }
    if report.bad.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(BAD_LINES)
    }
}
