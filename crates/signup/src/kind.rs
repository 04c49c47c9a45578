//! Sign-ups on the server's generic routes (`POST /v1/signup/check`, `/v1/signup/feedback`):
//! what the pipeline asks of a kind — the event read, its features (at the door, and against
//! the sign-ups before it), the cluster it joins, the facts analysts' rules read (`signup.*`),
//! the kind's thresholds, its starter models (trained on the simulator, built in), its
//! `clusters` view and what an erasure forgets.

use std::sync::Mutex;

use serde_json::{Map, Value};
use warden_core::Label;
use warden_core::{Reason, Thresholds};
use warden_learn::Model;
use warden_rules::{Catalogue, FieldDef, Record, Type};
use warden_server::kinds::{BadField, Context, JsonKind, Later, Read, ReportNames, Synthetic};

use crate::cluster::Clusterer;
use crate::domain::DomainClass;
use crate::event::{Captcha, Signup, parse};
use crate::features::Derived;
use crate::memory::{Attr, HORIZON, Memory};
use crate::{SignupAction, SignupKind};

/// What rules read of a sign-up (`warden rules fields --kind signup` will list them).
static FIELDS: [FieldDef; 16] = {
    let [probability, score] = Catalogue::MODEL_FIELDS;
    [
        FieldDef::new("signup.account", Type::Str, "the service's account id, lower case").naming("account"),
        FieldDef::new("signup.email_domain", Type::Str, "the address's domain, lower case").naming("domain"),
        FieldDef::new(
            "signup.email_class",
            Type::Str,
            "own, free, disposable, other; absent without an address",
        ),
        FieldDef::new(
            "signup.local_pattern",
            Type::Str,
            "the local part's character classes (`lllll.lllll99`)",
        ),
        FieldDef::new("signup.local_collapsed", Type::Str, "the same, each run written once (`l.l9`)"),
        FieldDef::new(
            "signup.name_agreement",
            Type::Float,
            "the share of the name's words the address bears out",
        ),
        FieldDef::new("signup.ip", Type::Ip, "the client's address").naming("ip"),
        FieldDef::new("signup.network", Type::Str, "the IPv4 /24 or IPv6 /48 (`203.0.113.0/24`)")
            .naming("network"),
        FieldDef::new("signup.asn", Type::Int, "the autonomous system the edge gave"),
        FieldDef::new("signup.country", Type::Str, "the country the edge gave (upper case)"),
        FieldDef::new(
            "signup.agent",
            Type::Str,
            "the user agent's category (pc, smartphone, crawler, …), or none",
        ),
        FieldDef::new("signup.device", Type::Str, "the service's device id").naming("device"),
        FieldDef::new("signup.captcha", Type::Str, "passed, failed, none or unknown"),
        FieldDef::new(
            "signup.network_lists",
            Type::StrList,
            "the tags of the operator's network lists the address (or its ASN) is on (`[signup] network_lists`)",
        ),
        probability,
        score,
    ]
};

static CATALOGUE: Catalogue = Catalogue {
    kind: "signup",
    version: 2,
    fields: &FIELDS,
    actions: &["allow", "challenge", "review", "block"],
};

/// Sign-ups' rule catalogue.
pub fn catalogue() -> &'static Catalogue {
    &CATALOGUE
}

/// The sign-up kind on the generic routes.
#[derive(Debug)]
pub struct Signups {
    /// The service's own mail domains (class `own`).
    pub own: Vec<String>,
    /// What it remembers of recent sign-ups (made afresh under a new seed).
    memory: Mutex<Option<Memory>>,
    /// How long the memory keeps an attribute not seen again, seconds.
    horizon: u64,
    /// The model to start from instead of the built-in starter (`[signup] model`).
    model: Option<Model>,
    /// The operator's network lists (`[signup] network_lists`).
    lists: crate::networks::NetworkLists,
    /// The clusters of recent sign-ups (made afresh under a new seed).
    clusters: Mutex<Option<Clusterer>>,
    /// The cluster model a new clusterer starts with.
    cluster_model: Mutex<Model>,
}

impl Default for Signups {
    fn default() -> Self {
        Signups::new(Vec::new())
    }
}

