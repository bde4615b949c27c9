//! The token cache: one JSON file in the user's cache directory (`$XDG_CACHE_HOME/weather-cli/tokens.json`
//! or `~/.cache/weather-cli/tokens.json`), mode 0600 in a 0700 directory, holding access tokens keyed by
//! (authority, client, scope). A token is reused until [`EXPIRY_MARGIN_SECS`] before its expiry, which comes from
//! the token response's `expires_in` (the CLI never decodes access tokens).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// A cached token is not used when it expires within this many seconds.
pub(crate) const EXPIRY_MARGIN_SECS: u64 = 120;

/// The cache file's name.
pub(crate) const FILE_NAME: &str = "tokens.json";

/// The cache file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CacheError {
    /// Writing failed.
    #[error("token cache {path}: cannot write it (use --no-cache to do without)")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading failed (other than "not there").
    #[error("token cache {path}: cannot read it (delete it or use --no-cache)")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What a cached token is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct CacheKey {
    /// The authority URL.
    pub(crate) authority: String,
    /// The client that asked.
    pub(crate) client_id: String,
    /// The scope asked for.
    pub(crate) scope: String,
}

/// How the token was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum TokenKind {
    /// Client-credentials grant (app-only).
    ClientCredentials,
    /// A user's sign-in (authorization code + PKCE).
    User,
}

/// One cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CachedToken {
    /// What it is for.
    #[serde(flatten)]
    pub(crate) key: CacheKey,
    /// How it was obtained.
    pub(crate) kind: TokenKind,
    /// The access token.
    pub(crate) access_token: Secret,
    /// Expiry, Unix seconds (issue time + `expires_in`).
    pub(crate) expires_at: u64,
    /// Who signed in (user tokens, from the ID token's `name`/`preferred_username`: display only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) account: Option<String>,
    /// The scopes granted (the token response's `scope`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) granted_scope: Option<String>,
}

impl CachedToken {
    /// Whether the token can still be used at `now` (Unix seconds), keeping the margin.
    pub(crate) fn is_fresh(&self, now: u64) -> bool {
        now.saturating_add(EXPIRY_MARGIN_SECS) < self.expires_at
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    tokens: Vec<CachedToken>,
}

/// Seconds since the Unix epoch.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The cache file.
#[derive(Debug, Clone)]
pub(crate) struct TokenCache {
    path: PathBuf,
}

impl TokenCache {
    /// A cache in `dir`.
    pub(crate) fn in_dir(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
        }
    }

