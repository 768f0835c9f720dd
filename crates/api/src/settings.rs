//! Configuration, in layers (later wins):
//!
//! 1. built-in defaults (below);
//! 2. `config/default.toml`, then `config/<APP_ENV>.toml` (both optional);
//! 3. `.env` in the working directory (loaded into the environment; never overrides a
//!    variable that is already set);
//! 4. the environment: `FIDO__<SECTION>__<KEY>` (e.g. `FIDO__CACHE__LIST_TTL_SECS=60`),
//!    plus the original service's variables `DB_URI`, `REDIS_URL`, `FERNET_KEY`, `HOST`,
//!    `PORT` and `APP_ENV`, which win over everything.
//!
//! Invalid values fail [`Settings::load`] with an error that names the setting; secrets are
//! wrapped so `Debug` never prints them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File};
use serde::Deserialize;

/// A setting that is wrong, named as the operator wrote it.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct SettingsError(pub String);

/// `development` (default) or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AppEnv {
    /// Friendly defaults: a generated Fernet key, readable logs.
    #[default]
    Development,
    /// Strict: every secret must be configured; JSON logs.
    Production,
}

/// A secret string: `Debug` shows `[redacted]`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Every setting of the service.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// `development` or `production`.
    #[serde(default)]
    pub app_env: AppEnv,
    /// The HTTP listener.
    pub server: ServerSettings,
    /// Where records live.
    pub store: StoreSettings,
    /// The read-through cache.
    pub cache: CacheSettings,
    /// Keys and local state.
    pub security: SecuritySettings,
    /// Logging.
    pub log: LogSettings,
}

/// The HTTP listener.
#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    /// Address to bind (`HOST`), default `127.0.0.1`.
    pub host: String,
    /// Port (`PORT`), default 8080; 0 picks a free one.
    pub port: u16,
    /// Worker threads; default: one per core.
    pub workers: Option<usize>,
    /// How long a graceful shutdown waits for in-flight requests.
    pub shutdown_timeout_secs: u64,
    /// How long a client may take to send a request's head (slow senders are cut off).
    pub client_request_timeout_ms: u64,
    /// Open connections each worker accepts at most.
    pub max_connections_per_worker: usize,
}

/// Where records live.
#[derive(Debug, Clone, Deserialize)]
pub struct StoreSettings {
    /// `DB_URI`: `sqlite://<path>` (default `sqlite://./data/fido.db`) or `mongodb://…`.
    pub uri: Secret,
    /// Reader connections of the embedded store.
    pub sqlite_readers: usize,
    /// `full` (default) or `normal`: how the embedded store syncs commits to disk.
    pub sqlite_synchronous: String,
    /// MongoDB: the database to use instead of the one `DB_URI` names (default: the URI's,
    /// else `fido`).
    pub database: Option<String>,
    /// MongoDB: how long to look for a server before answering 503.
    pub mongodb_server_selection_timeout_ms: u64,
    /// MongoDB: how long opening a connection may take.
    pub mongodb_connect_timeout_ms: u64,
    /// MongoDB: the longest any single store call may take.
    pub mongodb_operation_timeout_ms: u64,
    /// MongoDB: connection pool size per server.
    pub mongodb_max_pool_size: u32,
}

/// The read-through cache.
#[derive(Debug, Clone, Deserialize)]
pub struct CacheSettings {
    /// `false` switches caching off (every read goes to the store).
    pub enabled: bool,
    /// `REDIS_URL`; unset selects the in-process cache.
    pub redis_url: Option<Secret>,
    /// Time to live of cached list pages.
    pub list_ttl_secs: u64,
    /// Time to live of cached statistics.
    pub statistics_ttl_secs: u64,
    /// Memory bound of the in-process cache.
    pub memory_max_bytes: u64,
    /// Redis: connections in the pool (one pool per process).
    pub redis_pool_size: usize,
    /// Redis: the longest any cache call may take before it counts as a miss.
    pub redis_timeout_ms: u64,
    /// Redis: prefix of every key, so several services can share one Redis.
    pub redis_key_prefix: String,
}

