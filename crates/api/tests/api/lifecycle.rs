//! Start-up, restart and shutdown, including the real binary.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use awc::http::StatusCode;

use crate::helpers::{fresh_user, spawn_app_in};

#[actix_web::test]
async fn data_survives_a_restart_on_the_same_folder() {
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let first = spawn_app_in(dir.path()).await;
    let created = first.create(&user, 42.42, "debit", None).await;
    first.stop().await;

    let second = spawn_app_in(dir.path()).await;
    let path = format!("/api/v1/transactions/{}", created["id"].as_str().unwrap());
    let r = second.get(&path).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.data(),
        &created,
        "same record, name still decryptable with the saved dev key"
    );
    assert_eq!(second.stats(&user, "").await.data()["total_debit"], 42.42);
}

fn binary() -> Command {
    crate::helpers::fido_binary()
}

#[test]
fn production_without_a_fernet_key_refuses_to_start_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .env("APP_ENV", "production")
        .env("PORT", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FERNET_KEY is required in production"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"));
    assert!(!dir.path().join("data/fernet.key").exists());
}

#[test]
fn an_invalid_setting_exits_non_zero_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value, named) in [
        ("PORT", "eighty", "port"),
        ("APP_ENV", "staging", "APP_ENV"),
        ("DB_URI", "postgres://u:hunter2@x/db", "DB_URI"),
        ("FIDO__CACHE__LIST_TTL_SECS", "soon", "list_ttl_secs"),
    ] {
        let out = binary()
            .current_dir(dir.path())
            .env(var, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(named), "{var}: {stderr}");
        assert!(!stderr.contains("hunter2"), "a secret was echoed: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn sigterm_stops_the_binary_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port, lines) = serve(binary(), dir.path());
    assert_live(port);

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The reader thread drains what the process wrote before it ended.
    let said = || {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("SIGTERM received"))
    };
    let drained = Instant::now() + Duration::from_secs(5);
    while !said() && Instant::now() < drained {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(said(), "{:?}", lines.lock().unwrap());
    assert!(
        dir.path().join("data/fido.db").exists(),
        "the embedded default was used"
    );
}

#[test]
fn help_version_and_unknown_arguments() {
    let help = binary().arg("--help").output().unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("Usage: fido"));
    let version = binary().arg("--version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("fido "));
    let unknown = binary().arg("--frobnicate").output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    for subcommand in [&["reencrypt", "--help"][..], &["keys", "create", "--help"]] {
        let help = binary().args(subcommand).output().unwrap();
        assert!(help.status.success(), "{subcommand:?} --help exits 0");
    }
    let nameless = binary().args(["keys", "create"]).output().unwrap();
    assert_eq!(nameless.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nameless.stderr).contains("<NAME>"));
}

#[actix_web::test]
async fn the_healthcheck_subcommand_follows_readiness() {
    let app = crate::helpers::spawn_app().await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().to_owned();
    // The probe blocks; run it off the test's runtime thread so the server keeps serving.
    let (ready, wildcard) = actix_web::rt::task::spawn_blocking(move || {
        let ready = binary()
            .current_dir(&cwd)
            .arg("healthcheck")
            .env("PORT", &port)
            .output()
            .unwrap();
        // A wildcard bind address is checked through loopback.
        let wildcard = binary()
            .current_dir(&cwd)
            .arg("healthcheck")
            .env("PORT", &port)
            .env("HOST", "0.0.0.0")
            .output()
            .unwrap();
        (ready, wildcard)
    })
    .await
    .unwrap();
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    assert!(wildcard.status.success());

    let closed = fido_testkit::servers::free_port().to_string();
    let down = binary()
        .current_dir(dir.path())
        .arg("healthcheck")
        .env("PORT", closed)
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("not ready"));
}

