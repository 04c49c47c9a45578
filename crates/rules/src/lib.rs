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
pub mod counters;
mod diag;
mod lexer;
mod lists;
mod parser;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use catalogue::{Catalogue, FieldDef, Record, Type, Value, ValueError};
pub use diag::{Diagnostic, Pos};
pub use lists::{List, ListError};
pub use parser::{ListKind, Mode};

use compile::{Node, Scope};
use parser::CounterDecl;
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
    /// Adds (or, `remove`, takes away) a label on the entity a field holds: the sender's
    /// domain, the client's address, an account.
    Label {
        /// The field naming the entity (a text or address field).
        field: usize,
        /// The label.
        label: String,
        /// How long an added label lasts, in seconds (`None`: until removed).
        ttl: Option<u64>,
        /// Take the label away instead.
        remove: bool,
    },
}

/// A label change a rule asked for, with the entity it names.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelChange {
    /// The rule that asked (index into [`RuleSet::rules`]).
    pub rule: usize,
    /// The field the entity came from (its catalogue name, such as `mail.from_domain`).
    pub field: &'static str,
    /// The entity: the field's value (lower case for texts).
    pub entity: String,
    /// The label.
    pub label: String,
    /// How long an added label lasts, in seconds.
    pub ttl: Option<u64>,
    /// The label is taken away.
    pub remove: bool,
}

/// One update of a window counter, as a journal keeps it to rebuild the counter after a
/// restart ([`RuleSet::restore`]). Entities and values are keyed 64-bit hashes, never the
/// identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterEvent {
    /// The counter (index into [`RuleSet::counter_names`]).
    pub counter: usize,
    /// The entity's hash.
    pub entity: u64,
    /// The counted value's hash (distinct counters).
    pub value: Option<u64>,
    /// When, in seconds since the Unix epoch.
    pub at: u64,
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
    /// The fields its condition reads, in the order written.
    reads: Vec<usize>,
    /// The counters its condition reads.
    reads_counters: Vec<usize>,
}

impl Rule {
    /// The points its effects add.
    pub fn points(&self) -> f64 {
        self.effects.iter().map(|e| if let Effect::Score(p) = e { *p } else { 0.0 }).sum()
    }

