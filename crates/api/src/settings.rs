//! Configuration, in layers (later wins):
//!
//! 1. built-in defaults: the `Default` impls below, the **only** place a default is
//!    written (`config/default.toml` holds no values; `.env.example` lists every setting);
//! 2. `config/default.toml`, then `config/<APP_ENV>.toml` (both optional);
//! 3. `.env` in the working directory (loaded into the environment; never overrides a
//!    variable that is already set);
//! 4. the environment: `FIDO__<SECTION>__<KEY>` (e.g. `FIDO__CACHE__LIST_TTL_SECS=60`),
//!    plus the original service's variables `DB_URI`, `REDIS_URL`, `FERNET_KEY`, `HOST`,
//!    `PORT` and `APP_ENV`, which win over everything.
//!
//! Invalid values fail [`Settings::load`] with an error that names the setting; secrets are
//! wrapped so `Debug` never prints them. Each section checks its own values and builds its
//! adapter's configuration (`StoreSettings::sqlite_config`, `CacheSettings::redis_config`,
//! `EventSettings::amqp_config`, …); [`Settings`] only asks each in turn. Rules that belong
//! to an adapter (a Redis key prefix, a MongoDB timeout) are checked by that adapter's own
//! config type.

use std::path::{Path, PathBuf};
use std::time::Duration;

use config::{Config, Environment, File};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `development` (default) or `production`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AppEnv {
    /// Friendly defaults: a generated Fernet key, readable logs.
    #[default]
    Development,
    /// Strict: every secret must be configured; JSON logs.
    Production,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// JSON in production, text otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Readable text.
    Text,
}

/// How the embedded store syncs commits to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// Every acknowledged write survives a power loss.
    #[default]
    Full,
    /// Faster; the last commits may be lost on a power loss (not on a crash).
    Normal,
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

/// Secrets serialise as `[redacted]`: a dump of the settings never holds one.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str("[redacted]")
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Every setting of the service.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Settings {
    /// `development` or `production`.
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
    /// Events: the outbox, the relay and its publishers.
    pub events: EventSettings,
    /// Prometheus metrics.
    pub metrics: MetricsSettings,
    /// The transactions' history.
    pub history: HistorySettings,
}

/// The transactions' history (see docs/api.md, "History").
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct HistorySettings {
    /// Versions older than this many days are removed; empty (the default) keeps them for
    /// ever.
    #[serde(deserialize_with = "days_or_empty")]
    pub retention_days: Option<u64>,
}

impl HistorySettings {
    fn validate(&self) -> Result<()> {
        if self.retention_days == Some(0) {
            return Err(invalid(
                "history.retention_days must be at least 1, or empty to keep every version",
            ));
        }
        Ok(())
    }

    /// How long versions are kept; `None`: for ever.
    pub fn retention(&self) -> Option<std::time::Duration> {
        self.retention_days
            .map(|days| std::time::Duration::from_secs(days.saturating_mul(86_400)))
    }
}

/// A number of days, or nothing: an empty variable (`FIDO__HISTORY__RETENTION_DAYS=`)
/// means the same as an absent one.
fn days_or_empty<'de, D>(deserializer: D) -> std::result::Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Days {
        Number(u64),
        Text(String),
    }
    match Option::<Days>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Days::Number(n)) => Ok(Some(n)),
        Some(Days::Text(text)) if text.trim().is_empty() => Ok(None),
        Some(Days::Text(text)) => text.trim().parse().map(Some).map_err(|_| {
            serde::de::Error::custom("history.retention_days must be a whole number of days")
        }),
    }
}

/// Prometheus metrics.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct MetricsSettings {
    /// Where `/metrics` listens (`host:port`), apart from the API so it is never public by
    /// accident; empty switches metrics off (at no cost). `default` (when not set):
    /// `127.0.0.1:9464` if free, else a warning and no metrics (a second instance on one
    /// host still starts); a set address that is taken stops the start.
    pub addr: String,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            addr: crate::metrics::DEFAULT_ADDR.into(),
        }
    }
}

/// Where the event relay runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayMode {
    /// Inside `fido serve` (the embedded default) and in `fido worker`.
    #[default]
    On,
    /// Not inside `fido serve`: a separate `fido worker` delivers (API replicas stay free
    /// of it). `fido worker` always runs the relay.
    Off,
}

