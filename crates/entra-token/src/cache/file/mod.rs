//! [`FileCache`]: the persistent token cache of a public client (a CLI or desktop app), one JSON
//! file that the application places in the platform's data directory (the library reads no
//! environment to find it).
//!
//! * It holds the signed-in [`Account`]s (tenant, user object id, username), which one is active,
//!   each account's refresh token and access tokens (per scope set), and app-only tokens under a
//!   [`CacheKey`] (it is a [`SharedCache`], so a `ConfidentialClient` of a CLI keeps its
//!   client-credentials token across runs).
//! * Mode 0600 in a 0700 directory, written atomically: a temporary file in the same directory,
//!   flushed, then renamed over the old one, so a reader sees the old or the new file, never half.
//! * Every operation holds an exclusive lock (`flock` on `{file}.lock`; Unix only: elsewhere the
//!   file is written atomically but not locked), so two processes never
//!   lose each other's writes; [`FileCache::lock`] keeps it across a refresh-token redemption, so
//!   two processes never spend one (rotated) refresh token twice.
//! * A file that does not parse is renamed `{file}.corrupt-{unix seconds}` with a WARN (and the
//!   application's callback, to tell its user) and the cache starts empty: never a crash. Such
//!   set-aside files may still hold live refresh tokens: [`FileCache::clear`] and
//!   [`FileCache::remove_account`] (signing out) delete them.
//! * A file of a newer format version (written by a newer release of the application) is left
//!   as it is and refused with [`FileCacheError::NewerVersion`] ("upgrade"), never set aside.
//! * Stored expiry times are not trusted beyond what a token can live: a token whose expiry is
//!   further ahead than 25 h is treated as expired, and no stored time can overflow.
//! * Tokens are plain text inside the 0600 file (as the Azure CLI and MSAL's unencrypted
//!   fallback keep them); `Debug` of every type here prints `[REDACTED]` for them.

mod disk;
mod document;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::{from_unix, is_live, unix};
use super::{CacheKey, SharedCache, SharedCacheError};
use crate::error::FileCacheError;
use crate::token::AccessToken;
use crate::transport::BoxFuture;
use disk::{blocking, create_private_dir, io, private_file, FileLock};
pub use document::Account;
pub(crate) use document::AccountEntry;
use document::{AppToken, Document, VERSION};
use entra_core::{ExposeSecret as _, SecretString};

/// Called with (the file, where it was moved) when a corrupt file is set aside.
type SetAsideHook = Arc<dyn Fn(&Path, &Path) + Send + Sync>;

