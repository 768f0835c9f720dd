//! # fido-testkit — contract suites for the domain's ports (dev-only)
//!
//! A behaviour is specified once, here, and every adapter proves it by running the same
//! suite: [`cache`] for [`Cache`](fido_domain::Cache) adapters, [`store`] for
//! [`TransactionStore`](fido_domain::TransactionStore) +
//! [`StatisticsQuery`](fido_domain::StatisticsQuery) +
//! [`IdempotencyStore`](fido_domain::IdempotencyStore) adapters, [`cipher`] for
//! [`FieldCipher`](fido_domain::FieldCipher) adapters. A test in this crate checks that
//! every public check of a suite is registered in its macro, so none can be written and
//! then silently never run.
//!
//! It also holds [`MemoryStore`], an in-memory model of a store that passes the store
//! suite, for service tests and examples that need a store but not a database, and
//! [`DownStore`], a store whose database is down, for tests of outages.
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
pub mod cipher;
pub mod down;
pub mod fixtures;
pub mod memory;
mod outbox;
pub mod servers;
pub mod store;

pub use down::DownStore;
pub use memory::MemoryStore;

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

#[cfg(test)]
mod registration {
    //! Every public check of a suite is listed in its macro, so none is written and then
    //! silently never run: this reads the suites' sources and compares.

    use std::collections::BTreeSet;

    fn checks(source: &str) -> BTreeSet<String> {
        source
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("pub async fn "))
            .filter_map(|l| l.split('(').next())
            .map(str::to_owned)
            .collect()
    }

    fn registered(source: &str) -> BTreeSet<String> {
        let Some(start) = source.find("@tests $make;") else {
            return BTreeSet::new();
        };
        let list = &source[start + "@tests $make;".len()..];
        let end = list.find(");").unwrap_or(list.len());
        list[..end]
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_check_of_every_suite_is_registered_once() {
        // The store suite is a folder, one file per port family: its checks are read from
        // every file in it (a new file is included without being listed here), its list
        // from the macro in the folder's root.
        let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store");
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .expect("the store suite's folder")
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.extension().is_some_and(|e| e == "rs"))
            .collect();
        files.sort();
        assert!(files.len() > 1, "the store suite is split by port family");
        let store: String = files
            .iter()
            .map(|path| std::fs::read_to_string(path).expect("a suite file"))
            .collect();
        for (suite, source) in [
            ("store", store.as_str()),
            ("cache", include_str!("cache.rs")),
            ("cipher", include_str!("cipher.rs")),
        ] {
            let defined = checks(source);
            assert!(!defined.is_empty(), "{suite}: no checks found");
            assert_eq!(
                defined,
                registered(source),
                "{suite}: the checks defined and the checks its macro runs differ"
            );
            let listed = source[source.find("@tests $make;").unwrap_or(0)..]
                .split(");")
                .next()
                .unwrap_or("")
                .matches(',')
                .count();
            assert_eq!(listed, defined.len(), "{suite}: a check is listed twice");
        }
    }
}

#[cfg(test)]
mod memory_store_contract {
    crate::store_contract_tests!(async { Some(Box::new(crate::MemoryStore::new())) });
}
