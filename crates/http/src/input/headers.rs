//! Request headers: `If-Match`, `Idempotency-Key`, and the rule that such headers
//! appear once.

use crate::error::ApiError;

/// What an `If-Match` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IfMatch {
    /// Absent or `*`: no condition.
    Any,
    /// One strong ETag of ours: that version.
    Version(u64),
    /// Several: any of these versions.
    AnyOf(Vec<u64>),
    /// Only ETags that can never be ours (weak, or not a version number): always 412.
    Never,
}

/// `If-Match`: absent or `*` → no condition; strong ETags `"<version>"`, one or a
/// comma-separated list (RFC 9110) → those versions. A well-formed ETag that cannot be
/// one of ours (weak, or not a number) never matches; if no listed ETag can, the
/// precondition fails (412). A malformed value is a 422; the header given twice, a 400.
pub fn if_match(req: &actix_web::HttpRequest) -> Result<IfMatch, ApiError> {
    let malformed = || {
        ApiError::field(
            "If-Match",
            "must be * or ETags such as \"3\", separated by commas",
        )
    };
    let text = match single_header(req, actix_web::http::header::IF_MATCH.as_str())? {
        None => return Ok(IfMatch::Any),
        Some(text) => text.trim(),
    };
    if text == "*" {
        return Ok(IfMatch::Any);
    }
    let mut versions = Vec::new();
    for tag in text.split(',').map(str::trim) {
        let (weak, tag) = match tag.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let opaque = tag
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .filter(|t| t.bytes().all(|b| b == b'!' || (b'#'..=b'~').contains(&b)))
            .ok_or_else(malformed)?;
        let ours =
            !weak && (1..=20).contains(&opaque.len()) && opaque.bytes().all(|b| b.is_ascii_digit());
        if let Some(version) = ours.then(|| opaque.parse::<u64>().ok()).flatten() {
            versions.push(version);
        }
    }
    Ok(match versions.as_slice() {
        [] => IfMatch::Never,
        [one] => IfMatch::Version(*one),
        _ => IfMatch::AnyOf(versions),
    })
}

/// The value of a header that may appear at most once: `None` when absent, 400 when it
/// appears twice (two credentials or keys make a request ambiguous), 422 when it is not
/// visible ASCII.
pub fn single_header<'a>(
    req: &'a actix_web::HttpRequest,
    name: &'static str,
) -> Result<Option<&'a str>, ApiError> {
    let mut values = req.headers().get_all(name);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::BadRequest(match name {
            "authorization" => "Send the Authorization header once",
            "idempotency-key" => "Send the Idempotency-Key header once",
            "if-match" => "Send If-Match once; list several ETags in one header",
            _ => "A header that may appear once appeared twice",
        }));
    }
    first
        .to_str()
        .map(Some)
        .map_err(|_| ApiError::field(header_field(name), "must be printable ASCII characters"))
}

/// A header's name as the API's messages spell it.
fn header_field(name: &str) -> &'static str {
    match name {
        "idempotency-key" => "Idempotency-Key",
        "if-match" => "If-Match",
        _ => "header",
    }
}

/// The optional `Idempotency-Key` header: 1 to 255 printable ASCII characters, once.
pub fn idempotency_key(
    req: &actix_web::HttpRequest,
) -> Result<Option<fido_domain::IdempotencyKey>, ApiError> {
    let Some(text) = single_header(req, "idempotency-key")? else {
        return Ok(None);
    };
    fido_domain::IdempotencyKey::parse(text)
        .map(Some)
        .map_err(|e| ApiError::field("Idempotency-Key", e.to_string()))
}
