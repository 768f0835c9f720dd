//! Spawns the real app on 127.0.0.1:0 with its own temporary data folder, and talks HTTP
//! to it. Logs of every app in this process are captured (see [`captured_logs`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::dev::ServerHandle;
use awc::http::StatusCode;
use fido_api::{Application, Settings};
use serde_json::{json, Value};

pub const USER: &str = "65e25a6bfb249dcbfbf00b93";
/// The key every helper request sends (both scopes).
pub const FULL_KEY: &str = "fido_test_full_access_key";
/// A key with the read scope only.
pub const READ_KEY: &str = "fido_test_read_only_key";
/// A key with the write scope only.
pub const WRITE_KEY: &str = "fido_test_write_only_key";

/// `API_KEYS` for the test keys: hashes only, as in production.
pub fn test_api_keys() -> String {
    use fido_http::auth::hash_key;
    format!(
        "tests:{}:read+write,reader:{}:read,writer:{}:write",
        hash_key(FULL_KEY),
        hash_key(READ_KEY),
        hash_key(WRITE_KEY)
    )
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        if std::env::var_os("TEST_LOG").is_some() {
            std::io::stderr().write_all(buf)?;
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Capture::default();
        let writer = capture.clone();
        // Everything our code logs, at the most verbose level, so a leak cannot hide.
        let _ = tracing_subscriber::fmt()
            .with_env_filter("trace,actix_server=info,actix_http=debug,mio=info")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        capture
    })
}

/// Every log line written so far in this test process.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&capture().0.lock().expect("log buffer")).into_owned()
}

/// The real `fido` binary with a clean environment (only `PATH`), no standard input, and
/// no `/metrics` listener (tests run side by side; the default port would clash).
pub fn fido_binary() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_fido"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("FIDO__METRICS__ADDR", "")
        .stdin(std::process::Stdio::null());
    cmd
}

pub struct TestApp {
    pub base: String,
    /// Where `/metrics` answers, when the test switched metrics on.
    pub metrics_port: Option<u16>,
    pub settings: Settings,
    pub client: awc::Client,
    pub data_dir: PathBuf,
    handle: ServerHandle,
    _dir: Option<Arc<tempfile::TempDir>>,
}

/// Which store the HTTP suite runs on: the embedded one, or MongoDB when
/// `FIDO_TEST_STORE=mongodb` (then `MONGODB_URI` names the server; `make test` runs the
/// suite both ways).
pub fn on_mongodb() -> bool {
    std::env::var("FIDO_TEST_STORE").as_deref() == Ok("mongodb")
}

/// Whether the HTTP suite uses Redis as its cache (`FIDO_TEST_CACHE=redis`, with the
/// server in `REDIS_URL`) instead of the in-process one.
pub fn on_redis() -> bool {
    std::env::var("FIDO_TEST_CACHE").as_deref() == Ok("redis")
}

/// A name derived from the data folder: isolated per test, the same after a restart.
fn folder_tag(data_dir: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut h);
    format!("{:016x}", h.finish())
}

pub fn settings_for(data_dir: &Path, extra: &[(&str, &str)]) -> Settings {
    let mut vars: HashMap<String, String> = HashMap::new();
    if on_mongodb() {
        let uri = std::env::var("MONGODB_URI").expect("FIDO_TEST_STORE=mongodb needs MONGODB_URI");
        vars.insert("DB_URI".into(), uri);
    } else {
        vars.insert(
            "DB_URI".into(),
            format!("sqlite://{}/fido.db", data_dir.display()),
        );
    }
    if on_redis() {
        let url = std::env::var("REDIS_URL").expect("FIDO_TEST_CACHE=redis needs REDIS_URL");
        vars.insert("REDIS_URL".into(), url);
    }
    vars.insert("PORT".into(), "0".into());
    vars.insert("API_KEYS".into(), test_api_keys());
    for (k, v) in extra {
        vars.insert((*k).into(), (*v).into());
    }
    let mut settings =
        Settings::load_from(Path::new("/nonexistent"), |k| vars.get(k).cloned(), false)
            .expect("test settings");
    settings.security.data_dir = data_dir.to_owned();
    if on_mongodb() {
        settings.store.database = Some(format!("fido_http_{}", folder_tag(data_dir)));
    }
    settings.cache.redis_key_prefix = format!("fido_http_{}", folder_tag(data_dir));
    settings.server.workers = Some(2);
    // The rate limit has its own test; elsewhere it would only slow bursts of requests.
    settings.security.rate_limit_per_second = 0;
    settings.server.shutdown_timeout_secs = 5;
    // Apps run side by side: no /metrics listener unless a test asks for one.
    settings.metrics.addr = String::new();
    settings
}

pub async fn spawn_app() -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let mut app = spawn_app_in(dir.path()).await;
    app._dir = Some(dir);
    app
}

/// An app on an existing data folder (to test persistence across restarts).
pub async fn spawn_app_in(data_dir: &Path) -> TestApp {
    spawn_with(settings_for(data_dir, &[])).await
}

pub async fn spawn_with(settings: Settings) -> TestApp {
    capture();
    let app = Application::build(&settings).await.expect("app builds");
    start(app, &settings)
}

