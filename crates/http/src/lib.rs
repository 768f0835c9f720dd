//! # fido-http — the HTTP edge of the Transactions API
//!
//! Everything the service says over HTTP lives here, and nothing else does: the routes and
//! handlers, the DTOs that are the one wire contract ([`dto`]; the OpenAPI document is
//! generated from them), the success envelope, the mapping of every domain outcome to a
//! status code and message ([`error`]), parsing of requests into domain values
//! ([`input`]), the request context (request ids, access lines, security headers), and
//! who may call: API keys, scopes and rate limits ([`auth`]). The `/metrics` route is here
//! too ([`mount_metrics`]), on a listener the composition root opens apart from the API.
//!
//! It depends on the domain and the web stack only — never on an adapter, the settings or
//! the configuration library. The composition root builds an [`HttpEdge`] once per process
//! from a wired [`TransactionService`] and [`HttpOptions`], then mounts it on each actix
//! worker's app with [`mount`]:
//!
//! ```no_run
//! # use fido_http::{mount, HttpEdge, HttpOptions};
//! # fn run(service: fido_domain::TransactionService, options: HttpOptions) -> std::io::Result<()> {
//! let edge = HttpEdge::new(service, options);
//! let server = actix_web::HttpServer::new(move || {
//!     let edge = edge.clone();
//!     actix_web::App::new().configure(move |cfg| mount(cfg, &edge))
//! });
//! # Ok(()) }
//! ```
//!
//! The domain caches encoded reads; [`JsonEncoder`] is the encoding this edge gives it, so
//! a cache hit goes out without being parsed and serialised again.

pub mod auth;
pub mod body;
pub mod cursor;
pub mod dto;
mod encoder;
pub mod envelope;
pub mod error;
pub mod handlers;
pub mod input;
pub mod openapi;
pub mod params;
pub mod request_context;
mod routes;

use std::sync::Arc;

use actix_cors::Cors;
use actix_web::http::header;
use actix_web::middleware::from_fn;
use actix_web::web;
use fido_domain::{EventRelay, TransactionService};

pub use self::auth::{ApiKeys, RateLimiter};
pub use self::body::BodyLimits;
pub use self::encoder::JsonEncoder;

/// What the HTTP edge needs to know that is not the domain's: who may call, how often, and
/// from which browser origins.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// The API keys callers may present (hashes only).
    pub api_keys: ApiKeys,
    /// Requests per second each key may make on average (0 disables the limit).
    pub rate_limit_per_second: u32,
    /// Requests a key may make at once before the average applies.
    pub rate_limit_burst: u32,
    /// Origins allowed by CORS; `*` allows any; empty closes CORS.
    pub cors_allowed_origins: Vec<String>,
    /// Failed authentications a client address may make at once before 429s.
    pub auth_failure_burst: u32,
    /// Failed authentications per second a client address may make on average.
    pub auth_failures_per_second: u32,
    /// How long reading a request body may take (408 after that).
    pub body_read_timeout: std::time::Duration,
    /// Seals and opens list cursors (the same key as the service's [`JsonEncoder`]).
    pub cursors: cursor::CursorCodec,
}

/// The state every worker shares: the service, the keys and the rate limiter (so a key's
/// limit holds across workers). Build it once per process; clones share it.
#[derive(Clone, Debug)]
pub struct HttpEdge {
    service: web::Data<TransactionService>,
    access: web::Data<auth::Access>,
    body: web::Data<BodyLimits>,
    cors_allowed_origins: Arc<[String]>,
    relay: Option<web::Data<EventRelay>>,
    cursors: web::Data<cursor::CursorCodec>,
}

impl HttpEdge {
    /// The edge of `service`, guarded as `options` say.
    pub fn new(service: TransactionService, options: HttpOptions) -> Self {
        let limiter = RateLimiter::new(options.rate_limit_per_second, options.rate_limit_burst);
        let failures =
            RateLimiter::new(options.auth_failures_per_second, options.auth_failure_burst);
        Self {
            service: web::Data::new(service),
            access: web::Data::new(auth::Access::new(options.api_keys, limiter, failures)),
            body: web::Data::new(BodyLimits {
                read_timeout: options.body_read_timeout,
                ..BodyLimits::default()
            }),
            cors_allowed_origins: options.cors_allowed_origins.into(),
            relay: None,
            cursors: web::Data::new(options.cursors),
        }
    }

    /// Reports `relay`'s health in `/health/ready` (the process runs the event relay).
    #[must_use]
    pub fn with_relay(mut self, relay: Arc<EventRelay>) -> Self {
        self.relay = Some(web::Data::from(relay));
        self
    }
}

/// Mounts the whole HTTP API on an actix app: every route, the request context (request
/// id, access line, security headers) and CORS, around everything including the 404s.
pub fn mount(cfg: &mut web::ServiceConfig, edge: &HttpEdge) {
    let mut scope = web::scope("")
        .default_service(web::to(routes::not_found))
        .app_data(edge.service.clone())
        .app_data(edge.access.clone())
        .app_data(edge.body.clone())
        .app_data(edge.cursors.clone());
    if let Some(relay) = &edge.relay {
        scope = scope.app_data(relay.clone());
    }
    cfg.service(
        scope
            .wrap(cors(&edge.cors_allowed_origins))
            .wrap(from_fn(request_context::request_context))
            .configure(routes::configure),
    );
}

/// Mounts only `/health/live` and `/health/ready` (with the request context): the
/// endpoints of a process that serves no API, such as `fido worker`.
pub fn mount_health(cfg: &mut web::ServiceConfig, edge: &HttpEdge) {
    let mut scope = web::scope("")
        .default_service(web::to(routes::not_found))
        .app_data(edge.service.clone());
    if let Some(relay) = &edge.relay {
        scope = scope.app_data(relay.clone());
    }
    cfg.service(
        scope
            .wrap(from_fn(request_context::request_context))
            .configure(routes::configure_health),
    );
}

/// Mounts only `GET /metrics`, for the metrics listener (no request context: scrapes are
/// not API requests, and are neither logged nor traced).
pub fn mount_metrics(cfg: &mut web::ServiceConfig, scrape: &handlers::metrics::Scrape) {
    cfg.app_data(web::Data::new(scrape.clone()))
        .route("/metrics", web::get().to(handlers::metrics::render));
}

/// CORS: closed unless origins are configured; `*` allows any origin (the development
/// default). Credentials are never allowed: API keys travel in a header, not cookies.
fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "HEAD", "POST", "PATCH", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
            header::ETAG,
            // A browser front end names an export's download after it.
            header::CONTENT_DISPOSITION,
        ])
        .max_age(600);
    for origin in origins {
        cors = if origin == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(origin)
        };
    }
    cors
}
