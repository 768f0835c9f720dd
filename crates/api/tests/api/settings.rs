//! Settings, through the public loader: layering, typing, adapter rules, redaction, and
//! that every setting is documented in `.env.example`.

use std::path::Path;

use fido_api::settings::{AppEnv, SqliteSynchronous, StoreKind, ORIGINAL_VARIABLES};
use fido_api::{Result, Settings};

use std::collections::HashMap;

fn load(vars: &[(&str, &str)]) -> Result<Settings> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Settings::load_from(Path::new("/nonexistent"), |k| map.get(k).cloned(), false)
}

#[test]
fn defaults_select_the_embedded_store_and_local_address() {
    let s = load(&[]).unwrap();
    assert_eq!(s.app_env, AppEnv::Development);
    assert_eq!((s.server.host.as_str(), s.server.port), ("127.0.0.1", 8080));
    assert_eq!(
        s.store_kind().unwrap(),
        StoreKind::Sqlite("./data/fido.db".into())
    );
    assert!(s.cache.redis_url.is_none());
    assert!(s.security.fernet_key.is_none());
    assert!(!s.json_logs());
    assert_eq!(s.cors_origins(), ["*"]);
}

#[test]
fn original_variables_switch_adapters() {
    let s = load(&[
        ("DB_URI", "mongodb://user:pw@db:27017/fido"),
        ("REDIS_URL", "redis://cache:6379"),
        ("FERNET_KEY", "k1,k2"),
        ("PORT", "9000"),
        ("HOST", "0.0.0.0"),
        ("APP_ENV", "production"),
    ])
    .unwrap();
    assert_eq!(s.store_kind().unwrap(), StoreKind::MongoDb);
    assert_eq!(s.server.port, 9000);
    assert!(s.json_logs());
    assert!(s.cors_origins().is_empty(), "CORS is closed in production");
    assert_eq!(s.security.fernet_key.as_ref().unwrap().expose(), "k1,k2");
    let shown = format!("{s:?}");
    assert!(
        !shown.contains("pw@") && !shown.contains("k1,k2"),
        "secrets in Debug: {shown}"
    );
}

#[test]
fn invalid_settings_name_the_setting_without_echoing_values() {
    let chain = |vars: &[(&str, &str)]| load(vars).unwrap_err().chain();
    let e = chain(&[("PORT", "eighty")]);
    assert!(e.contains("port"), "{e}");
    let e = chain(&[("APP_ENV", "staging")]);
    assert!(e.contains("APP_ENV"), "{e}");
    let e = chain(&[("DB_URI", "postgres://secret@x")]);
    assert!(e.contains("DB_URI") && !e.contains("secret"), "{e}");
    let e = chain(&[("REDIS_URL", "http://secret@x")]);
    assert!(e.contains("REDIS_URL") && !e.contains("secret"), "{e}");
}

#[test]
fn adapter_rules_are_checked_by_the_adapters() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default.toml"),
        "[cache]\nredis_key_prefix = \"a b\"\n[store]\nsqlite_readers = 0\n",
    )
    .unwrap();
    let e = Settings::load_from(dir.path(), |_| None, false)
        .unwrap_err()
        .chain();
    assert!(e.contains("store.sqlite_readers"), "{e}");
    std::fs::write(
        dir.path().join("default.toml"),
        "[cache]\nredis_key_prefix = \"a b\"\n",
    )
    .unwrap();
    let redis = |k: &str| (k == "REDIS_URL").then(|| "redis://x".to_owned());
    let e = Settings::load_from(dir.path(), redis, false)
        .unwrap_err()
        .chain();
    assert!(e.contains("cache.redis_key_prefix"), "{e}");
}

