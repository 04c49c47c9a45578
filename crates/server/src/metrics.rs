//! `GET /metrics`: Prometheus text exposition (prometheus-client, no global registry).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A decision's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// Warden's action.
    pub action: String,
    /// Which endpoint asked.
    pub endpoint: String,
}

/// A listener's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ListenerLabels {
    /// `scan` or `controller`.
    pub listener: String,
}

/// Why the server closed a connection.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClosedLabels {
    /// `scan`, `controller` or `milter`.
    pub listener: String,
    /// `idle`, `evicted` or `refused`.
    pub why: String,
}

/// A file's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FileLabels {
    file: String,
}

/// A feedback outcome's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `new`, `correction`, `duplicate` or `refused`.
    pub outcome: String,
}

/// A rule's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: String,
    mode: String,
}

/// The model's identity.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    created: String,
}

/// What the rest of the server reports at a scrape.
#[derive(Debug, Default)]
pub struct Scrape {
    /// Connections open, by listener.
    pub connections: Vec<(&'static str, usize)>,
    /// Bytes held against `max_bytes_in_flight`.
    pub bytes_in_flight: usize,
    /// Damaged records met since start and removed by a repair, by file.
    pub damaged: Vec<(&'static str, u64, u64)>,
    /// Open review items.
    pub review_open: u64,
    /// Review items dropped at the cap since start.
    pub review_dropped: u64,
    /// Webhook events waiting in the outbox.
    pub webhooks_waiting: u64,
    /// Webhook events dropped at `[webhooks] max_queued` since start.
    pub webhooks_dropped: u64,
}

/// A live model's figures, as a plug-in reports them.
#[derive(Debug, Clone, Default)]
pub struct ModelFigures {
    /// When it was saved.
    pub created: String,
    /// Messages (events) it has learned.
    pub messages: u64,
    /// Records in its feedback store, when it could be read.
    pub records: Option<u64>,
    /// Records taught again at start or reload.
    pub replayed: u64,
    /// Records it could not be taught.
    pub skipped: u64,
    /// Checkpoints written.
    pub checkpoints: u64,
}

/// Everything `/metrics` shows.
pub struct Metrics {
    registry: Registry,
    /// Decisions by action and endpoint.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Time to decide, request read to answer, in seconds.
    pub latency: Family<ListenerLabels, Histogram>,
    /// Feedback by outcome.
    pub feedback: Family<OutcomeLabels, Counter>,
    /// Webhook posts by outcome (`delivered`, `failed`).
    pub webhooks: Family<OutcomeLabels, Counter>,
    /// Calls refused for want of a valid token.
    pub unauthorized: Family<ListenerLabels, Counter>,
    /// Requests refused with 503 because `max_in_flight` were already running.
    pub shed: Family<ListenerLabels, Counter>,
    /// Checks answered 503 because their audit, review or counter writes failed, by endpoint.
    pub desk_failures: Family<ListenerLabels, Counter>,
    /// Requests that ran past a time limit (slow client or time budget).
    pub timeouts: Family<ListenerLabels, Counter>,
    /// Requests being decided or learned now.
    pub in_flight: Family<ListenerLabels, Gauge>,
    /// Requests refused with 503 because `max_bytes_in_flight` was spent.
    pub memory_shed: Family<ListenerLabels, Counter>,
    /// Connections the server closed, by listener and why.
    pub connections_closed: Family<ClosedLabels, Counter>,
    connections: Family<ListenerLabels, Gauge>,
    bytes_in_flight: Gauge,
    damaged: Family<FileLabels, Gauge>,
    repaired: Family<FileLabels, Gauge>,
    review_open: Gauge,
    review_dropped: Gauge,
    webhooks_waiting: Gauge,
    webhooks_dropped: Gauge,
    model: Family<ModelLabels, Gauge>,
    model_messages: Gauge,
    records: Gauge,
    replayed: Gauge,
    skipped: Gauge,
    checkpoints: Gauge,
    rules: Gauge,
    rule_hits: Family<RuleLabels, Gauge>,
    rule_nanos: Family<RuleLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// Rule sets that failed to check on a reload and were not used.
    pub rule_reload_failures: Counter,
    /// 1 when the last rule load succeeded, 0 when it failed (the previous set still runs).
    pub rules_last_load_ok: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("warden");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register("decisions", "Decisions by action and endpoint", decisions.clone());
        // 50 µs to about 1.6 s, doubling.
        let latency = Family::<ListenerLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
        });
        registry.register(
            "request_seconds",
            "Time from request to answer of decisions and feedback",
            latency.clone(),
        );
        let feedback = Family::<OutcomeLabels, Counter>::default();
        registry.register("feedback", "Feedback labels by outcome", feedback.clone());
        let webhooks = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "webhooks",
            "Webhook posts by outcome: delivered, failed (each failed attempt)",
            webhooks.clone(),
        );
        let unauthorized = Family::<ListenerLabels, Counter>::default();
        registry.register("unauthorized", "Calls refused with 401 (no valid token)", unauthorized.clone());
        let shed = Family::<ListenerLabels, Counter>::default();
        registry.register("shed", "Requests refused with 503: max_in_flight reached", shed.clone());
        let desk_failures = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "desk_write_failures",
            "Checks refused with 503: their audit, review or counter writes were not stored",
            desk_failures.clone(),
        );
        let timeouts = Family::<ListenerLabels, Counter>::default();
        registry.register("timeouts", "Requests past client_timeout_ms", timeouts.clone());
        let in_flight = Family::<ListenerLabels, Gauge>::default();
        registry.register("in_flight", "Requests being decided or learned now", in_flight.clone());
        let memory_shed = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "memory_shed",
            "Requests refused with 503: max_bytes_in_flight was spent",
            memory_shed.clone(),
        );
        let connections_closed = Family::<ClosedLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "Connections the server closed: idle (past idle_timeout_ms), evicted (idle, to make room), refused (listener full)",
            connections_closed.clone(),
        );
        let connections = Family::<ListenerLabels, Gauge>::default();
        registry.register("connections", "Connections open now", connections.clone());
        let damaged = Family::<FileLabels, Gauge>::default();
        registry.register(
            "damaged_records",
            "Damaged records met by reads since start (skipped; `warden serve --repair` removes them)",
            damaged.clone(),
        );
        let repaired = Family::<FileLabels, Gauge>::default();
        registry.register("repaired_records", "Damaged records a repair removed at start", repaired.clone());
        let model = Family::<ModelLabels, Gauge>::default();
        registry.register("model_info", "The live model (1), by when it was saved", model.clone());
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let model_messages = gauge(&mut registry, "model_messages", "Messages the live model has learned");
        let records = gauge(&mut registry, "feedback_records", "Feedback records in the store");
        let replayed = gauge(&mut registry, "feedback_replayed", "Records taught again at start or reload");
        let skipped =
            gauge(&mut registry, "feedback_skipped", "Records not replayable (other extractor settings)");
        let checkpoints = gauge(&mut registry, "checkpoints", "Model checkpoints written");
        let rules = gauge(&mut registry, "rules", "Analysts' rules in force (shadow ones included)");
        let rule_hits = Family::<RuleLabels, Gauge>::default();
        registry.register("rule_hits", "Times each rule fired since its set was loaded", rule_hits.clone());
        let rule_nanos = Family::<RuleLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "rule_eval_nanoseconds",
            "Mean time to evaluate each rule, over one evaluation in 1,024",
            rule_nanos.clone(),
        );
        let rule_reload_failures = Counter::default();
        registry.register(
            "rule_load_failures",
            "Rule sets that failed to check and were not used",
            rule_reload_failures.clone(),
        );
        let rules_last_load_ok =
            gauge(&mut registry, "rules_last_load_ok", "1 if the last rule load checked, else 0");
        let bytes_in_flight =
            gauge(&mut registry, "bytes_in_flight", "Bytes of requests and milter messages held now");
        let review_open = gauge(&mut registry, "review_open", "Open review items");
        let review_dropped =
            gauge(&mut registry, "review_dropped", "Review items dropped at [review] max_items since start");
        let webhooks_waiting =
            gauge(&mut registry, "webhooks_waiting", "Webhook events waiting in the outbox");
        let webhooks_dropped = gauge(
            &mut registry,
            "webhooks_dropped",
            "Webhook events dropped at [webhooks] max_queued since start",
        );
        rules_last_load_ok.set(1);
        Metrics {
            registry,
            decisions,
            latency,
            feedback,
            webhooks,
            unauthorized,
            shed,
            desk_failures,
            timeouts,
            in_flight,
            memory_shed,
            connections_closed,
            connections,
            bytes_in_flight,
            damaged,
            repaired,
            review_open,
            review_dropped,
            webhooks_waiting,
            webhooks_dropped,
            model,
            model_messages,
            records,
            replayed,
            skipped,
            checkpoints,
            rules,
            rule_hits,
            rule_nanos,
            rule_reload_failures,
            rules_last_load_ok,
        }
    }
}

