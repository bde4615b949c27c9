//! Text from elsewhere (the service's reports and error details) made safe to print to a terminal,
//! whatever the server stored: control characters and bidirectional formatting characters become
//! visible escapes, so no stored text can move the cursor, recolour, retitle or rewrite the screen,
//! or reorder what is shown. A leaf module.
//!
//! The escapes: a C0 or C1 control character or DEL becomes `\xNN` (`\x1b` for ESC, `\x0a` for a
//! line feed, so one report stays one line); a bidirectional formatting character becomes
//! `\u{NNNN}` (`\u{202e}` for RIGHT-TO-LEFT OVERRIDE). Everything else, accented and non-Latin text
//! included, is printed as it is. `--json` output keeps the data and escapes the same characters the
//! JSON way (`\u001b`, `\u202e`).

use std::fmt::Write as _;

/// Whether `c` is a control character (C0, DEL, C1) or a bidirectional formatting character.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// `text` with control and bidirectional formatting characters written as visible escapes.
pub(crate) fn escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !is_unsafe(c) {
            out.push(c);
        } else if u32::from(c) < 0x100 {
            let _ = write!(out, "\\x{:02x}", u32::from(c));
        } else {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        }
    }
    out
}

/// Serialised JSON with the unsafe characters serde_json leaves as they are (DEL, C1 controls,
/// bidirectional formatting characters) written as JSON `\uXXXX` escapes: the same data, safe to
/// print. (serde_json already escapes C0 controls inside strings; outside strings JSON has only
/// ASCII whitespace, which is kept.)
pub(crate) fn escaped_json(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if is_unsafe(c) && !matches!(c, '\n' | '\r' | '\t') {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_bidi_overrides_become_visible() {
        assert_eq!(
            escaped("Sun\x1b[2J\x1b]0;pwned\x07 \u{202e}txt.exe\u{9b}1m"),
            "Sun\\x1b[2J\\x1b]0;pwned\\x07 \\u{202e}txt.exe\\x9b1m"
        );
        assert_eq!(escaped("two\nlines\ttab\r"), "two\\x0alines\\x09tab\\x0d");
        assert_eq!(escaped("Zürich 東京 ☀"), "Zürich 東京 ☀");
    }

    #[test]
    fn json_keeps_its_layout_and_escapes_what_serde_json_leaves() {
        let json = serde_json::to_string_pretty(&serde_json::json!({
            "d": "a\u{1b}[31m\u{202e}b\u{7f}\u{85}"
        }))
        .unwrap();
        let safe = escaped_json(&json);
        assert_eq!(
            safe,
            "{\n  \"d\": \"a\\u001b[31m\\u202eb\\u007f\\u0085\"\n}"
        );
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["d"], "a\u{1b}[31m\u{202e}b\u{7f}\u{85}");
    }
}
