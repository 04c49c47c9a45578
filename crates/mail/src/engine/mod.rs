//! Mail on the shared pipeline (`warden-engine`): raw bytes → features and facts → model
//! score → rules and thresholds → a [`Decision`] with its reasons. What is mail's own: the
//! extraction, the named signals and their points, GTUBE (it forces `reject` before anything
//! else), the families reasons are told by, the configuration and the starter model.

mod config;

pub use config::{ActionThresholds, Config, ConfigError, ExplainConfig, ThresholdConfig, ThresholdSource};

use std::sync::Arc;

use warden_core::{
    Decision, Event, FeatureVec, HashedSink, Kind, NamedSink, Reason, Recorded, RecordingSink, feature_hash,
    sigmoid,
};
use warden_engine::explain::{Shown, by_family, coverage};
use warden_engine::{Scored, combine};
use warden_learn::{Model, ModelError, OnlineLearner};
use warden_rules::{Outcome, RuleSet};

use crate::explain::FAMILIES;
use crate::extract::ns::SIGNAL;
use crate::{Context, Mail, MailAction, MailConfig, MailFacts, MailKind, MailLabel};

/// The starter model that ships inside the binary (see the README for what it learned).
static STARTER_MODEL: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/starter.wdm"));

/// Loads the starter model.
pub fn starter_model() -> Result<Model, ModelError> {
    Model::from_bytes(STARTER_MODEL)
}

/// Decides on mail messages with one model and one configuration.
#[derive(Debug, Clone)]
pub struct MailEngine {
    model: Model,
    config: Config,
    thresholds: warden_core::Thresholds<MailAction>,
    /// The thresholds in force and where each came from (see [`ThresholdConfig::resolve`]).
    in_force: (ActionThresholds, [ThresholdSource; 3]),
    rules: Option<Arc<RuleSet>>,
    /// The points each named signal adds to the score (`[signals]` over the built-in ones).
    signal_points: Vec<(&'static str, f64)>,
}

impl MailEngine {
    /// An engine over `model` with `config`.
    ///
    /// Features must be extracted as the model learned them: when the model records its
    /// extractor settings, those replace the configuration's `[mail]` section.
    /// A model that has not been used yet (extractor version 0) is stamped with this build's
    /// extractor version; one made by another version is refused.
    pub fn new(mut model: Model, mut config: Config) -> Result<Self, ConfigError> {
        warden_engine::check_kind::<MailKind>(&model)
            .map_err(|e| ConfigError::Kind { model: e.model, this: e.this })?;
        let in_force = config.thresholds.resolve(ActionThresholds::of_model(&model)?.as_ref());
        let thresholds = in_force.0.build()?;
        let signal_points = config.signal_points()?;
        match model.meta.extractor_version {
            0 => model.meta.extractor_version = crate::EXTRACTOR_VERSION,
            v if v != crate::EXTRACTOR_VERSION => {
                return Err(ConfigError::ExtractorVersion { model: v, this: crate::EXTRACTOR_VERSION });
            }
            _ => {}
        }
        if let Ok(mut mail) = serde_json::from_value::<MailConfig>(model.meta.extractor.clone()) {
            // The site's own domains and brands are the site's, whatever the model learned with.
            mail.own_domains = std::mem::take(&mut config.mail.own_domains);
            mail.own_brands = std::mem::take(&mut config.mail.own_brands);
            config.mail = mail;
        }
        Ok(MailEngine { model, config, thresholds, in_force, rules: None, signal_points })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The model, to save it.
    pub fn into_model(self) -> Model {
        self.model
    }

    /// The configuration in force (its `[mail]` section is the model's, see [`MailEngine::new`]).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Replaces the configuration (thresholds, explanations); the model keeps its own
    /// extractor settings, as in [`MailEngine::new`].
    pub fn set_config(&mut self, mut config: Config) -> Result<(), ConfigError> {
        let in_force = config.thresholds.resolve(ActionThresholds::of_model(&self.model)?.as_ref());
        // Both checked before either is taken: a configuration is taken whole or not at all.
        let (points, thresholds) = (config.signal_points()?, in_force.0.build()?);
        self.signal_points = points;
        self.thresholds = thresholds;
        self.in_force = in_force;
        config.mail = self.config.mail.clone();
        self.config = config;
        Ok(())
    }

    /// The action thresholds in force, and where each came from (junk, quarantine, reject):
    /// the configuration file's, then the model's own, then the built-in ones.
    pub fn thresholds(&self) -> (ActionThresholds, [ThresholdSource; 3]) {
        self.in_force
    }

    /// Sets (or, with `None`, removes) the analysts' rules every decision runs.
    pub fn set_rules(&mut self, rules: Option<Arc<RuleSet>>) {
        self.rules = rules;
    }

    /// The rules in force.
    pub fn rules(&self) -> Option<&Arc<RuleSet>> {
        self.rules.as_ref()
    }

    /// The model, to learn into it directly.
    pub fn model_mut(&mut self) -> &mut Model {
        &mut self.model
    }

    /// The mail extraction settings in force.
    pub fn mail_config(&self) -> &MailConfig {
        &self.config.mail
    }

    /// The points a named signal adds to the score.
    pub fn signal_points(&self, name: &str) -> f64 {
        self.signal_points.iter().find(|(n, _)| *n == name).map_or(0.0, |p| p.1)
    }

    /// The points of the signals found, summed.
    fn points_of(&self, signals: &[crate::extract::Signal]) -> f64 {
        signals.iter().map(|s| self.signal_points(s.name)).sum()
    }

    /// The hashed features of a raw message.
    pub fn features(&self, raw: &[u8]) -> FeatureVec {
        self.parse_and_extract(raw, None).1
    }

    /// Parses and extracts, and fills `facts` for the rules when given.
    fn parse_and_extract<'a>(
        &'a self,
        raw: &'a [u8],
        facts: Option<&mut MailFacts>,
    ) -> (Mail<'a>, FeatureVec) {
        let (mail, x, _) = self.parse_and_extract_points(raw, facts);
        (mail, x)
    }

