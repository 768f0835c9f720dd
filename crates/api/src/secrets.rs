//! Where the secrets come from: the Fernet key list that encrypts names, and the API keys that
//! callers present.
//!
//! Configured values win (`FERNET_KEY`, `API_KEYS` or its file). Without them, production
//! refuses to start with one clear line; development uses keys kept in the data folder
//! (`fernet.key`, `api-key`, mode 0600), creating them on first start and saying so once —
//! so `make run` works with nothing configured, and data and curl examples keep working
//! across restarts. The development API key file holds the key itself (that is what the
//! README's curl lines read); configured API keys are only ever hashes.

use std::io::Write;
use std::path::Path;

use fido_cipher_fernet::FernetCipher;
use fido_http::auth::{generate_key, hash_key, ApiKeys};

use crate::error::{Error, Result};
use crate::settings::{AppEnv, Settings};

/// File name of the generated development Fernet key inside the data folder.
pub const DEV_KEY_FILE: &str = "fernet.key";
/// File name of the generated development API key inside the data folder.
pub const DEV_API_KEY_FILE: &str = "api-key";

/// The API keys callers may present.
pub fn api_keys(settings: &Settings) -> Result<ApiKeys> {
    if let Some(list) = &settings.security.api_keys {
        return Ok(ApiKeys::parse(list.expose())?);
    }
    if let Some(path) = &settings.security.api_keys_file {
        let text = std::fs::read_to_string(path).map_err(|source| Error::File {
            path: path.clone(),
            source,
        })?;
        return Ok(ApiKeys::parse(&text)?);
    }
    if settings.app_env == AppEnv::Production {
        return Err(Error::Config(
            "API_KEYS is required in production (create one with `fido keys create <name>`)".into(),
        ));
    }
    let path = settings.security.data_dir.join(DEV_API_KEY_FILE);
    let key = match std::fs::read_to_string(&path) {
        Ok(text) => {
            tracing::info!(path = %path.display(), "using the development API key (read+write)");
            text.trim().to_owned()
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = generate_key()?;
            write_private(&path, &key)?;
            // Printed once, to the terminal only: never through the logs.
            eprintln!(
                "fido: API_KEYS is not set: created a development API key (read+write) in {}:\n  {key}\n  \
                 curl -H \"Authorization: Bearer $(cat {})\" …",
                path.display(),
                path.display()
            );
            key
        }
        Err(source) => return Err(Error::File { path, source }),
    };
    Ok(ApiKeys::parse(&format!(
        "development:{}:read+write",
        hash_key(&key)
    ))?)
}

/// Builds the cipher from the configured keys, or the development key file.
pub fn cipher(settings: &Settings) -> Result<FernetCipher> {
    Ok(FernetCipher::from_key_list(&key_list(settings)?)?)
}

/// The list cursors' codec: its keys derived from the same secret as the cipher's (every
/// instance shares it), the first key signing.
pub fn cursor_codec(settings: &Settings) -> Result<fido_http::cursor::CursorCodec> {
    let list = key_list(settings)?;
    let keys: Vec<&str> = list
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    Ok(fido_http::cursor::CursorCodec::from_secrets(&keys))
}

/// `FERNET_KEY`'s list, or the development key.
fn key_list(settings: &Settings) -> Result<String> {
    let list =
        match &settings.security.fernet_key {
            Some(keys) => keys.expose().to_owned(),
            None if settings.app_env == AppEnv::Production => return Err(Error::Config(
                "FERNET_KEY is required in production (one key, or several separated by commas)"
                    .into(),
            )),
            None => development_key(&settings.security.data_dir)?,
        };
    Ok(list)
}

fn development_key(data_dir: &Path) -> Result<String> {
    let path = data_dir.join(DEV_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => return Ok(text.trim().to_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(Error::File { path, source }),
    }
    let key = FernetCipher::generate_key();
    write_private(&path, &key)?;
    tracing::warn!(
        path = %path.display(),
        "FERNET_KEY is not set: generated a development key; set FERNET_KEY in production"
    );
    Ok(key)
}

/// Creates `path` readable by its owner only; never overwrites an existing file.
fn write_private(path: &Path, contents: &str) -> Result<()> {
    write_private_file(path, contents).map_err(|source| Error::File {
        path: path.to_owned(),
        source,
    })
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        // The data folder holds the keys and the embedded database: the owner's only.
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
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
    file.sync_all()
}
