//! Warden's rule language: what analysts write to react to a campaign in minutes.
//!
//! A rule file declares lists and rules:
//!
//! ```text
//! list bad_senders: domain = "lists/bad_senders.txt"
//!
//! rule LOOKALIKE_BANK_LINK {
//!   description: "links to a look-alike of our bank's domain"
//!   owner: "abuse-desk"
//!   mode: shadow
//!   when: mail.url_domains matches "^examp1e-bank\\." && model.probability > 0.3
//!   then: score +4, review
//! }
//! ```
//!
//! The language is small, typed and loop-free, so every rule set terminates and is checked
//! whole before it runs: fields come from a versioned catalogue per kind of event
//! ([`Catalogue`]), each comparison's types are settled, every regular expression is compiled
//! and every list loaded at check time; an error names `file:line:column` and what was
//! expected. Rules compile to a tree of typed nodes (no scripting engine in the per-event
//! path). Tests on a missing value are false; a test on a list of texts (`mail.url_domains`)
//! holds when it holds for any one of them.
#![deny(missing_docs)]

mod catalogue;
mod compile;
mod diag;
mod lexer;
mod lists;
mod parser;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use catalogue::{Catalogue, FieldDef, Record, Type, Value, ValueError};
pub use diag::{Diagnostic, Pos};
pub use lists::{List, ListError};
pub use parser::{ListKind, Mode};

use compile::{Node, Scope};
use parser::EffectAst;

/// What a rule does when it fires.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Adds points to the score (log-odds; negative points lower it).
    Score(f64),
    /// Forces an action (an index into the catalogue's actions, mildest first).
    Action(usize),
    /// Sends the event to the review queue.
    Review,
    /// Allow-lists the event: it is delivered whatever else fired.
    Allow,
}

/// One compiled rule and what is known about it.
#[derive(Debug)]
pub struct Rule {
    /// Its name, unique in the set.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Who answers for it.
    pub owner: String,
    /// Enforce or shadow.
    pub mode: Mode,
    /// The file and line it was written at.
    pub origin: String,
    /// Its effects, in order.
    pub effects: Vec<Effect>,
    when: Node,
}

/// A checked, compiled rule set.
#[derive(Debug)]
pub struct RuleSet {
    catalogue: &'static Catalogue,
    rules: Vec<Rule>,
    lists: HashMap<String, Arc<List>>,
}

/// What a rule set made of one event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Points added by enforced rules.
    pub points: f64,
    /// The harshest action forced by an enforced rule (index into the catalogue's actions).
    pub action: Option<usize>,
    /// An enforced rule asked for review.
    pub review: bool,
    /// An enforced rule allow-listed the event.
    pub allow: bool,
    /// Enforced rules that fired, by index.
    pub fired: Vec<usize>,
    /// Shadow rules that fired, by index: counted, never acting.
    pub shadow_fired: Vec<usize>,
}

impl RuleSet {
    /// Reads, checks and compiles rule files; list paths are relative to the file naming them.
    /// Every error found is returned (one per file at most for syntax, all type errors).
    pub fn load(paths: &[PathBuf], catalogue: &'static Catalogue) -> Result<RuleSet, Vec<Diagnostic>> {
        let mut sources = Vec::new();
        let mut errors = Vec::new();
        for p in paths {
            match std::fs::read_to_string(p) {
                Ok(text) => sources.push((
                    p.display().to_string(),
                    text,
                    p.parent().map(Path::to_path_buf).unwrap_or_default(),
                )),
                Err(e) => errors.push(Diagnostic {
                    file: p.display().to_string(),
                    pos: Pos::default(),
                    message: format!("cannot read: {e}"),
                    expected: None,
                }),
            }
        }
        let refs: Vec<(&str, &str, &Path)> =
            sources.iter().map(|(f, t, d)| (f.as_str(), t.as_str(), d.as_path())).collect();
        match RuleSet::compile(&refs, catalogue) {
            Ok(set) if errors.is_empty() => Ok(set),
            Ok(_) => Err(errors),
            Err(more) => {
                errors.extend(more);
                Err(errors)
            }
        }
    }

