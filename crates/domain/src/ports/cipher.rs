//! The field cipher port.

use async_trait::async_trait;

use crate::error::CipherError;

/// Encrypts and decrypts one text field (the customer's name).
///
/// Contract: `decrypt(encrypt(x)) == x`; a token this cipher cannot authenticate →
/// [`CipherError::InvalidToken`]. Errors never carry plaintext or key material.
#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait FieldCipher: Send + Sync {
    /// Encrypts a plaintext into a token.
    async fn encrypt(&self, plaintext: &str) -> Result<String, CipherError>;

    /// Decrypts a token back into its plaintext.
    async fn decrypt(&self, token: &str) -> Result<String, CipherError>;

    /// A keyed fingerprint of `data` (an HMAC under a key derived from the primary key):
    /// equal data gives equal fingerprints, and a fingerprint reveals nothing about the data
    /// to anyone without the key.
    async fn fingerprint(&self, data: &str) -> Result<String, CipherError>;

    /// Whether `fingerprint` is the fingerprint of `data` under **any** configured key
    /// (so that fingerprints made before a key rotation still match).
    async fn fingerprint_matches(&self, data: &str, fingerprint: &str)
        -> Result<bool, CipherError>;

    /// Re-encrypts a token under the current (primary) key: `Some(new token)` when it was
    /// made with another key, `None` when it already uses the primary key.
    /// [`CipherError::InvalidToken`] when no key opens it.
    async fn reencrypt(&self, token: &str) -> Result<Option<String>, CipherError>;
}
