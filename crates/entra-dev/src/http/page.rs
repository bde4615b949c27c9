//! The HTML the issuer serves: the page shell with its DEVELOPMENT ONLY warning, escaping, the pages' own
//! Content-Security-Policy, and [`LoginForm`], which reads the sign-in form back for tests and headless
//! clients.

use axum::http::{header, HeaderValue};
use axum::response::{Html, Response};

use crate::config::TestUser;

/// The login and error pages' own `Content-Security-Policy`: their inline style and nothing else (no script,
/// no framing). A host that sets a default policy on HTML answers only where none is present (weather-api's
/// security headers) keeps this one, so the page keeps its look, including the DEVELOPMENT ONLY warning.
/// `form-action` stays open: the form's answer redirects to the client's redirect URI on another origin.
pub(crate) const PAGE_POLICY: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'";

/// Adds [`PAGE_POLICY`] to an HTML answer (redirects are left as they are).
pub(crate) fn with_page_policy(mut response: Response) -> Response {
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if is_html {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(PAGE_POLICY),
        );
    }
    response
}

/// HTML-escapes text for element content and quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape`].
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The value of attribute `name` in one HTML tag, as the login page writes it (double-quoted, escaped).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

/// The sign-in form of the development issuer's login page, read back from the HTML it served.
///
/// It lets tests and headless clients play the browser in the authorization-code flow (pick a test
/// user, consent, submit) without an HTML parser. It reads only the page this crate writes.
///
/// ```
/// # use entra_dev::LoginForm;
/// let html = r#"<form method="post" action="http://127.0.0.1:1/t/oauth2/v2.0/authorize">
///   <input type="hidden" name="state" value="a&amp;b"><input type="radio" name="username" value="alice">
/// </form>"#;
/// let form = LoginForm::parse(html).expect("a login form");
/// assert_eq!(form.action(), "http://127.0.0.1:1/t/oauth2/v2.0/authorize");
/// assert_eq!(form.hidden_fields(), [("state".to_owned(), "a&b".to_owned())]);
/// assert_eq!(form.accept("bob", &["weather.read"]).last().map(|(k, v)| (k.as_str(), v.as_str())), Some(("action", "accept")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginForm {
    action: String,
    hidden: Vec<(String, String)>,
}

impl LoginForm {
    /// Reads the form's target and its hidden fields (client, redirect URI, state, PKCE challenge...)
    /// from a login page; `None` when `html` holds no such form.
    pub fn parse(html: &str) -> Option<Self> {
        let form_start = html.find("<form")?;
        let form_tag = &html[form_start..form_start + html[form_start..].find('>')?];
        let action = attribute(form_tag, "action")?;
        let mut hidden = Vec::new();
        for chunk in html[form_start..].split("<input").skip(1) {
            let tag = &chunk[..chunk.find('>')?];
            if attribute(tag, "type").as_deref() == Some("hidden") {
                hidden.push((attribute(tag, "name")?, attribute(tag, "value")?));
            }
        }
        Some(Self { action, hidden })
    }

    /// Where the form posts (the authorize endpoint of the same tenant or B2C policy path).
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The hidden fields carried from the authorization request.
    pub fn hidden_fields(&self) -> &[(String, String)] {
        &self.hidden
    }

    /// The form body that signs in as `username`, consenting to `consent` (a subset of the requested
    /// scopes), and accepts.
    pub fn accept(&self, username: &str, consent: &[&str]) -> Vec<(String, String)> {
        let mut body = self.hidden.clone();
        body.push(("username".to_owned(), username.to_owned()));
        body.extend(
            consent
                .iter()
                .map(|s| ("consented_scope".to_owned(), (*s).to_owned())),
        );
        body.push(("action".to_owned(), "accept".to_owned()));
        body
    }

