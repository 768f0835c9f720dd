//! # fido-events-webhook — events to HTTP endpoints
//!
//! An [`EventPublisher`] per configured endpoint, signing as
//! [Standard Webhooks](https://www.standardwebhooks.com/) do: each event is one `POST` of
//! its JSON (`fido_events::Event`) with the headers
//!
//! - `webhook-id`: the event's id (the same on every retry: deduplicate by it),
//! - `webhook-timestamp`: seconds since the epoch when this attempt was signed,
//! - `webhook-signature`: `v1,<base64 of HMAC-SHA256(secret, "{id}.{timestamp}.{body}")>`.
//!
//! A `2xx` answer delivers the event; anything else (another status, a refused
//! connection, no answer within the timeout) fails it, and the relay retries it with
//! exponential backoff and jitter until the endpoint's retry horizon (default 24 h) has
//! passed, then records it as failed and goes on with the next. Events reach an endpoint one
//! at a time, in sequence order. Redirects are not followed.
//!
//! The HTTP client (`awc`, with rustls) runs on a thread of its own with its own small
//! runtime, shared by every endpoint of the process: one client per process.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use fido_domain::{EventPublisher, PublishError, PublishOutcome, StoredEvent, Timestamp};
use fido_events::Event;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

/// One endpoint.
#[derive(Clone)]
pub struct WebhookEndpoint {
    /// A short name, unique among the endpoints (the key of its delivery state).
    pub name: String,
    /// Where to `POST` (`https://…`, or `http://…` for a local receiver).
    pub url: String,
    /// The signing secret: `whsec_<base64>` as Standard Webhooks write it, or any other
    /// text (used as its bytes). Never logged.
    pub secret: String,
    /// How long one attempt may take (default 4 s).
    pub timeout: Duration,
    /// How long to keep retrying one event before giving up on it (default 24 h).
    pub retry_horizon: Duration,
}

impl WebhookEndpoint {
    /// Defaults for a name, URL and secret.
    pub fn new(name: impl Into<String>, url: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            secret: secret.into(),
            timeout: Duration::from_secs(4),
            retry_horizon: Duration::from_secs(24 * 3600),
        }
    }

    /// Checks the endpoint's rules, naming the first one broken (never the secret).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::Name);
        }
        if !deliverable(&self.url) {
            return Err(ConfigError::Url(self.name.clone()));
        }
        if signing_key(&self.secret).len() < 16 {
            return Err(ConfigError::Secret(self.name.clone()));
        }
        if self.timeout.is_zero() || self.timeout > Duration::from_secs(60) {
            return Err(ConfigError::Timeout);
        }
        Ok(())
    }
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"[redacted]")
            .field("timeout", &self.timeout)
            .field("retry_horizon", &self.retry_horizon)
            .finish()
    }
}

/// An endpoint setting that is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The name is empty or has characters other than letters, digits, `-` and `_`.
    #[error("a webhook's name must be letters, digits, - and _")]
    Name,
    /// The URL is not an absolute http(s) URL with a host.
    #[error(
        "webhook {0} (events.webhook_url or events.webhooks_file): the URL must be an absolute https:// or http:// URL with a host"
    )]
    Url(String),
    /// The secret is too short.
    #[error("webhook {0}: the secret must hold at least 16 bytes")]
    Secret(String),
    /// The timeout is zero or over a minute.
    #[error("events.webhook_timeout_ms must be between 1 and 60000")]
    Timeout,
}

