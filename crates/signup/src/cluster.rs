//! Clusters of accounts made by one hand, found as sign-ups arrive, on event time.
//!
//! Each sign-up gives a handful of *link keys*, keyed hashes of attributes that genuine
//! strangers seldom share within a short time: the device; the recovery address; the network
//! with the local part's pattern; the network with the user agent; the ASN with the set-up (user
//! agent, language, pattern); a recovery domain that is not a big free-mail one; and MinHash
//! bands of the local part's trigrams (near-identical local parts of 8 characters or more at
//! one domain from one ASN: locality sensitive hashing as Broder's MinHash with banding, so that a pair with
//! Jaccard similarity 0.9 shares a band with probability 0.87 and a pair at 0.5 with 0.05). Two
//! sign-ups sharing a key within its window are linked (as SynchroTrap groups accounts by
//! shared actions in time windows, and the LinkedIn fake-account work groups sign-ups by shared
//! attributes). Strong links (a device, a recovery address) join and merge every cluster they
//! reach; weak ones join the largest cluster they reach and merge none, so that chains of
//! coincidences do not grow one cluster over a population. Written here rather than taken from
//! a crate: the graph is incremental, windowed and keyed, which no clustering crate does, and
//! it is a hash map and a union.
//!
//! A cluster keeps the id it was given (`c-<n>`, in order of creation) as it grows; when two
//! merge, the older id stays and lists the other. Each cluster is described by cluster-level
//! features (size, span, regularity of arrivals, distinct networks, ASNs, agents and devices
//! per account, the share of the commonest pattern, the members' sign-up probabilities, the
//! shares that failed the captcha, used disposable addresses, gave a recovery address, whose
//! address bears out their name, who signed up at night, the rarity of names, and the kinds of
//! link that hold it) and scored by its own logistic model (FTRL-Proximal), taught from the
//! labels of its members as they become known. Above its thresholds the members get `review`
//! or `block` with the reason `CLUSTER:<id>`.

use std::collections::{HashMap, HashSet};

use crate::FastHash as Fast;

use warden_core::{FeatureSink, FeatureVec, HashedSink, Label, Namespace, sigmoid};
use warden_learn::{FtrlParams, LearnerSpec, Model, OnlineLearner, RehearsalParams};
use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::domain::DomainClass;
use crate::event::Signup;
use crate::features::Derived;

/// How sign-ups are linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Link {
    /// The same device id.
    Device,
    /// The same recovery address.
    Recovery,
    /// The same network and local-part pattern.
    NetworkPattern,
    /// The same network and user agent.
    NetworkAgent,
    /// The same ASN and set-up (user agent, language, pattern).
    AsnSetup,
    /// The same recovery domain, not a big free-mail one.
    RecoveryDomain,
    /// Near-identical local parts at the same domain from the same ASN (a MinHash band).
    NearLocal,
}

impl Link {
    /// Every kind of link.
    pub const ALL: [Link; 7] = [
        Link::Device,
        Link::Recovery,
        Link::NetworkPattern,
        Link::NetworkAgent,
        Link::AsnSetup,
        Link::RecoveryDomain,
        Link::NearLocal,
    ];

    /// Its name in features and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Link::Device => "device",
            Link::Recovery => "recovery",
            Link::NetworkPattern => "network_pattern",
            Link::NetworkAgent => "network_agent",
            Link::AsnSetup => "asn_setup",
            Link::RecoveryDomain => "recovery_domain",
            Link::NearLocal => "near_local",
        }
    }

    /// How long two sign-ups sharing it are linked, seconds: a week for a device or a recovery
    /// address, a day for the rest.
    pub fn window(self) -> u64 {
        match self {
            Link::Device | Link::Recovery => 7 * 86_400,
            _ => 86_400,
        }
    }

    /// Whether it is seldom shared by strangers at all: a device, a recovery address.
    pub fn is_strong(self) -> bool {
        matches!(self, Link::Device | Link::Recovery)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// How long an account in no cluster is remembered, and a cluster after its last sign-up:
/// the longest link window.
pub const RETAIN: u64 = 7 * 86_400;

/// What a cluster keeps of each member.
#[derive(Debug, Clone)]
struct Member {
    account: String,
    at: u64,
    cluster: Option<u64>,
    network: u64,
    asn: Option<u32>,
    agent: u64,
    device: Option<u64>,
    pattern: u64,
    /// The sign-up model's probability (set once decided).
    probability: f32,
    flags: u8,
    hour: Option<u8>,
    name_rarity: f32,
    /// The cluster action the member was last given (0 none, 1 review, 2 block).
    verdict: u8,
    /// Tied to its cluster by a strong link (a device, a recovery address).
    strong: bool,
}

const CAPTCHA_FAILED: u8 = 1;
const DISPOSABLE: u8 = 2;
const RECOVERY: u8 = 4;
const AGREES: u8 = 8;
const LANGUAGE_ELSEWHERE: u8 = 16;

/// A cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// Its number (`c-<n>`).
    pub id: u64,
    /// When it was made, event time.
    pub created: u64,
    /// The last sign-up that joined it.
    pub last: u64,
    members: Vec<u64>,
    /// The clusters merged into it.
    pub merged: Vec<u64>,
    links: u16,
    /// Its probability when last scored.
    pub probability: f64,
    /// Its action when last scored (0 none, 1 review, 2 block).
    pub verdict: u8,
    /// What happened to it, oldest first: made, merged, its verdict changed (the last 32).
    pub history: Vec<(u64, String)>,
}

