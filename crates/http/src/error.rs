//! The API's error responses: one type, one place that decides status codes and bodies.
//!
//! Bodies are `{"message": "...", "errors": [{"field", "message"}]}` (`errors` only for
//! validation). Internal details go to the log, never to the caller.

use actix_web::error::QueryPayloadError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use fido_domain::{error_chain, DomainError, NotFound};
use serde::Serialize;
use utoipa::{IntoResponses, ToSchema};

/// An error body.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"message": "Validation failed", "errors": [{"field": "transaction_amount", "message": "must have at most 2 decimal places"}]}))]
pub struct ErrorBody {
    /// What went wrong, for a human.
    pub message: String,
    /// The rejected fields (validation failures only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorBody>>,
}

/// One rejected field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldErrorBody {
    /// The field as the caller named it (`body` for the body as a whole).
    #[schema(example = "transaction_amount")]
    pub field: String,
    /// Why it was rejected.
    #[schema(example = "must have at most 2 decimal places")]
    pub message: String,
}

impl FieldErrorBody {
    /// A rejected field and why.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The message of the 404 for an unknown transaction.
pub const TRANSACTION_NOT_FOUND: &str = "Transaction not found";
/// The message of the 404 for statistics over an empty range (the original's words).
pub const NO_TRANSACTIONS_IN_RANGE: &str =
    "User does not have any transactions or in the specified range";

/// The failures every `/api/v1` route can answer with, whatever it does: listed once in
/// the OpenAPI document of each data route (`responses(..., DataRouteErrors)`).
#[derive(Debug, IntoResponses)]
#[allow(dead_code)] // Only its OpenAPI description is used; nothing constructs it.
pub enum DataRouteErrors {
    /// No valid API key.
    #[response(status = 401, description = "No valid API key")]
    Unauthorized(ErrorBody),
    /// The key lacks the scope.
    #[response(status = 403, description = "The key lacks the scope")]
    Forbidden(ErrorBody),
    /// Over the key's rate limit.
    #[response(
        status = 429,
        description = "The key's rate limit, or too many failed authentications from the address; see Retry-After"
    )]
    TooManyRequests(ErrorBody),
    /// The store cannot be reached, or the read includes documents set aside by the
    /// migration.
    #[response(
        status = 503,
        description = "The store is unreachable; or the read includes documents of the original service that `fido migrate` could not convert and set aside (the message gives their count); or, for a write, writes are paused deployment-wide for a moment (`Retry-After`)"
    )]
    Unavailable(ErrorBody),
    /// Anything unexpected.
    #[response(status = 500, description = "Unexpected error")]
    Internal(ErrorBody),
}

/// The failures of reading a JSON body, shared by every route that takes one (create and
/// update): listed once in their OpenAPI documents (`responses(..., BodyRouteErrors)`).
#[derive(Debug, IntoResponses)]
#[allow(dead_code)] // Only its OpenAPI description is used; nothing constructs it.
pub enum BodyRouteErrors {
    /// Malformed JSON, or a header that may appear once given twice.
    #[response(
        status = 400,
        description = "Malformed JSON, or a header that may appear once given twice"
    )]
    BadRequest(ErrorBody),
    /// The body did not arrive in time.
    #[response(
        status = 408,
        description = "The body did not arrive within the deadline; the connection is closed"
    )]
    Timeout(ErrorBody),
    /// The body is too large.
    #[response(status = 413, description = "Body over 16 KiB")]
    TooLarge(ErrorBody),
    /// Not JSON.
    #[response(status = 415, description = "Content-Type is not application/json")]
    UnsupportedMediaType(ErrorBody),
}

