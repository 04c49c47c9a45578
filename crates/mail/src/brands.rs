//! The brands phishing impersonates, and how a name or a domain is matched against them.
//!
//! The list is `data/brands.toml`, compiled in; an operator adds their own brand with
//! `[mail] own_domains` and `own_brands`. Matching folds what a phisher changes to look the
//! same: letters of other scripts (decancer), digits for letters (`paypa1`), `rn` for `m`.

// foldhash's fixed hasher: these maps are looked up a few times a message with short keys, where
// the standard library's DoS-resistant hasher costs more than the lookup; the keys are fixed.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
type HashSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;
use serde::Deserialize;

use crate::domain::registrable_domain;

/// One brand.
#[derive(Debug, Clone)]
pub struct Brand {
    /// As the brand writes itself.
    pub name: String,
    /// The ways it is named, each a run of folded words.
    pub words: Vec<Vec<String>>,
    /// Its registrable domains.
    pub domains: Vec<String>,
    /// Its words are everyday words or names as well.
    pub common: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    brand: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    name: String,
    words: Vec<String>,
    domains: Vec<String>,
    #[serde(default)]
    tlds: Vec<String>,
    #[serde(default)]
    common: bool,
}

/// A set of brands and the indexes that match against them.
#[derive(Debug)]
pub struct Brands {
    brands: Vec<Brand>,
    /// Registrable domain → the brand it belongs to.
    by_domain: HashMap<String, usize>,
    /// A brand's own top-level domain → the brand.
    by_tld: HashMap<String, usize>,
    /// Every word of every brand's names: a name with none of them names no brand.
    vocabulary: HashSet<String>,
    /// The folded domain labels of the brands whose names are not everyday words, at least five
    /// letters long, for finding them inside longer names (`paypal-secure`, `securepaypal`).
    inside: AhoCorasick,
    /// The brand of each pattern of `inside`.
    inside_brand: Vec<usize>,
    /// Folded labels of six letters or more, of brands whose names are not everyday words, by
    /// length, with their brand: a look-alike by one edit is looked for only among labels of
    /// about its length.
    by_len: Vec<Vec<(String, usize, u64)>>,
    /// Every folded domain label → its brand.
    by_label: HashMap<String, usize>,
}

/// The brands compiled in.
pub fn builtin() -> &'static Brands {
    static BUILTIN: LazyLock<Brands> = LazyLock::new(|| {
        let file: File =
            toml::from_str(include_str!("../../../data/brands.toml")).expect("data/brands.toml reads");
        Brands::new(file.brand.into_iter().map(|e| (e.name, e.words, e.domains, e.tlds, e.common)))
    });
    &BUILTIN
}

impl Brand {
    /// Whether one of the brand's names is among `words`, as whole words in a row.
    fn named_in(&self, words: &[String]) -> bool {
        self.words.iter().any(|phrase| words.windows(phrase.len()).any(|w| w == phrase.as_slice()))
    }
}

/// The operator's own brand: its names and domains (never `common`: the operator chose them).
pub fn own(names: &[String], domains: &[String]) -> Option<Brands> {
    if domains.is_empty() {
        return None;
    }
    let name = names.first().cloned().unwrap_or_else(|| domains[0].clone());
    let mut words: Vec<String> = names.to_vec();
    words.extend(domains.iter().filter_map(|d| label_of(d)));
    let mut brands = Brands::new([(name, words, domains.to_vec(), Vec::new(), false)]);
    // The operator's own labels count however short (`hp.com`): they chose them.
    for d in domains {
        if let Some(l) = label_of(&registrable_domain(d).unwrap_or_else(|| d.to_ascii_lowercase())) {
            brands.by_label.entry(fold(&l)).or_insert(0);
        }
    }
    Some(brands)
}

/// A domain's label below its public suffix, when it has one.
fn label_of(domain: &str) -> Option<String> {
    let suffix = psl::suffix_str(domain)?;
    let label = domain.strip_suffix(suffix)?.strip_suffix('.')?;
    Some(label.rsplit('.').next().unwrap_or(label).to_owned())
}

