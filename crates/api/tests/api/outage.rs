//! The store goes away and comes back: 503s within the configured timeouts (never a hang,
//! never a 500), readiness 503, then recovery without a restart. Runs its own MongoDB-
//! compatible test server so it can stop it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{fresh_user, settings_for, spawn_with};

/// The test server's launcher: `FIDO_SECANTUSD`, else the venv `make test` creates.
fn launcher() -> Option<PathBuf> {
    let path = std::env::var_os("FIDO_SECANTUSD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/secantusd-py")
        });
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no test server at {path:?}"
    );
    eprintln!("skipping: no MongoDB-compatible test server at {path:?} (run `make test`)");
    None
}

struct Server {
    child: Child,
}

impl Server {
    fn start(launcher: &PathBuf, port: u16) -> Self {
        let child = Command::new(launcher)
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--storage-path",
                ":memory:",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("test server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "test server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[actix_web::test]
async fn the_store_down_is_503_and_the_service_recovers_by_itself() {
    let Some(launcher) = launcher() else { return };
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Server::start(&launcher, port);

    let dir = tempfile::tempdir().unwrap();
    let uri =
        format!("mongodb://127.0.0.1:{port}/fido_outage?directConnection=true&retryWrites=false");
    let mut settings = settings_for(dir.path(), &[("DB_URI", uri.as_str())]);
    settings.store.database = None;
    settings.store.mongodb_server_selection_timeout_ms = 1_000;
    settings.store.mongodb_connect_timeout_ms = 1_000;
    settings.store.mongodb_operation_timeout_ms = 2_000;
    let app = spawn_with(settings).await;
    let user = fresh_user();
    let body = json!({"user_id": user, "full_name": "Ada", "transaction_amount": 1, "transaction_type": "credit"});
    assert_eq!(
        app.post_json("/api/v1/transactions", &body).await.status,
        StatusCode::CREATED
    );

    server.stop();
    let started = Instant::now();
    let r = app.post_json("/api/v1/transactions", &body).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(
        app.list(&user, "?limit=1&page=7").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        app.get("/health/ready").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);

    let _server = Server::start(&launcher, port);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = app.post_json("/api/v1/transactions", &body).await;
        if r.status == StatusCode::CREATED {
            break;
        }
        assert_eq!(
            r.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "never anything but 503 while recovering"
        );
        assert!(Instant::now() < deadline, "did not recover within 30 s");
        actix_web::rt::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(app.get("/health/ready").await.status, StatusCode::OK);
    println!("recovered after {:?}", started.elapsed());
}
