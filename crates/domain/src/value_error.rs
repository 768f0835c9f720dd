//! The error of a value that breaks a rule ([`ValueError`]): a leaf, so the value types
//! (`id`, `amount`, `name`, `time`) import nothing above them.

use std::fmt;

/// The rule a single value breaks, without saying which field it came from.
///
/// Value-type parsers return this; it states the rule ("must have at most 2 decimal
/// places") and never echoes the rejected value (it may be personal data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError(String);

impl ValueError {
    /// Builds a value error from the rule that was broken.
    pub fn new(rule: impl Into<String>) -> Self {
        Self(rule.into())
    }

    /// The rule, as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ValueError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_errors_state_the_rule() {
        let e = ValueError::new("must be positive");
        assert_eq!(e.to_string(), "must be positive");
        assert_eq!(e.as_str(), "must be positive");
    }
}
