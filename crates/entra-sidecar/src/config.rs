//! ASP.NET Core's configuration model, as Microsoft's sidecar reads it: `appsettings.json`
//! (comments and trailing commas allowed), `appsettings.{Environment}.json`, environment variables
//! with `__` for `:`, then the command line; keys are `Section:Key` paths, arrays are numbered
//! children (`Scopes:0`), names are case-insensitive and the last source wins.

use std::collections::BTreeMap;

use serde_json::Value;

/// Where a value came from, to name it in error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A JSON file (its name).
    File(String),
    /// An environment variable (its name, `__` kept).
    Environment(String),
    /// The command line.
    CommandLine,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(name) => write!(f, "{name}"),
            Origin::Environment(name) => write!(f, "environment variable {name}"),
            Origin::CommandLine => f.write_str("the command line"),
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    path: String,
    value: String,
    origin: Origin,
}

/// A file that is not valid (relaxed) JSON, or a command line that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The JSON file does not parse.
    #[error("{file} is not valid JSON at line {line}, column {column}: {reason}")]
    Json {
        /// The file's name.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What the parser expected.
        reason: String,
    },
    /// The top of the JSON file is not an object.
    #[error("{file} must hold a JSON object at the top")]
    NotAnObject {
        /// The file's name.
        file: String,
    },
    /// A command-line argument with no value.
    #[error("command-line argument {arg:?} has no value: write --Section:Key=value or --Section:Key value")]
    MissingValue {
        /// The argument as given.
        arg: String,
    },
}

/// The merged configuration: flattened, case-insensitive keys.
#[derive(Debug, Clone, Default)]
pub struct Configuration {
    entries: BTreeMap<String, Entry>,
}

impl Configuration {
    /// An empty configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a JSON document (ASP.NET's relaxed JSON: `//` and `/* */` comments, trailing commas).
    ///
    /// # Errors
    /// [`SourceError::Json`] or [`SourceError::NotAnObject`].
    pub fn add_json(&mut self, file: &str, text: &str) -> Result<(), SourceError> {
        let cleaned = relax_json(text);
        let value: Value = serde_json::from_str(&cleaned).map_err(|e| SourceError::Json {
            file: file.to_owned(),
            line: e.line(),
            column: e.column(),
            reason: e.to_string(),
        })?;
        let Value::Object(_) = value else {
            return Err(SourceError::NotAnObject {
                file: file.to_owned(),
            });
        };
        let origin = Origin::File(file.to_owned());
        self.flatten("", &value, &origin);
        Ok(())
    }