/// Keys and local state.
#[derive(Debug, Clone, Deserialize)]
pub struct SecuritySettings {
    /// `FERNET_KEY`: one key or a comma-separated list (first encrypts, all decrypt).
    pub fernet_key: Option<Secret>,
    /// Folder for local state: the embedded database and the development keys.
    pub data_dir: PathBuf,
    /// `API_KEYS`: `<name>:<sha-256 hex>:<scopes>` entries, comma-separated.
    pub api_keys: Option<Secret>,
    /// A file holding the same entries, one per line (used when `API_KEYS` is unset).
    pub api_keys_file: Option<PathBuf>,
    /// Requests per second each key may make on average (0 disables the limit).
    pub rate_limit_per_second: u32,
    /// Requests a key may make at once before the average applies.
    pub rate_limit_burst: u32,
    /// Origins allowed by CORS, comma-separated; `*` allows any. Default: `*` in
    /// development, none in production.
    pub cors_allowed_origins: String,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    /// A `tracing` filter, e.g. `info` or `fido_api=debug,info`; `RUST_LOG` wins.
    pub filter: String,
    /// `auto` (JSON in production, text otherwise), `json` or `text`.
    pub format: String,
}

/// What the store URI selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded SQLite file at this path.
    Sqlite(PathBuf),
    /// A MongoDB deployment (the URI is passed to the driver as is).
    MongoDb,
}

