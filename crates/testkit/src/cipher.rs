//! The contract every [`FieldCipher`] adapter must keep.
//!
//! Each check gets two ciphers with independent keys: the one under test, and a stranger
//! whose tokens the first must refuse.

use fido_domain::{CipherError, FieldCipher};

/// What a token made by `cipher` decrypts to, for any text a name can hold.
pub async fn encrypt_then_decrypt_round_trips(cipher: &dyn FieldCipher, _: &dyn FieldCipher) {
    for text in [
        "Ada Lovelace",
        "",
        "Ñandú Œuvre 李小龍 👩‍💻",
        &"x".repeat(4096),
    ] {
        let token = cipher.encrypt(text).await.expect("encrypt");
        assert!(
            !token.contains(text) || text.is_empty(),
            "a token must not hold its plaintext"
        );
        assert_eq!(cipher.decrypt(&token).await.expect("decrypt"), text);
    }
}

/// The same plaintext encrypts to different tokens (no deterministic encryption).
pub async fn equal_plaintexts_give_distinct_tokens(cipher: &dyn FieldCipher, _: &dyn FieldCipher) {
    let a = cipher.encrypt("Ada").await.expect("encrypt");
    let b = cipher.encrypt("Ada").await.expect("encrypt");
    assert_ne!(a, b);
}

/// Tampered, truncated, empty and foreign tokens are `InvalidToken`, never a panic.
pub async fn bad_tokens_are_invalid(cipher: &dyn FieldCipher, stranger: &dyn FieldCipher) {
    let token = cipher.encrypt("Ada Lovelace").await.expect("encrypt");
    let mut tampered = token.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii token");
    let foreign = stranger.encrypt("Ada Lovelace").await.expect("encrypt");
    for bad in [
        tampered.as_str(),
        &token[..token.len() / 2],
        "",
        "not a token",
        foreign.as_str(),
    ] {
        assert_eq!(
            cipher.decrypt(bad).await,
            Err(CipherError::InvalidToken),
            "a bad token of {} bytes",
            bad.len()
        );
        assert_eq!(cipher.reencrypt(bad).await, Err(CipherError::InvalidToken));
    }
}

/// Fingerprints are deterministic for equal data, distinct for different data, and keyed
/// (another key gives another fingerprint) without containing the data.
pub async fn fingerprints_are_keyed_and_deterministic(
    cipher: &dyn FieldCipher,
    stranger: &dyn FieldCipher,
) {
    let data = "v1|user|1050|credit|-|Ada Lovelace";
    let a = cipher.fingerprint(data).await.expect("fingerprint");
    assert_eq!(a, cipher.fingerprint(data).await.expect("fingerprint"));
    assert_ne!(a, cipher.fingerprint("other").await.expect("fingerprint"));
    assert_ne!(a, stranger.fingerprint(data).await.expect("fingerprint"));
    assert!(!a.contains("Ada"));
    assert!(cipher.fingerprint_matches(data, &a).await.expect("match"));
    assert!(!cipher
        .fingerprint_matches("other", &a)
        .await
        .expect("match"));
    assert!(!stranger.fingerprint_matches(data, &a).await.expect("match"));
    for garbage in ["", "zz", &"0".repeat(64), "not hex at all"] {
        assert!(!cipher
            .fingerprint_matches(data, garbage)
            .await
            .expect("match"));
    }
}

/// A token made with the primary key needs no re-encryption.
pub async fn current_tokens_need_no_reencryption(cipher: &dyn FieldCipher, _: &dyn FieldCipher) {
    let token = cipher.encrypt("Ada").await.expect("encrypt");
    assert_eq!(cipher.reencrypt(&token).await, Ok(None));
}

/// Expands to one `#[tokio::test]` per cipher contract check. `$make` is an expression
/// evaluating to a future of a fresh cipher with its own random key (anything that derefs
/// to a [`FieldCipher`]); it is called twice per test.
#[macro_export]
macro_rules! cipher_contract_tests {
    ($make:expr) => {
        $crate::cipher_contract_tests!(@tests $make;
            encrypt_then_decrypt_round_trips,
            equal_plaintexts_give_distinct_tokens,
            bad_tokens_are_invalid,
            fingerprints_are_keyed_and_deterministic,
            current_tokens_need_no_reencryption,
        );
    };
    (@tests $make:expr; $($check:ident,)*) => {
        $(
            #[tokio::test]
            async fn $check() {
                let cipher = $make.await;
                let stranger = $make.await;
                $crate::cipher::$check(&*cipher, &*stranger).await;
            }
        )*
    };
}
