//! Azure Arc's challenge: the first request answers 401 with `WWW-Authenticate: Basic realm=<path>`,
//! a key file the agent (himds) has just written; the second request sends its content as
//! `Authorization: Basic <key>`, proving the caller may read the agent's directory. As MSAL does, the
//! path must be a `.key` file directly in the agent's key directory (by default
//! `/var/opt/azcmagent/tokens`, symbolic links resolved) and at most 4096 bytes, so that a forged
//! challenge cannot make this process send another file's content.

use std::path::{Path, PathBuf};

use entra_core::SecretString;
use http::header::WWW_AUTHENTICATE;
use http::HeaderMap;

use super::error::ManagedIdentityError;

/// The largest key file read (MSAL's bound).
pub(crate) const MAX_KEY_FILE_BYTES: u64 = 4096;

/// Where the Azure Connected Machine agent writes its challenge keys on Linux.
pub const DEFAULT_ARC_KEY_DIRECTORY: &str = "/var/opt/azcmagent/tokens";

/// The key named by the challenge in `headers`, read after checking where it is.
pub(crate) async fn challenge_key(
    headers: &HeaderMap,
    key_directory: &Path,
) -> Result<SecretString, ManagedIdentityError> {
    let refuse =
        |path: Option<PathBuf>, reason| ManagedIdentityError::ArcChallenge { path, reason };
    let value = headers
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| refuse(None, "the 401 has no WWW-Authenticate header to answer"))?;
    let path = value
        .trim()
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .and_then(|(_, rest)| rest.trim().strip_prefix("realm="))
        .map(|p| PathBuf::from(p.trim().trim_matches('"')))
        .ok_or_else(|| {
            refuse(
                None,
                "expected WWW-Authenticate: Basic realm=<key file path>",
            )
        })?;
    if !path.is_absolute() || path.extension().is_none_or(|e| e != "key") {
        return Err(refuse(
            Some(path),
            "expected the absolute path of a .key file",
        ));
    }
    let outside =
        "the file is not in the agent's key directory (ManagedIdentityOptions::arc_key_directory)";
    let dir = tokio::fs::canonicalize(key_directory).await.map_err(|_| {
        refuse(
            Some(path.clone()),
            "the agent's key directory does not exist",
        )
    })?;
    let file = tokio::fs::canonicalize(&path).await.map_err(|_| {
        refuse(
            Some(path.clone()),
            "the file does not exist or cannot be read",
        )
    })?;
    if file.parent() != Some(dir.as_path()) {
        return Err(refuse(Some(path), outside));
    }
    let meta = tokio::fs::metadata(&file)
        .await
        .map_err(|_| refuse(Some(path.clone()), "the file cannot be read"))?;
    if !meta.is_file() || meta.len() > MAX_KEY_FILE_BYTES {
        return Err(refuse(
            Some(path),
            "not a regular file of at most 4096 bytes",
        ));
    }
    let key = tokio::fs::read_to_string(&file)
        .await
        .map_err(|_| refuse(Some(path.clone()), "the file cannot be read as text"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(refuse(Some(path), "the file is empty"));
    }
    Ok(SecretString::from(key.to_owned()))
}
