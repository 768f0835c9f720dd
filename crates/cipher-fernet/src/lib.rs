//! # fido-cipher-fernet — Fernet encryption of personal fields
//!
//! Implements the domain's [`FieldCipher`] port with [Fernet] tokens (AES-128-CBC +
//! HMAC-SHA256), pure Rust (the `fernet` crate's `rustcrypto` backend, no OpenSSL). Tokens
//! interoperate with Python's `cryptography.fernet` in both directions, so data written by
//! the original service stays readable.
//!
//! Keys come as a comma-separated list, like Python's `MultiFernet`: the **first key
//! encrypts**, every key is tried to decrypt. To rotate, put a new key first and keep the
//! old ones until every record has been re-encrypted.
//!
//! Nothing here ever prints key material: `Debug` shows only how many keys there are, and
//! errors say which key in the list is malformed by position, not by value.
//!
//! [Fernet]: https://github.com/fernet/spec/blob/master/Spec.md

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use fernet::Fernet;
use fido_domain::{CipherError, FieldCipher};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A configuration problem with the key list. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The list holds no key at all.
    #[error("FERNET_KEY is empty: give one key, or several separated by commas")]
    Empty,
    /// The key at this 1-based position is not 32 url-safe base64-encoded bytes.
    #[error("FERNET_KEY: key #{0} is not a valid Fernet key (32 url-safe base64-encoded bytes)")]
    Invalid(usize),
}

/// A Fernet cipher over one or more keys (first encrypts, all decrypt).
#[derive(Clone)]
pub struct FernetCipher {
    /// Never empty; `keys[0]` is the primary (encrypting) key.
    keys: Vec<Fernet>,
    /// HMAC keys for fingerprints, one derived from each key (never the key itself), in
    /// the same order: the first makes fingerprints, all are tried when matching.
    fingerprint_keys: Vec<[u8; 32]>,
}

/// Separates the fingerprint key from every other use of the primary key.
const FINGERPRINT_CONTEXT: &[u8] = b"fido/request-fingerprint/v1";

impl FernetCipher {
    /// Parses a comma-separated key list; blanks around keys are ignored.
    pub fn from_key_list(list: &str) -> Result<Self, KeyError> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
            .map(|(i, k)| Fernet::new(k).ok_or(KeyError::Invalid(i + 1)))
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err(KeyError::Empty);
        }
        let fingerprint_keys = list
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|key| {
                let mut derive = Sha256::new();
                derive.update(FINGERPRINT_CONTEXT);
                derive.update(key.as_bytes());
                derive.finalize().into()
            })
            .collect();
        Ok(Self {
            keys,
            fingerprint_keys,
        })
    }

    /// A fresh random key, url-safe base64 (for development set-ups and key rotation).
    pub fn generate_key() -> String {
        Fernet::generate_key()
    }

    /// How many keys this cipher holds.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Encrypts with the primary key at the current time.
    pub fn encrypt_str(&self, plaintext: &str) -> String {
        self.keys[0].encrypt(plaintext.as_bytes())
    }

    /// Decrypts at the current time, without a TTL (stored names do not expire).
    pub fn decrypt_str(&self, token: &str) -> Result<String, CipherError> {
        self.decrypt_at(token, None, unix_now())
            .map(|(plain, _)| plain)
    }

    /// Decrypts as if the time were `now` (seconds since the epoch), rejecting tokens
    /// older than `ttl` seconds when one is given, and returns the plaintext with the
    /// position of the key that opened it (0 is the primary key).
    ///
    /// Tokens from more than 60 seconds in the future are rejected, as the spec requires.
    pub fn decrypt_at(
        &self,
        token: &str,
        ttl: Option<u64>,
        now: u64,
    ) -> Result<(String, usize), CipherError> {
        // The library adds ttl to the token's timestamp, and 60 s to `now`, without overflow
        // checks; neither a hostile token nor an odd `now` may make that overflow.
        let ttl = ttl.map(|t| t.min(u64::MAX / 4));
        let now = now.min(u64::MAX / 4);
        if ttl.is_some() && token_timestamp(token).is_some_and(|ts| ts > u64::MAX / 2) {
            return Err(CipherError::InvalidToken);
        }
        for (index, key) in self.keys.iter().enumerate() {
            if let Ok(bytes) = key.decrypt_at_time(token, ttl, now) {
                let plain = String::from_utf8(bytes).map_err(|_| CipherError::InvalidToken)?;
                return Ok((plain, index));
            }
        }
        Err(CipherError::InvalidToken)
    }
}

