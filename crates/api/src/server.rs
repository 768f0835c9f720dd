//! The running service: binds the listener, mounts the HTTP edge around the domain
//! service, and shuts down gracefully (stop accepting, finish in-flight requests) when
//! asked.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::{App, HttpServer};
use fido_domain::{EventRelay, HistoryLog, Timestamp, TransactionService, WriteSwitch};
use fido_http::cursor::CursorCodec;
use fido_http::{mount, HttpEdge, HttpOptions};

use crate::error::{Error, Result};
use crate::metrics::{self, MetricsServer};
use crate::relay;
use crate::secrets;
use crate::settings::RelayMode;
use crate::settings::Settings;
use crate::wiring::{open_store, service_over};

/// A built, bound, not yet awaited server (with the event relay, when it runs here).
pub struct Application {
    server: Server,
    port: u16,
    relay: Option<RelayRun>,
    metrics: Option<MetricsServer>,
    /// The service whose in-process cache follows the feed (see [`follow_feed`]), and the
    /// feed's end before the first request.
    follower: Option<(TransactionService, Option<u64>)>,
    /// The service and the store's switch it follows (see [`watch_write_pause`]).
    pause_watch: Option<(TransactionService, Arc<dyn WriteSwitch>)>,
    /// The history's retention, when one is set: the store and how long versions stay.
    history_pruning: Option<(Arc<dyn HistoryLog>, Duration)>,
}

/// The relay this process runs beside the server: how often it polls, and the store's
/// commit signal when it has one.
struct RelayRun {
    relay: Arc<EventRelay>,
    poll: Duration,
    commits: Option<Arc<tokio::sync::Notify>>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

/// The HTTP edge's options, from the settings; list cursors are opened with `cursors`
/// (the codec the service's encoder seals them with).
pub fn http_options(settings: &Settings, cursors: CursorCodec) -> Result<HttpOptions> {
    Ok(HttpOptions {
        api_keys: secrets::api_keys(settings)?,
        rate_limit_per_second: settings.security.rate_limit_per_second,
        rate_limit_burst: settings.security.rate_limit_burst,
        auth_failure_burst: settings.security.auth_failure_burst,
        auth_failures_per_second: settings.security.auth_failures_per_second,
        body_read_timeout: Duration::from_millis(settings.server.body_read_timeout_ms),
        cors_allowed_origins: settings
            .cors_origins()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        cursors,
    })
}

impl Application {
    /// Binds `server.host:server.port` (port 0 picks a free one) first — a port in use
    /// is reported before any database is opened — then opens the adapters.
    /// The event relay runs in this process unless `events.relay = off` (or events are
    /// off).
    pub async fn build(settings: &Settings) -> Result<Self> {
        let listener = bind(settings)?;
        let recorder = metrics::install(settings)?;
        let stores = open_store(settings).await?;
        let relay = if settings.events.enabled && settings.events.relay == RelayMode::On {
            Some(relay::build(settings, stores.events.clone())?)
        } else {
            None
        };
        let commits = stores.commits.clone();
        let switch = stores.switch.clone();
        let history = stores.history.clone();
        // One codec: the encoder seals the cursors the edge opens.
        let cursors = secrets::cursor_codec(settings)?;
        let service = service_over(settings, stores, cursors.clone())?;
        // A deployment paused before this instance started is paused here from the first
        // request on.
        if let Err(e) = refresh_write_pause(&service, &*switch).await {
            tracing::warn!(error = %e, "cannot read the write pause yet; writes are allowed until it can be read");
        }
        let metrics_server = recorder
            .map(|m| metrics::serve(m, Some(service.clone())))
            .transpose()?;
        // An in-process cache learns of changes made by other processes (`fido import`,
        // another instance on the same store) from the feed; a Redis cache is shared.
        let follows =
            settings.events.enabled && settings.cache.enabled && settings.redis_config().is_none();
        // Where the feed ends before the first request is served: every change after it
        // may concern something this instance caches.
        let follower = if follows {
            Some((service.clone(), service.feed_end().await.ok()))
        } else {
            None
        };
        let service_for_pause = service.clone();
        let mut app = Self::serve(settings, service, listener, relay.clone(), cursors)?;
        app.metrics = metrics_server;
        app.follower = follower;
        app.pause_watch = Some((service_for_pause, switch));
        app.history_pruning = settings
            .history
            .retention()
            .map(|retention| (history, retention));
        app.relay = relay.map(|relay| RelayRun {
            relay,
            poll: Duration::from_millis(settings.events.relay_poll_ms),
            commits,
        });
        Ok(app)
    }

