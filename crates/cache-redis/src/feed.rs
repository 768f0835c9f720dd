//! The invalidation feed: a connection of our own on which Redis publishes what changed.
//!
//! The lookup connection turns tracking on with `REDIRECT` to this connection, which is
//! subscribed to `__redis__:invalidate` (RESP2 Pub/Sub). Owning the socket lets a hit
//! read whatever Redis has already sent, without waiting for a task to be scheduled:
//! before the near cache answers from memory, it drains the feed without blocking.
//!
//! Only the few replies of the handshake (`AUTH`, `CLIENT ID`, `SUBSCRIBE`) and Pub/Sub
//! messages are ever read here, so the parser knows RESP2's five types and nothing else.

use std::io;
use std::sync::{Mutex, PoisonError};

use deadpool_redis::redis::{ConnectionAddr, ConnectionInfo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The channel client tracking publishes on in RESP2.
const CHANNEL: &[u8] = b"__redis__:invalidate";

/// The largest message accepted: an invalidation names keys, never megabytes of them.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

/// One RESP2 value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resp {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Integer(i64),
    /// A bulk string; `None` is the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// An array; `None` is the null array.
    Array(Option<Vec<Resp>>),
}

/// What an invalidation message asks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Invalidation {
    /// These keys changed.
    Keys(Vec<Vec<u8>>),
    /// Everything may have changed (a flush of the database).
    All,
}

/// How deeply arrays may nest (an invalidation message nests two deep).
const MAX_DEPTH: usize = 8;

/// Parses one value at the start of `buf`: the value and the bytes it took, `Ok(None)`
/// when more bytes are needed.
pub(crate) fn parse(buf: &[u8]) -> io::Result<Option<(Resp, usize)>> {
    parse_nested(buf, 0)
}

fn parse_nested(buf: &[u8], depth: usize) -> io::Result<Option<(Resp, usize)>> {
    if depth > MAX_DEPTH {
        return Err(bad("arrays nested deeper than expected"));
    }
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return Ok(None);
    };
    let (kind, line) = match buf.split_first() {
        Some((kind, _)) => (*kind, &buf[1..end]),
        None => return Ok(None),
    };
    let after = end + 2;
    let number = || -> io::Result<i64> {
        std::str::from_utf8(line)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("a length or integer that is not a number"))
    };
    let length = |n: i64| -> io::Result<Option<usize>> {
        if n < 0 {
            return Ok(None);
        }
        let n = usize::try_from(n).map_err(|_| bad("a length out of range"))?;
        if n > MAX_MESSAGE {
            return Err(bad("a message larger than expected"));
        }
        Ok(Some(n))
    };
    Ok(match kind {
        b'+' => Some((Resp::Simple(line.to_vec()), after)),
        b'-' => Some((Resp::Error(line.to_vec()), after)),
        b':' => Some((Resp::Integer(number()?), after)),
        b'$' => match length(number()?)? {
            None => Some((Resp::Bulk(None), after)),
            Some(n) => {
                let Some(body) = buf.get(after..after + n) else {
                    return Ok(None);
                };
                if buf.get(after + n..after + n + 2).is_none() {
                    return Ok(None);
                }
                Some((Resp::Bulk(Some(body.to_vec())), after + n + 2))
            }
        },
        b'*' => match length(number()?)? {
            None => Some((Resp::Array(None), after)),
            Some(n) => {
                let mut items = Vec::with_capacity(n.min(1024));
                let mut at = after;
                for _ in 0..n {
                    match parse_nested(&buf[at..], depth + 1)? {
                        Some((item, used)) => {
                            items.push(item);
                            at += used;
                        }
                        None => return Ok(None),
                    }
                }
                Some((Resp::Array(Some(items)), at))
            }
        },
        _ => return Err(bad("a reply of an unknown type")),
    })
}

/// The invalidation a Pub/Sub message carries; `None` for any other message (the
/// subscription's confirmation).
pub(crate) fn invalidation(message: Resp) -> Option<Invalidation> {
    let Resp::Array(Some(parts)) = message else {
        return None;
    };
    let mut parts = parts.into_iter();
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Resp::Bulk(Some(kind))), Some(Resp::Bulk(Some(channel))), Some(payload))
            if kind == b"message" && channel == CHANNEL =>
        {
            Some(match payload {
                Resp::Array(Some(keys)) => {
                    let mut names = Vec::with_capacity(keys.len());
                    for key in keys {
                        match key {
                            Resp::Bulk(Some(name)) | Resp::Simple(name) => names.push(name),
                            // Not a key name: forget everything rather than guess.
                            _ => return Some(Invalidation::All),
                        }
                    }
                    Invalidation::Keys(names)
                }
                // A null payload is a flush; anything else is not understood, so it is
                // taken as one too.
                _ => Invalidation::All,
            })
        }
        _ => None,
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("Redis sent {what}"))
}

