//! Events of a JSON kind replayed offline through the server's own code ([`Served::decide`],
//! [`Served::teach`]), on the events' own clock: `warden <kind> check` (one decision per line,
//! in input order) and `warden <kind> eval` (labels known a delay after each entity first
//! appears, the model taught as the server's feedback would teach it, every decision scored
//! against its entity's label). Nothing is kept and nothing is sent anywhere.

use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::io::{BufRead, Read, Write};

use serde::Serialize;
use serde_json::{Value, json};
use warden_core::{FeatureVec, Label};

use crate::kinds::{Context, KindError, Offline, Served, common};

/// Offline, an event's own time is its time: no arrival to keep it near.
const ANY_SKEW: u64 = u64::MAX;

/// How many lines [`check_lines`] decided and refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checked {
    /// Lines answered with a decision.
    pub decided: u64,
    /// Lines answered with an error.
    pub refused: u64,
}

/// Decides on each JSON line of `input` and writes one line to `out` for each, in input order:
/// the decision, or `{"line", "id", "error"}` for a line that is not an event of this kind
/// (blank lines are skipped). A line over `max_line` bytes is refused without being held whole.
pub fn check_lines(
    kind: &dyn Served,
    mut input: impl BufRead,
    out: &mut impl Write,
    geo: &warden_geo::Geo,
    max_line: usize,
) -> std::io::Result<Checked> {
    let mut counts = Checked::default();
    let mut line = Vec::new();
    for n in 1.. {
        line.clear();
        if (&mut input).take(max_line as u64 + 1).read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let over = line.len() > max_line && line.last() != Some(&b'\n');
        if over {
            skip_line(&mut input)?;
        } else if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let answer = match decide_line(kind, &line, geo, over.then_some(max_line)) {
            Ok(d) => {
                counts.decided += 1;
                d.decision
            }
            Err((id, e)) => {
                counts.refused += 1;
                json!({"line": n, "id": id, "error": e.to_string()})
            }
        };
        serde_json::to_writer(&mut *out, &answer)?;
        out.write_all(b"\n")?;
    }
    Ok(counts)
}

/// Reads past the rest of a line.
fn skip_line(input: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                input.consume(i + 1);
                return Ok(());
            }
            None => {
                let len = buf.len();
                input.consume(len);
            }
        }
    }
}

/// One line's decision, or its id (when it has one) and why it is refused; `over` is the
/// limit a line went past.
fn decide_line(
    kind: &dyn Served,
    line: &[u8],
    geo: &warden_geo::Geo,
    over: Option<usize>,
) -> Result<Offline, (Value, KindError)> {
    if let Some(max) = over {
        return Err((Value::Null, KindError::Bad(format!("the line is over {max} bytes"))));
    }
    let event: Value =
        serde_json::from_slice(line).map_err(|e| (Value::Null, KindError::Bad(format!("not JSON: {e}"))))?;
    let id = event.get("id").filter(|v| v.is_string()).cloned().unwrap_or(Value::Null);
    kind.decide(&event, 0, ANY_SKEW, Context { at: 0, geo, seed: 0 }).map_err(|e| (id, e))
}

/// The events' own times with their places, in time order (ties in input order), and how many
/// have no readable `kind`, `id` and `time`.
fn time_order(events: &[Value]) -> (Vec<(u64, usize)>, u64) {
    let mut order = Vec::with_capacity(events.len());
    let mut unreadable = 0;
    for (i, e) in events.iter().enumerate() {
        match common(e) {
            Ok(c) => order.push((c.claimed(), i)),
            Err(_) => unreadable += 1,
        }
    }
    order.sort();
    (order, unreadable)
}