impl Metrics {
    /// The exposition text, with `now`'s figures (the plug-ins have set theirs).
    pub fn render(&self, now: &Scrape) -> String {
        for &(listener, open) in &now.connections {
            self.connections.get_or_create(&ListenerLabels { listener: listener.into() }).set(open as i64);
        }
        self.bytes_in_flight.set(now.bytes_in_flight as i64);
        for &(file, found, repaired) in &now.damaged {
            self.damaged.get_or_create(&FileLabels { file: file.into() }).set(found as i64);
            self.repaired.get_or_create(&FileLabels { file: file.into() }).set(repaired as i64);
        }
        self.review_open.set(now.review_open as i64);
        self.review_dropped.set(now.review_dropped as i64);
        self.webhooks_waiting.set(now.webhooks_waiting as i64);
        self.webhooks_dropped.set(now.webhooks_dropped as i64);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }

    /// Sets the live model's figures (a plug-in's, at a scrape).
    pub fn set_model(&self, m: &ModelFigures) {
        self.model.clear();
        self.model.get_or_create(&ModelLabels { created: m.created.clone() }).set(1);
        self.model_messages.set(m.messages as i64);
        if let Some(records) = m.records {
            self.records.set(records as i64);
        }
        self.replayed.set(m.replayed as i64);
        self.skipped.set(m.skipped as i64);
        self.checkpoints.set(m.checkpoints as i64);
    }

    /// Sets the figures of the rules in force (a plug-in's, at a scrape).
    pub fn set_rules(&self, rules: Option<&warden_rules::RuleSet>) {
        self.rule_hits.clear();
        self.rule_nanos.clear();
        self.rules.set(rules.map_or(0, |r| r.rules().len() as i64));
        for (rule, f) in rules.iter().flat_map(|r| r.figures()) {
            let mode = if rule.mode == warden_rules::Mode::Shadow { "shadow" } else { "enforce" };
            let labels = RuleLabels { rule: rule.name.clone(), mode: mode.into() };
            self.rule_hits.get_or_create(&labels).set(f.hits as i64);
            self.rule_nanos.get_or_create(&labels).set(f.mean_nanos);
        }
    }

    /// Counts a decision.
    pub fn decided(&self, action: &str, endpoint: &str) {
        self.decisions
            .get_or_create(&DecisionLabels { action: action.into(), endpoint: endpoint.into() })
            .inc();
    }

    /// Counts a listener event in `family`.
    pub fn count(family: &Family<ListenerLabels, Counter>, listener: &str) {
        family.get_or_create(&ListenerLabels { listener: listener.into() }).inc();
    }
}
