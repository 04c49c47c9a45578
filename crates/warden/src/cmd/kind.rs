//! `warden <kind> check|eval|synth`: a JSON kind's events decided offline through the
//! server's own code (`warden_server::replay`), on the events' own clock.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::Parser;
use warden_core::Label;
use warden_server::kinds::Served;

/// The commands every JSON kind answers.
#[derive(Parser, Debug)]
#[command(no_binary_name = true)]
enum KindCommand {
    /// Decide on events (JSON lines; `-` for standard input): one JSON line per event, in
    /// input order, a decision or `{"line", "id", "error"}`.
    Check {
        /// The events.
        file: PathBuf,
        /// Configuration file (TOML): its `[geoip]` databases are read.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Replay labelled events in time order: each label is known `--label-delay` after its
    /// entity's first event and teaches the model then; every event decided before its label
    /// is scored against it.
    Eval {
        /// The events (JSON lines).
        #[arg(long)]
        events: PathBuf,
        /// A header line, then `entity<TAB>label[<TAB>group]` in the kind's label words.
        #[arg(long)]
        labels: PathBuf,
        /// How long after an entity's first event its label is known (`90s`, `30m`, `24h`, `2d`).
        #[arg(long, default_value = "24h")]
        label_delay: String,
        /// Write the report (JSON) here as well.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Rule files to put in force (a backtest): the report gives each rule's firings on
        /// labelled entities' first events, with precision and recall.
        #[arg(long = "rules")]
        rules: Vec<PathBuf>,
        /// Configuration file (TOML): its `[geoip]` databases are read.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Train the kind's model on labelled events (taken in time order; each labelled entity's
    /// first event teaches its label), starting from the model in force (the starter, or the
    /// configuration's), and write it.
    Train {
        /// The events (JSON lines).
        #[arg(long)]
        events: PathBuf,
        /// A header line, then `entity<TAB>label[<TAB>group]` in the kind's label words.
        #[arg(long)]
        labels: PathBuf,
        /// The model file to write.
        #[arg(long)]
        out: PathBuf,
        /// Start from an empty model rather than the one in force.
        #[arg(long)]
        fresh: bool,
        /// What the model's metadata says it was trained on (default: the events file's path).
        #[arg(long)]
        source: Option<String>,
        /// Configuration file (TOML): its `[geoip]` databases and the kind's section are read.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Write synthetic labelled events from the kind's simulator (`events.jsonl`, `labels.tsv`).
    Synth {
        /// Folder to write into (created).
        #[arg(long)]
        out: PathBuf,
        /// Events to write.
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Generator seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

/// Makes the kinds of this binary as settings make them.
pub type MakeKinds = dyn Fn(&warden_server::Settings) -> Result<Vec<Arc<dyn Served>>>;

/// Runs `args` (the kind's name, then its command) against the kinds `make` makes (with the
/// command's `--config`, else defaults).
pub fn run(args: &[String], make: &MakeKinds) -> Result<ExitCode> {
    let Some((name, rest)) = args.split_first() else { bail!("no command") };
    let kinds = make(&warden_server::Settings::default())?;
    let Some(kind) = kinds.iter().find(|k| k.name() == name) else {
        let names: Vec<&str> = kinds.iter().map(|k| k.name()).collect();
        bail!(
            "no command or kind of event named {name:?} (kinds: mail{}{}; mail's commands are classify, train, eval; see warden --help)",
            if names.is_empty() { "" } else { ", " },
            names.join(", ")
        );
    };
    let command = match KindCommand::try_parse_from(rest) {
        Ok(c) => c,
        Err(e) => {
            // Help and usage errors print as clap prints them, under the kind's name.
            let _ = e.print();
            return Ok(ExitCode::from(if e.use_stderr() { 2 } else { 0 }));
        }
    };
    // The kind as the command's configuration makes it, with its GeoIP databases.
    let configured = |config: Option<&Path>| -> Result<(Arc<dyn Served>, warden_geo::Geo)> {
        let settings = warden_server::Settings::load(config, std::env::vars())?;
        crate::kinds::check_settings(&settings)?;
        let kind = make(&settings)?.into_iter().find(|k| k.name() == kind.name()).context("the kind")?;
        Ok((kind, warden_server::open_geo(&settings.geoip)?))
    };
    match command {
        KindCommand::Check { file, config } => {
            let (kind, geo) = configured(config.as_deref())?;
            check(&*kind, &file, &geo)
        }
        KindCommand::Eval { events, labels, label_delay, json, rules, config } => {
            let delay = duration(&label_delay)?;
            let (kind, geo) = configured(config.as_deref())?;
            if !rules.is_empty() {
                let catalogue =
                    kind.catalogue().with_context(|| format!("the {} kind takes no rules", kind.name()))?;
                match warden_rules::RuleSet::load(&rules, catalogue) {
                    Ok(set) => kind.set_rules(Some(Arc::new(set))),
                    Err(errors) => {
                        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                        bail!("the rules do not load:\n{}", text.join("\n"));
                    }
                }
            }
            eval(&*kind, &events, &labels, delay, json.as_deref(), &geo)
        }
        KindCommand::Train { events, labels, out, fresh, source, config } => {
            let (kind, geo) = configured(config.as_deref())?;
            let source = source.unwrap_or_else(|| events.display().to_string());
            train(&*kind, &events, &labels, &out, fresh, &source, &geo)
        }
        KindCommand::Synth { out, events, seed } => synth(&**kind, &out, events, seed),
    }
}

/// JSON lines, each an event; a line that is not JSON is an error naming it.
fn read_events(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut parsed = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match serde_json::from_str(line) {
            Ok(v) => parsed.push(v),
            Err(e) => bail!("{}:{}: not JSON: {e}", path.display(), n + 1),
        }
    }
    Ok(parsed)
}

fn train(
    kind: &dyn Served,
    events: &Path,
    labels: &Path,
    out: &Path,
    fresh: bool,
    source: &str,
    geo: &warden_geo::Geo,
) -> Result<ExitCode> {
    let parsed = read_events(events)?;
    let (labels_of, _) = read_labels(kind, labels)?;
    if fresh {
        let m = kind.model().meta;
        kind.set_model(warden_learn::Model::new(&m.kind, m.learner, m.extractor, m.rehearsal));
        kind.forget_own_models();
    }
    let (decided, taught) = warden_server::replay::train(kind, &parsed, &labels_of, geo);
    let mut model = kind.model();
    model.meta.trained_on.push(source.to_owned());
    model.save(out, false).with_context(|| format!("cannot save {}", out.display()))?;
    for (name, mut own) in kind.own_models() {
        let path = warden_server::kinds::own_model_path(out, name);
        own.meta.trained_on.push(source.to_owned());
        own.save(&path, false).with_context(|| format!("cannot save {}", path.display()))?;
        eprintln!("wrote its {name} model to {}", path.display());
    }
    eprintln!(
        "decided {decided} events, taught {taught} labels ({} abusive, {} legitimate in the model); wrote {}",
        model.meta.abusive,
        model.meta.legitimate,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn check(kind: &dyn Served, file: &Path, geo: &warden_geo::Geo) -> Result<ExitCode> {
    let input: Box<dyn BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("{}", file.display()))?,
        ))
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let counts = warden_server::replay::check_lines(kind, input, &mut out, geo, 1 << 20)?;
    out.flush()?;
    eprintln!("{} decided, {} refused", counts.decided, counts.refused);
    Ok(if counts.refused == 0 { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn eval(
    kind: &dyn Served,
    events: &Path,
    labels: &Path,
    delay: u64,
    json: Option<&Path>,
    geo: &warden_geo::Geo,
) -> Result<ExitCode> {
    let parsed = read_events(events)?;
    let (labels, groups) = read_labels(kind, labels)?;
    let mut report = warden_server::replay::eval(kind, &parsed, &labels, &groups, delay, geo);
    report["peak_rss_mb"] = serde_json::json!(peak_rss_mb());
    let out = serde_json::to_string_pretty(&report)?;
    println!("{out}");
    if let Some(path) = json {
        std::fs::write(path, out + "\n").with_context(|| format!("{}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The process's peak resident memory, MiB (Linux's `VmHWM`; `None` where it is not told).
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Entities' labels, and the groups of those in one.
type Labels = (HashMap<String, Label>, HashMap<String, String>);

/// A labels file: a header, then `entity<TAB>label[<TAB>group]` lines; entities in lower case.
fn read_labels(kind: &dyn Served, path: &Path) -> Result<Labels> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    let mut labels = HashMap::new();
    let mut groups = HashMap::new();
    for (n, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let mut fields = line.split('\t');
        let (Some(entity), Some(word)) = (fields.next(), fields.next()) else {
            bail!("{}:{}: want entity<TAB>label", path.display(), n + 1);
        };
        let Some(label) = kind.label(word.trim()) else {
            bail!(
                "{}:{}: {word:?} is not a {} label ({} or {})",
                path.display(),
                n + 1,
                kind.name(),
                kind.label_word(Label::Abusive),
                kind.label_word(Label::Legitimate)
            );
        };
        let entity = entity.trim().to_lowercase();
        if let Some(group) = fields.next().map(str::trim).filter(|g| !g.is_empty()) {
            groups.insert(entity.clone(), group.to_owned());
        }
        labels.insert(entity, label);
    }
    Ok((labels, groups))
}

fn synth(kind: &dyn Served, out: &Path, events: usize, seed: u64) -> Result<ExitCode> {
    let Some(s) = kind.synth(seed, events) else {
        bail!("the {} kind has no simulator", kind.name());
    };
    std::fs::create_dir_all(out).with_context(|| format!("{}", out.display()))?;
    let mut lines = String::new();
    for e in &s.events {
        lines.push_str(&serde_json::to_string(e)?);
        lines.push('\n');
    }
    std::fs::write(out.join("events.jsonl"), lines)?;
    let mut tsv =
        String::from(if s.groups.is_empty() { "entity\tlabel\n" } else { "entity\tlabel\tgroup\n" });
    for (entity, label) in &s.labels {
        let word = kind.label_word(*label);
        match s.groups.get(entity) {
            Some(group) => tsv.push_str(&format!("{entity}\t{word}\t{group}\n")),
            None => tsv.push_str(&format!("{entity}\t{word}\n")),
        }
    }
    std::fs::write(out.join("labels.tsv"), tsv)?;
    eprintln!("wrote {} events and {} labels to {}", s.events.len(), s.labels.len(), out.display());
    Ok(ExitCode::SUCCESS)
}

/// `90s`, `30m`, `24h`, `2d` (or plain seconds) as seconds.
fn duration(s: &str) -> Result<u64> {
    let s = s.trim();
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number.parse().with_context(|| format!("{s:?} is not a duration (90s, 30m, 24h, 2d)"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => bail!("{s:?} is not a duration (90s, 30m, 24h, 2d)"),
    };
    n.checked_mul(scale).with_context(|| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_with_their_units() {
        assert_eq!(duration("24h").unwrap(), 86_400);
        assert_eq!(duration("90s").unwrap(), 90);
        assert_eq!(duration("30m").unwrap(), 1_800);
        assert_eq!(duration("2d").unwrap(), 172_800);
        assert_eq!(duration("600").unwrap(), 600);
        assert!(duration("h").is_err());
        assert!(duration("3w").is_err());
        assert!(duration("99999999999999999999d").is_err());
    }

    fn probe(_: &warden_server::Settings) -> Result<Vec<Arc<dyn Served>>> {
        Ok(vec![Arc::new(warden_server::kinds::Pipeline::new(warden_server::kinds::probe::Probe))])
    }

    fn run_with(kinds: &MakeKinds, args: &[&str]) -> ExitCode {
        run(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>(), kinds).unwrap()
    }

    #[test]
    fn a_kinds_commands_make_check_and_evaluate_its_events() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("synth");
        let kinds = probe;
        let out_s = out.to_str().unwrap();
        assert_eq!(
            run_with(&kinds, &["probe", "synth", "--out", out_s, "--events", "2000", "--seed", "3"]),
            ExitCode::SUCCESS
        );
        let labels = std::fs::read_to_string(out.join("labels.tsv")).unwrap();
        assert!(labels.starts_with("entity\tlabel\n") && labels.contains("\tabusive\n"), "{labels}");
        let events = out.join("events.jsonl");
        assert_eq!(std::fs::read_to_string(&events).unwrap().lines().count(), 2000);
        // `check` writes to standard output itself: three events are enough to see it answer.
        let few = dir.path().join("few.jsonl");
        let text = std::fs::read_to_string(&events).unwrap();
        std::fs::write(&few, text.lines().take(3).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
        assert_eq!(run_with(&kinds, &["probe", "check", few.to_str().unwrap()]), ExitCode::SUCCESS);
        std::fs::write(&few, "{\"kind\": \"probe\"}\n").unwrap();
        assert_eq!(
            run_with(&kinds, &["probe", "check", few.to_str().unwrap()]),
            ExitCode::from(1),
            "a refused line"
        );
        let report = dir.path().join("report.json");
        let (e, l, r) = (events.to_str().unwrap(), out.join("labels.tsv"), report.to_str().unwrap());
        let args = [
            "probe",
            "eval",
            "--events",
            e,
            "--labels",
            l.to_str().unwrap(),
            "--label-delay",
            "10m",
            "--json",
            r,
        ];
        assert_eq!(run_with(&kinds, &args), ExitCode::SUCCESS);
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
        assert_eq!((report["kind"].as_str(), report["events"].as_u64()), (Some("probe"), Some(2000)));
        assert!(report["at_first_event"]["roc_auc"].as_f64().unwrap() > 0.9, "{report}");
        assert_eq!(report["label_delay_secs"], 600);
        assert!(report["peak_rss_mb"].as_f64().unwrap() > 1.0, "{report}");
        // A label in another kind's words is an error naming the line.
        let bad = dir.path().join("bad.tsv");
        std::fs::write(&bad, "entity\tlabel\na-1\tspam\n").unwrap();
        let args = ["probe", "eval", "--events", e, "--labels", bad.to_str().unwrap()];
        let err =
            run(&args.iter().map(|a| a.to_string()).collect::<Vec<_>>(), &kinds).unwrap_err().to_string();
        assert!(err.contains(":2:") && err.contains("abusive or legitimate"), "{err}");
    }

    #[test]
    fn labels_files_name_groups_in_a_third_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("labels.tsv");
        std::fs::write(
            &path,
            "account\tlabel\tgroup\nA-1\tabusive\tburst-1\na-2\tlegitimate\n\na-3\tlegitimate\t \n",
        )
        .unwrap();
        let kinds = probe(&warden_server::Settings::default()).unwrap();
        let (labels, groups) = read_labels(&*kinds[0], &path).unwrap();
        assert_eq!(labels.len(), 3);
        assert_eq!(labels["a-1"], Label::Abusive, "entities in lower case");
        assert_eq!(groups.len(), 1, "{groups:?}");
        assert_eq!(groups["a-1"], "burst-1");
    }

    #[test]
    fn an_unknown_kind_is_named_with_the_kinds_there_are() {
        let e =
            run(&["nosuch".into(), "check".into(), "-".into()], &|_| Ok(Vec::new())).unwrap_err().to_string();
        assert!(e.contains("\"nosuch\"") && e.contains("kinds: mail"), "{e}");
    }
}
