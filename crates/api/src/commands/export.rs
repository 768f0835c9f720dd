//! `fido export [--output FILE] [--decrypt] [--batch-size N] [--after ID]`: every
//! transaction of the configured store as NDJSON, one per line, in id order (the format is
//! `fido_api::transfer::Line`, documented in README.md). Names stay Fernet tokens
//! (`full_name_token`) unless `--decrypt` asks for them in clear (`full_name`): such a file
//! holds personal data. Streams in batches: memory does not grow with the store. Progress
//! goes to standard error when the lines go to standard output. After the transactions
//! come the kept history versions (`fido_api::transfer::HistoryLine`), all of them on
//! every run (`--after` resumes the transactions only).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::process::ExitCode;

use fido_domain::FieldCipher;

use super::progress::Progress;
use super::{fail, say};
use crate::cli::ExportArgs;
use crate::error::{Error, Result};
use crate::secrets;
use crate::settings::Settings;
use crate::transfer::{HistoryLine, Line};
use crate::wiring::open_store;

fn io_error(path: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::File {
        path: path.into(),
        source,
    }
}

/// Puts the record's name in clear into its line (`--decrypt`).
async fn reveal(
    cipher: &dyn FieldCipher,
    line: &mut Line,
    record: &fido_domain::TransactionRecord,
) -> Result<()> {
    let name = cipher
        .decrypt(record.full_name.as_str())
        .await
        .map_err(|e| Error::Config(format!("transaction {}: {e}", record.id)))?;
    line.full_name_token = None;
    line.full_name = Some(name);
    Ok(())
}

/// Writes the export to `out`; the number of lines.
pub async fn export(settings: &Settings, args: &ExportArgs, out: &mut dyn Write) -> Result<u64> {
    let stores = open_store(settings).await?;
    let cipher = if args.decrypt {
        Some(secrets::cipher(settings)?)
    } else {
        None
    };
    let target = args.output.as_deref().unwrap_or("standard output");
    let progress = Progress::new("transactions exported", None);
    let (mut after, mut written) = (args.after, 0u64);
    loop {
        let batch = stores
            .transfer
            .records_after(after, args.batch_size)
            .await
            .map_err(Error::Store)?;
        let Some(last) = batch.last() else { break };
        after = Some(last.id);
        for record in &batch {
            let mut line = Line::of(record);
            if let Some(cipher) = &cipher {
                reveal(cipher, &mut line, record).await?;
            }
            let text = serde_json::to_string(&line)
                .map_err(|e| Error::Config(format!("cannot encode a line: {e}")))?;
            writeln!(out, "{text}").map_err(io_error(target))?;
            written += 1;
        }
        if args.output.is_some() {
            progress.update(
                written,
                &format!(
                    "resume with --after {}",
                    after.map(|a| a.to_string()).unwrap_or_default()
                ),
            );
        }
    }
    // Then every kept history version (also of deleted transactions), whole each time:
    // importing it twice changes nothing.
    let mut version_after = None;
    loop {
        let versions = stores
            .transfer
            .history_after(version_after, args.batch_size)
            .await
            .map_err(Error::Store)?;
        let Some(last) = versions.last() else { break };
        version_after = Some((last.transaction_id, last.version));
        for entry in &versions {
            let mut line = HistoryLine::of(entry);
            if let Some(cipher) = &cipher {
                reveal(cipher, &mut line.record, &entry.record).await?;
                if let (Some(side), Some(before)) = (line.before.as_mut(), &entry.before) {
                    reveal(cipher, side, before).await?;
                }
            }
            let text = serde_json::to_string(&line)
                .map_err(|e| Error::Config(format!("cannot encode a line: {e}")))?;
            writeln!(out, "{text}").map_err(io_error(target))?;
            written += 1;
        }
    }
    out.flush().map_err(io_error(target))?;
    progress.finish();
    Ok(written)
}

/// `fido export`.
#[actix_web::main]
pub async fn run(args: &ExportArgs) -> ExitCode {
    let settings = match super::start() {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = match &args.output {
        Some(path) => match File::create(path) {
            Ok(file) => {
                let mut out = BufWriter::new(file);
                export(&settings, args, &mut out).await
            }
            Err(source) => Err(Error::File {
                path: path.into(),
                source,
            }),
        },
        None => {
            let stdout = std::io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            export(&settings, args, &mut out).await
        }
    };
    match result {
        Ok(lines) => {
            if let Some(path) = &args.output {
                say(&format!("exported {lines} transactions to {path}"));
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
