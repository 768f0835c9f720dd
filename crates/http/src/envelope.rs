//! What a successful response carries: the original service's envelope, `{"message":
//! "Request successful", "data": …}`, and the ETag of the version it shows.

use serde::Serialize;
use utoipa::ToSchema;

/// The message of every successful data response.
pub const SUCCESS: &str = "Request successful";

/// A successful response.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// `Request successful`, or a more specific message.
    #[schema(example = "Request successful")]
    pub message: &'static str,
    /// The payload.
    pub data: T,
}

impl<T> Envelope<T> {
    /// `{"message": "Request successful", "data": data}`.
    pub fn ok(data: T) -> Self {
        Self {
            message: SUCCESS,
            data,
        }
    }
}

/// A response with a message and `"data": null`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOnly {
    /// What happened.
    #[schema(example = "Transaction deleted successfully")]
    pub message: &'static str,
    /// Always `null`.
    #[schema(value_type = Option<String>, example = json!(null))]
    pub data: (),
}

impl MessageOnly {
    /// A message with null data.
    pub fn new(message: &'static str) -> Self {
        Self { message, data: () }
    }
}

/// The success envelope around a JSON document the service already serialised (a cached
/// list page or statistics), without parsing it again.
pub fn ok_raw(data_json: &str) -> String {
    let mut body = String::with_capacity(data_json.len() + 48);
    body.push_str("{\"message\":\"");
    body.push_str(SUCCESS);
    body.push_str("\",\"data\":");
    body.push_str(data_json);
    body.push('}');
    body
}

/// A 200 whose `data` is a JSON document the service already serialised, sent as it is.
pub fn ok_encoded(data_json: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(actix_web::http::header::ContentType::json())
        .body(ok_raw(data_json))
}

/// The `ETag` header of a response showing `version`: a strong ETag, `"<version>"`. What
/// callers send back in `If-Match` is read in `input`.
pub fn etag(version: u64) -> (actix_web::http::header::HeaderName, String) {
    (actix_web::http::header::ETAG, format!("\"{version}\""))
}
