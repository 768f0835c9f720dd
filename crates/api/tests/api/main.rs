//! HTTP integration tests: the real app on 127.0.0.1:0, a temporary data folder per test.
//! All modules compile into one binary.

mod helpers;

mod caching;
mod concurrency;
mod errors;
mod failures;
mod health_and_docs;
mod idempotency;
mod instances;
mod lifecycle;
mod listing;
mod outage;
mod privacy;
mod rotation;
mod security;
mod statistics;
mod transactions;
