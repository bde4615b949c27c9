//! What stored free text may contain: one line of printable text.
//!
//! Reports are shown to other users: in terminals (`weather reports`), in the home page, in whatever a
//! client builds on the API. A control character there is an instruction, not text: `ESC [` sequences
//! rewrite a terminal's screen or title, a carriage return overwrites the line already printed, and a
//! bidirectional override makes text read differently from how it is stored. So a description or a
//! city is refused (422, naming the field and the character) when, once trimmed, it contains:
//!
//! - a control character (Unicode general category Cc: U+0000 to U+001F, U+007F to U+009F), line
//!   breaks and tabs included: both fields are one line of text (leading and trailing white space,
//!   a final newline for example, is trimmed first, as before);
//! - a line or paragraph separator (U+2028, U+2029);
//! - a bidirectional embedding, override or isolate (U+202A to U+202E, U+2066 to U+2069).
//!
//! The bidirectional *marks* (U+200E, U+200F, U+061C) are allowed: right-to-left writers use them in
//! ordinary mixed-direction text, and they only set the direction of the neutral characters next to
//! them, so they cannot reorder a run of text the way an override or an isolate does.
//!
//! Rows read back from the database go through [`defuse`] instead: a report stored before these rules
//! (or written by another program) is shown with U+FFFD in place of each such character, so it can
//! neither fail a page nor reach a client intact.

use std::borrow::Cow;
use std::fmt;

/// A character stored text may not hold, as messages name it: `U+001B (a control character)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForbiddenChar(char);

impl ForbiddenChar {
    /// The character.
    pub fn as_char(self) -> char {
        self.0
    }
}

impl fmt::Display for ForbiddenChar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.0.is_control() {
            "a control character"
        } else if matches!(self.0, '\u{2028}' | '\u{2029}') {
            "a line break"
        } else {
            "a bidirectional override"
        };
        write!(f, "U+{:04X} ({kind})", u32::from(self.0))
    }
}

/// True for a character that stored text may not contain (see the module docs).
pub(super) fn is_forbidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// The first forbidden character of `text`, if any. Printable ASCII, the common case, is one pass
/// over the bytes.
pub(super) fn first_forbidden(text: &str) -> Option<ForbiddenChar> {
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    text.chars().find(|&c| is_forbidden(c)).map(ForbiddenChar)
}

/// `text` with each forbidden character replaced by U+FFFD (borrowed when there is none).
pub(super) fn defuse(text: &str) -> Cow<'_, str> {
    if first_forbidden(text).is_none() {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| if is_forbidden(c) { '\u{FFFD}' } else { c })
            .collect(),
    )
}

/// The OpenAPI pattern (ECMA-262) of one line of text with at least one non-space character and no
/// forbidden character: the `pattern` of the `description` and `city` schemas (written out there,
/// as utoipa takes a literal; their tests compare them with this one).
#[cfg(test)]
pub(crate) const PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*[^\s\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069][^\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069]*$";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_text_in_any_script_is_allowed() {
        for ok in [
            "Misty sunrise",
            "Zürich",
            "東京 晴れ",
            "שלום\u{200F} rain",
            "a\u{200E}b",
        ] {
            assert_eq!(first_forbidden(ok), None, "{ok}");
            assert!(matches!(defuse(ok), Cow::Borrowed(s) if s == ok));
        }
    }

    #[test]
    fn controls_line_breaks_and_bidi_overrides_are_found() {
        let cases = [
            ("\u{1b}[2J", '\u{1b}'),
            ("tab\there", '\t'),
            ("two\nlines", '\n'),
            ("back\rspace", '\r'),
            ("del\u{7f}", '\u{7f}'),
            ("csi\u{9b}31m", '\u{9b}'),
            ("line\u{2028}sep", '\u{2028}'),
            ("evil\u{202E}txt.exe", '\u{202E}'),
            ("iso\u{2066}late", '\u{2066}'),
            ("pdi\u{2069}", '\u{2069}'),
        ];
        for (text, found) in cases {
            assert_eq!(
                first_forbidden(text).map(ForbiddenChar::as_char),
                Some(found),
                "{text:?}"
            );
            assert!(!defuse(text).contains(found), "{text:?}");
        }
        assert_eq!(defuse("a\u{1b}[31mb"), "a\u{FFFD}[31mb");
    }

    #[test]
    fn forbidden_characters_are_named_with_their_kind() {
        let named = |c| ForbiddenChar(c).to_string();
        assert_eq!(named('\u{1b}'), "U+001B (a control character)");
        assert_eq!(named('\u{2029}'), "U+2029 (a line break)");
        assert_eq!(named('\u{202E}'), "U+202E (a bidirectional override)");
    }
}
