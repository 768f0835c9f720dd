//! Throwaway servers for tests that must stop and restart their dependency (outage
//! tests): a private `redis-server` or MongoDB-compatible test server on a free port.
//!
//! Locally a missing server program skips the test (`None`, with a note on stderr); under
//! `CI=true` it is a failure.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (free when asked; tests start their server right away).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Which server to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `redis-server`, without persistence.
    Redis,
    /// The pinned MongoDB-compatible test server, in memory.
    MongoDb,
}

/// A server process that is killed when dropped.
#[derive(Debug)]
pub struct TestServer {
    kind: Kind,
    program: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn program(kind: Kind) -> Option<PathBuf> {
    let candidate = match kind {
        Kind::Redis => std::env::var_os("FIDO_REDIS_SERVER")
            .map_or_else(|| PathBuf::from("redis-server"), PathBuf::from),
        Kind::MongoDb => std::env::var_os("FIDO_SECANTUSD").map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/secantusd-py"),
            PathBuf::from,
        ),
    };
    let found = if candidate.components().count() == 1 {
        Command::new(&candidate)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    } else {
        candidate.exists()
    };
    if found {
        return Some(candidate);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {candidate:?} is missing: run the tests through `make test`"
    );
    eprintln!("skipping: {candidate:?} is missing (`make test` installs it)");
    None
}

impl TestServer {
    /// Starts a server on a free port; `None` skips the test locally.
    pub fn start(kind: Kind) -> Option<Self> {
        let mut server = Self {
            kind,
            program: program(kind)?,
            port: free_port(),
            child: None,
        };
        server.restart();
        Some(server)
    }

    /// The port it listens on (the same across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL clients use.
    pub fn url(&self) -> String {
        match self.kind {
            Kind::Redis => format!("redis://127.0.0.1:{}", self.port),
            Kind::MongoDb => format!(
                "mongodb://127.0.0.1:{}/?directConnection=true&retryWrites=false",
                self.port
            ),
        }
    }

    /// Kills the server and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port.to_string();
        let mut command = Command::new(&self.program);
        match self.kind {
            Kind::Redis => command.args([
                "--port",
                &port,
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]),
            Kind::MongoDb => command.args([
                "--host",
                "127.0.0.1",
                "--port",
                &port,
                "--storage-path",
                ":memory:",
            ]),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("test server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "{:?} did not listen on {}",
                self.kind,
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}