impl Brands {
    fn new(entries: impl IntoIterator<Item = (String, Vec<String>, Vec<String>, Vec<String>, bool)>) -> Self {
        let mut brands = Vec::new();
        let mut by_domain = HashMap::default();
        let mut by_tld = HashMap::default();
        let mut vocabulary = HashSet::default();
        let (mut patterns, mut inside_brand) = (Vec::new(), Vec::new());
        let mut by_len: Vec<Vec<(String, usize, u64)>> = Vec::new();
        let mut by_label = HashMap::default();
        for (name, words, domains, tlds, common) in entries {
            let i = brands.len();
            for t in tlds {
                by_tld.entry(t.to_ascii_lowercase()).or_insert(i);
            }
            let domains: Vec<String> = domains
                .iter()
                .map(|d| registrable_domain(d).unwrap_or_else(|| d.to_ascii_lowercase()))
                .collect();
            let mut labels: Vec<String> =
                domains.iter().filter_map(|d| label_of(d)).map(|l| fold(&l)).collect();
            labels.sort();
            labels.dedup();
            for d in &domains {
                by_domain.entry(d.clone()).or_insert(i);
            }
            for l in &labels {
                // A label of one or two letters (`g.co`, `we.tl`) is a brand's short link, and
                // every other name with that label (`w3.org`) would look like it; an everyday
                // word's label (`orange.net`) is other firms' name too.
                if l.len() >= 3 && !common {
                    by_label.entry(l.clone()).or_insert(i);
                }
                if !common && l.len() >= 5 {
                    patterns.push(l.clone());
                    inside_brand.push(i);
                }
                if !common && l.len() >= 6 {
                    if by_len.len() <= l.len() {
                        by_len.resize(l.len() + 1, Vec::new());
                    }
                    by_len[l.len()].push((l.clone(), i, letters(l)));
                }
            }
            let mut words: Vec<Vec<String>> =
                words.iter().map(|w| words_of(w)).filter(|w| !w.is_empty()).collect();
            // A name of several words is also written run together (`RoyalMail`).
            let joined: Vec<Vec<String>> =
                words.iter().filter(|w| w.len() > 1).map(|w| vec![w.concat()]).collect();
            for j in joined {
                if !words.contains(&j) {
                    words.push(j);
                }
            }
            // Words of one letter (`t-mobile`, `sam's club`, `triple a`) are in nearly every name:
            // the prefilter keeps the others, and every name has one.
            vocabulary.extend(words.iter().flatten().filter(|w| w.chars().nth(1).is_some()).cloned());
            brands.push(Brand { name, words, domains, common });
        }
        let inside = AhoCorasick::new(&patterns).expect("brand labels make an automaton");
        Brands { brands, by_domain, by_tld, vocabulary, inside, inside_brand, by_len, by_label }
    }

    /// The brand a registrable domain belongs to: one of its domains, or any under its own
    /// top-level domain.
    pub fn owner(&self, domain: &str) -> Option<&Brand> {
        let tld = domain.rsplit('.').next().unwrap_or(domain);
        self.by_domain.get(domain).or_else(|| self.by_tld.get(tld)).map(|&i| &self.brands[i])
    }

