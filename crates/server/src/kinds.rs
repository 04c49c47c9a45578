//! Kinds of JSON events on the generic routes: `POST /v1/<kind>/check` and
//! `POST /v1/<kind>/feedback` for each kind the binary registers (mail keeps its own routes: its
//! events are messages, not JSON). A kind's crate implements [`JsonKind`] — what it reads of an
//! event, its thresholds, its starter model — and [`Pipeline`] does the rest the same way for
//! every kind:
//!
//! event → `kind`, `id`, `time` read and checked (the time kept within `[events] skew_secs` of the
//! arrival) → the kind's features → the model → the kind's action by its thresholds → the
//! decision, remembered by the event's id (the same id again gets the same answer and counts
//! once) → the event's features kept for its entity's label ([`warden_desk::state::FeatureStore`]),
//! the decision audited. Feedback names the entity and a label in the kind's words: the label is
//! set on the entity (audited, posted to `[webhooks]`, shown by the entity API) and the model
//! learns the kept features.

use std::sync::{Arc, Mutex, RwLock};

use serde_json::{Map, Value, json};
use warden_core::time::EventTime;
use warden_core::{Action, Decision, FeatureVec, Kind, Label, Reason, Thresholds};
use warden_engine::{Scored, combine};
use warden_learn::{Model, OnlineLearner};
use warden_rules::{Outcome, RuleSet};

use crate::AppState;
use warden_desk::{
    AuditEntry, DecisionEffects, EntityLabel, KeptFeatures, LabelSource, NewReview, ReviewFeatures,
    ReviewItem, Teach, Verdict,
};

/// What a kind reads of one event besides its `kind`, `id` and `time`.
#[derive(Debug, Clone)]
pub struct Read {
    /// The entity the event's label will name (an account, say), as the service names it.
    pub entity: String,
    /// The event's features.
    pub features: FeatureVec,
    /// Named signals, each a reason of its own (with the weight it adds to the score).
    pub signals: Vec<Reason>,
    /// What rules read of the event: a record of the kind's catalogue
    /// ([`JsonKind::catalogue`]) with its fields filled (the model's two, the catalogue's
    /// last, are filled by the pipeline); `None` for a kind without rules.
    pub facts: Option<warden_rules::Record>,
    /// Fields of the kind's own that its answer carries besides the pipeline's (sign-ups: the
    /// `cluster` the account joined).
    pub answer: Map<String, Value>,
}

/// What an event is read with besides itself.
#[derive(Clone, Copy)]
pub struct Context<'a> {
    /// The event's time, Unix seconds, as the pipeline keeps it (within the skew of its
    /// arrival): the clock of the kind's windows.
    pub at: u64,
    /// Where its addresses are.
    pub geo: &'a warden_geo::Geo,
    /// The seed of the kind's keyed hashes of identifiers (derived from the data directory's
    /// key on a server, so that a hash says nothing of the identifier without it).
    pub seed: u64,
}

/// What a kind's crate gives the generic pipeline.
pub trait JsonKind: Send + Sync + 'static {
    /// The kind: its name, actions and label words.
    type Kind: Kind;
    /// The kind of entity its labels name (`account`).
    const ENTITY: &'static str;
    /// Reads one event's own fields; a bad or missing field is an error naming it. A kind with
    /// a memory of recent events (velocities, clusters) remembers the event here, once it has
    /// read it whole: the pipeline reads each new event once (an id decided before is answered
    /// from the store without reading it again).
    fn read(&self, event: &Map<String, Value>, cx: &Context<'_>) -> Result<Read, BadField>;
    /// Where each action above the mildest begins, in log-odds.
    fn thresholds(&self) -> Thresholds<<Self::Kind as Kind>::Action>;
    /// The model the kind starts with.
    fn starter(&self) -> Model;
    /// `events` synthetic events with their entities' labels, from `seed` (the same seed, the
    /// same events), for `warden <kind> synth`; `None` for a kind without a simulator.
    fn synth(&self, _seed: u64, _events: usize) -> Option<Synthetic> {
        None
    }
    /// The fields analysts' rules read of its events (`[rules.kinds]`), when it has rules.
    fn catalogue(&self) -> Option<&'static warden_rules::Catalogue> {
        None
    }
    /// The event of `entity` at `at` was decided with the model's `probability` (a kind that
    /// groups entities scores their groups with it).
    fn decided(&self, _entity: &str, _at: u64, _probability: f64) {}
    /// The label of `entity` became known and taught the model (a kind with models of its own
    /// teaches them too).
    fn taught(&self, _entity: &str, _label: Label) {}
    /// Verdicts the kind reached on entities after their events (sign-ups: a cluster's
    /// members), taken once: what an offline replay scores besides each event's decision.
    fn later(&self) -> Vec<Later> {
        Vec::new()
    }
    /// Roughly how many bytes the kind's memory of recent events holds.
    fn memory_bytes(&self) -> usize {
        0
    }
    /// The kind's own models besides the pipeline's, by name (sign-ups: `clusters`), as they
    /// stand: what `warden <kind> train` writes beside the model, as `<model>.<name>.wdm`.
    fn own_models(&self) -> Vec<(&'static str, Model)> {
        Vec::new()
    }
    /// Starts the kind's own models afresh, untaught (`warden <kind> train --fresh`).
    fn forget_own_models(&self) {}
    /// Puts own model `name` in force (a server's checkpoint of it, read at start).
    fn set_own_model(&self, _name: &str, _model: Model) {}
    /// Forgets what the kind remembers in memory of entity `entity` of kind `entity_kind` (an
    /// erasure through the entity API; the stores' part is the desk's); returns how many things
    /// it forgot.
    fn erase(&self, _entity_kind: &str, _entity: &str) -> u64 {
        0
    }
    /// The names of the kind's views for analysts (`GET /v1/<kind>/<view>` and
    /// `/v1/<kind>/<view>/<id>` on the controller; sign-ups: `clusters`).
    fn views(&self) -> &'static [&'static str] {
        &[]
    }
    /// View `name`: all of it (`id` `None`), or one item; `None` when there is no such item.
    fn view(&self, _name: &str, _id: Option<&str>) -> Option<Value> {
        None
    }
    /// The entities an item of a view holds (a cluster's members), for an analyst's label on
    /// all of them at once; `None` when there is no such item.
    fn view_entities(&self, _name: &str, _id: &str) -> Option<Vec<String>> {
        None
    }
    /// What the kind calls its entities and their first event in reports (`accounts`,
    /// `at_signup`).
    fn report_names(&self) -> ReportNames {
        ReportNames::default()
    }
}

/// A verdict a kind reached on an entity after its event ([`JsonKind::later`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Later {
    /// The entity, lower case.
    pub entity: String,
    /// When, Unix seconds of event time.
    pub at: u64,
    /// The probability it gives the entity.
    pub probability: f64,
    /// The action's name.
    pub action: &'static str,
    /// The label a server sets on the entity for it (automatic: an analyst's label overrides
    /// it), audited and posted to `[webhooks]`.
    pub label: String,
    /// Who reached it (`cluster:c-12`).
    pub by: String,
    /// Why, for the label's reason.
    pub reason: String,
}

/// What a kind calls its entities and their first event in an evaluation's report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportNames {
    /// The entities (`accounts`).
    pub entities: &'static str,
    /// The decision at an entity's first event (`at_signup`).
    pub at_first: &'static str,
}

impl Default for ReportNames {
    fn default() -> Self {
        ReportNames { entities: "entities", at_first: "at_first_event" }
    }
}

/// A field of an event that is missing or wrong (the event gets a 400 naming it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {problem}")]
pub struct BadField {
    /// The field, as the event names it.
    pub field: String,
    /// What is wrong with it ("is missing", "is not a string", …).
    pub problem: String,
}

