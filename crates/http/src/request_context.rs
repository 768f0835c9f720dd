//! Per-request context: the `x-request-id` header, the request's span (the trace's server
//! span, continuing a caller's W3C `traceparent`), and the access line.
//!
//! A caller's request id is echoed when it is sane (1 to 128 characters of letters, digits,
//! `-`, `_`, `.`, `:`); otherwise a fresh one is generated. Every log line of the request
//! carries it, and one access line per request records method, route pattern, status and
//! latency — never the path's values or the body. The request's span carries the trace id
//! (the caller's, from `traceparent`, or the one decided on at the door), so every
//! log line of the request names its trace. When traces are exported, the sampler decides
//! at the door ([`HeadSampler`]) whether the request's span is built for the exporter at
//! all. It also sets the security headers every
//! response carries: `X-Content-Type-Options: nosniff` and, except on Swagger UI assets,
//! `Cache-Control: no-store`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::Error;
use fido_observability::names as metrics_names;
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use tracing::Instrument;

/// The header carrying the request id.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

fn sane(value: &HeaderValue) -> Option<&str> {
    let s = value.to_str().ok()?;
    let ok = (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    ok.then_some(s)
}

/// Two random numbers drawn once per process: the request ids' prefix and the seed of new
/// trace ids (apart, so that a request id tells nothing of the trace ids).
fn process_random() -> [u64; 2] {
    static DRAWN: OnceLock<[u64; 2]> = OnceLock::new();
    *DRAWN.get_or_init(|| {
        let mut bytes = [0u8; 16];
        if getrandom::getrandom(&mut bytes).is_err() {
            // No randomness: the time still tells processes apart, for log correlation.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            bytes = nanos.to_be_bytes();
        }
        let (a, b) = bytes.split_at(8);
        let word = |half: &[u8]| {
            half.iter()
                .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte))
        };
        [word(a), word(b)]
    })
}

/// A new request id: 8 random bytes chosen once per process, then a counter — unique,
/// and without a system call per request.
fn generate() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let [prefix, _] = process_random();
    format!(
        "{prefix:016x}{:016x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// The request's headers, for the W3C trace-context propagator.
struct Headers<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}

/// Decides at the door, before a request's span exists, whether the request's trace is
/// exported: given the caller's context (from a valid `traceparent`) and the trace id the
/// decision is for (the caller's, or a fresh random one), `true` to export. Set once by
/// the binary when it exports traces ([`set_head_sampler`]); without one, nothing is
/// decided here and no request is marked.
pub type HeadSampler =
    dyn Fn(Option<&opentelemetry::Context>, opentelemetry::trace::TraceId) -> bool + Send + Sync;

static HEAD_SAMPLER: OnceLock<Box<HeadSampler>> = OnceLock::new();

/// Installs the [`HeadSampler`]; `false` when one was installed already (kept).
pub fn set_head_sampler(sampler: Box<HeadSampler>) -> bool {
    HEAD_SAMPLER.set(sampler).is_ok()
}

/// The target of the span of a request whose trace the [`HeadSampler`] did not choose: a
/// trace exporter leaves such spans, and everything under them, alone — they are never
/// built for it at all, so an unsampled request costs about what it costs with tracing
/// off. The logs see the span as they see any request's (name `request`).
pub const UNSAMPLED_TARGET: &str = "fido_http::request_context::unsampled";

/// The trace id of a request without a caller's trace: the sampler decides on it, and the
/// trace, if chosen, is exported under it. A counter mixed with a per-process random seed
/// (no system call, no lock): random-looking, as ratio samplers need, and unique within
/// the process, with processes told apart by their seeds.
fn new_trace_id() -> opentelemetry::trace::TraceId {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let [_, seed] = process_random();
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = NEXT
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(seed);
    let id = (u128::from(mix(n)) << 64) | u128::from(mix(n ^ 0xD6E8_FEB8_6659_FD93));
    opentelemetry::trace::TraceId::from(id.max(1))
}

/// The caller's trace context, when a `traceparent` header is sent (valid or not).
fn caller_context(headers: &actix_web::http::header::HeaderMap) -> Option<opentelemetry::Context> {
    headers
        .contains_key("traceparent")
        .then(|| opentelemetry::global::get_text_map_propagator(|p| p.extract(&Headers(headers))))
}

/// The caller's span, when its `traceparent` was valid.
fn caller_span(
    caller: Option<&opentelemetry::Context>,
) -> Option<opentelemetry::trace::SpanContext> {
    caller
        .map(|cx| cx.span().span_context().clone())
        .filter(opentelemetry::trace::SpanContext::is_valid)
}

/// Counts a request in `fido_http_requests_in_flight` while it is served.
struct InFlight(metrics::Gauge);

