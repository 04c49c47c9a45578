//! `warden serve`: the decision pipeline as a long-running server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use warden_mail_serve::{MailServer, MailSettings};
use warden_server::{AppState, Plugin, Settings, Sources};

#[derive(clap::Args)]
pub struct Args {
    /// Model file (default: the data directory's last checkpoint, else the starter model).
    /// It is taught the stored feedback it has not learned before serving.
    #[arg(long)]
    model: Option<PathBuf>,
    /// Configuration file (TOML); `WARDEN_<SECTION>__<KEY>` variables override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Data directory: feedback store, model checkpoints, keys (overrides [server] data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Scanning listener: Warden's API and Rspamd's /checkv2 and /ping (overrides [server]
    /// listen). Port 0 picks a free one (the address is printed).
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Controller listener: learning, statistics, admin (overrides [server] controller).
    #[arg(long)]
    controller: Option<SocketAddr>,
    /// Milter listener for Postfix and Sendmail (overrides [milter] listen).
    #[arg(long)]
    milter: Option<SocketAddr>,
    /// Largest message accepted, in bytes (overrides [limits] max_message_bytes).
    #[arg(long)]
    max_message_bytes: Option<usize>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    threads: Option<usize>,
    /// Check the configuration (file, environment and flags) and the model, print the
    /// settings in force as TOML (tokens hidden), and exit.
    #[arg(long)]
    check_config: bool,
    /// Start on a damaged data directory: make missing store files anew (empty), move foreign
    /// ones aside, remove records that fail their checksums and keep every valid one, and
    /// record all of it in the audit log. Without it, damage refuses start-up.
    #[arg(long)]
    repair: bool,
}

impl Args {
    /// The flags that override settings, as a function a reload applies again.
    fn overrides(&self) -> warden_server::Overrides {
        let (data_dir, listen, controller, milter, max) =
            (self.data_dir.clone(), self.listen, self.controller, self.milter, self.max_message_bytes);
        Arc::new(move |s: &mut Settings| {
            if let Some(d) = &data_dir {
                s.server.data_dir = d.clone();
            }
            if let Some(a) = listen {
                s.server.listen = a;
            }
            if let Some(a) = controller {
                s.server.controller = a;
            }
            // A section that does not read is left for the check to name.
            if let (Some(a), Ok(mut m)) =
                (milter, s.section::<warden_mail_serve::settings::MilterConfig>("milter"))
            {
                m.listen = a;
                s.set_section("milter", &m);
            }
            if let Some(n) = max {
                s.limits.max_message_bytes = n;
            }
        })
    }

    fn settings(&self) -> Result<Settings> {
        let mut s = Settings::read(self.config.as_deref(), std::env::vars())?;
        self.overrides()(&mut s);
        crate::kinds::check_settings(&s)?;
        Ok(s)
    }
}