fn hmac(key: &[u8; 32], data: &str) -> Result<[u8; 32], CipherError> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(key).map_err(|e| CipherError::Internal(e.to_string()))?;
    mac.update(data.as_bytes());
    Ok(mac.finalize().into_bytes().into())
}

/// The timestamp field of a token, if it decodes far enough to have one.
fn token_timestamp(token: &str) -> Option<u64> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .ok()?;
    let ts: [u8; 8] = bytes.get(1..9)?.try_into().ok()?;
    Some(u64::from_be_bytes(ts))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl fmt::Debug for FernetCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FernetCipher")
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl FieldCipher for FernetCipher {
    async fn encrypt(&self, plaintext: &str) -> Result<String, CipherError> {
        Ok(self.encrypt_str(plaintext))
    }

    async fn decrypt(&self, token: &str) -> Result<String, CipherError> {
        self.decrypt_str(token)
    }

    async fn fingerprint(&self, data: &str) -> Result<String, CipherError> {
        let primary = self
            .fingerprint_keys
            .first()
            .ok_or_else(|| CipherError::Internal("no key".into()))?;
        Ok(hex::encode(hmac(primary, data)?))
    }

    async fn fingerprint_matches(
        &self,
        data: &str,
        fingerprint: &str,
    ) -> Result<bool, CipherError> {
        let mut presented = [0u8; 32];
        if hex::decode_to_slice(fingerprint, &mut presented).is_err() {
            return Ok(false);
        }
        for key in &self.fingerprint_keys {
            if bool::from(hmac(key, data)?.as_slice().ct_eq(&presented)) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn reencrypt(&self, token: &str) -> Result<Option<String>, CipherError> {
        match self.decrypt_at(token, None, unix_now())? {
            (_, 0) => Ok(None),
            (plain, _) => Ok(Some(self.encrypt_str(&plain))),
        }
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn fingerprints_made_before_a_rotation_still_match() {
        let old = FernetCipher::generate_key();
        let new = FernetCipher::generate_key();
        let before = FernetCipher::from_key_list(&old).unwrap();
        let fingerprint = before.fingerprint("request").await.unwrap();
        let rotated = FernetCipher::from_key_list(&format!("{new},{old}")).unwrap();
        assert!(rotated
            .fingerprint_matches("request", &fingerprint)
            .await
            .unwrap());
        assert_ne!(rotated.fingerprint("request").await.unwrap(), fingerprint);
        let dropped = FernetCipher::from_key_list(&new).unwrap();
        assert!(!dropped
            .fingerprint_matches("request", &fingerprint)
            .await
            .unwrap());
    }

    use super::*;

    #[test]
    fn key_list_errors_name_the_position_not_the_key() {
        let good = FernetCipher::generate_key();
        assert_eq!(
            FernetCipher::from_key_list("").unwrap_err(),
            KeyError::Empty
        );
        assert_eq!(
            FernetCipher::from_key_list(" , ").unwrap_err(),
            KeyError::Empty
        );
        let err = FernetCipher::from_key_list(&format!("{good},not-a-key")).unwrap_err();
        assert_eq!(err, KeyError::Invalid(2));
        assert!(!err.to_string().contains("not-a-key"));
        assert_eq!(
            FernetCipher::from_key_list(&format!(" {good} , {good}"))
                .unwrap()
                .key_count(),
            2
        );
    }

    #[tokio::test]
    async fn fingerprints_are_keyed_and_stable() {
        let a = FernetCipher::from_key_list(&FernetCipher::generate_key()).unwrap();
        let b = FernetCipher::from_key_list(&FernetCipher::generate_key()).unwrap();
        let x = a.fingerprint("Ada").await.unwrap();
        assert_eq!(x, a.fingerprint("Ada").await.unwrap());
        assert_ne!(x, a.fingerprint("Ada ").await.unwrap());
        assert_ne!(
            x,
            b.fingerprint("Ada").await.unwrap(),
            "another key, another fingerprint"
        );
        assert_eq!(x.len(), 64);
    }

    #[test]
    fn debug_shows_no_key_material() {
        let key = FernetCipher::generate_key();
        let c = FernetCipher::from_key_list(&key).unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains(&key[..10]));
        assert!(shown.contains("keys: 1"));
    }

    #[test]
    fn reads_the_timestamp_of_a_token() {
        // 0x80, then 1 as a big-endian u64: "gAAAAAAAAAAB" decodes to those 9 bytes.
        assert_eq!(token_timestamp("gAAAAAAAAAABAAAA"), Some(1));
        assert_eq!(token_timestamp("gAAA"), None);
        assert_eq!(token_timestamp("%%%%%%%%%%%%"), None);
    }
}
