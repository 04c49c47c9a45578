//! Errors with the place they were found: `file:line:column: what (expected …)`.

use std::fmt;

/// A place in a rule file (both from 1; columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1, in characters.
    pub col: u32,
}

/// One error found in a rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// The file, as it was named to the checker.
    pub file: String,
    /// Where.
    pub pos: Pos,
    /// What is wrong.
    pub message: String,
    /// What would have been right there, when that can be said.
    pub expected: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> Self {
        Diagnostic { file: String::new(), pos, message: message.into(), expected: None }
    }

    pub(crate) fn expected(mut self, what: impl Into<String>) -> Self {
        self.expected = Some(what.into());
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.pos.line, self.pos.col, self.message)?;
        if let Some(e) = &self.expected {
            write!(f, " (expected {e})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostic {}

/// The last line of a regex error: the part that says what is wrong (the lines above draw
/// the pattern with a caret, which a `file:line:column` message does not need).
pub(crate) fn regex_error(e: &regex::Error) -> String {
    let text = e.to_string();
    text.lines().last().unwrap_or_default().trim_start_matches("error: ").to_owned()
}
