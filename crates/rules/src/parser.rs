//! The rule language's grammar, read by recursive descent into a syntax tree with positions.
//!
//! ```text
//! file     = { list | rule }
//! list     = "list" NAME ":" ("ip" | "domain" | "string" | "regex") "=" STRING
//! rule     = "rule" NAME "{" { property } "}"
//! property = "description" ":" STRING | "owner" ":" STRING
//!          | "mode" ":" ("enforce" | "shadow")
//!          | "when" ":" expr | "then" ":" effect { "," effect }
//! effect   = "score" ["+" | "-"] NUMBER | "action" ACTION | "review" | "allow"
//!          | "label" FIELD STRING ["for" DURATION] | "unlabel" FIELD STRING
//! expr     = and { "||" and }          and = unary { "&&" unary }
//! unary    = "!" unary | compare
//! compare  = operand [ ("==" | "!=" | "<" | "<=" | ">" | ">=") operand
//!                    | "in" (NAME | "[" operand { "," operand } "]")
//!                    | ("matches" | "contains" | "starts_with" | "ends_with") operand ]
//! operand  = NUMBER | "-" NUMBER | STRING | "true" | "false" | "(" expr ")"
//!          | NAME "(" expr ")" | NAME { "." NAME }
//! ```

use crate::diag::{Diagnostic, Pos};
use crate::lexer::Tok;

#[derive(Debug)]
pub(crate) struct File {
    pub lists: Vec<ListDecl>,
    pub counters: Vec<CounterDecl>,
    pub rules: Vec<RuleAst>,
}

/// `counter NAME: count by FIELD over SPAN [every BUCKET]` or
/// `counter NAME: distinct FIELD by FIELD over SPAN [every BUCKET]`.
#[derive(Debug)]
pub(crate) struct CounterDecl {
    pub name: String,
    pub pos: Pos,
    /// The field whose distinct values are counted (`None`: events are counted).
    pub distinct: Option<(String, Pos)>,
    pub by: (String, Pos),
    pub span: (u64, Pos),
    pub bucket: Option<(u64, Pos)>,
}

/// What a list holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListKind {
    /// Addresses and CIDR ranges, v4 and v6.
    Ip,
    /// Domains: an entry matches itself and every name under it.
    Domain,
    /// Exact strings, compared without regard to case.
    String,
    /// Regular expressions (linear-time `regex` syntax): any one matching.
    Regex,
}

#[derive(Debug)]
pub(crate) struct ListDecl {
    pub name: String,
    pub kind: ListKind,
    pub path: String,
    pub pos: Pos,
}

/// Whether a rule acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Its effects apply.
    #[default]
    Enforce,
    /// Evaluated and counted, never acting: for trying a rule on live traffic.
    Shadow,
}

#[derive(Debug)]
pub(crate) struct RuleAst {
    pub name: String,
    pub pos: Pos,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub mode: Mode,
    pub when: Option<Expr>,
    pub then: Vec<(EffectAst, Pos)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum EffectAst {
    Score(f64),
    Action(String),
    Review,
    Allow,
    /// Adds (or, `remove`, takes away) a label on the entity a field names.
    Label {
        field: (String, Pos),
        label: String,
        ttl: Option<u64>,
        remove: bool,
    },
}

#[derive(Debug)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub pos: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextOp {
    Matches,
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug)]
pub(crate) enum InTarget {
    List(String, Pos),
    Items(Vec<Expr>),
}

#[derive(Debug)]
pub(crate) enum ExprKind {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Field(String),
    Call(String, Box<Expr>),
    Not(Box<Expr>),
    /// Conditions joined by `&&`, flat: a long chain is a list, not a deep tree.
    And(Vec<Expr>),
    /// Conditions joined by `||`, flat.
    Or(Vec<Expr>),
    Cmp(CmpOp, Box<Expr>, Box<Expr>),
    In(Box<Expr>, InTarget),
    Text(TextOp, Box<Expr>, Box<Expr>),
}

/// Deepest nesting of expressions accepted: rule files are data an attacker may reach, and
/// recursion must not run out of stack.
const MAX_DEPTH: usize = 64;

pub(crate) struct Parser {
    toks: Vec<(Tok, Pos)>,
    at: usize,
    depth: usize,
}

impl Parser {
    pub fn new(toks: Vec<(Tok, Pos)>) -> Self {
        Parser { toks, at: 0, depth: 0 }
    }

    fn peek(&self) -> &Tok {
        &self.toks[self.at].0
    }

