//! One module per subcommand of the `fido` binary. Each exposes `run`, which returns the
//! process exit code; output goes through [`say`], which treats a closed pipe as the
//! normal end of output it is (`fido --help | head -2`).

pub mod copy;
pub mod export;
pub mod healthcheck;
pub mod import;
pub mod keys;
pub mod migrate;
pub mod progress;
pub mod reencrypt;
pub mod rollups;
pub mod serve;
pub mod worker;
pub mod writes;

use std::io::Write;
use std::process::ExitCode;

/// The settings, with logging started; on a bad setting, the exit code (the failure said).
pub fn start() -> Result<crate::Settings, ExitCode> {
    let settings = crate::Settings::load().map_err(|e| fail(&e))?;
    crate::telemetry::init(&settings).map_err(|e| fail(&e))?;
    Ok(settings)
}

/// Writes a line to standard output; a closed pipe is not an error.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// Reports a failure on standard error, with its whole cause chain, and the exit code.
pub fn fail(error: &crate::Error) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "fido: {}", error.chain());
    match error {
        crate::Error::Config(_)
        | crate::Error::DotEnv(_)
        | crate::Error::Sqlite(_)
        | crate::Error::Mongo(_)
        | crate::Error::Redis(_)
        | crate::Error::FernetKeys(_)
        | crate::Error::ApiKeys(_)
        | crate::Error::Amqp(_)
        | crate::Error::Webhook(_) => ExitCode::from(2),
        _ => ExitCode::FAILURE,
    }
}