    /// [`MailEngine::parse_and_extract`], with the points of the signals found.
    fn parse_and_extract_points<'a>(
        &'a self,
        raw: &'a [u8],
        facts: Option<&mut MailFacts>,
    ) -> (Mail<'a>, FeatureVec, f64) {
        let mail = Mail::parse(raw, &self.config.mail);
        // The model's weights start loading while extraction goes on.
        let mut sink = HashedSink::looking(self.model.learner.warmer());
        let found = crate::extract::extract_with(&mail, &mut sink, facts);
        let points = self.points_of(&found.signals);
        (mail, sink.finish(), points)
    }

    /// The readable names of a raw message's features, each with its weight in the model,
    /// strongest first.
    pub fn named_features(&self, raw: &[u8]) -> Vec<(String, f64)> {
        self.parse_and_name(raw).2
    }

    /// Extracts into a [`NamedSink`]: the message, its features, and their names with their
    /// weights, strongest first (ties by name, so the order is stable).
    fn parse_and_name<'a>(&'a self, raw: &'a [u8]) -> (Mail<'a>, FeatureVec, Vec<(String, f64)>) {
        let mail = Mail::parse(raw, &self.config.mail);
        let mut sink = NamedSink::new();
        mail.extract(&mut sink);
        let (x, mut names) = sink.finish();
        let mut weighed: Vec<(String, f64)> = x
            .hashes()
            .iter()
            .map(|h| (names.remove(h).unwrap_or_default(), self.model.learner.contribution(*h)))
            .collect();
        weighed.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then_with(|| a.0.cmp(&b.0)));
        (mail, x, weighed)
    }

    /// The model's log-odds for a feature vector.
    pub fn score(&self, x: &FeatureVec) -> f64 {
        self.model.learner.predict(x)
    }

    /// Learns a labelled message online.
    pub fn learn(&mut self, raw: &[u8], label: MailLabel) {
        let x = self.features(raw);
        self.learn_features(&x, label);
    }

    /// Learns an already extracted message.
    pub fn learn_features(&mut self, x: &FeatureVec, label: MailLabel) {
        self.model.learn(x, label.into());
    }

    /// Learns an already extracted and scored message (`score` from [`MailEngine::score`]).
    pub fn learn_scored(&mut self, x: &FeatureVec, label: MailLabel, score: f64) {
        self.model.learn_scored(x, label.into(), score);
    }

    /// Decides on a raw message. Reasons name the verdict's source only; see
    /// [`MailEngine::decide_explained`] for the features behind it.
    pub fn decide(&self, raw: &[u8]) -> Decision<MailAction> {
        if self.rules.is_none() {
            let (mail, x, points) = self.parse_and_extract_points(raw, None);
            return self.finish(&mail, &x, (self.score(&x), points), Vec::new(), None).0;
        }
        self.decide_detailed(raw).decision
    }

    /// Decides on a raw message and gives what went into the decision: its features (to learn
    /// them), the model's own log-odds, and what the rules made of it (`None` without rules).
    pub fn decide_detailed(&self, raw: &[u8]) -> Detailed {
        let mut facts = MailFacts::default();
        let (mail, x, signal_points) =
            self.parse_and_extract_points(raw, self.rules.is_some().then_some(&mut facts));
        let model_score = self.score(&x);
        let facts = self.rules.is_some().then_some(facts);
        let (decision, outcome) =
            self.finish(&mail, &x, (model_score, signal_points), Vec::new(), facts.as_ref());
        Detailed { decision, features: x, model_score, signal_points, outcome, facts }
    }

    /// Decides on a raw message and names the features that weighed most, rebuilt from the
    /// message itself (the model holds no names). The score is the one [`MailEngine::decide`]
    /// gives: the features are found by their hashes first, and only the strongest few are
    /// named, from the token bytes the extraction kept.
    pub fn decide_explained(&self, raw: &[u8]) -> Decision<MailAction> {
        self.decide_explained_features(raw).0
    }

    /// [`MailEngine::decide_explained`], with the message's features (to learn it later).
    pub fn decide_explained_features(&self, raw: &[u8]) -> (Decision<MailAction>, FeatureVec) {
        let e = self.decide_explained_features_with(raw, Context::default(), |_| {});
        (e.decision, e.features)
    }

    /// The facts rules read about a message (sender, subject, URL domains, …), without
    /// deciding: what a review item shows an analyst.
    pub fn facts(&self, raw: &[u8]) -> MailFacts {
        let mut facts = MailFacts::default();
        self.parse_and_extract(raw, Some(&mut facts));
        facts
    }

    /// [`MailEngine::decide_explained_features`] on a message received with `context` (the
    /// receiving side's own authentication verdicts, [`Context`]), letting the caller correct the facts rules
    /// read with what it knows better than the message does (the SMTP envelope's client
    /// address and HELO name) and keep its history of them (when a sender domain was first
    /// seen). `adjust` is called on every decision; without rules, on facts that hold the sender's
    /// domain alone (from the extraction), which is all that is read without them.
    pub fn decide_explained_features_with(
        &self,
        raw: &[u8],
        context: Context<'_>,
        adjust: impl FnOnce(&mut MailFacts),
    ) -> Detailed {
        let mail = Mail::parse_in(raw, &self.config.mail, context);
        let mut sink = RecordingSink::looking(8192, self.model.learner.warmer());
        let mut facts = MailFacts::default();
        let want_facts = self.rules.is_some();
        let found = crate::extract::extract_with(&mail, &mut sink, want_facts.then_some(&mut facts));
        if !want_facts {
            facts.from_domain = found.from_domain;
        }
        adjust(&mut facts);
        let (x, recorded) = sink.finish();
        let mut weights = Vec::new();
        let score = self.model.learner.predict_contributions(&x, &mut weights);
        let signal_points = self.points_of(&found.signals);
        let mut features = self.signal_reasons(found.signals);
        let room = self.config.explain.reasons.saturating_sub(features.len());
        features.extend(self.families(&recorded, &x, &weights).into_iter().take(room));
        let (decision, outcome) =
            self.finish(&mail, &x, (score, signal_points), features, want_facts.then_some(&facts));
        Detailed {
            decision,
            features: x,
            model_score: score,
            signal_points,
            outcome,
            facts: want_facts.then_some(facts),
        }
    }

    /// How much of the model's log-odds, without the bias, and the signals' points an
    /// explained decision's reasons account for: |the sum of the reasons' contributions, `MODEL`
    /// left out| over |log-odds − bias + points|. 1 when there is nothing to explain. Rules'
    /// points are not the model's and are left out of both.
    pub fn reasons_coverage(&self, d: &Detailed) -> f64 {
        coverage(&d.decision.reasons, d.model_score, self.model.learner.bias(), d.signal_points)
    }

    /// The named signals as reasons, strongest first: each its sentence, and its points with
    /// what its feature weighs in the model.
    fn signal_reasons(&self, signals: Vec<crate::extract::Signal>) -> Vec<Reason> {
        let mut reasons: Vec<Reason> = signals
            .into_iter()
            .take(self.config.explain.reasons)
            .map(|s| {
                let weight = self.model.learner.contribution(feature_hash(SIGNAL, s.name.as_bytes()));
                Reason::new(s.name, s.sentence, weight + self.signal_points(s.name))
            })
            .collect();
        reasons.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
        reasons
    }

    /// The model's reasons: its log-odds summed by family ([`FAMILIES`]), strongest first,
    /// each with the features that weighed most in its direction as its evidence.
    fn families(&self, recorded: &Recorded, x: &FeatureVec, weights: &[f64]) -> Vec<Reason> {
        let shown = Shown {
            reasons: self.config.explain.reasons,
            evidence: self.config.explain.evidence,
            words: MailKind::LABELS,
        };
        by_family(&FAMILIES, shown, recorded, x, weights)
    }

    /// Combines the model and the rules into one decision ([`warden_engine::combine`]): GTUBE
    /// rejects before anything else; then an enforced rule's `allow`, the harshest action an
    /// enforced rule forces, or the score against the thresholds.
    fn finish(
        &self,
        mail: &Mail<'_>,
        x: &FeatureVec,
        (model_score, signal_points): (f64, f64),
        features: Vec<Reason>,
        facts: Option<&MailFacts>,
    ) -> (Decision<MailAction>, Option<Outcome>) {
        let record = match (&self.rules, facts) {
            (Some(_), Some(facts)) => Some(facts.record(sigmoid(model_score), model_score)),
            _ => None,
        };
        let gtube =
            Reason::new("GTUBE", "The message carries the GTUBE test string, which is always rejected.", 0.0);
        let scored = Scored::<MailKind> {
            model: &self.model,
            features: x.len(),
            model_score,
            points: signal_points,
            rules: self.rules.as_deref().zip(record.as_ref()),
            forced: mail.is_gtube().then_some((MailAction::Reject, gtube)),
            reasons: features,
        };
        combine(scored, &self.thresholds)
    }
}