    /// The values its condition read in `record`, as `field = value` (for saying why it
    /// fired). Long texts are cut.
    pub fn explain(&self, record: &Record) -> String {
        let fields = record.catalogue().fields;
        self.reads
            .iter()
            .map(|&slot| format!("{} = {}", fields[slot].name, record.show(slot)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// [`Rule::explain`] with the values of the counters it read, as `outcome` recorded them.
    pub fn explain_with(&self, set: &RuleSet, record: &Record, outcome: &Outcome) -> String {
        let mut parts = vec![self.explain(record)];
        for &i in &self.reads_counters {
            let v = outcome.counters.get(i).copied().flatten();
            parts.push(format!(
                "{} = {}",
                set.counters[i].name,
                v.map_or("missing".into(), |v| format!("{v:.0}"))
            ));
        }
        parts.retain(|p| !p.is_empty());
        parts.join(", ")
    }
}

/// A checked, compiled rule set.
#[derive(Debug)]
pub struct RuleSet {
    catalogue: &'static Catalogue,
    rules: Vec<Rule>,
    lists: HashMap<String, Arc<List>>,
    /// The rule and list files it was read from (to watch them for changes).
    files: Vec<PathBuf>,
    /// Per rule: times it fired, and sampled evaluation time (nanoseconds, samples).
    stats: Vec<RuleStats>,
    /// Evaluations so far, for sampling the timing.
    evaluations: AtomicU64,
    /// Window counters, updated by every evaluation before the rules read them; their state
    /// is in a [`counters::CounterStore`] (the set's own until [`RuleSet::attach_counters`]).
    counters: Vec<CounterDef>,
    clock: Arc<dyn counters::Clock>,
    /// Seed of the counters' entity and value hashes (a secret of the installation, so that a
    /// journal of hashes does not give away which domain or address it counted).
    key_seed: u64,
}

/// A declared counter and where its state is.
struct CounterDef {
    name: String,
    /// The entity's field slot (text or address).
    by: usize,
    /// The field whose distinct values are counted.
    distinct: Option<usize>,
    /// Its name and shape, as its store knows it.
    key: counters::CounterKey,
    state: Arc<dyn counters::WindowCounter>,
}

impl std::fmt::Debug for CounterDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CounterDef").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Registers of a counter's distinct-count sketches, as a power of two: 1 KiB a bucket and a
/// standard error of 3.25%.
pub const DISTINCT_P: u8 = 10;

/// One rule's counters.
#[derive(Debug, Default)]
struct RuleStats {
    hits: AtomicU64,
    sampled_nanos: AtomicU64,
    samples: AtomicU64,
}

/// One evaluation in this many is timed rule by rule: timing every evaluation would cost as
/// much as the rules themselves.
pub const TIMING_SAMPLE: u64 = 1024;

/// A rule's figures since its set was loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFigures {
    /// Times it fired (shadow rules included).
    pub hits: u64,
    /// Mean evaluation time over the sampled evaluations, in nanoseconds (0 before any).
    pub mean_nanos: f64,
    /// Evaluations timed.
    pub samples: u64,
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
    /// Each counter's value for this event's entity, this event included (by counter index;
    /// `None` when the event has no such entity).
    pub counters: Vec<Option<f64>>,
    /// The counter updates this event made, for a journal.
    pub counter_events: Vec<CounterEvent>,
    /// The label changes enforced rules asked for.
    pub labels: Vec<LabelChange>,
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
            Ok(mut set) if errors.is_empty() => {
                let mut files = paths.to_vec();
                files.append(&mut set.files);
                set.files = files;
                Ok(set)
            }
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
        let own_counters = counters::LocalCounters::default();
        let mut set = RuleSet {
            catalogue,
            rules: Vec::new(),
            lists: HashMap::new(),
            files: Vec::new(),
            stats: Vec::new(),
            evaluations: AtomicU64::new(0),
            counters: Vec::new(),
            clock: Arc::new(counters::SystemClock),
            key_seed: catalogue::DEFAULT_KEY_SEED,
        };
        let mut counter_names: HashMap<String, (usize, Type)> = HashMap::new();
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
                set.files.push(path.clone());
                match List::load(l.kind, &path) {
                    Ok(list) => {
                        local.insert(l.name.clone(), Arc::new(list));
                    }
                    Err(e) => push(Diagnostic::new(l.pos, format!("list `{}`: {e}", l.name))),
                }
            }
            for c in &ast.counters {
                match compile_counter(c, catalogue, &own_counters) {
                    Ok(def) if !counter_names.contains_key(&c.name) => {
                        let ty = if def.distinct.is_some() { Type::Float } else { Type::Int };
                        counter_names.insert(c.name.clone(), (set.counters.len(), ty));
                        set.counters.push(def);
                    }
                    Ok(_) => push(Diagnostic::new(c.pos, format!("counter `{}` is declared twice", c.name))),
                    Err(d) => push(d),
                }
            }
            for r in ast.rules {
                let scope = Scope {
                    catalogue,
                    lists: &local,
                    reads: Default::default(),
                    counters: &counter_names,
                    reads_counters: Default::default(),
                };
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
                        EffectAst::Label { field: (name, at), label, ttl, remove } => {
                            match catalogue.field(name) {
                                Some((slot, Type::Str | Type::Ip)) => Effect::Label {
                                    field: slot,
                                    label: label.clone(),
                                    ttl: *ttl,
                                    remove: *remove,
                                },
                                Some((_, ty)) => {
                                    push(
                                        Diagnostic::new(
                                            *at,
                                            format!("type mismatch: `{name}` is {}", ty.describe()),
                                        )
                                        .expected("a text or address field naming the entity to label"),
                                    );
                                    continue;
                                }
                                None => {
                                    push(
                                        Diagnostic::new(*at, format!("unknown field `{name}`"))
                                            .expected("a catalogue field"),
                                    );
                                    continue;
                                }
                            }
                        }
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
                    reads: scope.reads.into_inner(),
                    reads_counters: scope.reads_counters.into_inner(),
                });
            }
            set.lists.extend(local);
        }
        set.stats = set.rules.iter().map(|_| RuleStats::default()).collect();
        if errors.is_empty() { Ok(set) } else { Err(errors) }
    }

    /// Sets the seed of the counters' keyed hashes (the server derives it from its secret key).
    /// Counters already holding events must be rebuilt under the new seed.
    pub fn set_key_seed(&mut self, seed: u64) {
        self.key_seed = seed;
    }

    /// How far back the counters look, at most, in seconds (their span and one bucket; 0
    /// without counters): what a journal must keep to rebuild them.
    pub fn longest_window(&self) -> u64 {
        self.counters.iter().map(|c| c.key.window.span + c.key.window.bucket).max().unwrap_or(0)
    }

    /// The counters' names, by index.
    pub fn counter_names(&self) -> impl Iterator<Item = &str> {
        self.counters.iter().map(|c| c.name.as_str())
    }

    /// Replays one journaled update into the counter named `counter` (a journal keeps names,
    /// so that updates survive a change of the rule set); `false` when no counter has that
    /// name. Updates older than the counter's window fall out as they would have live.
    pub fn restore(&self, counter: &str, entity: u64, value: Option<u64>, at: u64) -> bool {
        let Some(c) = self.counters.iter().find(|c| c.name == counter) else { return false };
        c.state.restore(entity, value, at);
        true
    }

    /// Keeps the counters' state in `store` from now on: a counter the store holds under the
    /// same name and shape (from the rule set this one replaces) goes on with its windows; the
    /// others start empty, and their names are returned, to be rebuilt from a journal. Call it
    /// before the set evaluates anything.
    pub fn attach_counters(&mut self, store: &dyn counters::CounterStore) -> Vec<String> {
        let mut fresh = Vec::new();
        for c in &mut self.counters {
            let (state, made) = store.open(&c.key);
            c.state = state;
            if made {
                fresh.push(c.name.clone());
            }
        }
        fresh
    }

    /// The names and shapes of the counters it declares (what a store must keep for it).
    pub fn counter_keys(&self) -> Vec<counters::CounterKey> {
        self.counters.iter().map(|c| c.key.clone()).collect()
    }

    /// Sets the clock the counters read (a backtest's follows each message's Date).
    pub fn set_clock(&mut self, clock: Arc<dyn counters::Clock>) {
        self.clock = clock;
    }

    /// The files read: rule files (when loaded with [`RuleSet::load`]) and list files.
    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// Each rule with its figures, in file order.
    pub fn figures(&self) -> impl Iterator<Item = (&Rule, RuleFigures)> {
        self.rules.iter().zip(&self.stats).map(|(r, s)| {
            let samples = s.samples.load(Ordering::Relaxed);
            let nanos = s.sampled_nanos.load(Ordering::Relaxed);
            let mean_nanos = if samples == 0 { 0.0 } else { nanos as f64 / samples as f64 };
            (r, RuleFigures { hits: s.hits.load(Ordering::Relaxed), mean_nanos, samples })
        })
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
        out.counter_events.clear();
        out.labels.clear();
        let timed = self.evaluations.fetch_add(1, Ordering::Relaxed).is_multiple_of(TIMING_SAMPLE);
        out.counters.clear();
        if !self.counters.is_empty() {
            let now = self.clock.now();
            for (i, c) in self.counters.iter().enumerate() {
                let value = c.update(record, now, timed, self.key_seed, i, &mut out.counter_events);
                out.counters.push(value);
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let fired = if timed {
                let t = std::time::Instant::now();
                let fired = rule.when.eval(record, &out.counters);
                let s = &self.stats[i];
                s.sampled_nanos.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
                s.samples.fetch_add(1, Ordering::Relaxed);
                fired
            } else {
                rule.when.eval(record, &out.counters)
            };
            if !fired {
                continue;
            }
            self.stats[i].hits.fetch_add(1, Ordering::Relaxed);
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
                    Effect::Label { field, ref label, ttl, remove } => {
                        if let Some(entity) = record.entity(field) {
                            out.labels.push(LabelChange {
                                rule: i,
                                field: self.catalogue.fields[field].name,
                                entity,
                                label: label.clone(),
                                ttl,
                                remove,
                            });
                        }
                    }
                }
            }
        }
    }
}

