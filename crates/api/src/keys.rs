//! Where the Fernet key list comes from.
//!
//! `FERNET_KEY` wins. Without it, production refuses to start; development reads
//! `<data_dir>/fernet.key`, creating it (mode 0600) with a fresh key on first start, and says
//! so once — so `make run` works with nothing configured and data stays readable across
//! restarts.

use std::io::Write;
use std::path::{Path, PathBuf};

use fido_cipher_fernet::FernetCipher;

use crate::settings::{AppEnv, Settings, SettingsError};

/// File name of the generated development key inside the data folder.
pub const DEV_KEY_FILE: &str = "fernet.key";

/// Builds the cipher from the configured keys, or the development key file.
pub fn cipher(settings: &Settings) -> Result<FernetCipher, SettingsError> {
    let list =
        match &settings.security.fernet_key {
            Some(keys) => keys.expose().to_owned(),
            None if settings.app_env == AppEnv::Production => return Err(SettingsError(
                "FERNET_KEY is required in production (one key, or several separated by commas)"
                    .into(),
            )),
            None => development_key(&settings.security.data_dir)?,
        };
    FernetCipher::from_key_list(&list).map_err(|e| SettingsError(e.to_string()))
}

fn development_key(data_dir: &Path) -> Result<String, SettingsError> {
    let path = data_dir.join(DEV_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(SettingsError(format!("{}: {e}", path.display()))),
    }
    let key = FernetCipher::generate_key();
    write_private(&path, &key).map_err(|e| SettingsError(format!("{}: {e}", path.display())))?;
    tracing::warn!(
        path = %path.display(),
        "FERNET_KEY is not set: generated a development key; set FERNET_KEY in production"
    );
    Ok(key)
}

/// Creates `path` readable by its owner only; never overwrites an existing file.
fn write_private(path: &Path, contents: &str) -> std::io::Result<PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)], dir: &Path) -> Settings {
        let mut map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        map.insert(
            "DB_URI".into(),
            format!("sqlite://{}/fido.db", dir.display()),
        );
        let mut s =
            Settings::load_from(Path::new("/nonexistent"), |k| map.get(k).cloned(), false).unwrap();
        s.security.data_dir = dir.to_owned();
        s
    }

    #[test]
    fn development_generates_a_private_key_once_and_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(&[], dir.path());
        let a = cipher(&s).unwrap();
        let token = a.encrypt_str("x");
        let b = cipher(&s).unwrap();
        assert_eq!(
            b.decrypt_str(&token).unwrap(),
            "x",
            "the same key is reused"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DEV_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn production_without_a_key_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let e = cipher(&settings(&[("APP_ENV", "production")], dir.path())).unwrap_err();
        assert!(e
            .to_string()
            .contains("FERNET_KEY is required in production"));
        assert!(!dir.path().join(DEV_KEY_FILE).exists());
    }

    #[test]
    fn a_bad_configured_key_is_named_by_position() {
        let dir = tempfile::tempdir().unwrap();
        let e = cipher(&settings(&[("FERNET_KEY", "nope")], dir.path())).unwrap_err();
        assert!(e.to_string().contains("key #1"), "{e}");
        assert!(!e.to_string().contains("nope"));
    }
}
