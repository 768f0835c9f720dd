//! # fido-api — the composition root and the `fido` binary
//!
//! The outermost layer of the Transactions API. It reads the configuration
//! ([`settings`]), loads the secrets ([`secrets`]), wires the adapters it selects to the
//! domain service ([`wiring`]), starts logging ([`telemetry`]), and serves the HTTP edge
//! of `fido-http` ([`server`]) with the event relay ([`relay`]) beside it, or alone
//! (`fido worker`). The `fido` binary's subcommands live one per module in
//! [`commands`], declared in [`cli`].
//!
//! Request flow: `fido_http` handlers → `fido_domain::TransactionService` → the ports →
//! the adapters chosen in [`wiring`].

pub mod cli;
pub mod commands;
pub mod error;
pub mod metrics;
pub mod relay;
pub mod secrets;
pub mod server;
pub mod settings;
pub mod telemetry;
pub mod transfer;
pub mod wiring;

pub use error::{Error, Result};
pub use server::Application;
pub use settings::Settings;