impl CounterDef {
    /// Records this event under its entity and answers the entity's count (or distinct count);
    /// the updates made are pushed to `journal`.
    fn update(
        &self,
        r: &Record,
        now: u64,
        expire: bool,
        seed: u64,
        index: usize,
        journal: &mut Vec<CounterEvent>,
    ) -> Option<f64> {
        let entity = r.key(self.by, seed)?;
        let event = |value| CounterEvent { counter: index, entity, value, at: now };
        let values = self.distinct.map(|slot| r.keys(slot, seed)).unwrap_or_default();
        if values.is_empty() {
            journal.push(event(None));
        }
        journal.extend(values.iter().map(|&v| event(Some(v))));
        Some(self.state.add(entity, &values, now, expire))
    }
}

/// Checks a counter declaration against the catalogue.
fn compile_counter(
    c: &CounterDecl,
    catalogue: &Catalogue,
    store: &dyn counters::CounterStore,
) -> Result<CounterDef, Diagnostic> {
    let field = |(name, pos): &(String, Pos), entity: bool| {
        let (slot, ty) = catalogue.field(name).ok_or_else(|| {
            Diagnostic::new(*pos, format!("unknown field `{name}`")).expected("a catalogue field")
        })?;
        let fits = if entity {
            matches!(ty, Type::Str | Type::Ip)
        } else {
            matches!(ty, Type::Str | Type::Ip | Type::StrList)
        };
        if !fits {
            return Err(Diagnostic::new(*pos, format!("type mismatch: `{name}` is {}", ty.describe()))
                .expected(if entity {
                    "a text or address field to count by"
                } else {
                    "a text or address field"
                }));
        }
        Ok(slot)
    };
    let by = field(&c.by, true)?;
    let distinct = c.distinct.as_ref().map(|d| field(d, false)).transpose()?;
    let (span, at) = c.span;
    let bucket = c.bucket.map_or(span / 12, |b| b.0).max(1);
    let window =
        counters::Window::new(span, bucket).map_err(|e| Diagnostic::new(c.bucket.map_or(at, |b| b.1), e))?;
    let key = counters::CounterKey {
        name: c.name.clone(),
        by: c.by.0.clone(),
        distinct: c.distinct.as_ref().map(|d| d.0.clone()),
        window,
    };
    let (state, _) = store.open(&key);
    Ok(CounterDef { name: c.name.clone(), by, distinct, key, state })
}