impl InFlight {
    fn enter() -> Self {
        let gauge = HANDLES.with(|h| h.in_flight.clone());
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Metric handles, per worker thread: a handle skips the recorder's registry lookup (and
/// its hashing of the labels) on every request; the hot path then costs two atomic adds
/// and a histogram push.
struct Handles {
    in_flight: metrics::Gauge,
    /// By route, then by (method, status class).
    requests: std::cell::RefCell<std::collections::HashMap<String, RouteHandles>>,
}

type RouteHandles =
    std::collections::HashMap<(&'static str, &'static str), (metrics::Counter, metrics::Histogram)>;

thread_local! {
    static HANDLES: Handles = Handles {
        in_flight: metrics::gauge!(metrics_names::HTTP_IN_FLIGHT),
        requests: std::cell::RefCell::default(),
    };
}

/// The request's metrics: labelled by route pattern (never the path's values), method
/// and status class, so the series are bounded by the routes.
fn record(route: &str, method: &str, status: u16, elapsed: std::time::Duration) {
    let class = match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    // Unknown methods would be caller-chosen label values: fold them into one.
    let method = match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "PUT" => "PUT",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let route = if route == "<unmatched>" {
        "unmatched"
    } else {
        route
    };
    HANDLES.with(|h| {
        let mut map = h.requests.borrow_mut();
        // Looked up by the borrowed route: no allocation once the route has been seen.
        if !map.contains_key(route) {
            map.insert(route.to_owned(), RouteHandles::new());
        }
        let Some(by_route) = map.get_mut(route) else {
            return;
        };
        let (counter, histogram) = by_route.entry((method, class)).or_insert_with(|| {
            let labels = [
                ("route", route.to_owned()),
                ("method", method.to_owned()),
                ("status", class.to_owned()),
            ];
            (
                metrics::counter!(metrics_names::HTTP_REQUESTS, &labels),
                metrics::histogram!(metrics_names::HTTP_DURATION, &labels),
            )
        });
        counter.increment(1);
        histogram.record(elapsed.as_secs_f64());
    });
    if matches!(status, 409 | 412 | 429) {
        metrics::counter!(metrics_names::REJECTIONS, "status" => status.to_string()).increment(1);
    }
}

/// The middleware function (see `actix_web::middleware::from_fn`).
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(sane)
        .map_or_else(generate, str::to_owned);
    let method = req.method().to_string();
    let path_is_docs_asset = req.path().starts_with("/docs/") && req.path() != "/docs/";
    let caller = caller_context(req.headers());
    let caller_span = caller_span(caller.as_ref());
    let caller_id = caller_span.as_ref().map(|sc| sc.trace_id());
    // The sampler decides first: a request it does not choose gets a span the exporter
    // never sees (and that carries the caller's trace id for the logs, if any).
    let decided = HEAD_SAMPLER.get().map(|decide| {
        let trace_id = caller_id.unwrap_or_else(new_trace_id);
        (decide(caller.as_ref(), trace_id), trace_id)
    });
    let chosen = decided.map(|(chosen, _)| chosen);
    let (span, exported) = if chosen == Some(false) {
        let span = tracing::info_span!(
            target: UNSAMPLED_TARGET,
            "request",
            request_id = %id,
            method = %method,
            trace_id = caller_id.map(tracing::field::display),
            trace_sampled = false,
        );
        (span, false)
    } else {
        let span = tracing::info_span!(
            "request",
            request_id = %id,
            method = %method,
            trace_id = tracing::field::Empty,
            trace_sampled = chosen,
            otel.kind = "server",
            otel.name = tracing::field::Empty,
            http.route = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        // With a trace exporter the span becomes the server span of the caller's trace
        // (or the root of the one decided on); without one, the caller's trace id still
        // reaches the logs.
        let exported = decided.is_some_and(|(_, trace_id)| {
            fido_observability::traces::join(&span, trace_id, caller_span.as_ref())
        });
        let logged = match decided {
            Some((_, trace_id)) if exported => Some(trace_id),
            _ => caller_id,
        };
        if let Some(id) = logged {
            span.record("trace_id", tracing::field::display(id));
        }
        (span, exported)
    };
    let started = Instant::now();
    let _in_flight = InFlight::enter();

    // Handler and extractor errors arrive here as responses already; an `Err` only comes
    // from deeper middleware, and actix renders it. (The request cannot be kept aside to
    // render it here: routing needs the only reference to it.)
    let mut response = match next.call(req).instrument(span.clone()).await {
        Ok(response) => response.map_into_boxed_body(),
        Err(e) => {
            span.in_scope(|| tracing::error!(error = %e, "request failed before a response"));
            return Err(e);
        }
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert(REQUEST_ID, value);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // API answers are per caller and change with every write: never store them. The
    // Swagger UI's static assets may be cached.
    if !path_is_docs_asset {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<unmatched>".to_owned());
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    record(&route, &method, status, elapsed);
    // Microsecond resolution is plenty, and keeps the number short in the logs.
    let latency_ms = elapsed.as_micros() as f64 / 1000.0;
    span.in_scope(|| {
        tracing::info!(target: "fido_api::access", %route, status, latency_ms, "request completed");
    });
    if exported {
        // The exported span's name and attributes: the route pattern, never the path's
        // values.
        span.record("otel.name", format!("{method} {route}"));
        span.record("http.route", route.as_str());
        span.record("http.response.status_code", status);
        if status >= 500 {
            span.record("otel.status_code", "error");
        }
    }
    Ok(response)
}
