//! Trace export: a `tracing` layer that turns our spans into OpenTelemetry span data and
//! hands each finished one to a span processor (the OTLP batch exporter), and the three
//! calls the rest of the code makes on it — [`join`] (a request's span takes its trace
//! and the caller's parent), [`annotate`] (an attribute on the current exported span) and
//! [`installed`].
//!
//! Why not `tracing-opentelemetry` (docs/decisions/0027): that bridge builds an SDK span
//! for every span — a builder, a shared lock, the sampler asked again per span, a context
//! per parent — and takes every field of a span as an attribute. Here a span that is
//! exported costs one record in the span's extensions and one hand-off when it closes;
//! the sampler is asked once per trace (at the door for requests, here for background
//! work); and only fields with a dotted, semantic-convention name (`http.route`,
//! `db.operation.name`) become attributes. Plain names (`request_id`, `method`,
//! `trace_id`, `trace_sampled`) are the logs' fields and stay out of the trace.
//!
//! Fields named `otel.kind`, `otel.name` and `otel.status_code` set the span's kind, name
//! and status, as in `tracing-opentelemetry`. Warnings and errors inside an exported span
//! become its events (an error also marks the span failed).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use opentelemetry::trace::{
    Event, SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue, Value};
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, SamplingDecision, ShouldSample, SpanData, SpanEvents,
    SpanLinks, SpanProcessor,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::{LookupSpan, Registry};
use tracing_subscriber::Layer;

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Whether a [`TraceLayer`] exists in this process (otherwise [`join`] and [`annotate`]
/// return at once).
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// An exported span while it is open: kept in the span's extensions.
#[derive(Debug)]
struct Open {
    trace_id: TraceId,
    span_id: SpanId,
    parent: SpanId,
    parent_remote: bool,
    trace_state: TraceState,
    kind: SpanKind,
    name: Cow<'static, str>,
    start: SystemTime,
    attributes: Vec<KeyValue>,
    events: Vec<Event>,
    status: Status,
}

/// Reads a span's fields into its [`Open`] record.
struct Fields<'a>(&'a mut Open);

