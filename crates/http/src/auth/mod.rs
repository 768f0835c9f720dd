//! Authentication, authorisation and rate limiting, as extractors: a handler that takes
//! [`ReadAccess`] or [`WriteAccess`] first runs only for a caller whose key has that scope
//! and is within its rate limit. Handlers list it as their first argument, so a request
//! without a valid key is refused (401) before its body is even read.
//!
//! [`keys`] holds the configured API keys (hashes only) and their scopes; [`limiter`] the
//! per-key token buckets.

pub mod keys;
pub mod limiter;

use std::future::{ready, Ready};

use actix_web::http::header::AUTHORIZATION;
use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

pub use self::keys::{
    generate_key, hash_key, ApiKey, ApiKeys, KeyError, Scope, ScopeError, Scopes,
};
pub use self::limiter::RateLimiter;
use crate::error::ApiError;

/// The keys and the limiter, shared by every worker.
#[derive(Debug)]
pub struct Access {
    keys: ApiKeys,
    limiter: RateLimiter,
}

impl Access {
    /// Guards requests with these keys and this limiter.
    pub fn new(keys: ApiKeys, limiter: RateLimiter) -> Self {
        Self { keys, limiter }
    }

    fn check(&self, req: &HttpRequest, scope: Scope) -> Result<String, ApiError> {
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|token| !token.is_empty())
            .ok_or(ApiError::Unauthorized)?;
        let key = self.keys.authenticate(presented).ok_or_else(|| {
            tracing::warn!("request with an unknown API key refused");
            ApiError::Unauthorized
        })?;
        if !key.scopes.allow(scope) {
            tracing::warn!(key = %key.name, ?scope, "API key lacks the scope");
            return Err(ApiError::Forbidden);
        }
        self.limiter.check(&key.name).map_err(|wait| {
            tracing::warn!(key = %key.name, "rate limit reached");
            ApiError::TooManyRequests(wait.as_secs().max(1))
        })?;
        Ok(key.name.clone())
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