    /// Binds and serves an already wired service (for tests with custom adapters); its
    /// encoder must seal cursors with the keys the settings name.
    pub fn with_service(settings: &Settings, service: TransactionService) -> Result<Self> {
        let cursors = secrets::cursor_codec(settings)?;
        Self::serve(settings, service, bind(settings)?, None, cursors)
    }

    fn serve(
        settings: &Settings,
        service: TransactionService,
        listener: TcpListener,
        relay: Option<Arc<EventRelay>>,
        cursors: CursorCodec,
    ) -> Result<Self> {
        let address = format!("{}:{}", settings.server.host, settings.server.port);
        let bind_error = |source| Error::Bind {
            address: address.clone(),
            source,
        };
        let mut edge = HttpEdge::new(service, http_options(settings, cursors)?);
        if let Some(relay) = relay {
            edge = edge.with_relay(relay);
        }
        let port = listener.local_addr().map_err(bind_error)?.port();
        let mut server = HttpServer::new(move || {
            let edge = edge.clone();
            App::new().configure(move |cfg| mount(cfg, &edge))
        })
        .disable_signals()
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_millis(
            settings.server.client_request_timeout_ms,
        ))
        .client_disconnect_timeout(Duration::from_secs(1))
        .max_connections(settings.server.max_connections_per_worker);
        if let Some(workers) = settings.server.workers {
            server = server.workers(workers);
        }
        let server = server.listen(listener).map_err(bind_error)?.run();
        Ok(Self {
            server,
            port,
            relay: None,
            metrics: None,
            follower: None,
            pause_watch: None,
            history_pruning: None,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of `/metrics`, when metrics are on.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(MetricsServer::port)
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves (and relays events) until stopped, then finishes in-flight requests and the
    /// relay's batch in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = self.metrics.map(|m| {
            let handle = m.handle();
            (handle, tokio::spawn(m.run()))
        });
        let (stop_following, following) = tokio::sync::watch::channel(false);
        let follower = self
            .follower
            .map(|(service, from)| tokio::spawn(follow_feed(service, from, following.clone())));
        let pruning = self.history_pruning.map(|(history, retention)| {
            tokio::spawn(prune_history(history, retention, following.clone()))
        });
        let pause_watch = self
            .pause_watch
            .map(|(service, switch)| tokio::spawn(watch_write_pause(service, switch, following)));
        let result = match self.relay {
            None => self.server.await,
            Some(run) => {
                let (stop, stopped) = tokio::sync::watch::channel(false);
                let task = tokio::spawn(relay::run(run.relay, run.poll, run.commits, stopped));
                let result = self.server.await;
                let _ = stop.send(true);
                if task.await.is_err() {
                    tracing::error!("the event relay task failed");
                }
                result
            }
        };
        let _ = stop_following.send(true);
        if let Some(task) = follower {
            let _ = task.await;
        }
        if let Some(task) = pause_watch {
            let _ = task.await;
        }
        if let Some(task) = pruning {
            let _ = task.await;
        }
        if let Some((handle, task)) = metrics {
            handle.stop(true).await;
            let _ = task.await;
        }
        result
    }
}

/// The ticks of a background loop that ends when its stop signal turns true.
struct Ticks(tokio::time::Interval);

impl Ticks {
    fn every(period: Duration) -> Self {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Self(interval)
    }

    /// Waits for the next tick: `false` once `stop` says to stop.
    async fn next(&mut self, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
        tokio::select! {
            _ = self.0.tick() => {}
            _ = stop.changed() => return false,
        }
        !*stop.borrow()
    }
}

