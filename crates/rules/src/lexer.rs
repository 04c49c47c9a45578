//! Tokens of the rule language, each with where it starts.
//!
//! Hand-written: the language has a dozen kinds of token, and every error must say the exact
//! line and column, which a hand-written scanner gives for free.

use crate::diag::{Diagnostic, Pos};

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    /// Punctuation and operators, as written.
    Punct(&'static str),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::Int(n) => format!("the number {n}"),
            Tok::Float(f) => format!("the number {f}"),
            Tok::Punct(p) => format!("`{p}`"),
            Tok::Eof => "the end of the file".into(),
        }
    }
}

/// Operators and punctuation, longest first so that `<=` is not read as `<`.
const PUNCT: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "{", "}", "(", ")", "[", "]", ",", ":", "=", "<", ">", "!", ".", "+",
    "-",
];

/// Splits `src` into tokens; the last is [`Tok::Eof`].
pub(crate) fn lex(src: &str) -> Result<Vec<(Tok, Pos)>, Diagnostic> {
    let mut out = Vec::new();
    let bytes = src.as_bytes();
    let (mut i, mut line, mut line_start) = (0, 1u32, 0);
    // Columns count characters from the line's start, carried forward from the last token so
    // that a long line costs one pass, not one pass a token.
    let mut counted = (0usize, 0u32);
    let mut pos = |i: usize, line: u32, line_start: usize| {
        if counted.0 < line_start || counted.0 > i {
            counted = (line_start, 0);
        }
        counted = (i, counted.1 + src[counted.0..i].chars().count() as u32);
        Pos { line, col: counted.1 + 1 }
    };
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            i += 1;
            line += 1;
            line_start = i;
            continue;
        }
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b == b'#' {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let at = pos(i, line, line_start);
        if b.is_ascii_alphabetic() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Ident(src[start..i].to_owned()), at));
        } else if b.is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'_') {
                i += 1;
            }
            let float = i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit();
            if float {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let text: String = src[start..i].chars().filter(|&c| c != '_').collect();
            let tok = if float { text.parse().map(Tok::Float).ok() } else { text.parse().map(Tok::Int).ok() };
            out.push((
                tok.ok_or_else(|| Diagnostic::new(at, format!("the number {text} is out of range")))?,
                at,
            ));
        } else if b == b'"' {
            i += 1;
            let mut s = String::new();
            loop {
                let Some(c) = src[i..].chars().next() else {
                    return Err(Diagnostic::new(at, "this string is not closed")
                        .expected("`\"` before the end of the file"));
                };
                i += c.len_utf8();
                match c {
                    '"' => break,
                    '\n' => {
                        return Err(Diagnostic::new(at, "this string is not closed")
                            .expected("`\"` before the end of the line"));
                    }
                    '\\' => {
                        // The backslash is one byte: its place is a character boundary, where
                        // the escape after it may not end on one.
                        let backslash = i - 1;
                        let esc = src[i..].chars().next();
                        i += esc.map_or(0, char::len_utf8);
                        match esc {
                            Some('"') => s.push('"'),
                            Some('\\') => s.push('\\'),
                            Some('n') => s.push('\n'),
                            Some('t') => s.push('\t'),
                            other => {
                                let shown = other.map_or("end of file".to_owned(), |c| format!("\\{c}"));
                                return Err(Diagnostic::new(
                                    pos(backslash, line, line_start),
                                    format!("unknown escape {shown}"),
                                )
                                .expected("one of \\\" \\\\ \\n \\t"));
                            }
                        }
                    }
                    c => s.push(c),
                }
            }
            out.push((Tok::Str(s), at));
        } else if let Some(p) = PUNCT.iter().find(|p| src[i..].starts_with(**p)) {
            i += p.len();
            out.push((Tok::Punct(p), at));
        } else {
            let c = src[i..].chars().next().unwrap_or('?');
            return Err(Diagnostic::new(at, format!("unexpected character {c:?}")));
        }
    }
    out.push((Tok::Eof, pos(i, line, line_start)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_positions() {
        let toks = lex("rule A {\n  when: x.y >= 1_000 && s == \"a\\\"b\" # note\n}").unwrap();
        let kinds: Vec<_> = toks.iter().map(|(t, _)| t.clone()).collect();
        assert_eq!(kinds[0], Tok::Ident("rule".into()));
        assert!(kinds.contains(&Tok::Punct(">=")));
        assert!(kinds.contains(&Tok::Int(1000)));
        assert!(kinds.contains(&Tok::Str("a\"b".into())));
        assert_eq!(toks[3].1, Pos { line: 2, col: 3 });
        assert_eq!(kinds.last(), Some(&Tok::Eof));
    }

    #[test]
    fn errors_say_where() {
        let e = lex("rule A {\n  when: \"open\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 9 });
        assert!(lex("a ~ b").unwrap_err().message.contains('~'));
        assert!(lex("\"\\q\"").unwrap_err().message.contains("\\q"));
        // An unknown escape of a character of several bytes (found by fuzzing: the error's
        // column was taken inside the character).
        let e = lex("x \"ab\\é\"").unwrap_err();
        assert_eq!(e.pos, Pos { line: 1, col: 6 });
        assert!(e.message.contains("\\é"));
        assert!(lex("99999999999999999999").is_err());
    }
}
