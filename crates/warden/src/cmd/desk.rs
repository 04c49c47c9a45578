//! `warden review`, `warden labels`, `warden audit`: the analysts' desk from the command line.
//!
//! They talk to a running server's controller (its desk holds the data directory's store
//! open), with the caller's own token, so that the audit log records who acted. `warden audit
//! export --data-dir` also reads a stopped server's store directly.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;

/// Where the server is and who is asking.
#[derive(Debug, Args)]
pub struct Server {
    /// The controller's address.
    #[arg(long, default_value = "http://127.0.0.1:11334", env = "WARDEN_URL")]
    url: String,
    /// Your token (an analyst's, a viewer's, or an admin token).
    #[arg(long, env = "WARDEN_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// A file holding your token (such as the data directory's admin.token).
    #[arg(long, conflicts_with = "token")]
    token_file: Option<PathBuf>,
}

/// `warden review …`
#[derive(Debug, Subcommand)]
pub enum Review {
    /// List items, newest first.
    List {
        #[command(flatten)]
        server: Server,
        /// Only items with this status.
        #[arg(long, value_enum)]
        status: Option<Status>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Print the items as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one item in full (JSON).
    Show {
        #[command(flatten)]
        server: Server,
        /// The item.
        id: u64,
    },
    /// Take an item, so that no one else resolves it.
    Claim {
        #[command(flatten)]
        server: Server,
        /// The item.
        id: u64,
    },
    /// Label an item: the model learns the label, the audit log keeps who, when and why.
    Resolve {
        #[command(flatten)]
        server: Server,
        /// The item.
        id: u64,
        /// The label: spam or ham.
        #[arg(long)]
        label: warden_mail::MailLabel,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

/// A review item's status.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    /// Waiting for an analyst.
    Open,
    /// Taken by an analyst.
    Claimed,
    /// Labelled.
    Resolved,
}

/// `warden labels …`
#[derive(Debug, Subcommand)]
pub enum Labels {
    /// List labels (all, or one kind's, or one entity's).
    List {
        #[command(flatten)]
        server: Server,
        /// Only this kind of entity (`domain`, `ip`, `address`, `host`, `account`, …).
        #[arg(long)]
        kind: Option<String>,
        /// Only this entity.
        #[arg(long)]
        entity: Option<String>,
    },
    /// Put a label on an entity (an analyst's label overrides rules' labels).
    Set(LabelArgs),
    /// Take a label off an entity; rules cannot put it back until `--ttl` has passed.
    Remove(LabelArgs),
}

/// A label change.
#[derive(Debug, Args)]
pub struct LabelArgs {
    #[command(flatten)]
    server: Server,
    /// The kind of entity (`domain`, `ip`, `address`, `host`, `account`, …).
    #[arg(long)]
    kind: String,
    /// The entity.
    #[arg(long)]
    entity: String,
    /// The label.
    #[arg(long)]
    label: String,
    /// Why (kept in the audit log).
    #[arg(long)]
    reason: String,
    /// How long it holds: `90s`, `30m`, `12h`, `7d` (forever when omitted).
    #[arg(long, value_parser = parse_duration)]
    ttl: Option<u64>,
}

/// `warden audit …`
#[derive(Debug, Subcommand)]
pub enum Audit {
    /// Write the audit log as JSON lines, oldest first.
    Export {
        /// The server to read it from (the default unless `--data-dir` is given).
        #[command(flatten)]
        server: Server,
        /// Read a stopped server's data directory instead.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Only entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: u64,
        /// Write here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn parse_duration(s: &str) -> Result<u64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = n.parse().map_err(|_| format!("{s:?}: a number and a unit, such as 7d"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?}: the unit is s, m, h or d")),
    };
    n.checked_mul(unit).ok_or_else(|| format!("{s:?} is too long"))
}

impl Server {
    fn token(&self) -> Result<String> {
        match (&self.token, &self.token_file) {
            (Some(t), _) => Ok(t.trim().to_owned()),
            (None, Some(f)) => Ok(std::fs::read_to_string(f)
                .with_context(|| format!("cannot read the token file {}", f.display()))?
                .trim()
                .to_owned()),
            (None, None) => bail!("give your token: --token, WARDEN_TOKEN or --token-file"),
        }
    }

    /// One request; answers the body, or an error with the server's message.
    fn call(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Result<Vec<u8>> {
        let uri: hyper::Uri = format!("{}{path}", self.url.trim_end_matches('/'))
            .parse()
            .with_context(|| format!("{:?} is not a URL", self.url))?;
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {}", self.token()?));
        let bytes = match body {
            Some(v) => {
                req = req.header("content-type", "application/json");
                Bytes::from(serde_json::to_vec(&v)?)
            }
            None => Bytes::new(),
        };
        let req = req.body(Full::new(bytes))?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let (status, body) = runtime.block_on(async {
            let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Full<Bytes>>();
            let res = client.request(req).await.with_context(|| format!("cannot reach {}", self.url))?;
            let status = res.status();
            anyhow::Ok((status, res.into_body().collect().await?.to_bytes().to_vec()))
        })?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
            bail!("{status}: {message}");
        }
        Ok(body)
    }

    fn json(&self, method: &str, path: &str, body: Option<serde_json::Value>) -> Result<serde_json::Value> {
        let bytes = self.call(method, path, body)?;
        serde_json::from_slice(&bytes).context("the server's answer is not JSON")
    }
}

/// Prints JSON for a person: control and bidirectional characters escaped (the JSON reads
/// the same).
fn print_json(v: &serde_json::Value) -> Result<ExitCode> {
    println!("{}", warden_server::text::json_for_terminal(&serde_json::to_string_pretty(v)?));
    Ok(ExitCode::SUCCESS)
}

/// Query-string escaping of a value (RFC 3986 unreserved characters kept).
fn escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `warden review …`.
pub fn review(cmd: Review) -> Result<ExitCode> {
    match cmd {
        Review::List { server, status, limit, json } => {
            let status =
                status.map_or(String::new(), |s| format!("&status={}", format!("{s:?}").to_lowercase()));
            let v = server.json("GET", &format!("/v1/review?limit={limit}{status}"), None)?;
            if json {
                return print_json(&v["items"]);
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "id\tstatus\tqueued\tP(spam)\taction\twhy\tfrom\tsubject")?;
            for i in v["items"].as_array().into_iter().flatten() {
                // Text from messages, shown escaped: it reaches an analyst's terminal.
                let text = |k: &str| warden_server::text::escape(i[k].as_str().unwrap_or("-")).into_owned();
                let why: Vec<&str> =
                    i["why"].as_array().into_iter().flatten().filter_map(|w| w.as_str()).collect();
                writeln!(
                    out,
                    "{}\t{}\t{}\t{:.3}\t{}\t{}\t{}\t{}",
                    i["id"],
                    text("status"),
                    i["at"],
                    i["probability"].as_f64().unwrap_or(f64::NAN),
                    text("action"),
                    why.join(","),
                    text("from_domain"),
                    warden_server::text::escape(
                        &i["subject"].as_str().unwrap_or("-").chars().take(60).collect::<String>()
                    )
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Review::Show { server, id } => print_json(&server.json("GET", &format!("/v1/review/{id}"), None)?),
        Review::Claim { server, id } => {
            print_json(&server.json("POST", &format!("/v1/review/{id}/claim"), None)?)
        }
        Review::Resolve { server, id, label, reason } => {
            let body = serde_json::json!({ "label": label, "reason": reason });
            print_json(&server.json("POST", &format!("/v1/review/{id}/resolve"), Some(body))?)
        }
    }
}

/// Runs `warden labels …`.
pub fn labels(cmd: Labels) -> Result<ExitCode> {
    let change = |a: LabelArgs, remove: bool| {
        let body = serde_json::json!({
            "kind": a.kind, "entity": a.entity, "label": a.label, "reason": a.reason,
            "ttl_secs": a.ttl, "remove": remove,
        });
        print_json(&a.server.json("POST", "/v1/labels", Some(body))?)
    };
    match cmd {
        Labels::List { server, kind, entity } => {
            let mut query = Vec::new();
            if let Some(k) = kind {
                query.push(format!("kind={}", escape(&k)));
            }
            if let Some(e) = entity {
                query.push(format!("entity={}", escape(&e)));
            }
            print_json(&server.json("GET", &format!("/v1/labels?{}", query.join("&")), None)?["labels"])
        }
        Labels::Set(a) => change(a, false),
        Labels::Remove(a) => change(a, true),
    }
}

/// Runs `warden audit …`.
pub fn audit(cmd: Audit) -> Result<ExitCode> {
    let Audit::Export { server, data_dir, after, out } = cmd;
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let mut n = 0u64;
    match data_dir {
        Some(dir) => {
            if !dir.join("desk.redb").exists() {
                bail!("{}: no desk.redb here (is it a Warden data directory?)", dir.display());
            }
            let mut failed = None;
            let damaged = warden_desk::read_audit(&dir, after, |e| {
                if failed.is_none() {
                    let line = serde_json::to_string(&e).expect("entries serialise");
                    if let Err(err) = writeln!(sink, "{}", warden_server::text::json_for_terminal(&line)) {
                        failed = Some(err);
                    }
                    n += 1;
                }
            })
            .map_err(|e| {
                anyhow::anyhow!(
                    "{e} (a running server holds its data directory: export through it, without --data-dir)"
                )
            })?;
            if let Some(e) = failed {
                return Err(e.into());
            }
            if damaged > 0 {
                eprintln!("warden: {damaged} damaged audit rows or entries were skipped");
            }
        }
        None => {
            // Page through the server's log, 1,000 entries a call.
            let mut after = after;
            loop {
                let page = server.call("GET", &format!("/v1/audit?after={after}&limit=1000"), None)?;
                let mut last = None;
                for line in page.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    let v: serde_json::Value =
                        serde_json::from_slice(line).context("an audit line is not JSON")?;
                    last = v["seq"].as_u64();
                    let line = String::from_utf8_lossy(line);
                    writeln!(sink, "{}", warden_server::text::json_for_terminal(&line))?;
                    n += 1;
                }
                match last {
                    Some(seq) => after = seq,
                    None => break,
                }
            }
        }
    }
    sink.flush()?;
    if out.is_some() {
        eprintln!("{n} audit entries written");
    }
    Ok(ExitCode::SUCCESS)
}
