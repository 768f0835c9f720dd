//! Who may call: API keys with scopes.
//!
//! Keys are configured only as SHA-256 hashes — `API_KEYS` (or the file named by
//! `FIDO__SECURITY__API_KEYS_FILE`) holds `<name>:<sha-256 hex>:<scopes joined by +>`
//! entries, separated by commas or new lines — so a leaked configuration reveals no key.
//! A presented key is hashed and compared with **every** configured hash in constant time,
//! so neither the comparison nor the position of a match leaks through timing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A scope name that is not `read` or `write`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (use read, write or read+write)")]
pub struct ScopeError(String);

/// Why a list of API keys cannot be used. Entries are named by position and name; a hash
/// is never quoted.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// An entry is not `<name>:<hash>:<scopes>`.
    #[error("API_KEYS entry #{position} must be <name>:<sha-256 hex>:<scopes>")]
    Shape {
        /// 1-based position in the list.
        position: usize,
    },
    /// A name with characters other than letters, digits, `-`, `_` or `.`.
    #[error("API_KEYS entry #{position}: the name must be letters, digits, '-', '_' or '.'")]
    Name {
        /// 1-based position in the list.
        position: usize,
    },
    /// A hash that is not 64 hex characters.
    #[error("API_KEYS entry #{position} ({name}): the hash must be 64 hex characters (SHA-256)")]
    Hash {
        /// 1-based position in the list.
        position: usize,
        /// The entry's name.
        name: String,
    },
    /// Unknown scopes.
    #[error("API_KEYS entry #{position} ({name}): {scope}")]
    Scopes {
        /// 1-based position in the list.
        position: usize,
        /// The entry's name.
        name: String,
        /// What is wrong with the scopes.
        scope: ScopeError,
    },
    /// Two entries with one name.
    #[error("API_KEYS entry #{position}: the name {name} is used twice")]
    DuplicateName {
        /// 1-based position in the list.
        position: usize,
        /// The name used twice.
        name: String,
    },
    /// No entry at all.
    #[error("API_KEYS holds no key")]
    Empty,
    /// No randomness to make a new key.
    #[error("no randomness available to make a key")]
    NoRandomness(#[source] getrandom::Error),
}

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
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let mut scopes = Scopes::default();
        for scope in text.split('+').map(str::trim) {
            match scope {
                "read" => scopes.read = true,
                "write" => scopes.write = true,
                other => return Err(ScopeError(other.chars().take(40).collect())),
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
pub fn generate_key() -> Result<String, KeyError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(KeyError::NoRandomness)?;
    Ok(format!(
        "fido_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    ))
}

impl ApiKeys {
    /// Parses entries separated by commas or new lines; blank lines and `#` comments are
    /// skipped. Errors name the entry by position and never quote a hash.
    pub fn parse(list: &str) -> Result<Self, KeyError> {
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
                return Err(KeyError::Shape { position });
            };
            let name = name.trim();
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            {
                return Err(KeyError::Name { position });
            }
            let mut digest = [0u8; 32];
            hex::decode_to_slice(hash.trim(), &mut digest).map_err(|_| KeyError::Hash {
                position,
                name: name.to_owned(),
            })?;
            let scopes = Scopes::parse(scopes).map_err(|scope| KeyError::Scopes {
                position,
                name: name.to_owned(),
                scope,
            })?;
            if keys.iter().any(|k: &ApiKey| k.name == name) {
                return Err(KeyError::DuplicateName {
                    position,
                    name: name.to_owned(),
                });
            }
            keys.push(ApiKey {
                name: name.to_owned(),
                hash: digest,
                scopes,
            });
        }
        if keys.is_empty() {
            return Err(KeyError::Empty);
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
            let e = ApiKeys::parse(list).unwrap_err().to_string();
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
}