/// A decision with what went into it (see [`MailEngine::decide_detailed`] and
/// [`MailEngine::decide_explained_features_with`]).
#[derive(Debug)]
pub struct Detailed {
    /// The decision (explained: with the strongest features among its reasons).
    pub decision: Decision<MailAction>,
    /// The message's features.
    pub features: FeatureVec,
    /// The model's log-odds, before any rule and without the signals' points.
    pub model_score: f64,
    /// The points the named signals added to the score (`[signals]`).
    pub signal_points: f64,
    /// What the rules made of it (with its counter updates and label changes), with rules.
    pub outcome: Option<Outcome>,
    /// The facts the rules read, with rules.
    pub facts: Option<MailFacts>,
}

/// A message's facts and the model's verdict as the record rules read.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::family_of;
    use warden_learn::{FtrlParams, LearnerSpec};

    pub(super) const GTUBE: &str = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    #[test]
    fn models_of_another_extractor_version_are_refused_and_fresh_ones_stamped() {
        let fresh = engine();
        assert_eq!(fresh.model().meta.extractor_version, crate::EXTRACTOR_VERSION);
        let mut old = fresh.into_model();
        old.meta.extractor_version = crate::EXTRACTOR_VERSION - 1;
        let err = MailEngine::new(old, Config::default()).unwrap_err();
        assert!(err.to_string().contains("train it again"), "{err}");
        assert_eq!(starter_model().unwrap().meta.extractor_version, crate::EXTRACTOR_VERSION);
    }

    #[test]
    fn a_model_of_another_kind_is_refused() {
        let mut other = engine().into_model();
        other.meta.kind = "signup".to_owned();
        let err = MailEngine::new(other, Config::default()).unwrap_err();
        assert_eq!(err.to_string(), "the model scores signup events, not mail");
        assert_eq!(starter_model().unwrap().meta.kind, MailKind::NAME);
    }

    fn engine() -> MailEngine {
        let model = Model::new(
            MailKind::NAME,
            LearnerSpec::Ftrl(FtrlParams { bits: 16, ..Default::default() }),
            serde_json::Value::Null,
            warden_learn::RehearsalParams::default(),
        );
        MailEngine::new(model, Config::default()).unwrap()
    }

    #[test]
    fn gtube_is_rejected_even_by_an_empty_model() {
        let e = engine();
        let d = e.decide(format!("Subject: test\r\n\r\n{GTUBE}\r\n").as_bytes());
        assert_eq!(d.action, MailAction::Reject);
        assert_eq!(d.reasons[0].name, "GTUBE");
        let d = e.decide(b"Subject: hello\r\n\r\nhi\r\n");
        assert_eq!(d.action, MailAction::Deliver);
        assert!((d.probability - 0.5).abs() < 1e-9);
    }

    /// The model's reasons of a decision: the family reasons.
    fn family_reasons(d: &Decision<MailAction>) -> Vec<&Reason> {
        d.reasons.iter().filter(|r| FAMILIES.iter().any(|f| f.name == r.name)).collect()
    }

    #[test]
    fn learning_moves_decisions_and_explanations_sum_it_by_family() {
        let mut e = engine();
        let spam = b"Subject: cheap pills\r\n\r\nbuy cheap pills now\r\n";
        let ham = b"Subject: meeting notes\r\n\r\nthe agenda for tomorrow\r\n";
        for _ in 0..30 {
            e.learn(spam, MailLabel::Spam);
            e.learn(ham, MailLabel::Ham);
        }
        let d = e.decide_explained(spam);
        assert!(d.probability > 0.9, "{d:?}");
        assert!(d.action > MailAction::Deliver);
        let families = family_reasons(&d);
        let text = families[0];
        assert_eq!(text.name, "TEXT", "the words weigh most: {families:?}");
        assert!(text.contribution > 0.0);
        assert!(
            text.description.starts_with("The words of the subject and body weigh +"),
            "{}",
            text.description
        );
        assert!(
            text.evidence.iter().any(|e| e.feature == "subj:pills" || e.feature == "body:pills"),
            "{text:?}"
        );
        assert!(
            text.evidence.iter().all(|e| e.contribution > 0.0 && !e.feature.starts_with("ng:")),
            "{text:?}"
        );
        let sum: f64 = families.iter().map(|r| r.contribution).sum();
        assert!((sum - (d.score - e.model().learner.bias())).abs() < 1e-4, "{sum} vs {}", d.score);
        assert!(e.decide(ham).probability < 0.1);
        assert_eq!(e.decide(spam).score, d.score, "explaining does not change the score");
    }

    /// The model's extraction settings replace the configuration's, but the site's own domains
    /// and brands are the site's: kept, and they reach the signals.
    #[test]
    fn the_sites_own_brand_survives_a_model_with_its_own_settings() {
        let mut config = Config::default();
        config.mail.own_domains = vec!["examplebank.com".into()];
        config.mail.own_brands = vec!["Example Bank".into()];
        config.mail.max_words = 3;
        let e = MailEngine::new(starter_model().unwrap(), config).unwrap();
        assert_eq!(e.mail_config().own_domains, ["examplebank.com"]);
        assert_eq!(e.mail_config().max_words, 500, "the model's extraction settings win");
        let spoof = b"From: \"Example Bank\" <alerts@examp1ebank.com>\r\nSubject: notice\r\n\r\nhello\r\n";
        let d = e.decide_explained(spoof);
        assert!(d.reasons.iter().any(|r| r.name == "BRAND_IMPERSONATION"), "{:?}", d.reasons);
    }

    #[test]
    fn family_reasons_agree_with_naming_every_feature() {
        // The explanation sums and names from the hashes and the few tokens it keeps; naming
        // every feature and grouping them must give the same sums and the same evidence.
        let engine = MailEngine::new(starter_model().unwrap(), Config::default()).unwrap();
        let per = Config::default().explain.evidence;
        for raw in [
            &include_bytes!("../../../../examples/ham.eml")[..],
            &include_bytes!("../../../../examples/phishing.eml")[..],
            &include_bytes!("../../../../examples/gtube.eml")[..],
        ] {
            let d = engine.decide_explained(raw);
            let named = engine.named_features(raw);
            let shown = family_reasons(&d);
            assert!(!shown.is_empty());
            for r in &shown {
                let f = FAMILIES.iter().position(|f| f.name == r.name).unwrap();
                let family: Vec<&(String, f64)> = named
                    .iter()
                    .filter(|(n, _)| family_of(n.split_once(':').unwrap().0) == Some(f))
                    .collect();
                let sum: f64 = family.iter().map(|(_, c)| c).sum();
                assert!((sum - r.contribution).abs() < 1e-6, "{}: {sum} vs {}", r.name, r.contribution);
                let mut strongest: Vec<f64> = family
                    .iter()
                    .filter(|(n, c)| {
                        let ns = n.split_once(':').unwrap().0;
                        (c * r.contribution) > 0.0 && FAMILIES[f].evidence.contains(&ns)
                    })
                    .map(|(_, c)| *c)
                    .collect();
                strongest.sort_by(|a, b| b.abs().total_cmp(&a.abs()));
                strongest.truncate(per);
                let evidence: Vec<f64> = r.evidence.iter().map(|e| e.contribution).collect();
                assert_eq!(evidence, strongest, "{}", r.name);
                for e in &r.evidence {
                    assert!(named.iter().any(|(n, c)| *n == e.feature && *c == e.contribution), "{e:?}");
                }
            }
            let magnitudes: Vec<f64> = shown.iter().map(|r| r.contribution.abs()).collect();
            assert!(magnitudes.windows(2).all(|w| w[0] >= w[1]), "strongest first: {magnitudes:?}");
            assert_eq!(d.score, engine.decide(raw).score);
        }
    }
}

