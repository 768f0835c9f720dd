//! The `fido` binary: load settings, start logging, serve until SIGTERM/SIGINT.

use std::process::ExitCode;

use fido_api::{server, telemetry, Application, Settings};

#[actix_web::main]
async fn main() -> ExitCode {
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fido: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings);
    let app = match Application::build(&settings).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("fido: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(
        "listening on http://{}:{} (Swagger UI at /docs/)",
        settings.server.host,
        app.port()
    );
    let handle = app.handle();
    actix_web::rt::spawn(async move {
        server::shutdown_signal().await;
        handle.stop(true).await;
    });
    match app.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}