    /// The file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    async fn load(&self) -> Result<CacheFile, CacheError> {
        match tokio::fs::read(&self.path).await {
            // A damaged file is worth nothing: start over (it is rewritten on the next token).
            Ok(bytes) => Ok(serde_json::from_slice(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(CacheFile::default()),
            Err(source) => Err(CacheError::Read {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// The entry for `key`, fresh or not.
    ///
    /// # Errors
    /// [`CacheError::Read`] when the file exists but cannot be read.
    pub(crate) async fn get(&self, key: &CacheKey) -> Result<Option<CachedToken>, CacheError> {
        Ok(self
            .load()
            .await?
            .tokens
            .into_iter()
            .find(|t| &t.key == key))
    }

    /// Stores `token`, replacing the entry with the same key and dropping expired entries.
    ///
    /// # Errors
    /// [`CacheError`] when the file cannot be read or written.
    pub(crate) async fn put(&self, token: CachedToken) -> Result<(), CacheError> {
        let now = now_unix();
        let mut file = self.load().await?;
        file.tokens
            .retain(|t| t.key != token.key && t.expires_at > now);
        file.tokens.push(token);
        self.save(file).await
    }

    /// Removes the entry for `key` (a token the service refused).
    ///
    /// # Errors
    /// [`CacheError`] when the file cannot be read or written.
    pub(crate) async fn remove(&self, key: &CacheKey) -> Result<(), CacheError> {
        let mut file = self.load().await?;
        let before = file.tokens.len();
        file.tokens.retain(|t| &t.key != key);
        if file.tokens.len() == before {
            return Ok(());
        }
        self.save(file).await
    }

    /// Removes every entry; returns how many there were.
    ///
    /// # Errors
    /// [`CacheError::Write`] when the file exists and cannot be removed.
    pub(crate) async fn clear(&self) -> Result<usize, CacheError> {
        let count = self.load().await?.tokens.len();
        match tokio::fs::remove_file(&self.path).await {
            Ok(()) => Ok(count),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(source) => Err(CacheError::Write {
                path: self.path.clone(),
                source,
            }),
        }
    }

    /// Writes the file: a 0600 temporary file in the (0700) directory, renamed over the old one.
    async fn save(&self, mut file: CacheFile) -> Result<(), CacheError> {
        file.version = 1;
        let err = |source| CacheError::Write {
            path: self.path.clone(),
            source,
        };
        let json = serde_json::to_vec_pretty(&file)
            .expect("BUG: the cache file serialises (plain strings and numbers)");
        if let Some(dir) = self.path.parent() {
            let mut builder = tokio::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            builder.mode(0o700);
            builder.create(dir).await.map_err(err)?;
        }
        let tmp = self
            .path
            .with_extension(format!("json.tmp-{}", std::process::id()));
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(0o600);
        let mut out = options.open(&tmp).await.map_err(err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // The mode above applies only at creation: a leftover temporary file keeps its mode.
            tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                .await
                .map_err(err)?;
        }
        tokio::io::AsyncWriteExt::write_all(&mut out, &json)
            .await
            .map_err(err)?;
        out.sync_all().await.map_err(err)?;
        drop(out);
        tokio::fs::rename(&tmp, &self.path).await.map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(scope: &str) -> CacheKey {
        CacheKey {
            authority: "http://127.0.0.1:8000/dev-issuer/t/".into(),
            client_id: "c".into(),
            scope: scope.into(),
        }
    }

    fn token(scope: &str, value: &str, expires_at: u64) -> CachedToken {
        CachedToken {
            key: key(scope),
            kind: TokenKind::ClientCredentials,
            access_token: Secret::new(value),
            expires_at,
            account: None,
            granted_scope: None,
        }
    }

    #[test]
    fn a_token_is_fresh_until_the_margin_before_expiry() {
        let t = token("s", "v", 10_000);
        assert!(t.is_fresh(10_000 - EXPIRY_MARGIN_SECS - 1));
        assert!(!t.is_fresh(10_000 - EXPIRY_MARGIN_SECS));
        assert!(!t.is_fresh(20_000));
    }

    #[tokio::test]
    async fn put_get_replace_remove_and_clear_round_trip_through_a_0600_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::in_dir(&dir.path().join("weather-cli"));
        assert_eq!(cache.get(&key("a")).await.unwrap(), None);
        let far = now_unix() + 3600;
        cache.put(token("a", "one", far)).await.unwrap();
        cache.put(token("b", "two", far)).await.unwrap();
        cache.put(token("a", "three", far)).await.unwrap();
        let got = cache.get(&key("a")).await.unwrap().unwrap();
        assert_eq!(got.access_token.expose(), "three");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(cache.path())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(cache.path().parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        cache.remove(&key("a")).await.unwrap();
        assert_eq!(cache.get(&key("a")).await.unwrap(), None);
        assert!(cache.get(&key("b")).await.unwrap().is_some());
        assert_eq!(cache.clear().await.unwrap(), 1);
        assert!(!cache.path().exists());
    }

    #[tokio::test]
    async fn expired_entries_are_dropped_on_write_and_a_damaged_file_counts_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::in_dir(dir.path());
        cache.put(token("old", "x", 5)).await.unwrap();
        cache
            .put(token("new", "y", now_unix() + 3600))
            .await
            .unwrap();
        assert_eq!(cache.get(&key("old")).await.unwrap(), None);
        std::fs::write(cache.path(), b"{ not json").unwrap();
        assert_eq!(cache.get(&key("new")).await.unwrap(), None);
        cache
            .put(token("new", "z", now_unix() + 3600))
            .await
            .unwrap();
        assert!(cache.get(&key("new")).await.unwrap().is_some());
    }
}