pub fn run(args: Args) -> Result<()> {
    let settings = args.settings()?;
    let model = args.model.as_deref().map(|p| super::load_model(Some(p))).transpose()?;
    let mail = MailSettings::of(&settings)?;
    if args.check_config {
        let engine = warden_mail::engine::MailEngine::new(
            match model {
                Some(m) => m,
                None => super::load_model(None)?,
            },
            mail.engine(),
        )?;
        eprintln!("warden: thresholds in force: {}", thresholds_in_force(&engine));
        // Mail's sections with their defaults filled in, as the server reads them.
        let mut shown = settings.clone();
        mail.write(&mut shown);
        print!("{}", shown.to_toml_without_secrets().context("settings serialise")?);
        for warning in exposure_warnings(&settings, &mail) {
            eprintln!("warden: WARNING: {warning}");
        }
        eprintln!("warden: configuration is valid");
        return Ok(());
    }
    init_logs(settings.server.log_json);
    // Every file the server makes is its owner's alone (the stores also set 0600 themselves).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // Each connection is a descriptor: three listeners of max_connections each need room.
    let wanted = 3 * settings.limits.max_connections as u64 + 256;
    match warden_server::conn::raise_descriptor_limit() {
        Ok((before, after)) => {
            if after > before {
                tracing::info!(before, after, "raised the limit on open descriptors");
            }
            if after < wanted {
                tracing::warn!(
                    limit = after,
                    wanted,
                    "the open-descriptor limit is below what three full listeners need: lower [limits] max_connections or raise the hard limit (ulimit -Hn)"
                );
            }
        }
        Err(e) => tracing::warn!(error = %e, "could not raise the limit on open descriptors"),
    }
    let data_dir = settings.server.data_dir.clone();
    let tokens = warden_server::auth_tokens(&settings)
        .with_context(|| format!("cannot read or make the admin token in {}", data_dir.display()))?;
    if settings.auth.tokens.is_empty() {
        tracing::info!(path = %data_dir.join("admin.token").display(), "feedback and learning need the token in this file");
    }
    for warning in exposure_warnings(&settings, &mail) {
        tracing::warn!("{warning}");
        eprintln!("warden: WARNING: {warning}");
    }
    let checkpoint_every = Duration::from_secs(settings.feedback.checkpoint_secs);
    let retention_days = settings.feedback.retention_days;
    let overrides = Some(args.overrides());
    let sources = Sources { config: args.config, model: args.model, overrides };
    let plugins: warden_server::MakePlugins = Box::new(move |data, s| {
        let mail: Arc<dyn Plugin> = MailServer::open(data, model, s)?;
        Ok(vec![mail])
    });
    let (state, report) = AppState::open(settings, tokens, sources, args.repair, plugins)
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("cannot open the data directory {}", data_dir.display()))?;
    for note in &report.notes {
        tracing::warn!(data_dir = %data_dir.display(), "{note}");
    }
    for kind in crate::kinds::all(&state.settings())? {
        let name = kind.name();
        let taught = state
            .register_kind(kind)
            .with_context(|| format!("cannot start the {name} kind (its model, its rules)"))?;
        tracing::info!(
            kind = name,
            taught_again = taught,
            "serving /v1/{name}/check and /v1/{name}/feedback"
        );
    }
    state.check_rule_kinds()?;
    for repair in &report.repairs {
        tracing::warn!(data_dir = %data_dir.display(), "repair: {repair}");
        eprintln!("warden: repair: {repair}");
    }
    for note in &report.started {
        tracing::info!("{note}");
    }
    let live = Arc::clone(MailServer::of(&state).live());
    tracing::info!("thresholds in force: {}", live.with_engine(thresholds_in_force));
    let (replayed, skipped) = (
        live.counters.replayed.load(std::sync::atomic::Ordering::Relaxed),
        live.counters.skipped.load(std::sync::atomic::Ordering::Relaxed),
    );
    tracing::info!(data_dir = %data_dir.display(), replayed, skipped, "feedback store open; the model has learned every stored label it can");
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "feedback records made with other extractor settings than the model's were not replayed"
        );
    }

    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        runtime.worker_threads(n.max(1));
    }
    let runtime = runtime.enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listeners = warden_server::bind(&state).await?;
        let handlers = Signals::install()?;
        let (scan, controller) = (listeners.scan.local_addr()?, listeners.controller.local_addr()?);
        let milter = listeners.plugins.iter().find(|l| l.name == "milter");
        let milter = milter.map(|m| m.listener.local_addr()).transpose()?;
        let milter_text = milter.map_or("off".to_owned(), |m| format!("inet:{m}"));
        eprintln!(
            "warden: listening on http://{scan} (controller http://{controller}, milter {milter_text})"
        );
        tracing::info!(%scan, %controller, milter = %milter_text, "listening");
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        tokio::spawn(signals(state.clone(), stop_tx, handlers));
        tokio::spawn(housekeeping(state.clone(), checkpoint_every, retention_days));
        tokio::spawn(state.clone().watch_rules());
        warden_server::serve(state, listeners, stop).await.map_err(anyhow::Error::msg)?;
        tracing::info!("stopped");
        eprintln!("warden: stopped");
        anyhow::Ok(())
    })
}