impl BadField {
    /// `field` and what is wrong with it.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        BadField { field: field.into(), problem: problem.into() }
    }
}

impl From<BadField> for KindError {
    fn from(e: BadField) -> Self {
        KindError::Bad(e.to_string())
    }
}

/// Why an event or a label was not taken.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// The event or label is wrong: a 400, naming the field.
    #[error("{0}")]
    Bad(String),
    /// A store failed: a 500.
    #[error("{0}")]
    Store(String),
    /// The desk refused or failed (a 404, 409 or 500, as the desk's routes answer it).
    #[error(transparent)]
    Desk(#[from] warden_desk::DeskError),
}

/// A kind on the generic routes, whatever its types (the server's registry holds these).
pub trait Served: Send + Sync {
    /// The kind's name, as in its routes.
    fn name(&self) -> &'static str;
    /// Decides on one event that arrived at `arrival` (Unix seconds).
    fn check(&self, state: &AppState, event: &Value, arrival: u64) -> Result<Value, KindError>;
    /// Takes a later verdict on an entity.
    fn feedback(&self, state: &AppState, body: &Value, now: u64) -> Result<Value, KindError>;
    /// `who` resolves review item `item` of this kind with the label `word` and `reason`: the
    /// resolution, the verdict on its entity (labelled as feedback labels it) and the model's
    /// lesson from the item's `features` in one write, then the model learns. Answers what it
    /// taught.
    fn resolve(
        &self,
        state: &AppState,
        item: &ReviewItem,
        features: ReviewFeatures,
        resolution: Resolution<'_>,
    ) -> Result<(ReviewItem, Value), KindError>;
    /// Teaches the model what it learned before (at start): its checkpoint, then the labels
    /// recorded after it; returns how many labels were taught again.
    fn restore(&self, state: &AppState) -> Result<u64, KindError>;
    /// Saves the model as `<data_dir>/<kind>.wdm`, naming the last label it learned, so that a
    /// restart teaches it only the labels after; returns that label's number.
    fn checkpoint(&self, state: &AppState) -> Result<u64, KindError>;
    /// Decides on one event and keeps nothing durable (the kind's memory of recent events
    /// remembers it, [`JsonKind::read`]): what [`Served::check`] does before its effects, and
    /// what `warden <kind> check` and `eval` run offline. `skew` is `[events] skew_secs`; `cx`'s
    /// time is set from the event's.
    fn decide(&self, event: &Value, arrival: u64, skew: u64, cx: Context<'_>) -> Result<Offline, KindError>;
    /// Teaches the model one label of an entity's features (an offline replay's feedback).
    fn teach(&self, entity: &str, features: &FeatureVec, label: Label);
    /// The label a word spells in the kind's vocabulary.
    fn label(&self, word: &str) -> Option<Label>;
    /// The word of a label in the kind's vocabulary.
    fn label_word(&self, label: Label) -> &'static str;
    /// The kind's mildest action (what lets an event through).
    fn mildest(&self) -> &'static str;
    /// The kind's actions, mildest first.
    fn actions(&self) -> Vec<&'static str>;
    /// A copy of the model in force (what `warden <kind> train` saves).
    fn model(&self) -> Model;
    /// Puts `model` in force (offline: `warden <kind> train --fresh`).
    fn set_model(&self, model: Model);
    /// [`JsonKind::later`].
    fn later(&self) -> Vec<Later>;
    /// [`JsonKind::memory_bytes`].
    fn memory_bytes(&self) -> usize;
    /// [`JsonKind::own_models`].
    fn own_models(&self) -> Vec<(&'static str, Model)>;
    /// [`JsonKind::forget_own_models`].
    fn forget_own_models(&self);
    /// [`JsonKind::erase`].
    fn erase(&self, entity_kind: &str, entity: &str) -> u64;
    /// [`JsonKind::views`].
    fn views(&self) -> &'static [&'static str];
    /// [`JsonKind::view`].
    fn view(&self, name: &str, id: Option<&str>) -> Option<Value>;
    /// [`JsonKind::view_entities`].
    fn view_entities(&self, name: &str, id: &str) -> Option<Vec<String>>;
    /// `by` labels `entity` with `word` (the kind's label words) for `reason`: set on the
    /// entity and learned from its kept features, as feedback is. Whether it learned.
    fn judge(
        &self,
        state: &AppState,
        entity: &str,
        word: &str,
        by: &str,
        reason: &str,
        now: u64,
    ) -> Result<bool, KindError>;
    /// [`JsonKind::report_names`].
    fn report_names(&self) -> ReportNames;
    /// Synthetic labelled events from the kind's own simulator, when it has one.
    fn synth(&self, seed: u64, events: usize) -> Option<Synthetic>;
    /// The fields its rules read, when it has rules.
    fn catalogue(&self) -> Option<&'static warden_rules::Catalogue>;
    /// Puts rules (checked against [`Served::catalogue`]) in force, or none.
    fn set_rules(&self, rules: Option<Arc<RuleSet>>);
    /// The rules in force.
    fn rules(&self) -> Option<Arc<RuleSet>>;
}

/// One event decided offline ([`Served::decide`]).
#[derive(Debug, Clone)]
pub struct Offline {
    /// The event's id.
    pub id: String,
    /// The entity its label will name, in lower case.
    pub entity: String,
    /// Its time, kept within the skew of its arrival.
    pub time: EventTime,
    /// The decision as the routes answer it (without `repeated`).
    pub decision: Value,
    /// The action's name.
    pub action: &'static str,
    /// The score the action was chosen by.
    pub score: f64,
    /// The model's probability.
    pub probability: f64,
    /// The decision's reasons.
    pub reasons: Vec<Reason>,
    /// Why it goes to the review queue: `rule` (a rule asked), `action` (its action is one that
    /// asks for an analyst, [`Action::asks_review`]); empty when it does not.
    pub review: Vec<&'static str>,
    /// The event's features.
    pub features: FeatureVec,
    /// The rules that read it and what they made of it (counter updates, label changes).
    pub effects: Option<(Arc<RuleSet>, Outcome)>,
}

/// A kind's synthetic events and the labels of their entities.
#[derive(Debug, Clone, Default)]
pub struct Synthetic {
    /// The events, in time order.
    pub events: Vec<Value>,
    /// Each labelled entity (as the events name it) with its label.
    pub labels: Vec<(String, Label)>,
    /// The group of an entity that is in one (a campaign, a named group of legitimate
    /// entities), by entity.
    pub groups: std::collections::BTreeMap<String, String>,
}

/// The generic pipeline over one kind.
pub struct Pipeline<K: JsonKind> {
    kind: K,
    model: RwLock<Model>,
    /// The number of the last recorded label the model has learned. Held while a label is
    /// recorded and learned, and while a checkpoint copies the model, so that a checkpoint
    /// never names a label its model has not learned (nor misses one it names).
    learned: Mutex<u64>,
    /// Held while a checkpoint is written: two at once (the timer's, an operator's) would
    /// write the same temporary file.
    saving: Mutex<()>,
    /// The analysts' rules in force (`[rules.kinds]`).
    rules: RwLock<Option<Arc<RuleSet>>>,
    thresholds: Thresholds<<K::Kind as Kind>::Action>,
}

impl<K: JsonKind> Pipeline<K> {
    /// The pipeline of `kind`, with its starter model and thresholds.
    pub fn new(kind: K) -> Pipeline<K> {
        let model = RwLock::new(kind.starter());
        let thresholds = kind.thresholds();
        let rules = RwLock::new(None);
        Pipeline { kind, model, learned: Mutex::new(0), saving: Mutex::new(()), rules, thresholds }
    }

    /// The kind.
    pub fn kind(&self) -> &K {
        &self.kind
    }