/// Events: the outbox, the relay and its publishers.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct EventSettings {
    /// Whether each change writes its event (the feed, and what publishers deliver).
    pub enabled: bool,
    /// Whether `fido serve` runs the relay (`on`) or leaves it to `fido worker` (`off`).
    pub relay: RelayMode,
    /// How long events are kept once every publisher has them (days).
    pub retention_days: u64,
    /// RabbitMQ: `amqp://…` or `amqps://…` enables the publisher.
    pub amqp_url: Option<Secret>,
    /// RabbitMQ: the durable topic exchange.
    pub amqp_exchange: String,
    /// RabbitMQ: events per batch.
    pub amqp_batch_size: usize,
    /// RabbitMQ: longest wait for a connection or a batch's confirms (milliseconds).
    pub amqp_timeout_ms: u64,
    /// A webhook endpoint's URL (name `default`); more endpoints in `webhooks_file`.
    pub webhook_url: Option<String>,
    /// That endpoint's signing secret (`whsec_…`).
    pub webhook_secret: Option<Secret>,
    /// A file holding that endpoint's secret instead.
    pub webhook_secret_file: Option<PathBuf>,
    /// A JSON file listing endpoints: `[{"name", "url", "secret" | "secret_file"}]`.
    pub webhooks_file: Option<PathBuf>,
    /// One webhook attempt's timeout (milliseconds).
    pub webhook_timeout_ms: u64,
    /// How long one event is retried at an endpoint before it is marked failed (hours).
    pub webhook_retry_hours: u64,
    /// How often an idle relay looks for new events (milliseconds).
    pub relay_poll_ms: u64,
    /// The relay's lease: how long a dead relay holds it (seconds).
    pub relay_lease_secs: u64,
    /// `fido worker`'s health endpoints (`/health/live`, `/health/ready`): host.
    pub worker_health_host: String,
    /// `fido worker`'s health port.
    pub worker_health_port: u16,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            relay: RelayMode::On,
            retention_days: 7,
            amqp_url: None,
            amqp_exchange: "fido.events".into(),
            amqp_batch_size: 200,
            amqp_timeout_ms: 4_000,
            webhook_url: None,
            webhook_secret: None,
            webhook_secret_file: None,
            webhooks_file: None,
            webhook_timeout_ms: 4_000,
            webhook_retry_hours: 24,
            relay_poll_ms: 100,
            relay_lease_secs: 10,
            worker_health_host: "0.0.0.0".into(),
            worker_health_port: 8081,
        }
    }
}

/// The HTTP listener.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
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
    /// How long reading a request's body may take (408 and a closed connection after).
    pub body_read_timeout_ms: u64,
    /// Open connections each worker accepts at most.
    pub max_connections_per_worker: usize,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 8080,
            workers: None,
            shutdown_timeout_secs: 30,
            client_request_timeout_ms: 5000,
            body_read_timeout_ms: 5000,
            max_connections_per_worker: 10_000,
        }
    }
}

/// Where records live.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct StoreSettings {
    /// `DB_URI`: `sqlite://<path>` (default `sqlite://./data/fido.db`) or `mongodb://…`.
    pub uri: Secret,
    /// Reader connections of the embedded store.
    pub sqlite_readers: usize,
    /// How the embedded store syncs commits to disk.
    pub sqlite_synchronous: SqliteSynchronous,
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

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            uri: Secret::new("sqlite://./data/fido.db"),
            sqlite_readers: 4,
            sqlite_synchronous: SqliteSynchronous::Full,
            database: None,
            mongodb_server_selection_timeout_ms: 3000,
            mongodb_connect_timeout_ms: 3000,
            mongodb_operation_timeout_ms: 5000,
            mongodb_max_pool_size: 20,
        }
    }
}

/// The read-through cache.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
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
    /// Redis: memory bound of the near cache (values kept in the process, invalidated by
    /// Redis's client tracking); 0 switches it off.
    pub redis_near_max_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            redis_url: None,
            list_ttl_secs: 300,
            statistics_ttl_secs: 600,
            memory_max_bytes: 64 * 1024 * 1024,
            redis_pool_size: 16,
            redis_timeout_ms: 50,
            redis_key_prefix: "fido".into(),
            redis_near_max_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Keys and local state.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
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
    /// Failed authentications a client address may make at once before they get 429.
    pub auth_failure_burst: u32,
    /// Failed authentications per second a client address may make on average (0
    /// disables the limit).
    pub auth_failures_per_second: u32,
    /// Origins allowed by CORS, comma-separated; `*` allows any. Unset: `*` in
    /// development, none in production.
    pub cors_allowed_origins: Option<String>,
}