    /// The brand a display name claims to be: one of its names as whole words, or, for a brand
    /// whose names are everyday words, the name being the brand and service words alone.
    pub fn named_by(&self, display: &str) -> Option<&Brand> {
        // Most display names name no brand: an ASCII one is looked through word by word in
        // one lowered copy before its words are made.
        if display.is_ascii() {
            let lower = display.to_ascii_lowercase();
            let words =
                lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '&')).filter(|w| !w.is_empty());
            if !words.take(64).any(|w| self.vocabulary.contains(w)) && !has_initials(&lower) {
                return None;
            }
        }
        let words = words_of(display);
        let joined = join_initials(&words);
        [Some(words), joined].into_iter().flatten().find_map(|words| self.named_in_words(&words))
    }

    /// [`Brands::named_by`] over a name's words.
    fn named_in_words(&self, words: &[String]) -> Option<&Brand> {
        if !words.iter().any(|w| self.vocabulary.contains(w)) {
            return None;
        }
        let meaningful: Vec<&String> =
            words.iter().filter(|w| !SERVICE_WORDS.contains(&w.as_str())).collect();
        self.brands.iter().find(|b| {
            if b.common {
                b.words.iter().any(|phrase| {
                    meaningful.len() == phrase.len() && meaningful.iter().zip(phrase).all(|(a, b)| *a == b)
                })
            } else {
                b.named_in(words)
            }
        })
    }

    /// The brand a text names (a subject): a name of a brand whose names are not everyday words,
    /// as whole words.
    pub fn mentioned_in(&self, text: &str) -> Option<&Brand> {
        let words = words_of(text);
        let joined = join_initials(&words);
        [Some(words), joined].into_iter().flatten().find_map(|words| {
            if !words.iter().any(|w| self.vocabulary.contains(w)) {
                return None;
            }
            self.brands.iter().filter(|b| !b.common).find(|b| b.named_in(&words))
        })
    }

    /// The brand `host` (whose registrable domain is `domain`) imitates, when it is not the
    /// brand's own: a brand's domain placed in front (`paypal.com.secure-login.example`), its
    /// label with look-alike characters (`paypa1`, `rnicrosoft`, `xn--pypal-4ve`) or one edit
    /// away (`paypall`), or, for a distinctive label, inside a longer one (`paypal-secure`).
    /// (The signals do the same in steps, looking at each distinct domain once.)
    #[cfg(test)]
    pub fn imitated_by(&self, host: &str, domain: &str) -> Option<&Brand> {
        if self.owner(domain).is_some() {
            return None;
        }
        self.placed_in_front(host, domain).or_else(|| self.imitated_by_domain(domain))
    }

    /// A brand's own domain as labels of `host` in front of another `domain`: two or three
    /// neighbouring labels of what comes before it, looked up.
    pub fn placed_in_front(&self, host: &str, domain: &str) -> Option<&Brand> {
        // By suffix, not by length: a registrable domain is lower-cased, and a non-ASCII
        // letter may change its length in bytes when it is (a cut by length fell inside one).
        let host = host.trim_end_matches('.');
        let prefix = host.strip_suffix(domain)?.strip_suffix('.')?;
        if !prefix.contains('.') {
            return None;
        }
        let labels: Vec<&str> = prefix.split('.').take(16).collect();
        let mut joined = String::with_capacity(prefix.len());
        for n in [2, 3] {
            for w in labels.windows(n) {
                joined.clear();
                for (i, l) in w.iter().enumerate() {
                    if i > 0 {
                        joined.push('.');
                    }
                    joined.extend(l.chars().map(|c| c.to_ascii_lowercase()));
                }
                if let Some(&i) = self.by_domain.get(&joined) {
                    return Some(&self.brands[i]);
                }
            }
        }
        None
    }

    /// The brand whose domain label a registrable `domain` imitates (look-alike characters, one
    /// edit, or the label inside a longer one beside a lure word); not looking at who owns it.
    pub fn imitated_by_domain(&self, domain: &str) -> Option<&Brand> {
        // The compiled-in list's answers are remembered per thread: the same domains (senders'
        // services, trackers, shorteners) come back message after message, and the answer is
        // the same every time. At most 65,536 names (about 1.5 MB a thread), each kept as a
        // 64-bit hash under a seed drawn per thread: no allocation a name, and no name can be
        // made on purpose to collide with one already answered.
        thread_local! {
            static SEEN: std::cell::RefCell<(foldhash::fast::RandomState, HashMap<u64, Option<usize>>)> =
                std::cell::RefCell::new(Default::default());
        }
        if !std::ptr::eq(self, builtin()) {
            return self.imitated_index(domain).map(|i| &self.brands[i]);
        }
        let found = SEEN.with_borrow_mut(|(seed, seen)| {
            let key = std::hash::BuildHasher::hash_one(&*seed, domain);
            if let Some(&i) = seen.get(&key) {
                return i;
            }
            if seen.len() >= 1 << 16 {
                seen.clear();
            }
            let i = self.imitated_index(domain);
            seen.insert(key, i);
            i
        });
        found.map(|i| &self.brands[i])
    }

    fn imitated_index(&self, domain: &str) -> Option<usize> {
        let label = label_of(domain)?;
        let label = if label.starts_with("xn--") { idna::domain_to_unicode(&label).0 } else { label };
        let folded = fold(&label);
        if let Some(&i) = self.by_label.get(&folded) {
            return Some(i);
        }
        // Inside a longer name only beside a lure word (`paypal-secure`, `securelogin-paypal`):
        // brands run services under names of their own (`adobe-campaign`, `yahoodns`) that no
        // list keeps up with, while a phisher's name has to persuade.
        // Hyphens are left out, as a name is read (`geek-squadservices`).
        let unhyphened = if folded.contains('-') { folded.replace('-', "") } else { folded.clone() };
        if LURES.iter().any(|w| unhyphened.contains(w))
            && let Some(m) = self.inside.find(&unhyphened)
        {
            let rest = format!("{}{}", &unhyphened[..m.start()], &unhyphened[m.end()..]);
            if LURES.iter().any(|w| rest.contains(w)) {
                return Some(self.inside_brand[m.pattern().as_usize()]);
            }
        }
        let pieces =
            std::iter::once(folded.as_str()).chain(folded.split('-').filter(|p| p.len() < folded.len()));
        for piece in pieces {
            let mask = letters(piece);
            for len in piece.len().saturating_sub(1)..=piece.len() + 1 {
                for (l, i, m) in self.by_len.get(len).into_iter().flatten() {
                    // One edit takes away at most one letter and brings at most one.
                    if (mask ^ m).count_ones() <= 2 && one_edit_apart(piece, l) {
                        return Some(*i);
                    }
                }
            }
        }
        None
    }
}

