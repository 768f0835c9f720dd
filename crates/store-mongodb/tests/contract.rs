//! The MongoDB store passes the shared store contract suite, against the server named by
//! `MONGODB_URI` (`make test` starts the pinned MongoDB-compatible test server and sets it;
//! point it at a real MongoDB to test against that instead).

use fido_store_mongodb::{MongoConfig, MongoStore};

async fn fresh() -> Option<Box<MongoStore>> {
    let uri = fido_testkit::service_url("MONGODB_URI")?;
    let mut config = MongoConfig::new(uri);
    // The pinned test server is one Python process shared by every check running at once,
    // and slows as a run goes on: a generous bound, so that a check fails on a wrong
    // answer, not on a busy machine (production keeps its 5 s default).
    config.operation_timeout = std::time::Duration::from_secs(30);
    // A database per check: the outbox's sequences and leases are per database.
    config.database = Some(format!(
        "fido_contract_{}",
        fido_testkit::fixtures::fresh_user()
    ));
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

/// A database written before roll-ups existed (no `fido_daily_totals`, no `fido_meta`)
/// gets them built in the background at start-up; statistics are right meanwhile.
#[tokio::test]
async fn a_database_from_before_rollups_gets_them_built() {
    use fido_domain::{DailyRollups, DateRange, StatisticsQuery, TransactionStore};
    use fido_testkit::fixtures::{amount, at, fresh_user, record, IdSeq};
    let Some(uri) = fido_testkit::service_url("MONGODB_URI") else {
        return;
    };
    let mut config = MongoConfig::new(uri.clone());
    config.database = Some(format!("fido_upgrade_{}", fresh_user()));
    let old = MongoStore::connect(config.clone()).await.expect("connect");
    old.ensure_indexes().await.expect("index");
    let (ids, user) = (IdSeq::new(), fresh_user());
    for (i, day) in [
        "2025-01-01T10:00:00Z",
        "2025-01-01T11:00:00Z",
        "2025-01-03T00:00:00Z",
    ]
    .iter()
    .enumerate()
    {
        let kind = fido_domain::TransactionType::Credit;
        let r = record(ids.id(i as u32), user, at(day), amount("1.25"), kind);
        old.insert(r).await.expect("insert");
    }
    // Forget the roll-ups, as a release-1 database never had them.
    let client = mongodb::Client::with_uri_str(&uri).await.expect("client");
    let db = client.database(config.database.as_deref().expect("named"));
    for name in [
        fido_store_mongodb::ROLLUP_COLLECTION,
        fido_store_mongodb::META_COLLECTION,
    ] {
        db.collection::<mongodb::bson::Document>(name)
            .drop()
            .await
            .expect("drop");
    }
    let upgraded = MongoStore::connect(config).await.expect("connect");
    upgraded.ensure_indexes().await.expect("index and build");
    let totals = upgraded.totals(user, DateRange::ALL).await.expect("totals");
    assert_eq!((totals.count, totals.total_credit.cents()), (3, 375));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let built = db
            .collection::<mongodb::bson::Document>(fido_store_mongodb::META_COLLECTION)
            .find_one(mongodb::bson::doc! {"state": "built"})
            .await
            .expect("meta");
        if built.is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the build did not finish"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(upgraded.check_user(user, false).await.expect("check"), []);
    let days = upgraded.daily(user, DateRange::ALL).await.expect("daily");
    assert_eq!(days.len(), 2);
    assert_eq!(days[0].count, 2);
    upgraded.drop_database().await.expect("drop");
}
