//! Who may call, what they may do, and how fast: API keys, scopes, rate limits, headers,
//! CORS — and nothing secret in the logs.

use awc::http::StatusCode;
use serde_json::json;

use crate::helpers::{
    captured_logs, fresh_user, settings_for, spawn_app, spawn_with, TestApp, READ_KEY, USER,
    WRITE_KEY,
};

/// A client that sends no key at all.
fn anonymous() -> awc::Client {
    awc::Client::builder().disable_redirects().finish()
}

async fn status(
    app: &TestApp,
    client: &awc::Client,
    method: &str,
    path: &str,
    key: Option<&str>,
) -> (StatusCode, awc::http::header::HeaderMap) {
    let url = app.url(path);
    let mut req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url),
        "PATCH" => client.patch(url),
        _ => client.delete(url),
    };
    if let Some(key) = key {
        req = req.insert_header(("authorization", format!("Bearer {key}")));
    }
    let res = if method == "POST" || method == "PATCH" {
        req.send_json(&json!({"transaction_amount": 1})).await
    } else {
        req.send().await
    }
    .expect("request");
    (res.status(), res.headers().clone())
}

const DATA_ROUTES: [(&str, &str); 6] = [
    ("POST", "/api/v1/transactions"),
    ("GET", "/api/v1/transactions/6650f0c2e4b0a1b2c3d4e5f6"),
    ("PATCH", "/api/v1/transactions/6650f0c2e4b0a1b2c3d4e5f6"),
    ("DELETE", "/api/v1/transactions/6650f0c2e4b0a1b2c3d4e5f6"),
    ("GET", "/api/v1/transactions/user/65e25a6bfb249dcbfbf00b93"),
    (
        "GET",
        "/api/v1/analytics/transactions/65e25a6bfb249dcbfbf00b93",
    ),
];

#[actix_web::test]
async fn every_data_route_refuses_a_missing_or_wrong_key_with_401() {
    let app = spawn_app().await;
    let client = anonymous();
    for (method, path) in DATA_ROUTES {
        for key in [None, Some("not-a-key"), Some("")] {
            let (status, headers) = status(&app, &client, method, path, key).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with {key:?}"
            );
            assert!(headers
                .get("www-authenticate")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("Bearer"));
        }
    }
    let basic = client
        .get(app.url("/api/v1/transactions/user/65e25a6bfb249dcbfbf00b93"))
        .insert_header(("authorization", "Basic dXNlcjpwYXNz"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn public_routes_need_no_key() {
    let app = spawn_app().await;
    let client = anonymous();
    for path in [
        "/",
        "/health/live",
        "/health/ready",
        "/openapi.json",
        "/docs/",
    ] {
        let res = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
    }
    let res = client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PERMANENT_REDIRECT);
}

#[actix_web::test]
async fn scopes_separate_readers_from_writers() {
    let app = spawn_app().await;
    let client = anonymous();
    for (method, path) in DATA_ROUTES {
        let (as_reader, _) = status(&app, &client, method, path, Some(READ_KEY)).await;
        let (as_writer, _) = status(&app, &client, method, path, Some(WRITE_KEY)).await;
        if method == "GET" {
            assert_ne!(
                as_reader,
                StatusCode::FORBIDDEN,
                "{method} {path}: a reader may read"
            );
            assert_eq!(
                as_writer,
                StatusCode::FORBIDDEN,
                "{method} {path}: a writer may not read"
            );
        } else {
            assert_eq!(
                as_reader,
                StatusCode::FORBIDDEN,
                "{method} {path}: a reader may not write"
            );
            assert_ne!(
                as_writer,
                StatusCode::FORBIDDEN,
                "{method} {path}: a writer may write"
            );
        }
    }
}

#[actix_web::test]
async fn a_key_over_its_rate_limit_gets_429_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(dir.path(), &[]);
    settings.security.rate_limit_per_second = 1;
    settings.security.rate_limit_burst = 3;
    let app = spawn_with(settings).await;
    let path = format!("/api/v1/transactions/user/{USER}");
    for _ in 0..3 {
        assert_eq!(app.get(&path).await.status, StatusCode::OK);
    }
    let limited = app.get(&path).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers.get("retry-after").unwrap(), "1");
    // Other keys have their own bucket; public routes are not limited.
    let (other, _) = status(&app, &anonymous(), "GET", &path, Some(READ_KEY)).await;
    assert_eq!(other, StatusCode::OK);
    assert_eq!(app.get("/health/live").await.status, StatusCode::OK);
}