impl Default for SecuritySettings {
    fn default() -> Self {
        Self {
            fernet_key: None,
            data_dir: PathBuf::from("./data"),
            api_keys: None,
            api_keys_file: None,
            rate_limit_per_second: 100,
            rate_limit_burst: 200,
            auth_failure_burst: 20,
            auth_failures_per_second: 1,
            cors_allowed_origins: None,
        }
    }
}

/// Logging.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct LogSettings {
    /// A `tracing` filter, e.g. `info` or `fido_api=debug,info`; `RUST_LOG` wins.
    pub filter: String,
    /// `auto` (JSON in production, text otherwise), `json` or `text`.
    pub format: LogFormat,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            filter: "info".into(),
            format: LogFormat::Auto,
        }
    }
}

/// What the store URI selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded SQLite file at this path.
    Sqlite(PathBuf),
    /// A MongoDB deployment (the URI is passed to the driver as is).
    MongoDb,
}

/// The original service's variables and the settings they set.
pub const ORIGINAL_VARIABLES: [(&str, &str); 7] = [
    ("APP_ENV", "app_env"),
    ("DB_URI", "store.uri"),
    ("REDIS_URL", "cache.redis_url"),
    ("FERNET_KEY", "security.fernet_key"),
    ("API_KEYS", "security.api_keys"),
    ("HOST", "server.host"),
    ("PORT", "server.port"),
];

fn invalid(message: impl Into<String>) -> Error {
    Error::Config(message.into())
}

impl Settings {
    /// Loads the layers from the working directory and the process environment.
    pub fn load() -> Result<Self> {
        // A missing .env is normal; a malformed one is an error worth stopping for.
        match dotenvy::dotenv() {
            Ok(_) => {}
            Err(e) if e.not_found() => {}
            Err(e) => return Err(Error::DotEnv(e)),
        }
        Self::load_from(Path::new("config"), |name| std::env::var(name).ok(), true)
    }

