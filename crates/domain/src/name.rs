//! The customer's full name: personal data, handled so it cannot leak by accident.
//!
//! [`FullName`] is the clear text, validated; its `Debug` output is redacted so that a
//! stray `?transaction` in a log line shows no name. [`EncryptedName`] is the Fernet token
//! that stores hold instead.

use std::fmt;

use crate::value_error::ValueError;

/// Most characters a full name may have, after trimming.
pub const MAX_NAME_CHARS: usize = 200;

/// A customer's full name: trimmed, 1 to 200 characters, no control characters, and no
/// invisible formatting characters that could make a statement display something else.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct FullName(String);

/// The zero-width joiner and non-joiner: format characters that scripts need (Persian,
/// Indic scripts, emoji sequences), so they stay allowed.
const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';

/// Unicode's format characters (general category Cf, Unicode 15.1) and the line and
/// paragraph separators (Zl, Zp): invisible, and able to reorder or hide what a name
/// displays (U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE, U+FEFF, U+2028).
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{0600}'..='\u{0605}' | '\u{061C}' | '\u{06DD}' | '\u{070F}'
        | '\u{0890}'..='\u{0891}' | '\u{08E2}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{110BD}' | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}' | '\u{1BCA0}'..='\u{1BCA3}' | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}' | '\u{E0020}'..='\u{E007F}')
        && c != ZWNJ
        && c != ZWJ
}

impl FullName {
    /// Trims and validates a new name (the API's rules, for every name that enters the
    /// service: creates, updates, `fido import`).
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
        if trimmed.chars().any(is_invisible_format) {
            return Err(ValueError::new(
                "must not contain invisible formatting characters (such as bidirectional overrides or zero-width spaces)",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// A name read back from storage: exactly the text stored, whatever rules it was
    /// stored under. Names kept before a rule existed (the original service accepted line
    /// breaks and surrounding spaces, release 1 bidirectional overrides) read back
    /// unchanged, so a read never fails or alters a stored name. The commands that bring
    /// names in from elsewhere report those the API would refuse ([`FullName::api_refusal`]).
    pub fn from_stored(raw: &str) -> Self {
        Self(raw.to_owned())
    }

    /// Why the API would not store `raw` as it is — a rule it breaks, or the change
    /// trimming would make — or `None` when a create with `raw` would store exactly `raw`.
    pub fn api_refusal(raw: &str) -> Option<ValueError> {
        match Self::parse(raw) {
            Err(e) => Some(e),
            Ok(name) if name.0 != raw => {
                Some(ValueError::new("must not start or end with white space"))
            }
            Ok(_) => None,
        }
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
        // Serialised names are stored ones (idempotency snapshots): read back as stored.
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::from_stored(&s))
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
    fn rejects_invisible_formatting_but_keeps_joiners() {
        for spoof in [
            "Ada\u{202E}ecalevoL",
            "Ada\u{200B}",
            "\u{FEFF}Ada",
            "Ada\u{2028}L",
            "A\u{2066}da",
        ] {
            assert!(FullName::parse(spoof).is_err(), "{spoof:?}");
            assert_eq!(
                FullName::from_stored(spoof).expose(),
                spoof,
                "stored names still read, unchanged"
            );
            assert!(FullName::api_refusal(spoof).is_some());
        }
        assert!(FullName::parse(
            "\u{0645}\u{06CC}\u{200C}\u{062E}\u{0648}\u{0627}\u{0647}\u{0645}"
        )
        .is_ok());
        assert!(FullName::parse("\u{1F469}\u{200D}\u{1F4BB} Ada").is_ok());
    }

    #[test]
    fn stored_names_read_back_exactly_and_the_api_rules_are_reported() {
        for stored in ["Ada\nLovelace", "  Ada", "Ada\t", "\u{202E}Ada", ""] {
            assert_eq!(FullName::from_stored(stored).expose(), stored);
            assert!(FullName::api_refusal(stored).is_some(), "{stored:?}");
        }
        assert!(FullName::api_refusal("Ada Lovelace").is_none());
        assert!(
            FullName::api_refusal(" Ada").is_some_and(|e| e.to_string().contains("white space"))
        );
    }

    #[test]
    fn debug_is_redacted() {
        let n = FullName::parse("Ada Lovelace").unwrap();
        assert!(!format!("{n:?}").contains("Ada"));
    }
}
