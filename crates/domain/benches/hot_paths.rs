//! Micro-benchmarks of the domain's hot pure code: parsing and printing amounts. (Encoding
//! a page for the cache is the HTTP crate's: `crates/http/benches/encode.rs`.)

use criterion::{criterion_group, criterion_main, Criterion};
use fido_domain::Amount;
use std::hint::black_box;

fn amounts(c: &mut Criterion) {
    c.bench_function("amount: parse JSON 12345.67", |b| {
        b.iter(|| serde_json::from_str::<Amount>(black_box("12345.67")).expect("amount"))
    });
    c.bench_function("amount: from f64 0.1", |b| {
        b.iter(|| Amount::from_f64(black_box(0.1)).expect("amount"))
    });
    let amount = Amount::from_cents(1_234_567).expect("amount");
    c.bench_function("amount: print JSON", |b| {
        b.iter(|| serde_json::to_string(black_box(&amount)).expect("json"))
    });
}

criterion_group!(benches, amounts);
criterion_main!(benches);