/// The socket during the handshake, TCP or Unix.
enum Socket {
    Tcp(tokio::net::TcpStream),
    Unix(tokio::net::UnixStream),
}

impl Socket {
    async fn open(info: &ConnectionInfo) -> io::Result<Self> {
        match info.addr() {
            ConnectionAddr::Tcp(host, port) => {
                let stream = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                stream.set_nodelay(true)?;
                Ok(Self::Tcp(stream))
            }
            ConnectionAddr::Unix(path) => {
                Ok(Self::Unix(tokio::net::UnixStream::connect(path).await?))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the near cache needs a plain TCP or Unix socket address",
            )),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.write_all(bytes).await,
            Self::Unix(s) => s.write_all(bytes).await,
        }
    }

    async fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read_buf(buf).await,
            Self::Unix(s) => s.read_buf(buf).await,
        }
    }

    async fn readable(&self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.readable().await,
            Self::Unix(s) => s.readable().await,
        }
    }

    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.try_read(buf),
            Self::Unix(s) => s.try_read(buf),
        }
    }

    /// A second handle on the same socket (a duplicated descriptor), for reads that always
    /// reach the kernel: the runtime's own reads answer "would block" from its readiness
    /// state until its reactor has run, which is just what a hit cannot wait for. Both
    /// handles stay non-blocking (the flag belongs to the socket, not the descriptor).
    fn with_plain(self) -> io::Result<(Self, Plain)> {
        Ok(match self {
            Self::Tcp(s) => {
                let std = s.into_std()?;
                let plain = std.try_clone()?;
                (
                    Self::Tcp(tokio::net::TcpStream::from_std(std)?),
                    Plain::Tcp(plain),
                )
            }
            Self::Unix(s) => {
                let std = s.into_std()?;
                let plain = std.try_clone()?;
                (
                    Self::Unix(tokio::net::UnixStream::from_std(std)?),
                    Plain::Unix(plain),
                )
            }
        })
    }
}

/// The feed's socket once subscribed: non-blocking, read directly.
enum Plain {
    Tcp(std::net::TcpStream),
    Unix(std::os::unix::net::UnixStream),
}

impl Plain {
    fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::Read;
        match self {
            Self::Tcp(s) => (&*s).read(buf),
            Self::Unix(s) => (&*s).read(buf),
        }
    }
}

/// Encodes a command as a RESP array of bulk strings.
fn command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// The feed connection, subscribed and ready.
pub(crate) struct Feed {
    /// The socket as the runtime knows it: only waited on, never read.
    socket: Socket,
    /// The same socket, read directly.
    plain: Plain,
    /// Bytes read but not yet parsed (a message split across reads).
    pending: Mutex<Vec<u8>>,
    /// The connection's client id, the target of the lookup connection's `REDIRECT`.
    pub(crate) client_id: i64,
}

/// What draining the feed found.
pub(crate) enum Drained {
    /// Everything Redis had sent is handled (the kernel had nothing more); the
    /// connection is open.
    Open,
    /// The connection is closed or broken: nothing more will be heard on it.
    Closed(String),
}

impl Feed {
    /// Connects, authenticates as the URL says, and subscribes to the invalidations.
    pub(crate) async fn open(info: &ConnectionInfo) -> io::Result<Self> {
        let mut socket = Socket::open(info).await?;
        let mut buf = Vec::with_capacity(4096);
        let settings = info.redis_settings();
        if let Some(password) = settings.password() {
            let auth = match settings.username() {
                Some(user) => command(&[b"AUTH", user.as_bytes(), password.as_bytes()]),
                None => command(&[b"AUTH", password.as_bytes()]),
            };
            socket.write_all(&auth).await?;
            expect_reply(&mut socket, &mut buf, "AUTH").await?;
        }
        socket.write_all(&command(&[b"CLIENT", b"ID"])).await?;
        let client_id = match expect_reply(&mut socket, &mut buf, "CLIENT ID").await? {
            Resp::Integer(id) => id,
            _ => return Err(bad("an unexpected answer to CLIENT ID")),
        };
        socket.write_all(&command(&[b"SUBSCRIBE", CHANNEL])).await?;
        expect_reply(&mut socket, &mut buf, "SUBSCRIBE").await?;
        let (socket, plain) = socket.with_plain()?;
        Ok(Self {
            socket,
            plain,
            pending: Mutex::new(buf),
            client_id,
        })
    }

