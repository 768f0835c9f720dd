use awc::http::StatusCode;

use crate::helpers::spawn_app;

#[actix_web::test]
async fn root_says_the_backend_is_running() {
    let app = spawn_app().await;
    let r = app.get("/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.body,
        serde_json::json!({"message": "Backend is running", "data": null})
    );
}

#[actix_web::test]
async fn liveness_and_readiness() {
    let app = spawn_app().await;
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
    let r = app.get("/health/ready").await;
    assert_eq!(r.status, StatusCode::OK);
    // The embedded default runs the event relay in the process (no publisher: the feed
    // only), so readiness reports it too; and every process says whether committed events
    // reach the feed. The relay takes its lease at its first round.
    let mut body = r.body.clone();
    assert!(body["events"]["leader"].is_boolean(), "{body}");
    body["events"]["leader"] = serde_json::json!(null);
    assert_eq!(
        body,
        serde_json::json!({"status": "ok", "checks": {"store": "ok", "cache": "ok"},
            "events": {"status": "ok", "leader": null, "backlog": 0, "failing_publishers": []},
            "feed": {"status": "ok", "unsequenced": 0}})
    );
}

#[actix_web::test]
async fn every_response_carries_a_request_id_and_sane_ones_are_echoed() {
    let app = spawn_app().await;
    let generated = app.get("/").await;
    let id = generated.headers.get("x-request-id").expect("generated id");
    assert_eq!(id.len(), 32);

    let echoed = app
        .client
        .get(app.url("/nope"))
        .insert_header(("x-request-id", "abc-123.DEF_4:5"))
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        echoed.headers().get("x-request-id").unwrap(),
        "abc-123.DEF_4:5"
    );

    let insane = app
        .client
        .get(app.url("/"))
        .insert_header(("x-request-id", "has spaces and <html>"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        insane.headers().get("x-request-id").unwrap(),
        "has spaces and <html>"
    );
}

#[actix_web::test]
async fn swagger_ui_is_served_from_the_binary_and_docs_redirects() {
    let app = spawn_app().await;
    let redirect = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(redirect.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(redirect.headers().get("location").unwrap(), "/docs/");
    let mut ui = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(ui.status(), StatusCode::OK);
    let html = String::from_utf8(ui.body().await.unwrap().to_vec()).unwrap();
    assert!(html.contains("swagger-ui"), "not the Swagger UI page");
    let js = app
        .client
        .get(app.url("/docs/swagger-ui-bundle.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        js.status(),
        StatusCode::OK,
        "assets are vendored into the binary"
    );
}

#[actix_web::test]
async fn the_openapi_document_describes_every_route_and_its_errors() {
    let app = spawn_app().await;
    let r = app.get("/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = &r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let expected = [
        ("/", "get"),
        ("/health/live", "get"),
        ("/health/ready", "get"),
        ("/api/v1/transactions", "post"),
        ("/api/v1/transactions/{transaction_id}", "get"),
        ("/api/v1/transactions/{transaction_id}", "patch"),
        ("/api/v1/transactions/{transaction_id}", "delete"),
        ("/api/v1/transactions/user/{user_id}", "get"),
        ("/api/v1/analytics/transactions/{user_id}", "get"),
    ];
    for (path, method) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is missing");
        if path.starts_with("/api/") {
            for status in ["422", "503", "500"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} lacks {status}"
                );
            }
        }
    }
    let create = &doc["components"]["schemas"]["TransactionCreateDto"];
    assert_eq!(
        create["additionalProperties"], false,
        "unknown fields are documented as rejected"
    );
    assert!(doc["components"]["schemas"]["Envelope_TransactionBody"].is_object());
}

/// A client generated from the original service's document keeps compiling against ours:
/// its operation ids, path parameter and request schema names are the original's.
#[actix_web::test]
async fn the_originals_operation_ids_and_schema_names_are_kept() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.body;
    for (path, method, id) in [
        ("/", "get", "healthcheck__get"),
        (
            "/api/v1/transactions",
            "post",
            "create_user_transaction_api_v1_transactions_post",
        ),
        (
            "/api/v1/transactions/{transaction_id}",
            "get",
            "get_transaction_by_id_api_v1_transactions__transaction_id__get",
        ),
        (
            "/api/v1/transactions/{transaction_id}",
            "patch",
            "update_user_transaction_api_v1_transactions__transaction_id__patch",
        ),
        (
            "/api/v1/transactions/{transaction_id}",
            "delete",
            "delete_transaction_by_id_api_v1_transactions__transaction_id__delete",
        ),
        (
            "/api/v1/transactions/user/{user_id}",
            "get",
            "get_user_transactions_api_v1_transactions_user__user_id__get",
        ),
        (
            "/api/v1/analytics/transactions/{user_id}",
            "get",
            "get_transaction_stats_api_v1_analytics_transactions__user_id__get",
        ),
    ] {
        assert_eq!(
            doc["paths"][path][method]["operationId"], id,
            "{method} {path}"
        );
    }
    let schemas = &doc["components"]["schemas"];
    for name in [
        "TransactionCreateDto",
        "TransactionUpdateDto",
        "TransactionType",
    ] {
        assert!(schemas[name].is_object(), "{name}");
    }
    let stats = &doc["paths"]["/api/v1/analytics/transactions/{user_id}"]["get"]["parameters"];
    for p in stats
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
    {
        assert_eq!(p["schema"]["format"], "date-time", "{}", p["name"]);
    }
    let legacy = &schemas["CreatedTransactionBody"]["allOf"][1]["properties"]["_id"];
    assert_eq!(
        legacy["deprecated"], true,
        "{}",
        schemas["CreatedTransactionBody"]
    );
}

/// `docs/api.md` (the contract in the repository) and `/openapi.json` list the same
/// operations: every documented `METHOD /path` exists, and every operation is documented.
#[actix_web::test]
async fn the_contract_in_docs_and_the_openapi_document_agree() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.body;
    let mut served = std::collections::BTreeSet::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            served.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    let contract = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/api.md"),
    )
    .unwrap();
    let mut documented = std::collections::BTreeSet::new();
    for quoted in contract.split('`').skip(1).step_by(2) {
        let mut words = quoted.split_whitespace();
        if let (Some(method), Some(path), None) = (words.next(), words.next(), words.next()) {
            let is_method = ["GET", "POST", "PATCH", "DELETE", "PUT"].contains(&method);
            // Swagger UI and the document itself are served beside the API, not in it.
            if is_method && path.starts_with('/') && !["/docs", "/openapi.json"].contains(&path) {
                documented.insert(format!("{method} {path}"));
            }
        }
    }
    assert_eq!(documented, served, "docs/api.md and /openapi.json disagree");
}