impl Signups {
    /// The kind, with `own` the service's own mail domains.
    pub fn new(own: Vec<String>) -> Signups {
        Signups::with_memory(own, HORIZON)
    }

    /// The kind, its memory keeping an attribute not seen again for `horizon` seconds.
    pub fn with_memory(own: Vec<String>, horizon: u64) -> Signups {
        Signups {
            own,
            memory: Mutex::new(None),
            horizon,
            model: None,
            lists: crate::networks::NetworkLists::default(),
            clusters: Mutex::new(None),
            cluster_model: Mutex::new(starter_clusters()),
        }
    }

    /// Scores clusters with `model` (a cluster model, [`Signups::cluster_model`]).
    pub fn start_clusters_with(&mut self, model: Model) {
        self.cluster_model = Mutex::new(model);
    }

    /// The cluster model as it stands (the starter's, and what labels taught it since).
    pub fn cluster_model(&self) -> Model {
        let c = self.clusters.lock().expect("not poisoned");
        c.as_ref()
            .map_or_else(|| self.cluster_model.lock().expect("not poisoned").clone(), |c| c.model().clone())
    }

    /// Calls `f` with the clusterer (none before the first sign-up).
    pub fn with_clusters<T>(&self, f: impl FnOnce(Option<&Clusterer>) -> T) -> T {
        f(self.clusters.lock().expect("not poisoned").as_ref())
    }

    /// Reads `lists` for the network-list features.
    pub fn with_lists(mut self, lists: crate::networks::NetworkLists) -> Signups {
        self.lists = lists;
        self
    }

    /// Starts from `model` instead of the built-in starter.
    pub fn start_with(&mut self, model: Model) {
        self.model = Some(model);
    }

    /// Roughly how many bytes its memory of recent sign-ups holds, and how many attribute
    /// values.
    pub fn memory_size(&self) -> (usize, usize) {
        let m = self.memory.lock().expect("not poisoned");
        m.as_ref().map_or((0, 0), |m| (m.bytes(), m.len()))
    }
}

/// The starter sign-up model, trained on the simulator (`scripts/signup-starter.sh`: seeds 1, 2
/// and 3 of `warden signup synth`, 50,000 sign-ups each), built into the binary.
static STARTER: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/signup.wdm"));
/// Its cluster model, trained with it.
static STARTER_CLUSTERS: &[u8] =
    include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/signup.clusters.wdm"));

/// The starter sign-up model.
pub fn starter() -> Model {
    Model::from_bytes(STARTER).expect("the built-in sign-up model reads (a test checks it)")
}

/// The starter cluster model.
pub fn starter_clusters() -> Model {
    Model::from_bytes(STARTER_CLUSTERS).expect("the built-in cluster model reads (a test checks it)")
}

/// A cluster's number from its id as answers give it (`c-12`, or `12`).
fn parse_cluster_id(id: &str) -> Option<u64> {
    id.strip_prefix("c-").unwrap_or(id).parse().ok()
}