/// The persistent cache: a path and the callback for a corrupt file. Cheap to clone; no I/O
/// until used.
#[derive(Clone)]
pub struct FileCache {
    path: PathBuf,
    on_set_aside: Option<SetAsideHook>,
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FileCache {
    /// A cache in the file `path`, e.g. `$XDG_DATA_HOME/myapp/tokens.json` (the directory is
    /// created, 0700, on the first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            on_set_aside: None,
        }
    }

    /// Also tell the application's user when a corrupt file is set aside (the library logs a
    /// WARN in any case): `hook(file, moved_to)`.
    #[must_use]
    pub fn on_set_aside(mut self, hook: impl Fn(&Path, &Path) + Send + Sync + 'static) -> Self {
        self.on_set_aside = Some(Arc::new(hook));
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the exclusive lock and reads the file (waiting while another process holds it).
    pub(crate) async fn lock(&self) -> Result<LockedCache, FileCacheError> {
        let this = self.clone();
        blocking(move || {
            let lock = FileLock::acquire(&this.path)?;
            let doc = this.read_locked()?;
            Ok(LockedCache {
                cache: this,
                doc,
                _lock: lock,
            })
        })
        .await
    }

    /// The signed-in accounts, in sign-in order.
    ///
    /// # Errors
    /// [`FileCacheError::Io`], [`FileCacheError::NewerVersion`].
    pub async fn accounts(&self) -> Result<Vec<Account>, FileCacheError> {
        let locked = self.lock().await?;
        Ok(locked
            .doc
            .accounts
            .iter()
            .map(|e| e.account.clone())
            .collect())
    }

    /// The active account (the last signed in, or the one chosen with
    /// [`set_active`](Self::set_active)).
    ///
    /// # Errors
    /// [`FileCacheError::Io`], [`FileCacheError::NewerVersion`].
    pub async fn active_account(&self) -> Result<Option<Account>, FileCacheError> {
        let locked = self.lock().await?;
        let active = locked.doc.active.as_deref();
        Ok(locked
            .doc
            .accounts
            .iter()
            .find(|e| Some(e.account.id.as_str()) == active)
            .map(|e| e.account.clone()))
    }

    /// Makes the account `id` the active one.
    ///
    /// # Errors
    /// [`FileCacheError::UnknownAccount`], [`FileCacheError::Io`],
    /// [`FileCacheError::NewerVersion`].
    pub async fn set_active(&self, id: &str) -> Result<Account, FileCacheError> {
        let mut locked = self.lock().await?;
        let account = locked
            .doc
            .accounts
            .iter()
            .find(|e| e.account.id == id)
            .map(|e| e.account.clone())
            .ok_or_else(|| FileCacheError::UnknownAccount { id: id.to_owned() })?;
        locked.doc.active = Some(account.id.clone());
        locked.commit().await?;
        Ok(account)
    }

    /// Forgets the account `id` (its refresh and access tokens); the next one, if any, becomes
    /// active. Also deletes the set-aside copies of damaged files (`{file}.corrupt-*`), which may
    /// hold the account's refresh token. Returns whether the account was there.
    ///
    /// # Errors
    /// [`FileCacheError::Io`], [`FileCacheError::NewerVersion`].
    pub async fn remove_account(&self, id: &str) -> Result<bool, FileCacheError> {
        let mut locked = self.lock().await?;
        let before = locked.doc.accounts.len();
        locked.doc.accounts.retain(|e| e.account.id != id);
        let removed = locked.doc.accounts.len() != before;
        if locked.doc.active.as_deref() == Some(id) {
            locked.doc.active = locked.doc.accounts.first().map(|e| e.account.id.clone());
        }
        if removed {
            locked.commit().await?;
        }
        drop(locked);
        self.delete_set_aside_files().await?;
        Ok(removed)
    }

    /// Deletes the set-aside copies of damaged files (`{file}.corrupt-*`, which may hold live
    /// refresh tokens); returns how many there were.
    ///
    /// # Errors
    /// [`FileCacheError::Io`].
    pub async fn delete_set_aside_files(&self) -> Result<usize, FileCacheError> {
        let this = self.clone();
        blocking(move || {
            let _lock = FileLock::acquire(&this.path)?;
            this.remove_set_aside()
        })
        .await
    }

    /// Forgets everything (accounts, app-only tokens, the set-aside copies of damaged files) and
    /// removes the file. Returns what there was.
    ///
    /// # Errors
    /// [`FileCacheError::Io`], [`FileCacheError::NewerVersion`] (a newer release's file is left
    /// alone: sign out with that release).
    pub async fn clear(&self) -> Result<Cleared, FileCacheError> {
        let locked = self.lock().await?;
        let mut cleared = Cleared {
            accounts: locked.doc.accounts.len(),
            app_tokens: locked.doc.app_tokens.len(),
            set_aside_files: 0,
        };
        let this = self.clone();
        blocking(move || {
            let _held = locked;
            match std::fs::remove_file(&this.path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(io(&this.path, "remove", source)),
            }
            cleared.set_aside_files = this.remove_set_aside()?;
            Ok(cleared)
        })
        .await
    }

    /// `{file}.corrupt-{secs}`: where a damaged file is moved.
    fn set_aside_path(&self, secs: u64) -> PathBuf {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(format!(".corrupt-{secs}"));
        self.path.with_file_name(name)
    }

    /// Deletes the set-aside copies of damaged files (the lock is held); returns how many.
    fn remove_set_aside(&self) -> Result<usize, FileCacheError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let mut prefix = self.path.file_name().unwrap_or_default().to_os_string();
        prefix.push(".corrupt-");
        let prefix = prefix.to_string_lossy().into_owned();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(source) => return Err(io(dir, "list", source)),
        };
        let mut removed = 0;
        for entry in entries {
            let entry = entry.map_err(|source| io(dir, "list", source))?;
            if !entry.file_name().to_string_lossy().starts_with(&prefix) {
                continue;
            }
            let path = entry.path();
            std::fs::remove_file(&path).map_err(|source| io(&path, "remove", source))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Reads the file (the lock is held). Missing: empty. Newer format: refused, left alone.
    /// Corrupt: set aside, empty.
    fn read_locked(&self) -> Result<Document, FileCacheError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Document::default()),
            Err(source) => return Err(io(&self.path, "read", source)),
        };
        // The version first: a newer release may have changed everything else.
        if let Ok(Versioned { version }) = serde_json::from_slice::<Versioned>(&bytes) {
            if version > VERSION {
                return Err(FileCacheError::NewerVersion {
                    path: self.path.clone(),
                    found: version,
                    supported: VERSION,
                });
            }
        }
        match serde_json::from_slice::<Document>(&bytes) {
            Ok(doc) => Ok(doc),
            Err(_) => {
                let aside = self.set_aside_path(unix(SystemTime::now()));
                std::fs::rename(&self.path, &aside)
                    .map_err(|source| io(&self.path, "set aside", source))?;
                tracing::warn!(target: "entra_token", file = %self.path.display(), moved_to = %aside.display(),
                    "the token cache file is not valid; it was set aside and the cache starts empty: sign in again");
                if let Some(hook) = &self.on_set_aside {
                    hook(&self.path, &aside);
                }
                Ok(Document::default())
            }
        }
    }

    /// Writes `doc` atomically (the lock is held): a 0600 temporary file, flushed, renamed.
    fn write_locked(&self, doc: &Document) -> Result<(), FileCacheError> {
        let err = |source| io(&self.path, "write", source);
        let mut doc = doc.clone();
        doc.version = VERSION;
        let json = serde_json::to_vec_pretty(&doc).map_err(|e| err(std::io::Error::other(e)))?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        create_private_dir(dir).map_err(err)?;
        let tmp = self.path.with_extension(format!(
            "json.tmp-{}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let written = (|| {
            let mut file = private_file(&tmp)?;
            std::io::Write::write_all(&mut file, &json)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(err)
    }
}

/// What [`FileCache::clear`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cleared {
    /// Signed-in accounts (each with its refresh and access tokens).
    pub accounts: usize,
    /// App-only (client credentials) tokens.
    pub app_tokens: usize,
    /// Set-aside copies of damaged files (`{file}.corrupt-*`).
    pub set_aside_files: usize,
}