/// The real HTTP stack around a service wired to custom (e.g. mock) ports.
pub async fn spawn_service(
    settings: &Settings,
    service: fido_domain::TransactionService,
) -> TestApp {
    capture();
    let app = Application::with_service(settings, service).expect("app builds");
    start(app, settings)
}

fn start(app: Application, settings: &Settings) -> TestApp {
    let port = app.port();
    let metrics_port = app.metrics_port();
    let handle = app.handle();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        metrics_port,
        settings: settings.clone(),
        client: awc::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .disable_redirects()
            .add_default_header(("authorization", format!("Bearer {FULL_KEY}")))
            .finish(),
        data_dir: settings.security.data_dir.clone(),
        handle,
        _dir: None,
    }
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: awc::http::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// The names of the fields a 422 reports.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl TestApp {
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A response as a [`Reply`] (the body parsed as JSON, or kept as text).
    pub async fn read<S>(mut res: awc::ClientResponse<S>) -> Reply
    where
        S: futures_util::Stream<Item = Result<actix_web::web::Bytes, awc::error::PayloadError>>
            + Unpin,
    {
        let bytes = res.body().limit(4 * 1024 * 1024).await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Reply {
            status: res.status(),
            headers: res.headers().clone(),
            body,
        }
    }

    /// `get` for a path built on the spot.
    pub async fn get_owned(&self, path: String) -> Reply {
        self.get(&path).await
    }

    /// Waits (up to 10 s) until every committed event is in the feed, as `/health/ready`
    /// tells (`feed.unsequenced`): on MongoDB the relay numbers events just after their
    /// commits; the embedded store numbers them at commit.
    pub async fn settled(&self) {
        self.settled_within(std::time::Duration::from_secs(10))
            .await;
    }

    /// [`TestApp::settled`] with a deadline of its own.
    pub async fn settled_within(&self, within: std::time::Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let r = self.get("/health/ready").await;
            let waiting = r.body["feed"]["unsequenced"].as_u64().unwrap_or(0);
            if waiting == 0 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{waiting} events still wait for their sequence: {}",
                r.body
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        Self::read(self.client.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        Self::read(
            self.client
                .delete(self.url(path))
                .send()
                .await
                .expect("DELETE"),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        Self::read(
            self.client
                .post(self.url(path))
                .send_json(body)
                .await
                .expect("POST"),
        )
        .await
    }

    pub async fn patch_json(&self, path: &str, body: &Value) -> Reply {
        Self::read(
            self.client
                .patch(self.url(path))
                .send_json(body)
                .await
                .expect("PATCH"),
        )
        .await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<Vec<u8>>,
    ) -> Reply {
        let mut req = self.client.post(self.url(path));
        if let Some(ct) = content_type {
            req = req.insert_header(("content-type", ct));
        }
        Self::read(req.send_body(body.into()).await.expect("POST")).await
    }

    /// Creates a transaction; panics unless 201. Returns the resource as reads show it.
    pub async fn create(&self, user: &str, amount: f64, kind: &str, date: Option<&str>) -> Value {
        let mut body = json!({"user_id": user, "full_name": "Ada Lovelace",
                              "transaction_amount": amount, "transaction_type": kind});
        if let Some(d) = date {
            body["transaction_date"] = json!(d);
        }
        let reply = self.post_json("/api/v1/transactions", &body).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "create failed: {}",
            reply.body
        );
        // The resource as reads show it: without the deprecated `_id` a create adds (its
        // own tests check it), so the two can be compared.
        let mut data = reply.data().clone();
        assert_eq!(data["_id"], data["id"], "a create answers _id beside id");
        if let Some(fields) = data.as_object_mut() {
            fields.remove("_id");
        }
        data
    }

    pub async fn stats(&self, user: &str, query: &str) -> Reply {
        self.get(&format!("/api/v1/analytics/transactions/{user}{query}"))
            .await
    }

    pub async fn list(&self, user: &str, query: &str) -> Reply {
        self.get(&format!("/api/v1/transactions/user/{user}{query}"))
            .await
    }

    /// The bodies of `user`'s list pages for `lists`, then of their statistics for
    /// `stats` (query strings), in that order: what a cached read answers.
    pub async fn bodies(&self, user: &str, lists: &[&str], stats: &[&str]) -> Vec<Value> {
        let mut out = Vec::with_capacity(lists.len() + stats.len());
        for q in lists {
            out.push(self.list(user, q).await.body);
        }
        for q in stats {
            out.push(self.stats(user, q).await.body);
        }
        out
    }
}

/// A user id no other test uses.
pub fn fresh_user() -> String {
    fido_domain::ObjectId::generate(fido_domain::Timestamp::now()).to_hex()
}

impl TestApp {
    /// The record as the configured store holds it (name still encrypted).
    pub async fn stored(&self, id: &str) -> fido_domain::TransactionRecord {
        let store = fido_api::wiring::open_store(&self.settings)
            .await
            .expect("store opens");
        let id = fido_domain::TransactionId::parse(id).expect("id");
        store
            .store
            .get(id)
            .await
            .expect("store answers")
            .expect("record exists")
    }
}
