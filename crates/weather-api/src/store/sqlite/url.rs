//! The database URL: what `sqlite://...` names, as the `file:` URI that SQLite opens.

use uuid::Uuid;

use super::{unavailable, SqliteError};
use crate::store::StoreError;

/// What SQLite opens: a `file:` URI (with `SQLITE_OPEN_URI`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) uri: String,
    /// A shared-cache in-memory database (see the module docs).
    pub(super) memory: bool,
    /// The file's directory, as the URL names it (`None`: in memory, or the working directory).
    pub(super) dir: Option<std::path::PathBuf>,
}

impl Target {
    /// `sqlite://PATH[?mode=...]`, `sqlite:PATH`, `sqlite::memory:` or `sqlite://:memory:`. PATH is
    /// percent-decoded (`my%20db.db` is `my db.db`), as the sqlx-based store read it. The one parameter
    /// is sqlx's `mode`: `rwc` and `rw` (the default: the file is created if missing, as before),
    /// `memory`; `ro` and any other parameter are refused, naming what is supported (SQLite itself would
    /// ignore a misspelt parameter, or refuse `mode=rwc` on the reader connections).
    pub(super) fn parse(url: &str) -> Result<Self, StoreError> {
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| unavailable(SqliteError::NotSqliteUrl))?;
        let (path, query) = match rest.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (rest, None),
        };
        let mut memory = path == ":memory:";
        for param in query.into_iter().flat_map(|q| q.split('&')) {
            match param {
                "" | "mode=rwc" | "mode=rw" => {}
                "mode=memory" => memory = true,
                other => {
                    return Err(unavailable(SqliteError::UnsupportedParameter(
                        other.to_owned(),
                    )))
                }
            }
        }
        if memory {
            return Ok(Self {
                uri: format!(
                    "file:weather-{}?mode=memory&cache=shared",
                    Uuid::new_v4().simple()
                ),
                memory: true,
                dir: None,
            });
        }
        let path = percent_decode(path)?;
        if path.is_empty() {
            return Err(unavailable(SqliteError::NoFile));
        }
        // An absolute path gets the empty authority (`file:///abs`), so that `//` can never start one.
        let mut uri = String::from(if path.starts_with('/') {
            "file://"
        } else {
            "file:"
        });
        for c in path.chars() {
            match c {
                '%' => uri.push_str("%25"),
                '?' => uri.push_str("%3f"),
                '#' => uri.push_str("%23"),
                c => uri.push(c),
            }
        }
        let dir = std::path::Path::new(&path)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .map(std::path::Path::to_path_buf);
        Ok(Self {
            uri,
            memory: false,
            dir,
        })
    }
}

/// `%XX` escapes decoded (an invalid escape is kept as written); the result must be UTF-8.
fn percent_decode(path: &str) -> Result<String, StoreError> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        let escape = match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) => hex(h).zip(hex(l)),
            _ => None,
        };
        match escape {
            Some((h, l)) => {
                out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| unavailable(SqliteError::PathNotUtf8))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_become_sqlite_uris() {
        let uri = |url: &str| Target::parse(url).unwrap().uri;
        assert_eq!(uri("sqlite:///var/lib/w.db"), "file:///var/lib/w.db");
        assert_eq!(uri("sqlite:/var/lib/w.db"), "file:///var/lib/w.db");
        assert_eq!(uri("sqlite://weather.db"), "file:weather.db");
        // sqlx's forms: `mode=rwc` / `rw` open (and create) the file; escapes are decoded.
        assert_eq!(uri("sqlite://weather.db?mode=rwc"), "file:weather.db");
        assert_eq!(uri("sqlite:weather.db?mode=rw"), "file:weather.db");
        assert_eq!(uri("sqlite:///data/my%20db.db"), "file:///data/my db.db");
        assert_eq!(uri("sqlite:///a%b#c.db"), "file:///a%25b%23c.db");
        assert_eq!(uri("sqlite:///a%2525.db"), "file:///a%2525.db");
        for memory in [
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://x.db?mode=memory",
        ] {
            let target = Target::parse(memory).unwrap();
            assert!(target.memory, "{memory}");
            assert!(target.uri.starts_with("file:weather-"), "{}", target.uri);
            assert!(target.uri.ends_with("?mode=memory&cache=shared"));
        }
        assert_ne!(uri("sqlite::memory:"), uri("sqlite::memory:"));
        for bad in [
            "postgres://x",
            "weather.db",
            "sqlite://",
            "sqlite:?mode=rwc",
            "sqlite:w.db?mode=ro",
            "sqlite:w.db?mdoe=rwc",
            "sqlite:w.db?cache=shared",
            "sqlite:///%ff.db",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(StoreError::Unavailable(_))),
                "{bad}"
            );
        }
    }
}
