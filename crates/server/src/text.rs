//! Text that reaches a person: what may not be in it, and how it is shown safely.
//!
//! A subject, a domain or a label can carry terminal escapes (`ESC [31m`, `ESC ] 0;title BEL`)
//! that recolour or retitle an analyst's terminal, or bidirectional controls (U+202E) that make
//! text read differently from what it is. Fields people write (labels, reasons, analysts'
//! names) refuse them; fields that come from messages keep them, and every output meant for a
//! person shows them escaped.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is: a control character (C0, DEL, C1) or a
/// bidirectional formatting character.
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `s` with every unsafe character written as `\u{…}`, so that it shows what it holds and
/// does nothing to the terminal.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON text made safe for a terminal: serde_json escapes control characters already; this
/// also escapes the bidirectional ones (as `\uXXXX`, so that the JSON still reads the same).
pub fn json_for_terminal(json: &str) -> Cow<'_, str> {
    if !json.chars().any(unsafe_char) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) && !matches!(c, '\n' | '\t') {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Why a field a person wrote is refused: what a 400 answer says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Blank.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The field.
        field: &'static str,
    },
    /// Longer than allowed.
    #[error("`{field}` has {count} {unit}; at most {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        count: usize,
        /// The most allowed.
        max: usize,
        /// What is counted: `characters` or `bytes`.
        unit: &'static str,
    },
    /// A character a terminal would obey.
    #[error("`{field}` holds the character U+{code:04X} (control and bidirectional characters are refused)")]
    Unsafe {
        /// The field.
        field: &'static str,
        /// The character's code point.
        code: u32,
    },
    /// A resolution without a reason.
    #[error("give a `reason`: the audit log keeps why")]
    NoReason,
    /// A cursor this server did not give.
    #[error("`after` is not a cursor this server gave")]
    BadCursor,
}

/// Checks a field a person wrote: not blank, at most `max` characters, nothing unsafe.
pub fn check_field(field: &'static str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.trim().is_empty() {
        return Err(FieldError::Empty { field });
    }
    let count = s.chars().count();
    if count > max {
        return Err(FieldError::TooLong { field, count, max, unit: "characters" });
    }
    if let Some(c) = s.chars().find(|&c| unsafe_char(c)) {
        return Err(FieldError::Unsafe { field, code: c as u32 });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_bidi_controls_are_shown_not_obeyed() {
        assert_eq!(escape("plain subject"), "plain subject");
        assert_eq!(escape("\u{1b}[31mred\u{1b}]0;title\u{7}"), "\\u{1b}[31mred\\u{1b}]0;title\\u{7}");
        assert_eq!(escape("abc\u{202e}fdp.exe"), "abc\\u{202e}fdp.exe");
        assert_eq!(escape("line\r\nbreak\u{9b}"), "line\\u{d}\\u{a}break\\u{9b}");
        let json = serde_json::to_string_pretty(&serde_json::json!({"s": "a\u{202e}b\u{1b}c"})).unwrap();
        let safe = json_for_terminal(&json);
        assert!(!safe.chars().any(|c| unsafe_char(c) && c != '\n'), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["s"], "a\u{202e}b\u{1b}c", "the JSON still says the same");
    }

    #[test]
    fn fields_people_write_refuse_what_a_terminal_would_obey() {
        assert!(check_field("label", "bulk-sender", 128).is_ok());
        assert!(check_field("label", "ünïcödé ok", 10).is_ok(), "characters, not bytes");
        let long = check_field("label", "ünïcödé ok!", 10).unwrap_err();
        assert_eq!(long, FieldError::TooLong { field: "label", count: 11, max: 10, unit: "characters" });
        assert_eq!(long.to_string(), "`label` has 11 characters; at most 10");
        for bad in ["a\rb", "a\nb", "a\0b", "a\u{1b}b", "a\u{202e}b", "   "] {
            assert!(check_field("label", bad, 128).is_err(), "{bad:?}");
        }
    }
}
