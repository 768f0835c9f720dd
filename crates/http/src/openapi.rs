//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::dto;
use super::envelope;
use super::error;
use super::handlers::{analytics, balances, events, export, health, transactions};

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Transactions API",
        description = "Records users' credit and debit transactions, keeps their personal data \
encrypted at rest, and reports per-user statistics.\n\n\
Conventions: JSON in and out; every response carries `x-request-id` (your sane value is echoed). \
Money is a JSON number with at most 2 decimals, stored and summed exactly. Times are RFC 3339 in UTC \
with millisecond precision. Every `/api/v1` route needs an API key (`Authorization: Bearer <key>`; 401 without, 403 without the scope, 429 over the key's rate limit); `/`, `/health/*`, `/docs` and `/openapi.json` are public. Validation failures are 422 with every bad field named; unknown body \
fields and unknown or repeated query parameters are rejected. Lists and statistics may come from a \
cache but always reflect every write that has returned (read-your-writes).",
        version = "1.0.0"
    ),
    paths(
        health::root,
        health::live,
        health::ready,
        transactions::create,
        transactions::get,
        transactions::update,
        transactions::delete,
        transactions::history,
        transactions::list_by_user,
        export::export,
        analytics::statistics,
        analytics::series,
        balances::balance,
        events::feed,
    ),
    components(schemas(
        dto::TransactionBody,
        dto::CreatedTransactionBody,
        dto::TransactionPageBody,
        dto::StatisticsBody,
        dto::SeriesBody,
        dto::SeriesPointBody,
        dto::BalanceBody,
        dto::HistoryBody,
        dto::TransactionVersionBody,
        dto::VersionValuesBody,
        dto::FieldChangeBody,
        dto::CreateTransactionRequest,
        dto::UpdateTransactionRequest,
        dto::TransactionTypeBody,
        dto::LiveBody,
        dto::ReadyBody,
        dto::ReadyChecks,
        dto::EventsHealthBody,
        dto::FeedHealthBody,
        dto::EventPageBody,
        envelope::MessageOnly,
        error::ErrorBody,
        error::FieldErrorBody,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "transactions", description = "Create, read, change, delete and list transactions"),
        (name = "analytics", description = "Per-user statistics and time series"),
        (name = "events", description = "Every change to a transaction, as an event feed (also published to RabbitMQ and webhooks)"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// Declares the `bearer` security scheme that every data route requires.
#[derive(Debug)]
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description = Some(
            "An API key: `Authorization: Bearer <key>`. Keys have the scopes `read` (GET) and/or \
             `write` (POST, PATCH, DELETE). In development the service creates one in \
             `./data/api-key`."
                .to_owned(),
        );
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}
