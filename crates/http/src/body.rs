//! The request body of a create or an update: a JSON object read under a size limit and a
//! deadline, whose members are kept as their raw JSON text.
//!
//! - **Raw text** lets numbers be validated exactly as the client wrote them
//!   (`10.5000000000000001` has more than two decimal places; a float would have rounded
//!   it to `10.5` first).
//! - **Every member is kept**, in order, so a key sent twice is refused (422) instead of
//!   silently letting the last one win — a proxy or validator that reads the first would
//!   otherwise see another transaction.
//! - **A deadline** on reading the body (the HTTP server's own timeout covers only the
//!   head): a client that trickles a body byte by byte gets 408 and a closed connection.

use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_LENGTH;
use actix_web::web::{self, BytesMut};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::StreamExt;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::ApiError;

/// How bodies are read.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// The largest accepted body.
    pub max_bytes: usize,
    /// How long reading a body may take, from the first byte the handler asks for.
    pub read_timeout: Duration,
}

impl Default for BodyLimits {
    fn default() -> Self {
        Self {
            max_bytes: 16 * 1024,
            read_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a body is not a JSON object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAnObject {
    /// It is not JSON at all (400).
    NotJson,
    /// It is JSON, but not an object (422).
    OtherJson,
}

/// A JSON object's members as raw JSON text, in the order they came.
#[derive(Debug)]
pub struct JsonObject {
    members: Vec<(String, Box<RawValue>)>,
}

impl JsonObject {
    /// Parses a body.
    pub fn parse(bytes: &[u8]) -> Result<Self, NotAnObject> {
        serde_json::from_slice(bytes).map_err(|e| {
            if e.is_data() {
                NotAnObject::OtherJson
            } else {
                NotAnObject::NotJson
            }
        })
    }

    /// The members, in order (a name may appear more than once).
    pub fn members(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.members.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }

    /// The raw value of a member that appears once (callers reject repeated names first).
    pub fn get(&self, name: &str) -> Option<&RawValue> {
        self.members
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
    }

    /// The names that appear more than once, each named once.
    pub fn repeated(&self) -> Vec<&str> {
        let mut repeated: Vec<&str> = Vec::new();
        for (i, (name, _)) in self.members.iter().enumerate() {
            let again = self.members[..i].iter().any(|(k, _)| k == name);
            if again && !repeated.contains(&name.as_str()) {
                repeated.push(name);
            }
        }
        repeated
    }
}

impl<'de> serde::Deserialize<'de> for JsonObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = JsonObject;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonObject, A::Error> {
                let mut members = Vec::new();
                while let Some(member) = map.next_entry::<String, Box<RawValue>>()? {
                    members.push(member);
                }
                Ok(JsonObject { members })
            }
        }
        d.deserialize_map(Members)
    }
}

/// The extractor: `application/json` (or `*/*+json`), at most
/// [`BodyLimits::max_bytes`], read within [`BodyLimits::read_timeout`], an object.
#[derive(Debug)]
pub struct JsonBody(pub JsonObject);

fn is_json(req: &HttpRequest) -> bool {
    matches!(req.mime_type(), Ok(Some(mime))
        if mime.subtype().as_str() == "json" || mime.suffix().is_some_and(|s| s.as_str() == "json"))
}

async fn read(mut payload: Payload, limit: usize) -> Result<BytesMut, ApiError> {
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::MalformedJson)?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

impl FromRequest for JsonBody {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limits = req
            .app_data::<web::Data<BodyLimits>>()
            .map_or_else(BodyLimits::default, |l| *l.get_ref());
        let json = is_json(req);
        let announced = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let payload = payload.take();
        Box::pin(async move {
            if !json {
                return Err(ApiError::UnsupportedMediaType.into());
            }
            if announced.is_some_and(|n| n > limits.max_bytes as u64) {
                return Err(ApiError::PayloadTooLarge.into());
            }
            let bytes =
                actix_web::rt::time::timeout(limits.read_timeout, read(payload, limits.max_bytes))
                    .await
                    .map_err(|_| ApiError::RequestTimeout)??;
            match JsonObject::parse(&bytes) {
                Ok(object) => Ok(JsonBody(object)),
                Err(NotAnObject::NotJson) => Err(ApiError::MalformedJson.into()),
                Err(NotAnObject::OtherJson) => {
                    Err(ApiError::field("body", "must be a JSON object").into())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_their_text_and_repeats_are_found() {
        let o = JsonObject::parse(br#"{"a": 10.5000000000000001, "b": "x", "a": 2}"#).unwrap();
        assert_eq!(o.get("a").unwrap().get(), "10.5000000000000001");
        assert_eq!(o.repeated(), ["a"]);
        assert_eq!(o.members().count(), 3);
        assert_eq!(
            JsonObject::parse(b"[1]").unwrap_err(),
            NotAnObject::OtherJson
        );
        assert_eq!(
            JsonObject::parse(b"{nope").unwrap_err(),
            NotAnObject::NotJson
        );
        assert_eq!(JsonObject::parse(b"").unwrap_err(), NotAnObject::NotJson);
    }
}