    /// Loads with an explicit config folder and variable source (used by tests).
    pub fn load_from(
        config_dir: &Path,
        var: impl Fn(&str) -> Option<String>,
        read_environment: bool,
    ) -> Result<Self> {
        let app_env = var("APP_ENV").unwrap_or_else(|| "development".into());
        if app_env != "development" && app_env != "production" {
            return Err(invalid(format!(
                "APP_ENV must be \"development\" or \"production\", not {app_env:?}"
            )));
        }
        let mut builder = Config::builder()
            .add_source(File::from(config_dir.join("default.toml")).required(false))
            .add_source(File::from(config_dir.join(format!("{app_env}.toml"))).required(false));
        if read_environment {
            builder = builder.add_source(
                Environment::with_prefix("FIDO")
                    .separator("__")
                    .try_parsing(true),
            );
        }
        for (variable, key) in ORIGINAL_VARIABLES {
            if let Some(value) = var(variable).filter(|v| !v.trim().is_empty()) {
                builder = builder
                    .set_override(key, value)
                    .map_err(|e| invalid(format!("{variable}: {}", describe(&e))))?;
            }
        }
        let settings: Settings = builder
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|e| invalid(describe(&e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Each section checks itself; the store's and the cache's adapters check the
    /// configurations their sections build.
    fn validate(&self) -> Result<()> {
        self.store.validate(self.events.enabled)?;
        self.cache.validate()?;
        self.server.validate()?;
        self.security.validate(self.app_env)?;
        self.history.validate()?;
        self.events.validate()
    }

    /// Whether `/metrics` is served (and so whether anything is measured).
    pub fn metrics_enabled(&self) -> bool {
        !self.metrics.addr.trim().is_empty()
    }

    /// The RabbitMQ publisher's settings, when `FIDO__EVENTS__AMQP_URL` is set.
    pub fn amqp_config(&self) -> Option<fido_events_amqp::AmqpConfig> {
        self.events.amqp_config()
    }

    /// Which store `DB_URI` selects.
    pub fn store_kind(&self) -> Result<StoreKind> {
        self.store.kind()
    }

    /// The embedded store's settings (when `DB_URI` selects it).
    pub fn sqlite_config(&self) -> Result<fido_store_sqlite::SqliteConfig> {
        self.store.sqlite_config(self.events.enabled)
    }

    /// The MongoDB adapter's settings.
    pub fn mongo_config(&self) -> fido_store_mongodb::MongoConfig {
        self.store.mongo_config(self.events.enabled)
    }

    /// The Redis adapter's settings, when `REDIS_URL` is set.
    pub fn redis_config(&self) -> Option<fido_cache_redis::RedisConfig> {
        self.cache.redis_config()
    }

    /// The CORS origins, trimmed, without blanks (default: any in development, none in
    /// production).
    pub fn cors_origins(&self) -> Vec<&str> {
        self.security.cors_origins(self.app_env)
    }

    /// Whether logs are JSON lines.
    pub fn json_logs(&self) -> bool {
        self.log.json(self.app_env)
    }

    /// The cache lifetimes as the domain wants them.
    pub fn cache_policy(&self) -> fido_domain::CachePolicy {
        self.cache.policy()
    }
}

impl StoreSettings {
    /// Which store `DB_URI` selects.
    pub fn kind(&self) -> Result<StoreKind> {
        let uri = self.uri.expose().trim();
        if let Some(path) = uri.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(invalid("DB_URI: sqlite:// needs a file path"));
            }
            return Ok(StoreKind::Sqlite(PathBuf::from(path)));
        }
        if uri.starts_with("mongodb://") || uri.starts_with("mongodb+srv://") {
            return Ok(StoreKind::MongoDb);
        }
        // Never echo the URI: it may hold a password.
        Err(invalid(
            "DB_URI must start with sqlite://, mongodb:// or mongodb+srv://",
        ))
    }

    /// The embedded store's settings (when `DB_URI` selects it); `events`: whether writes
    /// record their events.
    pub fn sqlite_config(&self, events: bool) -> Result<fido_store_sqlite::SqliteConfig> {
        let StoreKind::Sqlite(path) = self.kind()? else {
            return Err(invalid("DB_URI does not select the embedded store"));
        };
        Ok(fido_store_sqlite::SqliteConfig {
            path,
            readers: self.sqlite_readers,
            durability: match self.sqlite_synchronous {
                SqliteSynchronous::Full => fido_store_sqlite::Durability::Full,
                SqliteSynchronous::Normal => fido_store_sqlite::Durability::Normal,
            },
            events,
        })
    }

    /// The MongoDB adapter's settings; `events`: whether writes record their events.
    pub fn mongo_config(&self, events: bool) -> fido_store_mongodb::MongoConfig {
        let ms = Duration::from_millis;
        fido_store_mongodb::MongoConfig {
            uri: self.uri.expose().trim().to_owned(),
            server_selection_timeout: ms(self.mongodb_server_selection_timeout_ms),
            connect_timeout: ms(self.mongodb_connect_timeout_ms),
            operation_timeout: ms(self.mongodb_operation_timeout_ms),
            max_pool_size: self.mongodb_max_pool_size,
            database: self.database.clone(),
            events,
        }
    }

    /// The selected store's configuration, checked by its adapter.
    fn validate(&self, events: bool) -> Result<()> {
        match self.kind()? {
            StoreKind::Sqlite(_) => self.sqlite_config(events)?.validate()?,
            StoreKind::MongoDb => self.mongo_config(events).validate()?,
        }
        Ok(())
    }
}

impl CacheSettings {
    /// The Redis adapter's settings, when `REDIS_URL` is set.
    pub fn redis_config(&self) -> Option<fido_cache_redis::RedisConfig> {
        self.redis_url.as_ref().map(|url| {
            let mut config = fido_cache_redis::RedisConfig::new(url.expose().trim());
            config.pool_size = self.redis_pool_size;
            config.timeout = Duration::from_millis(self.redis_timeout_ms);
            config.key_prefix = self.redis_key_prefix.clone();
            config.near_max_bytes = self.redis_near_max_bytes;
            config
        })
    }

    /// The cache lifetimes as the domain wants them.
    pub fn policy(&self) -> fido_domain::CachePolicy {
        fido_domain::CachePolicy {
            list_ttl: Duration::from_secs(self.list_ttl_secs),
            statistics_ttl: Duration::from_secs(self.statistics_ttl_secs),
            // A transaction read by id lives as long as the list pages that show it.
            transaction_ttl: Duration::from_secs(self.list_ttl_secs),
        }
    }

