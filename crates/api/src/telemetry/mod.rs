//! Logging and tracing: `tracing` with JSON lines in production and readable text in
//! development, and OpenTelemetry spans exported over OTLP when the standard `OTEL_*`
//! variables ask for them ([`otlp`]).
//!
//! Personal data never reaches a log line or a span: the domain's `FullName` prints as
//! `<redacted>`, request bodies are never logged, spans carry no field values, and the
//! access line carries only method, route pattern, status, latency and request id.
//!
//! Spans of target [`fido_domain::SPAN_TARGET`] (service, store and cache calls)
//! exist for the trace exporter only: the log layer filters them out, so log lines keep
//! the request's span (its request id and trace id) as their current span, and with
//! tracing off no layer wants them — their callsites are then disabled once and cost
//! nothing per call.
//!
//! What exporting costs is kept small (docs/operations.md has the figures): spans reach
//! the SDK's batch processor through `fido_observability::traces::TraceLayer` (one record
//! per span, handed over when it closes; decision 0027), and the sampler
//! (`OTEL_TRACES_SAMPLER`, e.g. `parentbased_traceidratio`) decides once per request, at
//! the door, before its span exists: a request it does not choose gets a span only the
//! logs see (marked `trace_sampled = false`), and none of its inner spans is built at all.

pub mod otlp;

use std::sync::{Arc, OnceLock};

use fido_http::request_context::UNSAMPLED_TARGET;
use fido_observability::traces::TraceLayer;
use opentelemetry::trace::SpanKind;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SamplingDecision, ShouldSample, SpanProcessor};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::filter::{dynamic_filter_fn, filter_fn, FilterExt};
use tracing_subscriber::layer::Context;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

use crate::settings::Settings;
use crate::Error;

static PROCESSOR: OnceLock<Arc<BatchSpanProcessor>> = OnceLock::new();

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

/// What the exporter may take, from the metadata alone (decided once per callsite): what
/// [`traced`] takes, except the spans of requests the sampler did not choose.
fn exportable(meta: &Metadata<'_>) -> bool {
    traced(meta) && meta.target() != UNSAMPLED_TARGET
}

/// Whether a span of ours is exported: a request chosen by the sampler at the door (the
/// span of one it did not choose has [`UNSAMPLED_TARGET`]), and any other span only when
/// it is a root (background work) or the span it opens in is exported itself — so nothing
/// under an unsampled request is built for the exporter, and nothing becomes an orphan.
fn exported<S>(meta: &Metadata<'_>, ctx: &Context<'_, S>) -> bool
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !exportable(meta) {
        return false;
    }
    if !meta.is_span() {
        return true;
    }
    // `current_span` is the subscriber's (every layer's); `lookup_current`, this
    // filter's own view.
    match ctx.current_span().id() {
        None => true,
        Some(current) => ctx
            .lookup_current()
            .is_some_and(|span| span.id() == *current),
    }
}

/// The sampler that decides at the door ([`fido_http::request_context::HeadSampler`]):
/// the one the standard variables configure (`OTEL_TRACES_SAMPLER`, `…_ARG`).
fn door(sampler: Arc<dyn ShouldSample>) -> Box<fido_http::request_context::HeadSampler> {
    Box::new(move |caller, trace_id| {
        let result =
            sampler.should_sample(caller, trace_id, "request", &SpanKind::Server, &[], &[]);
        matches!(result.decision, SamplingDecision::RecordAndSample)
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
    let traces = if otlp::requested(|name| std::env::var(name).ok()) && PROCESSOR.get().is_none() {
        // The configured sampler decides once per request, at the door, and once per
        // trace of background work in the layer.
        let sampler: Arc<dyn ShouldSample> =
            Arc::from(opentelemetry_sdk::trace::Config::default().sampler);
        let processor = Arc::new(otlp::processor(env!("CARGO_PKG_VERSION"))?);
        fido_http::request_context::set_head_sampler(door(sampler.clone()));
        let _ = PROCESSOR.set(processor.clone());
        let scope = opentelemetry::InstrumentationScope::builder("fido")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        // Decided per callsite where the metadata suffices (everything not ours is never
        // asked about again), and capped at INFO, the level of our spans: otherwise the
        // subscriber's level hint would rise to TRACE, and every `log::trace!` of the
        // libraries below would be built and offered to the filters on every call.
        let exported = dynamic_filter_fn(exported)
            .with_callsite_filter(|meta| {
                if exportable(meta) {
                    tracing::subscriber::Interest::sometimes()
                } else {
                    tracing::subscriber::Interest::never()
                }
            })
            .with_max_level_hint(tracing::level_filters::LevelFilter::INFO);
        let processor: Arc<dyn SpanProcessor> = processor;
        Some(TraceLayer::new(processor, sampler, scope).with_filter(exported))
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
    if exporting() {
        tracing::info!("exporting traces over OTLP");
    }
    Ok(())
}

/// Whether spans are being exported (the ports are then wrapped to trace each call): the
/// trace layer knows.
pub fn exporting() -> bool {
    fido_observability::traces::installed()
}

/// Sends the spans still buffered and stops the exporter; called once, before the
/// process exits.
pub fn shutdown() {
    if let Some(processor) = PROCESSOR.get() {
        if let Err(e) = processor.shutdown() {
            tracing::warn!(error = %e, "the trace exporter did not shut down cleanly");
        }
    }
}