    fn flatten(&mut self, prefix: &str, value: &Value, origin: &Origin) {
        let join = |key: &str| {
            if prefix.is_empty() {
                key.to_owned()
            } else {
                format!("{prefix}:{key}")
            }
        };
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    self.flatten(&join(k), v, origin);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.flatten(&join(&i.to_string()), v, origin);
                }
            }
            Value::Null => self.set(prefix, String::new(), origin.clone()),
            Value::Bool(b) => self.set(
                prefix,
                if *b { "True" } else { "False" }.into(),
                origin.clone(),
            ),
            Value::Number(n) => self.set(prefix, n.to_string(), origin.clone()),
            Value::String(s) => self.set(prefix, s.clone(), origin.clone()),
        }
    }

    /// Adds environment variables (every variable, as `WebApplication.CreateBuilder` does; `__`
    /// separates sections).
    pub fn add_environment<I>(&mut self, vars: I)
    where
        I: IntoIterator<Item = (String, String)>,
    {
        for (name, value) in vars {
            let path = name.replace("__", ":");
            self.set(&path, value, Origin::Environment(name));
        }
    }

    /// Adds command-line arguments in the forms ASP.NET accepts: `--Key=value`, `--Key value`,
    /// `/Key=value`, `/Key value`, `Key=value`.
    ///
    /// # Errors
    /// [`SourceError::MissingValue`] for a `--Key` at the end without a value.
    pub fn add_command_line<I>(&mut self, args: I) -> Result<(), SourceError>
    where
        I: IntoIterator<Item = String>,
    {
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flagged, body) = if let Some(rest) = arg.strip_prefix("--") {
                (true, rest)
            } else if let Some(rest) = arg.strip_prefix('/') {
                (true, rest)
            } else {
                (false, arg.as_str())
            };
            if let Some((key, value)) = body.split_once('=') {
                self.set(key, value.to_owned(), Origin::CommandLine);
            } else if flagged {
                let value = args
                    .next()
                    .ok_or_else(|| SourceError::MissingValue { arg: arg.clone() })?;
                self.set(body, value, Origin::CommandLine);
            }
            // A bare word with neither `=` nor a flag is ignored, as ASP.NET ignores it.
        }
        Ok(())
    }

    fn set(&mut self, path: &str, value: String, origin: Origin) {
        if path.is_empty() {
            return;
        }
        self.entries.insert(
            path.to_ascii_lowercase(),
            Entry {
                path: path.to_owned(),
                value,
                origin,
            },
        );
    }

    /// The value at `path` (case-insensitive).
    pub fn get(&self, path: &str) -> Option<&str> {
        self.entries
            .get(&path.to_ascii_lowercase())
            .map(|e| e.value.as_str())
    }

    /// The value at `path`, `None` when absent or blank.
    pub fn get_nonblank(&self, path: &str) -> Option<&str> {
        self.get(path).map(str::trim).filter(|v| !v.is_empty())
    }

    /// Where the value at `path` came from.
    pub fn origin(&self, path: &str) -> Option<&Origin> {
        self.entries
            .get(&path.to_ascii_lowercase())
            .map(|e| &e.origin)
    }

    /// The distinct child names under `section` (in the spelling first seen), sorted
    /// case-insensitively; numbered children sort by number.
    pub fn children(&self, section: &str) -> Vec<String> {
        let prefix = format!("{}:", section.to_ascii_lowercase());
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (key, entry) in self.entries.range(prefix.clone()..) {
            let Some(rest) = key.strip_prefix(&prefix) else {
                break;
            };
            let child_lower = rest.split(':').next().unwrap_or(rest).to_owned();
            let child_len = child_lower.len();
            let original = &entry.path[entry.path.len() - rest.len()..];
            seen.entry(child_lower)
                .or_insert_with(|| original[..child_len].to_owned());
        }
        let mut children: Vec<String> = seen.into_values().collect();
        children.sort_by_key(|c| (c.parse::<u64>().unwrap_or(u64::MAX), c.to_ascii_lowercase()));
        children
    }

    /// The values of `section` as a list: numbered children (`Scopes:0`, `Scopes:1`), or a
    /// single value split on spaces (`"Scopes": "User.Read Mail.Read"`).
    pub fn list(&self, section: &str) -> Vec<String> {
        if let Some(single) = self.get_nonblank(section) {
            return single.split_whitespace().map(str::to_owned).collect();
        }
        self.children(section)
            .iter()
            .filter_map(|child| self.get_nonblank(&format!("{section}:{child}")))
            .map(str::to_owned)
            .collect()
    }

    /// Whether any key lies under `section`.
    pub fn has_section(&self, section: &str) -> bool {
        let lower = section.to_ascii_lowercase();
        let prefix = format!("{lower}:");
        self.entries.contains_key(&lower)
            || self
                .entries
                .range(prefix.clone()..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&prefix))
    }
}

/// Removes `//` and `/* */` comments outside strings and commas before `}` or `]`, which
/// ASP.NET's JSON configuration accepts and serde_json does not. Line structure is kept so
/// parse errors point at the right line.
fn relax_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                }
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '/' if chars.peek() == Some(&'/') => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut last = '\0';
                for next in chars.by_ref() {
                    if next == '\n' {
                        out.push('\n');
                    }
                    if last == '*' && next == '/' {
                        break;
                    }
                    last = next;
                }
                out.push(' ');
            }
            _ => out.push(c),
        }
    }
    drop_trailing_commas(&out)
}