    /// The model a restart begins from: this data directory's checkpoint of the kind, and the
    /// number of the last label it learned; else the starter model and 0. A checkpoint that
    /// cannot be read, scores another kind or was written in another data directory is set
    /// aside with a warning: every label is recorded, so the starter model taught them all
    /// again is the same model.
    fn start_from(&self, state: &AppState) -> (Model, u64) {
        let path = checkpoint_path(state, K::Kind::NAME);
        if !path.exists() {
            return (self.kind.starter(), 0);
        }
        let ours = state.data_id();
        let logged = state.taught().last(K::Kind::NAME);
        let read = Model::load(&path).map_err(|e| e.to_string()).and_then(|m| {
            warden_engine::check_kind::<K::Kind>(&m).map_err(|e| e.to_string())?;
            let last = logged.as_ref().map_err(|e| format!("the log of labels cannot be read ({e})"))?;
            match &m.meta.checkpoint {
                Some(mark) if mark.store == ours && mark.seq <= *last => Ok((mark.seq, m)),
                // The log was made anew (a repair): its numbers are not the checkpoint's.
                Some(mark) if mark.store == ours => Err(format!(
                    "it holds the labels up to number {}, but the log of labels ends at {last}",
                    mark.seq
                )),
                Some(mark) => Err(format!("it was written in another data directory ({})", mark.store)),
                None => Err("it names no data directory".into()),
            }
        });
        match read {
            Ok((seq, model)) => (model, seq),
            Err(why) => {
                tracing::warn!(path = %path.display(), "{why}: the {} model starts afresh and is taught every recorded label", K::Kind::NAME);
                (self.kind.starter(), 0)
            }
        }
    }
}

/// Where a kind's own model `name` is written beside its model file `model`
/// (`signup.wdm` → `signup.clusters.wdm`).
pub fn own_model_path(model: &std::path::Path, name: &str) -> std::path::PathBuf {
    let stem = model.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    model.with_file_name(format!("{stem}.{name}.wdm"))
}

/// Where a JSON kind's model is checkpointed.
fn checkpoint_path(state: &AppState, kind: &str) -> std::path::PathBuf {
    state.data_dir().join(format!("{kind}.wdm"))
}

fn text<'a>(event: &'a Map<String, Value>, field: &str, max: usize) -> Result<&'a str, KindError> {
    let s = event
        .get(field)
        .ok_or_else(|| KindError::Bad(format!("`{field}` is missing")))?
        .as_str()
        .ok_or_else(|| KindError::Bad(format!("`{field}` is not a string")))?;
    crate::text::check_field("field", s, max).map_err(|e| KindError::Bad(format!("`{field}`: {e}")))?;
    Ok(s)
}

/// What every event has: its object, `kind`, `id` and `time`.
pub(crate) struct Common<'a> {
    event: &'a Map<String, Value>,
    kind: &'a str,
    id: &'a str,
    claimed: u64,
}

impl Common<'_> {
    /// The time the event gives itself, Unix seconds.
    pub(crate) fn claimed(&self) -> u64 {
        self.claimed
    }
}

/// Reads what every event has, naming the field that is missing or bad.
pub(crate) fn common(event: &Value) -> Result<Common<'_>, KindError> {
    let event = event.as_object().ok_or_else(|| KindError::Bad("an event is a JSON object".into()))?;
    let kind = text(event, "kind", 64)?;
    let id = text(event, "id", 256)?;
    let claimed = rfc3339(text(event, "time", 64)?)?;
    Ok(Common { event, kind, id, claimed })
}

/// An RFC 3339 time as Unix seconds.
fn rfc3339(s: &str) -> Result<u64, KindError> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| KindError::Bad(format!("`time` is not an RFC 3339 time ({e})")))?;
    u64::try_from(t.unix_timestamp()).map_err(|_| KindError::Bad("`time` is before 1970".into()))
}

/// A decision kept for an event id, answered again as a repeat.
fn repeated(kept: &[u8]) -> Result<Value, KindError> {
    let mut earlier: Value = serde_json::from_slice(kept).map_err(store)?;
    earlier["repeated"] = true.into();
    Ok(earlier)
}

fn store<E: std::fmt::Display>(e: E) -> KindError {
    KindError::Store(e.to_string())
}