#[cfg(test)]
mod rule_tests {
    use super::*;
    use warden_learn::{FtrlParams, LearnerSpec};

    const MSG: &str = "Received: from helo.example (rdns.example [203.0.113.9]) by mx.example with ESMTPS id 1; Tue, 3 Nov 2026 10:00:00 +0000\r\n\
From: Shop <Deals@Mail.Shop.Example>\r\nTo: a@b.example, c@d.example\r\nSubject: Your parcel is waiting\r\n\
Authentication-Results: mx.example; spf=pass smtp.mailfrom=shop.example; dkim=fail; dmarc=fail\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
Track it at https://track.parcel-example.com/x and www.other.example today.\r\n--b\r\n\
Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"Label.PDF.exe\"\r\n\r\nMZ\r\n--b--\r\n";

    fn engine(rules: &str) -> MailEngine {
        let model = Model::new(
            MailKind::NAME,
            LearnerSpec::Ftrl(FtrlParams { bits: 16, ..Default::default() }),
            serde_json::Value::Null,
            warden_learn::RehearsalParams::default(),
        );
        let mut e = MailEngine::new(model, Config::default()).unwrap();
        let set = RuleSet::compile(&[("t.rules", rules, std::path::Path::new("."))], crate::catalogue())
            .unwrap_or_else(|e| panic!("{e:?}"));
        e.set_rules(Some(Arc::new(set)));
        e
    }

