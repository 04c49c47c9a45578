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

/// What [`eval`] measured.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Report {
    /// The kind.
    pub kind: String,
    /// Events decided.
    pub events: u64,
    /// Events refused (not events of this kind, or a field wrong), not counted elsewhere.
    pub refused: u64,
    /// Distinct entities among the events decided.
    pub entities: u64,
    /// Of which labelled abusive.
    pub abusive: u64,
    /// Of which labelled legitimate.
    pub legitimate: u64,
    /// Labels the model was taught (each entity's, once, when it became known).
    pub taught: u64,
    /// Events of labelled entities decided before their label was known: what is measured.
    pub scored: u64,
    /// The area under the ROC curve of those events' scores against their entities' labels
    /// (`null` without both labels).
    pub auc: Option<f64>,
    /// Of those events, the share of the abusive ones not let through (any action but the
    /// mildest).
    pub abusive_stopped: Option<f64>,
    /// Of those events, the share of the legitimate ones not let through.
    pub legitimate_stopped: Option<f64>,
    /// Of those events, how many of each label got each action.
    pub actions: BTreeMap<String, BTreeMap<String, u64>>,
    /// The label delay, seconds.
    pub label_delay_secs: u64,
}

/// Replays `events` (any order: they are taken in time order, ties in input order) through
/// `kind`'s own code on the events' clock. The label of an entity in `labels` (by its name in
/// lower case) becomes known `delay` seconds after the entity's first event; from then on the
/// model is taught it with the features of the entity's latest event before it, once, as the
/// server's feedback teaches. `geo` is what the kind looks addresses up in. Each event of a labelled entity decided before its label was
/// known is scored against that label.
pub fn eval(
    kind: &dyn Served,
    events: &[Value],
    labels: &HashMap<String, Label>,
    delay: u64,
    geo: &warden_geo::Geo,
) -> Report {
    let mut report = Report { kind: kind.name().to_owned(), label_delay_secs: delay, ..Report::default() };
    // Time order by each event's own time; an event without one is refused where it stands.
    let mut order: Vec<(u64, usize)> = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        match common(e) {
            Ok(c) => order.push((c.claimed(), i)),
            Err(_) => report.refused += 1,
        }
    }
    order.sort();
    // Labels due, soonest first: (due time, entity), as a min-heap.
    let mut due: BinaryHeap<std::cmp::Reverse<(u64, String)>> = BinaryHeap::new();
    let mut first_seen: HashMap<String, u64> = HashMap::new();
    let mut kept: HashMap<String, FeatureVec> = HashMap::new();
    let mut known: HashSet<String> = HashSet::new();
    let mut scored: Vec<(f64, bool)> = Vec::new();
    let mildest = kind.mildest();
    let mut stopped = [0u64; 2];
    let mut count = [0u64; 2];
    for (at, i) in order {
        while let Some(std::cmp::Reverse((when, _))) = due.peek()
            && *when <= at
        {
            let std::cmp::Reverse((_, entity)) = due.pop().expect("peeked");
            let label = labels[&entity];
            known.insert(entity.clone());
            if let Some(x) = kept.remove(&entity) {
                kind.teach(&x, label);
                report.taught += 1;
            }
        }
        let Ok(d) = kind.decide(&events[i], 0, ANY_SKEW, Context { at: 0, geo, seed: 0 }) else {
            report.refused += 1;
            continue;
        };
        report.events += 1;
        if !first_seen.contains_key(&d.entity) {
            first_seen.insert(d.entity.clone(), d.time.at);
            match labels.get(&d.entity) {
                Some(Label::Abusive) => report.abusive += 1,
                Some(Label::Legitimate) => report.legitimate += 1,
                None => {}
            }
            if labels.contains_key(&d.entity) {
                due.push(std::cmp::Reverse((d.time.at.saturating_add(delay), d.entity.clone())));
            }
        }
        if let Some(&label) = labels.get(&d.entity)
            && !known.contains(&d.entity)
        {
            let abusive = label.is_abusive();
            scored.push((d.score, abusive));
            count[usize::from(abusive)] += 1;
            stopped[usize::from(abusive)] += u64::from(d.action != mildest);
            *report
                .actions
                .entry(kind.label_word(label).to_owned())
                .or_default()
                .entry(d.action.to_owned())
                .or_default() += 1;
            kept.insert(d.entity, d.features);
        }
    }
    report.entities = first_seen.len() as u64;
    report.scored = scored.len() as u64;
    report.auc = warden_corpus::metrics::roc_auc(&scored);
    let share = |k: usize| (count[k] > 0).then(|| stopped[k] as f64 / count[k] as f64);
    report.abusive_stopped = share(1);
    report.legitimate_stopped = share(0);
    report
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
    fn eval_teaches_labels_after_their_delay_and_scores_each_event_before_its_label() {
        let s = Probe.synth(7, 2_000).unwrap();
        let (events, labels) = (&s.events, labels(&s));
        let geo = warden_geo::Geo::none();
        let day = 86_400;
        let r = eval(&Pipeline::new(Probe), events, &labels, 600, &geo);
        assert_eq!((r.events, r.refused), (2_000, 0));
        assert_eq!(r.abusive + r.legitimate, r.entities, "every account is labelled");
        assert!(r.taught > r.entities * 9 / 10, "all but the last few minutes' labels: {r:?}");
        assert!(r.auc.unwrap() > 0.9, "learned from the labels as they came: {r:?}");
        assert!(r.abusive_stopped.unwrap() > 0.5 && r.legitimate_stopped.unwrap() < 0.05, "{r:?}");
        let scored: u64 = r.actions.values().flat_map(|a| a.values()).sum();
        assert_eq!(scored, r.scored);
        // Labels that never come in time teach nothing: every score is the starter's.
        let never = eval(&Pipeline::new(Probe), events, &labels, 365 * day, &geo);
        assert_eq!((never.taught, never.scored), (0, 2_000), "every event is before its label");
        assert_eq!(never.auc, Some(0.5));
        // Time order, not input order.
        let mut reversed = events.clone();
        reversed.reverse();
        assert_eq!(eval(&Pipeline::new(Probe), &reversed, &labels, 600, &geo), r);
    }
}
