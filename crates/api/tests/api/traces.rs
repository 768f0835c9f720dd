//! Distributed traces: the real binary exports over OTLP/HTTP to a receiver in the test,
//! continuing the caller's W3C `traceparent`; its spans nest server → service → store (a
//! cache lookup is the service span's attribute), and every JSON log line of a request
//! names the trace.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{web, App, HttpResponse, HttpServer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{json, Value};

use crate::helpers::{fresh_user, test_api_keys, FULL_KEY};

type Received = Arc<Mutex<Vec<Span>>>;

/// An OTLP/HTTP receiver: decodes each export request's spans.
fn receiver() -> (Received, u16, actix_web::dev::ServerHandle) {
    let spans: Received = Arc::default();
    let store = spans.clone();
    let server = HttpServer::new(move || {
        let store = store.clone();
        App::new()
            .app_data(web::PayloadConfig::new(16 << 20))
            .route(
                "/v1/traces",
                web::post().to(move |body: web::Bytes| {
                    let store = store.clone();
                    async move {
                        let request = ExportTraceServiceRequest::decode(body.as_ref())
                            .expect("an OTLP protobuf export request");
                        let mut all = store.lock().unwrap();
                        for resource in request.resource_spans {
                            for scope in resource.scope_spans {
                                all.extend(scope.spans);
                            }
                        }
                        HttpResponse::Ok()
                            .content_type("application/x-protobuf")
                            .finish()
                    }
                }),
            )
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    (spans, port, handle)
}

struct Instance {
    child: Child,
    base: String,
    lines: Arc<Mutex<Vec<Value>>>,
    _dir: tempfile::TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary with JSON logs, exporting to `collector` when given.
fn start(collector: Option<u16>) -> Instance {
    start_with(collector, &[])
}

/// The same, with more environment variables.
fn start_with(collector: Option<u16>, vars: &[(&str, &str)]) -> Instance {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = crate::helpers::fido_binary();
    cmd.current_dir(dir.path())
        .env("PORT", "0")
        .env("API_KEYS", test_api_keys())
        .env("FIDO__SECURITY__RATE_LIMIT_PER_SECOND", "0")
        .env("FIDO__LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(port) = collector {
        cmd.env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "50")
        .env("OTEL_SERVICE_NAME", "fido-under-test");
    }
    cmd.envs(vars.iter().copied());
    let mut child = cmd.spawn().expect("the binary starts");
    let logs = child.stderr.take().expect("stderr");
    let lines: Arc<Mutex<Vec<Value>>> = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(logs).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                if let Some(port) = rest
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|p| p.parse::<u16>().ok())
                {
                    let _ = tx.send(port);
                }
            }
            let parsed: Value = serde_json::from_str(&line).expect("every log line is JSON");
            sink.lock().unwrap().push(parsed);
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the binary reports its port");
    Instance {
        child,
        base: format!("http://127.0.0.1:{port}"),
        lines,
        _dir: dir,
    }
}

