//! The customer's full name: personal data, handled so it cannot leak by accident.
//!
//! [`FullName`] is the clear text, validated; its `Debug` output is redacted so that a
//! stray `?transaction` in a log line shows no name. [`EncryptedName`] is the Fernet token
//! that stores hold instead.

use std::fmt;

use crate::error::ValueError;

/// Most characters a full name may have, after trimming.
pub const MAX_NAME_CHARS: usize = 200;

/// A customer's full name: trimmed, 1 to 200 characters, no control characters.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FullName(String);

impl FullName {
    /// Trims and validates a name.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValueError::new("must not be empty"));
        }
        if trimmed.chars().count() > MAX_NAME_CHARS {
            return Err(ValueError::new(format!(
                "must be at most {MAX_NAME_CHARS} characters"
            )));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ValueError::new("must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// The clear-text name. Only for encryption and API responses: never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FullName(<redacted>)")
    }
}

impl serde::Serialize for FullName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for FullName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A full name as its cipher token (a Fernet token for the production cipher). Stores hold
/// only this; it is opaque to them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EncryptedName(String);

impl EncryptedName {
    /// Wraps a token produced by a [`FieldCipher`](crate::FieldCipher) or read from a store.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The token text, owned.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for EncryptedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Tokens are not secret, but they are long and useless in logs.
        write!(f, "EncryptedName({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_accepts_unicode() {
        assert_eq!(
            FullName::parse("  Ada Lovelace ").unwrap().expose(),
            "Ada Lovelace"
        );
        assert_eq!(
            FullName::parse("Zoë Ñúñez 李").unwrap().expose(),
            "Zoë Ñúñez 李"
        );
    }

    #[test]
    fn rejects_empty_long_and_control() {
        assert!(FullName::parse("   ").is_err());
        assert!(FullName::parse(&"a".repeat(201)).is_err());
        assert!(
            FullName::parse(&"é".repeat(200)).is_ok(),
            "limit counts characters, not bytes"
        );
        assert!(FullName::parse("Ada\u{0}Lovelace").is_err());
        assert!(FullName::parse("Ada\nLovelace").is_err());
    }

    #[test]
    fn debug_is_redacted() {
        let n = FullName::parse("Ada Lovelace").unwrap();
        assert!(!format!("{n:?}").contains("Ada"));
    }
}