/// Whether `url` can be delivered to: it parses as an absolute `http`/`https` URL (the
/// scheme in any case, as RFC 3986 allows) with a non-empty host. Checked at start, so a
/// typo stops the process naming the setting instead of failing every delivery for a day.
fn deliverable(url: &str) -> bool {
    let Ok(uri) = url.parse::<awc::http::Uri>() else {
        return false;
    };
    let scheme_ok = uri
        .scheme_str()
        .is_some_and(|s| s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https"));
    let host_ok = uri.host().is_some_and(|h| !h.is_empty() && h != "[]");
    scheme_ok && host_ok
}

/// The key bytes of a secret: the base64 part of `whsec_…`, else the text's bytes.
fn signing_key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix("whsec_")
        .and_then(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// The `webhook-signature` value of a message: `v1,<base64 HMAC-SHA256>`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(&signing_key(secret)) {
        Ok(mac) => mac,
        // HMAC takes keys of any length: unreachable, but never a panic.
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

struct Request {
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    timeout: Duration,
    reply: oneshot::Sender<Result<u16, String>>,
}

/// The process's webhook HTTP client: a thread with its own runtime. Cheap to clone.
#[derive(Clone, Debug)]
pub struct WebhookClient {
    queue: mpsc::UnboundedSender<Request>,
}

impl WebhookClient {
    /// Starts the client's thread.
    pub fn start() -> std::io::Result<Self> {
        let (queue, mut requests) = mpsc::unbounded_channel::<Request>();
        std::thread::Builder::new()
            .name("fido-webhooks".into())
            .spawn(move || {
                actix_rt::System::new().block_on(async move {
                    let client = awc::Client::builder()
                        .disable_redirects()
                        .add_default_header(("user-agent", "fido-webhooks/1"))
                        .finish();
                    while let Some(request) = requests.recv().await {
                        let client = client.clone();
                        actix_rt::spawn(async move {
                            let mut call = client
                                .post(&request.url)
                                .timeout(request.timeout)
                                .content_type("application/json");
                            for (name, value) in &request.headers {
                                call = call.insert_header((*name, value.as_str()));
                            }
                            let answer = match call.send_body(request.body).await {
                                Ok(response) => Ok(response.status().as_u16()),
                                Err(e) => Err(e.to_string()),
                            };
                            let _ = request.reply.send(answer);
                        });
                    }
                });
            })?;
        Ok(Self { queue })
    }

    async fn post(
        &self,
        url: &str,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<u16, String> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request {
                url: url.to_owned(),
                headers,
                body,
                timeout,
                reply,
            })
            .map_err(|_| "the webhook client has stopped".to_owned())?;
        // The client's own timeout answers first; this one only guards against a stuck
        // client thread.
        match tokio::time::timeout(timeout + Duration::from_secs(1), answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the webhook client dropped the request".to_owned()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }
}

/// Delivers events to one endpoint.
#[derive(Debug)]
pub struct WebhookPublisher {
    endpoint: WebhookEndpoint,
    /// `webhook:<name>`: the key of this endpoint's cursor.
    key: String,
    client: WebhookClient,
}

impl WebhookPublisher {
    /// A publisher for `endpoint` over the process's `client`.
    pub fn new(endpoint: WebhookEndpoint, client: WebhookClient) -> Self {
        Self {
            key: format!("webhook:{}", endpoint.name),
            endpoint,
            client,
        }
    }

    async fn deliver(&self, stored: &StoredEvent) -> Result<(), PublishError> {
        let event = Event::from_stored(stored)
            .ok_or_else(|| PublishError(format!("event {} has no transaction", stored.sequence)))?;
        let body = serde_json::to_vec(&event)
            .map_err(|e| PublishError(format!("cannot encode an event: {e}")))?;
        let timestamp = Timestamp::now().as_millis() / 1000;
        let signature = sign(&self.endpoint.secret, &event.id, timestamp, &body);
        let headers = vec![
            ("webhook-id", event.id.clone()),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ];
        match self
            .client
            .post(&self.endpoint.url, headers, body, self.endpoint.timeout)
            .await
        {
            Ok(status) if (200..300).contains(&status) => Ok(()),
            Ok(status) => Err(PublishError(format!(
                "webhook {} answered {status}",
                self.endpoint.name
            ))),
            Err(e) => Err(PublishError(format!(
                "webhook {} failed: {e}",
                self.endpoint.name
            ))),
        }
    }
}

#[async_trait]
impl EventPublisher for WebhookPublisher {
    fn name(&self) -> &str {
        &self.key
    }

    fn retry_horizon(&self) -> Option<Duration> {
        Some(self.endpoint.retry_horizon)
    }

    fn max_batch(&self) -> usize {
        // One event per call: each call then ends within one timeout, well inside the
        // relay's lease, however slow the endpoint (the relay goes again at once while
        // events wait).
        1
    }

    async fn publish(&self, events: &[StoredEvent]) -> PublishOutcome {
        for (delivered, event) in events.iter().enumerate() {
            if let Err(error) = self.deliver(event).await {
                return PublishOutcome {
                    delivered,
                    error: Some(error),
                };
            }
        }
        PublishOutcome {
            delivered: events.len(),
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_follow_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            sign(secret, id, 1_614_265_330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn endpoints_are_checked_without_quoting_the_secret() {
        let mut e = WebhookEndpoint::new("orders", "https://example.com/hook", "short");
        let err = e.validate().unwrap_err();
        assert_eq!(err, ConfigError::Secret("orders".into()));
        assert!(!format!("{e:?}").contains("short"));
        e.secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into();
        assert_eq!(e.validate(), Ok(()));
        e.url = "ftp://example.com".into();
        assert!(e.validate().is_err());
    }

    #[test]
    fn a_url_without_a_host_or_that_does_not_parse_is_refused_at_start() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        for bad in [
            "http://",
            "https://",
            "http://[::1",
            "http:///path",
            "example.com/hook",
            "",
        ] {
            let e = WebhookEndpoint::new("orders", bad, secret);
            assert_eq!(
                e.validate(),
                Err(ConfigError::Url("orders".into())),
                "{bad:?}"
            );
        }
        for good in [
            "HTTP://example.com/hook",
            "https://example.com:8443/a?b=c",
            "http://127.0.0.1:9000/hook",
            "http://[::1]:9000/hook",
        ] {
            assert_eq!(
                WebhookEndpoint::new("orders", good, secret).validate(),
                Ok(()),
                "{good:?}"
            );
        }
    }
}