    #[test]
    fn facts_reach_the_rules_and_the_reasons_show_the_values() {
        let e = engine(
            "rule SHOP { description: \"a shop we watch\" when: mail.from_domain == \"shop.example\" && mail.client_ip == \"203.0.113.9\" then: score 2 }\n\
             rule LINK { when: mail.url_domains in [\"parcel-example.com\"] && mail.dmarc == \"fail\" then: score 1.5, review }\n\
             rule EXE { when: mail.attachment_names ends_with \".exe\" && mail.recipients == 2 && mail.has_html == false then: score 0.5 }\n\
             rule HELO { when: mail.helo == \"helo.example\" && mail.subject contains \"parcel\" then: score 0.25 }",
        );
        let plain = MailEngine::new(e.model().clone(), Config::default()).unwrap().decide(MSG.as_bytes());
        let d = e.decide(MSG.as_bytes());
        assert!((d.score - (plain.score + 4.25)).abs() < 1e-9, "{} vs {}", d.score, plain.score);
        assert_eq!(d.probability, plain.probability, "the probability stays the model's");
        assert!(d.review && !plain.review);
        let names: Vec<&str> = d.reasons.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names[..4], ["RULE:SHOP", "RULE:LINK", "RULE:EXE", "RULE:HELO"]);
        assert_eq!(
            d.reasons[0].description,
            "a shop we watch: mail.from_domain = \"shop.example\", mail.client_ip = 203.0.113.9"
        );
        assert_eq!(d.reasons[1].contribution, 1.5);
        // The explained path sees the same rules.
        assert_eq!(e.decide_explained(MSG.as_bytes()).score, d.score);
    }

    #[test]
    fn decision_order_gtube_then_allow_then_forced_then_score_and_shadow_never_acts() {
        let forced = engine("rule R { when: mail.size > 0 then: action quarantine, score -50 }");
        assert_eq!(forced.decide(MSG.as_bytes()).action, MailAction::Quarantine, "forced beats a low score");
        let both = engine(
            "rule R { when: mail.size > 0 then: action reject }\nrule OK { when: mail.from_domain == \"shop.example\" then: allow }",
        );
        let d = both.decide(MSG.as_bytes());
        assert_eq!(d.action, MailAction::Deliver, "allow-lists come first");
        let gtube = format!("From: x@shop.example\r\nSubject: t\r\n\r\n{}\r\n", super::tests::GTUBE);
        assert_eq!(both.decide(gtube.as_bytes()).action, MailAction::Reject, "GTUBE before everything");
        let points = engine("rule R { when: mail.size > 0 then: score 100 }");
        assert_eq!(
            points.decide(MSG.as_bytes()).action,
            MailAction::Reject,
            "points push the score over reject"
        );
        let shadow =
            engine("rule R { mode: shadow when: mail.size > 0 then: action reject, score 100, review }");
        let d = shadow.decide(MSG.as_bytes());
        let plain =
            MailEngine::new(shadow.model().clone(), Config::default()).unwrap().decide(MSG.as_bytes());
        assert_eq!((d.action, d.score, d.review), (plain.action, plain.score, false));
        assert!(!d.reasons.iter().any(|r| r.name.starts_with("RULE:")));
    }
}

