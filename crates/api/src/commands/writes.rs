//! `fido writes pause [--reason TEXT] | resume | status`: the deployment-wide write pause,
//! kept in the store every instance shares. Each serving instance reads it every half
//! second (`server::PAUSE_EVERY`), so a pause reaches all of them within about a second,
//! without a restart: creates, updates and deletes then answer 503 with `Retry-After`,
//! reads are served. Used for a live move's switch-over (docs/migrating-from-fido.md).
//! Exit code: 0 done, 1 failure, 2 configuration.

use std::process::ExitCode;

use fido_domain::{Clock, SystemClock, WritePause};

use super::{fail, say};
use crate::cli::WritesCommand;
use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::wiring::open_store;

/// Carries out `command` on the store the settings select; returns the pause in force
/// afterwards.
pub async fn apply(settings: &Settings, command: &WritesCommand) -> Result<Option<WritePause>> {
    let stores = open_store(settings).await?;
    let switch = stores.switch;
    match command {
        WritesCommand::Pause { reason } => {
            switch
                .set_write_pause(Some(WritePause {
                    since: SystemClock.now(),
                    reason: reason.clone(),
                }))
                .await
                .map_err(Error::Store)?;
        }
        WritesCommand::Resume => switch.set_write_pause(None).await.map_err(Error::Store)?,
        WritesCommand::Status => {}
    }
    switch.write_pause().await.map_err(Error::Store)
}

/// `fido writes …`.
#[actix_web::main]
pub async fn run(command: &WritesCommand) -> ExitCode {
    let settings = match super::start() {
        Ok(s) => s,
        Err(code) => return code,
    };
    match apply(&settings, command).await {
        Ok(Some(pause)) => {
            say(&format!(
                "writes are paused since {} ({}); every instance refuses writes within about a second; `fido writes resume` lifts it",
                pause.since, pause.reason
            ));
            ExitCode::SUCCESS
        }
        Ok(None) => {
            say("writes are allowed");
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}
