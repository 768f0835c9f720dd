//! Personal data: stored encrypted, never logged.

use fido_cipher_fernet::FernetCipher;
use serde_json::json;

use crate::helpers::{captured_logs, fresh_user, spawn_app};

#[actix_web::test]
async fn the_stored_name_is_a_fernet_token_of_the_dev_key_in_either_store() {
    let app = spawn_app().await;
    let created = app.create(&fresh_user(), 1.0, "credit", None).await;
    let id = created["id"].as_str().unwrap();

    let record = app.stored(id).await;
    let stored = record.full_name.as_str().to_owned();
    assert!(stored.starts_with("gAAAAA"), "not a Fernet token: {stored}");
    // (A random token may contain "Ada" by chance; it never contains the whole name.)
    assert!(!stored.contains("Ada Lovelace"));

    let key = std::fs::read_to_string(app.data_dir.join("fernet.key")).unwrap();
    let cipher = FernetCipher::from_key_list(key.trim()).unwrap();
    assert_eq!(cipher.decrypt_str(&stored).unwrap(), "Ada Lovelace");
}

#[actix_web::test]
async fn the_full_name_never_reaches_the_logs() {
    let app = spawn_app().await;
    let secret_name = "Zelda Quixotic-Privacyson";
    let user = fresh_user();
    let r = app
        .post_json(
            "/api/v1/transactions",
            &json!({"user_id": user, "full_name": secret_name,
            "transaction_amount": 1.5, "transaction_type": "credit"}),
        )
        .await;
    let path = format!("/api/v1/transactions/{}", r.data()["id"].as_str().unwrap());
    app.get(&path).await;
    app.patch_json(&path, &json!({"full_name": format!("{secret_name} II")}))
        .await;
    app.list(&user, "").await;
    // Invalid input containing the name must not echo it either.
    app.post_json(
        "/api/v1/transactions",
        &json!({"user_id": "bad", "full_name": format!("{secret_name}\u{0}")}),
    )
    .await;
    app.delete(&path).await;

    let logs = captured_logs();
    assert!(
        logs.contains("request completed"),
        "access lines are being captured"
    );
    assert!(!logs.contains("Zelda"), "the name leaked into the logs");
    assert!(!logs.contains("Privacyson"));
}
