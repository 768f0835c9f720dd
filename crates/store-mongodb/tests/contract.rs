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
        old.insert(r, fido_testkit::fixtures::actor())
            .await
            .expect("insert");
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

/// `fido migrate` converts a batch at once, each document only if it is still exactly as
/// it was read: one changed meanwhile is left as it is (and reported), the rest replaced.
#[tokio::test]
async fn a_batch_conversion_replaces_only_the_documents_unchanged_since_read() {
    use fido_testkit::fixtures::{amount, at, fresh_user, record, IdSeq};
    use mongodb::bson::{doc, oid::ObjectId, Document};
    let Some(uri) = fido_testkit::service_url("MONGODB_URI") else {
        return;
    };
    let mut config = MongoConfig::new(uri.clone());
    config.database = Some(format!("fido_convert_{}", fresh_user()));
    let store = MongoStore::connect(config.clone()).await.expect("connect");
    let client = mongodb::Client::with_uri_str(&uri).await.expect("client");
    let raw = client
        .database(config.database.as_deref().expect("named"))
        .collection::<Document>(fido_store_mongodb::COLLECTION);
    let (ids, user) = (IdSeq::new(), fresh_user());
    let records: Vec<_> = (0..3)
        .map(|i| {
            record(
                ids.id(i),
                user,
                at("2026-11-20T10:00:00Z"),
                amount("12.50"),
                fido_domain::TransactionType::Credit,
            )
        })
        .collect();
    // In the original's layout (only what the check needs: no `version`).
    for r in &records {
        raw.insert_one(doc! {
            "_id": ObjectId::from_bytes(r.id.object_id().bytes()),
            "user_id": ObjectId::from_bytes(r.user_id.object_id().bytes()),
            "transaction_amount": 12.5,
        })
        .await
        .expect("seed");
    }
    let found = store.legacy_after(None, 10).await.expect("legacy");
    assert_eq!(found.len(), 3);
    // The second one changes after it was read.
    raw.update_one(
        doc! {"_id": ObjectId::from_bytes(records[1].id.object_id().bytes())},
        doc! {"$set": {"transaction_amount": 13.0}},
    )
    .await
    .expect("change");
    let planned: Vec<_> = found
        .iter()
        .zip(&records)
        .map(|(doc, r)| (doc, r.clone(), None))
        .collect();
    let done = store.convert_legacy_batch(&planned).await.expect("convert");
    assert_eq!(done, [true, false, true]);
    // (The store serves nothing while a document is still in the original's layout: the
    // converted ones are read raw.)
    for r in [&records[0], &records[2]] {
        let converted = raw
            .find_one(doc! {"_id": ObjectId::from_bytes(r.id.object_id().bytes())})
            .await
            .expect("read")
            .expect("still there");
        assert_eq!(
            converted.get_i64("amount_cents").ok(),
            Some(1250),
            "{converted}"
        );
        assert_eq!(converted.get_i64("version").ok(), Some(1), "{converted}");
    }
    let left = store.legacy_after(None, 10).await.expect("legacy");
    assert_eq!(left.len(), 1, "the changed one is still to convert");
    assert_eq!(left[0].id, records[1].id);
    assert_eq!(
        left[0].original.get_f64("transaction_amount").ok(),
        Some(13.0)
    );
}