    /// The form body of pressing "Cancel" (the client then receives `access_denied`).
    pub fn cancel(&self) -> Vec<(String, String)> {
        let mut body = self.hidden.clone();
        body.push(("action".to_owned(), "cancel".to_owned()));
        body
    }
}

pub(crate) fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} - entra-dev</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#222}}\
         .warn{{background:#fff3cd;border:1px solid #e0c060;padding:.5rem .75rem;border-radius:4px}}\
         fieldset{{margin:1rem 0;border:1px solid #ccc;border-radius:4px}} label{{display:block;margin:.3rem 0}}\
         button{{padding:.4rem 1rem;margin-right:.5rem}} code{{background:#f4f4f4;padding:0 .2rem}}\
         </style></head><body>\
         <p class=\"warn\"><strong>entra-dev: DEVELOPMENT ONLY.</strong> No password is checked; anyone can \
         sign in as any test user. Never trust these tokens in production.</p>{body}</body></html>",
        title = escape(title)
    ))
}

pub(crate) fn error_page(message: &str) -> Html<String> {
    page(
        "Sign-in error",
        &format!(
            "<h1>Sorry, the sign-in request is invalid</h1><p id=\"error\">{}</p>",
            escape(message)
        ),
    )
}

/// The radio buttons to pick a test user (the one named by `hint`, else the first, is checked).
pub(crate) fn user_choices(users: &[TestUser], hint: &str) -> String {
    let mut out = String::new();
    for (i, u) in users.iter().enumerate() {
        let checked = if (hint.is_empty() && i == 0)
            || u.username.eq_ignore_ascii_case(hint)
            || u.email.eq_ignore_ascii_case(hint)
        {
            " checked"
        } else {
            ""
        };
        out.push_str(&format!(
            "<label><input type=\"radio\" name=\"username\" value=\"{}\"{checked}> {} \
             (<code>{}</code>, oid <code>{}</code>)</label>",
            escape(&u.username),
            escape(&u.display_name),
            escape(&u.email),
            escape(&u.oid)
        ));
    }
    out
}

/// The consent checkboxes, one per scope, all checked.
pub(crate) fn scope_choices(scopes: &[String]) -> String {
    let mut out = String::new();
    for s in scopes {
        out.push_str(&format!(
            "<label><input type=\"checkbox\" name=\"consented_scope\" value=\"{s}\" checked> \
             <code>{s}</code></label>",
            s = escape(s)
        ));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{escape, LoginForm};

    #[test]
    fn login_form_reads_back_hidden_fields_written_with_escape() {
        let tricky = "s\"t<a>&'x";
        let html = format!(
            "<p>x</p><form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\">\
             <input type=\"radio\" name=\"username\" value=\"alice\" checked>\
             <input type=\"hidden\" name=\"code_challenge\" value=\"abc\"></form>",
            escape("http://h/t/oauth2/v2.0/authorize?a=1&b=2"),
            escape(tricky)
        );
        let form = LoginForm::parse(&html).unwrap();
        assert_eq!(form.action(), "http://h/t/oauth2/v2.0/authorize?a=1&b=2");
        assert_eq!(
            form.hidden_fields(),
            [
                ("state".to_owned(), tricky.to_owned()),
                ("code_challenge".to_owned(), "abc".to_owned())
            ]
        );
        let accept = form.accept("bob", &["weather.read", "weather.write"]);
        assert_eq!(accept.len(), 6);
        assert_eq!(accept[2], ("username".to_owned(), "bob".to_owned()));
        assert_eq!(accept[5], ("action".to_owned(), "accept".to_owned()));
        assert_eq!(form.cancel().last().unwrap().1, "cancel");
    }

    #[test]
    fn login_form_is_none_without_a_form() {
        assert_eq!(
            LoginForm::parse("<h1>Error</h1><p>unknown client</p>"),
            None
        );
        assert_eq!(LoginForm::parse("<form method=\"post\">"), None);
    }

    #[test]
    fn escape_neutralises_markup() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