/// The set of letters and digits of a label, as bits.
fn letters(s: &str) -> u64 {
    s.bytes().fold(0, |m, b| {
        m | match b {
            b'a'..=b'z' => 1 << (b - b'a'),
            b'0'..=b'9' => 1 << (26 + b - b'0'),
            _ => 1 << 63,
        }
    })
}

/// What a phisher puts beside a brand's name in a domain to make it look like a service of it.
const LURES: &[&str] = &[
    "secure",
    "login",
    "logon",
    "signin",
    "verify",
    "verif",
    "account",
    "acct",
    "support",
    "update",
    "service",
    "billing",
    "help",
    "auth",
    "alert",
    "wallet",
    "recover",
    "confirm",
    "online",
    "portal",
    "access",
    "unlock",
    "locked",
    "limited",
    "resolution",
    "center",
    "centre",
    "customer",
    "payment",
    "invoice",
    "refund",
    "security",
    "safe",
    "protect",
    "notice",
    "webmail",
    "mail",
    "team",
    "desk",
    "id",
];

/// Words that dress up a brand in a display name without naming anything else.
const SERVICE_WORDS: &[&str] = &[
    "account",
    "accounts",
    "alert",
    "alerts",
    "bank",
    "banking",
    "billing",
    "card",
    "center",
    "centre",
    "customer",
    "customers",
    "department",
    "help",
    "helpdesk",
    "inc",
    "info",
    "mail",
    "member",
    "members",
    "no",
    "noreply",
    "notice",
    "notification",
    "notifications",
    "online",
    "reply",
    "security",
    "service",
    "services",
    "support",
    "team",
    "the",
    "update",
    "updates",
    "verification",
    "via",
];

/// The words of a name, folded: letters of other scripts to their Latin look-alikes, lower case,
/// split at anything but letters, digits and `&`.
pub(crate) fn words_of(text: &str) -> Vec<String> {
    let cured = if text.is_ascii() {
        text.to_ascii_lowercase()
    } else {
        decancer::cure(text, decancer::Options::default())
            .map_or_else(|_| text.to_lowercase(), |c| c.to_string())
    };
    cured
        .split(|c: char| !(c.is_alphanumeric() || c == '&'))
        .filter(|w| !w.is_empty())
        .take(64)
        .map(str::to_owned)
        .collect()
}

/// A name's words with initials in a row made one word (`U.S.P.S` → `usps`), when it has
/// them: spelt out, a brand's name slips past a filter that reads whole words. Looked at
/// besides the words as they are, which a brand named with one letter (`T-Mobile`) needs.
fn join_initials(words: &[String]) -> Option<Vec<String>> {
    let initial = |w: &String| w.chars().nth(1).is_none();
    if !initials_in_a_row(words.iter().map(String::as_str)) {
        return None;
    }
    let mut joined: Vec<String> = Vec::with_capacity(words.len());
    let mut run = 0;
    for w in words {
        match joined.last_mut() {
            Some(last) if initial(w) && run > 0 => {
                last.push_str(w);
                run += 1;
            }
            _ => {
                joined.push(w.clone());
                run = usize::from(initial(w));
            }
        }
    }
    Some(joined)
}

/// Whether a lower-case ASCII name spells initials in a row (`u.s.p.s`), which [`words_of`]
/// joins into a word.
fn has_initials(lower: &str) -> bool {
    initials_in_a_row(
        lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '&')).filter(|w| !w.is_empty()),
    )
}

/// Whether two words of one character each follow each other.
fn initials_in_a_row<'a>(mut words: impl Iterator<Item = &'a str>) -> bool {
    let mut before = false;
    words.any(|w| {
        let initial = w.chars().nth(1).is_none();
        let pair = before && initial;
        before = initial;
        pair
    })
}

