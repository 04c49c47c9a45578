//! Type checking and compilation of expressions into the evaluator's nodes.
//!
//! Every name and type is settled here, before a rule runs: evaluation never looks a field
//! up by name, never meets a type it did not expect, and never compiles a pattern.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::catalogue::{Catalogue, Record, Type, Value};
use crate::diag::{Diagnostic, Pos, regex_error};
use crate::lists::List;
use crate::parser::{CmpOp, Expr, ExprKind, InTarget, TextOp};

/// A compiled condition.
#[derive(Debug)]
pub(crate) enum Node {
    Const(bool),
    Not(Box<Node>),
    All(Vec<Node>),
    Any(Vec<Node>),
    Bool(usize),
    Num(CmpOp, Num, Num),
    /// A text field (or each text of a list field) equal to one of the values.
    StrIn {
        text: Text,
        values: Vec<String>,
        negate: bool,
    },
    IpEq {
        slot: usize,
        ip: IpAddr,
        negate: bool,
    },
    InList {
        text: Text,
        list: Arc<List>,
    },
    IpInList {
        slot: usize,
        list: Arc<List>,
    },
    Text {
        op: TextOp,
        text: Text,
        pattern: String,
    },
    Matches {
        text: Text,
        regex: regex::Regex,
    },
}

/// A numeric operand.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Const(f64),
    Field(usize),
    Len(usize),
    /// A window counter's value for this event's entity.
    Counter(usize),
}

/// A textual operand: a field, possibly lowered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text {
    slot: usize,
    lower: bool,
}

impl Node {
    /// Whether the condition holds for `r`, with the counters' values `c` (by counter index;
    /// `None` when the event has no entity for that counter).
    pub(crate) fn eval(&self, r: &Record, c: &[Option<f64>]) -> bool {
        match self {
            Node::Const(b) => *b,
            Node::Not(n) => !n.eval(r, c),
            Node::All(ns) => ns.iter().all(|n| n.eval(r, c)),
            Node::Any(ns) => ns.iter().any(|n| n.eval(r, c)),
            Node::Bool(slot) => matches!(r.get(*slot), Value::Bool(true)),
            Node::Num(op, a, b) => match (a.get(r, c), b.get(r, c)) {
                (Some(a), Some(b)) => match op {
                    CmpOp::Eq => a == b,
                    CmpOp::Ne => a != b,
                    CmpOp::Lt => a < b,
                    CmpOp::Le => a <= b,
                    CmpOp::Gt => a > b,
                    CmpOp::Ge => a >= b,
                },
                _ => false,
            },
            Node::StrIn { text, values, negate } => {
                text.present(r) && (text.any(r, |s| values.iter().any(|v| v == s)) != *negate)
            }
            Node::IpEq { slot, ip, negate } => match r.get(*slot) {
                Value::Ip(x) => (x == ip) != *negate,
                _ => false,
            },
            Node::InList { text, list } => text.any(r, |s| list.contains_str(s)),
            Node::IpInList { slot, list } => matches!(r.get(*slot), Value::Ip(x) if list.contains_ip(*x)),
            Node::Text { op, text, pattern } => text.any(r, |s| match op {
                TextOp::Contains => s.contains(pattern.as_str()),
                TextOp::StartsWith => s.starts_with(pattern.as_str()),
                TextOp::EndsWith => s.ends_with(pattern.as_str()),
                TextOp::Matches => unreachable!("compiled as Matches"),
            }),
            Node::Matches { text, regex } => text.any(r, |s| regex.is_match(s)),
        }
    }
}

impl Num {
    #[inline]
    fn get(self, r: &Record, c: &[Option<f64>]) -> Option<f64> {
        match self {
            Num::Const(x) => Some(x),
            Num::Counter(i) => c.get(i).copied().flatten(),
            Num::Field(slot) => match r.get(slot) {
                Value::Int(n) => Some(*n as f64),
                Value::Float(x) => Some(*x),
                _ => None,
            },
            Num::Len(slot) => match r.get(slot) {
                Value::Str(s) => Some(s.chars().count() as f64),
                Value::StrList(l) => Some(l.len() as f64),
                _ => None,
            },
        }
    }
}

impl Text {
    fn present(self, r: &Record) -> bool {
        matches!(r.get(self.slot), Value::Str(_) | Value::StrList(_))
    }

    /// Whether `f` holds for the text, or for any text of a list.
    #[inline]
    fn any(self, r: &Record, f: impl Fn(&str) -> bool) -> bool {
        let one = |s: &str| {
            if self.lower && s.chars().any(char::is_uppercase) { f(&s.to_lowercase()) } else { f(s) }
        };
        match r.get(self.slot) {
            Value::Str(s) => one(s),
            Value::StrList(l) => l.iter().any(|s| one(s)),
            _ => false,
        }
    }
}

