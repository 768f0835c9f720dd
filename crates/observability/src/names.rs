//! Every metric's name, in one place, with its description (`docs/operations.md` explains
//! each and the alerts on them).

use metrics::{describe_counter, describe_gauge, describe_histogram, Unit};

/// HTTP requests answered, by `route` (the pattern, e.g. `/api/v1/transactions/{transaction_id}`;
/// `unmatched` for 404s), `method` and `status` class (`2xx` …).
pub const HTTP_REQUESTS: &str = "fido_http_requests_total";
/// Their duration, with the same labels.
pub const HTTP_DURATION: &str = "fido_http_request_duration_seconds";
/// Requests being served now.
pub const HTTP_IN_FLIGHT: &str = "fido_http_requests_in_flight";
/// Store calls' duration by `operation` and `outcome` (`ok`, `not_found`, `conflict`,
/// `unavailable`, `migration_required`, `internal`).
pub const STORE_DURATION: &str = "fido_store_call_duration_seconds";
/// Cache calls' duration by `operation` (`lookup`, `put`, `invalidate`, `ping`).
pub const CACHE_DURATION: &str = "fido_cache_call_duration_seconds";
/// Cache lookups by `result` (`hit`, `miss`, `error`).
pub const CACHE_LOOKUPS: &str = "fido_cache_lookups_total";
/// Cache errors by `operation`.
pub const CACHE_ERRORS: &str = "fido_cache_errors_total";
/// 1 while the Redis circuit breaker is open (calls skipped), else 0.
pub const CACHE_BREAKER_OPEN: &str = "fido_cache_breaker_open";
/// Reads that joined an identical read already under way instead of calling the store.
pub const SINGLE_FLIGHT_JOINS: &str = "fido_cache_single_flight_joins_total";
/// Transactions written, by `operation` (`create`, `update`, `delete`).
pub const TRANSACTIONS: &str = "fido_transactions_total";
/// Creates answered from a saved idempotent answer.
pub const IDEMPOTENT_REPLAYS: &str = "fido_idempotent_replays_total";
/// Answers 409, 412 and 429, by `status`.
pub const REJECTIONS: &str = "fido_http_rejections_total";
/// Failed authentications by `reason` (`missing`, `invalid`, `scope`, `throttled`).
pub const AUTH_FAILURES: &str = "fido_auth_failures_total";
/// Events not yet delivered to every publisher.
pub const EVENTS_BACKLOG: &str = "fido_events_backlog";
/// Age of the oldest undelivered event (0 when none).
pub const EVENTS_OLDEST_AGE: &str = "fido_events_oldest_undelivered_age_seconds";
/// Events committed but not yet numbered into the feed (the sequencer's lag).
pub const EVENTS_UNSEQUENCED: &str = "fido_events_unsequenced";
/// Age of the oldest event not yet in the feed (0 when none).
pub const EVENTS_UNSEQUENCED_AGE: &str = "fido_events_oldest_unsequenced_age_seconds";
/// Publish calls' duration by `publisher`.
pub const PUBLISH_DURATION: &str = "fido_events_publish_duration_seconds";
/// Events delivered, by `publisher`.
pub const PUBLISHED: &str = "fido_events_published_total";
/// Failed publish calls, by `publisher`.
pub const PUBLISH_FAILURES: &str = "fido_events_publish_failures_total";
/// Exports whose body stopped halfway after a 200 (the client got an incomplete body), by
/// `format`.
pub const EXPORTS_TRUNCATED: &str = "fido_exports_truncated_total";
/// Documents `fido migrate` set aside (could not convert): their users' reads answer 503
/// until they are fixed or removed.
pub const QUARANTINED_DOCUMENTS: &str = "fido_quarantined_documents";
/// 1, labelled with the `version` and git `commit` of the binary.
pub const BUILD_INFO: &str = "fido_build_info";

/// Describes every metric to the recorder (units and help texts).
pub fn describe() {
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route pattern, method and status class"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request duration, by route pattern, method and status class"
    );
    describe_gauge!(HTTP_IN_FLIGHT, "HTTP requests being served");
    describe_histogram!(
        STORE_DURATION,
        Unit::Seconds,
        "Store call duration, by operation and outcome"
    );
    describe_histogram!(
        CACHE_DURATION,
        Unit::Seconds,
        "Cache call duration, by operation"
    );
    describe_counter!(CACHE_LOOKUPS, "Cache lookups, by result (hit, miss, error)");
    describe_counter!(CACHE_ERRORS, "Cache call errors, by operation");
    describe_gauge!(
        CACHE_BREAKER_OPEN,
        "1 while the Redis circuit breaker is open"
    );
    describe_counter!(
        SINGLE_FLIGHT_JOINS,
        "Reads that joined an identical read in flight"
    );
    describe_counter!(TRANSACTIONS, "Transactions written, by operation");
    describe_counter!(
        IDEMPOTENT_REPLAYS,
        "Creates answered from a saved idempotent answer"
    );
    describe_counter!(REJECTIONS, "Answers 409, 412 and 429, by status");
    describe_counter!(AUTH_FAILURES, "Failed authentications, by reason");
    describe_gauge!(
        EVENTS_BACKLOG,
        "Events not yet delivered to every publisher"
    );
    describe_gauge!(
        EVENTS_OLDEST_AGE,
        Unit::Seconds,
        "Age of the oldest undelivered event"
    );
    describe_gauge!(
        EVENTS_UNSEQUENCED,
        "Events committed with their changes but not yet in the feed"
    );
    describe_gauge!(
        EVENTS_UNSEQUENCED_AGE,
        Unit::Seconds,
        "Age of the oldest event not yet in the feed"
    );
    describe_histogram!(
        PUBLISH_DURATION,
        Unit::Seconds,
        "Event publish call duration, by publisher"
    );
    describe_counter!(PUBLISHED, "Events delivered, by publisher");
    describe_counter!(PUBLISH_FAILURES, "Failed event publish calls, by publisher");
    describe_counter!(
        EXPORTS_TRUNCATED,
        "Exports that stopped halfway after their 200, by format"
    );
    describe_gauge!(
        QUARANTINED_DOCUMENTS,
        "Documents fido migrate set aside (their users' reads answer 503)"
    );
    describe_gauge!(BUILD_INFO, "Version and git commit of the running binary");
}