#[test]
fn enumerated_settings_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default.toml"),
        "[store]\nsqlite_synchronous = \"normal\"\n[log]\nformat = \"json\"\n",
    )
    .unwrap();
    let s = Settings::load_from(dir.path(), |_| None, false).unwrap();
    assert_eq!(s.store.sqlite_synchronous, SqliteSynchronous::Normal);
    assert!(s.json_logs());
    std::fs::write(dir.path().join("default.toml"), "[log]\nformat = \"xml\"\n").unwrap();
    let e = Settings::load_from(dir.path(), |_| None, false)
        .unwrap_err()
        .chain();
    assert!(e.contains("format"), "{e}");
}

#[test]
fn config_files_are_layered() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("default.toml"),
        "[cache]\nlist_ttl_secs = 5\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("production.toml"),
        "[cache]\nlist_ttl_secs = 7\n",
    )
    .unwrap();
    let dev = Settings::load_from(dir.path(), |_| None, false).unwrap();
    assert_eq!(dev.cache.list_ttl_secs, 5);
    assert_eq!(dev.cache.statistics_ttl_secs, 600, "defaults fill the rest");
    let prod = Settings::load_from(
        dir.path(),
        |k| (k == "APP_ENV").then(|| "production".to_owned()),
        false,
    )
    .unwrap();
    assert_eq!(prod.cache.list_ttl_secs, 7);
}

/// Every setting, as `section.key` (or `key` at the top).
fn setting_names() -> Vec<String> {
    let value = serde_json::to_value(Settings::default()).unwrap();
    let mut names = Vec::new();
    for (section, inner) in value.as_object().unwrap() {
        match inner.as_object() {
            Some(keys) => names.extend(keys.keys().map(|k| format!("{section}.{k}"))),
            None => names.push(section.clone()),
        }
    }
    names
}

#[test]
fn every_setting_is_documented_in_env_example() {
    let example =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.env.example"))
            .unwrap();
    let mut missing = Vec::new();
    for name in setting_names() {
        let original = ORIGINAL_VARIABLES
            .iter()
            .find(|(_, key)| *key == name)
            .map(|(variable, _)| *variable);
        let variable = format!("FIDO__{}", name.replace('.', "__").to_uppercase());
        let documented = example.contains(&variable)
            || original.is_some_and(|v| example.contains(&format!("{v}=")));
        if !documented {
            missing.push(variable);
        }
    }
    assert!(
        missing.is_empty(),
        ".env.example does not document {missing:?}"
    );
}

#[test]
fn a_dump_of_the_settings_holds_no_secret() {
    let s = load(&[("FERNET_KEY", "k1"), ("DB_URI", "mongodb://u:pw@db/x")]).unwrap();
    let dump = serde_json::to_string(&s).unwrap();
    assert!(!dump.contains("pw@") && !dump.contains("k1"), "{dump}");
}

#[test]
fn the_shipped_config_files_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    for env in ["development", "production"] {
        let s = Settings::load_from(&dir, |k| (k == "APP_ENV").then(|| env.to_owned()), false);
        assert!(s.is_ok(), "{env}: {:?}", s.err());
    }
}

#[test]
fn the_history_is_kept_for_ever_unless_a_number_of_days_is_given() {
    // Through a config file: `FIDO__HISTORY__RETENTION_DAYS` reaches the same field as
    // text (empty, or digits) or as a number.
    let with = |value: &str| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("default.toml"),
            format!("[history]\nretention_days = {value}\n"),
        )
        .unwrap();
        Settings::load_from(dir.path(), |_| None, false)
    };
    let day = std::time::Duration::from_secs(86_400);
    assert_eq!(
        load(&[]).unwrap().history.retention(),
        None,
        "for ever by default"
    );
    assert_eq!(
        with("\"\"").unwrap().history.retention(),
        None,
        "empty: for ever"
    );
    assert_eq!(with("30").unwrap().history.retention(), Some(day * 30));
    assert_eq!(with("\"30\"").unwrap().history.retention(), Some(day * 30));
    for bad in ["0", "\"thirty\"", "-1"] {
        let e = with(bad).unwrap_err().chain();
        assert!(e.contains("retention_days"), "{bad}: {e}");
    }
}
