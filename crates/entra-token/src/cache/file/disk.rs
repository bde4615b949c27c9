//! The file system side: an exclusive `flock`, owner-only files and directories, file work off the
//! async threads.

use std::path::{Path, PathBuf};

use crate::error::FileCacheError;

pub(crate) fn io(path: &Path, action: &'static str, source: std::io::Error) -> FileCacheError {
    FileCacheError::Io {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// Runs file work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, FileCacheError> + Send + 'static,
) -> Result<T, FileCacheError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(FileCacheError::Io {
            path: PathBuf::new(),
            action: "use",
            source: std::io::Error::other(e),
        })
    })
}

pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Opens (creating) a file readable and writable by its owner only.
pub(crate) fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The mode applies only at creation: a leftover file keeps its own.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// An exclusive advisory lock on `{file}.lock`, released when dropped (the descriptor closes).
pub(crate) struct FileLock {
    _file: std::fs::File,
}

impl FileLock {
    pub(crate) fn acquire(path: &Path) -> Result<Self, FileCacheError> {
        let lock_path = path.with_extension("json.lock");
        let err = |source| io(&lock_path, "lock", source);
        create_private_dir(path.parent().unwrap_or(Path::new("."))).map_err(err)?;
        let mut options = std::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&lock_path).map_err(err)?;
        #[cfg(unix)]
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| err(e.into()))?;
        Ok(Self { _file: file })
    }
}