#[actix_web::test]
async fn the_healthcheck_fails_when_the_store_is_unreachable() {
    use std::sync::Arc;
    let down = Arc::new(fido_testkit::DownStore);
    let key = fido_cipher_fernet::FernetCipher::generate_key();
    let service = fido_domain::TransactionService::new(
        fido_domain::Ports {
            store: down.clone(),
            statistics: down.clone(),
            idempotency: down.clone(),
            rollups: down.clone(),
            history: down.clone(),
            events: down,
            cache: Arc::new(fido_domain::NoCache::default()),
            cipher: Arc::new(fido_cipher_fernet::FernetCipher::from_key_list(&key).unwrap()),
            clock: Arc::new(fido_domain::SystemClock),
            encoder: Arc::new(fido_http::JsonEncoder::new(
                fido_http::cursor::CursorCodec::from_secrets(&[key.as_str()]),
            )),
        },
        fido_domain::ServiceConfig::default(),
    );
    let dir = tempfile::tempdir().unwrap();
    let app =
        crate::helpers::spawn_service(&crate::helpers::settings_for(dir.path(), &[]), service)
            .await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    // The probe blocks; run it off the test's runtime thread so the server keeps serving.
    let out = actix_web::rt::task::spawn_blocking(move || {
        binary()
            .current_dir(dir.path())
            .arg("healthcheck")
            .env("PORT", port)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("503"));
}

#[test]
fn keys_create_prints_a_key_once_with_an_entry_that_holds_only_its_hash() {
    let out = binary()
        .args(["keys", "create", "billing", "--scopes", "read"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let key = lines
        .iter()
        .find(|l| l.starts_with("fido_"))
        .expect("the key");
    let entry = lines
        .iter()
        .find(|l| l.starts_with("billing:"))
        .expect("the entry");
    assert!(
        !entry.contains(key),
        "the configuration line must not contain the key"
    );
    let keys = fido_http::auth::ApiKeys::parse(entry).unwrap();
    let found = keys
        .authenticate(key)
        .expect("the entry authenticates the key");
    assert!(found.scopes.read && !found.scopes.write);
    let bad = binary()
        .args(["keys", "create", "x", "--scopes", "admin"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn production_without_api_keys_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = binary()
        .current_dir(dir.path())
        .env("APP_ENV", "production")
        .env("PORT", "0")
        .env(
            "FERNET_KEY",
            fido_cipher_fernet::FernetCipher::generate_key(),
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Said once, on a line of its own (the logs share standard error).
    assert_eq!(
        stderr
            .lines()
            .filter(|l| l.starts_with("fido: ") && l.contains("API_KEYS is required in production"))
            .count(),
        1,
        "one clear line: {stderr}"
    );
}

#[test]
fn a_metrics_address_in_use_is_named_with_its_setting() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let out = binary()
        .current_dir(dir.path())
        .env("PORT", "0")
        .env("FIDO__METRICS__ADDR", &address)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("FIDO__METRICS__ADDR") && stderr.contains(&address),
        "{stderr}"
    );
}

/// Starts `fido serve` from `cmd` on the data folder `dir`: the child, its port (read
/// from the "listening on" log line) and every log line it writes (standard error).
fn serve(
    mut cmd: Command,
    dir: &std::path::Path,
) -> (
    std::process::Child,
    u16,
    std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) {
    let mut child = cmd
        .current_dir(dir)
        .env("PORT", "0")
        .env("FIDO__LOG__FORMAT", "text")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let logs = child.stderr.take().unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(logs).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listening on http://127.0.0.1:").nth(1) {
                if let Some(port) = rest.split_whitespace().next().and_then(|p| p.parse().ok()) {
                    let _ = tx.send(port);
                }
            }
            sink.lock().unwrap().push(line);
        }
    });
    let port = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("no listening line; saw {:?}", lines.lock().unwrap()));
    (child, port, lines)
}

/// Issue 27: two instances on one host with the default metrics address both start; the
/// one that finds it taken says so once and runs without `/metrics`.
#[test]
fn a_second_instance_on_one_host_starts_without_metrics_and_says_so() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let default_metrics = || {
        let mut cmd = binary();
        cmd.env_remove("FIDO__METRICS__ADDR");
        cmd
    };
    let (mut first, first_port, _) = serve(default_metrics(), a.path());
    let (mut second, second_port, second_logs) = serve(default_metrics(), b.path());
    assert_live(first_port);
    assert_live(second_port);
    let warned = second_logs
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains("metrics off: 127.0.0.1:9464 is in use"))
        .count();
    assert_eq!(warned, 1, "said once: {:?}", second_logs.lock().unwrap());
    for child in [&mut first, &mut second] {
        let _ = child.kill();
        let _ = child.wait();
    }

    // An address that was set is required: taken, the start stops naming the setting.
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken = holder.local_addr().unwrap().to_string();
    let out = crate::helpers::fido_binary()
        .current_dir(a.path())
        .env("PORT", "0")
        .env("FIDO__METRICS__ADDR", &taken)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FIDO__METRICS__ADDR"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `GET /health/live` on a plain socket answers 200.
fn assert_live(port: u16) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("serving");
    stream
        .write_all(b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}