impl<K: JsonKind> Served for Pipeline<K> {
    fn name(&self) -> &'static str {
        K::Kind::NAME
    }

    fn check(&self, state: &AppState, event: &Value, arrival: u64) -> Result<Value, KindError> {
        // An id decided before is answered from the store before its rules count it again.
        if let Ok(Common { id, .. }) = common(event)
            && let Some(earlier) = state.decisions().get(K::Kind::NAME, id).map_err(store)?
        {
            return repeated(&earlier);
        }
        let Offline {
            id,
            entity,
            time,
            decision,
            action,
            score,
            probability,
            reasons,
            review,
            features,
            effects,
        } = self.decide(
            event,
            arrival,
            state.settings().events.skew_secs,
            Context { at: 0, geo: &state.geo(), seed: state.desk().kind_seed() },
        )?;
        let id = id.as_str();
        let bytes = serde_json::to_vec(&decision).expect("decisions serialise");
        let desk = state.desk();
        let message = format!("{}:{}", K::Kind::NAME, desk.hash(K::Kind::NAME, id));
        // An analyst judges by the entity, the decision and its reasons; learns from the features.
        let review = (!review.is_empty()).then(|| NewReview {
            item: ReviewItem {
                at: time.at,
                why: review.iter().map(|w| (*w).to_owned()).collect(),
                kind: Some(K::Kind::NAME.into()),
                entity: Some(entity.clone()),
                message: message.clone(),
                action: action.into(),
                score,
                probability,
                reasons: reasons.clone(),
                ..ReviewItem::default()
            },
            features: ReviewFeatures {
                message: desk.event_key(K::Kind::NAME, id),
                extractor: 0,
                features: features.hashes().to_vec(),
            },
            body: None,
        });
        let audit = AuditEntry {
            at: time.at,
            kind: "decision".into(),
            actor: "warden".into(),
            message: Some(message),
            entity: Some(format!("{}:{}", K::ENTITY, desk.hash(K::ENTITY, &entity))),
            action: Some(action.into()),
            score: Some(score),
            probability: Some(probability),
            reasons: reasons.into_iter().map(|r| r.name).collect(),
            ..AuditEntry::default()
        };
        let kept = KeptFeatures { at: time.at, extractor: 0, features: features.hashes().to_vec() };
        let (counts, labels) = match &effects {
            Some((rules, out)) => (
                crate::effects::journaled_counts(Some(K::Kind::NAME), rules, out),
                crate::effects::rule_labels(rules, out, time.at),
            ),
            None => Default::default(),
        };
        // What the kind concluded of earlier entities on the way (a cluster's verdict on its
        // members): automatic labels on them, each audited and posted to the webhooks.
        let later = self
            .kind
            .later()
            .into_iter()
            .map(|later| EntityLabel {
                kind: K::ENTITY.into(),
                entity: later.entity,
                label: later.label,
                active: true,
                source: LabelSource::Automatic,
                by: later.by,
                reason: later.reason,
                at: later.at,
                expires: None,
            })
            .collect();
        // The decision, its kept features, its audit entry, what its rules did (counter updates,
        // label changes) and the kind's later verdicts in one write: all or none.
        let effects = DecisionEffects {
            keep: Some((K::ENTITY, &entity, kept)),
            audit: Some(audit),
            counts,
            labels,
            review,
            later,
            sync: state.settings().audit.sync_decisions,
        };
        let earlier = state.decisions().record(K::Kind::NAME, id, time.at, &bytes, effects).map_err(store)?;
        if let Some(earlier) = earlier {
            return repeated(&earlier);
        }
        state.metrics().decided(action, &format!("/v1/{}/check", K::Kind::NAME));
        let mut decision = decision;
        decision["repeated"] = false.into();
        Ok(decision)
    }

    fn feedback(&self, state: &AppState, body: &Value, now: u64) -> Result<Value, KindError> {
        let body = body.as_object().ok_or_else(|| KindError::Bad("feedback is a JSON object".into()))?;
        // The entity by the kind's own word for it (`account`), or by the generic `entity`.
        let field = if body.contains_key(K::ENTITY) { K::ENTITY } else { "entity" };
        let entity = text(body, field, warden_desk::limits::NAME)?.to_lowercase();
        let word = text(body, "label", 64)?;
        let label = label_of::<K>(word)?;
        let reason = match body.get("reason") {
            None => String::new(),
            Some(_) => text(body, "reason", state.settings().review.max_reason_bytes)?.to_owned(),
        };
        let learned =
            self.judge(state, &entity, word, &format!("feedback:{}", K::Kind::NAME), &reason, now)?;
        Ok(json!({
            "entity": entity, "label": K::Kind::label_word(label),
            "outcome": if learned { "learned" } else { "not_kept" },
        }))
    }

    fn resolve(
        &self,
        state: &AppState,
        item: &ReviewItem,
        features: ReviewFeatures,
        r: Resolution<'_>,
    ) -> Result<(ReviewItem, Value), KindError> {
        let label = label_of::<K>(r.word)?;
        let entity = item
            .entity
            .clone()
            .ok_or_else(|| KindError::Bad(format!("review item {} names no entity", item.id)))?;
        item.may_resolve(r.who)?;
        let kept = KeptFeatures { at: item.at, extractor: 0, features: features.features };
        let verdict = verdict::<K>(state, &entity, label, Some(kept), r.who, r.reason, r.now)?;
        let mut resolved = None;
        let learned = self.learn_verdict(&entity, label, || {
            let done = state.review().resolve(
                item.id,
                r.who,
                r.word,
                r.reason,
                r.now,
                Some(Teach::Verdict(verdict)),
            )?;
            resolved = Some(done.item);
            Ok(done.taught)
        })?;
        let item = resolved.expect("resolved when learned");
        Ok((item, json!({ "outcome": if learned { "learned" } else { "none" } })))
    }

    fn restore(&self, state: &AppState) -> Result<u64, KindError> {
        let mut learned = self.learned.lock().expect("not poisoned");
        let (mut model, mut last) = self.start_from(state);
        let path = checkpoint_path(state, K::Kind::NAME);
        for (name, _) in self.kind.own_models() {
            let own = own_model_path(&path, name);
            if !own.exists() {
                continue;
            }
            match Model::load(&own).map_err(|e| e.to_string()).and_then(|m| {
                warden_engine::check_kind::<K::Kind>(&m).map_err(|e| e.to_string())?;
                Ok(m)
            }) {
                Ok(m) => self.kind.set_own_model(name, m),
                Err(why) => {
                    tracing::warn!(path = %own.display(), "{why}: the {} kind's {name} model starts from its starter", K::Kind::NAME)
                }
            }
        }
        let mut n = 0;
        state
            .taught()
            .each(K::Kind::NAME, last, &mut |seq, label, k| {
                model.learn(&FeatureVec::from_hashes(k.features), label);
                last = seq;
                n += 1;
            })
            .map_err(store)?;
        *self.model.write().expect("not poisoned") = model;
        *learned = last;
        Ok(n)
    }

    fn checkpoint(&self, state: &AppState) -> Result<u64, KindError> {
        let _saving = self.saving.lock().expect("not poisoned");
        let (mut model, seq) = {
            let learned = self.learned.lock().expect("not poisoned");
            (self.model.read().expect("not poisoned").clone(), *learned)
        };
        model.meta.checkpoint = Some(warden_learn::CheckpointMark { store: state.data_id().to_owned(), seq });
        let path = checkpoint_path(state, K::Kind::NAME);
        model.save_private(&path, false).map_err(store)?;
        // The kind's own models as they stand (lessons after this are not taught again at a
        // restart: they are not in the labels log's terms).
        for (name, own) in self.kind.own_models() {
            own.save_private(&own_model_path(&path, name), false).map_err(store)?;
        }
        Ok(seq)
    }

    fn decide(&self, event: &Value, arrival: u64, skew: u64, cx: Context<'_>) -> Result<Offline, KindError> {
        let started = std::time::Instant::now();
        let Common { event, kind, id, claimed } = common(event)?;
        if kind != K::Kind::NAME {
            return Err(KindError::Bad(format!("`kind` is {kind:?}, not {:?}", K::Kind::NAME)));
        }
        let time = EventTime::of(claimed, arrival, skew);
        let read = self.kind.read(event, &Context { at: time.at, ..cx })?;
        crate::text::check_field("entity", &read.entity, warden_desk::limits::NAME)
            .map_err(|e| KindError::Bad(e.to_string()))?;
        // The shared pipeline: the model, the kind's signals, its rules, its thresholds.
        let rules = self.rules.read().expect("not poisoned").clone();
        let (decision, outcome, version) = {
            let model = self.model.read().expect("not poisoned");
            let model_score = model.learner.predict(&read.features);
            let record = match (&rules, read.facts) {
                (Some(_), Some(mut facts)) => {
                    // The model's fields are every catalogue's last two.
                    let n = facts.catalogue().fields.len();
                    let model_fields = [
                        (n - 2, warden_rules::Value::Float(warden_core::sigmoid(model_score))),
                        (n - 1, warden_rules::Value::Float(model_score)),
                    ];
                    for (slot, value) in model_fields {
                        facts
                            .put(slot, value)
                            .map_err(|e| KindError::Bad(format!("the kind's facts: {e}")))?;
                    }
                    Some(facts)
                }
                _ => None,
            };
            let scored = Scored::<K::Kind> {
                model: &model,
                features: read.features.len(),
                model_score,
                points: read.signals.iter().map(|r| r.contribution).sum(),
                rules: rules.as_deref().zip(record.as_ref()),
                forced: None,
                reasons: read.signals.clone(),
            };
            let (decision, outcome) = combine(scored, &self.thresholds);
            (decision, outcome, model.version())
        };
        let Decision { action, score, probability, mut reasons, review } = decision;
        if time.clamped {
            reasons.push(Reason::new(
                "EVENT_TIME_CLAMPED",
                format!(
                    "The event's time was more than the allowed skew from its arrival; counted at {}.",
                    time.at
                ),
                0.0,
            ));
        }
        let mut decision = json!({
            "kind": K::Kind::NAME, "id": id, "entity": read.entity, "time": time.at,
            "action": action.as_str(), "score": score, "probability": probability, "review": review,
            "reasons": reasons.iter().map(|r| json!({"name": r.name, "description": r.description, "weight": r.contribution})).collect::<Vec<_>>(),
            "model_version": version,
        });
        for (field, value) in read.answer {
            decision[field] = value;
        }
        // The time deciding took, reading the event to the answer (not the answer's storage).
        decision["elapsed_us"] = (started.elapsed().as_micros() as u64).into();
        // Entities are named in lower case wherever they are kept, as labels name them.
        let entity = read.entity.to_lowercase();
        self.kind.decided(&entity, time.at, probability);
        Ok(Offline {
            id: id.to_owned(),
            entity,
            time,
            decision,
            action: action.as_str(),
            score,
            probability,
            reasons,
            review: [(review, "rule"), (action.asks_review(), "action")]
                .into_iter()
                .filter_map(|(asks, why)| asks.then_some(why))
                .collect(),
            features: read.features,
            effects: rules.zip(outcome),
        })
    }

    fn teach(&self, entity: &str, features: &FeatureVec, label: Label) {
        self.model.write().expect("not poisoned").learn(features, label);
        self.kind.taught(entity, label);
    }

    fn label(&self, word: &str) -> Option<Label> {
        K::Kind::label(word)
    }

    fn label_word(&self, label: Label) -> &'static str {
        K::Kind::label_word(label)
    }

    fn mildest(&self) -> &'static str {
        <K::Kind as Kind>::Action::mildest().as_str()
    }

    fn actions(&self) -> Vec<&'static str> {
        <K::Kind as Kind>::Action::ALL.iter().map(|a| a.as_str()).collect()
    }

    fn model(&self) -> Model {
        self.model.read().expect("not poisoned").clone()
    }

    fn set_model(&self, model: Model) {
        *self.model.write().expect("not poisoned") = model;
    }

    fn later(&self) -> Vec<Later> {
        self.kind.later()
    }

    fn memory_bytes(&self) -> usize {
        self.kind.memory_bytes()
    }

    fn own_models(&self) -> Vec<(&'static str, Model)> {
        self.kind.own_models()
    }

    fn forget_own_models(&self) {
        self.kind.forget_own_models();
    }

    fn erase(&self, entity_kind: &str, entity: &str) -> u64 {
        self.kind.erase(entity_kind, entity)
    }

    fn views(&self) -> &'static [&'static str] {
        self.kind.views()
    }

    fn view(&self, name: &str, id: Option<&str>) -> Option<Value> {
        self.kind.view(name, id)
    }

    fn view_entities(&self, name: &str, id: &str) -> Option<Vec<String>> {
        self.kind.view_entities(name, id)
    }

    fn judge(
        &self,
        state: &AppState,
        entity: &str,
        word: &str,
        by: &str,
        reason: &str,
        now: u64,
    ) -> Result<bool, KindError> {
        let label = label_of::<K>(word)?;
        let entity = entity.to_lowercase();
        let verdict = verdict::<K>(state, &entity, label, None, by, reason, now)?;
        self.learn_verdict(&entity, label, || Ok(state.taught().verdict(verdict)?))
    }

    fn report_names(&self) -> ReportNames {
        self.kind.report_names()
    }

    fn synth(&self, seed: u64, events: usize) -> Option<Synthetic> {
        self.kind.synth(seed, events)
    }

    fn catalogue(&self) -> Option<&'static warden_rules::Catalogue> {
        self.kind.catalogue()
    }

    fn set_rules(&self, rules: Option<Arc<RuleSet>>) {
        *self.rules.write().expect("not poisoned") = rules;
    }

    fn rules(&self) -> Option<Arc<RuleSet>> {
        self.rules.read().expect("not poisoned").clone()
    }
}

