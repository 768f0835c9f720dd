//! # fido-api — the HTTP service
//!
//! The thin outer layer of the Transactions API: it reads the configuration
//! ([`settings`]), wires the adapters it selects to the domain service ([`wiring`]), and
//! serves the HTTP contract with actix-web ([`http`]): handlers only parse a request into
//! domain values, call one service method and map the result. The OpenAPI 3.1 document
//! and Swagger UI (served from the binary) come from the handlers' annotations.
//!
//! Request flow: `http::handlers::*` → `fido_domain::TransactionService` → the ports →
//! the adapters chosen in [`wiring`].

pub mod admin;
pub mod auth;
pub mod healthcheck;
pub mod http;
pub mod keys;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod wiring;

pub use server::Application;
pub use settings::Settings;
