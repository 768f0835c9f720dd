//! The MongoDB store passes the shared store contract suite, against the server named by
//! `MONGODB_URI` (`make test` starts the pinned MongoDB-compatible test server and sets it;
//! point it at a real MongoDB to test against that instead).

use fido_store_mongodb::{MongoConfig, MongoStore};

async fn fresh() -> Option<Box<MongoStore>> {
    let uri = fido_testkit::service_url("MONGODB_URI")?;
    let mut config = MongoConfig::new(uri);
    // One shared test database: every check uses users and ids no other check uses.
    config.database = Some("fido_contract_tests".to_owned());
    let store = MongoStore::connect(config).await.expect("connect");
    store.ensure_indexes().await.expect("index");
    Some(Box::new(store))
}

fido_testkit::store_contract_tests!(fresh());

#[tokio::test]
async fn the_index_is_created_idempotently() {
    let Some(store) = fresh().await else { return };
    store
        .ensure_indexes()
        .await
        .expect("second creation is a no-op");
}
