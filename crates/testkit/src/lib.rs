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
//! fido_testkit::cache_contract_tests!(async { Some(Box::new(fido_cache_memory::InMemoryCache::default())) });
//! ```
//!
//! The factory runs once per test and must return a fresh, isolated instance (a new
//! temporary file, a unique key prefix or collection) behind anything that derefs to the
//! adapter: a `Box`, or a guard that also owns the temporary resources. Adapters that need a
//! server return `None` when [`service_url`] finds none, which skips the test locally. The caller needs `tokio` as a
//! dev-dependency.

pub mod cache;
pub mod fixtures;
pub mod servers;
pub mod store;

/// The URL of a service the tests need, from the environment variable `var`.
///
/// Locally a missing variable skips the test (returns `None` and says so on stderr); under
/// `CI=true` it is a failure, so a CI run can never pass by silently skipping a suite.
pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {var} is not set: run the tests through `make test`, which starts the server"
            );
            eprintln!("skipping: {var} is not set (`make test` starts the server and sets it)");
            None
        }
    }
}