    /// Waits until Redis has sent something (or closed the connection), then drains the
    /// feed as [`Feed::drain`] does.
    pub(crate) async fn drain_when_readable(&self, apply: impl FnMut(Invalidation)) -> Drained {
        if let Err(e) = self.socket.readable().await {
            return Drained::Closed(format!("the invalidation feed failed: {e}"));
        }
        // Read through the runtime here, so that its "would block" clears the readiness
        // this task waits on (the runtime does read the kernel once it is marked ready).
        self.drain_with(|buf| self.socket.try_read(buf), apply)
    }

    /// Reads, without blocking, all that Redis has sent so far (asking the kernel, not
    /// the runtime), and hands each invalidation to `apply` in order.
    pub(crate) fn drain(&self, apply: impl FnMut(Invalidation)) -> Drained {
        self.drain_with(|buf| self.plain.read(buf), apply)
    }

    fn drain_with(
        &self,
        read: impl Fn(&mut [u8]) -> io::Result<usize>,
        mut apply: impl FnMut(Invalidation),
    ) -> Drained {
        // Held while reading and parsing: bytes are taken from the socket and handled in
        // the order Redis sent them, whichever caller reads them.
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let mut chunk = [0_u8; 8192];
        loop {
            match read(&mut chunk) {
                Ok(0) => return Drained::Closed("Redis closed the invalidation feed".into()),
                Ok(n) => pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Drained::Closed(format!("the invalidation feed failed: {e}")),
            }
        }
        let mut used = 0;
        loop {
            match parse(&pending[used..]) {
                Ok(Some((message, n))) => {
                    used += n;
                    if let Some(invalidation) = invalidation(message) {
                        apply(invalidation);
                    }
                }
                Ok(None) => break,
                Err(e) => return Drained::Closed(e.to_string()),
            }
        }
        pending.drain(..used);
        Drained::Open
    }
}

/// Reads one reply during the handshake; an error reply is an error.
async fn expect_reply(socket: &mut Socket, buf: &mut Vec<u8>, what: &str) -> io::Result<Resp> {
    loop {
        if let Some((reply, used)) = parse(buf)? {
            buf.drain(..used);
            return match reply {
                // The server's message may name the user; say only which step failed.
                Resp::Error(_) => Err(io::Error::other(format!("Redis refused {what}"))),
                reply => Ok(reply),
            };
        }
        if socket.read(buf).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("Redis closed the connection during {what}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_type_and_waits_for_the_rest() {
        let message =
            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*2\r\n$1\r\na\r\n$2\r\nbc\r\n";
        for cut in 0..message.len() {
            assert_eq!(parse(&message[..cut]).unwrap(), None, "cut at {cut}");
        }
        let (value, used) = parse(message).unwrap().unwrap();
        assert_eq!(used, message.len());
        assert_eq!(
            invalidation(value),
            Some(Invalidation::Keys(vec![b"a".to_vec(), b"bc".to_vec()]))
        );
        assert_eq!(parse(b":-12\r\n").unwrap(), Some((Resp::Integer(-12), 6)));
        assert_eq!(parse(b"$-1\r\n").unwrap(), Some((Resp::Bulk(None), 5)));
        assert_eq!(
            parse(b"-ERR no\r\n").unwrap(),
            Some((Resp::Error(b"ERR no".to_vec()), 9))
        );
        assert!(parse(b"?x\r\n").is_err());
        assert!(parse(b"$99999999999\r\n").is_err());
        assert!(parse(b":x\r\n").is_err());
    }

    #[test]
    fn a_null_payload_is_a_flush_and_other_messages_are_not_invalidations() {
        let flush = b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*-1\r\n";
        let (value, _) = parse(flush).unwrap().unwrap();
        assert_eq!(invalidation(value), Some(Invalidation::All));
        let subscribed = b"*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n";
        let (value, _) = parse(subscribed).unwrap().unwrap();
        assert_eq!(invalidation(value), None);
    }
}
