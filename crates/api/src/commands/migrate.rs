//! `fido migrate [--dry-run] [--strict] [--batch-size N] [--after ID]`: converts the
//! original service's documents in place (see `docs/migrating-from-fido.md`).
//!
//! Each document in the original layout is converted on its own, with a compare-and-set on
//! the whole document, so the command runs on a live database, can be killed anywhere and
//! run again (a second run finds nothing to do). Amounts become exact cents — rounded
//! half-to-even when the float had more than two decimals, the original kept in the
//! document's `legacy` field and listed in the report (`--strict` refuses those instead);
//! `transaction_type` is decrypted with any configured key; string dates become UTC dates;
//! `created_at`/`updated_at` come from the `_id`'s time; version 1; the stray `id` goes.
//! A document that cannot be converted (a token no key opens, a negative or non-numeric
//! amount, an unreadable date) is left untouched, listed by id and *set aside*
//! (`fido_quarantine`): the service then serves every other user, and answers 503 for
//! reads that would include it. Afterwards the indexes are made and the daily roll-ups
//! rebuilt from the converted rows. Exit code: 0 everything converted, 3 some
//! documents left (listed), 1 failure, 2 configuration.

use std::io::IsTerminal;
use std::process::ExitCode;

use fido_cipher_fernet::FernetCipher;
use fido_domain::{
    Amount, FieldCipher, FullName, Timestamp, TransactionId, TransactionRecord, TransactionType,
    UserId,
};
use fido_store_mongodb::{LegacyDocument, MongoStore};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mongodb::bson::{doc, Bson};

use super::{fail, say};
use crate::cli::MigrateArgs;
use crate::error::{Error, Result};
use crate::secrets;
use crate::settings::{Settings, StoreKind};
use crate::transfer::repair_rollups;

/// Exit code when documents were left unconverted.
pub const LEFT_UNCONVERTED: u8 = 3;

/// One document the migration converted with a rounded amount.
#[derive(Debug, Clone, PartialEq)]
pub struct Adjusted {
    /// Which.
    pub id: TransactionId,
    /// The float it held.
    pub original: f64,
    /// What it holds now.
    pub amount: Amount,
}

/// What a migration did (or, with `--dry-run`, would do).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MigrationReport {
    /// Legacy documents examined.
    pub examined: u64,
    /// Converted (or convertible, on a dry run).
    pub converted: u64,
    /// Converted with a rounded amount.
    pub adjusted: Vec<Adjusted>,
    /// Converted with their names as stored, which the API would refuse (the original
    /// accepted line breaks and surrounding spaces): they read back unchanged; the rule
    /// each breaks, for whoever decides to correct them.
    pub unusual_names: Vec<(TransactionId, String)>,
    /// Left untouched, with the reason.
    pub unconverted: Vec<(TransactionId, String)>,
    /// Changed by someone else while being converted: a re-run picks them up.
    pub changed_meanwhile: Vec<TransactionId>,
    /// The last document examined (resume with `--after`).
    pub last: Option<TransactionId>,
    /// Roll-up days corrected by the rebuild, once nothing is left to convert.
    pub rollup_days: Option<u64>,
}

