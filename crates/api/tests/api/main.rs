//! HTTP integration tests: the real app on 127.0.0.1:0, a temporary data folder per test.
//! All modules compile into one binary.

// Test code: an `unwrap` that fails is a failing test, which is what it should be. (The
// workspace lint exists for product code, where input must never cause a panic.)
#![allow(clippy::unwrap_used)]

mod helpers;

mod balances;
mod caching;
mod compatibility;
mod concurrency;
mod errors;
mod events;
mod failures;
mod finding;
mod hardening;
mod health_and_docs;
mod history;
mod idempotency;
mod instances;
mod lifecycle;
mod listing;
mod metrics;
mod migration;
mod moving;
mod outage;
mod privacy;
mod rollups;
mod rotation;
mod secrets;
mod security;
mod series;
mod settings;
mod shutdown;
mod soak;
mod statistics;
mod traces;
mod transactions;