impl Settings {
    /// Loads the layers from the working directory and the process environment.
    pub fn load() -> Result<Self, SettingsError> {
        // A missing .env is normal; a malformed one is an error worth stopping for.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(SettingsError(format!(".env: {e}"))),
        }
        Self::load_from(Path::new("config"), |name| std::env::var(name).ok(), true)
    }

    /// Loads with an explicit config folder and variable source (used by tests).
    pub fn load_from(
        config_dir: &Path,
        var: impl Fn(&str) -> Option<String>,
        read_environment: bool,
    ) -> Result<Self, SettingsError> {
        let app_env = var("APP_ENV").unwrap_or_else(|| "development".into());
        if app_env != "development" && app_env != "production" {
            return Err(SettingsError(format!(
                "APP_ENV must be \"development\" or \"production\", not {app_env:?}"
            )));
        }
        let mut builder = Config::builder()
            .set_default("app_env", "development")
            .and_then(|b| b.set_default("server.host", "127.0.0.1"))
            .and_then(|b| b.set_default("server.port", 8080))
            .and_then(|b| b.set_default("server.shutdown_timeout_secs", 30))
            .and_then(|b| b.set_default("server.client_request_timeout_ms", 5000))
            .and_then(|b| b.set_default("server.max_connections_per_worker", 10_000))
            .and_then(|b| b.set_default("security.rate_limit_per_second", 100))
            .and_then(|b| b.set_default("security.rate_limit_burst", 200))
            .and_then(|b| {
                let cors = if app_env == "production" { "" } else { "*" };
                b.set_default("security.cors_allowed_origins", cors)
            })
            .and_then(|b| b.set_default("store.uri", "sqlite://./data/fido.db"))
            .and_then(|b| b.set_default("store.sqlite_readers", 4))
            .and_then(|b| b.set_default("store.sqlite_synchronous", "full"))
            .and_then(|b| b.set_default("store.mongodb_server_selection_timeout_ms", 3000))
            .and_then(|b| b.set_default("store.mongodb_connect_timeout_ms", 3000))
            .and_then(|b| b.set_default("store.mongodb_operation_timeout_ms", 5000))
            .and_then(|b| b.set_default("store.mongodb_max_pool_size", 20))
            .and_then(|b| b.set_default("cache.enabled", true))
            .and_then(|b| b.set_default("cache.list_ttl_secs", 300))
            .and_then(|b| b.set_default("cache.statistics_ttl_secs", 600))
            .and_then(|b| b.set_default("cache.memory_max_bytes", 64 * 1024 * 1024))
            .and_then(|b| b.set_default("cache.redis_pool_size", 16))
            .and_then(|b| b.set_default("cache.redis_timeout_ms", 50))
            .and_then(|b| b.set_default("cache.redis_key_prefix", "fido"))
            .and_then(|b| b.set_default("security.data_dir", "./data"))
            .and_then(|b| b.set_default("log.filter", "info"))
            .and_then(|b| b.set_default("log.format", "auto"))
            .map_err(|e| SettingsError(e.to_string()))?
            .add_source(File::from(config_dir.join("default.toml")).required(false))
            .add_source(File::from(config_dir.join(format!("{app_env}.toml"))).required(false));
        if read_environment {
            builder = builder.add_source(
                Environment::with_prefix("FIDO")
                    .separator("__")
                    .try_parsing(true),
            );
        }
        let originals = [
            ("APP_ENV", "app_env"),
            ("DB_URI", "store.uri"),
            ("REDIS_URL", "cache.redis_url"),
            ("FERNET_KEY", "security.fernet_key"),
            ("API_KEYS", "security.api_keys"),
            ("HOST", "server.host"),
            ("PORT", "server.port"),
        ];
        for (variable, key) in originals {
            if let Some(value) = var(variable).filter(|v| !v.trim().is_empty()) {
                builder = builder
                    .set_override(key, value)
                    .map_err(|e| SettingsError(format!("{variable}: {e}")))?;
            }
        }
        let settings: Settings = builder
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|e| SettingsError(describe(&e)))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        self.store_kind()?;
        self.sqlite_durability()?;
        if self.store.sqlite_readers == 0 || self.store.sqlite_readers > 64 {
            return Err(SettingsError(
                "store.sqlite_readers must be between 1 and 64".into(),
            ));
        }
        let mongo_timeouts = [
            self.store.mongodb_server_selection_timeout_ms,
            self.store.mongodb_connect_timeout_ms,
            self.store.mongodb_operation_timeout_ms,
        ];
        if mongo_timeouts.iter().any(|t| *t == 0 || *t > 600_000) {
            return Err(SettingsError(
                "store.mongodb_*_timeout_ms must be between 1 and 600000".into(),
            ));
        }
        if self.store.mongodb_max_pool_size == 0 {
            return Err(SettingsError(
                "store.mongodb_max_pool_size must be at least 1".into(),
            ));
        }
        if self.server.client_request_timeout_ms == 0 {
            return Err(SettingsError(
                "server.client_request_timeout_ms must be at least 1".into(),
            ));
        }
        if self.server.max_connections_per_worker == 0 {
            return Err(SettingsError(
                "server.max_connections_per_worker must be at least 1".into(),
            ));
        }
        for origin in self.cors_origins() {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(SettingsError(format!(
                    "security.cors_allowed_origins: {origin:?} is not an http(s) origin"
                )));
            }
        }
        if self.server.workers == Some(0) {
            return Err(SettingsError("server.workers must be at least 1".into()));
        }
        if !matches!(self.log.format.as_str(), "auto" | "json" | "text") {
            return Err(SettingsError(format!(
                "log.format must be auto, json or text, not {:?}",
                self.log.format
            )));
        }
        if self.cache.list_ttl_secs == 0 || self.cache.statistics_ttl_secs == 0 {
            return Err(SettingsError("cache TTLs must be at least 1 second".into()));
        }
        if self.cache.redis_pool_size == 0 || self.cache.redis_pool_size > 1024 {
            return Err(SettingsError(
                "cache.redis_pool_size must be between 1 and 1024".into(),
            ));
        }
        if self.cache.redis_timeout_ms == 0 || self.cache.redis_timeout_ms > 10_000 {
            return Err(SettingsError(
                "cache.redis_timeout_ms must be between 1 and 10000".into(),
            ));
        }
        if self.cache.redis_key_prefix.is_empty()
            || !self
                .cache
                .redis_key_prefix
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}')
        {
            return Err(SettingsError(
                "cache.redis_key_prefix must be printable ASCII without spaces or braces".into(),
            ));
        }
        if let Some(url) = &self.cache.redis_url {
            let u = url.expose();
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                return Err(SettingsError(
                    "REDIS_URL must start with redis:// or rediss://".into(),
                ));
            }
        }
        Ok(())
    }

    /// Which store `DB_URI` selects.
    pub fn store_kind(&self) -> Result<StoreKind, SettingsError> {
        let uri = self.store.uri.expose().trim();
        if let Some(path) = uri.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(SettingsError("DB_URI: sqlite:// needs a file path".into()));
            }
            return Ok(StoreKind::Sqlite(PathBuf::from(path)));
        }
        if uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://") {
            return Ok(StoreKind::MongoDb);
        }
        // Never echo the URI: it may hold a password.
        Err(SettingsError(
            "DB_URI must start with sqlite://, mongodb:// or mongodb+srv://".into(),
        ))
    }

    /// How the embedded store syncs commits.
    pub fn sqlite_durability(&self) -> Result<fido_store_sqlite::Durability, SettingsError> {
        match self.store.sqlite_synchronous.to_ascii_lowercase().as_str() {
            "full" => Ok(fido_store_sqlite::Durability::Full),
            "normal" => Ok(fido_store_sqlite::Durability::Normal),
            other => Err(SettingsError(format!(
                "store.sqlite_synchronous must be full or normal, not {other:?}"
            ))),
        }
    }

    /// The MongoDB adapter's settings.
    pub fn mongo_config(&self) -> fido_store_mongodb::MongoConfig {
        let ms = Duration::from_millis;
        fido_store_mongodb::MongoConfig {
            uri: self.store.uri.expose().trim().to_owned(),
            server_selection_timeout: ms(self.store.mongodb_server_selection_timeout_ms),
            connect_timeout: ms(self.store.mongodb_connect_timeout_ms),
            operation_timeout: ms(self.store.mongodb_operation_timeout_ms),
            max_pool_size: self.store.mongodb_max_pool_size,
            database: self.store.database.clone(),
        }
    }

    /// The Redis adapter's settings, when `REDIS_URL` is set.
    pub fn redis_config(&self) -> Option<fido_cache_redis::RedisConfig> {
        self.cache.redis_url.as_ref().map(|url| {
            let mut config = fido_cache_redis::RedisConfig::new(url.expose().trim());
            config.pool_size = self.cache.redis_pool_size;
            config.timeout = Duration::from_millis(self.cache.redis_timeout_ms);
            config.key_prefix = self.cache.redis_key_prefix.clone();
            config
        })
    }

    /// The CORS origins, trimmed, without blanks.
    pub fn cors_origins(&self) -> Vec<&str> {
        self.security
            .cors_allowed_origins
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .collect()
    }

    /// Whether logs are JSON lines.
    pub fn json_logs(&self) -> bool {
        match self.log.format.as_str() {
            "json" => true,
            "text" => false,
            _ => self.app_env == AppEnv::Production,
        }
    }

    /// The cache lifetimes as the domain wants them.
    pub fn cache_policy(&self) -> fido_domain::CachePolicy {
        fido_domain::CachePolicy {
            list_ttl: Duration::from_secs(self.cache.list_ttl_secs),
            statistics_ttl: Duration::from_secs(self.cache.statistics_ttl_secs),
        }
    }
}

