//! The `fido` binary: load settings, start logging, serve until SIGTERM/SIGINT.

use std::process::ExitCode;

use fido_api::{server, telemetry, Application, Settings};

const USAGE: &str = "\
fido — the Transactions API

USAGE:
    fido              serve HTTP (configuration: config/*.toml, .env, environment)
    fido healthcheck  exit 0 if the instance at HOST:PORT is ready (for container checks)
    fido keys create NAME [--scopes read|write|read+write]
                      make an API key; prints it once, with its API_KEYS entry
    fido reencrypt [--batch-size N] [--after ID]
                      re-encrypt every stored name with the first FERNET_KEY
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
        ["keys", "create", name] => create_key(name, "read+write"),
        ["keys", "create", name, "--scopes", scopes] => create_key(name, scopes),
        ["reencrypt", rest @ ..] => reencrypt(rest),
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

fn create_key(name: &str, scopes: &str) -> ExitCode {
    use fido_api::auth::{generate_key, hash_key, ApiKeys, Scopes};
    let scopes = match Scopes::parse(scopes) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fido: {e}");
            return ExitCode::from(2);
        }
    };
    let key = match generate_key() {
        Ok(k) => k,
        Err(e) => {
            eprintln!("fido: {e}");
            return ExitCode::FAILURE;
        }
    };
    let entry = format!("{name}:{}:{}", hash_key(&key), scopes.label());
    if let Err(e) = ApiKeys::parse(&entry) {
        eprintln!("fido: {e}");
        return ExitCode::from(2);
    }
    println!("API key for {name} (shown once; store it in the caller's secret store):");
    println!("  {key}");
    println!("Add this entry to API_KEYS (entries are comma-separated; it holds only a hash):");
    println!("  {entry}");
    ExitCode::SUCCESS
}

#[actix_web::main]
async fn reencrypt(args: &[&str]) -> ExitCode {
    let mut batch_size = 500u32;
    let mut after = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let value = rest.next();
        match (*arg, value) {
            ("--batch-size", Some(v)) => match v.parse::<u32>() {
                Ok(n) if (1..=10_000).contains(&n) => batch_size = n,
                _ => {
                    eprintln!("fido: --batch-size must be between 1 and 10000");
                    return ExitCode::from(2);
                }
            },
            ("--after", Some(v)) => match fido_domain::TransactionId::parse(v) {
                Ok(id) => after = Some(id),
                Err(e) => {
                    eprintln!("fido: --after: {e}");
                    return ExitCode::from(2);
                }
            },
            _ => {
                eprintln!("fido: unknown arguments\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let settings = match Settings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("fido: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings);
    match fido_api::admin::reencrypt(&settings, batch_size, after, |p| {
        println!(
            "scanned {} re-encrypted {} skipped {} unreadable {} (resume with --after {})",
            p.scanned,
            p.changed,
            p.skipped,
            p.unreadable,
            p.last_id.map(|i| i.to_string()).unwrap_or_default()
        );
    })
    .await
    {
        Ok(report) => {
            println!(
                "done: {} records scanned, {} re-encrypted with the primary key, {} changed meanwhile by the API, {} unreadable",
                report.scanned, report.changed, report.skipped, report.unreadable
            );
            if report.unreadable > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("fido: {e}");
            ExitCode::FAILURE
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
