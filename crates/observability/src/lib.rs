//! # fido-observability — Prometheus metrics, and spans to OpenTelemetry
//!
//! Everything the service measures goes through the [`metrics`] facade: the HTTP edge and
//! the adapters record with its macros and never see an exporter. This crate owns the one
//! exporter — with the `exporter` feature (on by default), `install` sets the process's
//! Prometheus recorder and `Metrics::render` writes the text format the HTTP edge's
//! `/metrics` route serves — and the metered wrappers that time every call of a port by
//! operation and outcome ([`MeteredStore`], [`MeteredCache`], [`MeteredPublisher`]).
//! Without the feature, the names and the wrappers come without the exporter's
//! dependencies. Names and labels are listed in [`names`] and described in
//! `docs/operations.md`; no label ever holds an id, a user id, a key or a raw path, so the
//! number of series is bounded by the code, not by the traffic.
//!
//! Traces: [`traces::TraceLayer`] is the `tracing` layer that turns the spans chosen for
//! export into OpenTelemetry span data for the SDK's batch processor (the binary builds
//! the OTLP exporter and installs the layer); [`traces::join`] and [`traces::annotate`]
//! are what the HTTP edge and the metered wrappers call on it.

#[cfg(feature = "exporter")]
mod exporter;
mod metered;
pub mod names;
pub mod traces;

use std::time::Duration;

#[cfg(feature = "exporter")]
pub use exporter::{install, InstallError, Metrics};
pub use metered::{MeteredCache, MeteredPublisher, MeteredStore};

/// Seconds, for histograms.
pub fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}
