//! `fido reencrypt [--batch-size N] [--after ID]`: re-encrypts every stored name with the
//! first key of `FERNET_KEY`, in batches, on the store `DB_URI` selects. Safe while the
//! API serves traffic; resumable with `--after`.

use std::process::ExitCode;

use fido_domain::{ReencryptProgress, TransactionId};

use super::{fail, say};
use crate::error::Result;
use crate::settings::Settings;
use crate::telemetry;
use crate::wiring::build_service;

/// Runs the rotation, calling `progress` after each batch.
pub async fn reencrypt(
    settings: &Settings,
    batch_size: u32,
    after: Option<TransactionId>,
    progress: impl FnMut(&ReencryptProgress) + Send,
) -> Result<ReencryptProgress> {
    let service = build_service(settings).await?;
    Ok(service.reencrypt_names(batch_size, after, progress).await?)
}

/// `fido reencrypt`.
#[actix_web::main]
pub async fn run(batch_size: u32, after: Option<TransactionId>) -> ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => return fail(&e),
    };
    telemetry::init(&settings);
    let outcome = reencrypt(&settings, batch_size, after, |p| {
        say(&format!(
            "scanned {} re-encrypted {} skipped {} unreadable {} (resume with --after {})",
            p.scanned,
            p.changed,
            p.skipped,
            p.unreadable,
            p.last_id.map(|i| i.to_string()).unwrap_or_default()
        ));
    })
    .await;
    match outcome {
        Ok(report) => {
            say(&format!(
                "done: {} records scanned, {} re-encrypted with the primary key, {} changed meanwhile by the API, {} unreadable",
                report.scanned, report.changed, report.skipped, report.unreadable
            ));
            if report.unreadable > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => fail(&e),
    }
}