#[actix_web::test]
async fn responses_carry_security_headers_and_no_server_banner() {
    let app = spawn_app().await;
    for path in [
        "/",
        &format!("/api/v1/transactions/user/{USER}"),
        "/nope",
        "/openapi.json",
    ] {
        let r = app.get(path).await;
        assert_eq!(
            r.headers.get("x-content-type-options").unwrap(),
            "nosniff",
            "{path}"
        );
        assert_eq!(
            r.headers.get("cache-control").unwrap(),
            "no-store",
            "{path}"
        );
        assert!(
            r.headers.get("server").is_none(),
            "{path} announces its server"
        );
    }
}

#[actix_web::test]
async fn cors_is_closed_in_production_and_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let closed = spawn_with(settings_for(
        dir.path(),
        &[
            ("APP_ENV", "production"),
            (
                "FERNET_KEY",
                &fido_cipher_fernet::FernetCipher::generate_key(),
            ),
        ],
    ))
    .await;
    let preflight = |app: &TestApp, origin: &'static str| {
        app.client
            .request(awc::http::Method::OPTIONS, app.url("/api/v1/transactions"))
            .insert_header(("origin", origin))
            .insert_header(("access-control-request-method", "POST"))
            .send()
    };
    let res = preflight(&closed, "https://evil.example").await.unwrap();
    assert!(
        res.headers().get("access-control-allow-origin").is_none(),
        "production allows no origin by default"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings_for(dir.path(), &[]);
    settings.security.cors_allowed_origins = Some("https://app.example".into());
    let open = spawn_with(settings).await;
    let ok = preflight(&open, "https://app.example").await.unwrap();
    assert_eq!(
        ok.headers().get("access-control-allow-origin").unwrap(),
        "https://app.example"
    );
    let other = preflight(&open, "https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[actix_web::test]
async fn the_openapi_document_declares_the_bearer_scheme_on_every_data_route() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await.body;
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            let secured = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            assert_eq!(secured, path.starts_with("/api/"), "{method} {path}");
            if secured {
                for code in ["401", "403", "429"] {
                    assert!(
                        op["responses"][code].is_object(),
                        "{method} {path} lacks {code}"
                    );
                }
            }
        }
    }
}

#[actix_web::test]
async fn logs_hold_no_name_key_or_token() {
    let app = spawn_app().await;
    let name = "Yolanda Secretkeeper";
    let user = fresh_user();
    let created = app
        .post_json(
            "/api/v1/transactions",
            &json!({"user_id": user, "full_name": name,
            "transaction_amount": 2.5, "transaction_type": "debit"}),
        )
        .await;
    let id = created.data()["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/transactions/{id}");
    app.get(&path).await;
    app.patch_json(&path, &json!({"full_name": "Yolanda Secretkeeper-Jones"}))
        .await;
    let (denied, _) = status(
        &app,
        &anonymous(),
        "GET",
        &path,
        Some("fido_wrong_key_attempt"),
    )
    .await;
    assert_eq!(denied, StatusCode::UNAUTHORIZED);
    let token = app.stored(&id).await.full_name.as_str().to_owned();

    let logs = captured_logs();
    assert!(
        logs.contains("without a valid API key refused"),
        "the failed authentication is logged"
    );
    for secret in [
        "Yolanda",
        "Secretkeeper",
        crate::helpers::FULL_KEY,
        "fido_wrong_key_attempt",
        &token,
        &token[..40],
    ] {
        assert!(!logs.contains(secret), "{secret:?} reached the logs");
    }
}