/// Trains `kind`'s model on `events` (taken in time order, as [`eval`] takes them): each
/// labelled entity's first event teaches the model its label at once, so that the model
/// learns what the kind measured of it at that moment (its memory of the events before
/// included). Returns how many events were decided and how many taught.
pub fn train(
    kind: &dyn Served,
    events: &[Value],
    labels: &HashMap<String, Label>,
    geo: &warden_geo::Geo,
) -> (u64, u64) {
    let (order, _) = time_order(events);
    let mut seen = HashSet::new();
    let (mut decided, mut taught) = (0, 0);
    for (_, i) in order {
        let Ok(d) = kind.decide(&events[i], 0, ANY_SKEW, Context { at: 0, geo, seed: 0 }) else { continue };
        kind.later();
        decided += 1;
        if seen.insert(d.entity.clone())
            && let Some(&label) = labels.get(&d.entity)
        {
            kind.teach(&d.entity, &d.features, label);
            taught += 1;
        }
    }
    (decided, taught)
}

/// What [`eval`] reports of one way of scoring entities: how well the probabilities rank the
/// abusive above the legitimate.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Ranking {
    /// Area under the ROC curve (`None` without both labels).
    pub roc_auc: Option<f64>,
    /// (1 − AUC) in percent.
    pub one_minus_auc_pct: Option<f64>,
    /// The share of abusive entities caught at a threshold letting through all but that share
    /// of the legitimate, at false-positive rates 0.001 and 0.01.
    pub recall_at_fpr: BTreeMap<String, f64>,
}

impl Ranking {
    fn of(scored: &[(f64, bool)]) -> Ranking {
        let auc = warden_corpus::metrics::roc_auc(scored);
        let curve = warden_corpus::metrics::roc_curve(scored);
        Ranking {
            roc_auc: auc,
            one_minus_auc_pct: auc.map(|a| (1.0 - a) * 100.0),
            recall_at_fpr: ["0.001", "0.01"]
                .into_iter()
                .map(|f| {
                    (
                        f.to_owned(),
                        warden_corpus::metrics::recall_at_fpr(&curve, f.parse().expect("a number")),
                    )
                })
                .collect(),
        }
    }
}

/// A group of entities in the labels (a campaign, a named group of legitimate entities).
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Group {
    /// Entities in it that had an event.
    pub accounts: u64,
    /// Their label (the first member's).
    pub label: String,
    /// The share not let through (an action other than the mildest) within the hour after
    /// their first event.
    pub caught: f64,
    /// The median over caught members of seconds from the first event to the first action
    /// that did not let it through.
    pub median_detection_s: Option<f64>,
}

/// The hour after an entity's first event within which [`eval`]'s `within_1h` looks.
pub const HOUR: u64 = 3_600;

/// One labelled entity in [`eval`].
struct Tracked {
    first: u64,
    label: Label,
    at_first: f64,
    best: f64,
    /// The first time within the hour an action other than the mildest was taken, and the
    /// most severe action by then (index in the kind's actions).
    stopped: Option<u64>,
    first_action: usize,
    worst: usize,
    features: Option<FeatureVec>,
}