fn drop_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        if c == ',' {
            let next = chars[i + 1..].iter().find(|n| !n.is_whitespace());
            if matches!(next, Some('}') | Some(']')) {
                out.push(' ');
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microsofts_own_appsettings_with_comments_and_trailing_commas_parses() {
        let text = r#"{
            "AzureAd": {
                "Instance": "https://login.microsoftonline.com/",
                "TenantId": "", // 10c419d4
                /* block
                   comment */
                "ClientId": "abc", // "a021 // not a comment end"
            },
            "Url": "http://x//y",
        }"#;
        let mut c = Configuration::new();
        c.add_json("appsettings.json", text)
            .expect("relaxed JSON parses");
        assert_eq!(c.get("azuread:clientid"), Some("abc"));
        assert_eq!(c.get("AZUREAD:TenantId"), Some(""));
        assert_eq!(c.get_nonblank("AzureAd:TenantId"), None);
        assert_eq!(c.get("url"), Some("http://x//y"));
    }

    #[test]
    fn environment_double_underscore_overrides_the_file_case_insensitively() {
        let mut c = Configuration::new();
        c.add_json("appsettings.json", r#"{"AzureAd":{"TenantId":"a"}}"#)
            .expect("valid");
        c.add_environment([("AZUREAD__TENANTID".to_owned(), "b".to_owned())]);
        assert_eq!(c.get("AzureAd:TenantId"), Some("b"));
        assert_eq!(
            c.origin("azuread:tenantid"),
            Some(&Origin::Environment("AZUREAD__TENANTID".into()))
        );
    }

    #[test]
    fn arrays_are_numbered_children_and_lists_read_either_form() {
        let mut c = Configuration::new();
        c.add_json(
            "a.json",
            r#"{"DownstreamApis":{"graph":{"Scopes":["User.Read","Mail.Read"]},"me":{"Scopes":"a b"}}}"#,
        )
        .expect("valid");
        c.add_environment([(
            "DownstreamApis__graph__Scopes__2".to_owned(),
            "Files.Read".to_owned(),
        )]);
        assert_eq!(
            c.list("downstreamapis:GRAPH:scopes"),
            ["User.Read", "Mail.Read", "Files.Read"]
        );
        assert_eq!(c.list("DownstreamApis:me:Scopes"), ["a", "b"]);
        assert_eq!(c.children("DownstreamApis"), ["graph", "me"]);
    }

    #[test]
    fn command_line_forms_and_last_wins() {
        let mut c = Configuration::new();
        c.add_command_line(
            [
                "--AzureAd:ClientId=one",
                "/AzureAd:TenantId",
                "t",
                "urls=http://127.0.0.1:1",
                "--AzureAd:ClientId",
                "two",
            ]
            .map(str::to_owned),
        )
        .expect("valid command line");
        assert_eq!(c.get("azuread:clientid"), Some("two"));
        assert_eq!(c.get("azuread:tenantid"), Some("t"));
        assert_eq!(c.get("URLS"), Some("http://127.0.0.1:1"));
        let err = Configuration::new()
            .add_command_line(["--Dangling".to_owned()])
            .expect_err("a flag without a value");
        assert!(matches!(err, SourceError::MissingValue { ref arg } if arg == "--Dangling"));
    }

    #[test]
    fn invalid_json_names_the_file_and_line() {
        let err = Configuration::new()
            .add_json("appsettings.json", "{\n  \"a\": \n}")
            .expect_err("invalid JSON");
        let text = err.to_string();
        assert!(
            text.starts_with("appsettings.json is not valid JSON at line 3"),
            "{text}"
        );
    }
}