/// How often an instance removes history versions past the retention.
pub const HISTORY_PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Removes history versions older than `retention`, at start and then every
/// [`HISTORY_PRUNE_EVERY`] (only with `FIDO__HISTORY__RETENTION_DAYS` set). Every instance
/// does it: an indexed range delete, harmless when another instance just did the same.
async fn prune_history(
    history: Arc<dyn HistoryLog>,
    retention: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = Ticks::every(HISTORY_PRUNE_EVERY);
    let keep_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    while every.next(&mut stop).await {
        let before = Timestamp::now().plus_millis(keep_ms.saturating_neg());
        match history.prune_history(before).await {
            Ok(0) => {}
            Ok(removed) => {
                tracing::info!(removed, %before, "history versions past the retention removed")
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot remove old history versions yet; retrying within the hour")
            }
        }
    }
}

/// How often an instance reads the deployment-wide write pause.
pub const PAUSE_EVERY: Duration = Duration::from_millis(500);

/// Reads the store's write pause every [`PAUSE_EVERY`] and applies it to the service, so
/// `fido writes pause` (or `resume`) reaches every instance within about half a second,
/// without a restart; logs each change. A failing read keeps the state as it was.
async fn watch_write_pause(
    service: TransactionService,
    switch: Arc<dyn WriteSwitch>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut every = Ticks::every(PAUSE_EVERY);
    while every.next(&mut stop).await {
        if let Err(e) = refresh_write_pause(&service, &*switch).await {
            tracing::debug!(error = %e, "the write pause could not be read; keeping the current state");
        }
    }
}

/// Reads the store's write pause, applies it to the service and logs when that changes
/// the state; a failing read changes nothing.
async fn refresh_write_pause(
    service: &TransactionService,
    switch: &dyn WriteSwitch,
) -> std::result::Result<(), fido_domain::StoreError> {
    let pause = switch.write_pause().await?;
    let reason = pause.as_ref().map(|p| p.reason.clone());
    if service.apply_write_pause(pause) {
        match reason {
            Some(reason) => {
                tracing::warn!(%reason, "writes paused deployment-wide: writes answer 503 with Retry-After, reads are served (`fido writes resume` lifts it)")
            }
            None => tracing::info!("writes resumed"),
        }
    }
    Ok(())
}

/// How often an in-process cache looks at the feed for changes made elsewhere.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// Follows the event feed from `from` (its end before the first request, when the store
/// answered then; else from its end at the first read that succeeds) and drops the
/// cached reads of each user whose transactions changed, until `stop` turns true. A
/// failing read is retried at the next tick; a cursor that retention overtook (a store
/// unreachable for days) or that lies beyond the feed's end (a store restored from an
/// older copy) starts again from the end, with a warning — retrying it would never end.
async fn follow_feed(
    service: TransactionService,
    from: Option<u64>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut after = from;
    let mut every = Ticks::every(FOLLOW_EVERY);
    while every.next(&mut stop).await {
        after = match after {
            None => service.feed_end().await.ok(),
            Some(from) => match service.forget_changed_since(from).await {
                Ok(next) => Some(next),
                Err(
                    fido_domain::DomainError::CursorExpired { .. }
                    | fido_domain::DomainError::CursorAhead { .. },
                ) => {
                    tracing::warn!(
                        "cache follower: the feed moved past or behind its cursor (retention, \
                         or a store restored from an older copy); following from its end, \
                         cached reads of changes made meanwhile may be stale until their TTL"
                    );
                    None
                }
                Err(e) => {
                    tracing::debug!(error = %fido_domain::error_chain(&e), "cache follower: feed not read");
                    Some(from)
                }
            },
        };
    }
}

/// The listener of `server.host:server.port`.
fn bind(settings: &Settings) -> Result<TcpListener> {
    let address = format!("{}:{}", settings.server.host, settings.server.port);
    TcpListener::bind(&address).map_err(|source| Error::Bind { address, source })
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received: shutting down gracefully"),
                    _ = int.recv() => tracing::info!("SIGINT received: shutting down gracefully"),
                }
            }
            _ => {
                tracing::warn!("cannot install signal handlers; falling back to Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
