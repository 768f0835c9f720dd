//! The `fido` command line, declared with `clap`: one variant per subcommand, each run by
//! its module in [`crate::commands`].

use clap::{Parser, Subcommand};
use fido_domain::{TransactionId, UserId};

/// fido — the Transactions API.
///
/// Configuration comes from config/*.toml, .env and the environment (DB_URI, REDIS_URL,
/// FERNET_KEY, API_KEYS, HOST, PORT, APP_ENV, FIDO__SECTION__KEY); see README.md.
#[derive(Debug, Parser)]
#[command(name = "fido", version)]
pub struct Cli {
    /// What to do; without one, `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API until SIGTERM or SIGINT (the default).
    Serve,
    /// Deliver events from the outbox to RabbitMQ and webhooks until SIGTERM or SIGINT
    /// (the background-job process; run it where the API runs with FIDO__EVENTS__RELAY=off).
    /// Serves /health/live and /health/ready on events.worker_health_port (8081).
    Worker,
    /// Exit 0 if the instance at HOST:PORT is ready (for container health checks).
    Healthcheck,
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Re-encrypt every stored name with the first key of FERNET_KEY (online, resumable).
    Reencrypt(ReencryptArgs),
    /// Convert a MongoDB database written by the original Python service in place (live,
    /// resumable, idempotent); see docs/migrating-from-fido.md. Exit code: 0 all
    /// converted, 3 documents left unconverted (listed), 1 failure, 2 configuration.
    Migrate(MigrateArgs),
    /// Copy every transaction, idempotency record, event and cursor from one store to
    /// another (SQLite <-> MongoDB), rebuild the target's roll-ups, and verify (counts and
    /// a checksum per user). Resumable. Exit code: 0 identical, 3 differences, 1 failure.
    Copy(CopyArgs),
    /// Write every transaction as NDJSON (names stay encrypted unless --decrypt).
    Export(ExportArgs),
    /// Read NDJSON transactions into the store; bad lines are reported (and with
    /// --strict nothing is written). Exit code: 0 all imported, 3 bad lines, 1 failure.
    Import(ImportArgs),
    /// Check (and repair) the daily roll-ups that statistics are read from.
    #[command(subcommand)]
    Rollups(RollupsCommand),
    /// Pause or resume every write of the deployment (all instances sharing the store pick
    /// it up within about a second, without a restart; writes then answer 503 with
    /// Retry-After, reads are served), or show whether writes are paused.
    #[command(subcommand)]
    Writes(WritesCommand),
}

/// `fido writes …`
#[derive(Debug, Subcommand)]
pub enum WritesCommand {
    /// Pause every write of the deployment (a live move's switch-over).
    Pause {
        /// Why, for the other operators (logged by every instance; never shown to API
        /// callers).
        #[arg(long, default_value = "paused by an operator")]
        reason: String,
    },
    /// Lift the pause.
    Resume,
    /// Show whether writes are paused, since when and why. Exit code 0 either way.
    Status,
}

/// `fido copy …`
#[derive(Debug, clap::Args)]
pub struct CopyArgs {
    /// The source store: sqlite://PATH or mongodb://… (its own database).
    #[arg(long)]
    pub from: String,
    /// The target store.
    #[arg(long)]
    pub to: String,
    /// Read the source and count; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Transactions per batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Resume the transactions after this id (printed with the progress).
    #[arg(long, value_parser = parse_transaction)]
    pub after: Option<TransactionId>,
    /// After the copy, keep applying the source's later changes (its event feed) to the
    /// target, printing how far behind it is, until writes are paused on the source
    /// (`fido writes pause`) and everything is applied — then verify and exit 0: the
    /// moment to point the instances at the target. Ctrl-C stops following (run again to
    /// continue). Needs events on in the source.
    #[arg(long, conflicts_with = "dry_run")]
    pub follow: bool,
}

/// `fido export …`
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<String>,
    /// Names in clear text instead of their tokens (the file then holds personal data).
    #[arg(long)]
    pub decrypt: bool,
    /// Transactions per batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Start after this id.
    #[arg(long, value_parser = parse_transaction)]
    pub after: Option<TransactionId>,
}

/// `fido import …`
#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The NDJSON file (`-` for standard input).
    pub file: String,
    /// Check every line first; write nothing if any is bad.
    #[arg(long)]
    pub strict: bool,
    /// Check every line; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Transactions per batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
}

/// `fido migrate …`
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// Write nothing; print the same report.
    #[arg(long)]
    pub dry_run: bool,
    /// Refuse to convert amounts that need rounding (more than 2 decimals) instead of
    /// rounding them half-to-even.
    #[arg(long)]
    pub strict: bool,
    /// Documents per batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Resume after this document id (printed with the progress).
    #[arg(long, value_parser = parse_transaction)]
    pub after: Option<TransactionId>,
}

fn parse_transaction(text: &str) -> Result<TransactionId, String> {
    TransactionId::parse(text).map_err(|e| e.to_string())
}

/// `fido rollups …`
#[derive(Debug, Subcommand)]
pub enum RollupsCommand {
    /// Recompute every user's (or one user's) daily totals from the rows and report each
    /// (user, day) where the roll-up differs. Online and batched; resumable with
    /// `--after`. Exit code: 0 no drift, 3 drift found (repaired with `--repair`), 1 failure.
    Verify(VerifyArgs),
}

/// `fido rollups verify …`
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Only this user (24 hex characters).
    #[arg(long, value_parser = parse_user)]
    pub user: Option<UserId>,
    /// Make the roll-ups equal to the rows where they differ (atomically, per user).
    #[arg(long)]
    pub repair: bool,
    /// Users per batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Resume after this user id (printed with the progress).
    #[arg(long, value_parser = parse_user)]
    pub after: Option<UserId>,
}

fn parse_user(text: &str) -> Result<UserId, String> {
    UserId::parse(text).map_err(|e| e.to_string())
}

/// `fido keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a new API key: prints the key once, and the API_KEYS entry (a hash) to add.
    Create {
        /// The key's name, shown in logs and rate limits: letters, digits, '-', '_', '.'.
        name: String,
        /// What the key may do.
        #[arg(long, default_value = "read+write", value_parser = ["read", "write", "read+write"])]
        scopes: String,
    },
}

/// `fido reencrypt …`
#[derive(Debug, clap::Args)]
pub struct ReencryptArgs {
    /// Records per batch.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,
    /// Resume after this transaction id (printed with every batch).
    #[arg(long, value_parser = parse_id)]
    pub after: Option<TransactionId>,
}

fn parse_id(text: &str) -> Result<TransactionId, String> {
    TransactionId::parse(text).map_err(|e| e.to_string())
}
