//! The Fernet spec's cases, as tokens generated once by Python's `cryptography`
//! (tests/data/generate_vectors.py), plus key rotation and hostile tokens.

use fido_cipher_fernet::FernetCipher;
use fido_domain::{CipherError, FieldCipher};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    secret: String,
    other_secret: String,
    good: Good,
    other_key: Good,
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
struct Good {
    token: String,
    now: u64,
    plaintext: String,
}

#[derive(Deserialize)]
struct Invalid {
    desc: String,
    token: String,
    now: u64,
    ttl_sec: u64,
}

fn vectors() -> Vectors {
    serde_json::from_str(include_str!("data/vectors.json")).expect("vectors.json parses")
}

#[test]
fn decrypts_the_python_token() {
    let v = vectors();
    let c = FernetCipher::from_key_list(&v.secret).unwrap();
    let (plain, key) = c.decrypt_at(&v.good.token, Some(60), v.good.now).unwrap();
    assert_eq!(plain, v.good.plaintext);
    assert_eq!(key, 0);
}

#[test]
fn rejects_every_invalid_case_of_the_spec() {
    let v = vectors();
    let c = FernetCipher::from_key_list(&v.secret).unwrap();
    assert_eq!(v.invalid.len(), 7);
    for case in &v.invalid {
        let got = c.decrypt_at(&case.token, Some(case.ttl_sec), case.now);
        assert_eq!(
            got,
            Err(CipherError::InvalidToken),
            "case {:?} must be rejected",
            case.desc
        );
    }
}

#[test]
fn far_future_tokens_are_rejected_even_without_a_ttl() {
    let v = vectors();
    let c = FernetCipher::from_key_list(&v.secret).unwrap();
    let case = v
        .invalid
        .iter()
        .find(|c| c.desc.starts_with("far-future"))
        .unwrap();
    assert!(c.decrypt_at(&case.token, None, case.now).is_err());
}

#[test]
fn an_old_key_still_decrypts_after_a_new_primary_is_added() {
    let v = vectors();
    let rotated = FernetCipher::from_key_list(&format!("{},{}", v.secret, v.other_secret)).unwrap();
    let (plain, key) = rotated
        .decrypt_at(&v.other_key.token, None, v.other_key.now)
        .unwrap();
    assert_eq!((plain.as_str(), key), (v.other_key.plaintext.as_str(), 1));

    // New writes use the new primary: the old key alone cannot read them.
    let token = rotated.encrypt_str("fresh");
    let old_only = FernetCipher::from_key_list(&v.other_secret).unwrap();
    assert_eq!(old_only.decrypt_str(&token), Err(CipherError::InvalidToken));
    assert_eq!(rotated.decrypt_str(&token).unwrap(), "fresh");
}

#[tokio::test]
async fn the_port_round_trips_and_a_wrong_key_is_an_error() {
    let a = FernetCipher::from_key_list(&FernetCipher::generate_key()).unwrap();
    let b = FernetCipher::from_key_list(&FernetCipher::generate_key()).unwrap();
    let token = a.encrypt("Ada Lovelace").await.unwrap();
    assert!(!token.contains("Ada"));
    assert_eq!(a.decrypt(&token).await.unwrap(), "Ada Lovelace");
    assert_eq!(b.decrypt(&token).await, Err(CipherError::InvalidToken));
}

#[test]
fn hostile_tokens_never_panic() {
    let v = vectors();
    let c = FernetCipher::from_key_list(&v.secret).unwrap();
    let huge_ts = {
        use base64::Engine as _;
        let mut raw = vec![0x80];
        raw.extend_from_slice(&u64::MAX.to_be_bytes());
        raw.extend_from_slice(&[0u8; 64]);
        base64::engine::general_purpose::URL_SAFE.encode(raw)
    };
    for token in [
        "",
        "=",
        "gA",
        "gAAAAA",
        "\u{0}\u{1}",
        "💥",
        &"A".repeat(10_000),
        &huge_ts,
    ] {
        assert!(c.decrypt_str(token).is_err());
        assert!(c.decrypt_at(token, Some(u64::MAX), u64::MAX).is_err());
    }
}