/// A domain label as it reads: letters of other scripts to Latin, digits to the letters they
/// stand for, `rn` to `m`, `vv` to `w`, lower case.
pub(crate) fn fold(label: &str) -> String {
    let cured = if label.is_ascii() {
        label.to_ascii_lowercase()
    } else {
        decancer::cure(label, decancer::Options::default())
            .map_or_else(|_| label.to_lowercase(), |c| c.to_string())
    };
    let swapped: String = cured
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' | '|' => 'l',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            c => c,
        })
        .collect();
    if swapped.contains("rn") || swapped.contains("vv") {
        swapped.replace("rn", "m").replace("vv", "w")
    } else {
        swapped
    }
}

/// Whether `a` and `b` differ by exactly one insertion, deletion, substitution or swap of
/// neighbours.
fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a == b {
        return false;
    }
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (ra, rb) = (&a[prefix..], &b[prefix..]);
    match ra.len() as isize - rb.len() as isize {
        0 => ra[1..] == rb[1..] || (ra.len() >= 2 && ra[0] == rb[1] && ra[1] == rb[0] && ra[2..] == rb[2..]),
        1 => ra[1..] == *rb,
        -1 => *ra == rb[1..],
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_list_reads_and_indexes_every_domain() {
        let b = builtin();
        assert!(b.brands.len() >= 50);
        assert_eq!(b.owner("paypal.com").map(|b| b.name.as_str()), Some("PayPal"));
        assert_eq!(b.owner("microsoftonline.com").map(|b| b.name.as_str()), Some("Microsoft"));
        assert!(b.owner("example.com").is_none());
        // A domain listed under two brands would make the second brand's own mail look forged.
        for brand in &b.brands {
            for d in &brand.domains {
                assert!(b.owner(d).is_some_and(|o| std::ptr::eq(o, brand)), "{d} is {}'s alone", brand.name);
            }
        }
    }

    #[test]
    fn display_names_name_brands_as_whole_words() {
        let b = builtin();
        let named = |s: &str| b.named_by(s).map(|b| b.name.as_str());
        assert_eq!(named("PayPal Service"), Some("PayPal"));
        assert_eq!(named("PаyPal"), Some("PayPal"), "a Cyrillic а");
        assert_eq!(named("Microsoft account team"), Some("Microsoft"));
        assert_eq!(named("Chase Online Banking"), Some("Chase"));
        assert_eq!(named("Chase Smith"), None, "an everyday word as a person's name");
        assert_eq!(named("Apple Support"), Some("Apple"));
        assert_eq!(named("Apple Valley Farms"), None);
        assert_eq!(named("paypalooza"), None, "not a whole word");
        assert_eq!(named(""), None);
        // Initials spelt out are the brand's word, in ASCII and in styled letters alike.
        assert_eq!(named("U.S.P.S Giveaway"), Some("USPS"));
        assert_eq!(named("U S P S"), Some("USPS"));
        assert_eq!(named("𝗨.𝗦.𝗣.𝗦 Rewards"), Some("USPS"));
        assert_eq!(named("J. Smith"), None, "one initial joins nothing");
        assert_eq!(named("Sam's Club Lipton Tea Variety Box"), Some("Sam's Club"));
        assert_eq!(named("Tech Gift from T-Mobile"), Some("T-Mobile"));
        assert_eq!(named("RoyalMail"), Some("Royal Mail"), "a name of two words run together");
        assert_eq!(
            named("Win a T-Mobile iPhone"),
            Some("T-Mobile"),
            "an initial before a brand of one letter"
        );
        assert_eq!(b.mentioned_in("Win a T-Mobile iPhone").map(|b| b.name.as_str()), Some("T-Mobile"));
        assert_eq!(b.mentioned_in("Your U.S.P.S parcel").map(|b| b.name.as_str()), Some("USPS"));
    }

    #[test]
    fn initials_in_a_row_are_one_word() {
        let joined = |s: &str| join_initials(&words_of(s));
        assert_eq!(joined("U.S.P.S_Giveaway").unwrap(), ["usps", "giveaway"]);
        assert_eq!(joined("A B C and D").unwrap(), ["abc", "and", "d"]);
        assert_eq!(joined("Sam's Club"), None);
        assert!(has_initials("u.s.p.s giveaway"));
        assert!(!has_initials("sam s club"));
    }

    #[test]
    fn look_alike_domains_are_found_and_the_brands_own_are_not() {
        let b = builtin();
        let imitates = |host: &str| {
            let domain = registrable_domain(host).unwrap();
            b.imitated_by(host, &domain).map(|b| b.name.as_str())
        };
        assert_eq!(imitates("paypa1.com"), Some("PayPal"));
        assert_eq!(imitates("www.paypal.com.secure-login.xyz"), Some("PayPal"));
        assert_eq!(imitates("paypal-secure.top"), Some("PayPal"));
        assert_eq!(imitates("securepaypal.net"), Some("PayPal"));
        assert_eq!(imitates("paypall.com"), Some("PayPal"));
        assert_eq!(imitates("rnicrosoft.com"), Some("Microsoft"));
        assert_eq!(imitates("micros0ft-support.com"), Some("Microsoft"));
        assert_eq!(imitates("xn--pypal-4ve.com"), Some("PayPal"), "pаypal with a Cyrillic а");
        assert_eq!(imitates("docusign-envelope.xyz"), None, "a brand inside a name, but no lure beside it");
        assert_eq!(imitates("docusign-verify.xyz"), Some("DocuSign"));
        assert_eq!(imitates("mail.adobe-campaign.com"), None, "the brand's own service");
        assert_eq!(imitates("applecard.apple"), None, "under the brand's own top-level domain");
        assert_eq!(imitates("www.paypal.com"), None);
        assert_eq!(imitates("email.microsoft.com"), None);
        assert_eq!(imitates("applebees.com"), None, "an everyday word inside a name");
        assert_eq!(imitates("example.org"), None);
        assert_eq!(imitates("chasebank-alerts.com"), None, "everyday brand names are not looked for inside");
        // Names that share a label with a brand's short link or everyday name are not look-alikes.
        assert_eq!(imitates("www.w3.org"), None, "w3 folds to 'we', WeTransfer's we.tl");
        assert_eq!(imitates("a298.g.akamai.net"), None, "g, Google's g.co");
        assert_eq!(imitates("orange.net"), None, "an everyday word under another suffix");
        assert_eq!(imitates("mail.ru"), None);
        assert_eq!(imitates("dhl.xyz"), Some("DHL"), "a short label of three letters still counts");
        assert_eq!(imitates("geek-squadservices106.co"), Some("Geek Squad"), "hyphens are read through");
    }

    /// The fuzzer's case: a host whose registrable domain, lower-cased, is longer in bytes than
    /// the host's own ending, so that a cut by length fell inside a character.
    #[test]
    fn hosts_whose_domain_changes_length_when_lowered_are_looked_at_safely() {
        let b = builtin();
        let host = "a\u{fffd}.b.c\u{130}";
        let domain = registrable_domain(host).unwrap();
        assert_eq!(domain, "b.c\u{130}".to_lowercase());
        // The cut the first version made by length lands inside a character here.
        let cut = host.len().checked_sub(domain.len() + 1).unwrap();
        assert!(!host.is_char_boundary(cut), "{host} / {domain}");
        let _ = b.placed_in_front(host, &domain);
        let _ = b.imitated_by(host, &domain);
        assert!(b.placed_in_front("a.b.paypal.com.evil.example", "evil.example").is_some());
        assert!(b.placed_in_front("a.b.paypal.com.evil.example", "EVIL.example").is_none());
    }

    #[test]
    fn one_edit_means_one() {
        assert!(one_edit_apart("paypal", "paypall"));
        assert!(one_edit_apart("paypal", "paypl"));
        assert!(one_edit_apart("paypal", "paypak"));
        assert!(one_edit_apart("paypal", "papyal"));
        assert!(!one_edit_apart("paypal", "paypal"));
        assert!(!one_edit_apart("paypal", "pypl"));
        assert!(!one_edit_apart("paypal", "yappal"));
    }

    #[test]
    fn the_operators_own_brand_is_one_more() {
        let own = own(&["Example Bank".into()], &["examplebank.com".into()]).unwrap();
        assert_eq!(own.named_by("Example Bank Security").map(|b| b.name.as_str()), Some("Example Bank"));
        assert!(own.imitated_by("examp1ebank.com", "examp1ebank.com").is_some());
        assert!(own.imitated_by("examplebank.com", "examplebank.com").is_none());
        assert!(super::own(&[], &[]).is_none());
        let short = super::own(&["HP".into()], &["hp.com".into()]).unwrap();
        assert!(short.imitated_by("hp.xyz", "hp.xyz").is_some(), "the operator's own short label");
        assert!(builtin().imitated_by("we.xyz", "we.xyz").is_none(), "a built-in label of two letters");
    }
}