/// Levenshtein distance, for suggesting the field a misspelt name meant.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let next = (diag + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            diag = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// What the checker needs besides the expression.
pub(crate) struct Scope<'a> {
    pub catalogue: &'a Catalogue,
    pub lists: &'a HashMap<String, Arc<List>>,
    /// The slots the condition being compiled reads, for explaining why it fired.
    pub reads: std::cell::RefCell<Vec<usize>>,
    /// Counters by name: index and the type of their value.
    pub counters: &'a HashMap<String, (usize, Type)>,
    /// The counters the condition reads.
    pub reads_counters: std::cell::RefCell<Vec<usize>>,
}

/// A typed operand before it becomes part of a node.
enum Operand {
    Bool(bool),
    Num(Num, Type),
    Str(String),
    Field(usize, Type, bool),
    Cond(Node),
}

fn type_of(o: &Operand) -> Type {
    match o {
        Operand::Bool(_) | Operand::Cond(_) => Type::Bool,
        Operand::Num(_, t) => *t,
        Operand::Str(_) => Type::Str,
        Operand::Field(_, t, _) => *t,
    }
}

fn mismatch(pos: Pos, what: &str, found: Type, expected: &str) -> Diagnostic {
    Diagnostic::new(pos, format!("type mismatch: {what} is {}", found.describe())).expected(expected)
}