    fn validate(&self) -> Result<()> {
        if let Some(redis) = self.redis_config() {
            redis.validate()?;
        }
        if self.list_ttl_secs == 0 || self.statistics_ttl_secs == 0 {
            return Err(invalid("cache TTLs must be at least 1 second"));
        }
        Ok(())
    }
}

impl ServerSettings {
    fn validate(&self) -> Result<()> {
        if self.client_request_timeout_ms == 0 {
            return Err(invalid(
                "server.client_request_timeout_ms must be at least 1",
            ));
        }
        if self.max_connections_per_worker == 0 {
            return Err(invalid(
                "server.max_connections_per_worker must be at least 1",
            ));
        }
        if self.workers == Some(0) {
            return Err(invalid("server.workers must be at least 1"));
        }
        Ok(())
    }
}

impl SecuritySettings {
    /// The CORS origins, trimmed, without blanks (default: any in development, none in
    /// production).
    pub fn cors_origins(&self, app_env: AppEnv) -> Vec<&str> {
        let list = self
            .cors_allowed_origins
            .as_deref()
            .unwrap_or(match app_env {
                AppEnv::Development => "*",
                AppEnv::Production => "",
            });
        list.split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .collect()
    }

    fn validate(&self, app_env: AppEnv) -> Result<()> {
        for origin in self.cors_origins(app_env) {
            if origin != "*" && !(origin.starts_with("http://") || origin.starts_with("https://")) {
                return Err(invalid(format!(
                    "security.cors_allowed_origins: {origin:?} is not an http(s) origin"
                )));
            }
        }
        Ok(())
    }
}

impl LogSettings {
    /// Whether logs are JSON lines.
    pub fn json(&self, app_env: AppEnv) -> bool {
        match self.format {
            LogFormat::Json => true,
            LogFormat::Text => false,
            LogFormat::Auto => app_env == AppEnv::Production,
        }
    }
}

impl EventSettings {
    /// The RabbitMQ publisher's settings, when `FIDO__EVENTS__AMQP_URL` is set.
    pub fn amqp_config(&self) -> Option<fido_events_amqp::AmqpConfig> {
        let url = self.amqp_url.as_ref()?;
        if url.expose().trim().is_empty() {
            return None;
        }
        let mut config = fido_events_amqp::AmqpConfig::new(url.expose().trim());
        config.exchange = self.amqp_exchange.clone();
        config.batch_size = self.amqp_batch_size;
        config.timeout = Duration::from_millis(self.amqp_timeout_ms);
        Some(config)
    }

    fn validate(&self) -> Result<()> {
        if self.retention_days == 0 {
            return Err(invalid("events.retention_days must be at least 1"));
        }
        if self.relay_poll_ms == 0 || self.relay_poll_ms > 60_000 {
            return Err(invalid("events.relay_poll_ms must be between 1 and 60000"));
        }
        if !(2..=300).contains(&self.relay_lease_secs) {
            return Err(invalid("events.relay_lease_secs must be between 2 and 300"));
        }
        if self.webhook_retry_hours == 0 {
            return Err(invalid("events.webhook_retry_hours must be at least 1"));
        }
        if !(1..=10_000).contains(&self.amqp_batch_size) {
            return Err(invalid(
                "events.amqp_batch_size must be between 1 and 10000",
            ));
        }
        if self.amqp_timeout_ms == 0 || self.amqp_timeout_ms > 600_000 {
            return Err(invalid(
                "events.amqp_timeout_ms must be between 1 and 600000",
            ));
        }
        // A publisher call must end well inside the relay's lease, or a slow broker or
        // endpoint would let a second relay take over mid-batch.
        let half_lease_ms = self.relay_lease_secs * 1000 / 2;
        let webhooks = self.webhook_url.is_some() || self.webhooks_file.is_some();
        if self.amqp_config().is_some() && self.amqp_timeout_ms > half_lease_ms {
            return Err(invalid(
                "events.amqp_timeout_ms must be at most half of events.relay_lease_secs",
            ));
        }
        if webhooks && self.webhook_timeout_ms > half_lease_ms {
            return Err(invalid(
                "events.webhook_timeout_ms must be at most half of events.relay_lease_secs",
            ));
        }
        if self.webhook_timeout_ms == 0 {
            return Err(invalid("events.webhook_timeout_ms must be at least 1"));
        }
        if let Some(amqp) = self.amqp_config() {
            amqp.validate()?;
        }
        if self.webhook_secret.is_some() && self.webhook_secret_file.is_some() {
            return Err(invalid(
                "events.webhook_secret and events.webhook_secret_file: set one, not both",
            ));
        }
        Ok(())
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
            // Messages of the other variants are about files, keys and variant names.
            text.chars().take(300).collect()
        }
    }
}
