//! `next_cursor` / `cursor`: a listing's position, opaque and authenticated.
//!
//! A cursor is URL-safe base64 (no padding) of `1 | date ms (8, big-endian) | id (12) |
//! binding (8) | tag (16)`: the position of the last item returned, 8 bytes of SHA-256 over
//! the user id and the filter's canonical text ([`ListFilter::render`]), and the first
//! 16 bytes of HMAC-SHA-256 over everything before it. A cursor whose tag does not verify
//! (edited, truncated, made up, or signed with a key this service no longer has) is
//! refused; one that verifies but was made for another user or other filters is refused
//! too, and the message says which.
//!
//! The key is derived from the service's secret (the Fernet keys), so every instance
//! accepts the cursors of every other; the first key signs, each key is tried when
//! verifying (a rotation does not break walks in progress).

use base64::Engine;
use fido_domain::{Cursor, ListFilter, ObjectId, Position, Timestamp, TransactionId, UserId};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const VERSION: u8 = 1;
const BODY: usize = 1 + 8 + 12 + 8;
const TAG: usize = 16;
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Why a cursor is refused (each a 422 naming `cursor`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum CursorError {
    /// Not a cursor this service made.
    #[error("is not a valid cursor (use the next_cursor of a previous page as it is)")]
    Invalid,
    /// A valid cursor of another user's listing or of other filters.
    #[error("was made for another user or other filters: repeat the filters of the first page")]
    OtherQuery,
}

/// Seals and opens cursors. Built once per process (the composition root hands the same
/// codec to the encoder, which seals, and to the HTTP edge, which opens); clones share the
/// keys.
#[derive(Clone)]
pub struct CursorCodec {
    /// Signing key first, then older ones.
    keys: std::sync::Arc<[[u8; 32]]>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec { .. }")
    }
}

fn binding(user: UserId, filter: &ListFilter) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(user.object_id().bytes());
    h.update(filter.render().as_bytes());
    let digest = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

impl CursorCodec {
    /// A codec whose keys are derived from `secrets` (the first signs). Each derived key is
    /// HMAC-SHA-256 of a fixed label under the secret, so a cursor key never equals, or
    /// reveals, the secret it comes from.
    pub fn from_secrets<S: AsRef<[u8]>>(secrets: &[S]) -> Self {
        let keys = secrets
            .iter()
            .map(|secret| {
                let mut mac = mac(secret.as_ref());
                mac.update(b"fido list cursor v1");
                mac.finalize().into_bytes().into()
            })
            .collect();
        Self { keys }
    }

    fn tag(key: &[u8; 32], body: &[u8]) -> [u8; TAG] {
        let mut mac = mac(key);
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; TAG];
        out.copy_from_slice(&full[..TAG]);
        out
    }

    /// The opaque text of `cursor`.
    pub fn seal(&self, cursor: &Cursor) -> String {
        let mut bytes = Vec::with_capacity(BODY + TAG);
        bytes.push(VERSION);
        bytes.extend_from_slice(&cursor.after.date.as_millis().to_be_bytes());
        bytes.extend_from_slice(&cursor.after.id.object_id().bytes());
        bytes.extend_from_slice(&binding(cursor.user, &cursor.filter));
        let tag = self.keys.first().map_or([0; TAG], |k| Self::tag(k, &bytes));
        bytes.extend_from_slice(&tag);
        B64.encode(bytes)
    }

    /// The position in `token`, if this service made it for `user` and `filter`.
    pub fn open(
        &self,
        token: &str,
        user: UserId,
        filter: &ListFilter,
    ) -> Result<Position, CursorError> {
        if token.len() > 128 {
            return Err(CursorError::Invalid);
        }
        let bytes = B64.decode(token).map_err(|_| CursorError::Invalid)?;
        if bytes.len() != BODY + TAG || bytes[0] != VERSION {
            return Err(CursorError::Invalid);
        }
        let (body, tag) = bytes.split_at(BODY);
        let verified = self
            .keys
            .iter()
            .any(|k| subtle::ConstantTimeEq::ct_eq(&Self::tag(k, body)[..], tag).into());
        if !verified {
            return Err(CursorError::Invalid);
        }
        if body[21..29] != binding(user, filter) {
            return Err(CursorError::OtherQuery);
        }
        let mut ms = [0u8; 8];
        ms.copy_from_slice(&body[1..9]);
        let mut id = [0u8; 12];
        id.copy_from_slice(&body[9..21]);
        let date =
            Timestamp::from_millis(i64::from_be_bytes(ms)).map_err(|_| CursorError::Invalid)?;
        Ok(Position {
            date,
            id: TransactionId::new(ObjectId::from_bytes(id)),
        })
    }
}

/// An HMAC-SHA-256 under `key`. (HMAC takes keys of any length, so the error branch
/// never runs; it exists so that no panic path does.)
fn mac(key: &[u8]) -> Hmac<Sha256> {
    match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => <Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fido_domain::{DateRange, TransactionType};

    fn cursor() -> Cursor {
        Cursor {
            user: UserId::parse("65e25a6bfb249dcbfbf00b93").unwrap(),
            filter: ListFilter::all(),
            after: Position {
                date: Timestamp::from_millis(1_764_000_000_123).unwrap(),
                id: TransactionId::parse("6650f0c2e4b0a1b2c3d4e5f6").unwrap(),
            },
        }
    }

    #[test]
    fn a_sealed_cursor_opens_to_its_position_for_its_query_only() {
        let codec = CursorCodec::from_secrets(&["secret one"]);
        let c = cursor();
        let token = codec.seal(&c);
        assert!(token.len() < 80 && !token.contains(['+', '/', '=']));
        assert_eq!(codec.open(&token, c.user, &c.filter), Ok(c.after));
        let credit =
            ListFilter::new(Some(TransactionType::Credit), DateRange::ALL, None, None).unwrap();
        assert_eq!(
            codec.open(&token, c.user, &credit),
            Err(CursorError::OtherQuery)
        );
        let other = UserId::parse("65e25a6bfb249dcbfbf00b94").unwrap();
        assert_eq!(
            codec.open(&token, other, &c.filter),
            Err(CursorError::OtherQuery)
        );
    }

    #[test]
    fn any_edited_byte_or_foreign_key_is_refused() {
        let codec = CursorCodec::from_secrets(&["secret one"]);
        let c = cursor();
        let token = codec.seal(&c);
        let bytes = B64.decode(&token).unwrap();
        for i in 0..bytes.len() {
            let mut edited = bytes.clone();
            edited[i] ^= 1;
            assert_eq!(
                codec.open(&B64.encode(&edited), c.user, &c.filter),
                Err(CursorError::Invalid),
                "byte {i}"
            );
        }
        for junk in [
            "",
            "abc",
            "!!!!",
            &"A".repeat(500),
            &token[..token.len() - 1],
        ] {
            assert_eq!(
                codec.open(junk, c.user, &c.filter),
                Err(CursorError::Invalid)
            );
        }
        let foreign = CursorCodec::from_secrets(&["another service"]).seal(&c);
        assert_eq!(
            codec.open(&foreign, c.user, &c.filter),
            Err(CursorError::Invalid)
        );
        // After a rotation, cursors signed with the old key still open.
        let rotated = CursorCodec::from_secrets(&["secret two", "secret one"]);
        assert_eq!(rotated.open(&token, c.user, &c.filter), Ok(c.after));
    }
}
