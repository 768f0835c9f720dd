//! Identifiers: MongoDB-style ObjectIds (12 bytes, written as 24 lowercase hex characters).
//!
//! Both stores use the same id format so that clients never see which store is behind the
//! API. New ids are generated here, not by the store: 4 bytes of seconds since the epoch, 5
//! bytes chosen at random once per process, and a 3-byte counter — the layout MongoDB uses,
//! so ids sort roughly by creation time.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use crate::time::Timestamp;
use crate::value_error::ValueError;

/// A 12-byte ObjectId. Parsing accepts 24 hex digits in either case; display is lowercase.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectId([u8; 12]);

impl ObjectId {
    /// Wraps raw bytes (for adapters that store ids in binary form).
    pub const fn from_bytes(bytes: [u8; 12]) -> Self {
        Self(bytes)
    }

    /// The raw 12 bytes.
    pub const fn bytes(&self) -> [u8; 12] {
        self.0
    }

    /// Generates a new id whose leading 4 bytes are `now`'s seconds since the epoch.
    pub fn generate(now: Timestamp) -> Self {
        static PROCESS: OnceLock<[u8; 5]> = OnceLock::new();
        static COUNTER: OnceLock<AtomicU32> = OnceLock::new();
        let process = PROCESS.get_or_init(random_bytes::<5>);
        let counter = COUNTER.get_or_init(|| {
            let [a, b, c, _] = random_bytes::<4>();
            AtomicU32::new(u32::from_be_bytes([0, a, b, c]))
        });
        let count = counter.fetch_add(1, Ordering::Relaxed) & 0x00ff_ffff;
        // ObjectIds hold seconds as an unsigned 32-bit number; clamp the (valid but
        // unusual) times outside that window instead of wrapping.
        let secs = now
            .as_millis()
            .div_euclid(1000)
            .clamp(0, i64::from(u32::MAX));
        let secs = u32::try_from(secs).unwrap_or(u32::MAX).to_be_bytes();
        let count = count.to_be_bytes();
        let mut bytes = [0u8; 12];
        bytes[..4].copy_from_slice(&secs);
        bytes[4..9].copy_from_slice(process);
        bytes[9..].copy_from_slice(&count[1..]);
        Self(bytes)
    }

    /// Lowercase hex, 24 characters.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(24);
        for b in self.0 {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        s
    }
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    if getrandom::getrandom(&mut buf).is_err() {
        // The OS refused randomness (practically impossible on supported systems). Ids must
        // still be unique within this process, which the counter guarantees; mix in the
        // process id and the clock so separate processes still differ.
        let seed = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0);
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 8) * 8)) as u8;
        }
    }
    buf
}

impl FromStr for ObjectId {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 24 {
            return Err(ValueError::new("must be a 24-character hexadecimal id"));
        }
        let mut out = [0u8; 12];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]);
            let lo = hex_value(pair[1]);
            match (hi, lo) {
                (Some(hi), Some(lo)) => out[i] = (hi << 4) | lo,
                _ => return Err(ValueError::new("must be a 24-character hexadecimal id")),
            }
        }
        Ok(Self(out))
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectId({})", self.to_hex())
    }
}

macro_rules! object_id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(ObjectId);

        impl $name {
            /// Wraps an [`ObjectId`].
            pub const fn new(id: ObjectId) -> Self {
                Self(id)
            }

            /// The underlying [`ObjectId`].
            pub const fn object_id(&self) -> ObjectId {
                self.0
            }

            /// Parses 24 hexadecimal characters.
            pub fn parse(s: &str) -> Result<Self, ValueError> {
                s.parse()
            }
        }

        impl FromStr for $name {
            type Err = ValueError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                ObjectId::from_str(s).map(Self)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.to_hex())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0.to_hex())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

object_id_newtype!(
    /// The id of a transaction.
    TransactionId
);
object_id_newtype!(
    /// The id of the user a transaction belongs to (owned by another system; this service
    /// only checks its format).
    UserId
);

impl TransactionId {
    /// A new id for a transaction created at `now`.
    pub fn generate(now: Timestamp) -> Self {
        Self(ObjectId::generate(now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_lowercase_hex() {
        let id: ObjectId = "65E25A6BFB249DCBFBF00B93".parse().unwrap();
        assert_eq!(id.to_string(), "65e25a6bfb249dcbfbf00b93");
    }

    #[test]
    fn rejects_wrong_length_and_non_hex() {
        for bad in [
            "",
            "abc",
            "65e25a6bfb249dcbfbf00b9",
            "65e25a6bfb249dcbfbf00b933",
            "zze25a6bfb249dcbfbf00b93",
            "65e25a6bfb249dcbfbf00b9é",
        ] {
            assert!(
                bad.parse::<ObjectId>().is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn generated_ids_are_unique_and_carry_the_time() {
        let now = Timestamp::from_millis(1_764_000_000_123).unwrap();
        let a = TransactionId::generate(now);
        let b = TransactionId::generate(now);
        assert_ne!(a, b);
        let secs = u32::from_be_bytes(a.object_id().bytes()[..4].try_into().unwrap());
        assert_eq!(i64::from(secs), 1_764_000_000);
    }

    #[test]
    fn serde_round_trip() {
        let id = UserId::parse("65e25a6bfb249dcbfbf00b93").unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"65e25a6bfb249dcbfbf00b93\"");
        assert_eq!(serde_json::from_str::<UserId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<UserId>("\"nope\"").is_err());
    }
}
