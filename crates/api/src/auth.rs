//! Who may call: API keys with scopes, and a per-key rate limit.
//!
//! Keys are configured only as SHA-256 hashes — `API_KEYS` (or the file named by
//! `FIDO__SECURITY__API_KEYS_FILE`) holds `<name>:<sha-256 hex>:<scopes joined by +>`
//! entries, separated by commas or new lines — so a leaked configuration reveals no key.
//! A presented key is hashed and compared with **every** configured hash in constant time,
//! so neither the comparison nor the position of a match leaks through timing.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes {
    /// Read transactions, lists and statistics.
    pub read: bool,
    /// Create, change and delete transactions.
    pub write: bool,
}

impl Scopes {
    /// Both scopes.
    pub const ALL: Scopes = Scopes {
        read: true,
        write: true,
    };

    /// Parses `read`, `write` or `read+write`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut scopes = Scopes::default();
        for scope in text.split('+').map(str::trim) {
            match scope {
                "read" => scopes.read = true,
                "write" => scopes.write = true,
                other => {
                    return Err(format!(
                        "unknown scope {other:?} (use read, write or read+write)"
                    ))
                }
            }
        }
        Ok(scopes)
    }

    /// `read`, `write` or `read+write`.
    pub fn label(self) -> &'static str {
        match (self.read, self.write) {
            (true, true) => "read+write",
            (true, false) => "read",
            (false, true) => "write",
            (false, false) => "",
        }
    }
}

/// The scope an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// GET of data.
    Read,
    /// POST, PATCH, DELETE.
    Write,
}

impl Scopes {
    /// Whether these scopes include `scope`.
    pub fn allow(self, scope: Scope) -> bool {
        match scope {
            Scope::Read => self.read,
            Scope::Write => self.write,
        }
    }
}

/// One configured key: its name (for logs and limits), its hash, its scopes.
#[derive(Clone)]
pub struct ApiKey {
    /// The key's name, e.g. `billing-service`. Safe to log.
    pub name: String,
    hash: [u8; 32],
    /// What it may do.
    pub scopes: Scopes,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("name", &self.name)
            .field("scopes", &self.scopes.label())
            .finish_non_exhaustive()
    }
}

/// The configured keys.
#[derive(Clone, Debug, Default)]
pub struct ApiKeys {
    keys: Vec<ApiKey>,
}

/// SHA-256 of a key, as lowercase hex: what the configuration holds.
pub fn hash_key(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// A new random key: `fido_` and 43 url-safe base64 characters (32 random bytes).
pub fn generate_key() -> Result<String, String> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| format!("no randomness available: {e}"))?;
    Ok(format!(
        "fido_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

impl ApiKeys {
    /// Parses entries separated by commas or new lines; blank lines and `#` comments are
    /// skipped. Errors name the entry by position and never quote a hash.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        let entries = list
            .lines()
            .map(|l| l.split('#').next().unwrap_or(""))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for (index, entry) in entries.enumerate() {
            let position = index + 1;
            let mut parts = entry.split(':');
            let (Some(name), Some(hash), Some(scopes), None) =
                (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(format!(
                    "API_KEYS entry #{position} must be <name>:<sha-256 hex>:<scopes>"
                ));
            };
            let name = name.trim();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(format!(
                    "API_KEYS entry #{position}: the name must be letters, digits, '-', '_' or '.'"
                ));
            }
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hash.trim(), &mut digest).map_err(|_| {
                format!("API_KEYS entry #{position} ({name}): the hash must be 64 hex characters (SHA-256)")
            })?;
            let scopes = Scopes::parse(scopes)
                .map_err(|e| format!("API_KEYS entry #{position} ({name}): {e}"))?;
            if keys.iter().any(|k: &ApiKey| k.name == name) {
                return Err(format!(
                    "API_KEYS entry #{position}: the name {name} is used twice"
                ));
            }
            keys.push(ApiKey {
                name: name.to_owned(),
                hash: digest,
                scopes,
            });
        }
        if keys.is_empty() {
            return Err("API_KEYS holds no key".into());
        }
        Ok(Self { keys })
    }

    /// The configured key whose hash matches `presented`, checked against every key in
    /// constant time.
    pub fn authenticate(&self, presented: &str) -> Option<&ApiKey> {
        let digest = Sha256::digest(presented.as_bytes());
        let mut found = None;
        for key in &self.keys {
            if bool::from(key.hash.ct_eq(digest.as_slice())) {
                found = Some(key);
            }
        }
        found
    }

    /// How many keys are configured.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// A token bucket per key name: `burst` requests at once, refilled at `per_second`.
#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    /// A limiter; `per_second == 0` disables limiting.
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            per_second: f64::from(per_second),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `name`; when none is left, how long until one is.
    pub fn check(&self, name: &str) -> Result<(), Duration> {
        if self.per_second <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(name.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refill = now.duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.tokens = (bucket.tokens + refill).min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_second,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> ApiKeys {
        ApiKeys::parse(&format!(
            "reader:{}:read, writer:{}:write\n# comment\nboth:{}:read+write",
            hash_key("r-key"),
            hash_key("w-key"),
            hash_key("b-key")
        ))
        .unwrap()
    }

    #[test]
    fn authenticates_by_hash_and_knows_scopes() {
        let k = keys();
        assert_eq!(k.len(), 3);
        let reader = k.authenticate("r-key").unwrap();
        assert_eq!(
            (
                reader.name.as_str(),
                reader.scopes.allow(Scope::Read),
                reader.scopes.allow(Scope::Write)
            ),
            ("reader", true, false)
        );
        assert!(k.authenticate("b-key").unwrap().scopes.allow(Scope::Write));
        assert!(k.authenticate("wrong").is_none());
        assert!(k.authenticate("").is_none());
    }

    #[test]
    fn bad_entries_are_named_by_position_without_quoting_hashes() {
        for (list, needle) in [
            ("", "no key"),
            ("a:b", "#1"),
            ("a:zz:read", "64 hex"),
            (&format!("a:{}:admin", hash_key("x")), "unknown scope"),
            (
                &format!("a:{h}:read,a:{h}:write", h = hash_key("x")),
                "used twice",
            ),
            (&format!("a b:{}:read", hash_key("x")), "name"),
        ] {
            let e = ApiKeys::parse(list).unwrap_err();
            assert!(e.contains(needle), "{list:?}: {e}");
        }
    }

    #[test]
    fn generated_keys_are_random_and_hash_to_64_hex() {
        let a = generate_key().unwrap();
        let b = generate_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("fido_") && a.len() == 48);
        assert_eq!(hash_key(&a).len(), 64);
    }

    #[test]
    fn the_bucket_allows_a_burst_then_asks_to_wait() {
        let limiter = RateLimiter::new(1, 3);
        for _ in 0..3 {
            assert!(limiter.check("k").is_ok());
        }
        let wait = limiter.check("k").unwrap_err();
        assert!(wait > Duration::from_millis(500) && wait <= Duration::from_secs(1));
        assert!(limiter.check("other").is_ok(), "buckets are per key");
        assert!(
            RateLimiter::new(0, 0).check("k").is_ok(),
            "0 disables limiting"
        );
    }
}
