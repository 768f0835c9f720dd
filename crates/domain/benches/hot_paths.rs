//! Micro-benchmarks of the domain's hot pure code: parsing and printing amounts, and
//! serialising a full page of 100 transactions (what the cache stores and returns).

use criterion::{criterion_group, criterion_main, Criterion};
use fido_domain::{
    Amount, FullName, Page, Timestamp, Transaction, TransactionId, TransactionType, UserId,
};
use std::hint::black_box;

fn page_of_100() -> Page<Transaction> {
    let at = Timestamp::parse_rfc3339("2026-11-25T10:15:30.123Z").expect("time");
    let user = UserId::parse("65e25a6bfb249dcbfbf00b93").expect("user");
    let data = (0..100u32)
        .map(|i| Transaction {
            id: TransactionId::generate(at),
            user_id: user,
            full_name: FullName::parse(&format!("Customer Number {i}")).expect("name"),
            transaction_amount: Amount::from_cents(u64::from(i) * 1234 + 7).expect("amount"),
            transaction_type: if i % 2 == 0 {
                TransactionType::Credit
            } else {
                TransactionType::Debit
            },
            transaction_date: at,
            created_at: at,
            updated_at: at,
            version: 1,
        })
        .collect();
    Page {
        total: 1000,
        page: 1,
        limit: 100,
        data,
    }
}

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

fn pages(c: &mut Criterion) {
    let page = page_of_100();
    let json = serde_json::to_string(&page).expect("json");
    c.bench_function("page of 100: serialise", |b| {
        b.iter(|| serde_json::to_string(black_box(&page)).expect("json"))
    });
    c.bench_function("page of 100: deserialise (cache hit)", |b| {
        b.iter(|| serde_json::from_str::<Page<Transaction>>(black_box(&json)).expect("page"))
    });
}

criterion_group!(benches, amounts, pages);
criterion_main!(benches);
