//! `fido reencrypt [--batch-size N] [--after ID]`: re-encrypts everything the store keeps
//! encrypted with the first key of `FERNET_KEY`, in batches, on the store `DB_URI`
//! selects: every transaction's name (resumable with `--after`), then every idempotency
//! record's sealed fingerprint and saved answer (a day's worth at most; it simply runs
//! again), then every name kept in the transactions' history (it runs whole each time). Safe while the API serves traffic. Once it reports nothing unreadable, the old
//! keys can be dropped from `FERNET_KEY` without losing anything.

use std::process::ExitCode;

use fido_domain::{reencrypt_history, ReencryptProgress, ResealProgress, TransactionId};

use super::{fail, say};
use crate::error::Result;
use crate::secrets;
use crate::settings::Settings;
use crate::wiring::{open_store, service_over};

/// Runs the rotation of names, calling `progress` after each batch, then re-seals the
/// idempotency records, calling `resealed` after each batch.
pub async fn reencrypt(
    settings: &Settings,
    batch_size: u32,
    after: Option<TransactionId>,
    progress: impl FnMut(&ReencryptProgress) + Send,
    resealed: impl FnMut(&ResealProgress) + Send,
    versions: impl FnMut(&ReencryptProgress) + Send,
) -> Result<Rotated> {
    let stores = open_store(settings).await?;
    let transfer = stores.transfer.clone();
    let service = service_over(settings, stores, secrets::cursor_codec(settings)?)?;
    let names = service.reencrypt_names(batch_size, after, progress).await?;
    let records = service
        .reencrypt_idempotency_records(batch_size, resealed)
        .await?;
    let cipher = secrets::cipher(settings)?;
    let history = reencrypt_history(&*transfer, &cipher, batch_size, versions).await?;
    Ok(Rotated {
        names,
        records,
        history,
    })
}

/// What a rotation did: transactions' names, idempotency records, history versions.
#[derive(Debug, Clone, Copy)]
pub struct Rotated {
    /// The transactions' names.
    pub names: ReencryptProgress,
    /// The idempotency records.
    pub records: ResealProgress,
    /// The names kept in the history.
    pub history: ReencryptProgress,
}

/// `fido reencrypt`.
#[actix_web::main]
pub async fn run(batch_size: u32, after: Option<TransactionId>) -> ExitCode {
    let settings = match super::start() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let outcome = reencrypt(
        &settings,
        batch_size,
        after,
        |p| {
            say(&format!(
                "scanned {} re-encrypted {} skipped {} unreadable {} (resume with --after {})",
                p.scanned,
                p.changed,
                p.skipped,
                p.unreadable,
                p.last_id.map(|i| i.to_string()).unwrap_or_default()
            ));
        },
        |p| {
            say(&format!(
                "idempotency records: scanned {} re-encrypted {} skipped {} unreadable {}",
                p.scanned, p.changed, p.skipped, p.unreadable
            ));
        },
        |p| {
            say(&format!(
                "history versions: scanned {} re-encrypted {} unreadable {}",
                p.scanned, p.changed, p.unreadable
            ));
        },
    )
    .await;
    match outcome {
        Ok(Rotated {
            names: report,
            records,
            history,
        }) => {
            say(&format!(
                "done: {} records scanned, {} re-encrypted with the primary key, {} changed meanwhile by the API, {} unreadable",
                report.scanned, report.changed, report.skipped, report.unreadable
            ));
            say(&format!(
                "done: {} idempotency records scanned, {} re-encrypted, {} changed meanwhile, {} unreadable",
                records.scanned, records.changed, records.skipped, records.unreadable
            ));
            say(&format!(
                "done: {} history versions scanned, {} re-encrypted, {} unreadable",
                history.scanned, history.changed, history.unreadable
            ));
            if report.unreadable > 0 || records.unreadable > 0 || history.unreadable > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(&e),
    }
}