impl<K: JsonKind> Pipeline<K> {
    /// Writes a verdict with `write` and has the model learn what it taught, under the lock
    /// that keeps checkpoints honest: a checkpoint names only what the model holds, and a
    /// restart teaches what it does not. Whether it learned.
    fn learn_verdict(
        &self,
        entity: &str,
        label: Label,
        write: impl FnOnce() -> Result<Option<warden_desk::Taught>, KindError>,
    ) -> Result<bool, KindError> {
        let mut learned = self.learned.lock().expect("not poisoned");
        let Some(taught) = write()? else { return Ok(false) };
        self.model
            .write()
            .expect("not poisoned")
            .learn(&FeatureVec::from_hashes(taught.features.features), label);
        *learned = taught.seq;
        self.kind.taught(entity, label);
        Ok(true)
    }
}

/// The label `word` spells in kind `K`'s words, or an error naming the words it has.
fn label_of<K: JsonKind>(word: &str) -> Result<Label, KindError> {
    K::Kind::label(word).ok_or_else(|| {
        KindError::Bad(format!(
            "`label` is {word:?}: {} takes {}",
            K::Kind::NAME,
            K::Kind::LABELS.join(" or ")
        ))
    })
}

/// A verdict of `label` on `entity` of kind `K` by `by`, learned from `features` (`None`: those
/// kept for the entity): the label set by hand, and the other label, if in force, removed.
fn verdict<K: JsonKind>(
    state: &AppState,
    entity: &str,
    label: Label,
    features: Option<KeptFeatures>,
    by: &str,
    reason: &str,
    now: u64,
) -> Result<Verdict, KindError> {
    let set = |name: &str, active: bool| EntityLabel {
        kind: K::ENTITY.into(),
        entity: entity.to_owned(),
        label: name.into(),
        active,
        source: LabelSource::Manual,
        by: by.to_owned(),
        reason: reason.to_owned(),
        at: now,
        expires: None,
    };
    let mut labels = vec![set(K::Kind::label_word(label), true)];
    let other = K::Kind::label_word(if label.is_abusive() { Label::Legitimate } else { Label::Abusive });
    let held = state.labels().all(Some(K::ENTITY), Some(entity)).map_err(store)?;
    if held.iter().any(|l| l.label == other && l.holds(now)) {
        labels.push(set(other, false));
    }
    Ok(Verdict {
        kind: K::Kind::NAME.into(),
        label,
        entity: (K::ENTITY.into(), entity.to_owned()),
        features,
        labels,
    })
}

/// An analyst's resolution of a review item.
#[derive(Debug, Clone, Copy)]
pub struct Resolution<'a> {
    /// The analyst.
    pub who: &'a str,
    /// The label, in the item's kind's words.
    pub word: &'a str,
    /// Why.
    pub reason: &'a str,
    /// When, Unix seconds.
    pub now: u64,
}

/// The kinds the server serves on the generic routes, by name.
#[derive(Default)]
pub struct Registry(Vec<Arc<dyn Served>>);

impl Registry {
    /// Adds a kind; a second kind of the same name replaces the first.
    pub fn add(&mut self, kind: Arc<dyn Served>) {
        self.0.retain(|k| k.name() != kind.name());
        self.0.push(kind);
    }

    /// The kind named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Served>> {
        self.0.iter().find(|k| k.name() == name)
    }

    /// Every kind served.
    pub fn all(&self) -> &[Arc<dyn Served>] {
        &self.0
    }

    /// The kinds' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|k| k.name()).collect()
    }
}

/// Runs `work` off the async workers (a decision writes to the desk).
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, crate::ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| crate::ApiError::internal(format!("decision task failed: {e}")))
}

impl From<KindError> for crate::ApiError {
    fn from(e: KindError) -> Self {
        let status = match e {
            KindError::Bad(_) => axum::http::StatusCode::BAD_REQUEST,
            KindError::Store(_) => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            KindError::Desk(e) => return e.into(),
        };
        crate::ApiError::new(status, e.to_string())
    }
}

