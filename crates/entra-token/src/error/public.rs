//! The public client's own failures: why the user must sign in again ([`SignInReason`]), the
//! loopback redirect ([`LoopbackError`]) and the persistent token cache ([`FileCacheError`]).

use std::time::Duration;

/// `: {description}`, or nothing for an empty description.
pub(crate) fn describe(description: &str) -> String {
    if description.is_empty() {
        String::new()
    } else {
        format!(": {description}")
    }
}

/// Why a public client must sign the user in again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignInReason {
    /// No account is signed in (or the one asked for is not in the cache).
    NoAccount,
    /// The account has no refresh token (it was not asked for `offline_access`, or was dropped
    /// after a refusal).
    NoRefreshToken,
    /// The identity provider refused the refresh token (`invalid_grant`: revoked, expired, the
    /// password changed, or replaced by a newer one).
    RefreshTokenRefused,
}

impl std::fmt::Display for SignInReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::NoAccount => "no signed-in account",
            Self::NoRefreshToken => "the cached sign-in has no refresh token",
            Self::RefreshTokenRefused => {
                "the sign-in is no longer valid (the identity provider refused the refresh \
                 token: revoked, expired or the password changed)"
            }
        })
    }
}

/// The loopback redirect of an interactive sign-in (authorization code + PKCE) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoopbackError {
    /// The loopback listener could not be opened.
    #[error("sign-in: cannot listen on 127.0.0.1 for the browser's answer")]
    Listen(#[source] std::io::Error),
    /// Nobody came back in time.
    #[error("sign-in: no answer from the browser within {after:?}")]
    TimedOut {
        /// How long it waited.
        after: Duration,
    },
    /// The identity provider answered the redirect with an OAuth error other than a refusal.
    #[error("sign-in refused: {error}{}", describe(.description))]
    Refused {
        /// OAuth `error`.
        error: String,
        /// `error_description` (clipped).
        description: String,
    },
}

/// The persistent token cache (a file) could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileCacheError {
    /// Reading, writing, renaming or locking the file failed.
    #[error("token cache {path}: cannot {action} it (check the directory's permissions)")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// `read`, `write`, `lock`.
        action: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file was written by a newer release (a newer format): it is left as it is.
    #[error(
        "token cache {path} was written by a newer version of this program (format {found}, this \
         one reads up to {supported}): upgrade it; the file was left as it is"
    )]
    NewerVersion {
        /// The file.
        path: std::path::PathBuf,
        /// The file's format version.
        found: u32,
        /// The newest format this release reads.
        supported: u32,
    },
    /// No account with this id in the cache.
    #[error("no account {id:?} in the token cache: list them, or sign in")]
    UnknownAccount {
        /// The id asked for.
        id: String,
    },
}