fn client() -> awc::Client {
    awc::Client::builder()
        .timeout(Duration::from_secs(10))
        .add_default_header(("authorization", format!("Bearer {FULL_KEY}")))
        .finish()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Waits until the receiver holds spans of `trace` named by every one of `names`.
async fn spans_of(received: &Received, trace: &str, names: &[&str]) -> Vec<Span> {
    let started = Instant::now();
    loop {
        let spans: Vec<Span> = received
            .lock()
            .unwrap()
            .iter()
            .filter(|s| hex(&s.trace_id) == trace)
            .cloned()
            .collect();
        if names.iter().all(|n| spans.iter().any(|s| s.name == *n)) {
            return spans;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "spans {names:?} of trace {trace} never arrived; got {:?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        actix_web::rt::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The access lines (one per request) that carry `request_id`.
fn access_line(lines: &Arc<Mutex<Vec<Value>>>, request_id: &str) -> Option<Value> {
    lines
        .lock()
        .unwrap()
        .iter()
        .find(|l| l["span"]["request_id"] == request_id && l["message"] == "request completed")
        .cloned()
}

async fn wait_for_line(lines: &Arc<Mutex<Vec<Value>>>, request_id: &str) -> Value {
    let started = Instant::now();
    loop {
        if let Some(line) = access_line(lines, request_id) {
            return line;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no access line for {request_id}"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

#[actix_web::test]
async fn spans_nest_service_store_and_cache_under_the_callers_trace() {
    let (received, collector, handle) = receiver();
    let app = start(Some(collector));
    let client = client();
    let user = fresh_user();
    let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");

    let res = client
        .post(format!("{}/api/v1/transactions", app.base))
        .insert_header(("traceparent", traceparent.as_str()))
        .insert_header(("x-request-id", "trace-create"))
        .send_json(&json!({"user_id": user, "full_name": "Ada Lovelace",
                           "transaction_amount": 12.5, "transaction_type": "credit"}))
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    // A list: a cache miss read from the store (and the cache filled).
    let res = client
        .get(format!("{}/api/v1/transactions/user/{user}", app.base))
        .insert_header(("traceparent", traceparent.as_str()))
        .insert_header(("x-request-id", "trace-list"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    let spans = spans_of(
        &received,
        TRACE,
        &[
            "POST /api/v1/transactions",
            "service.create",
            "store.insert",
            "GET /api/v1/transactions/user/{user_id}",
            "service.list_encoded",
            "store.list",
        ],
    )
    .await;
    let by_name: HashMap<&str, &Span> = spans.iter().map(|s| (s.name.as_str(), s)).collect();
    let parent_of = |name: &str| hex(&by_name[name].parent_span_id);
    let id_of = |name: &str| hex(&by_name[name].span_id);

    // The server spans continue the caller's span; everything else nests below them.
    assert_eq!(parent_of("POST /api/v1/transactions"), CALLER_SPAN);
    // (No handler span: the server span, named by the route, is the handler's.)
    assert_eq!(
        parent_of("service.create"),
        id_of("POST /api/v1/transactions")
    );
    assert_eq!(parent_of("store.insert"), id_of("service.create"));

    let list = "GET /api/v1/transactions/user/{user_id}";
    assert_eq!(parent_of(list), CALLER_SPAN);
    assert_eq!(parent_of("service.list_encoded"), id_of(list));
    // The store read may run inside the single flight, still below the service call.
    let store_parent = parent_of("store.list");
    let below_service: Vec<String> = spans
        .iter()
        .filter(|s| hex(&s.parent_span_id) == id_of("service.list_encoded"))
        .map(|s| hex(&s.span_id))
        .chain([id_of("service.list_encoded")])
        .collect();
    assert!(
        below_service.contains(&store_parent),
        "store.list nests under service.list_encoded"
    );

    // Server span kind and the route (never the path's values) as attributes.
    let server = by_name[list];
    assert_eq!(server.kind, 2, "SPAN_KIND_SERVER");
    let attribute = |span: &Span, key: &str| {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref())
            .map(|v| format!("{:?}", v.value))
    };
    assert!(attribute(server, "http.route")
        .is_some_and(|v| v.contains("/api/v1/transactions/user/{user_id}")));
    // The log's fields (request id, method, trace id) are not the trace's attributes.
    for key in ["request_id", "method", "trace_id", "trace_sampled"] {
        assert_eq!(attribute(server, key), None, "{key}");
    }
    // The cache lookup (a miss: the list was not cached yet) is the service span's
    // attribute, not a span of its own; a write's invalidation is a client span.
    assert!(attribute(by_name["service.list_encoded"], "cache.lookup")
        .is_some_and(|v| v.contains("miss")));
    assert!(!by_name.contains_key("cache.lookup"));
    let store = by_name["store.list"];
    assert_eq!(store.kind, 3, "SPAN_KIND_CLIENT");
    assert!(attribute(store, "db.operation.name").is_some_and(|v| v.contains("list")));
    // No span carries the user id, the name or the amount.
    for span in &spans {
        let text = format!("{span:?}");
        assert!(!text.contains(&user), "{} carries the user id", span.name);
        assert!(!text.contains("Lovelace"), "{} carries the name", span.name);
    }

    // Every JSON log line of the two requests names the caller's trace.
    for request_id in ["trace-create", "trace-list"] {
        let line = wait_for_line(&app.lines, request_id).await;
        assert_eq!(line["span"]["trace_id"], TRACE, "{line}");
    }
    let lines = app.lines.lock().unwrap().clone();
    for line in lines.iter().filter(|l| l["span"]["request_id"].is_string()) {
        assert!(line["span"]["trace_id"].is_string(), "{line}");
    }
    handle.stop(false).await;
}

#[actix_web::test]
async fn a_request_without_traceparent_starts_a_trace_whose_id_is_logged() {
    let (received, collector, handle) = receiver();
    let app = start(Some(collector));
    let user = fresh_user();
    let res = client()
        .get(format!("{}/api/v1/transactions/user/{user}", app.base))
        .insert_header(("x-request-id", "fresh-trace"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let line = wait_for_line(&app.lines, "fresh-trace").await;
    let trace = line["span"]["trace_id"]
        .as_str()
        .expect("a trace id in the log line")
        .to_owned();
    assert_eq!(trace.len(), 32);
    let spans = spans_of(
        &received,
        &trace,
        &["GET /api/v1/transactions/user/{user_id}"],
    )
    .await;
    let root = spans
        .iter()
        .find(|s| s.name == "GET /api/v1/transactions/user/{user_id}")
        .unwrap();
    assert!(root.parent_span_id.is_empty(), "a new trace's root span");
    handle.stop(false).await;
}

#[actix_web::test]
async fn without_an_exporter_the_callers_trace_id_still_reaches_the_logs() {
    let app = start(None);
    let user = fresh_user();
    let res = client()
        .get(format!("{}/api/v1/transactions/user/{user}", app.base))
        .insert_header(("traceparent", format!("00-{TRACE}-{CALLER_SPAN}-01")))
        .insert_header(("x-request-id", "untraced"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let line = wait_for_line(&app.lines, "untraced").await;
    assert_eq!(line["span"]["trace_id"], TRACE);

    // A malformed traceparent is ignored: no trace id, and the request is served.
    let res = client()
        .get(format!("{}/api/v1/transactions/user/{user}", app.base))
        .insert_header(("traceparent", "00-zz-not-a-trace-01"))
        .insert_header(("x-request-id", "malformed"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let line = wait_for_line(&app.lines, "malformed").await;
    assert!(line["span"].get("trace_id").is_none(), "{line}");
}

#[actix_web::test]
async fn an_unsupported_otlp_protocol_is_refused_at_start_with_the_variable_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::helpers::fido_binary()
        .current_dir(dir.path())
        .env("PORT", "0")
        .env("API_KEYS", test_api_keys())
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{stderr}");
}

#[actix_web::test]
async fn a_request_the_sampler_drops_exports_nothing_and_is_logged_as_unsampled() {
    let (received, collector, handle) = receiver();
    // Only callers' decisions count: a ratio of 0 for new traces, the parent's otherwise.
    let app = start_with(
        Some(collector),
        &[
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ],
    );
    let client = client();
    let user = fresh_user();
    let dropped = "0af7651916cd43dd8448eb211c80319c";
    let kept = "5b8efff798038103d269b633813fc60c";
    // A request without a caller's trace: the ratio (0) decides at the door.
    let res = client
        .get(format!("{}/api/v1/transactions/user/{user}", app.base))
        .insert_header(("x-request-id", "fresh-root"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    for (trace, flags, request_id) in [(dropped, "00", "unsampled"), (kept, "01", "sampled")] {
        let res = client
            .get(format!("{}/api/v1/transactions/user/{user}", app.base))
            .insert_header(("traceparent", format!("00-{trace}-{CALLER_SPAN}-{flags}")))
            .insert_header(("x-request-id", request_id))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    // The sampled request's spans nest as always...
    let spans = spans_of(
        &received,
        kept,
        &[
            "GET /api/v1/transactions/user/{user_id}",
            "service.list_encoded",
        ],
    )
    .await;
    assert!(spans.len() >= 2, "{spans:?}");
    // ...and the dropped ones, sent first, exported nothing at all: every span received
    // is of the kept trace.
    assert!(
        received
            .lock()
            .unwrap()
            .iter()
            .all(|s| hex(&s.trace_id) == kept),
        "a span of an unsampled trace was exported"
    );
    let line = wait_for_line(&app.lines, "fresh-root").await;
    assert_eq!(line["span"]["trace_sampled"], false, "{line}");
    let line = wait_for_line(&app.lines, "unsampled").await;
    assert_eq!(line["span"]["trace_id"], dropped, "{line}");
    assert_eq!(line["span"]["trace_sampled"], false, "{line}");
    let line = wait_for_line(&app.lines, "sampled").await;
    assert_eq!(line["span"]["trace_sampled"], true, "{line}");
    handle.stop(false).await;
}