/// The conversion of one document, or why it cannot be converted.
async fn convert(
    doc: &LegacyDocument,
    cipher: &dyn FieldCipher,
    strict: bool,
) -> std::result::Result<(TransactionRecord, Converted), String> {
    let user_id: UserId = doc.user_id().ok_or("user_id is not an ObjectId")?;
    let full_name = match doc.get("full_name") {
        Some(Bson::String(token)) => token.clone(),
        _ => return Err("full_name is not a token".into()),
    };
    // A name no key opens would fail every read: such a document is not converted.
    let plain = cipher
        .decrypt(&full_name)
        .await
        .map_err(|_| "full_name cannot be decrypted with the configured keys".to_owned())?;
    // A name the API would refuse is kept as the original stored it (reads return it
    // unchanged) and reported.
    let unusual_name = FullName::api_refusal(&plain).map(|rule| format!("full_name {rule}"));

    let (amount, adjusted) = match (doc.get("amount_cents"), doc.get("transaction_amount")) {
        (Some(Bson::Int64(c)), _) => (
            u64::try_from(*c)
                .ok()
                .and_then(|c| Amount::from_cents(c).ok())
                .ok_or("amount_cents is out of range")?,
            None,
        ),
        (_, Some(Bson::Double(v))) => {
            let (amount, rounded) =
                Amount::from_f64_half_even(*v).map_err(|e| format!("transaction_amount {e}"))?;
            if rounded && strict {
                return Err(format!(
                    "transaction_amount {v} has more than 2 decimals (--strict)"
                ));
            }
            let adjusted = rounded.then_some(Adjusted {
                id: doc.id,
                original: *v,
                amount,
            });
            (amount, adjusted)
        }
        (_, Some(Bson::Int32(v))) => (
            u64::try_from(*v)
                .ok()
                .and_then(|v| Amount::from_units(v).ok())
                .ok_or("transaction_amount must be >= 0")?,
            None,
        ),
        (_, Some(Bson::Int64(v))) => (
            u64::try_from(*v)
                .ok()
                .and_then(|v| Amount::from_units(v).ok())
                .ok_or("transaction_amount must be >= 0")?,
            None,
        ),
        (_, Some(Bson::Decimal128(d))) => (
            Amount::parse_number(&d.to_string()).map_err(|e| format!("transaction_amount {e}"))?,
            None,
        ),
        _ => return Err("no readable amount".into()),
    };

    let kind = match doc.get("transaction_type") {
        Some(Bson::String(text)) => match text.parse::<TransactionType>() {
            Ok(kind) => kind,
            Err(_) => cipher
                .decrypt(text)
                .await
                .map_err(|_| "transaction_type cannot be decrypted with the configured keys")?
                .parse::<TransactionType>()
                .map_err(|_| "transaction_type is neither credit nor debit")?,
        },
        _ => return Err("transaction_type is not a string".into()),
    };

    let date =
        |field: &str, fallback: Option<Timestamp>| -> std::result::Result<Timestamp, String> {
            match doc.get(field) {
                Some(Bson::DateTime(t)) => Timestamp::from_millis(t.timestamp_millis())
                    .map_err(|_| format!("{field} is out of range")),
                Some(Bson::String(text)) => {
                    Timestamp::parse_datetime(text).map_err(|_| format!("{field} is not a date"))
                }
                None => fallback.ok_or_else(|| format!("{field} is missing")),
                Some(_) => Err(format!("{field} is not a date")),
            }
        };
    let id_time = Timestamp::from_millis(doc.id_time_millis()).ok();
    let transaction_date = date("transaction_date", None)?;
    let created_at = date("created_at", id_time)?;
    let updated_at = date("updated_at", Some(created_at))?;
    let version = match doc.get("version") {
        Some(Bson::Int64(v)) => u64::try_from(*v).ok().filter(|v| *v >= 1),
        Some(Bson::Int32(v)) => u64::try_from(*v).ok().filter(|v| *v >= 1),
        None => Some(1),
        Some(_) => None,
    }
    .ok_or("version is not a positive integer")?;

    Ok((
        TransactionRecord {
            id: doc.id,
            user_id,
            full_name: fido_domain::EncryptedName::new(full_name),
            amount,
            kind,
            transaction_date,
            created_at,
            updated_at,
            version,
        },
        Converted {
            adjusted,
            unusual_name,
        },
    ))
}

/// What a conversion noticed besides the record.
struct Converted {
    adjusted: Option<Adjusted>,
    unusual_name: Option<String>,
}

/// The MongoDB store the settings name (this command converts MongoDB databases only).
async fn open(settings: &Settings) -> Result<MongoStore> {
    if !matches!(settings.store_kind()?, StoreKind::MongoDb) {
        return Err(Error::Config(
            "fido migrate converts a MongoDB database of the original service: DB_URI must be mongodb://…"
                .into(),
        ));
    }
    MongoStore::connect(settings.mongo_config())
        .await
        .map_err(Error::Store)
}