    /// Checks and compiles sources given as `(file name, text, directory for list paths)`.
    pub fn compile(
        sources: &[(&str, &str, &Path)],
        catalogue: &'static Catalogue,
    ) -> Result<RuleSet, Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut set = RuleSet { catalogue, rules: Vec::new(), lists: HashMap::new() };
        let mut origins: HashMap<String, String> = HashMap::new();
        for &(file, text, dir) in sources {
            let mut push = |mut d: Diagnostic| {
                d.file = file.to_owned();
                errors.push(d);
            };
            let parsed = lexer::lex(text).and_then(|toks| parser::Parser::new(toks).file());
            let ast = match parsed {
                Ok(ast) => ast,
                Err(d) => {
                    push(d);
                    continue;
                }
            };
            let mut local = set.lists.clone();
            for l in &ast.lists {
                let path = dir.join(&l.path);
                match List::load(l.kind, &path) {
                    Ok(list) => {
                        local.insert(l.name.clone(), Arc::new(list));
                    }
                    Err(e) => push(Diagnostic::new(l.pos, format!("list `{}`: {e}", l.name))),
                }
            }
            let scope = Scope { catalogue, lists: &local };
            for r in ast.rules {
                let origin = format!("{file}:{}", r.pos.line);
                if let Some(first) = origins.get(&r.name) {
                    push(Diagnostic::new(r.pos, format!("rule {} is already defined at {first}", r.name)));
                    continue;
                }
                let when = match scope.condition(r.when.as_ref().expect("the parser requires `when`")) {
                    Ok(n) => n,
                    Err(d) => {
                        push(d);
                        continue;
                    }
                };
                let mut effects = Vec::new();
                for (e, pos) in &r.then {
                    effects.push(match e {
                        EffectAst::Score(p) => Effect::Score(*p),
                        EffectAst::Review => Effect::Review,
                        EffectAst::Allow => Effect::Allow,
                        EffectAst::Action(a) => match catalogue.actions.iter().position(|x| x == a) {
                            Some(i) => Effect::Action(i),
                            None => {
                                push(Diagnostic::new(*pos, format!("unknown action `{a}`")).expected(
                                    format!(
                                        "one of {}",
                                        catalogue
                                            .actions
                                            .iter()
                                            .map(|a| format!("`{a}`"))
                                            .collect::<Vec<_>>()
                                            .join(", ")
                                    ),
                                ));
                                continue;
                            }
                        },
                    });
                }
                origins.insert(r.name.clone(), origin.clone());
                set.rules.push(Rule {
                    name: r.name,
                    description: r.description.unwrap_or_default(),
                    owner: r.owner.unwrap_or_default(),
                    mode: r.mode,
                    origin,
                    effects,
                    when,
                });
            }
            set.lists.extend(local);
        }
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The lists loaded, by name.
    pub fn lists(&self) -> impl Iterator<Item = (&str, &List)> {
        self.lists.iter().map(|(k, v)| (k.as_str(), v.as_ref()))
    }

    /// The catalogue the rules were checked against.
    pub fn catalogue(&self) -> &'static Catalogue {
        self.catalogue
    }

    /// Evaluates every rule on one event.
    pub fn evaluate(&self, record: &Record) -> Outcome {
        let mut out = Outcome::default();
        self.evaluate_into(record, &mut out);
        out
    }

    /// As [`RuleSet::evaluate`], reusing `out`'s allocations.
    pub fn evaluate_into(&self, record: &Record, out: &mut Outcome) {
        debug_assert!(std::ptr::eq(record.catalogue(), self.catalogue), "a record of another catalogue");
        out.points = 0.0;
        out.action = None;
        out.review = false;
        out.allow = false;
        out.fired.clear();
        out.shadow_fired.clear();
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.when.eval(record) {
                continue;
            }
            if rule.mode == Mode::Shadow {
                out.shadow_fired.push(i);
                continue;
            }
            out.fired.push(i);
            for e in &rule.effects {
                match *e {
                    Effect::Score(p) => out.points += p,
                    Effect::Action(a) => out.action = Some(out.action.map_or(a, |b| b.max(a))),
                    Effect::Review => out.review = true,
                    Effect::Allow => out.allow = true,
                }
            }
        }
    }
}
