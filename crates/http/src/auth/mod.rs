//! Authentication, authorisation and rate limiting, as extractors: a handler that takes
//! [`ReadAccess`] or [`WriteAccess`] first runs only for a caller whose key has that scope
//! and is within its rate limit. Handlers list it as their first argument, so a request
//! without a valid key is refused (401) before its body is even read.
//!
//! [`keys`] holds the configured API keys (hashes only) and their scopes; [`limiter`] the
//! token buckets: one per key for every request, and one per client address for failed
//! authentications (401 turns into 429 once an address has failed too often; valid keys
//! from that address keep working). Failed authentications log one warning per ten
//! seconds at most, with the count it stands for.

pub mod keys;
pub mod limiter;

use std::future::{ready, Ready};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

pub use self::keys::{
    generate_key, hash_key, ApiKey, ApiKeys, KeyError, Scope, ScopeError, Scopes,
};
pub use self::limiter::RateLimiter;
use fido_observability::names::AUTH_FAILURES;

use crate::error::ApiError;
use crate::input::single_header;

/// The keys and the limiters, shared by every worker.
#[derive(Debug)]
pub struct Access {
    keys: ApiKeys,
    limiter: RateLimiter,
    failures: RateLimiter,
    failure_log: LogLimiter,
    scope_log: LogLimiter,
    limit_log: LogLimiter,
}

/// At most one log line per interval for a noisy event, with the count of the events it
/// stands for — so that a flood of bad requests cannot flood the logs.
#[derive(Debug)]
pub struct LogLimiter {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl LogLimiter {
    /// One line per `interval` at most.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts an event; `Some(n)` when a line is due now, standing for `n` events.
    pub fn note(&self) -> Option<u64> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.1 += 1;
        if state
            .0
            .is_some_and(|last| now.duration_since(last) < self.interval)
        {
            return None;
        }
        let count = state.1;
        *state = (Some(now), 0);
        Some(count)
    }
}

impl Access {
    /// Guards requests with these keys, the per-key limiter, and the per-address limiter
    /// of failed authentications.
    pub fn new(keys: ApiKeys, limiter: RateLimiter, failures: RateLimiter) -> Self {
        Self {
            keys,
            limiter,
            failures,
            failure_log: LogLimiter::new(Duration::from_secs(10)),
            scope_log: LogLimiter::new(Duration::from_secs(10)),
            limit_log: LogLimiter::new(Duration::from_secs(10)),
        }
    }

    fn check(&self, req: &HttpRequest, scope: Scope) -> Result<String, ApiError> {
        let presented = single_header(req, "authorization")?
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty());
        let Some(key) = presented.and_then(|p| self.keys.authenticate(p)) else {
            let reason = if presented.is_some() {
                "invalid"
            } else {
                "missing"
            };
            return Err(self.refuse(req, reason));
        };
        // A key's holder can send refused requests as fast as anyone: these warnings are
        // rate-limited too (the line names the key that triggered it).
        if !key.scopes.allow(scope) {
            if let Some(count) = self.scope_log.note() {
                tracing::warn!(key = %key.name, ?scope, refused = count, "API key lacks the scope");
            }
            metrics::counter!(AUTH_FAILURES, "reason" => "scope").increment(1);
            return Err(ApiError::Forbidden);
        }
        self.limiter.check(&key.name).map_err(|wait| {
            if let Some(count) = self.limit_log.note() {
                tracing::warn!(key = %key.name, refused = count, "rate limit reached");
            }
            ApiError::TooManyRequests(wait.as_secs().max(1))
        })?;
        Ok(key.name.clone())
    }

    /// A failed authentication: 401, or 429 once the client address has failed too often.
    /// The warning is rate-limited and counts what it stands for; it names no key.
    fn refuse(&self, req: &HttpRequest, reason: &'static str) -> ApiError {
        let address = req
            .peer_addr()
            .map_or_else(|| "unknown".to_owned(), |a| a.ip().to_string());
        if let Some(count) = self.failure_log.note() {
            tracing::warn!(
                refused = count,
                "requests without a valid API key refused (this line stands for all since the last)"
            );
        }
        match self.failures.check(&address) {
            Ok(()) => {
                metrics::counter!(AUTH_FAILURES, "reason" => reason).increment(1);
                ApiError::Unauthorized
            }
            Err(wait) => {
                metrics::counter!(AUTH_FAILURES, "reason" => "throttled").increment(1);
                ApiError::TooManyFailures(wait.as_secs().max(1))
            }
        }
    }
}

fn extract(req: &HttpRequest, scope: Scope) -> Result<String, actix_web::Error> {
    let access = req.app_data::<web::Data<Access>>().ok_or_else(|| {
        tracing::error!("no access configuration registered");
        ApiError::Internal
    })?;
    access.check(req, scope).map_err(Into::into)
}

/// A caller allowed to read; holds the key's name (safe to log).
#[derive(Debug, Clone)]
pub struct ReadAccess(pub String);

/// A caller allowed to write; holds the key's name (safe to log).
#[derive(Debug, Clone)]
pub struct WriteAccess(pub String);

impl WriteAccess {
    /// The key as the author of a change (its name, in the transaction's history). Key
    /// names follow the actor rule (letters, digits, `-`, `_`, `.`); one longer than an
    /// actor may be is refused as a server misconfiguration, never stored cut.
    pub fn actor(&self) -> Result<fido_domain::Actor, ApiError> {
        fido_domain::Actor::new(self.0.clone()).map_err(|_| {
            tracing::error!(key = %self.0, "an API key's name cannot name the author of a change (at most 128 characters)");
            ApiError::Internal
        })
    }
}

impl FromRequest for ReadAccess {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(extract(req, Scope::Read).map(ReadAccess))
    }
}

impl FromRequest for WriteAccess {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(extract(req, Scope::Write).map(WriteAccess))
    }
}