impl Scope<'_> {
    /// Compiles a condition; it must be boolean.
    pub fn condition(&self, e: &Expr) -> Result<Node, Diagnostic> {
        match self.operand(e)? {
            Operand::Cond(n) => Ok(n),
            Operand::Bool(b) => Ok(Node::Const(b)),
            Operand::Field(slot, Type::Bool, _) => Ok(Node::Bool(slot)),
            other => Err(mismatch(
                e.pos,
                "this",
                type_of(&other),
                "a condition (a comparison, a test or a boolean field)",
            )),
        }
    }

    fn conditions(&self, es: &[Expr]) -> Result<Vec<Node>, Diagnostic> {
        es.iter().map(|e| self.condition(e)).collect()
    }

    fn operand(&self, e: &Expr) -> Result<Operand, Diagnostic> {
        Ok(match &e.kind {
            ExprKind::Bool(b) => Operand::Bool(*b),
            ExprKind::Int(n) => Operand::Num(Num::Const(*n as f64), Type::Int),
            ExprKind::Float(x) => Operand::Num(Num::Const(*x), Type::Float),
            ExprKind::Str(s) => Operand::Str(s.clone()),
            ExprKind::Field(name) if self.counters.contains_key(name) => {
                let (i, ty) = self.counters[name];
                let mut reads = self.reads_counters.borrow_mut();
                if !reads.contains(&i) {
                    reads.push(i);
                }
                Operand::Num(Num::Counter(i), ty)
            }
            ExprKind::Field(name) => {
                let Some((slot, ty)) = self.catalogue.field(name) else {
                    return Err(Diagnostic::new(e.pos, format!("unknown field `{name}`"))
                        .expected(self.suggest(name)));
                };
                let mut reads = self.reads.borrow_mut();
                if !reads.contains(&slot) {
                    reads.push(slot);
                }
                match ty {
                    Type::Int | Type::Float => Operand::Num(Num::Field(slot), ty),
                    _ => Operand::Field(slot, ty, false),
                }
            }
            ExprKind::Call(f, arg) => match (f.as_str(), self.operand(arg)?) {
                ("lower", Operand::Field(slot, t, _)) if t.textual() => Operand::Field(slot, t, true),
                ("lower", Operand::Str(s)) => Operand::Str(s.to_lowercase()),
                ("len", Operand::Field(slot, t, false)) if t.textual() => {
                    Operand::Num(Num::Len(slot), Type::Int)
                }
                ("lower" | "len", other) => {
                    return Err(mismatch(
                        arg.pos,
                        &format!("the argument of {f}()"),
                        type_of(&other),
                        "a text field",
                    ));
                }
                _ => {
                    return Err(Diagnostic::new(e.pos, format!("unknown function `{f}`"))
                        .expected("`lower(…)` or `len(…)`"));
                }
            },
            ExprKind::Not(inner) => Operand::Cond(Node::Not(Box::new(self.condition(inner)?))),
            ExprKind::And(all) => Operand::Cond(Node::All(self.conditions(all)?)),
            ExprKind::Or(any) => Operand::Cond(Node::Any(self.conditions(any)?)),
            ExprKind::Cmp(op, a, b) => Operand::Cond(self.compare(*op, a, b, e.pos)?),
            ExprKind::In(a, target) => Operand::Cond(self.membership(a, target)?),
            ExprKind::Text(op, a, b) => Operand::Cond(self.text(*op, a, b)?),
        })
    }

    fn suggest(&self, name: &str) -> String {
        let close: Vec<&str> =
            self.catalogue.fields.iter().map(|f| f.name).filter(|f| edit_distance(f, name) <= 3).collect();
        if close.is_empty() {
            format!("a field of the {} catalogue (`warden rules fields` lists them)", self.catalogue.kind)
        } else {
            format!("one of {}", close.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "))
        }
    }

    fn compare(&self, op: CmpOp, a: &Expr, b: &Expr, pos: Pos) -> Result<Node, Diagnostic> {
        let (l, r) = (self.operand(a)?, self.operand(b)?);
        let (lt, rt) = (type_of(&l), type_of(&r));
        let equality = matches!(op, CmpOp::Eq | CmpOp::Ne);
        match (l, r) {
            (Operand::Num(x, _), Operand::Num(y, _)) => Ok(Node::Num(op, x, y)),
            (Operand::Field(slot, t, lower), Operand::Str(s))
            | (Operand::Str(s), Operand::Field(slot, t, lower))
                if t.textual() && equality =>
            {
                Ok(Node::StrIn { text: Text { slot, lower }, values: vec![s], negate: op == CmpOp::Ne })
            }
            (Operand::Field(slot, Type::Ip, _), Operand::Str(s))
            | (Operand::Str(s), Operand::Field(slot, Type::Ip, _))
                if equality =>
            {
                let ip = s.parse().map_err(|_| {
                    Diagnostic::new(b.pos, format!("{s:?} is not an IP address"))
                        .expected("an address such as \"192.0.2.1\"")
                })?;
                Ok(Node::IpEq { slot, ip, negate: op == CmpOp::Ne })
            }
            (Operand::Field(slot, Type::Bool, _), Operand::Bool(v))
            | (Operand::Bool(v), Operand::Field(slot, Type::Bool, _))
                if equality =>
            {
                let is = Node::Bool(slot);
                Ok(if v == (op == CmpOp::Eq) { is } else { Node::Not(Box::new(is)) })
            }
            _ if lt.numeric() || rt.numeric() => {
                let (bad, at) = if lt.numeric() { (rt, b.pos) } else { (lt, a.pos) };
                Err(mismatch(at, "this", bad, "a number, to compare with a number"))
            }
            _ if !equality => Err(mismatch(pos, "the left side", lt, "numbers on both sides of < <= > >=")),
            _ => {
                Err(Diagnostic::new(pos, format!("cannot compare {} with {}", lt.describe(), rt.describe()))
                    .expected("a field on one side and a value of its type on the other"))
            }
        }
    }

    fn membership(&self, a: &Expr, target: &InTarget) -> Result<Node, Diagnostic> {
        let l = self.operand(a)?;
        match target {
            InTarget::List(name, at) => {
                let Some(list) = self.lists.get(name) else {
                    return Err(Diagnostic::new(*at, format!("unknown list `{name}`"))
                        .expected("a list declared with `list NAME: TYPE = \"file\"` in this file"));
                };
                use crate::parser::ListKind;
                match (l, list.kind()) {
                    (Operand::Field(slot, Type::Ip, _), ListKind::Ip) => {
                        Ok(Node::IpInList { slot, list: list.clone() })
                    }
                    (
                        Operand::Field(slot, t, lower),
                        ListKind::Domain | ListKind::String | ListKind::Regex,
                    ) if t.textual() => Ok(Node::InList { text: Text { slot, lower }, list: list.clone() }),
                    (other, kind) => Err(mismatch(
                        a.pos,
                        "this",
                        type_of(&other),
                        &format!(
                            "{} for the {kind:?} list `{name}`",
                            if kind == ListKind::Ip { "an IP field" } else { "a text field" }
                        ),
                    )),
                }
            }
            InTarget::Items(items) => {
                let Operand::Field(slot, t, lower) = l else {
                    return Err(mismatch(a.pos, "this", type_of(&l), "a text field before `in [ … ]`"));
                };
                if !t.textual() {
                    return Err(mismatch(a.pos, "this", t, "a text field before `in [ … ]`"));
                }
                let mut values = Vec::with_capacity(items.len());
                for item in items {
                    match &item.kind {
                        ExprKind::Str(s) => values.push(if lower { s.to_lowercase() } else { s.clone() }),
                        _ => {
                            return Err(Diagnostic::new(item.pos, "only strings can be listed here")
                                .expected("a string"));
                        }
                    }
                }
                Ok(Node::StrIn { text: Text { slot, lower }, values, negate: false })
            }
        }
    }

    fn text(&self, op: TextOp, a: &Expr, b: &Expr) -> Result<Node, Diagnostic> {
        let Operand::Field(slot, t, lower) = self.operand(a)? else {
            return Err(Diagnostic::new(a.pos, "the left side of a text test must be a text field")
                .expected("a field such as `mail.subject`"));
        };
        if !t.textual() {
            return Err(mismatch(a.pos, "this", t, "a text field"));
        }
        let ExprKind::Str(pattern) = &b.kind else {
            return Err(
                Diagnostic::new(b.pos, "the right side of a text test must be a string").expected("a string")
            );
        };
        let text = Text { slot, lower };
        if op == TextOp::Matches {
            let regex = regex::RegexBuilder::new(pattern).size_limit(1 << 20).build().map_err(|e| {
                Diagnostic::new(b.pos, format!("bad regular expression: {}", regex_error(&e)))
                    .expected("a regex in Rust's `regex` syntax")
            })?;
            return Ok(Node::Matches { text, regex });
        }
        let pattern = if lower { pattern.to_lowercase() } else { pattern.clone() };
        Ok(Node::Text { op, text, pattern })
    }
}
