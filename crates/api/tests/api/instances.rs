//! Several instances behind a load balancer share one store and one Redis: a write through
//! one is visible through any other on the next read, and Redis going away never fails a
//! request.

use std::time::{Duration, Instant};

use awc::http::StatusCode;
use fido_testkit::servers::{Kind, TestServer};
use serde_json::json;

use crate::helpers::{fresh_user, settings_for, spawn_with, TestApp};

async fn reads(app: &TestApp, user: &str) -> Vec<serde_json::Value> {
    let lists = [
        "",
        "?page=2&limit=1",
        "?page=1&limit=11",
        "?page=11&limit=1",
    ];
    let stats = [
        "",
        "?start_date=2025-11-25",
        "?end_date=2025-11-24",
        "?start_date=2025-11-25&end_date=2025-11-25",
    ];
    app.bodies(user, &lists, &stats).await
}

#[actix_web::test]
async fn a_write_through_one_instance_is_read_through_the_other() {
    let Some(redis) = fido_testkit::service_url("REDIS_URL") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // Same data folder: the same store (file or database) and the same key prefix.
    let settings = settings_for(dir.path(), &[("REDIS_URL", redis.as_str())]);
    let a = spawn_with(settings.clone()).await;
    let b = spawn_with(settings).await;
    let user = fresh_user();

    let first = a
        .create(&user, 1.0, "credit", Some("2025-11-25T08:00:00Z"))
        .await;
    a.create(&user, 2.0, "debit", Some("2025-11-24T08:00:00Z"))
        .await;
    let warm = reads(&b, &user).await;
    assert_eq!(
        reads(&b, &user).await,
        warm,
        "b serves from the shared cache"
    );
    assert_eq!(reads(&a, &user).await, warm, "both instances agree");

    a.create(&user, 4.0, "credit", Some("2025-11-25T09:00:00Z"))
        .await;
    let after = reads(&b, &user).await;
    assert_eq!(after[0]["data"]["total"], 3);
    assert_eq!(
        after[1]["data"]["data"][0]["transaction_amount"], 1.0,
        "page 2 of limit 1"
    );
    assert_eq!(after[4]["data"]["total_transaction"], 7.0);
    assert_eq!(after[5]["data"]["transaction_count"], 2, "start-only range");
    assert_eq!(after[7]["data"]["total_credit"], 5.0, "closed range");

    let path = format!("/api/v1/transactions/{}", first["id"].as_str().unwrap());
    // Reads by id are cached under the owner's entries: b learns the owner on its first
    // read, then serves the transaction from the cache until a's writes invalidate it.
    for _ in 0..3 {
        let by_id = b.get(&path).await;
        assert_eq!(by_id.status, StatusCode::OK);
        assert_eq!(by_id.body["data"]["transaction_amount"], 1.0);
        assert_eq!(by_id.headers.get("etag").unwrap(), "\"1\"");
    }
    assert_eq!(
        a.patch_json(&path, &json!({"transaction_amount": 10.0}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(reads(&b, &user).await[4]["data"]["total_transaction"], 16.0);
    let by_id = b.get(&path).await;
    assert_eq!(
        by_id.body["data"]["transaction_amount"], 10.0,
        "by id, after a's update"
    );
    assert_eq!(by_id.headers.get("etag").unwrap(), "\"2\"");
    assert_eq!(a.delete(&path).await.status, StatusCode::OK);
    assert_eq!(
        b.get(&path).await.status,
        StatusCode::NOT_FOUND,
        "by id, after a's delete"
    );
    let after = reads(&b, &user).await;
    assert_eq!(after[0]["data"]["total"], 2);
    assert_eq!(after[7]["data"]["transaction_count"], 1);
    let ready = b.get("/health/ready").await;
    assert_eq!(ready.body["checks"]["cache"], "ok");
}

#[actix_web::test]
async fn with_redis_stopped_mid_run_every_request_still_succeeds() {
    let Some(mut redis) = TestServer::start(Kind::Redis) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = redis.url();
    let app = spawn_with(settings_for(dir.path(), &[("REDIS_URL", url.as_str())])).await;
    let user = fresh_user();
    let t = app.create(&user, 5.0, "credit", None).await;
    assert_eq!(app.list(&user, "").await.status, StatusCode::OK);
    assert_eq!(app.get("/health/ready").await.body["status"], "ok");

    redis.stop();
    let started = Instant::now();
    let path = format!("/api/v1/transactions/{}", t["id"].as_str().unwrap());
    app.create(&user, 7.0, "debit", None).await;
    assert_eq!(
        app.list(&user, "").await.data()["total"],
        2,
        "answered from the store"
    );
    assert_eq!(app.stats(&user, "").await.data()["net"], -2.0);
    assert_eq!(
        app.patch_json(&path, &json!({"transaction_amount": 6.0}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        app.stats(&user, "").await.data()["net"],
        -1.0,
        "read-your-writes without Redis"
    );
    let ready = app.get("/health/ready").await;
    assert_eq!(
        ready.status,
        StatusCode::OK,
        "a broken cache never fails readiness"
    );
    assert_eq!(
        ready.body["checks"],
        json!({"store": "ok", "cache": "unavailable"})
    );
    assert_eq!(ready.body["status"], "degraded");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no request waited long: {:?}",
        started.elapsed()
    );

    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get("/health/ready").await.body["status"] != "ok" {
        assert!(Instant::now() < deadline, "caching did not resume");
        actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.delete(&path).await.status, StatusCode::OK);
    assert_eq!(app.stats(&user, "").await.data()["net"], -7.0);
    assert_eq!(app.list(&user, "").await.data()["total"], 1);
}

#[actix_web::test]
async fn a_write_pause_reaches_every_instance_without_a_restart() {
    use fido_api::cli::WritesCommand;
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_for(dir.path(), &[]);
    let a = spawn_with(settings.clone()).await;
    let b = spawn_with(settings.clone()).await;
    let user = fresh_user();
    let kept = a.create(&user, 1.0, "credit", None).await;
    let body = json!({"user_id": user, "full_name": "Ada Lovelace",
                      "transaction_amount": 2.0, "transaction_type": "debit"});
    let mut created = 1;

    let pause = WritesCommand::Pause {
        reason: "switch-over".into(),
    };
    let state = fido_api::commands::writes::apply(&settings, &pause)
        .await
        .expect("pause");
    assert_eq!(state.expect("paused").reason, "switch-over");
    let paused = Instant::now();
    for app in [&a, &b] {
        loop {
            let r = app.post_json("/api/v1/transactions", &body).await;
            if r.status == StatusCode::SERVICE_UNAVAILABLE {
                assert_eq!(r.headers.get("retry-after").unwrap(), "2");
                assert!(
                    r.body["message"]
                        .as_str()
                        .unwrap()
                        .starts_with("Writes are paused"),
                    "{}",
                    r.body
                );
                break;
            }
            assert_eq!(r.status, StatusCode::CREATED);
            created += 1;
            assert!(
                paused.elapsed() < Duration::from_secs(2),
                "an instance still wrote 2 s after the pause"
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
    }
    println!(
        "both instances refused writes {:?} after the pause",
        paused.elapsed()
    );
    let path = format!("/api/v1/transactions/{}", kept["id"].as_str().unwrap());
    for app in [&a, &b] {
        // Updates and deletes are refused as well; reads are served.
        let r = app
            .patch_json(&path, &json!({"transaction_amount": 9.0}))
            .await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            app.delete(&path).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(app.get(&path).await.status, StatusCode::OK);
        assert_eq!(app.list(&user, "").await.data()["total"], created);
        let ready = app.get("/health/ready").await;
        assert_eq!(ready.status, StatusCode::OK);
        assert_eq!(ready.body["writes"], "paused");
    }
    assert_eq!(
        a.get(&path).await.data()["transaction_amount"],
        1.0,
        "nothing changed while paused"
    );

    let state = fido_api::commands::writes::apply(&settings, &WritesCommand::Resume)
        .await
        .expect("resume");
    assert!(state.is_none());
    let resumed = Instant::now();
    for app in [&a, &b] {
        loop {
            let r = app.post_json("/api/v1/transactions", &body).await;
            if r.status == StatusCode::CREATED {
                created += 1;
                break;
            }
            assert!(
                resumed.elapsed() < Duration::from_secs(2),
                "an instance still refused writes 2 s after the resume"
            );
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(app.get("/health/ready").await.body.get("writes").is_none());
    }
    assert_eq!(b.list(&user, "").await.data()["total"], created);
}