fn served(state: &AppState, name: &str) -> Result<Arc<dyn Served>, crate::ApiError> {
    state.kind(name).ok_or_else(|| {
        crate::ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!(
                "no kind of event named {name:?} is served here (served: {})",
                (state.plugins().iter().map(|p| p.name()))
                    .chain(state.kind_names())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}

/// `POST /v1/{kind}/check`: one event as a JSON object, answered with its decision; or JSON
/// lines, answered line for line in order (a bad line gets `{"id", "error"}`).
pub(crate) async fn check(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, crate::ApiError> {
    use axum::response::IntoResponse;
    let kind = served(&state, &name)?;
    let arrival = crate::unix_now();
    if let Ok(event) = serde_json::from_slice::<Value>(&body) {
        let st = state.clone();
        let decision = blocking(move || kind.check(&st, &event, arrival)).await??;
        return Ok(axum::Json(decision).into_response());
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| crate::ApiError::new(axum::http::StatusCode::BAD_REQUEST, "the body is not UTF-8"))?
        .to_owned();
    let st = state.clone();
    let out = blocking(move || {
        let mut out = Vec::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let answer = match serde_json::from_str::<Value>(line) {
                Err(e) => json!({ "id": null, "error": format!("not JSON: {e}") }),
                Ok(event) => match kind.check(&st, &event, arrival) {
                    Ok(d) => d,
                    Err(e) => json!({ "id": event.get("id").cloned().unwrap_or(Value::Null), "error": e.to_string() }),
                },
            };
            serde_json::to_writer(&mut out, &answer).expect("answers serialise");
            out.push(b'\n');
        }
        out
    })
    .await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/x-ndjson")], out).into_response())
}

/// `POST /v1/{kind}/feedback`: `{"entity", "label", "reason"?}`, a later verdict on an entity.
pub(crate) async fn feedback(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::Json<Value>, crate::ApiError> {
    let kind = served(&state, &name)?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|e| crate::ApiError::new(axum::http::StatusCode::BAD_REQUEST, format!("not JSON: {e}")))?;
    let st = state.clone();
    Ok(axum::Json(blocking(move || kind.feedback(&st, &body, crate::unix_now())).await??))
}

/// A kind that exists only in the tests (this crate's, and the binary's with the `probe`
/// feature, which no release build has): it plugs into the generic routes through [`JsonKind`]
/// alone, touching no other kind's code, as a new kind's crate would.
#[cfg(any(test, feature = "probe"))]
#[allow(missing_docs)]
pub mod probe {
    use warden_core::{FeatureSink, HashedSink, Namespace};
    use warden_learn::{FtrlParams, LearnerSpec, RehearsalParams};

    use serde_json::{Map, Value, json};
    use warden_core::{Action, Kind, Label, Reason, Thresholds};
    use warden_learn::Model;

    use super::{BadField, Context, JsonKind, Read, Synthetic};

    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub enum ProbeAction {
        Allow,
        /// Only a rule takes it (no threshold does): it asks for an analyst.
        Review,
        Block,
    }

    impl Action for ProbeAction {
        const ALL: &'static [Self] = &[ProbeAction::Allow, ProbeAction::Review, ProbeAction::Block];
        fn as_str(self) -> &'static str {
            match self {
                ProbeAction::Allow => "allow",
                ProbeAction::Review => "review",
                ProbeAction::Block => "block",
            }
        }
        fn asks_review(self) -> bool {
            self == ProbeAction::Review
        }
    }

    pub struct ProbeKind;

    impl Kind for ProbeKind {
        const NAME: &'static str = "probe";
        type Action = ProbeAction;
        const LABELS: [&'static str; 2] = ["abusive", "legitimate"];
    }

    /// Events `{kind, id, time, account, words: [..], captcha?}`.
    pub struct Probe;

    const WORDS: Namespace = Namespace::new("probe_word");

    /// What rules read of a probe event.
    static FIELDS: [warden_rules::FieldDef; 5] = {
        use warden_rules::{FieldDef, Type};
        let [probability, score] = warden_rules::Catalogue::MODEL_FIELDS;
        [
            FieldDef::new("probe.account", Type::Str, "the account, lower case").naming("account"),
            FieldDef::new("probe.words", Type::StrList, "the words"),
            FieldDef::new("probe.captcha", Type::Str, "passed, failed or none"),
            probability,
            score,
        ]
    };
    static CATALOGUE: warden_rules::Catalogue = warden_rules::Catalogue {
        kind: "probe",
        version: 1,
        fields: &FIELDS,
        actions: &["allow", "review", "block"],
    };

    /// The probe's rule catalogue.
    pub fn catalogue() -> &'static warden_rules::Catalogue {
        &CATALOGUE
    }

    impl JsonKind for Probe {
        type Kind = ProbeKind;
        const ENTITY: &'static str = "account";

        fn read(&self, event: &Map<String, Value>, _cx: &Context<'_>) -> Result<Read, BadField> {
            let entity = (event.get("account").and_then(Value::as_str))
                .ok_or_else(|| BadField::new("account", "is missing"))?
                .to_owned();
            let words = (event.get("words").and_then(Value::as_array))
                .ok_or_else(|| BadField::new("words", "is not a list"))?;
            let mut sink = HashedSink::new();
            for w in words {
                sink.add(
                    WORDS,
                    w.as_str().ok_or_else(|| BadField::new("words", "holds a non-string"))?.as_bytes(),
                );
            }
            let mut signals = Vec::new();
            if event.get("captcha").and_then(Value::as_str) == Some("failed") {
                signals.push(Reason::new("CAPTCHA_FAILED", "The sign-up failed its captcha.", 2.0));
            }
            let mut facts = warden_rules::Record::new(&CATALOGUE);
            let text = |v: Option<&str>| {
                v.map_or(warden_rules::Value::Missing, |s| warden_rules::Value::Str(s.to_lowercase()))
            };
            let list = words.iter().filter_map(Value::as_str).map(str::to_lowercase).collect();
            for (slot, value) in [
                (0, text(Some(&entity))),
                (1, warden_rules::Value::StrList(list)),
                (2, text(event.get("captcha").and_then(Value::as_str))),
            ] {
                facts.put(slot, value).expect("each slot's type");
            }
            Ok(Read { entity, features: sink.finish(), signals, facts: Some(facts), answer: Map::new() })
        }

        fn catalogue(&self) -> Option<&'static warden_rules::Catalogue> {
            Some(&CATALOGUE)
        }

        fn thresholds(&self) -> Thresholds<ProbeAction> {
            Thresholds::new(ProbeAction::Allow, vec![(1.0, ProbeAction::Block)]).expect("rising")
        }

        fn starter(&self) -> Model {
            let spec = LearnerSpec::Ftrl(FtrlParams { alpha: 0.5, bits: 12, ..FtrlParams::default() });
            Model::new(
                "probe",
                spec,
                Value::Null,
                RehearsalParams { capacity: 0, ..RehearsalParams::default() },
            )
        }

        /// One event a minute from 2026-01-01, from accounts `a-0` … (about two events each);
        /// three accounts in eight are abusive and use the spammers' words (with an ordinary
        /// one now and then), the others ordinary words.
        fn synth(&self, seed: u64, events: usize) -> Option<Synthetic> {
            const BAD: [&str; 4] = ["free", "crypto", "now", "winner"];
            const GOOD: [&str; 4] = ["meeting", "notes", "today", "thanks"];
            let mut x = seed | 1;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let start = 1_767_225_600; // 2026-01-01T00:00:00Z
            let time = |t: u64| {
                time::OffsetDateTime::from_unix_timestamp(t as i64)
                    .expect("in range")
                    .format(&time::format_description::well_known::Rfc3339)
                    .expect("formats")
            };
            let mut out = Synthetic::default();
            for i in 0..events {
                let account = next() % (events as u64 / 2 + 1);
                let abusive = account % 8 < 3;
                let words: Vec<&str> = (0..3)
                    .map(|_| {
                        let pick = (next() % 4) as usize;
                        if abusive && next() % 5 != 0 { BAD[pick] } else { GOOD[pick] }
                    })
                    .collect();
                out.events.push(
                    json!({"kind": "probe", "id": format!("e-{i}"), "time": time(start + 60 * i as u64),
                    "account": format!("a-{account}"), "words": words}),
                );
            }
            out.labels = (0..events as u64 / 2 + 1)
                .map(|a| (format!("a-{a}"), if a % 8 < 3 { Label::Abusive } else { Label::Legitimate }))
                .collect();
            Some(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::probe::Probe;
    use super::*;
    use crate::testing::{TOKEN, call_from, state_in};

    fn now_rfc3339(offset: i64) -> String {
        let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset);
        t.format(&time::format_description::well_known::Rfc3339).unwrap()
    }

    async fn post(app: &axum::Router, uri: &str, body: &str) -> (StatusCode, Vec<u8>) {
        let bearer = format!("Bearer {TOKEN}");
        let headers = [("authorization", bearer.as_str()), ("content-type", "application/json")];
        call_from(app.clone(), [127, 0, 0, 1], "POST", uri, &headers, body.as_bytes()).await
    }

    fn json(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_kinds_rules_decide_count_and_label_and_reload_whole() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("probe.rules");
        let good = r#"
counter events_per_account: count by probe.account over 1h
rule CRYPTO { description: "crypto words" when: probe.words in ["crypto"] then: action block }
rule BURST { when: events_per_account >= 3 then: label probe.account "burst" for 1d }
rule MAYBE { when: probe.words in ["maybe"] then: action review }
rule ASK { when: probe.words in ["ask"] then: review }
"#;
        std::fs::write(&rules, good).unwrap();
        let mut settings = crate::Settings::default();
        settings.rules.kinds.insert("probe".into(), vec![rules.clone()]);
        let state = state_in(dir.path().join("data").as_path(), settings);
        state.register_kind(Arc::new(Pipeline::new(Probe))).unwrap();
        let scan = crate::scan_router(state.clone());
        let event = |id: &str, account: &str, word: &str| {
            format!(
                r#"{{"kind": "probe", "id": "{id}", "time": "{}", "account": "{account}", "words": ["{word}"]}}"#,
                now_rfc3339(0)
            )
        };
        let check = |body: String| {
            let scan = scan.clone();
            async move { json(&post(&scan, "/v1/probe/check", &body).await.1) }
        };
        // A rule forces its action, and says so.
        let d = check(event("e-1", "a-1", "crypto")).await;
        assert_eq!(d["action"], "block", "{d}");
        let names: Vec<&str> =
            d["reasons"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
        assert!(names.contains(&"RULE:CRYPTO"), "{names:?}");
        assert_eq!(check(event("e-0", "a-0", "hello")).await["action"], "allow");
        // A counter counts each event once (a repeated id is not counted again) and a rule labels.
        for id in ["e-2", "e-3", "e-3", "e-4"] {
            check(event(id, "A-2", "hello")).await;
        }
        let held = state.labels().all(Some("account"), Some("a-2")).unwrap();
        assert!(held.iter().any(|l| l.label == "burst" && l.by == "rule:BURST"), "{held:?}");
        assert!(state.labels().all(Some("account"), Some("a-0")).unwrap().is_empty());
        let mut record = warden_rules::Record::new(super::probe::catalogue());
        record.put(0, warden_rules::Value::Str("a-2".into())).unwrap();
        let live = state.kind("probe").unwrap().rules().unwrap();
        assert_eq!(live.evaluate(&record).counters[0], Some(4.0), "e-3 once, and this one");
        // Counts are kept with their decisions, under the kind's name: a fresh store rebuilds them.
        let fresh = warden_rules::counters::LocalCounters::default();
        let again = crate::reload::load_rules_of(
            std::slice::from_ref(&rules),
            super::probe::catalogue(),
            Some("probe"),
            Some(state.desk()),
            &fresh,
        )
        .unwrap()
        .unwrap();
        assert_eq!(again.evaluate(&record).counters[0], Some(4.0), "three kept, and this one");
        // Review: an action that asks for an analyst, and a rule that asks, queue the event's
        // item, named by kind and entity; an analyst resolves it in the kind's words, which
        // labels the entity and teaches the model, once.
        assert_eq!(check(event("e-m", "a-m", "maybe")).await["action"], "review");
        assert_eq!(check(event("e-k", "a-k", "ask")).await["review"], true);
        check(event("e-m", "a-m", "maybe")).await; // repeated: queued once
        let controller = crate::controller_router(state.clone());
        let bearer = format!("Bearer {TOKEN}");
        let desk = |method: &'static str, uri: String, body: &'static str| {
            let (controller, bearer) = (controller.clone(), bearer.clone());
            async move {
                let (status, body) = call_from(
                    controller,
                    [127, 0, 0, 1],
                    method,
                    &uri,
                    &[("authorization", &bearer), ("content-type", "application/json")],
                    body.as_bytes(),
                )
                .await;
                (status, json(&body))
            }
        };
        let (_, listed) = desk("GET", "/v1/review".into(), "").await;
        let items = listed["items"].as_array().unwrap();
        let whys: Vec<(&str, &str, &str)> = items
            .iter()
            .map(|i| {
                (i["kind"].as_str().unwrap(), i["entity"].as_str().unwrap(), i["why"][0].as_str().unwrap())
            })
            .collect();
        assert_eq!(whys, [("probe", "a-k", "rule"), ("probe", "a-m", "action")], "{listed}");
        let id = items[1]["id"].as_u64().unwrap();
        let resolve = |body| desk("POST", format!("/v1/review/{id}/resolve"), body);
        let (status, e) = resolve(r#"{"label": "spam", "reason": "kit"}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "mail's word is not the kind's: {e}");
        assert!(e["error"].as_str().unwrap().contains("abusive or legitimate"), "{e}");
        let score = |d: Value| d["score"].as_f64().unwrap();
        let before = score(check(event("e-m2", "a-x", "maybe")).await);
        let (status, done) = resolve(r#"{"label": "abusive", "reason": "a farm"}"#).await;
        assert_eq!(status, StatusCode::OK, "{done}");
        assert_eq!(
            (done["item"]["label"].as_str(), done["feedback"]["outcome"].as_str()),
            (Some("abusive"), Some("learned"))
        );
        assert!(
            score(check(event("e-m3", "a-y", "maybe")).await) > before + 0.1,
            "the model learned the item"
        );
        let held = state.labels().all(Some("account"), Some("a-m")).unwrap();
        assert!(held.iter().any(|l| l.label == "abusive" && l.holds(crate::unix_now())), "{held:?}");
        assert_eq!(resolve(r#"{"label": "legitimate", "reason": "again"}"#).await.0, StatusCode::CONFLICT);
        assert_eq!(state.taught().last("probe").unwrap(), 1, "taught once");

        // A set that fails to check is refused whole; the running one stays.
        std::fs::write(&rules, "rule BROKEN { when: probe.nope == 1 then: action block }").unwrap();
        assert!(state.reload_rules().is_err());
        assert_eq!(check(event("e-5", "a-5", "crypto")).await["action"], "block");
        // A kind named in [rules.kinds] that is not served is an error naming it.
        std::fs::write(&rules, good).unwrap();
        let mut other = crate::settings::RulesConfig::default();
        other.kinds.insert("nosuch".into(), vec![rules.clone()]);
        let Err(e) = state.all_rules(&other) else { panic!("an unserved kind's rules are refused") };
        assert!(e.to_string().contains("\"nosuch\""), "{e}");
    }

    #[tokio::test]
    async fn a_kind_of_its_own_decides_remembers_learns_is_audited_and_answers_for_its_entities() {
        let dir = tempfile::tempdir().unwrap();
        let state = state_in(dir.path(), crate::Settings::default());
        assert_eq!(state.register_kind(Arc::new(Pipeline::new(Probe))).unwrap(), 0, "nothing learned yet");
        let (scan, controller) = (crate::scan_router(state.clone()), crate::controller_router(state.clone()));
        let event = |id: &str, account: &str, extra: &str| {
            format!(
                r#"{{"kind": "probe", "id": "{id}", "time": "{}", "account": "{account}", "words": ["free", "crypto", "now"]{extra}}}"#,
                now_rfc3339(0)
            )
        };

        // Decides: an untrained model lets it through; a failed captcha weighs on its own.
        let (status, body) = post(&scan, "/v1/probe/check", &event("e-1", "A-1", "")).await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let first = json(&body);
        assert_eq!((first["action"].as_str(), first["repeated"].as_bool()), (Some("allow"), Some(false)));
        let before = first["score"].as_f64().unwrap();
        let captcha =
            json(&post(&scan, "/v1/probe/check", &event("e-c", "a-c", r#", "captcha": "failed""#)).await.1);
        assert_eq!(captcha["action"], "block");
        // As for mail: the model's reason, then the kind's named signals.
        assert_eq!(
            (captcha["reasons"][0]["name"].as_str(), captcha["reasons"][1]["name"].as_str()),
            (Some("MODEL"), Some("CAPTCHA_FAILED"))
        );
        let model = captcha["reasons"][0]["description"].as_str().unwrap();
        assert!(model.contains("P(abusive)"), "{model}");

        // Remembers: the same id again gets the same decision and counts once.
        let again = json(&post(&scan, "/v1/probe/check", &event("e-1", "A-1", "")).await.1);
        assert_eq!(
            (again["score"].clone(), again["repeated"].as_bool()),
            (first["score"].clone(), Some(true))
        );

        // Is audited: one decision entry for e-1, the account by keyed hash.
        let bearer = format!("Bearer {TOKEN}");
        let audit = call_from(
            controller.clone(),
            [127, 0, 0, 1],
            "GET",
            "/v1/audit",
            &[("authorization", &bearer)],
            b"",
        )
        .await
        .1;
        let audit = String::from_utf8(audit).unwrap();
        let decisions: Vec<Value> =
            audit.lines().map(|l| json(l.as_bytes())).filter(|e| e["kind"] == "decision").collect();
        assert_eq!(decisions.len(), 2, "e-1 once, e-c once: {audit}");
        assert!(!audit.contains("a-1"), "the account is a keyed hash in the audit log");

        // Answers for its entity: features kept until the label comes.
        let entity = |id: &'static str| {
            let controller = controller.clone();
            let bearer = bearer.clone();
            async move {
                json(
                    &call_from(
                        controller,
                        [127, 0, 0, 1],
                        "GET",
                        &format!("/v1/entities/account/{id}"),
                        &[("authorization", &bearer)],
                        b"",
                    )
                    .await
                    .1,
                )
            }
        };
        assert_eq!(entity("a-1").await["features_kept"], true);

        // Learns from feedback: the label names the account, in the kind's words.
        let (status, body) = post(&scan, "/v1/probe/feedback", r#"{"entity": "a-1", "label": "spam"}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "mail's words are not this kind's");
        assert!(String::from_utf8_lossy(&body).contains("abusive or legitimate"));
        let fb = json(
            &post(
                &scan,
                "/v1/probe/feedback",
                r#"{"entity": "a-1", "label": "abusive", "reason": "sent spam"}"#,
            )
            .await
            .1,
        );
        assert_eq!(fb["outcome"], "learned");
        let after = json(&post(&scan, "/v1/probe/check", &event("e-2", "a-2", "")).await.1);
        assert!(after["score"].as_f64().unwrap() > before + 0.3, "the same words score higher: {after}");
        let state_a1 = entity("a-1").await;
        assert_eq!(state_a1["in_force"], serde_json::json!(["abusive"]), "the verdict is the entity's state");
        assert_eq!(state_a1["features_kept"], false, "learned once, then let go");
        // A restart teaches a new model what this one learned: the same score for the same words.
        let restarted = Pipeline::new(Probe);
        assert_eq!(restarted.restore(&state).unwrap(), 1);
        let probe = |p: &dyn Served, id: &str| {
            let e: Value = serde_json::from_str(&event(id, "a-9", "")).unwrap();
            p.check(&state, &e, crate::unix_now()).unwrap()["score"].as_f64().unwrap()
        };
        let live = state.kind("probe").unwrap();
        assert_eq!(probe(&restarted, "e-r1"), probe(&*live, "e-r2"));
        assert!(
            probe(&Pipeline::new(Probe), "e-r3") < probe(&restarted, "e-r4") - 0.3,
            "the starter alone has not"
        );
        // Checkpointed, a restart begins from the checkpoint and is taught only what came after.
        let (_, body) = call_from(
            controller.clone(),
            [127, 0, 0, 1],
            "POST",
            "/v1/admin/checkpoint",
            &[("authorization", &bearer)],
            b"",
        )
        .await;
        assert_eq!(json(&body)["kinds"]["probe"], 1, "the checkpoint holds label 1");
        assert!(dir.path().join("probe.wdm").exists());
        let fb =
            json(&post(&scan, "/v1/probe/feedback", r#"{"account": "a-2", "label": "abusive"}"#).await.1);
        assert_eq!(fb["outcome"], "learned");
        let from_checkpoint = Pipeline::new(Probe);
        assert_eq!(from_checkpoint.restore(&state).unwrap(), 1, "label 2 only");
        assert_eq!(probe(&from_checkpoint, "e-r5"), probe(&*live, "e-r6"));
        // A damaged checkpoint is set aside: every label is taught again, to the same model.
        std::fs::write(dir.path().join("probe.wdm"), b"not a model").unwrap();
        let afresh = Pipeline::new(Probe);
        assert_eq!(afresh.restore(&state).unwrap(), 2, "labels 1 and 2");
        assert_eq!(probe(&afresh, "e-r7"), probe(&*live, "e-r8"));
        assert_eq!(afresh.checkpoint(&state).unwrap(), 2);
        // A checkpoint past the end of the log (a log made anew by a repair) is set aside too.
        let path = dir.path().join("probe.wdm");
        let mut m = Model::load(&path).unwrap();
        m.meta.checkpoint.as_mut().unwrap().seq = 99;
        m.save_private(&path, false).unwrap();
        let past = Pipeline::new(Probe);
        assert_eq!(past.restore(&state).unwrap(), 2, "every label again, not none");
        assert_eq!(probe(&past, "e-r9"), probe(&*live, "e-r10"));
        let fb =
            json(&post(&scan, "/v1/probe/feedback", r#"{"entity": "a-1", "label": "legitimate"}"#).await.1);
        assert_eq!(fb["outcome"], "not_kept", "nothing left to learn, the label still stands");
        assert_eq!(
            entity("a-1").await["in_force"],
            serde_json::json!(["legitimate"]),
            "the other label is removed"
        );

        // Bad events name the field; a batch answers line for line.
        let (status, body) =
            post(&scan, "/v1/probe/check", r#"{"kind": "probe", "time": "2026-01-01T00:00:00Z"}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(String::from_utf8_lossy(&body).contains("`id` is missing"));
        let batch = format!(
            "{}\n{{\"kind\": \"probe\", \"id\": \"e-4\", \"time\": \"yesterday\"}}\n",
            event("e-3", "a-3", "")
        );
        let (status, body) = post(&scan, "/v1/probe/check", &batch).await;
        assert_eq!(status, StatusCode::OK);
        let lines: Vec<Value> =
            String::from_utf8(body).unwrap().lines().map(|l| json(l.as_bytes())).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["id"], "e-3");
        assert_eq!(lines[1]["id"], "e-4");
        assert!(lines[1]["error"].as_str().unwrap().contains("RFC 3339"));
        // An event from another day is counted at the edge of the skew, and says so.
        let old = format!(
            r#"{{"kind": "probe", "id": "e-5", "time": "{}", "account": "a-5", "words": []}}"#,
            now_rfc3339(-86_400)
        );
        let clamped = json(&post(&scan, "/v1/probe/check", &old).await.1);
        assert!(
            clamped["reasons"].as_array().unwrap().iter().any(|r| r["name"] == "EVENT_TIME_CLAMPED"),
            "{clamped}"
        );
        // A kind not served is a 404 that lists those that are.
        let (status, body) = post(&scan, "/v1/login/check", &event("e-6", "a-6", "")).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(String::from_utf8_lossy(&body).contains("probe"));
    }
}