/// Warnings for settings that put Warden within reach of others: the server's and mail's.
fn exposure_warnings(settings: &Settings, mail: &MailSettings) -> Vec<String> {
    let mut out = warden_server::exposure_warnings(settings);
    out.extend(warden_mail_serve::settings::exposure_warnings(mail));
    out
}

/// The action thresholds a decision uses and where each came from, on one line.
fn thresholds_in_force(engine: &warden_mail::engine::MailEngine) -> String {
    let (t, sources) = engine.thresholds();
    let from = |s: warden_mail::engine::ThresholdSource| match s {
        warden_mail::engine::ThresholdSource::Configuration => "configuration",
        warden_mail::engine::ThresholdSource::Model => "model",
        warden_mail::engine::ThresholdSource::BuiltIn => "built-in",
    };
    format!(
        "junk {:?} ({}), quarantine {:?} ({}), reject {:?} ({})",
        t.junk,
        from(sources[0]),
        t.quarantine,
        from(sources[1]),
        t.reject,
        from(sources[2])
    )
}

/// Logs on standard error: text, or one JSON object a line. Never message content or
/// addresses: the server logs counts, ids (keyed hashes) and its own state only.
fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WARDEN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Checkpoints on schedule and deletes feedback, audit entries, review items and counter
/// updates past their retention.
async fn housekeeping(state: AppState, every: Duration, retention_days: u64) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let live = Arc::clone(MailServer::of(&state).live());
        let desk_state = state.clone();
        let done = tokio::task::spawn_blocking(move || {
            if let Err(e) = desk_state.expire_desk() {
                tracing::error!(error = %e, "expiring old audit entries, review items and counter updates failed");
            }
            for p in desk_state.plugins() {
                match p.start(&desk_state, false) {
                    Ok(notes) => notes.iter().for_each(|n| tracing::info!("{n}")),
                    Err(e) => tracing::warn!(kind = p.name(), error = %e, "what a crash left stays to do (resolutions' lessons stay in the outbox)"),
                }
            }
            for (kind, done) in desk_state.checkpoint_kinds() {
                if let Err(e) = done {
                    tracing::error!(kind, error = %e, "checkpoint of the kind's model failed; its recorded labels are taught again at start");
                }
            }
            (live.checkpoint(), live.expire(retention_days))
        })
        .await;
        match done {
            Ok((Ok(seq), Ok(expired))) => tracing::info!(last_record = seq, expired, "checkpoint written"),
            Ok((Err(e), _)) => {
                tracing::error!(error = %e, "checkpoint failed; the feedback store still has every label")
            }
            Ok((_, Err(e))) => tracing::error!(error = %e, "expiring old feedback failed"),
            Err(e) => tracing::error!(error = %e, "housekeeping task failed"),
        }
    }
}

/// The signals the server answers, registered before it says it is listening: a signal that
/// arrives any earlier gets the default action (the process ends without draining).
struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        let install =
            |kind: SignalKind, name: &str| signal(kind).with_context(|| format!("cannot handle {name}"));
        Ok(Signals {
            hup: install(SignalKind::hangup(), "SIGHUP")?,
            term: install(SignalKind::terminate(), "SIGTERM")?,
            int: install(SignalKind::interrupt(), "SIGINT")?,
        })
    }
}

/// SIGHUP reloads; SIGTERM or Ctrl-C (SIGINT) stops (the server then drains what it has).
async fn signals(state: AppState, stop: tokio::sync::watch::Sender<bool>, signals: Signals) {
    let Signals { mut hup, mut term, mut int } = signals;
    loop {
        tokio::select! {
            _ = hup.recv() => {
                let s = state.clone();
                match tokio::task::spawn_blocking(move || s.reload()).await {
                    Ok(Ok(notes)) => tracing::info!(notes = ?notes, "reloaded on SIGHUP"),
                    Ok(Err(e)) => tracing::error!(error = %e, "reload refused; the running configuration is unchanged"),
                    Err(e) => tracing::error!(error = %e, "reload task failed"),
                }
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("stopping: draining requests in flight, then a last checkpoint");
    let _ = stop.send(true);
}