impl Cluster {
    fn note(&mut self, at: u64, what: String) {
        if self.history.len() == 32 {
            self.history.remove(1); // the first (its making) is kept
        }
        self.history.push((at, what));
    }

    /// How many accounts are in it.
    pub fn size(&self) -> usize {
        self.members.len()
    }

    /// The kinds of link that hold it.
    pub fn links(&self) -> Vec<&'static str> {
        Link::ALL.iter().filter(|l| self.links & l.bit() != 0).map(|l| l.as_str()).collect()
    }
}

/// What a cluster's members have in common (of its latest 256), as its model reads it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Summary {
    /// Accounts in it.
    pub size: usize,
    /// Seconds from its first sign-up to its last.
    pub span_secs: u64,
    /// The coefficient of variation of the gaps between sign-ups (low: regular, as a
    /// script's), with three or more.
    pub gap_cv: Option<f64>,
    /// Distinct /24s (IPv6 /48s) per account.
    pub networks_per_account: f64,
    /// Distinct ASNs per account.
    pub asns_per_account: f64,
    /// Distinct user agents per account.
    pub agents_per_account: f64,
    /// Distinct device ids per account.
    pub devices_per_account: f64,
    /// The share of its commonest local-part pattern.
    pub top_pattern_share: f64,
    /// The members' mean sign-up probability.
    pub mean_probability: f64,
    /// The highest.
    pub max_probability: f64,
    /// The share that failed the captcha.
    pub captcha_failed: f64,
    /// The share with a disposable address.
    pub disposable: f64,
    /// The share that gave a recovery address.
    pub recovery: f64,
    /// The share whose address bears out their name.
    pub name_agrees: f64,
    /// The share asking for a language of another country's region.
    pub language_elsewhere: f64,
    /// The share that signed up between midnight and six, local time.
    pub night: f64,
    /// The members' mean name rarity, bits.
    pub name_rarity: f64,
    /// The kinds of link that hold it.
    pub links: Vec<&'static str>,
}

/// A cluster's verdict on a member, reached after its sign-up.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberVerdict {
    /// The account, as the service named it.
    pub account: String,
    /// The cluster.
    pub cluster: u64,
    /// When, event time.
    pub at: u64,
    /// The cluster's probability.
    pub probability: f64,
    /// `review` or `block`.
    pub action: &'static str,
}

/// The cluster a sign-up joined, as its answer tells it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Joined {
    /// The cluster's number.
    pub id: u64,
    /// Its size with the sign-up.
    pub size: usize,
    /// Its probability.
    pub probability: f64,
    /// Whether the sign-up joined it by a strong link (only then does the cluster's verdict
    /// reach it at once; a weak tie waits for its own probability, [`FLOOR`]).
    pub strong: bool,
}

/// The sign-up probability at or above which a member tied to its cluster by weak links alone
/// takes the cluster's verdict: strangers on a carrier's shared addresses who happen to join a
/// campaign's cluster are not judged by it unless their own sign-up looks doubtful too.
pub const FLOOR: f64 = 0.3;

/// Where a cluster's probability asks for review, and for a block.
pub const REVIEW: f64 = 0.8;
/// See [`REVIEW`].
pub const BLOCK: f64 = 0.95;

/// The cluster features' namespace.
pub const CLUSTER: Namespace = Namespace::new("signup_cluster");

/// The clusterer.
pub struct Clusterer {
    seed: u64,
    keys: HashMap<u64, (u64, u64), Fast>,
    members: HashMap<u64, Member, Fast>,
    by_account: HashMap<u64, u64, Fast>,
    clusters: HashMap<u64, Cluster, Fast>,
    next_member: u64,
    next_cluster: u64,
    model: Model,
    pending: Vec<MemberVerdict>,
    last_sweep: u64,
    /// The latest event time seen: clusters older than [`RETAIN`] before it are gone to
    /// readers, swept yet or not.
    latest: u64,
}

impl std::fmt::Debug for Clusterer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clusterer")
            .field("members", &self.members.len())
            .field("clusters", &self.clusters.len())
            .finish()
    }
}

/// The cluster model before it has learned anything.
pub fn empty_model() -> Model {
    let spec = LearnerSpec::Ftrl(FtrlParams { bits: 16, ..FtrlParams::default() });
    Model::new(
        "signup",
        spec,
        serde_json::json!({"model": "clusters"}),
        RehearsalParams { capacity: 0, ..RehearsalParams::default() },
    )
}

impl Clusterer {
    /// An empty clusterer keyed by `seed`, scoring with `model`.
    pub fn new(seed: u64, model: Model) -> Clusterer {
        Clusterer {
            seed,
            keys: HashMap::default(),
            members: HashMap::default(),
            by_account: HashMap::default(),
            clusters: HashMap::default(),
            next_member: 0,
            next_cluster: 1,
            model,
            pending: Vec::new(),
            last_sweep: 0,
            latest: 0,
        }
    }

    /// The seed its keys are keyed by.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The cluster model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Scores clusters with `model` from now on.
    pub fn set_model(&mut self, model: Model) {
        self.model = model;
    }

    /// The cluster numbered `id`.
    pub fn cluster(&self, id: u64) -> Option<&Cluster> {
        self.clusters.get(&id).filter(|c| self.current(c))
    }