#[cfg(test)]
mod threshold_tests {
    use super::*;
    use warden_learn::{FtrlParams, LearnerSpec};

    fn model() -> Model {
        Model::new(
            MailKind::NAME,
            LearnerSpec::Ftrl(FtrlParams { bits: 12, ..Default::default() }),
            serde_json::Value::Null,
            warden_learn::RehearsalParams::default(),
        )
    }

    fn config(junk: Option<f64>, quarantine: Option<f64>, reject: Option<f64>) -> Config {
        Config { thresholds: ThresholdConfig { junk, quarantine, reject }, ..Config::default() }
    }

    #[test]
    fn thresholds_come_from_the_configuration_then_the_model_then_the_built_in_ones() {
        use ThresholdSource::*;
        // A model without thresholds: the configuration's, the rest built in.
        let e = MailEngine::new(model(), config(Some(2.0), None, None)).unwrap();
        assert_eq!(
            e.thresholds(),
            (
                ActionThresholds { junk: 2.0, quarantine: 6.0, reject: 10.0 },
                [Configuration, BuiltIn, BuiltIn]
            )
        );

        // A model that carries its own: they fill what the configuration leaves out.
        let mut m = model();
        ActionThresholds { junk: -0.5, quarantine: 3.0, reject: 7.0 }.put_in_model(&mut m);
        let mut e = MailEngine::new(m.clone(), config(None, Some(4.0), None)).unwrap();
        assert_eq!(
            e.thresholds(),
            (ActionThresholds { junk: -0.5, quarantine: 4.0, reject: 7.0 }, [Model, Configuration, Model])
        );
        // They decide: an empty model scores 0, above the model's junk threshold.
        assert_eq!(e.decide(b"Subject: hello\r\n\r\nhi\r\n").action, MailAction::Junk);
        // A new configuration (a reload) is resolved again against the same model.
        e.set_config(Config::default()).unwrap();
        assert_eq!(e.thresholds().1, [Model, Model, Model]);
        e.set_config(config(Some(0.5), Some(0.6), Some(0.7))).unwrap();
        assert_eq!(e.thresholds().1, [Configuration, Configuration, Configuration]);
        assert_eq!(e.decide(b"Subject: hello\r\n\r\nhi\r\n").action, MailAction::Deliver);

        // Thresholds that only fall once mixed are refused when the engine is made.
        let err = MailEngine::new(m.clone(), config(Some(8.0), None, None)).unwrap_err();
        assert!(err.to_string().contains("invalid thresholds"), "{err}");
        // A model whose thresholds cannot be read, or do not rise, is refused by name.
        m.meta.thresholds = Some(serde_json::json!({ "junk": "high" }));
        let err = MailEngine::new(m.clone(), Config::default()).unwrap_err();
        assert!(err.to_string().starts_with("the model's own thresholds: unreadable"), "{err}");
        m.meta.thresholds = Some(serde_json::json!({ "junk": 5.0, "quarantine": 1.0, "reject": 9.0 }));
        let err = MailEngine::new(m, Config::default()).unwrap_err();
        assert!(err.to_string().starts_with("the model's own thresholds"), "{err}");
    }