/// Only the format version of a file, whatever else it holds.
#[derive(serde::Deserialize)]
struct Versioned {
    #[serde(default)]
    version: u32,
}

/// The cache with its lock held: read, changed, then [`commit`](Self::commit)ted. Dropping it
/// releases the lock.
pub(crate) struct LockedCache {
    cache: FileCache,
    pub(crate) doc: Document,
    _lock: FileLock,
}

impl LockedCache {
    /// Writes the document.
    pub(crate) async fn commit(&mut self) -> Result<(), FileCacheError> {
        let cache = self.cache.clone();
        let doc = self.doc.clone();
        blocking(move || cache.write_locked(&doc)).await
    }
}

impl SharedCache for FileCache {
    fn get<'a>(
        &'a self,
        key: &'a CacheKey,
    ) -> BoxFuture<'a, Result<Option<AccessToken>, SharedCacheError>> {
        Box::pin(async move {
            let locked = self.lock().await.map_err(unavailable)?;
            let hex = hex_key(key);
            let now = unix(SystemTime::now());
            Ok(locked
                .doc
                .app_tokens
                .iter()
                .find(|t| t.key == hex && is_live(t.expires_at, now))
                .map(|t| {
                    AccessToken::new(
                        t.token.expose_secret().into(),
                        from_unix(t.expires_at),
                        from_unix(t.refresh_at),
                    )
                }))
        })
    }

    fn put<'a>(
        &'a self,
        key: &'a CacheKey,
        token: &'a AccessToken,
        now: SystemTime,
    ) -> BoxFuture<'a, Result<(), SharedCacheError>> {
        Box::pin(async move {
            let mut locked = self.lock().await.map_err(unavailable)?;
            let hex = hex_key(key);
            let now = unix(now);
            locked
                .doc
                .app_tokens
                .retain(|t| t.key != hex && is_live(t.expires_at, now));
            locked.doc.app_tokens.push(AppToken {
                key: hex,
                token: SecretString::from(token.secret()),
                expires_at: unix(token.expires_at()),
                refresh_at: unix(token.refresh_at()),
            });
            locked.commit().await.map_err(unavailable)
        })
    }
}