/// Everything a request can fail with.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the body is not valid JSON.
    MalformedJson,
    /// 400: the request is ambiguous (e.g. a header that must appear once came twice).
    BadRequest(&'static str),
    /// 408: the body did not arrive within the deadline; the connection is closed.
    RequestTimeout,
    /// 401: no API key, or not a valid one.
    Unauthorized,
    /// 403: a valid key without the scope this endpoint needs.
    Forbidden,
    /// 429: the key's rate limit; retry after this many seconds.
    TooManyRequests(u64),
    /// 429: too many failed authentications from this address; retry after this many
    /// seconds.
    TooManyFailures(u64),
    /// 404 with a specific message.
    NotFound(&'static str),
    /// 405, with the methods the resource allows.
    MethodNotAllowed(&'static str),
    /// 409: a request with the same Idempotency-Key is still being processed.
    Conflict,
    /// 412: `If-Match` names another version; nothing changed.
    PreconditionFailed,
    /// 413: body over the limit.
    PayloadTooLarge,
    /// 415: not `application/json`.
    UnsupportedMediaType,
    /// 422: well-formed but invalid values.
    Validation(Vec<FieldErrorBody>),
    /// 410: what the request names existed but is gone for good (a feed cursor older
    /// than retention); `field` names the parameter, `detail` what to do instead.
    Gone {
        /// The parameter to change.
        field: &'static str,
        /// The rule it must follow now.
        detail: String,
    },
    /// 503: the store cannot be reached.
    Unavailable,
    /// 503: the database holds the original service's documents; `fido migrate` first.
    MigrationRequired,
    /// 503 with `Retry-After`: writes are paused deployment-wide (a switch-over).
    WritesPaused,
    /// 503: what the request reads includes documents `fido migrate` set aside (this
    /// many); served once they are fixed or removed.
    Quarantined(u64),
    /// 500: anything else (details are logged where it happened).
    Internal,
}

impl ApiError {
    /// A 422 on one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldErrorBody::new(field, message)])
    }

    /// A 422 on the date bound to move when a series would have more than `max` points.
    pub fn too_many_points(bound: &str, max: usize) -> Self {
        Self::field(
            bound,
            format!("the range holds more than {max} points: narrow it, or choose a coarser granularity"),
        )
    }

    fn message(&self) -> std::borrow::Cow<'static, str> {
        let fixed = match self {
            Self::MalformedJson => "Malformed JSON in the request body",
            Self::BadRequest(m) => *m,
            Self::RequestTimeout => "The request body did not arrive in time",
            Self::Unauthorized => "A valid API key is required: Authorization: Bearer <key>",
            Self::Forbidden => "This API key may not perform this operation",
            Self::TooManyRequests(_) => "Too many requests for this API key; retry later",
            Self::TooManyFailures(_) => {
                "Too many requests without a valid API key from this address; retry later"
            }
            Self::NotFound(m) => *m,
            Self::MethodNotAllowed(_) => "Method not allowed",
            Self::Conflict => {
                "A request with this Idempotency-Key is still being processed; retry shortly"
            }
            Self::PreconditionFailed => {
                "The transaction has changed: its ETag no longer matches If-Match"
            }
            Self::PayloadTooLarge => "Request body is larger than 16 KiB",
            Self::UnsupportedMediaType => "Content-Type must be application/json",
            Self::Validation(_) => "Validation failed",
            Self::Gone { .. } => "Events after this cursor were removed by retention",
            Self::Unavailable => "The store is unavailable; please retry later",
            Self::MigrationRequired => {
                "The database holds documents of the original service that must be migrated first (fido migrate; see docs/migrating-from-fido.md)"
            }
            Self::WritesPaused => {
                "Writes are paused for a moment (maintenance); nothing was written: retry after Retry-After. Reads are served"
            }
            Self::Quarantined(documents) => {
                return format!(
                    "{documents} of the documents this request reads were set aside by fido migrate, which could not convert them (its report lists each as 'not converted'); they are served once fixed or removed and the migration run again (see docs/migrating-from-fido.md)"
                )
                .into();
            }
            Self::Internal => "Internal server error",
        };
        fixed.into()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MalformedJson | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::TooManyRequests(_) | Self::TooManyFailures(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Gone { .. } => StatusCode::GONE,
            Self::Unavailable
            | Self::MigrationRequired
            | Self::Quarantined(_)
            | Self::WritesPaused => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let errors = match self {
            Self::Validation(fields) => Some(fields.clone()),
            Self::Gone { field, detail } => Some(vec![FieldErrorBody::new(*field, detail.clone())]),
            _ => None,
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            Self::Unavailable | Self::Conflict => {
                response.insert_header(("Retry-After", "1"));
            }
            Self::WritesPaused => {
                response.insert_header(("Retry-After", "2"));
            }
            Self::TooManyRequests(seconds) | Self::TooManyFailures(seconds) => {
                response.insert_header(("Retry-After", seconds.to_string()));
            }
            Self::MethodNotAllowed(allow) => {
                response.insert_header(("Allow", *allow));
            }
            Self::Unauthorized => {
                response.insert_header(("WWW-Authenticate", "Bearer realm=\"fido\""));
            }
            // The rest of a trickled body may still be on its way: do not read it.
            Self::RequestTimeout => {
                response.force_close();
            }
            _ => {}
        }
        response.json(ErrorBody {
            message: self.message().into_owned(),
            errors,
        })
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound(NotFound::Transaction) => Self::NotFound(TRANSACTION_NOT_FOUND),
            DomainError::NotFound(NotFound::NoTransactionsInRange) => {
                Self::NotFound(NO_TRANSACTIONS_IN_RANGE)
            }
            DomainError::DateTooFarAhead { max } => Self::field(
                "transaction_date",
                format!("must not be more than {} in the future", describe(max)),
            ),
            DomainError::TooManyPoints { max } => Self::too_many_points("end_date", max),
            DomainError::TooFarAhead => Self::field("at", "must be at most one day ahead"),
            DomainError::RunningBalanceFiltered => Self::field(
                "running_balance",
                "cannot be combined with transaction_type, min_amount or max_amount: a balance counts every transaction",
            ),
            DomainError::EmptyPatch => Self::field(
                "body",
                "must change at least one of full_name, transaction_amount, transaction_type",
            ),
            DomainError::IdempotencyKeyReused => Self::field(
                "Idempotency-Key",
                "was already used with a different request; use a new key",
            ),
            DomainError::VersionMismatch => Self::PreconditionFailed,
            DomainError::CursorExpired { pruned_through } => Self::Gone {
                field: "after",
                detail: format!(
                    "must be at least {pruned_through}: events up to it were removed by retention"
                ),
            },
            DomainError::CursorAhead { last_sequence } => Self::field(
                "after",
                format!(
                    "must be at most {last_sequence}, the last sequence so far (a cursor from another deployment or from before a restore?)"
                ),
            ),
            DomainError::EventsDisabled => {
                Self::NotFound("Events are switched off on this deployment")
            }
            DomainError::IdempotencyInFlight => Self::Conflict,
            DomainError::Quarantined { documents } => Self::Quarantined(documents),
            DomainError::WritesPaused => Self::WritesPaused,
            DomainError::MigrationRequired(_) => {
                tracing::warn!(error = %error_chain(&e), "migration required");
                Self::MigrationRequired
            }
            DomainError::StoreUnavailable(_) => {
                tracing::warn!(error = %error_chain(&e), "store unavailable");
                Self::Unavailable
            }
            DomainError::Internal(_) => {
                tracing::error!(error = %error_chain(&e), "internal error");
                Self::Internal
            }
        }
    }
}

/// A duration as a person says it: `5 minutes`, `1 minute`, `90 seconds`.
fn describe(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    match (secs % 60, secs / 60) {
        (0, 1) => "1 minute".to_owned(),
        (0, minutes) if minutes > 0 => format!("{minutes} minutes"),
        _ => format!("{secs} seconds"),
    }
}

/// Maps the query extractor's failures (a query string that is not URL-encoded pairs).
pub fn query_error(_err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::field("query", "must be URL-encoded name=value pairs").into()
}

/// Maps the path extractor's failures.
pub fn path_error(_err: actix_web::error::PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::field("path", "is not valid").into()
}
