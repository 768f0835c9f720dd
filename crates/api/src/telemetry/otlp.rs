//! Trace export over OTLP/HTTP (protobuf), configured by the standard `OTEL_*` variables.
//!
//! Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is
//! set (and `OTEL_SDK_DISABLED` is not `true`, and `OTEL_TRACES_EXPORTER` is not
//! `none`). The SDK's batch processor exports from a thread of its own; its requests go
//! through [`AwcClient`], the actix HTTP client already in the tree, run on one more
//! thread — so no export ever blocks a runtime serving requests, and the tree carries no
//! second HTTP stack (docs/decisions/0018).

use std::time::Duration;

use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanProcessor};
use opentelemetry_sdk::Resource;
use tokio::sync::{mpsc, oneshot};

use crate::Error;

/// Whether the standard variables ask for traces.
pub fn requested(var: impl Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let no_exporter = var("OTEL_TRACES_EXPORTER")
        .is_some_and(|v| v.split(',').all(|e| e.trim().eq_ignore_ascii_case("none")));
    !disabled
        && !no_exporter
        && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The export timeout: `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`
/// (milliseconds), else the specification's 10 s.
fn timeout() -> Duration {
    env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
        .or_else(|| env("OTEL_EXPORTER_OTLP_TIMEOUT"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// Builds the batch exporter from the environment (`OTEL_EXPORTER_OTLP_*`, and
/// `OTEL_BSP_*` for the batches); `service_version` goes into the resource (with
/// `OTEL_SERVICE_NAME`, default `fido`, and `OTEL_RESOURCE_ATTRIBUTES`).
pub fn processor(service_version: &str) -> Result<BatchSpanProcessor, Error> {
    // Only OTLP/HTTP with protobuf is built in: say so rather than export nothing.
    let protocol =
        env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL").or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"));
    if let Some(p) = protocol.filter(|p| !p.trim().is_empty()) {
        if p.trim() != "http/protobuf" {
            return Err(Error::Config(
                "OTEL_EXPORTER_OTLP_PROTOCOL: only http/protobuf is supported (point it at the collector's HTTP port, 4318)".into(),
            ));
        }
    }
    let timeout = timeout();
    let client = AwcClient::start(timeout)
        .map_err(|e| Error::Config(format!("cannot start the OTLP client thread: {e}")))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_timeout(timeout)
        .with_http_client(client)
        .build()
        // The builder's message names the variable at fault (an invalid endpoint).
        .map_err(|e| Error::Config(format!("OTLP trace exporter: {e}")))?;
    let mut resource = Resource::builder().with_attribute(opentelemetry::KeyValue::new(
        "service.version",
        service_version.to_owned(),
    ));
    if env("OTEL_SERVICE_NAME").is_none_or(|v| v.trim().is_empty()) {
        resource = resource.with_service_name("fido");
    }
    let mut processor = BatchSpanProcessor::builder(exporter).build();
    processor.set_resource(&resource.build());
    Ok(processor)
}

struct Call {
    request: Request<Bytes>,
    reply: oneshot::Sender<Result<Response<Bytes>, String>>,
}

/// OTLP's HTTP client: awc on a thread with its own actix runtime. The SDK's export
/// thread hands it a request and waits on a channel (runtime-agnostic).
#[derive(Clone, Debug)]
pub struct AwcClient {
    queue: mpsc::UnboundedSender<Call>,
}

impl AwcClient {
    /// Starts the client's thread.
    pub fn start(timeout: Duration) -> std::io::Result<Self> {
        let (queue, mut calls) = mpsc::unbounded_channel::<Call>();
        std::thread::Builder::new()
            .name("fido-otlp".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let client = awc::Client::builder()
                        .disable_redirects()
                        .timeout(timeout)
                        .add_default_header(("user-agent", "fido-otlp/1"))
                        .finish();
                    while let Some(call) = calls.recv().await {
                        let client = client.clone();
                        actix_rt::spawn(async move {
                            let answer = send(&client, call.request).await;
                            let _ = call.reply.send(answer);
                        });
                    }
                });
            })?;
        Ok(Self { queue })
    }
}

async fn send(client: &awc::Client, request: Request<Bytes>) -> Result<Response<Bytes>, String> {
    let (parts, body) = request.into_parts();
    let method = awc::http::Method::from_bytes(parts.method.as_str().as_bytes())
        .map_err(|e| e.to_string())?;
    let mut call = client.request(method, parts.uri.to_string());
    for (name, value) in &parts.headers {
        call = call.insert_header((name.as_str(), value.as_bytes()));
    }
    let mut response = call.send_body(body).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    // A collector's answer is small (a partial-success message at most).
    let body = response
        .body()
        .limit(1 << 20)
        .await
        .map_err(|e| e.to_string())?;
    Response::builder()
        .status(status)
        .body(body)
        .map_err(|e| e.to_string())
}

#[async_trait::async_trait]
impl HttpClient for AwcClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Call { request, reply })
            .map_err(|_| "the OTLP client thread has stopped")?;
        // awc's own timeout bounds the wait; a dropped reply means the thread is gone.
        match answer.await {
            Ok(result) => result.map_err(Into::into),
            Err(_) => Err("the OTLP client dropped the request".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::requested;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn traces_are_on_only_when_an_endpoint_is_set_and_nothing_turns_them_off() {
        assert!(!requested(vars(&[])));
        assert!(!requested(vars(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")])));
        assert!(requested(vars(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://c:4318"
        )])));
        assert!(requested(vars(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://c:4318/v1/traces"
        )])));
        assert!(!requested(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_SDK_DISABLED", "true")
        ])));
        assert!(!requested(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "none")
        ])));
        assert!(requested(vars(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_TRACES_EXPORTER", "otlp")
        ])));
    }
}