/// The config crate's messages name the key but may quote the value; keep the key and the
/// kind of problem only, so that a secret typed into the wrong variable is never echoed.
fn describe(e: &config::ConfigError) -> String {
    match e {
        config::ConfigError::Type { key, expected, .. } => {
            let key = key.as_deref().unwrap_or("a setting");
            format!("{key}: expected {expected}")
        }
        config::ConfigError::NotFound(key) => format!("{key}: missing"),
        other => {
            let text = other.to_string();
            // Messages of the other variants are about files and keys, not values.
            text.chars().take(300).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
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
        assert_eq!(s.security.fernet_key.as_ref().unwrap().expose(), "k1,k2");
        let shown = format!("{s:?}");
        assert!(
            !shown.contains("pw@") && !shown.contains("k1,k2"),
            "secrets in Debug: {shown}"
        );
    }

    #[test]
    fn invalid_settings_name_the_setting_without_echoing_values() {
        let e = load(&[("PORT", "eighty")]).unwrap_err().to_string();
        assert!(e.contains("port"), "{e}");
        let e = load(&[("APP_ENV", "staging")]).unwrap_err().to_string();
        assert!(e.contains("APP_ENV"), "{e}");
        let e = load(&[("DB_URI", "postgres://secret@x")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("DB_URI") && !e.contains("secret"), "{e}");
        let e = load(&[("REDIS_URL", "http://x")]).unwrap_err().to_string();
        assert!(e.contains("REDIS_URL"), "{e}");
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
        let prod = Settings::load_from(
            dir.path(),
            |k| (k == "APP_ENV").then(|| "production".to_owned()),
            false,
        )
        .unwrap();
        assert_eq!(prod.cache.list_ttl_secs, 7);
    }
}