fn unavailable(e: FileCacheError) -> SharedCacheError {
    SharedCacheError::Unavailable(Box::new(e))
}

fn hex_key(key: &CacheKey) -> String {
    key.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> AccountEntry {
        AccountEntry {
            account: Account {
                id: id.to_owned(),
                tenant_id: "t".into(),
                oid: id.split('.').next().unwrap().to_owned(),
                username: format!("{id}@example"),
                name: None,
            },
            client_id: "c".into(),
            instance: "https://login.example/".into(),
            refresh_token: Some(SecretString::from("refresh-secret-value")),
            access_tokens: Vec::new(),
        }
    }

    #[tokio::test]
    async fn file_is_0600_in_a_0700_directory_and_round_trips_accounts() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let cache = FileCache::new(dir.join("app/tokens.json"));
        let mut locked = cache.lock().await.unwrap();
        locked.doc.upsert(entry("a.t"));
        locked.doc.upsert(entry("b.t"));
        locked.commit().await.unwrap();
        drop(locked);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(cache.path()), 0o600);
            assert_eq!(mode(&dir.join("app")), 0o700);
        }
        let ids: Vec<_> = cache
            .accounts()
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, ["a.t", "b.t"]);
        assert_eq!(cache.active_account().await.unwrap().unwrap().id, "b.t");
        assert_eq!(cache.set_active("a.t").await.unwrap().id, "a.t");
        assert_eq!(cache.active_account().await.unwrap().unwrap().id, "a.t");
        assert!(matches!(
            cache.set_active("nobody").await,
            Err(FileCacheError::UnknownAccount { .. })
        ));
        assert!(cache.remove_account("a.t").await.unwrap());
        assert_eq!(cache.active_account().await.unwrap().unwrap().id, "b.t");
        assert_eq!(
            cache.clear().await.unwrap(),
            Cleared {
                accounts: 1,
                app_tokens: 0,
                set_aside_files: 0
            }
        );
        assert!(!cache.path().exists());
    }

    #[tokio::test]
    async fn newer_version_file_is_refused_with_upgrade_and_left_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("tokens.json");
        let newer = br#"{"version": 2, "accounts": {"a new": "shape"}}"#;
        std::fs::write(&path, newer).unwrap();
        let err = FileCache::new(&path).accounts().await.unwrap_err();
        assert!(
            matches!(
                err,
                FileCacheError::NewerVersion {
                    found: 2,
                    supported: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("upgrade it"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), newer);
        assert_eq!(
            std::fs::read_dir(tmp.path()).unwrap().count(),
            2,
            "file and lock only"
        );
    }

    #[tokio::test]
    async fn clear_and_remove_account_delete_set_aside_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("tokens.json");
        let cache = FileCache::new(&path);
        for secs in [1, 2] {
            std::fs::write(cache.set_aside_path(secs), b"refresh-secret-value").unwrap();
        }
        std::fs::write(tmp.path().join("other.json.corrupt-1"), b"kept").unwrap();
        assert!(!cache.remove_account("nobody").await.unwrap());
        assert!(!cache.set_aside_path(1).exists() && !cache.set_aside_path(2).exists());
        std::fs::write(cache.set_aside_path(3), b"refresh-secret-value").unwrap();
        let cleared = cache.clear().await.unwrap();
        assert_eq!(cleared.set_aside_files, 1);
        assert!(tmp.path().join("other.json.corrupt-1").exists());
    }

    #[tokio::test]
    async fn corrupt_file_is_set_aside_with_the_hook_called_and_the_cache_starts_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("tokens.json");
        std::fs::write(&path, b"{ not json").unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        let cache = FileCache::new(&path).on_set_aside(move |_, to| {
            seen2.lock().unwrap().push(to.to_path_buf());
        });
        assert!(cache.accounts().await.unwrap().is_empty());
        let moved = seen.lock().unwrap().clone();
        assert_eq!(moved.len(), 1);
        assert_eq!(std::fs::read(&moved[0]).unwrap(), b"{ not json");
        assert!(moved[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("tokens.json.corrupt-"));
        assert!(!path.exists());
    }

    #[test]
    fn debug_of_an_entry_redacts_the_refresh_token() {
        let text = format!("{:?}", entry("a.t"));
        assert!(!text.contains("refresh-secret-value"), "{text}");
        assert!(text.contains("[REDACTED]"));
    }
}
