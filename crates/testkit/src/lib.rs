//! # fido-testkit — contract suites for the domain's ports (dev-only)
//!
//! A behaviour is specified once, here, and every adapter proves it by running the same
//! suite: [`cache`] for [`Cache`](fido_domain::Cache) adapters, [`store`] for
//! [`TransactionStore`](fido_domain::TransactionStore) +
//! [`StatisticsQuery`](fido_domain::StatisticsQuery) adapters.
//!
//! Each suite is a module of public async checks plus a macro that expands to one
//! `#[tokio::test]` per check, so failures name the behaviour that broke:
//!
//! ```text
//! // crates/cache-memory/tests/contract.rs
//! fido_testkit::cache_contract_tests!(async { Box::new(fido_cache_memory::InMemoryCache::default()) });
//! ```
//!
//! The factory runs once per test and must return a fresh, isolated instance (a new
//! temporary file, a unique key prefix or collection) behind anything that derefs to the
//! adapter: a `Box`, or a guard that also owns the temporary resources. The caller needs `tokio` as a
//! dev-dependency.

pub mod cache;
pub mod fixtures;
pub mod store;
