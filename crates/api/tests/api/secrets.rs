//! Where the secrets come from: development keys made once and kept private, production
//! refusing to start without them, configured keys named by position.

use std::path::Path;

use fido_api::secrets::{api_keys, cipher, DEV_API_KEY_FILE, DEV_KEY_FILE};
use fido_api::Settings;
use fido_http::auth::hash_key;

use std::collections::HashMap;

fn settings(vars: &[(&str, &str)], dir: &Path) -> Settings {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    map.insert(
        "DB_URI".into(),
        format!("sqlite://{}/fido.db", dir.display()),
    );
    let mut s =
        Settings::load_from(Path::new("/nonexistent"), |k| map.get(k).cloned(), false).unwrap();
    s.security.data_dir = dir.to_owned();
    s
}

#[test]
fn development_generates_a_private_key_once_and_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&[], dir.path());
    let a = cipher(&s).unwrap();
    let token = a.encrypt_str("x");
    let b = cipher(&s).unwrap();
    assert_eq!(
        b.decrypt_str(&token).unwrap(),
        "x",
        "the same key is reused"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(DEV_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn production_without_a_key_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let e = cipher(&settings(&[("APP_ENV", "production")], dir.path())).unwrap_err();
    assert!(e.chain().contains("FERNET_KEY is required in production"));
    assert!(!dir.path().join(DEV_KEY_FILE).exists());
}

#[test]
fn development_creates_one_api_key_and_production_requires_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = settings(&[], dir.path());
    let first = api_keys(&s).unwrap();
    let key = std::fs::read_to_string(dir.path().join(DEV_API_KEY_FILE)).unwrap();
    assert!(first.authenticate(key.trim()).is_some());
    assert!(
        api_keys(&s).unwrap().authenticate(key.trim()).is_some(),
        "reused"
    );
    let e = api_keys(&settings(&[("APP_ENV", "production")], dir.path())).unwrap_err();
    assert!(e.chain().contains("API_KEYS is required in production"));
    let configured = settings(
        &[("API_KEYS", &format!("ci:{}:read", hash_key("k")))],
        dir.path(),
    );
    assert_eq!(
        api_keys(&configured)
            .unwrap()
            .authenticate("k")
            .unwrap()
            .name,
        "ci"
    );
}

#[test]
fn a_bad_configured_key_is_named_by_position() {
    let dir = tempfile::tempdir().unwrap();
    let e = cipher(&settings(&[("FERNET_KEY", "nope")], dir.path())).unwrap_err();
    assert!(e.chain().contains("key #1"), "{}", e.chain());
    assert!(!e.chain().contains("nope"));
}
