//! `fido keys create NAME [--scopes read|write|read+write]`: makes an API key, prints it
//! once, and prints the `API_KEYS` entry (a hash) to configure.

use std::process::ExitCode;

use fido_http::auth::{generate_key, hash_key, ApiKeys, Scopes};

use super::{fail, say};
use crate::error::Result;

/// The key and its configuration entry.
pub fn create(name: &str, scopes: &str) -> Result<(String, String)> {
    let scopes = Scopes::parse(scopes).map_err(|e| crate::Error::Config(e.to_string()))?;
    let key = generate_key()?;
    let entry = format!("{name}:{}:{}", hash_key(&key), scopes.label());
    // The same parser the service uses: a name it would refuse is refused now.
    ApiKeys::parse(&entry)?;
    Ok((key, entry))
}

/// `fido keys create`.
pub fn run(name: &str, scopes: &str) -> ExitCode {
    match create(name, scopes) {
        Ok((key, entry)) => {
            say(&format!(
                "API key for {name} (shown once; store it in the caller's secret store):"
            ));
            say(&format!("  {key}"));
            say("Add this entry to API_KEYS (entries are comma-separated; it holds only a hash):");
            say(&format!("  {entry}"));
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_authenticates_with_its_entry() {
        let (key, entry) = create("billing", "read").unwrap();
        let keys = ApiKeys::parse(&entry).unwrap();
        let found = keys.authenticate(&key).unwrap();
        assert_eq!(found.name, "billing");
        assert_eq!(found.scopes.label(), "read");
        assert!(!entry.contains(&key), "the entry holds only a hash");
        assert!(create("bad name", "read").is_err());
    }
}