    #[test]
    fn reasons_coverage_is_the_share_of_the_log_odds_the_model_s_reasons_sum_to() {
        let e = MailEngine::new(model(), Config::default()).unwrap();
        assert_eq!(e.model().learner.bias(), 0.0, "an empty model's bias");
        let reason = |name: &str, contribution: f64| warden_core::Reason::new(name, "", contribution);
        let detailed = |model_score: f64, reasons: Vec<warden_core::Reason>| Detailed {
            decision: Decision {
                action: MailAction::Deliver,
                score: model_score,
                probability: 0.5,
                reasons,
                review: false,
            },
            features: FeatureVec::default(),
            model_score,
            signal_points: 0.0,
            outcome: None,
            facts: None,
        };
        // MODEL and rules' points are not reasons of the model's log-odds; opposite signs cancel.
        let d = detailed(
            -4.0,
            vec![reason("MODEL", -4.0), reason("TEXT", -2.5), reason("LINKS", 0.5), reason("RULE:X", -9.0)],
        );
        assert!((e.reasons_coverage(&d) - 0.5).abs() < 1e-12);
        let d = detailed(-4.0, vec![reason("MODEL", -4.0), reason("TEXT", -1.0)]);
        assert!((e.reasons_coverage(&d) - 0.25).abs() < 1e-12);
        assert_eq!(e.reasons_coverage(&detailed(0.0, vec![reason("MODEL", 0.0)])), 1.0, "nothing to explain");
        // A signal's points are in its reason, and in what there is to explain.
        let mut d =
            detailed(-3.0, vec![reason("MODEL", -3.0), reason("PADDED_SUBJECT", 1.0), reason("TEXT", -3.0)]);
        d.signal_points = 1.0;
        assert!((e.reasons_coverage(&d) - 1.0).abs() < 1e-12, "-3 + 1 explained by +1 and -3");
        d.decision.reasons.pop();
        assert!((e.reasons_coverage(&d) - 0.5).abs() < 1e-12, "the signal alone: 1 of 2");
    }

