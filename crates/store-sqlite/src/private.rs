//! The database holds personal data (encrypted names, amounts, dates): only the service's
//! own user may read it. Folders the store creates are 0700 and the database file 0600;
//! SQLite creates the `-wal` and `-shm` files with the database file's permissions. An
//! existing database that others can read is used as it is, with a warning at start-up.

use std::io;
use std::path::Path;

/// Creates `dir` (and missing parents) readable by the owner only; leaves existing
/// folders as they are.
pub(crate) fn create_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Creates an empty database file with mode 0600 unless one exists; warns when an
/// existing one is readable by the group or others.
pub(crate) fn prepare_database_file(path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            warn_if_shared(path);
            Ok(())
        }
        Err(e) => Err(e),
    }
}

fn warn_if_shared(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let sibling = |suffix: &str| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::path::PathBuf::from(name)
        };
        for file in [path.to_path_buf(), sibling("-wal"), sibling("-shm")] {
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    path = %file.display(),
                    mode = format!("{mode:o}"),
                    "the database file is readable by other users; chmod 600 it (and 700 its folder)"
                );
            }
        }
    }
}
