//! The in-process cache passes the shared cache contract suite.

fido_testkit::cache_contract_tests!(async {
    Some(Box::new(fido_cache_memory::InMemoryCache::default()))
});