    fn pos(&self) -> Pos {
        self.toks[self.at].1
    }

    fn bump(&mut self) -> (Tok, Pos) {
        let t = self.toks[self.at].clone();
        if self.at + 1 < self.toks.len() {
            self.at += 1;
        }
        t
    }

    fn error(&self, expected: &str) -> Diagnostic {
        Diagnostic::new(self.pos(), format!("unexpected {}", self.peek().describe())).expected(expected)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Tok::Ident(i) if i == w)
    }

    fn punct(&mut self, p: &str) -> Result<Pos, Diagnostic> {
        if self.is_punct(p) { Ok(self.bump().1) } else { Err(self.error(&format!("`{p}`"))) }
    }

    fn name(&mut self, what: &str) -> Result<(String, Pos), Diagnostic> {
        match self.peek() {
            Tok::Ident(s) => {
                let named = (s.clone(), self.pos());
                self.bump();
                Ok(named)
            }
            _ => Err(self.error(what)),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, Diagnostic> {
        match self.peek() {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump();
                Ok(s)
            }
            _ => Err(self.error(what)),
        }
    }

    pub fn file(&mut self) -> Result<File, Diagnostic> {
        let mut file = File { lists: Vec::new(), counters: Vec::new(), rules: Vec::new() };
        loop {
            match self.peek() {
                Tok::Eof => return Ok(file),
                Tok::Ident(w) if w == "rule" => file.rules.push(self.rule()?),
                Tok::Ident(w) if w == "list" => file.lists.push(self.list()?),
                Tok::Ident(w) if w == "counter" => file.counters.push(self.counter()?),
                _ => return Err(self.error("`rule`, `list` or `counter`")),
            }
        }
    }

    fn list(&mut self) -> Result<ListDecl, Diagnostic> {
        self.bump();
        let (name, pos) = self.name("a list name")?;
        self.punct(":")?;
        let kind = match self.peek() {
            Tok::Ident(k) if k == "ip" => ListKind::Ip,
            Tok::Ident(k) if k == "domain" => ListKind::Domain,
            Tok::Ident(k) if k == "string" => ListKind::String,
            Tok::Ident(k) if k == "regex" => ListKind::Regex,
            _ => return Err(self.error("a list type: `ip`, `domain`, `string` or `regex`")),
        };
        self.bump();
        self.punct("=")?;
        let path = self.string("the list file's path, as a string")?;
        Ok(ListDecl { name, kind, path, pos })
    }

    fn counter(&mut self) -> Result<CounterDecl, Diagnostic> {
        self.bump();
        let (name, pos) = self.name("the counter's name")?;
        self.punct(":")?;
        let distinct = match self.peek() {
            Tok::Ident(w) if w == "count" => {
                self.bump();
                None
            }
            Tok::Ident(w) if w == "distinct" => {
                self.bump();
                Some(self.field("the field whose distinct values are counted")?)
            }
            _ => return Err(self.error("`count` or `distinct FIELD`")),
        };
        self.keyword("by")?;
        let by = self.field("the field naming the entity counted for (`mail.from_domain`)")?;
        self.keyword("over")?;
        let span = self.duration()?;
        let bucket = if self.is_word("every") {
            self.bump();
            Some(self.duration()?)
        } else {
            None
        };
        Ok(CounterDecl { name, pos, distinct, by, span, bucket })
    }

    fn keyword(&mut self, w: &str) -> Result<(), Diagnostic> {
        if self.is_word(w) {
            self.bump();
            Ok(())
        } else {
            Err(self.error(&format!("`{w}`")))
        }
    }

    /// A dotted field name.
    fn field(&mut self, what: &str) -> Result<(String, Pos), Diagnostic> {
        let (mut name, pos) = self.name(what)?;
        while self.is_punct(".") {
            self.bump();
            name.push('.');
            name.push_str(&self.name("a field name after `.`")?.0);
        }
        Ok((name, pos))
    }

    /// A duration: a whole number and a unit, `s`, `m`, `h` or `d` (`90s`, `1h`, `7d`).
    fn duration(&mut self) -> Result<(u64, Pos), Diagnostic> {
        let pos = self.pos();
        let Tok::Int(n) = *self.peek() else { return Err(self.error("a duration such as `1h` or `30m`")) };
        self.bump();
        let unit = match self.peek() {
            Tok::Ident(u) if u == "s" => 1,
            Tok::Ident(u) if u == "m" => 60,
            Tok::Ident(u) if u == "h" => 3600,
            Tok::Ident(u) if u == "d" => 86_400,
            _ => return Err(self.error("a unit after the number: `s`, `m`, `h` or `d`")),
        };
        self.bump();
        let secs = u64::try_from(n).ok().and_then(|n| n.checked_mul(unit)).filter(|&s| s > 0);
        secs.map(|s| (s, pos))
            .ok_or_else(|| Diagnostic::new(pos, "a duration must be above zero and not absurdly long"))
    }

    fn rule(&mut self) -> Result<RuleAst, Diagnostic> {
        self.bump();
        let (name, pos) = self.name("the rule's name")?;
        self.punct("{")?;
        let mut rule = RuleAst {
            name,
            pos,
            description: None,
            owner: None,
            mode: Mode::Enforce,
            when: None,
            then: Vec::new(),
        };
        let mut seen: Vec<String> = Vec::new();
        while !self.is_punct("}") {
            let (prop, ppos) =
                self.name("a property (`description`, `owner`, `mode`, `when`, `then`) or `}`")?;
            if seen.contains(&prop) {
                return Err(Diagnostic::new(ppos, format!("`{prop}` is given twice in rule {}", rule.name)));
            }
            self.punct(":")?;
            match prop.as_str() {
                "description" => rule.description = Some(self.string("the description, as a string")?),
                "owner" => rule.owner = Some(self.string("the owner, as a string")?),
                "mode" => {
                    rule.mode = match self.peek() {
                        Tok::Ident(m) if m == "enforce" => Mode::Enforce,
                        Tok::Ident(m) if m == "shadow" => Mode::Shadow,
                        _ => return Err(self.error("`enforce` or `shadow`")),
                    };
                    self.bump();
                }
                "when" => rule.when = Some(self.expr()?),
                "then" => {
                    rule.then.push(self.effect()?);
                    while self.is_punct(",") {
                        self.bump();
                        rule.then.push(self.effect()?);
                    }
                }
                _ => {
                    return Err(Diagnostic::new(ppos, format!("unknown property `{prop}`"))
                        .expected("`description`, `owner`, `mode`, `when` or `then`"));
                }
            }
            seen.push(prop);
        }
        let close = self.punct("}")?;
        if rule.when.is_none() {
            return Err(
                Diagnostic::new(close, format!("rule {} has no `when`", rule.name)).expected("`when: …`")
            );
        }
        if rule.then.is_empty() {
            return Err(
                Diagnostic::new(close, format!("rule {} has no `then`", rule.name)).expected("`then: …`")
            );
        }
        Ok(rule)
    }

    fn effect(&mut self) -> Result<(EffectAst, Pos), Diagnostic> {
        let (word, pos) =
            self.name("an effect: `score`, `action`, `review`, `allow`, `label` or `unlabel`")?;
        let effect = match word.as_str() {
            "score" => {
                let sign = if self.is_punct("-") {
                    self.bump();
                    -1.0
                } else {
                    if self.is_punct("+") {
                        self.bump();
                    }
                    1.0
                };
                let n = match self.peek() {
                    Tok::Int(n) => *n as f64,
                    Tok::Float(f) => *f,
                    _ => return Err(self.error("the points to add, a number")),
                };
                self.bump();
                EffectAst::Score(sign * n)
            }
            "action" => {
                EffectAst::Action(self.name("an action: `deliver`, `junk`, `quarantine` or `reject`")?.0)
            }
            "review" => EffectAst::Review,
            "allow" => EffectAst::Allow,
            "label" | "unlabel" => {
                let field = self.field("the field naming the entity to label, such as `mail.from_domain`")?;
                let label = self.string("the label, a quoted string")?;
                let remove = word == "unlabel";
                let ttl = if !remove && self.is_word("for") {
                    self.bump();
                    Some(self.duration()?.0)
                } else {
                    None
                };
                EffectAst::Label { field, label, ttl, remove }
            }
            _ => {
                return Err(Diagnostic::new(pos, format!("unknown effect `{word}`"))
                    .expected("`score`, `action`, `review`, `allow`, `label` or `unlabel`"));
            }
        };
        Ok((effect, pos))
    }

    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T, Diagnostic>) -> Result<T, Diagnostic> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(Diagnostic::new(self.pos(), format!("expressions nest more than {MAX_DEPTH} deep")));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    pub fn expr(&mut self) -> Result<Expr, Diagnostic> {
        self.nested(|p| {
            let first = p.and()?;
            if !p.is_punct("||") {
                return Ok(first);
            }
            let pos = p.pos();
            let mut all = vec![first];
            while p.is_punct("||") {
                p.bump();
                all.push(p.and()?);
            }
            Ok(Expr { kind: ExprKind::Or(all), pos })
        })
    }

    fn and(&mut self) -> Result<Expr, Diagnostic> {
        let first = self.unary()?;
        if !self.is_punct("&&") {
            return Ok(first);
        }
        let pos = self.pos();
        let mut all = vec![first];
        while self.is_punct("&&") {
            self.bump();
            all.push(self.unary()?);
        }
        Ok(Expr { kind: ExprKind::And(all), pos })
    }

    fn unary(&mut self) -> Result<Expr, Diagnostic> {
        if self.is_punct("!") {
            let pos = self.bump().1;
            let inner = self.nested(|p| p.unary())?;
            return Ok(Expr { kind: ExprKind::Not(Box::new(inner)), pos });
        }
        self.compare()
    }

    fn compare(&mut self) -> Result<Expr, Diagnostic> {
        let left = self.operand()?;
        let pos = self.pos();
        let cmp = match self.peek() {
            Tok::Punct("==") => Some(CmpOp::Eq),
            Tok::Punct("!=") => Some(CmpOp::Ne),
            Tok::Punct("<") => Some(CmpOp::Lt),
            Tok::Punct("<=") => Some(CmpOp::Le),
            Tok::Punct(">") => Some(CmpOp::Gt),
            Tok::Punct(">=") => Some(CmpOp::Ge),
            _ => None,
        };
        if let Some(op) = cmp {
            self.bump();
            let right = self.operand()?;
            return Ok(Expr { kind: ExprKind::Cmp(op, Box::new(left), Box::new(right)), pos });
        }
        let text = match self.peek() {
            Tok::Ident(w) if w == "matches" => Some(TextOp::Matches),
            Tok::Ident(w) if w == "contains" => Some(TextOp::Contains),
            Tok::Ident(w) if w == "starts_with" => Some(TextOp::StartsWith),
            Tok::Ident(w) if w == "ends_with" => Some(TextOp::EndsWith),
            _ => None,
        };
        if let Some(op) = text {
            self.bump();
            let right = self.operand()?;
            return Ok(Expr { kind: ExprKind::Text(op, Box::new(left), Box::new(right)), pos });
        }
        if self.is_word("in") {
            self.bump();
            let target = if self.is_punct("[") {
                self.bump();
                let mut items = vec![self.operand()?];
                while self.is_punct(",") {
                    self.bump();
                    items.push(self.operand()?);
                }
                self.punct("]")?;
                InTarget::Items(items)
            } else {
                let (name, p) = self.name("a list name or `[`")?;
                InTarget::List(name, p)
            };
            return Ok(Expr { kind: ExprKind::In(Box::new(left), target), pos });
        }
        Ok(left)
    }

    fn operand(&mut self) -> Result<Expr, Diagnostic> {
        let pos = self.pos();
        let kind = match self.peek().clone() {
            Tok::Int(n) => {
                self.bump();
                ExprKind::Int(n)
            }
            Tok::Float(f) => {
                self.bump();
                ExprKind::Float(f)
            }
            Tok::Str(s) => {
                self.bump();
                ExprKind::Str(s)
            }
            Tok::Punct("-") => {
                self.bump();
                let kind = match self.peek() {
                    Tok::Int(n) => ExprKind::Int(n.checked_neg().unwrap_or(i64::MIN)),
                    Tok::Float(f) => ExprKind::Float(-f),
                    _ => return Err(self.error("a number after `-`")),
                };
                self.bump();
                kind
            }
            Tok::Punct("(") => {
                self.bump();
                let inner = self.expr()?;
                self.punct(")")?;
                return Ok(inner);
            }
            Tok::Ident(w) if w == "true" || w == "false" => {
                self.bump();
                ExprKind::Bool(w == "true")
            }
            Tok::Ident(mut name) => {
                self.bump();
                if self.is_punct("(") {
                    self.bump();
                    let arg = self.expr()?;
                    self.punct(")")?;
                    ExprKind::Call(name, Box::new(arg))
                } else {
                    while self.is_punct(".") {
                        self.bump();
                        name.push('.');
                        name.push_str(&self.name("a field name after `.`")?.0);
                    }
                    ExprKind::Field(name)
                }
            }
            _ => return Err(self.error("a value: a field, a number, a string, `true`, `false` or `(`")),
        };
        Ok(Expr { kind, pos })
    }
}