/// Runs the migration, calling `progress` after each batch with the report so far.
pub async fn migrate(
    settings: &Settings,
    args: &MigrateArgs,
    mut progress: impl FnMut(&MigrationReport, u64),
) -> Result<MigrationReport> {
    let store = open(settings).await?;
    let cipher: FernetCipher = secrets::cipher(settings)?;
    let total = store.legacy_count().await.map_err(Error::Store)?;
    let mut report = MigrationReport {
        last: args.after,
        ..MigrationReport::default()
    };
    loop {
        let batch = store
            .legacy_after(report.last, args.batch_size)
            .await
            .map_err(Error::Store)?;
        let Some(last) = batch.last() else { break };
        report.last = Some(last.id);
        let (mut set_aside, mut released) = (Vec::new(), Vec::new());
        // Converted in memory first, then written in one batch.
        let mut planned = Vec::new();
        let mut notes = Vec::new();
        for doc in &batch {
            report.examined += 1;
            match convert(doc, &cipher, args.strict).await {
                Err(reason) => {
                    set_aside.push((doc.id, reason.clone()));
                    report.unconverted.push((doc.id, reason));
                }
                Ok((
                    record,
                    Converted {
                        adjusted,
                        unusual_name,
                    },
                )) => {
                    let legacy = adjusted.as_ref().map(|a| {
                        doc! {"transaction_amount": a.original, "migrated_at": mongodb::bson::DateTime::now()}
                    });
                    planned.push((doc, record, legacy));
                    notes.push((adjusted, unusual_name));
                }
            }
        }
        let done = if args.dry_run || planned.is_empty() {
            vec![true; planned.len()]
        } else {
            store
                .convert_legacy_batch(&planned)
                .await
                .map_err(Error::Store)?
        };
        for (((doc, ..), (adjusted, unusual_name)), done) in planned.iter().zip(notes).zip(done) {
            if done {
                released.push(doc.id);
                report.converted += 1;
                report.adjusted.extend(adjusted);
                report
                    .unusual_names
                    .extend(unusual_name.map(|rule| (doc.id, rule)));
            } else {
                report.changed_meanwhile.push(doc.id);
            }
        }
        if !args.dry_run {
            // Set aside as the batch goes, so an interrupted run already frees the users
            // whose documents all converted.
            store.set_aside(&set_aside).await.map_err(Error::Store)?;
            store.release(&released).await.map_err(Error::Store)?;
        }
        progress(&report, total);
    }
    if !args.dry_run {
        store.ensure_indexes().await.map_err(Error::Store)?;
        // Documents set aside never enter the roll-ups: they are rebuilt from the
        // converted rows as soon as nothing changed under the run.
        if report.changed_meanwhile.is_empty() {
            // Every user's roll-ups from the converted rows, on the store already open.
            report.rollup_days = Some(repair_rollups(&store, args.batch_size).await?);
        }
    }
    Ok(report)
}

/// `fido migrate`.
#[actix_web::main]
pub async fn run(args: &MigrateArgs) -> ExitCode {
    let settings = match super::start() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} documents {msg}") {
            bar.set_style(style);
        }
        bar
    });
    let verb = if args.dry_run {
        "would convert"
    } else {
        "converted"
    };
    let result = migrate(&settings, args, |report, total| {
        let last = report.last.map(|id| id.to_string()).unwrap_or_default();
        match &bar {
            Some(bar) => {
                bar.set_length(total);
                bar.set_position(report.examined);
                bar.set_message(format!(
                    "({verb} {}; resume with --after {last})",
                    report.converted
                ));
            }
            None => say(&format!(
                "examined {} of {total}, {verb} {} (resume with --after {last})",
                report.examined, report.converted
            )),
        }
    })
    .await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = match result {
        Ok(report) => report,
        Err(e) => return fail(&e),
    };
    for a in &report.adjusted {
        say(&format!(
            "rounded: {} transaction_amount {} -> {} (original kept in legacy.transaction_amount)",
            a.id, a.original, a.amount
        ));
    }
    for (id, rule) in &report.unusual_names {
        say(&format!(
            "name kept as stored: {id}: the API would refuse it ({rule}); it reads back unchanged"
        ));
    }
    for (id, reason) in &report.unconverted {
        say(&format!("not converted: {id}: {reason}"));
    }
    if !report.unconverted.is_empty() && !args.dry_run {
        say(&format!(
            "set aside: {} document(s) not converted; every other user is served now, and reads that include them answer 503 until each is fixed or removed and `fido migrate` is run again (docs/migrating-from-fido.md)",
            report.unconverted.len()
        ));
    }
    for id in &report.changed_meanwhile {
        say(&format!("changed while converting: {id} (run again)"));
    }
    say(&format!(
        "{}: {} documents examined, {verb} {}, {} rounded, {} not converted, {} changed meanwhile, {} names kept that the API would refuse",
        if args.dry_run { "dry run" } else { "done" },
        report.examined,
        report.converted,
        report.adjusted.len(),
        report.unconverted.len(),
        report.changed_meanwhile.len(),
        report.unusual_names.len()
    ));
    if let Some(days) = report.rollup_days {
        say(&format!("daily roll-ups rebuilt ({days} days corrected)"));
    }
    if report.unconverted.is_empty() && report.changed_meanwhile.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(LEFT_UNCONVERTED)
    }
}
