//! Micro-benchmarks of the name cipher: what every create pays once and every listed
//! transaction pays on a cache miss.

use criterion::{criterion_group, criterion_main, Criterion};
use fido_cipher_fernet::FernetCipher;
use std::hint::black_box;

fn cipher(c: &mut Criterion) {
    let cipher = FernetCipher::from_key_list(&FernetCipher::generate_key()).expect("key");
    let token = cipher.encrypt_str("Ada Lovelace");
    c.bench_function("fernet: encrypt a name", |b| {
        b.iter(|| cipher.encrypt_str(black_box("Ada Lovelace")))
    });
    c.bench_function("fernet: decrypt a name", |b| {
        b.iter(|| cipher.decrypt_str(black_box(&token)).expect("plain"))
    });
    // A token of the old key, read after a rotation put a new key first.
    let old_key = FernetCipher::generate_key();
    let old_token = FernetCipher::from_key_list(&old_key)
        .expect("key")
        .encrypt_str("Ada Lovelace");
    let rotated =
        FernetCipher::from_key_list(&format!("{},{old_key}", FernetCipher::generate_key()))
            .expect("keys");
    c.bench_function("fernet: decrypt with the second of two keys", |b| {
        b.iter(|| rotated.decrypt_str(black_box(&old_token)).expect("plain"))
    });
}

criterion_group!(benches, cipher);
criterion_main!(benches);
