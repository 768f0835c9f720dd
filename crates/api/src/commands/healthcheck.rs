//! `fido healthcheck`: asks a running instance's `/health/ready` and exits 0 when it answers
//! 200. Made for container health checks, so it needs no shell, `curl` or `wget` in the
//! image: one HTTP/1.1 request over a plain TCP socket, bounded in time.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use std::process::ExitCode;

use super::{fail, say};
use crate::error::{Error, Result};
use crate::settings::Settings;

/// Where to reach the instance these settings describe: a wildcard bind address is
/// reached through loopback.
pub fn target(settings: &Settings) -> String {
    let host = match settings.server.host.as_str() {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        other => other,
    };
    format!("{host}:{}", settings.server.port)
}

/// GETs `/health/ready` from `address` (`host:port`): the status line's code when it
/// answered at all.
pub fn probe(address: &str, timeout: Duration) -> Result<u16> {
    let io = |source| Error::Probe {
        address: address.to_owned(),
        source,
    };
    let addr: SocketAddr = address
        .to_socket_addrs()
        .map_err(io)?
        .next()
        .ok_or_else(|| io(std::io::ErrorKind::NotFound.into()))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(io)?;
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let request = format!(
        "GET /health/ready HTTP/1.1\r\nHost: {address}\r\nUser-Agent: fido-healthcheck\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    // The status line is all we need; read a little more than it can be.
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).map_err(io)?;
    let text = String::from_utf8_lossy(&head[..n]);
    text.strip_prefix("HTTP/1.1 ")
        .or_else(|| text.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| Error::NotHttp {
            address: address.to_owned(),
        })
}

/// Runs the check for `settings`: true when the instance answered 200.
pub fn check(settings: &Settings) -> bool {
    let address = target(settings);
    match probe(&address, Duration::from_secs(3)) {
        Ok(200) => {
            say(&format!("ready: {address} answered 200"));
            true
        }
        Ok(code) => {
            eprintln!("not ready: {address} answered {code}");
            false
        }
        Err(e) => {
            eprintln!("not ready: {}", e.chain());
            false
        }
    }
}

/// `fido healthcheck`.
pub fn run() -> ExitCode {
    match Settings::load() {
        Ok(settings) if check(&settings) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => fail(&e),
    }
}
