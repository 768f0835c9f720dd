//! Micro-benchmark of the cache-miss path's encoding: a full page of 100 transactions as
//! the API's JSON (what the cache stores and a hit returns without re-encoding).

use criterion::{criterion_group, criterion_main, Criterion};
use fido_domain::{
    Amount, FullName, Page, ReadEncoder, Timestamp, Transaction, TransactionId, TransactionType,
    UserId,
};
use fido_http::JsonEncoder;
use std::hint::black_box;

fn page_of_100() -> Page<Transaction> {
    let at = Timestamp::parse_rfc3339("2026-11-25T10:15:30.123Z").expect("time");
    let user = UserId::parse("65e25a6bfb249dcbfbf00b93").expect("user");
    let data = (0..100u32)
        .map(|i| Transaction {
            id: TransactionId::generate(at),
            user_id: user,
            full_name: FullName::parse(&format!("Customer Number {i}")).expect("name"),
            amount: Amount::from_cents(u64::from(i) * 1234 + 7).expect("amount"),
            kind: if i % 2 == 0 {
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
        page: Some(1),
        limit: 100,
        data,
        next: None,
        balance_after: None,
    }
}

fn pages(c: &mut Criterion) {
    let page = page_of_100();
    let encoder = JsonEncoder::new(fido_http::cursor::CursorCodec::from_secrets(&["bench"]));
    c.bench_function("page of 100: encode as JSON", |b| {
        b.iter(|| encoder.encode_page(black_box(&page)).expect("json"))
    });
}

criterion_group!(benches, pages);
criterion_main!(benches);
