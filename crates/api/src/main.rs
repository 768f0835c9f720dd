//! The `fido` binary: load settings, start logging, serve until SIGTERM/SIGINT.

use std::process::ExitCode;

use fido_api::{server, telemetry, Application, Settings};

const USAGE: &str = "\
fido — the Transactions API

USAGE:
    fido              serve HTTP (configuration: config/*.toml, .env, environment)
    fido healthcheck  exit 0 if the instance at HOST:PORT is ready (for container checks)
    fido --help       show this help
    fido --version    show the version

See README.md for the settings (DB_URI, REDIS_URL, FERNET_KEY, HOST, PORT, APP_ENV, FIDO__*).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => serve(),
        ["healthcheck"] => match Settings::load() {
            Ok(settings) if fido_api::healthcheck::run(&settings) => ExitCode::SUCCESS,
            Ok(_) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("fido: {e}");
                ExitCode::from(2)
            }
        },
        ["--help" | "-h" | "help"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        ["--version" | "-V"] => {
            println!("fido {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("fido: unknown arguments\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

#[actix_web::main]
async fn serve() -> ExitCode {
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
