//! Logging and tracing: `tracing` with JSON lines in production and readable text in
//! development, and OpenTelemetry spans exported over OTLP when the standard `OTEL_*`
//! variables ask for them ([`otlp`]).
//!
//! Personal data never reaches a log line or a span: the domain's `FullName` prints as
//! `<redacted>`, request bodies are never logged, spans carry no field values, and the
//! access line carries only method, route pattern, status, latency and request id.
//!
//! Spans of target [`fido_domain::SPAN_TARGET`] (handler, service, store and cache calls)
//! exist for the trace exporter only: the log layer filters them out, so log lines keep
//! the request's span (its request id and trace id) as their current span, and with
//! tracing off no layer wants them — their callsites are then disabled once and cost
//! nothing per call.
//!
//! What exporting costs is kept small (docs/operations.md has the figures): the exporter
//! neither activates an OpenTelemetry context on every poll nor times each span's busy
//! and idle periods; and when the sampler drops a request (`OTEL_TRACES_SAMPLER`, e.g.
//! `parentbased_traceidratio`), the request's span is marked (`trace_sampled = false`)
//! and none of its inner spans is created at all.

pub mod otlp;

use std::sync::OnceLock;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::span::{Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{dynamic_filter_fn, filter_fn, FilterExt};
use tracing_subscriber::layer::Context;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::settings::Settings;
use crate::Error;

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

fn exporter_only(meta: &Metadata<'_>) -> bool {
    meta.is_span() && meta.target() == fido_domain::SPAN_TARGET
}

/// What the trace exporter sees: our spans (the request's and the inner ones) and
/// warnings and errors (as span events).
fn traced(meta: &Metadata<'_>) -> bool {
    if meta.is_span() {
        meta.target().starts_with("fido")
    } else {
        *meta.level() <= tracing::Level::WARN
    }
}

/// Marks a span whose trace the sampler dropped.
struct Unsampled;

/// Sees `trace_sampled = false` recorded on a request's span and marks the span, so the
/// exporter's filter creates none of its inner spans.
struct SampleMarks;

impl<S> Layer<S> for SampleMarks
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        struct Sampled(Option<bool>);
        impl tracing::field::Visit for Sampled {
            fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
                if field.name() == "trace_sampled" {
                    self.0 = Some(value);
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut sampled = Sampled(None);
        values.record(&mut sampled);
        if sampled.0 == Some(false) {
            if let Some(span) = ctx.span(id) {
                span.extensions_mut().insert(Unsampled);
            }
        }
    }
}

/// Whether the span being entered lies in a trace the sampler dropped.
fn in_unsampled_trace<S>(ctx: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    ctx.lookup_current().is_some_and(|current| {
        current
            .scope()
            .any(|span| span.extensions().get::<Unsampled>().is_some())
    })
}

/// Installs the global subscriber, and the trace exporter when the environment asks for
/// it. A second call (tests start several apps in one process) keeps the first.
pub fn init(settings: &Settings) -> Result<(), Error> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.log.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let log_filter = filter.and(filter_fn(|meta| !exporter_only(meta)));
    // Logs go to standard error, for every command: standard output is the commands'
    // own output (`fido export` writes NDJSON there, `fido keys` a key).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let log = if settings.json_logs() {
        fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_target(true)
            .with_filter(log_filter)
            .boxed()
    } else {
        fmt::layer()
            .with_writer(std::io::stderr)
            .compact()
            .with_target(true)
            .with_ansi(ansi)
            .with_filter(log_filter)
            .boxed()
    };

    // Callers' `traceparent` is read whether or not we export: its trace id still goes
    // into the log lines.
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let traces = if otlp::requested(|name| std::env::var(name).ok()) && PROVIDER.get().is_none() {
        let provider = otlp::provider(env!("CARGO_PKG_VERSION"))?;
        let tracer = provider.tracer("fido");
        let _ = PROVIDER.set(provider);
        let exported = dynamic_filter_fn(|meta, ctx| {
            traced(meta) && !(meta.is_span() && in_unsampled_trace(ctx))
        });
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_location(false)
                .with_threads(false)
                .with_target(false)
                // Our code reads span contexts explicitly (`OpenTelemetrySpanExt`): no
                // context to attach on every poll, no busy/idle timings per span.
                .with_context_activation(false)
                .with_tracked_inactivity(false)
                .with_filter(exported)
                .and_then(SampleMarks),
        )
    } else {
        None
    };
    // Already installed (tests start several apps in one process): keep the first.
    drop(
        tracing_subscriber::registry()
            .with(log)
            .with(traces)
            .try_init(),
    );
    if PROVIDER.get().is_some() {
        tracing::info!("exporting traces over OTLP");
    }
    Ok(())
}

/// Whether spans are being exported (the ports are then wrapped to trace each call).
pub fn exporting() -> bool {
    PROVIDER.get().is_some()
}

/// Sends the spans still buffered and stops the exporter; called once, before the
/// process exits.
pub fn shutdown() {
    if let Some(provider) = PROVIDER.get() {
        if let Err(e) = provider.shutdown() {
            tracing::warn!(error = %e, "the trace exporter did not shut down cleanly");
        }
    }
}
