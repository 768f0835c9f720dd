//! The one error type of the `fido` binary and its library: every way starting the
//! service or running a subcommand can fail, with the cause kept as the error's source.
//!
//! Messages name the setting or file at fault and never quote a value (a value may be a
//! secret typed into the wrong variable).

use std::path::PathBuf;

/// Why the service could not start, or a subcommand could not finish.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is wrong or missing; the text names it.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The `.env` file cannot be read.
    #[error("invalid configuration: .env")]
    DotEnv(#[source] dotenvy::Error),
    /// The embedded store's settings break its rules.
    #[error("invalid configuration")]
    Sqlite(#[from] fido_store_sqlite::ConfigError),
    /// The MongoDB store's settings break its rules.
    #[error("invalid configuration")]
    Mongo(#[from] fido_store_mongodb::ConfigError),
    /// The Redis cache's settings break its rules, or its pool cannot be built.
    #[error("invalid configuration")]
    Redis(#[from] fido_cache_redis::SetupError),
    /// The RabbitMQ publisher's settings break its rules.
    #[error("invalid configuration")]
    Amqp(#[from] fido_events_amqp::ConfigError),
    /// A webhook endpoint's settings break its rules.
    #[error("invalid configuration")]
    Webhook(#[from] fido_events_webhook::ConfigError),
    /// `FERNET_KEY` is unusable.
    #[error("invalid configuration")]
    FernetKeys(#[from] fido_cipher_fernet::KeyError),
    /// `API_KEYS` (or its file) is unusable, or no key could be made.
    #[error("invalid configuration")]
    ApiKeys(#[from] fido_http::auth::KeyError),
    /// A key file or the data folder cannot be read or written.
    #[error("{}", path.display())]
    File {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("cannot open the store")]
    Store(#[source] fido_domain::StoreError),
    /// The listener could not be bound.
    #[error(
        "cannot listen on {address} (is another instance running? set PORT to use another port)"
    )]
    Bind {
        /// host:port
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A health probe could not reach the instance.
    #[error("cannot reach {address}")]
    Probe {
        /// host:port
        address: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The instance answered something that is not HTTP.
    #[error("{address} did not answer HTTP")]
    NotHttp {
        /// host:port
        address: String,
    },
    /// A service operation failed (in a subcommand).
    #[error("the operation failed")]
    Domain(#[from] fido_domain::DomainError),
}

impl Error {
    /// The whole chain, for the one line the binary prints.
    pub fn chain(&self) -> String {
        fido_domain::error_chain(self)
    }
}

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