    /// Whether a cluster is within [`RETAIN`] of the latest sign-up (an older one waits only
    /// for the next sweep).
    fn current(&self, c: &Cluster) -> bool {
        !outlived(self.latest, c.last)
    }

    /// Every cluster, largest first.
    pub fn clusters(&self) -> Vec<&Cluster> {
        let mut all: Vec<&Cluster> = self.clusters.values().filter(|c| self.current(c)).collect();
        all.sort_by(|a, b| b.size().cmp(&a.size()).then(a.id.cmp(&b.id)));
        all
    }

    /// The accounts of cluster `id`.
    pub fn members(&self, id: u64) -> Vec<&str> {
        self.cluster(id)
            .map(|c| {
                c.members.iter().filter_map(|m| self.members.get(m)).map(|m| m.account.as_str()).collect()
            })
            .unwrap_or_default()
    }

    /// How many accounts are remembered, and how many clusters.
    pub fn len(&self) -> (usize, usize) {
        (self.members.len(), self.clusters.len())
    }

    /// Roughly how many bytes it holds.
    pub fn bytes(&self) -> usize {
        let member = std::mem::size_of::<(u64, Member)>() + 24;
        self.members.values().map(|m| m.account.len()).sum::<usize>()
            + self.members.capacity() * member
            + (self.keys.capacity() + self.by_account.capacity()) * 25
            + self.clusters.values().map(|c| 96 + 8 * (c.members.capacity() + c.merged.len())).sum::<usize>()
    }