    #[test]
    fn a_signal_s_points_move_the_score_and_show_in_its_reason() {
        let padded = b"From: Deals <deals@shop.example>\r\nSubject: Sale now          _\r\n\r\nhello\r\n";
        let with = |signals: &[(&str, f64)]| {
            let config = Config {
                signals: signals.iter().map(|(n, p)| (n.to_string(), *p)).collect(),
                ..Config::default()
            };
            MailEngine::new(model(), config)
        };
        let e = with(&[]).unwrap();
        let model_score = e.score(&e.features(padded));
        let built_in = e.signal_points("PADDED_SUBJECT");
        assert!(built_in > 0.0);
        let fast = e.decide(padded);
        assert!((fast.score - (model_score + built_in)).abs() < 1e-9, "{} vs {model_score}", fast.score);
        let explained = e.decide_explained(padded);
        assert_eq!(explained.score, fast.score, "both paths add the same points");
        let reason = explained.reasons.iter().find(|r| r.name == "PADDED_SUBJECT").unwrap();
        assert!((reason.contribution - built_in).abs() < 0.01, "an empty model's weight is 0: {reason:?}");
        assert_eq!(explained.probability, sigmoid(model_score), "the probability stays the model's");
        let detailed = e.decide_detailed(padded);
        assert_eq!((detailed.model_score, detailed.signal_points), (model_score, built_in));

        let e = with(&[("PADDED_SUBJECT", 2.5)]).unwrap();
        assert!((e.decide(padded).score - (model_score + 2.5)).abs() < 1e-9);
        let e = with(&[("PADDED_SUBJECT", 0.0)]).unwrap();
        assert!((e.decide(padded).score - model_score).abs() < 1e-9, "0 leaves it to the model");
        let mut e = with(&[]).unwrap();
        e.set_config(Config { signals: [("PADDED_SUBJECT".to_owned(), 0.0)].into(), ..Config::default() })
            .unwrap();
        assert!((e.decide(padded).score - model_score).abs() < 1e-9, "a new configuration's points apply");

        let err = with(&[("PADDED_SUBJEKT", 1.0)]).unwrap_err().to_string();
        assert!(
            err.contains("no signal is called \"PADDED_SUBJEKT\"") && err.contains("PADDED_SUBJECT"),
            "{err}"
        );
        let err = with(&[("PADDED_SUBJECT", f64::NAN)]).unwrap_err().to_string();
        assert!(err.contains("from -100 to 100"), "{err}");
    }

    #[test]
    fn thresholds_in_a_model_file_survive_saving_and_loading() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = model();
        let t = ActionThresholds { junk: 1.25, quarantine: 5.5, reject: 9.75 };
        t.put_in_model(&mut m);
        let path = dir.path().join("m.wdm");
        m.save(&path, false).unwrap();
        let back = Model::load(&path).unwrap();
        assert_eq!(ActionThresholds::of_model(&back).unwrap(), Some(t));
        assert_eq!(ActionThresholds::of_model(&model()).unwrap(), None);
    }
}