/// Replays `events` (any order: they are taken in time order, ties in input order) through
/// `kind`'s own code on the events' clock. The label of an entity in `labels` (by its name in
/// lower case) becomes known `delay` seconds after the entity's first event, and then teaches
/// the model the features of that first event, as the server's feedback teaches. `geo` is what
/// the kind looks addresses up in; `groups` names the group of an entity in one.
///
/// Each labelled entity is scored twice: by its probability at its first event, and by the
/// highest probability it had within [`HOUR`] of it (its later events and the kind's later
/// verdicts, [`Served::later`], included). The report is a JSON object, its entities and
/// first-event keys named as the kind names them ([`Served::report_names`]).
pub fn eval(
    kind: &dyn Served,
    events: &[Value],
    labels: &HashMap<String, Label>,
    groups: &HashMap<String, String>,
    delay: u64,
    geo: &warden_geo::Geo,
) -> Value {
    let (order, mut refused) = time_order(events);
    let actions = kind.actions();
    let severity = |a: &str| actions.iter().position(|x| *x == a).unwrap_or(0);
    let mut due: BinaryHeap<std::cmp::Reverse<(u64, String)>> = BinaryHeap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut tracked: HashMap<String, Tracked> = HashMap::new();
    let (mut decided, mut taught) = (0u64, 0u64);
    let mut busy = std::time::Duration::ZERO;
    // Each rule's firings on labelled entities' first events: [abusive, legitimate].
    let mut fired: BTreeMap<String, [u64; 2]> = BTreeMap::new();
    let note = |tracked: &mut HashMap<String, Tracked>, entity: &str, at: u64, p: f64, action: &str| {
        if let Some(t) = tracked.get_mut(entity)
            && at.saturating_sub(t.first) <= HOUR
        {
            t.best = t.best.max(p);
            let sev = severity(action);
            t.worst = t.worst.max(sev);
            if sev > 0 && t.stopped.is_none() {
                t.stopped = Some(at);
            }
        }
    };
    for (at, i) in order {
        while let Some(std::cmp::Reverse((when, _))) = due.peek()
            && *when <= at
        {
            let std::cmp::Reverse((_, entity)) = due.pop().expect("peeked");
            if let Some(t) = tracked.get_mut(&entity)
                && let Some(x) = t.features.take()
            {
                kind.teach(&entity, &x, t.label);
                taught += 1;
            }
        }
        let started = std::time::Instant::now();
        let d = kind.decide(&events[i], 0, ANY_SKEW, Context { at: 0, geo, seed: 0 });
        let later = kind.later();
        busy += started.elapsed();
        let Ok(d) = d else {
            refused += 1;
            continue;
        };
        decided += 1;
        if seen.insert(d.entity.clone())
            && let Some(&label) = labels.get(&d.entity)
        {
            due.push(std::cmp::Reverse((d.time.at.saturating_add(delay), d.entity.clone())));
            if let Some((rules, out)) = &d.effects {
                for &i in out.fired.iter().chain(&out.shadow_fired) {
                    fired.entry(rules.rules()[i].name.clone()).or_default()
                        [usize::from(!label.is_abusive())] += 1;
                }
            }
            let sev = severity(d.action);
            tracked.insert(
                d.entity.clone(),
                Tracked {
                    first: d.time.at,
                    label,
                    at_first: d.probability,
                    best: d.probability,
                    stopped: (sev > 0).then_some(d.time.at),
                    first_action: sev,
                    worst: sev,
                    features: Some(d.features),
                },
            );
        } else {
            note(&mut tracked, &d.entity, d.time.at, d.probability, d.action);
        }
        for l in later {
            note(&mut tracked, &l.entity, l.at, l.probability, l.action);
        }
    }
    let names = kind.report_names();
    let word = |l: Label| kind.label_word(l);
    let mut at_first = Vec::with_capacity(tracked.len());
    let mut within = Vec::with_capacity(tracked.len());
    let mut counts = [0u64; 2];
    let mut by_action: BTreeMap<&str, BTreeMap<&str, BTreeMap<&str, u64>>> = BTreeMap::new();
    let mut by_group: BTreeMap<&str, (u64, Label, Vec<Option<u64>>)> = BTreeMap::new();
    for (entity, t) in &tracked {
        let abusive = t.label.is_abusive();
        counts[usize::from(abusive)] += 1;
        at_first.push((t.at_first, abusive));
        within.push((t.best, abusive));
        for (when, a) in [(names.at_first, t.first_action), ("within_1h", t.worst)] {
            *by_action
                .entry(actions[a])
                .or_default()
                .entry(when)
                .or_default()
                .entry(word(t.label))
                .or_default() += 1;
        }
        if let Some(g) = groups.get(entity) {
            let e = by_group.entry(g.as_str()).or_insert((0, t.label, Vec::new()));
            e.0 += 1;
            e.2.push(t.stopped.map(|s| s - t.first));
        }
    }
    let groups: BTreeMap<&str, Group> = by_group
        .into_iter()
        .map(|(g, (n, label, stops))| {
            let mut caught: Vec<f64> = stops.iter().flatten().map(|&s| s as f64).collect();
            caught.sort_by(f64::total_cmp);
            let median = (!caught.is_empty()).then(|| {
                let m = caught.len() / 2;
                if caught.len() % 2 == 1 { caught[m] } else { (caught[m - 1] + caught[m]) / 2.0 }
            });
            let group = Group {
                accounts: n,
                label: word(label).to_owned(),
                caught: caught.len() as f64 / n as f64,
                median_detection_s: median,
            };
            (g, group)
        })
        .collect();
    let mut report = serde_json::Map::new();
    report.insert("kind".into(), kind.name().into());
    report.insert("events".into(), decided.into());
    report.insert("refused".into(), refused.into());
    report.insert(names.entities.into(), (seen.len() as u64).into());
    report.insert(word(Label::Abusive).into(), counts[1].into());
    report.insert(word(Label::Legitimate).into(), counts[0].into());
    report.insert("taught".into(), taught.into());
    report.insert("label_delay_secs".into(), delay.into());
    report.insert(names.at_first.into(), json!(Ranking::of(&at_first)));
    report.insert("within_1h".into(), json!(Ranking::of(&within)));
    report.insert("actions".into(), json!(by_action));
    report.insert("groups".into(), json!(groups));
    if let Some(rules) = kind.rules() {
        let stats: BTreeMap<&str, Value> = rules
            .rules()
            .iter()
            .map(|r| {
                let [a, l] = fired.get(&r.name).copied().unwrap_or_default();
                let precision = (a + l > 0).then(|| a as f64 / (a + l) as f64);
                let recall = (counts[1] > 0).then(|| a as f64 / counts[1] as f64);
                let stat = json!({"mode": format!("{:?}", r.mode).to_lowercase(), "fired": a + l,
                    word(Label::Abusive): a, word(Label::Legitimate): l, "precision": precision, "recall": recall});
                (r.name.as_str(), stat)
            })
            .collect();
        report.insert("rules".into(), json!(stats));
    }
    let secs = busy.as_secs_f64();
    report.insert("events_per_sec".into(), json!(if secs > 0.0 { decided as f64 / secs } else { 0.0 }));
    let per = if decided > 0 { kind.memory_bytes() as f64 / decided as f64 } else { 0.0 };
    report.insert(format!("bytes_per_{}_stored", kind.name()), json!(per));
    Value::Object(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::kinds::probe::Probe;
    use crate::kinds::{JsonKind, Pipeline};

    fn labels(s: &crate::kinds::Synthetic) -> HashMap<String, Label> {
        s.labels.iter().cloned().collect()
    }

    #[test]
    fn check_answers_every_line_in_order_a_decision_or_an_error_naming_it() {
        let kind = Pipeline::new(Probe);
        let input = concat!(
            r#"{"kind": "probe", "id": "e-1", "time": "2026-01-01T00:00:00Z", "account": "a-1", "words": ["x"]}"#,
            "\n\n",
            "{not json\n",
            r#"{"kind": "probe", "id": "e-3", "time": "2026-01-01T00:00:00Z", "words": ["x"]}"#,
            "\n",
            r#"{"kind": "probe", "id": "e-4", "time": "2026-01-01T00:00:00Z", "account": "a-4", "words": [], "captcha": "failed"}"#,
        );
        let mut out = Vec::new();
        let counts =
            check_lines(&kind, input.as_bytes(), &mut out, &warden_geo::Geo::none(), 1 << 20).unwrap();
        assert_eq!(counts, Checked { decided: 2, refused: 2 });
        let lines: Vec<Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 4, "one answer a line, the blank one skipped");
        assert_eq!((lines[0]["id"].as_str(), lines[0]["action"].as_str()), (Some("e-1"), Some("allow")));
        assert_eq!((lines[1]["line"].as_u64(), lines[1]["id"].is_null()), (Some(3), true));
        assert!(lines[1]["error"].as_str().unwrap().starts_with("not JSON"));
        assert_eq!(lines[2]["id"], "e-3");
        assert_eq!(lines[2]["error"], "`account` is missing");
        assert_eq!((lines[3]["id"].as_str(), lines[3]["action"].as_str()), (Some("e-4"), Some("block")));
        let mut out = Vec::new();
        let long = check_lines(&kind, input.as_bytes(), &mut out, &warden_geo::Geo::none(), 10).unwrap();
        assert_eq!(long, Checked { decided: 0, refused: 4 }, "lines over the limit are refused");
        // Past a line over the limit, the next is read from its start.
        let mut out = Vec::new();
        let counts = check_lines(&kind, input.as_bytes(), &mut out, &warden_geo::Geo::none(), 90).unwrap();
        assert_eq!(counts, Checked { decided: 0, refused: 4 });
        let lines: Vec<Value> =
            String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0]["error"], "the line is over 90 bytes");
        assert_eq!(
            (lines[2]["line"].as_u64(), lines[2]["error"].as_str()),
            (Some(4), Some("`account` is missing"))
        );
    }

    #[test]
    fn eval_teaches_labels_after_their_delay_and_scores_each_entity_at_its_first_event() {
        let s = Probe.synth(7, 2_000).unwrap();
        let (events, labels) = (&s.events, labels(&s));
        let geo = warden_geo::Geo::none();
        let day = 86_400;
        let none = HashMap::new();
        let r = eval(&Pipeline::new(Probe), events, &labels, &none, 600, &geo);
        assert_eq!((r["events"].as_u64(), r["refused"].as_u64()), (Some(2_000), Some(0)));
        let entities = r["entities"].as_u64().unwrap();
        assert_eq!(r["abusive"].as_u64().unwrap() + r["legitimate"].as_u64().unwrap(), entities);
        let taught = r["taught"].as_u64().unwrap();
        assert!(taught > entities * 9 / 10, "all but the last few minutes' labels: {r}");
        let auc = r["at_first_event"]["roc_auc"].as_f64().unwrap();
        assert!(auc > 0.9, "learned from the labels as they came: {r}");
        let within = r["within_1h"]["roc_auc"].as_f64().unwrap();
        assert!(within >= auc - 0.02, "later events only add evidence: {r}");
        let at_first: u64 = r["actions"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(|a| a["at_first_event"].as_object())
            .flat_map(|a| a.values())
            .filter_map(Value::as_u64)
            .sum();
        assert_eq!(at_first, entities, "each entity's first action counted once: {r}");
        let never = eval(&Pipeline::new(Probe), events, &labels, &none, 365 * day, &geo);
        assert_eq!(never["taught"], 0);
        assert_eq!(never["at_first_event"]["roc_auc"], 0.5, "an untaught model ranks nothing");
        // Groups: the abusive entities as one, caught as the actions say.
        let groups: HashMap<String, String> = labels
            .iter()
            .filter(|(_, l)| l.is_abusive())
            .map(|(e, _)| (e.clone(), "bad".to_owned()))
            .collect();
        let g = eval(&Pipeline::new(Probe), events, &labels, &groups, 600, &geo);
        let bad = &g["groups"]["bad"];
        assert_eq!(bad["accounts"], g["abusive"]);
        assert_eq!(bad["label"], "abusive");
        let caught = bad["caught"].as_f64().unwrap();
        let blocked = g["actions"]["block"]["within_1h"]["abusive"].as_u64().unwrap_or(0) as f64;
        assert!((caught - blocked / g["abusive"].as_f64().unwrap()).abs() < 1e-9, "{g}");
        let mut reversed = events.clone();
        reversed.reverse();
        let mut again = eval(&Pipeline::new(Probe), &reversed, &labels, &none, 600, &geo);
        let mut first = r.clone();
        for report in [&mut again, &mut first] {
            report.as_object_mut().unwrap().remove("events_per_sec");
        }
        assert_eq!(again, first, "taken in time order whatever the input order");
    }
}