impl Fields<'_> {
    /// `otel.kind`, `otel.name` and `otel.status_code`: the span's own properties.
    fn otel(&mut self, name: &str, value: &str) {
        match name {
            "otel.kind" => {
                self.0.kind = match value {
                    "server" => SpanKind::Server,
                    "client" => SpanKind::Client,
                    "producer" => SpanKind::Producer,
                    "consumer" => SpanKind::Consumer,
                    _ => SpanKind::Internal,
                }
            }
            "otel.name" => self.0.name = Cow::Owned(value.to_owned()),
            "otel.status_code" => {
                self.0.status = match value {
                    "error" | "ERROR" | "Error" => Status::error(""),
                    "ok" | "OK" | "Ok" => Status::Ok,
                    _ => Status::Unset,
                }
            }
            _ => {}
        }
    }

    /// A dotted name is the trace's attribute (the last value recorded wins); a plain one
    /// is the logs' field, left out.
    fn attribute(&mut self, name: &'static str, value: impl FnOnce() -> Value) {
        if name.starts_with("otel.") {
            let value = value();
            self.otel(name, &value.as_str());
        } else if name.contains('.') {
            let value = value();
            match self
                .0
                .attributes
                .iter_mut()
                .find(|kv| kv.key.as_str() == name)
            {
                Some(kv) => kv.value = value,
                None => self.0.attributes.push(KeyValue::new(name, value)),
            }
        }
    }
}

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.attribute(field.name(), || Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.attribute(field.name(), || match i64::try_from(value) {
            Ok(v) => Value::I64(v),
            Err(_) => Value::from(value.to_string()),
        });
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.attribute(field.name(), || Value::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.attribute(field.name(), || Value::F64(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name().starts_with("otel.") {
            self.otel(field.name(), value);
        } else {
            self.attribute(field.name(), || Value::from(value.to_owned()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.attribute(field.name(), || Value::from(format!("{value:?}")));
    }
}

/// Reads a warning's or error's fields into a span event: the message names it, the
/// other fields (the log line's own) are its attributes.
struct EventFields {
    name: Option<String>,
    attributes: Vec<KeyValue>,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.name = Some(value.to_owned());
        } else {
            self.attributes
                .push(KeyValue::new(field.name(), value.to_owned()));
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// The layer: give it a span processor (the OTLP batch exporter), the sampler for traces
/// that start here without a request (background work; a request's span, of kind
/// `server`, was decided at the door), and the instrumentation scope the spans carry.
/// Put a per-layer filter on it that lets through only the spans to export.
pub struct TraceLayer {
    processor: Arc<dyn SpanProcessor>,
    sampler: Arc<dyn ShouldSample>,
    scope: InstrumentationScope,
    ids: RandomIdGenerator,
}

impl std::fmt::Debug for TraceLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceLayer")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl TraceLayer {
    /// A layer exporting through `processor`.
    pub fn new(
        processor: Arc<dyn SpanProcessor>,
        sampler: Arc<dyn ShouldSample>,
        scope: InstrumentationScope,
    ) -> Self {
        INSTALLED.store(true, Ordering::Relaxed);
        Self {
            processor,
            sampler,
            scope,
            ids: RandomIdGenerator::default(),
        }
    }
}

impl<S> Layer<S> for TraceLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let parent = if let Some(parent) = attrs.parent() {
            ctx.span(parent)
        } else if attrs.is_contextual() {
            ctx.lookup_current()
        } else {
            None
        };
        let root = parent.is_none();
        let (trace_id, parent_id, trace_state) = match parent {
            Some(parent) => match parent.extensions().get::<Open>() {
                Some(p) => (p.trace_id, p.span_id, p.trace_state.clone()),
                // Under a span that is not exported (a trace the sampler did not take).
                None => return,
            },
            None => (
                self.ids.new_trace_id(),
                SpanId::INVALID,
                TraceState::default(),
            ),
        };
        let mut open = Open {
            trace_id,
            span_id: self.ids.new_span_id(),
            parent: parent_id,
            parent_remote: false,
            trace_state,
            kind: SpanKind::Internal,
            name: Cow::Borrowed(attrs.metadata().name()),
            start: SystemTime::now(),
            attributes: Vec::new(),
            events: Vec::new(),
            status: Status::Unset,
        };
        attrs.record(&mut Fields(&mut open));
        if root && open.kind != SpanKind::Server {
            let decision = self.sampler.should_sample(
                None,
                open.trace_id,
                &open.name,
                &open.kind,
                &open.attributes,
                &[],
            );
            if decision.decision != SamplingDecision::RecordAndSample {
                return;
            }
            open.trace_state = decision.trace_state;
        }
        // `replace`, not `insert` (which panics on a record already there; none can be).
        drop(span.extensions_mut().replace(open));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(open) = span.extensions_mut().get_mut::<Open>() {
                values.record(&mut Fields(open));
            }
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.event_span(event) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        let Some(open) = extensions.get_mut::<Open>() else {
            return;
        };
        let meta = event.metadata();
        let mut fields = EventFields {
            name: None,
            attributes: vec![
                KeyValue::new("level", meta.level().as_str()),
                KeyValue::new("target", meta.target()),
            ],
        };
        event.record(&mut fields);
        if *meta.level() == tracing::Level::ERROR {
            open.status = Status::error("");
        }
        open.events.push(Event::new(
            fields.name.unwrap_or_else(|| meta.name().to_owned()),
            SystemTime::now(),
            fields.attributes,
            0,
        ));
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        let mut events = SpanEvents::default();
        events.events = open.events;
        self.processor.on_end(SpanData {
            span_context: SpanContext::new(
                open.trace_id,
                open.span_id,
                TraceFlags::SAMPLED,
                false,
                open.trace_state,
            ),
            parent_span_id: open.parent,
            parent_span_is_remote: open.parent_remote,
            span_kind: open.kind,
            name: open.name,
            start_time: open.start,
            end_time: SystemTime::now(),
            attributes: open.attributes,
            dropped_attributes_count: 0,
            events,
            links: SpanLinks::default(),
            status: open.status,
            instrumentation_scope: self.scope.clone(),
        });
    }
}

/// Runs `f` on the exported record of the span `id`, if it is exported.
fn with_open<R>(
    dispatch: &tracing::Dispatch,
    id: &Id,
    f: impl FnOnce(&mut Open) -> R,
) -> Option<R> {
    let registry = dispatch.downcast_ref::<Registry>()?;
    let span = registry.span(id)?;
    let mut extensions = span.extensions_mut();
    extensions.get_mut::<Open>().map(f)
}

/// Makes a request's span (just created, kind `server`) part of `trace_id` — or, when
/// the caller sent a valid `traceparent`, of the caller's trace, as a child of the
/// caller's span. Returns whether the span is exported (`false` when no [`TraceLayer`]
/// took it).
pub fn join(span: &tracing::Span, trace_id: TraceId, caller: Option<&SpanContext>) -> bool {
    if !installed() {
        return false;
    }
    span.with_subscriber(|(id, dispatch)| {
        with_open(dispatch, id, |open| match caller.filter(|c| c.is_valid()) {
            Some(caller) => {
                open.trace_id = caller.trace_id();
                open.parent = caller.span_id();
                open.parent_remote = true;
                open.trace_state = caller.trace_state().clone();
            }
            None => open.trace_id = trace_id,
        })
        .is_some()
    })
    .unwrap_or(false)
}

/// Sets the attribute `key = value` on the current span, if it is exported (the last
/// call for a key wins) — for a fact that does not deserve a span of its own (a cache
/// lookup's outcome).
pub fn annotate(key: &'static str, value: &'static str) {
    if !installed() {
        return;
    }
    tracing::dispatcher::get_default(|dispatch| {
        if let Some(id) = dispatch.current_span().id() {
            with_open(dispatch, id, |open| {
                match open.attributes.iter_mut().find(|kv| kv.key.as_str() == key) {
                    Some(kv) => kv.value = Value::from(value),
                    None => open.attributes.push(KeyValue::new(key, value)),
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::Sampler;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Debug, Default)]
    struct Kept(Mutex<Vec<SpanData>>);

    impl SpanProcessor for Kept {
        fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
        fn on_end(&self, span: SpanData) {
            self.0.lock().unwrap().push(span);
        }
        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }
        fn shutdown_with_timeout(&self, _: std::time::Duration) -> OTelSdkResult {
            Ok(())
        }
    }

    fn layer(kept: &Arc<Kept>, sampler: Sampler) -> TraceLayer {
        TraceLayer::new(
            kept.clone(),
            Arc::new(sampler),
            InstrumentationScope::builder("test").build(),
        )
    }

    fn attribute(span: &SpanData, key: &str) -> Option<Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }

    #[test]
    fn spans_nest_take_dotted_fields_and_join_the_callers_trace() {
        let kept = Arc::new(Kept::default());
        let subscriber = tracing_subscriber::registry().with(layer(&kept, Sampler::AlwaysOff));
        let caller = SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736_u128),
            SpanId::from(0x00f0_67aa_0ba9_02b7_u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!(
                "request",
                request_id = "r-1",
                otel.kind = "server",
                otel.name = tracing::field::Empty,
                http.route = tracing::field::Empty,
            );
            assert!(join(&request, TraceId::from(7_u128), Some(&caller)));
            request.in_scope(|| {
                let service = tracing::info_span!("service.list");
                service.in_scope(|| {
                    annotate("cache.lookup", "hit");
                    tracing::error!(reason = "broken", "it failed");
                    let store = tracing::info_span!(
                        "store.list",
                        otel.kind = "client",
                        db.operation.name = "list",
                        otel.status_code = tracing::field::Empty,
                    );
                    store.record("otel.status_code", "error");
                });
            });
            request.record("otel.name", "GET /things");
            request.record("http.route", "/things");
        });
        let spans = kept.0.lock().unwrap();
        let by_name = |name: &str| spans.iter().find(|s| s.name == name).unwrap();
        let request = by_name("GET /things");
        let service = by_name("service.list");
        let store = by_name("store.list");
        assert_eq!(request.span_kind, SpanKind::Server);
        assert_eq!(request.parent_span_id, caller.span_id());
        assert!(request.parent_span_is_remote);
        for span in [request, service, store] {
            assert_eq!(span.span_context.trace_id(), caller.trace_id());
        }
        assert_eq!(service.parent_span_id, request.span_context.span_id());
        assert_eq!(store.parent_span_id, service.span_context.span_id());
        assert_eq!(
            attribute(request, "http.route"),
            Some(Value::from("/things"))
        );
        assert_eq!(attribute(request, "request_id"), None, "a log field");
        assert_eq!(attribute(service, "cache.lookup"), Some(Value::from("hit")));
        assert_eq!(
            attribute(store, "db.operation.name"),
            Some(Value::from("list"))
        );
        assert_eq!(store.span_kind, SpanKind::Client);
        assert_eq!(store.status, Status::error(""));
        assert_eq!(
            service.status,
            Status::error(""),
            "an error event fails its span"
        );
        assert_eq!(service.events.events[0].name, "it failed");
    }

    #[test]
    fn background_roots_ask_the_sampler_and_their_children_follow() {
        let kept = Arc::new(Kept::default());
        let subscriber = tracing_subscriber::registry().with(layer(&kept, Sampler::AlwaysOff));
        tracing::subscriber::with_default(subscriber, || {
            let root = tracing::info_span!("store.relay");
            root.in_scope(|| drop(tracing::info_span!("store.inner")));
            let request = tracing::info_span!("request", otel.kind = "server");
            request.in_scope(|| drop(tracing::info_span!("service.get")));
        });
        let names: Vec<String> = kept
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.name.to_string())
            .collect();
        assert_eq!(names, ["service.get", "request"]);
    }

    #[test]
    fn without_the_layer_join_and_annotate_do_nothing() {
        let subscriber = tracing_subscriber::registry();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            // Another test of this binary may have installed a layer: `join` still finds
            // no exported record here.
            assert!(!join(&span, TraceId::from(1_u128), None));
            span.in_scope(|| annotate("cache.lookup", "hit"));
        });
    }
}
