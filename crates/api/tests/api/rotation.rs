//! Rotating the Fernet key: a new first key is used for writes at once; `fido reencrypt`
//! moves every stored name to it while the API keeps serving; then the old key can go.

use fido_cipher_fernet::FernetCipher;

use crate::helpers::{fresh_user, settings_for, spawn_with};

#[actix_web::test]
async fn a_new_primary_key_writes_at_once_and_reencryption_retires_the_old_one() {
    let old = FernetCipher::generate_key();
    let new = FernetCipher::generate_key();
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();

    let before = spawn_with(settings_for(dir.path(), &[("FERNET_KEY", old.as_str())])).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            before.create(&user, f64::from(i), "credit", None).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    // An update under the old key: its version keeps both names (before and after).
    let renamed = before
        .patch_json(
            &format!("/api/v1/transactions/{}", ids[0]),
            &serde_json::json!({"full_name": "Grace Hopper"}),
        )
        .await;
    assert_eq!(renamed.status.as_u16(), 200);
    before.stop().await;

    let rotated_keys = format!("{new},{old}");
    let rotated = settings_for(dir.path(), &[("FERNET_KEY", rotated_keys.as_str())]);
    let during = spawn_with(rotated.clone()).await;
    let written_after = during.create(&user, 99.0, "debit", None).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_only = FernetCipher::from_key_list(&new).unwrap();
    let token = during
        .stored(&written_after)
        .await
        .full_name
        .as_str()
        .to_owned();
    assert_eq!(
        new_only.decrypt_str(&token).unwrap(),
        "Ada Lovelace",
        "new writes use the new key at once"
    );

    let mut batches = 0;
    let rotation = fido_api::commands::reencrypt::reencrypt(
        &rotated,
        3,
        None,
        |_| batches += 1,
        |_| {},
        |_| {},
    )
    .await
    .unwrap();
    let report = rotation.names;
    // The renamed transaction's two versions hold old tokens (the update's before and
    // after; the create's values are that before). The other creates' versions hold the
    // name too where the store keeps them whole (MongoDB: 8 in all); the embedded store
    // reads them from the rows (2). Decisive: every history reads with the new key alone
    // (below).
    let whole = if crate::helpers::on_mongodb() { 8 } else { 2 };
    assert_eq!(
        rotation.history.changed, whole,
        "the history's copies of old names too"
    );
    assert_eq!(rotation.history.unreadable, 0);
    assert!(report.scanned >= 8);
    assert_eq!(
        report.changed, 7,
        "exactly the old records were re-encrypted"
    );
    assert_eq!(report.unreadable, 0);
    assert!(batches >= 3, "worked in batches");
    let again =
        fido_api::commands::reencrypt::reencrypt(&rotated, 100, None, |_| {}, |_| {}, |_| {})
            .await
            .unwrap();
    assert_eq!(
        again.names.changed, 0,
        "a second run has nothing left to do"
    );
    assert_eq!(again.history.changed, 0);

    // Every stored name now opens with the new key alone; the API still reads them all.
    for id in ids.iter().chain([&written_after]) {
        let token = during.stored(id).await.full_name.as_str().to_owned();
        let name = if *id == ids[0] {
            "Grace Hopper"
        } else {
            "Ada Lovelace"
        };
        assert_eq!(new_only.decrypt_str(&token).unwrap(), name);
        assert_eq!(
            during
                .get(&format!("/api/v1/transactions/{id}"))
                .await
                .status
                .as_u16(),
            200
        );
    }
    during.stop().await;
    let after = spawn_with(settings_for(dir.path(), &[("FERNET_KEY", new.as_str())])).await;
    assert_eq!(after.list(&user, "?limit=100").await.data()["total"], 8);
    // The histories read with the new key alone.
    for id in &ids {
        let history = after
            .get(&format!("/api/v1/transactions/{id}/history"))
            .await;
        assert_eq!(history.status.as_u16(), 200, "{}", history.body);
        assert_eq!(
            history.data()["versions"][0]["values"]["full_name"],
            "Ada Lovelace"
        );
    }
    let renamed = after
        .get(&format!("/api/v1/transactions/{}/history", ids[0]))
        .await;
    assert_eq!(
        renamed.data()["versions"][1]["changes"]["full_name"],
        serde_json::json!({"before": "Ada Lovelace", "after": "Grace Hopper"})
    );
}