/// The network of `ip`, as `signup.network` names it.
pub fn network(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The facts rules read of `s`, measured as `d`, on the network lists `listed`.
pub fn facts(s: &Signup<'_>, d: &Derived, listed: &[&str]) -> Record {
    let text = |v: Option<String>| v.map_or(warden_rules::Value::Missing, warden_rules::Value::Str);
    let local = d.local.as_ref();
    let agent = d.agent.as_ref().map(|a| a.as_ref().map_or("unparsed".to_owned(), |a| a.category.clone()));
    let captcha = match s.captcha {
        Captcha::Passed => "passed",
        Captcha::Failed => "failed",
        Captcha::None => "none",
        Captcha::Unknown => "unknown",
    };
    let values = [
        text(Some(s.account.to_lowercase())),
        text(s.email.as_ref().map(|e| e.domain.clone())),
        text(Some(d.email_class.map_or("absent", DomainClass::as_str).to_owned())),
        text(local.map(|l| l.pattern.clone())),
        text(local.map(|l| l.collapsed.clone())),
        d.agreement.map_or(warden_rules::Value::Missing, warden_rules::Value::Float),
        warden_rules::Value::Ip(s.ip),
        text(Some(network(s.ip))),
        s.asn.map_or(warden_rules::Value::Missing, |a| warden_rules::Value::Int(i64::from(a))),
        text(s.country.map(|c| String::from_utf8_lossy(&c).into_owned())),
        text(Some(agent.unwrap_or_else(|| "none".to_owned()))),
        text(s.device_id.map(str::to_lowercase)),
        text(Some(captcha.to_owned())),
        warden_rules::Value::StrList(listed.iter().map(|t| (*t).to_owned()).collect()),
    ];
    let mut record = Record::new(&CATALOGUE);
    for (slot, value) in values.into_iter().enumerate() {
        record.put(slot, value).expect("each slot's type");
    }
    record
}

impl JsonKind for Signups {
    type Kind = SignupKind;
    const ENTITY: &'static str = "account";

    fn read(&self, event: &Map<String, Value>, cx: &Context<'_>) -> Result<Read, BadField> {
        let mut s = parse(event)?;
        // What the edge did not say, the GeoIP databases may; and where the address is, its
        // time zone (a city database names it).
        let mut offset = None;
        if !cx.geo.is_empty() {
            let place = cx.geo.lookup(s.ip);
            if s.country.is_none() {
                s.country = place.country.as_deref().and_then(|c| <[u8; 2]>::try_from(c.as_bytes()).ok());
            }
            s.asn = s.asn.or(place.asn);
            offset = place.time_zone.as_deref().and_then(|z| crate::features::zone_offset(z, cx.at));
        }
        let d = Derived::of(&s, &self.own);
        let mut sink = warden_core::HashedSink::small();
        crate::features::door(&s, &d, &mut sink);
        let listed = self.lists.tags(s.ip, s.asn);
        for tag in &listed {
            warden_core::FeatureSink::add(
                &mut sink,
                crate::features::NETWORK,
                format!("list:{tag}").as_bytes(),
            );
        }
        let recent = {
            let mut memory = self.memory.lock().expect("not poisoned");
            let m = match &mut *memory {
                Some(m) if m.seed() == cx.seed => m,
                other => other.insert(Memory::new(cx.seed, self.horizon)),
            };
            crate::features::recent(m, &s, &d, cx.at, offset, &mut sink)
        };
        let joined = {
            let mut clusters = self.clusters.lock().expect("not poisoned");
            let c = match &mut *clusters {
                Some(c) if c.seed() == cx.seed => c,
                other => {
                    let model = self.cluster_model.lock().expect("not poisoned").clone();
                    other.insert(Clusterer::new(cx.seed, model))
                }
            };
            c.add(s.account, cx.at, &s, &d, recent.name_rarity, recent.local_hour)
        };
        let mut answer = Map::new();
        let mut signals = Vec::new();
        if !listed.is_empty() {
            signals.push(Reason::new(
                "LISTED_NETWORK",
                format!("The address is on the operator's network lists: {}.", listed.join(", ")),
                0.0,
            ));
        }
        answer.insert(
            "cluster".into(),
            match joined {
                None => Value::Null,
                Some(j) => serde_json::json!({"id": format!("c-{}", j.id), "size": j.size, "probability": j.probability}),
            },
        );
        if let Some(j) = joined
            && j.probability >= crate::cluster::REVIEW
            && j.strong
        {
            signals.push(Reason::new(
                format!("CLUSTER:c-{}", j.id),
                format!(
                    "The account joins cluster c-{} of {} accounts, which the cluster model gives P(abusive) = {:.3}.",
                    j.id, j.size, j.probability
                ),
                warden_core::logit(j.probability),
            ));
        }
        // What an analyst would look at first, each with the count that crossed its line: the
        // attribute, its window (index into `memory::TAUS`), the line, the reason.
        const WHAT_STANDS_OUT: [(Attr, usize, f64, &str, &str); 3] = [
            (
                Attr::Device,
                3,
                2.5,
                "DEVICE_REUSED",
                "other accounts were made on this device in the last week",
            ),
            (
                Attr::Network,
                0,
                5.0,
                "NETWORK_BURST",
                "sign-ups came from this network in the last ten minutes",
            ),
            (
                Attr::Setup,
                1,
                3.0,
                "SETUP_REPEATED",
                "sign-ups in the last hour had the same user agent, language and address pattern",
            ),
        ];
        for (attr, window, line, name, what) in WHAT_STANDS_OUT {
            if let Some(seen) = recent.of(attr)
                && seen.counts[window] >= line
            {
                signals.push(Reason::new(name, format!("About {:.0} {what}.", seen.counts[window]), 0.0));
            }
        }
        if s.captcha == Captcha::Failed {
            signals.push(Reason::new("CAPTCHA_FAILED", "The sign-up failed its captcha.", 0.0));
        }
        if d.email_class == Some(DomainClass::Disposable) {
            signals.push(Reason::new(
                "DISPOSABLE_ADDRESS",
                "The address is at a disposable mail domain.",
                0.0,
            ));
        }
        Ok(Read {
            entity: s.account.to_owned(),
            features: sink.finish(),
            signals,
            facts: Some(facts(&s, &d, &listed)),
            answer,
        })
    }

    fn thresholds(&self) -> Thresholds<SignupAction> {
        // On the model's log-odds plus rule points: P(abusive) ≈ 0.73 challenges, 0.88 asks an
        // analyst, 0.95 blocks.
        Thresholds::new(
            SignupAction::Allow,
            vec![(1.0, SignupAction::Challenge), (2.0, SignupAction::Review), (3.0, SignupAction::Block)],
        )
        .expect("rising")
    }

    fn starter(&self) -> Model {
        match &self.model {
            Some(m) => m.clone(),
            None => starter(),
        }
    }

    fn catalogue(&self) -> Option<&'static Catalogue> {
        Some(&CATALOGUE)
    }

    fn synth(&self, seed: u64, events: usize) -> Option<Synthetic> {
        let p = crate::synth::population(seed, events);
        let mut out = Synthetic { events: p.events, ..Synthetic::default() };
        for l in p.labels {
            if let Some(g) = l.group {
                out.groups.insert(l.account.clone(), g);
            }
            out.labels.push((l.account, if l.abusive { Label::Abusive } else { Label::Legitimate }));
        }
        Some(out)
    }

    fn decided(&self, entity: &str, at: u64, probability: f64) {
        if let Some(c) = self.clusters.lock().expect("not poisoned").as_mut() {
            c.decided(entity, probability, at);
        }
    }

    fn taught(&self, entity: &str, label: Label) {
        if let Some(c) = self.clusters.lock().expect("not poisoned").as_mut() {
            c.taught(entity, label);
        }
    }

    fn later(&self) -> Vec<Later> {
        let Some(c) = self.clusters.lock().expect("not poisoned").as_mut().map(Clusterer::take) else {
            return Vec::new();
        };
        c.into_iter()
            .map(|v| Later {
                entity: v.account.to_lowercase(),
                at: v.at,
                probability: v.probability,
                action: v.action,
                label: format!("cluster-{}", v.action),
                by: format!("cluster:c-{}", v.cluster),
                reason: format!(
                    "CLUSTER:c-{}: the account's cluster has P(abusive) = {:.3} by the cluster model",
                    v.cluster, v.probability
                ),
            })
            .collect()
    }

    fn own_models(&self) -> Vec<(&'static str, Model)> {
        vec![("clusters", self.cluster_model())]
    }

    fn erase(&self, entity_kind: &str, entity: &str) -> u64 {
        if entity_kind != "account" {
            return 0;
        }
        let mut clusters = self.clusters.lock().expect("not poisoned");
        clusters.as_mut().map_or(0, |c| u64::from(c.forget(entity)))
    }

    fn views(&self) -> &'static [&'static str] {
        &["clusters"]
    }

    fn view(&self, name: &str, id: Option<&str>) -> Option<Value> {
        if name != "clusters" {
            return None;
        }
        self.with_clusters(|c| match id {
            None => Some(crate::cluster::list(c, 100)),
            Some(id) => crate::cluster::show(c?, parse_cluster_id(id)?),
        })
    }

    fn view_entities(&self, name: &str, id: &str) -> Option<Vec<String>> {
        if name != "clusters" {
            return None;
        }
        let id = parse_cluster_id(id)?;
        self.with_clusters(|c| {
            let c = c?;
            c.cluster(id)?;
            Some(c.members(id).into_iter().map(str::to_owned).collect())
        })
    }

    fn set_own_model(&self, name: &str, model: Model) {
        if name == "clusters" {
            *self.cluster_model.lock().expect("not poisoned") = model.clone();
            if let Some(c) = self.clusters.lock().expect("not poisoned").as_mut() {
                c.set_model(model);
            }
        }
    }

    fn forget_own_models(&self) {
        *self.cluster_model.lock().expect("not poisoned") = crate::cluster::empty_model();
        *self.clusters.lock().expect("not poisoned") = None;
    }

    fn memory_bytes(&self) -> usize {
        let clusters = self.clusters.lock().expect("not poisoned").as_ref().map_or(0, Clusterer::bytes);
        self.memory_size().0 + clusters
    }

    fn report_names(&self) -> ReportNames {
        ReportNames { entities: "accounts", at_first: "at_signup" }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use warden_server::kinds::Pipeline;
    use warden_server::testing::{call, state_in};

    use super::{Signups, network};

    fn now() -> String {
        let f = time::format_description::well_known::Rfc3339;
        time::OffsetDateTime::now_utc().format(&f).unwrap()
    }

    #[test]
    fn each_sign_up_is_measured_against_those_before_it_on_event_time() {
        use warden_server::kinds::{Context, Served};
        let kind = Pipeline::new(Signups::default());
        let geo = warden_geo::Geo::none();
        let decide = |i: u64, t: &str, ip: &str| {
            let e = json!({"kind": "signup", "id": format!("s-{i}"), "time": t, "account": format!("a-{i}"),
                "email": format!("qwerty{i}x@example.net"), "ip": ip, "device_id": "d-1", "user_agent": "curl/8"});
            kind.decide(&e, 0, u64::MAX, Context { at: 0, geo: &geo, seed: 9 }).unwrap()
        };
        let names = |d: &warden_server::kinds::Offline| -> Vec<String> {
            d.reasons.iter().map(|r| r.name.clone()).filter(|n| n != "MODEL").collect()
        };
        let first = decide(0, "2026-03-02T10:00:00Z", "203.0.113.1");
        assert!(names(&first).is_empty(), "{:?}", first.reasons);
        let mut last = first.clone();
        for i in 1..10 {
            let t = format!("2026-03-02T10:{:02}:{:02}Z", i * 20 / 60, i * 20 % 60);
            last = decide(i, &t, &format!("203.0.113.{}", i + 1));
        }
        assert_ne!(first.features.hashes(), last.features.hashes(), "counts and times since differ");
        let n = names(&last);
        for want in ["DEVICE_REUSED", "NETWORK_BURST", "SETUP_REPEATED"] {
            assert!(n.iter().any(|r| r == want), "{want} in {n:?}");
        }
        // A day later, from another network and device: the burst is over, nothing shared.
        let later = decide(9, "2026-03-03T10:00:00Z", "198.51.100.1");
        assert!(!names(&later).iter().any(|r| r == "NETWORK_BURST"), "{:?}", later.reasons);
        // The same sign-ups under another seed are measured alike: the seed keys, it does not
        // change what is counted.
        let other = Pipeline::new(Signups::default());
        let e = json!({"kind": "signup", "id": "s-0", "time": "2026-03-02T10:00:00Z", "account": "a-0",
            "email": "qwerty0x@example.net", "ip": "203.0.113.1", "device_id": "d-1", "user_agent": "curl/8"});
        let again = other.decide(&e, 0, u64::MAX, Context { at: 0, geo: &geo, seed: 10 }).unwrap();
        assert_eq!(again.features.hashes(), first.features.hashes());
    }

    #[test]
    fn the_starter_models_read_score_sign_ups_and_say_what_they_learned_from() {
        for m in [super::starter(), super::starter_clusters()] {
            warden_engine::check_kind::<crate::SignupKind>(&m).unwrap();
            assert!(m.meta.messages > 10_000, "{}", m.meta.messages);
            assert!(
                m.meta.trained_on.iter().any(|t| t.starts_with("warden signup synth --seed")),
                "{:?}",
                m.meta.trained_on
            );
        }
    }

    #[test]
    fn listed_networks_give_a_feature_a_reason_and_a_fact_rules_read() {
        use warden_server::kinds::{Context, Served};
        let mut lists = crate::networks::NetworkLists::default();
        lists.add_line("203.0.113.0/24 hosting").unwrap();
        lists.add_line("AS64500 vpn").unwrap();
        let kind = Pipeline::new(Signups::default().with_lists(lists));
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("s.rules");
        std::fs::write(
            &rules,
            "rule HOSTED { when: signup.network_lists contains \"hosting\" then: action challenge }\n",
        )
        .unwrap();
        let set = warden_rules::RuleSet::load(&[rules], super::catalogue()).unwrap();
        kind.set_rules(Some(Arc::new(set)));
        let geo = warden_geo::Geo::none();
        let decide = |i: u32, ip: &str, asn: u32| {
            let e = json!({"kind": "signup", "id": format!("s-{i}"), "time": "2026-03-02T10:00:00Z",
                "account": format!("a-{i}"), "ip": ip, "asn": asn});
            let d = kind.decide(&e, 0, u64::MAX, Context { at: 0, geo: &geo, seed: 1 }).unwrap();
            let names: Vec<String> = d.reasons.iter().map(|r| r.name.clone()).collect();
            (d.features, names, d.action)
        };
        let (listed, names, action) = decide(1, "203.0.113.7", 64501);
        assert!(
            names.iter().any(|n| n == "LISTED_NETWORK") && names.iter().any(|n| n == "RULE:HOSTED"),
            "{names:?}"
        );
        assert_eq!(action, "challenge");
        let (vpn, names, _) = decide(2, "198.51.100.7", 64500);
        assert!(
            names.iter().any(|n| n == "LISTED_NETWORK") && !names.iter().any(|n| n == "RULE:HOSTED"),
            "{names:?}"
        );
        let (plain, names, _) = decide(3, "192.0.2.7", 64501);
        assert!(!names.iter().any(|n| n == "LISTED_NETWORK"), "{names:?}");
        assert_ne!(listed.hashes(), plain.hashes());
        assert_ne!(vpn.hashes(), plain.hashes());
    }

    #[test]
    fn the_local_hour_comes_from_the_city_databases_time_zone_else_the_countrys() {
        use warden_geo::write::{Value as V, Writer};
        use warden_server::kinds::{Context, Served};
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::v4("dbip-city-ipv4");
        let place = |cc: &str, tz: &str| V::map([("country_code", V::str(cc)), ("timezone", V::str(tz))]);
        w.insert("198.51.100.0".parse().unwrap(), 24, &place("NZ", "Pacific/Auckland")).unwrap();
        let path = dir.path().join("dbip-city-ipv4.mmdb");
        std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
        let geo = warden_geo::Geo::open(&[path], &[]).unwrap();
        let kind = Pipeline::new(Signups::default());
        // 2026-01-15T00:30Z: 13:30 in Auckland (summer, +13:00); the country's usual offset
        // table says +12:00 for NZ, so the hour tells which was used.
        let hour_feature = |h: u32| {
            let mut sink = warden_core::HashedSink::small();
            warden_core::FeatureSink::add(&mut sink, crate::features::HOUR, format!("{h}").as_bytes());
            sink.finish().hashes()[0]
        };
        let e = |id: &str, ip: &str| json!({"kind": "signup", "id": id, "time": "2026-01-15T00:30:00Z", "account": id, "ip": ip});
        let d =
            kind.decide(&e("a", "198.51.100.7"), 0, u64::MAX, Context { at: 0, geo: &geo, seed: 1 }).unwrap();
        assert!(d.features.hashes().contains(&hour_feature(13)), "Auckland's own time");
        let mut with_country = e("b", "192.0.2.7");
        with_country["country"] = "NZ".into();
        let d = kind.decide(&with_country, 0, u64::MAX, Context { at: 0, geo: &geo, seed: 1 }).unwrap();
        assert!(d.features.hashes().contains(&hour_feature(12)), "the country's usual offset");
        assert_eq!(crate::features::zone_offset("Europe/Rome", 1_768_437_000), Some(60));
        assert_eq!(crate::features::zone_offset("Mars/Olympus", 1_768_437_000), None);
    }

    #[test]
    fn networks_are_named_by_their_prefix() {
        assert_eq!(network("203.0.113.7".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(network("2001:db8:1:2::7".parse().unwrap()), "2001:db8:1::/48");
    }

    #[tokio::test]
    async fn a_farm_is_clustered_and_its_earlier_members_are_labelled_through_the_entity_api() {
        let dir = tempfile::tempdir().unwrap();
        let settings = warden_server::testing::people(warden_server::Settings::default());
        let state = state_in(&dir.path().join("data"), settings);
        state.register_kind(Arc::new(Pipeline::new(Signups::default()))).unwrap();
        let scan = warden_server::scan_router(state.clone());
        let mut last = Value::Null;
        for i in 0..25 {
            let body = json!({"kind": "signup", "id": format!("f-{i}"), "time": now(), "account": format!("Farm-{i}"),
                "email": format!("qx{i}zv{}k@mailinator.com", 1000 + i * 7), "ip": format!("203.0.113.{i}"),
                "user_agent": "python-requests/2.31.0", "device_id": "phone-1", "captcha": "failed"})
            .to_string();
            let (status, reply) = call(scan.clone(), "POST", "/v1/signup/check", body.as_bytes()).await;
            assert_eq!(status, 200);
            last = serde_json::from_slice(&reply).unwrap();
        }
        let cluster = &last["cluster"];
        assert_eq!(cluster["size"], 25, "{last}");
        let id = cluster["id"].as_str().unwrap().to_owned();
        assert!(cluster["probability"].as_f64().unwrap() >= crate::cluster::REVIEW, "{last}");
        let names: Vec<&str> =
            last["reasons"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
        assert!(names.contains(&format!("CLUSTER:{id}").as_str()), "{names:?}");
        // The first member was decided before the cluster was: the cluster's verdict reached it
        // as a label, with who and why.
        let labels = state.labels().all(Some("account"), Some("farm-0")).unwrap();
        let l = labels.iter().find(|l| l.label.starts_with("cluster-")).expect("a cluster label on farm-0");
        assert_eq!(l.by, format!("cluster:{id}"));
        assert!(l.reason.contains(&format!("CLUSTER:{id}")), "{}", l.reason);
        // A stranger joins no cluster.
        let body =
            json!({"kind": "signup", "id": "x-1", "time": now(), "account": "alone", "ip": "198.51.100.1"});
        let (_, reply) = call(scan.clone(), "POST", "/v1/signup/check", body.to_string().as_bytes()).await;
        assert_eq!(serde_json::from_slice::<Value>(&reply).unwrap()["cluster"], Value::Null);
        // Analysts see the clusters, and one whole, on the controller.
        use warden_server::testing::{ALICE, VIEWER, get, json as body_json, post};
        let controller = warden_server::controller_router(state.clone());
        let (status, list) = get(&controller, "/v1/signup/clusters", VIEWER).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&list));
        let list = body_json(&list);
        assert_eq!(list["total"], 1, "{list}");
        assert_eq!(list["clusters"][0]["id"], id.as_str());
        let (status, one) = get(&controller, &format!("/v1/signup/clusters/{id}"), VIEWER).await;
        assert_eq!(status, 200);
        let one = body_json(&one);
        assert_eq!(one["members"].as_array().unwrap().len(), 25, "{one}");
        assert_eq!(one["shared"], json!(["device"]));
        assert_eq!(one["features"]["devices_per_account"], 1.0 / 25.0);
        assert_eq!(one["history"][0]["what"], "made");
        assert_eq!(get(&controller, "/v1/signup/clusters/c-999", VIEWER).await.0, 404);
        assert_eq!(get(&controller, "/v1/signup/nosuch", VIEWER).await.0, 404);
        // An analyst labels the whole cluster: every member labelled, audited, learned.
        let uri = format!("/v1/signup/clusters/{id}/label");
        let body = r#"{"label": "abusive", "reason": "one phone, 25 accounts"}"#;
        assert_eq!(post(&controller, &uri, VIEWER, body).await.0, 403, "a viewer may not");
        let (status, done) = post(&controller, &uri, ALICE, body).await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&done));
        let done = body_json(&done);
        assert_eq!((done["entities"].as_u64(), done["learned"].as_u64()), (Some(25), Some(25)), "{done}");
        let labels = state.labels().all(Some("account"), Some("farm-7")).unwrap();
        let l = labels.iter().find(|l| l.label == "abusive").expect("labelled abusive");
        assert_eq!(l.by, "alice");
        assert!(l.reason.contains(&format!("all of {id}")), "{}", l.reason);
        // The checkpoint keeps the cluster model as the labels left it, and a restart reads it.
        let taught = state.kind("signup").unwrap().own_models()[0].1.meta.messages;
        assert!(taught > super::starter_clusters().meta.messages, "the analyst's labels taught it");
        for (_, done) in state.checkpoint_kinds() {
            done.unwrap();
        }
        assert!(dir.path().join("data/signup.clusters.wdm").exists());
        use warden_server::kinds::Served;
        let again = Pipeline::new(Signups::default());
        again.restore(&state).unwrap();
        assert_eq!(again.own_models()[0].1.meta.messages, taught);
        // Erasure through the entity API takes the account out of its cluster too.
        let bearer = format!("Bearer {ALICE}");
        let uri = "/v1/entities/account/Farm-3?reason=request%2012";
        let (status, erased) = warden_server::testing::call_from(
            controller.clone(),
            [127, 0, 0, 1],
            "DELETE",
            uri,
            &[("authorization", &bearer)],
            b"",
        )
        .await;
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&erased));
        assert_eq!(body_json(&erased)["forgotten_in_memory"], 1);
        let one = body_json(&get(&controller, &format!("/v1/signup/clusters/{id}"), VIEWER).await.1);
        let members: Vec<&str> =
            one["members"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert_eq!(members.len(), 24);
        assert!(!members.contains(&"Farm-3"), "{members:?}");
    }

    #[tokio::test]
    async fn sign_ups_are_decided_on_the_generic_routes_and_rules_read_their_facts() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("signup.rules");
        std::fs::write(
            &rules,
            r#"
counter signups_per_network: count by signup.network over 1h
rule BURST { description: "many sign-ups from one /24" when: signups_per_network >= 3 then: action block }
rule THROWAWAY { when: signup.email_class == "disposable" then: action challenge }
"#,
        )
        .unwrap();
        let mut settings = warden_server::Settings::default();
        settings.rules.kinds.insert("signup".into(), vec![rules]);
        let state = state_in(&dir.path().join("data"), settings);
        state.register_kind(Arc::new(Pipeline::new(Signups::default()))).unwrap();
        let scan = warden_server::scan_router(state.clone());
        let check = |id: &str, ip: &str, email: &str| {
            let body = json!({"kind": "signup", "id": id, "time": now(), "account": format!("A-{id}"),
                "email": email, "display_name": "Maria Rossi", "ip": ip, "captcha": "passed"})
            .to_string();
            let scan = scan.clone();
            async move {
                let (status, body) = call(scan, "POST", "/v1/signup/check", body.as_bytes()).await;
                (status, serde_json::from_slice::<Value>(&body).unwrap())
            }
        };
        let (status, d) = check("s-1", "203.0.113.7", "maria.rossi84@gmail.com").await;
        assert_eq!(status, 200, "{d}");
        assert_eq!(d["action"], "allow", "{d}");
        assert_eq!(check("s-2", "198.51.100.9", "x1@mailinator.com").await.1["action"], "challenge");
        check("s-3", "203.0.113.8", "paolo@gmail.com").await;
        let third = check("s-4", "203.0.113.9", "anna@gmail.com").await.1;
        assert_eq!(third["action"], "block", "the third from one /24 in an hour: {third}");
        let names: Vec<&str> =
            third["reasons"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
        assert!(names.contains(&"RULE:BURST"), "{names:?}");
        // A bad field is named.
        let (status, e) = check("s-5", "not an address", "a@b.c").await;
        assert_eq!(status, 400);
        assert!(e["error"].as_str().unwrap().contains("`ip`"), "{e}");
    }
}
