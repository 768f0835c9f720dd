//! `fido worker`: the event relay as a process of its own (the background-job process of
//! the original's plan), with `/health/live` and `/health/ready` on
//! `events.worker_health_port`. SIGTERM finishes the batch in flight, gives up the lease
//! and exits.

use std::net::TcpListener;
use std::process::ExitCode;
use std::time::Duration;

use actix_web::{App, HttpServer};
use fido_http::{mount_health, HttpEdge};

use super::fail;
use crate::error::Error;
use crate::relay;
use crate::server::{self, http_options};
use crate::settings::Settings;
use crate::wiring::{open_store, service_over};

/// Relays until a signal asks it to stop.
#[actix_web::main]
pub async fn run() -> ExitCode {
    let settings = match super::start() {
        Ok(s) => s,
        Err(code) => return code,
    };
    if !settings.events.enabled {
        return fail(&Error::Config(
            "events.enabled is false: the worker has nothing to deliver".into(),
        ));
    }
    match start(&settings).await {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

async fn start(settings: &Settings) -> crate::Result<ExitCode> {
    let address = format!(
        "{}:{}",
        settings.events.worker_health_host, settings.events.worker_health_port
    );
    let listener = TcpListener::bind(&address).map_err(|source| Error::Bind {
        address: address.clone(),
        source,
    })?;
    let recorder = crate::metrics::install(settings)?;
    let stores = open_store(settings).await?;
    let relay = relay::build(settings, stores.events.clone())?;
    // The worker writes no transactions itself: it learns of new events by polling.
    let cursors = crate::secrets::cursor_codec(settings)?;
    let service = service_over(settings, stores, cursors.clone())?;
    let edge = HttpEdge::new(service, http_options(settings, cursors)?).with_relay(relay.clone());
    let health = HttpServer::new(move || {
        let edge = edge.clone();
        App::new().configure(move |cfg| mount_health(cfg, &edge))
    })
    .disable_signals()
    .workers(1)
    .listen(listener)
    .map_err(|source| Error::Bind { address, source })?
    .run();
    let health_handle = health.handle();
    let health_task = actix_web::rt::spawn(health);
    let metrics = recorder
        .map(|m| crate::metrics::serve(m, None))
        .transpose()?
        .map(|m| (m.handle(), actix_web::rt::spawn(m.run())));
    tracing::info!(
        port = settings.events.worker_health_port,
        "worker started: relaying events (health at /health/ready)"
    );

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let poll = Duration::from_millis(settings.events.relay_poll_ms);
    let relaying = tokio::spawn(relay::run(relay, poll, None, stopped));
    server::shutdown_signal().await;
    tracing::info!("stopping: finishing the batch in flight");
    let _ = stop.send(true);
    let clean = relaying.await.is_ok();
    health_handle.stop(true).await;
    let _ = health_task.await;
    if let Some((handle, task)) = metrics {
        handle.stop(true).await;
        let _ = task.await;
    }
    Ok(if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