    fn key(&self, link: Link, parts: &[&[u8]]) -> u64 {
        let mut bytes = Vec::with_capacity(128);
        for p in parts {
            bytes.extend_from_slice(p);
            bytes.push(0xff);
        }
        xxh3_64_with_seed(&bytes, self.seed ^ (link as u64 + 7).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    fn account_key(&self, account: &str) -> u64 {
        xxh3_64_with_seed(account.to_lowercase().as_bytes(), self.seed ^ 0xACC0_0000)
    }

    /// The link keys of a sign-up.
    fn links(&self, s: &Signup<'_>, d: &Derived, net: &[u8]) -> Vec<(Link, u64)> {
        let mut out = Vec::new();
        if let Some(dev) = s.device_id {
            out.push((Link::Device, self.key(Link::Device, &[dev.to_lowercase().as_bytes()])));
        }
        if let Some(r) = &s.recovery_email {
            let addr = format!("{}@{}", r.local.to_lowercase(), r.domain);
            out.push((Link::Recovery, self.key(Link::Recovery, &[addr.as_bytes()])));
            if matches!(d.recovery_class, Some(DomainClass::Disposable | DomainClass::Other)) {
                out.push((Link::RecoveryDomain, self.key(Link::RecoveryDomain, &[r.domain.as_bytes()])));
            }
        }
        if let Some(l) = &d.local {
            out.push((Link::NetworkPattern, self.key(Link::NetworkPattern, &[net, l.pattern.as_bytes()])));
        }
        if let Some(ua) = s.user_agent {
            out.push((Link::NetworkAgent, self.key(Link::NetworkAgent, &[net, ua.as_bytes()])));
            if let (Some(asn), Some(l)) = (s.asn, &d.local) {
                let lang = s.accept_language.unwrap_or("-");
                let parts: [&[u8]; 4] =
                    [&asn.to_le_bytes(), ua.as_bytes(), lang.as_bytes(), l.pattern.as_bytes()];
                out.push((Link::AsnSetup, self.key(Link::AsnSetup, &parts)));
            }
        }
        if let Some(e) = &s.email
            && e.local.chars().count() >= 8
        {
            // Within one ASN: across a whole population, people of common names pick
            // near-identical addresses at the big domains every day.
            let asn = s.asn.unwrap_or(0).to_le_bytes();
            for band in minhash_bands(&e.local.to_lowercase(), self.seed) {
                let parts: [&[u8]; 3] = [e.domain.as_bytes(), &asn, &band.to_le_bytes()];
                out.push((Link::NearLocal, self.key(Link::NearLocal, &parts)));
            }
        }
        out
    }

    /// Adds a sign-up of `account` at `at`, measured as `d`; `name_rarity` and `hour` as the
    /// features measured them. Answers the cluster it joined, if any.
    #[allow(clippy::too_many_arguments)]
    pub fn add(
        &mut self,
        account: &str,
        at: u64,
        s: &Signup<'_>,
        d: &Derived,
        name_rarity: Option<f64>,
        hour: Option<u8>,
    ) -> Option<Joined> {
        self.sweep(at);
        self.latest = self.latest.max(at);
        let id = self.next_member;
        self.next_member += 1;
        let mut flags = 0;
        if s.captcha == crate::event::Captcha::Failed {
            flags |= CAPTCHA_FAILED;
        }
        if d.email_class == Some(DomainClass::Disposable) {
            flags |= DISPOSABLE;
        }
        if s.recovery_email.is_some() {
            flags |= RECOVERY;
        }
        if d.agreement.is_some_and(|a| a >= 0.5) {
            flags |= AGREES;
        }
        if let (Some((_, Some(region))), Some(c)) = (&d.language, s.country)
            && !region.as_bytes().eq_ignore_ascii_case(&c)
        {
            flags |= LANGUAGE_ELSEWHERE;
        }
        let net = crate::features::network_bytes(s.ip);
        let h = |b: &[u8]| xxh3_64_with_seed(b, self.seed);
        let member = Member {
            account: account.to_owned(),
            at,
            cluster: None,
            network: h(&net),
            asn: s.asn,
            agent: h(s.user_agent.unwrap_or("").as_bytes()),
            device: s.device_id.map(|d| h(d.to_lowercase().as_bytes())),
            pattern: h(d.local.as_ref().map_or(b"-".as_slice(), |l| l.pattern.as_bytes())),
            // Until decided (`decided`): no verdict reaches a weak tie before its own score.
            probability: 0.0,
            flags,
            hour,
            name_rarity: name_rarity.unwrap_or(0.0) as f32,
            verdict: 0,
            strong: false,
        };
        let links = self.links(s, d, &net);
        self.members.insert(id, member);
        self.by_account.insert(self.account_key(account), id);
        let mut linked: Vec<(Link, u64)> = Vec::new();
        for (link, key) in links {
            if let Some(&(last, other)) = self.keys.get(&key)
                && at.saturating_sub(last) <= link.window()
                && self.members.contains_key(&other)
            {
                linked.push((link, other));
            }
            self.keys.insert(key, (at, id));
        }
        // Strong links (a device, a recovery address) join everything they reach, merging
        // clusters; weak ones join the one largest cluster they reach and merge nothing, so
        // that chains of weak coincidences (a carrier's network and a common agent here, a
        // pattern there) do not grow one cluster over a whole population.
        let strong: Vec<(Link, u64)> = linked.iter().copied().filter(|(l, _)| l.is_strong()).collect();
        let chosen = if strong.is_empty() {
            let size = |m: u64| self.members[&m].cluster.map_or(1, |c| self.clusters[&c].size());
            let &best = linked.iter().max_by_key(|(_, m)| (size(*m), *m))?;
            let cluster = self.members[&best.1].cluster;
            let mut same: Vec<(Link, u64)> = linked
                .iter()
                .copied()
                .filter(|(_, m)| *m == best.1 || (cluster.is_some() && self.members[m].cluster == cluster))
                .collect();
            same.dedup();
            same
        } else {
            strong
        };
        let strong = chosen.iter().any(|(l, _)| l.is_strong());
        let cluster = self.join(id, &chosen, at);
        let c = &self.clusters[&cluster];
        Some(Joined { id: c.id, size: c.size(), probability: c.probability, strong })
    }

    /// Puts `id` and every member it is linked to in one cluster; returns its number.
    fn join(&mut self, id: u64, linked: &[(Link, u64)], at: u64) -> u64 {
        let mut bits = 0;
        let mut clusters: Vec<u64> = Vec::new();
        let mut loose: Vec<u64> = Vec::new();
        for &(link, other) in linked {
            bits |= link.bit();
            match self.members[&other].cluster {
                Some(c) => {
                    if !clusters.contains(&c) {
                        clusters.push(c);
                    }
                }
                None => {
                    if !loose.contains(&other) {
                        loose.push(other);
                    }
                }
            }
        }
        // The oldest cluster keeps its id; a new one is made only when none is there.
        clusters.sort_by_key(|c| (self.clusters[c].created, *c));
        let survivor = match clusters.first() {
            Some(&c) => c,
            None => {
                let c = self.next_cluster;
                self.next_cluster += 1;
                self.clusters.insert(
                    c,
                    Cluster {
                        id: c,
                        created: at,
                        last: at,
                        members: Vec::new(),
                        merged: Vec::new(),
                        links: 0,
                        probability: 0.5,
                        verdict: 0,
                        history: vec![(at, "made".into())],
                    },
                );
                c
            }
        };
        for &other in clusters.iter().skip(1) {
            let gone = self.clusters.remove(&other).expect("a cluster of a member");
            for m in &gone.members {
                if let Some(member) = self.members.get_mut(m) {
                    member.cluster = Some(survivor);
                }
            }
            let s = self.clusters.get_mut(&survivor).expect("kept");
            let moved = gone.members.len();
            s.members.extend(gone.members);
            s.merged.push(gone.id);
            s.merged.extend(gone.merged);
            s.links |= gone.links;
            s.note(at, format!("merged c-{} ({moved} accounts)", gone.id));
        }
        let strong = linked.iter().any(|(l, _)| l.is_strong());
        for m in loose.into_iter().chain([id]) {
            let member = self.members.get_mut(&m).expect("remembered");
            member.cluster = Some(survivor);
            member.strong |= strong;
            self.clusters.get_mut(&survivor).expect("kept").members.push(m);
        }
        if strong {
            for &(_, other) in linked {
                if let Some(m) = self.members.get_mut(&other) {
                    m.strong = true;
                }
            }
        }
        let s = self.clusters.get_mut(&survivor).expect("kept");
        s.links |= bits;
        s.last = at;
        self.score(survivor, at);
        survivor
    }

    /// The sign-up of `account` was decided with `probability`: the cluster it is in is scored
    /// again, and members whose cluster action rose are told ([`Clusterer::take`]).
    pub fn decided(&mut self, account: &str, probability: f64, at: u64) {
        let Some(&id) = self.by_account.get(&self.account_key(account)) else { return };
        let Some(m) = self.members.get_mut(&id) else { return };
        m.probability = probability as f32;
        if let Some(c) = m.cluster {
            self.score(c, at);
        }
    }

    /// Scores cluster `c` and tells the members whose action it raises.
    fn score(&mut self, c: u64, at: u64) {
        let x = self.features(c);
        let p = sigmoid(self.model.learner.predict(&x));
        let verdict = if p >= BLOCK {
            2
        } else if p >= REVIEW {
            1
        } else {
            0
        };
        let cluster = self.clusters.get_mut(&c).expect("scored clusters exist");
        cluster.probability = p;
        if verdict != cluster.verdict {
            let name = ["none", "review", "block"][usize::from(verdict)];
            cluster.note(
                at,
                format!("verdict {name} at P(abusive) = {p:.3}, {} accounts", cluster.members.len()),
            );
        }
        cluster.verdict = verdict;
        if verdict == 0 {
            return;
        }
        let id = cluster.id;
        for m in &cluster.members {
            let Some(member) = self.members.get_mut(m) else { continue };
            if !member.strong && f64::from(member.probability) < FLOOR {
                continue;
            }
            if member.verdict < verdict {
                member.verdict = verdict;
                self.pending.push(MemberVerdict {
                    account: member.account.clone(),
                    cluster: id,
                    at,
                    probability: p,
                    action: if verdict == 2 { "block" } else { "review" },
                });
            }
        }
    }

    /// Forgets `account` (an erasure): out of its cluster, its links no longer lead to it.
    /// Whether it was remembered.
    pub fn forget(&mut self, account: &str) -> bool {
        let Some(id) = self.by_account.remove(&self.account_key(account)) else { return false };
        let Some(m) = self.members.remove(&id) else { return false };
        self.pending.retain(|v| !v.account.eq_ignore_ascii_case(account));
        if let Some(c) = m.cluster
            && let Some(cluster) = self.clusters.get_mut(&c)
        {
            cluster.members.retain(|x| *x != id);
            if cluster.members.is_empty() {
                self.clusters.remove(&c);
            }
        }
        true
    }

    /// The verdicts reached since last asked.
    pub fn take(&mut self) -> Vec<MemberVerdict> {
        std::mem::take(&mut self.pending)
    }

    /// The label of `account` became known: the cluster model learns its cluster's features
    /// with it (an account in no cluster teaches nothing).
    pub fn taught(&mut self, account: &str, label: Label) {
        let Some(&id) = self.by_account.get(&self.account_key(account)) else { return };
        let Some(c) = self.members.get(&id).and_then(|m| m.cluster) else { return };
        let x = self.features(c);
        self.model.learn(&x, label);
    }

    /// What cluster `c`'s latest 256 members have in common, as measured for its model.
    pub fn summary(&self, c: u64) -> Summary {
        let cluster = &self.clusters[&c];
        let members: Vec<&Member> =
            cluster.members.iter().rev().take(256).filter_map(|m| self.members.get(m)).collect();
        let n = members.len().max(1) as f64;
        let mut times: Vec<u64> = members.iter().map(|m| m.at).collect();
        times.sort_unstable();
        let span = times.last().copied().unwrap_or(0) - times.first().copied().unwrap_or(0);
        let gap_cv = (times.len() >= 3).then(|| {
            let gaps: Vec<f64> = times.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
            let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
            let var = gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64;
            if mean > 0.0 { var.sqrt() / mean } else { 0.0 }
        });
        let per = |k: usize| k as f64 / n;
        let distinct = |f: &dyn Fn(&Member) -> u64| {
            per(members.iter().map(|m| f(m)).collect::<HashSet<_, Fast>>().len())
        };
        let mut patterns: HashMap<u64, usize, Fast> = HashMap::default();
        for m in &members {
            *patterns.entry(m.pattern).or_default() += 1;
        }
        let flag = |f: u8| per(members.iter().filter(|m| m.flags & f != 0).count());
        Summary {
            size: cluster.members.len(),
            span_secs: span,
            gap_cv,
            networks_per_account: distinct(&|m| m.network),
            asns_per_account: distinct(&|m| u64::from(m.asn.unwrap_or(0))),
            agents_per_account: distinct(&|m| m.agent),
            devices_per_account: per(members
                .iter()
                .filter_map(|m| m.device)
                .collect::<HashSet<_, Fast>>()
                .len()),
            top_pattern_share: per(patterns.values().copied().max().unwrap_or(0)),
            mean_probability: members.iter().map(|m| f64::from(m.probability)).sum::<f64>() / n,
            max_probability: members.iter().map(|m| f64::from(m.probability)).fold(0.0, f64::max),
            captcha_failed: flag(CAPTCHA_FAILED),
            disposable: flag(DISPOSABLE),
            recovery: flag(RECOVERY),
            name_agrees: flag(AGREES),
            language_elsewhere: flag(LANGUAGE_ELSEWHERE),
            night: per(members.iter().filter(|m| m.hour.is_some_and(|h| h < 6)).count()),
            name_rarity: members.iter().map(|m| f64::from(m.name_rarity)).sum::<f64>() / n,
            links: cluster.links(),
        }
    }

    /// The features of cluster `c`: its [`Summary`] in buckets.
    pub fn features(&self, c: u64) -> FeatureVec {
        let s = self.summary(c);
        let mut sink = HashedSink::small();
        sink.add(CLUSTER, b"cluster");
        sink.add_fmt(CLUSTER, format_args!("size:{}", crate::memory::count_bucket(s.size as f64)));
        sink.add_fmt(CLUSTER, format_args!("span:{}", crate::memory::since_bucket(Some(s.span_secs))));
        if let Some(cv) = s.gap_cv {
            sink.add_fmt(CLUSTER, format_args!("gap_cv:{}", ((cv * 4.0) as u32).min(12)));
        }
        let fifths = |x: f64| (x * 5.0).round() as u32;
        for (name, x) in [
            ("networks", s.networks_per_account),
            ("asns", s.asns_per_account),
            ("agents", s.agents_per_account),
            ("devices", s.devices_per_account),
            ("top_pattern", s.top_pattern_share),
            ("captcha_failed", s.captcha_failed),
            ("disposable", s.disposable),
            ("recovery", s.recovery),
            ("agrees", s.name_agrees),
            ("language_elsewhere", s.language_elsewhere),
            ("night", s.night),
        ] {
            sink.add_fmt(CLUSTER, format_args!("{name}:{}", fifths(x)));
        }
        sink.add_fmt(CLUSTER, format_args!("mean_p:{}", (s.mean_probability * 10.0) as u32));
        sink.add_fmt(CLUSTER, format_args!("max_p:{}", (s.max_probability * 10.0) as u32));
        sink.add_fmt(CLUSTER, format_args!("name_rarity:{}", ((s.name_rarity / 2.0) as u32).min(12)));
        for l in s.links {
            sink.add_fmt(CLUSTER, format_args!("link:{l}"));
        }
        sink.finish()
    }

    /// Forgets accounts in no cluster, and clusters, not seen for [`RETAIN`]. A pass reads every
    /// link key, so it runs once every 1/64 of [`RETAIN`] of event time (2 h 38 min): 64 keys
    /// read for each key a sign-up makes, whatever the rate. Until then an old key links nothing
    /// (each link has its window) and an old account is only held.
    fn sweep(&mut self, at: u64) {
        if at < self.last_sweep.saturating_add(RETAIN / 64) {
            return;
        }
        self.last_sweep = at;
        let old = |t: u64| outlived(at, t);
        let gone: Vec<u64> = self.clusters.iter().filter(|(_, c)| old(c.last)).map(|(id, _)| *id).collect();
        let mut dropped = Vec::new();
        for id in gone {
            let c = self.clusters.remove(&id).expect("listed");
            for m in c.members {
                if let Some(member) = self.members.remove(&m) {
                    dropped.push((m, member.account));
                }
            }
        }
        self.members.retain(|&id, m| {
            let keep = m.cluster.is_some() || !old(m.at);
            if !keep {
                dropped.push((id, std::mem::take(&mut m.account)));
            }
            keep
        });
        // Only the dropped members' accounts are looked up: a scan of every account against
        // the members would cost a cache miss per remembered sign-up each sweep.
        for (id, account) in dropped {
            let key = self.account_key(&account);
            if self.by_account.get(&key) == Some(&id) {
                self.by_account.remove(&key);
            }
        }
        self.keys.retain(|_, (last, _)| !old(*last));
    }
}

/// Whether something last seen at `last` is past [`RETAIN`] at `now`.
fn outlived(now: u64, last: u64) -> bool {
    now.saturating_sub(last) > RETAIN
}

/// The clusters as `GET /v1/signup/clusters` lists them: the `limit` largest, each with its
/// size, probability, verdict and links.
pub fn list(c: Option<&Clusterer>, limit: usize) -> serde_json::Value {
    let Some(c) = c else { return serde_json::json!({"clusters": [], "total": 0}) };
    let all = c.clusters();
    let shown: Vec<serde_json::Value> = all.iter().take(limit).map(|cl| brief(cl)).collect();
    serde_json::json!({"clusters": shown, "total": all.len()})
}

fn brief(cl: &Cluster) -> serde_json::Value {
    let verdict = ["none", "review", "block"][usize::from(cl.verdict)];
    serde_json::json!({
        "id": format!("c-{}", cl.id), "size": cl.size(), "probability": cl.probability,
        "verdict": verdict,
        "created": cl.created, "last": cl.last, "links": cl.links(),
        "merged": cl.merged.iter().map(|m| format!("c-{m}")).collect::<Vec<_>>(),
    })
}

/// One cluster as `GET /v1/signup/clusters/{id}` shows it: its members, what they share, the
/// features its model reads, its probability and history; `None` when there is no such one.
pub fn show(c: &Clusterer, id: u64) -> Option<serde_json::Value> {
    let cl = c.cluster(id)?;
    let mut v = brief(cl);
    v["members"] = serde_json::json!(c.members(id));
    v["shared"] = serde_json::json!(cl.links());
    v["features"] = serde_json::json!(c.summary(id));
    v["history"] = serde_json::json!(
        cl.history.iter().map(|(at, what)| serde_json::json!({"at": at, "what": what})).collect::<Vec<_>>()
    );
    Some(v)
}

/// MinHash of a string's character trigrams: 3 bands of 6 hashes each, a band as one number
/// (a pair at Jaccard similarity 0.9 shares a band with probability 0.87, at 0.7 with 0.29, at
/// 0.5 with 0.05).
fn minhash_bands(s: &str, seed: u64) -> [u64; BANDS] {
    let chars: Vec<char> = s.chars().collect();
    let mut mins = [u64::MAX; BANDS * ROWS];
    for w in chars.windows(3) {
        let mut buf = [0u8; 12];
        let mut n = 0;
        for c in w {
            n += c.encode_utf8(&mut buf[n..]).len();
        }
        for (i, m) in mins.iter_mut().enumerate() {
            let h = xxh3_64_with_seed(&buf[..n], seed ^ (i as u64 + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93));
            *m = (*m).min(h);
        }
    }
    let mut bands = [0u64; BANDS];
    for (b, band) in bands.iter_mut().enumerate() {
        let mut bytes = [0u8; ROWS * 8];
        for (j, m) in mins[b * ROWS..(b + 1) * ROWS].iter().enumerate() {
            bytes[j * 8..j * 8 + 8].copy_from_slice(&m.to_le_bytes());
        }
        *band = xxh3_64_with_seed(&bytes, b as u64);
    }
    bands
}

/// MinHash bands, and hashes a band.
const BANDS: usize = 3;
const ROWS: usize = 6;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse;
    use serde_json::json;

    fn add(c: &mut Clusterer, account: &str, at: u64, v: serde_json::Value) -> Option<Joined> {
        let mut e = v.as_object().unwrap().clone();
        e.insert("account".into(), account.into());
        let s = parse(&e).unwrap();
        let d = Derived::of(&s, &[]);
        c.add(account, at, &s, &d, None, None)
    }

    #[test]
    fn sign_ups_sharing_a_key_within_its_window_are_one_cluster_that_keeps_its_id() {
        let mut c = Clusterer::new(1, empty_model());
        let t = 1_000_000;
        assert_eq!(add(&mut c, "a-1", t, json!({"ip": "203.0.113.1", "device_id": "d-1"})), None);
        let j = add(&mut c, "a-2", t + 60, json!({"ip": "198.51.100.1", "device_id": "d-1"})).unwrap();
        assert_eq!(j.size, 2);
        let first = j.id;
        // A stranger: no cluster.
        assert_eq!(add(&mut c, "a-3", t + 120, json!({"ip": "192.0.2.1", "device_id": "d-9"})), None);
        // A second cluster, by a recovery address.
        let r = "the.same.recovery@example.org";
        add(&mut c, "a-4", t + 200, json!({"ip": "100.64.1.1", "recovery_email": r}));
        let second = add(&mut c, "a-5", t + 260, json!({"ip": "100.64.9.2", "recovery_email": r})).unwrap();
        assert_ne!(second.id, first);
        // A third by network and user agent: a weak link.
        let ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0";
        add(&mut c, "a-7", t + 270, json!({"ip": "192.0.2.50", "user_agent": ua}));
        let third = add(&mut c, "a-8", t + 280, json!({"ip": "192.0.2.51", "user_agent": ua})).unwrap();
        // A weak link joins one cluster and merges none: a-9 shares the third's network and
        // agent, and a network and pattern with nobody.
        let weak = add(&mut c, "a-9", t + 290, json!({"ip": "192.0.2.52", "user_agent": ua})).unwrap();
        assert_eq!((weak.id, weak.size), (third.id, 3));
        // One sign-up with strong links to both: they merge, the older id stays and lists the
        // other.
        let m =
            add(&mut c, "a-6", t + 300, json!({"ip": "100.64.1.3", "recovery_email": r, "device_id": "d-1"}))
                .unwrap();
        assert_eq!((m.id, m.size), (first, 5));
        let merged = c.cluster(first).unwrap();
        assert_eq!(merged.merged, [second.id]);
        assert!(c.cluster(second.id).is_none());
        let mut members = c.members(first);
        members.sort_unstable();
        assert_eq!(members, ["a-1", "a-2", "a-4", "a-5", "a-6"]);
        assert_eq!(merged.links(), ["device", "recovery"]);
        // Past the window a shared network and agent no longer link.
        assert_eq!(
            add(&mut c, "a-10", t + 300 + 86_401, json!({"ip": "192.0.2.99", "user_agent": ua})),
            None
        );
    }

    #[test]
    fn near_identical_local_parts_at_one_domain_link_and_different_ones_do_not() {
        let mut c = Clusterer::new(2, empty_model());
        let t = 5_000_000;
        add(&mut c, "a-1", t, json!({"ip": "203.0.113.1", "email": "jonathan.whitfield1@example.net"}));
        let near = add(
            &mut c,
            "a-2",
            t + 10,
            json!({"ip": "198.51.100.7", "email": "jonathan.whitfield2@example.net"}),
        );
        assert!(near.is_some(), "one character apart");
        let other = add(&mut c, "a-3", t + 20, json!({"ip": "192.0.2.7", "email": "mariarossi@example.net"}));
        assert_eq!(other, None);
        let elsewhere = add(
            &mut c,
            "a-4",
            t + 30,
            json!({"ip": "192.0.2.9", "email": "jonathan.whitfield3@example.org"}),
        );
        assert_eq!(elsewhere, None, "another domain");
    }

    #[test]
    fn labels_teach_the_cluster_model_and_its_verdicts_reach_every_member_once() {
        let mut c = Clusterer::new(3, empty_model());
        let mut t = 9_000_000;
        // Farms: ten accounts a device, taught abusive; families of two, legitimate.
        for round in 0..40 {
            for i in 0..10 {
                let a = format!("f-{round}-{i}");
                add(
                    &mut c,
                    &a,
                    t,
                    json!({"ip": format!("203.0.{round}.{i}"), "device_id": format!("farm-{round}"), "captcha": "failed"}),
                );
                c.decided(&a, 0.9, t);
                t += 30;
            }
            for i in 0..2 {
                let a = format!("h-{round}-{i}");
                add(
                    &mut c,
                    &a,
                    t,
                    json!({"ip": format!("198.51.{round}.1"), "device_id": format!("home-{round}"), "recovery_email": "x@example.org", "captcha": "passed"}),
                );
                c.decided(&a, 0.05, t);
                t += 30;
            }
            for i in 0..10 {
                c.taught(&format!("f-{round}-{i}"), Label::Abusive);
            }
            for i in 0..2 {
                c.taught(&format!("h-{round}-{i}"), Label::Legitimate);
            }
            c.take();
        }
        for i in 0..10 {
            let a = format!("new-{i}");
            add(
                &mut c,
                &a,
                t,
                json!({"ip": format!("203.0.99.{i}"), "device_id": "farm-new", "captcha": "failed"}),
            );
            c.decided(&a, 0.9, t);
            t += 30;
        }
        let told = c.take();
        let accounts: HashSet<&str> = told.iter().map(|v| v.account.as_str()).collect();
        assert_eq!(accounts.len(), 10, "every member of the new farm, once for each rise: {told:?}");
        assert!(told.iter().all(|v| v.probability >= REVIEW));
        let family = add(&mut c, "h-new-0", t, json!({"ip": "198.51.200.1", "device_id": "home-new"}));
        assert!(family.is_none());
        let family = add(&mut c, "h-new-1", t + 5, json!({"ip": "198.51.200.1", "device_id": "home-new", "recovery_email": "x@example.org", "captcha": "passed"})).unwrap();
        c.decided("h-new-1", 0.05, t + 5);
        assert!(c.cluster(family.id).unwrap().probability < REVIEW, "a family of two is let be");
    }

    #[test]
    fn a_weak_tie_takes_the_clusters_verdict_only_when_its_own_sign_up_is_doubtful() {
        let mut c = Clusterer::new(5, empty_model());
        let t = 2_000_000;
        let ua = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0";
        for (i, a) in ["f-1", "f-2", "f-3"].iter().enumerate() {
            let j = add(
                &mut c,
                a,
                t + i as u64,
                json!({"ip": "203.0.113.1", "user_agent": ua, "device_id": "phone"}),
            );
            c.decided(a, 0.6, t + i as u64);
            assert!(i == 0 || j.unwrap().strong, "joined by the device");
        }
        // The cluster model learns that this cluster is abusive.
        for _ in 0..300 {
            c.taught("f-1", Label::Abusive);
        }
        c.decided("f-3", 0.6, t + 3);
        let strong: HashSet<String> = c.take().into_iter().map(|v| v.account).collect();
        assert_eq!(strong.len(), 3, "{strong:?}");
        // Two strangers on the same network and agent: weak ties.
        let j = add(&mut c, "calm", t + 10, json!({"ip": "203.0.113.2", "user_agent": ua})).unwrap();
        assert!(!j.strong && j.probability >= REVIEW, "{j:?}");
        c.decided("calm", 0.05, t + 10);
        add(&mut c, "doubtful", t + 11, json!({"ip": "203.0.113.3", "user_agent": ua}));
        c.decided("doubtful", 0.4, t + 11);
        let told: Vec<String> = c.take().into_iter().map(|v| v.account).collect();
        assert_eq!(told, ["doubtful"], "the calm stranger keeps its own verdict");
    }

    #[test]
    fn old_accounts_and_clusters_are_forgotten() {
        let mut c = Clusterer::new(4, empty_model());
        add(&mut c, "a-1", 1_000, json!({"ip": "203.0.113.1", "device_id": "d-1"}));
        add(&mut c, "a-2", 1_100, json!({"ip": "203.0.113.2", "device_id": "d-1"}));
        add(&mut c, "a-3", 1_200, json!({"ip": "192.0.2.1"}));
        assert_eq!(c.len(), (3, 1));
        add(&mut c, "a-4", 1_200 + RETAIN + 10, json!({"ip": "192.0.2.200"}));
        assert_eq!(c.len(), (1, 0), "only the newest is left");
        assert_eq!(c.by_account.len(), 1, "the forgotten accounts are out of the index");
        // A cluster past its week between two sweeps is no longer shown.
        let t = 1_200 + RETAIN + 10;
        add(&mut c, "b-1", t, json!({"ip": "198.51.100.1", "device_id": "d-2"}));
        add(&mut c, "b-2", t + 1, json!({"ip": "198.51.100.2", "device_id": "d-2"}));
        let id = c.clusters()[0].id;
        add(&mut c, "b-3", t + RETAIN - 100, json!({"ip": "192.0.2.9"}));
        assert!(c.cluster(id).is_some(), "swept at t + RETAIN - 100: still within its week");
        add(&mut c, "b-4", t + RETAIN + 10, json!({"ip": "192.0.2.10"}));
        assert_eq!(c.len().1, 1, "not swept yet");
        assert!(c.cluster(id).is_none() && c.clusters().is_empty() && c.members(id).is_empty());
        assert!(c.bytes() > 0);
    }
}
