//! Named signals: what a person would point at in a phishing message or in honest bulk mail,
//! each a feature (`sig:NAME`, whose weight the model learns) and a sentence that says what
//! was seen ("the display name says PayPal, but the sender's domain is paypa1-secure.xyz").
//!
//! They are facts of the message alone — never of the time it arrived or of what the server
//! has seen before — so the same message always gives the same features. Every signal is
//! listed, with its sentence, in FEATURES.md.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use mail_parser::Message;

use super::headers::{domain_of, first_address};
use super::url::{UrlCollector, authority_host, authority_of};
use super::{Emitter, ns, prefix};
use crate::MailConfig;
use crate::brands::{self, Brand};
use crate::domain::registrable_domain;

/// One named signal of a message.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Its stable name (`BRAND_IMPERSONATION`): the feature's token and the reason's name.
    pub name: &'static str,
    /// What was seen, as a sentence.
    pub sentence: String,
}

/// Every named signal, with the points it adds to a decision's score (in log-odds) unless the
/// configuration's `[signals]` says otherwise. The learned model gives each signal a weight too,
/// but a signal is one feature among two thousand n-grams and words, and its weight stays small;
/// points, as Rspamd's symbols have, make what is rare in ham count. A signal has points when it
/// fired on at most 1 in 2,000 of the ham of the corpora in the README and on spam of today
/// (FEATURES.md gives the counts); authentication and link habits common in honest bulk mail
/// have none and are left to the model.
pub const SIGNALS: &[(&str, f64)] = &[
    ("BRAND_IMPERSONATION", 1.0),
    ("LOOKALIKE_DOMAIN", 1.0),
    ("CREDENTIAL_FORM", 1.0),
    ("ACTIVE_ATTACHMENT", 1.0),
    ("QR_CODE_LINK", 1.0),
    ("IPFS_LINK", 1.0),
    ("DATA_URL_LINK", 1.0),
    ("RECIPIENT_DOMAIN_LURE", 1.0),
    ("ACCOUNT_THREAT", 1.0),
    ("PADDED_SUBJECT", 1.0),
    ("MADE_UP_SENDER", 1.0),
    ("STYLED_TEXT", 1.0),
    ("FREE_HOSTING_LINK", 0.0),
    ("SHORTENED_LINK", 0.0),
    ("REDIRECT_LINK", 0.0),
    ("LINK_TEXT_MISMATCH", 0.0),
    ("REPLY_WITHOUT_THREAD", 0.0),
    ("DKIM_ALIGNED", 0.0),
    ("DMARC_PASS", 0.0),
    ("UNSUBSCRIBE_AT_SENDER", 0.0),
    ("ONE_CLICK_UNSUBSCRIBE", 0.0),
];

/// Bytes of an attachment looked through for forms, scripts and links.
const MAX_ATTACHMENT_BYTES: usize = 256 << 10;

/// What the signals read, gathered as the extraction goes through the message.
#[derive(Default)]
pub(crate) struct Clues {
    /// An HTML part (not an attachment) asks for a password.
    pub password_form: bool,
    /// Links whose target is a `data:` URL.
    pub data_links: usize,
    /// Attachments that carry active content: (file name, what it carries).
    attachments: Vec<(String, String)>,
    /// The registrable domain of From, as the sender features read it.
    pub from_domain: Option<String>,
    /// The DMARC verdict of the first Authentication-Results field that gives one.
    pub dmarc: Option<String>,
    /// The domains of the DKIM results that passed, in the Authentication-Results fields.
    pub dkim_passed: Vec<String>,
    /// The first List-Unsubscribe value (its first 2,048 bytes).
    pub unsubscribe: Option<String>,
    /// List-Unsubscribe-Post asks for one click.
    pub one_click: bool,
    /// The host of the first link read from a QR code in an image.
    pub qr_link: Option<String>,
    /// Images the HTML carried in `data:` URLs, to be searched for QR codes.
    pub images: Vec<Vec<u8>>,
}

impl Clues {
    /// Reads the text of a QR code found in an image: its links are links of the message.
    pub fn qr_code(&mut self, text: &str, urls: &mut UrlCollector) {
        let before = urls.urls().len();
        urls.scan_text(text);
        if self.qr_link.is_none() {
            self.qr_link = urls.urls()[before..]
                .iter()
                .find_map(|u| authority_host(u))
                .map(|h| prefix(&h, 100).to_owned());
        }
    }

    /// Looks through an attachment: HTML and SVG files for forms, scripts and redirects, PDF
    /// files for links and actions.
    pub fn attachment(&mut self, name: Option<&str>, ctype: &str, bytes: &[u8]) {
        if self.attachments.len() >= 8 {
            return;
        }
        let name = name.map_or_else(String::new, |n| prefix(n, 80).to_owned());
        let lower_name = name.to_ascii_lowercase();
        let ext = lower_name.rsplit_once('.').map_or("", |(_, e)| e);
        let bytes = &bytes[..bytes.len().min(MAX_ATTACHMENT_BYTES)];
        let has = |needle: &[u8]| memchr::memmem::find(bytes, needle).is_some();
        let has_ci =
            |needle: &str| bytes.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()));
        let html = matches!(ext, "html" | "htm" | "shtml" | "xhtml" | "svg" | "mht")
            || matches!(ctype, "text/html" | "image/svg+xml" | "application/xhtml+xml");
        let what = if html {
            let mut found = Vec::new();
            if has_ci("<form") {
                found.push(if has_ci("password") { "a form asking for a password" } else { "a form" });
            }
            if has_ci("<script") || has_ci("javascript:") {
                found.push("a script");
            }
            if has_ci("http-equiv=\"refresh\"") || has_ci("window.location") || has_ci("location.href") {
                found.push("a redirect");
            }
            found.join(" and ")
        } else if ext == "pdf" || ctype == "application/pdf" || bytes.starts_with(b"%PDF") {
            let mut found = Vec::new();
            if has(b"/JavaScript") || has(b"/JS ") || has(b"/JS(") {
                found.push("a script");
            }
            if has(b"/SubmitForm") || has(b"/Launch") {
                found.push("a form or launch action");
            }
            // A one- or two-page document whose point is a link: the phishing PDF's shape.
            let pages = memchr::memmem::find_iter(bytes, b"/Type /Page").count()
                + memchr::memmem::find_iter(bytes, b"/Type/Page").count();
            let pages = pages.saturating_sub(
                memchr::memmem::find_iter(bytes, b"/Type /Pages").count()
                    + memchr::memmem::find_iter(bytes, b"/Type/Pages").count(),
            );
            if pages <= 2
                && let Some(host) = pdf_link_host(bytes)
            {
                found.push(if pages == 1 { "one page and a link" } else { "two pages and a link" });
                return self.attachments.push((name, format!("{} (to {host})", found.join(" and "))));
            }
            found.join(" and ")
        } else {
            String::new()
        };
        if !what.is_empty() {
            self.attachments.push((name, what));
        }
    }
}

/// The host of the first `/URI (...)` link of a PDF.
fn pdf_link_host(bytes: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(bytes, b"/URI")?;
    let rest = &bytes[at + 4..bytes.len().min(at + 600)];
    let open = rest.iter().position(|&b| b == b'(')?;
    let end = rest[open + 1..].iter().position(|&b| b == b')')?;
    let uri = std::str::from_utf8(&rest[open + 1..open + 1 + end]).ok()?;
    authority_host(uri).map(|h| prefix(&h.to_ascii_lowercase(), 100).to_owned())
}

/// Shorteners: a link through one hides where it goes.
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "bitly.com",
    "tinyurl.com",
    "goo.gl",
    "ow.ly",
    "is.gd",
    "buff.ly",
    "rebrand.ly",
    "cutt.ly",
    "shorturl.at",
    "rb.gy",
    "t.ly",
    "tiny.cc",
    "bit.do",
    "s.id",
    "v.gd",
    "qrco.de",
    "shorturl.asia",
    "urlz.fr",
    "t2m.io",
    "short.io",
    "tinu.be",
    "lnk.to",
    "surl.li",
    "u.to",
    "clck.ru",
    "x.gd",
    "gg.gg",
    "soo.gd",
    "shrtco.de",
];

/// Hosting anyone can publish a page on in a minute, free: where phishing kits live. Matched
/// as the end of the host.
const FREE_HOSTING: &[&str] = &[
    "firebaseapp.com",
    "web.app",
    "pages.dev",
    "workers.dev",
    "netlify.app",
    "vercel.app",
    "glitch.me",
    "onrender.com",
    "r2.dev",
    "herokuapp.com",
    "000webhostapp.com",
    "weebly.com",
    "wixsite.com",
    "blogspot.com",
    "github.io",
    "gitbook.io",
    "webflow.io",
    "square.site",
    "godaddysites.com",
    "mystrikingly.com",
    "sites.google.com",
    "storage.googleapis.com",
    "forms.gle",
    "docs.google.com",
    "typedream.app",
    "framer.website",
    "carrd.co",
    "replit.app",
    "repl.co",
    "azurewebsites.net",
    "web.core.windows.net",
    "s3.amazonaws.com",
    "appspot.com",
    "surge.sh",
    "translate.goog",
    "ngrok.io",
    "ngrok-free.app",
    "trycloudflare.com",
    "jimdosite.com",
    "site123.me",
    "yolasite.com",
    "webwave.dev",
    "ukit.me",
];

/// Gateways to IPFS, where a page cannot be taken down.
const IPFS: &[&str] = &[
    "ipfs.io",
    "dweb.link",
    "cf-ipfs.com",
    "cloudflare-ipfs.com",
    "w3s.link",
    "nftstorage.link",
    "fleek.co",
    "infura-ipfs.io",
    "4everland.io",
    "pinata.cloud",
    "ipfs.fleek.co",
    "gateway.pinata.cloud",
];

/// Link rewriters of mail security products: they redirect by design, for the recipient's own
/// protection.
const REWRITERS: &[&str] = &[
    "safelinks.protection.outlook.com",
    "urldefense.com",
    "urldefense.proofpoint.com",
    "mimecastprotect.com",
    "mimecast.com",
    "cudasvc.com",
    "secure-web.cisco.com",
    "trendmicro.com",
    "sophos.com",
];

/// Account-threat and urgency phrases, matched as whole words in the normalised text (lower
/// case, every run of other characters one space: "sign-in" is "sign in").
const THREATS: &[&str] = &[
    "verify your account",
    "verify your identity",
    "confirm your identity",
    "confirm your account",
    "account will be suspended",
    "account has been suspended",
    "account has been locked",
    "account will be closed",
    "account has been limited",
    "account is on hold",
    "unusual activity",
    "unusual sign in",
    "suspicious activity",
    "suspicious login",
    "unauthorized access",
    "within 24 hours",
    "within 48 hours",
    "within 12 hours",
    "immediate action",
    "action required",
    "failure to comply",
    "will be terminated",
    "will be deactivated",
    "password will expire",
    "password expires",
    "password has expired",
    "mailbox is full",
    "mailbox will be",
    "storage is full",
    "update your payment",
    "update your billing",
    "payment was declined",
    "payment failed",
    "billing information",
    "validate your",
    "reactivate your",
    "restore access",
    "to avoid suspension",
    "to avoid interruption",
    "permanently deleted",
    "last warning",
    "final notice",
    "final reminder",
    "your package could not be delivered",
    "delivery failed",
    "pending delivery",
    "customs fee",
    "re confirm",
    "log in to secure",
    "sign in to verify",
    "click here to verify",
    "click below to verify",
];

static THREAT_MATCHER: LazyLock<AhoCorasick> = LazyLock::new(|| {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .kind(Some(aho_corasick::AhoCorasickKind::ContiguousNFA))
        .build(THREATS)
        .expect("phrases make an automaton")
});

/// What a host's service is, by the lists above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hosting {
    Shortener,
    Free,
    Ipfs,
    Rewriter,
}

/// The service of `host` or of a name it is under (`evil.web.app` is under `web.app`): its
/// suffixes at label boundaries looked up in one map of the lists.
fn hosting(host: &str) -> Option<Hosting> {
    static BY_NAME: LazyLock<std::collections::HashMap<&'static str, Hosting, foldhash::fast::FixedState>> =
        LazyLock::new(|| {
            let lists = [
                (SHORTENERS, Hosting::Shortener),
                (FREE_HOSTING, Hosting::Free),
                (IPFS, Hosting::Ipfs),
                (REWRITERS, Hosting::Rewriter),
            ];
            lists.iter().flat_map(|(names, kind)| names.iter().map(move |n| (*n, *kind))).collect()
        });
    let mut rest = host;
    loop {
        if let Some(&kind) = BY_NAME.get(rest) {
            return Some(kind);
        }
        rest = &rest[rest.find('.')? + 1..];
    }
}

/// The sender as the signals see it.
struct Sender<'m, 'c> {
    name: Option<&'m str>,
    /// The local part of the From address.
    local: Option<&'m str>,
    domain: Option<&'c str>,
    host: Option<String>,
}

/// Finds the named signals of a parsed message, emits them as `sig:` features and returns
/// them.
pub(crate) fn detect(
    msg: Option<&Message<'_>>,
    raw_subject: &str,
    config: &MailConfig,
    clues: &Clues,
    urls: &UrlCollector,
    (text, subject_end): (Vec<u8>, usize),
    out: &mut Emitter<'_>,
) -> Vec<Signal> {
    let mut found: Vec<Signal> = Vec::new();
    let mut say = |name: &'static str, sentence: String| {
        if !found.iter().any(|s| s.name == name) {
            found.push(Signal { name, sentence });
        }
    };
    let own = config.own.get(&config.own_brands, &config.own_domains);
    let lists = || own.into_iter().chain([brands::builtin()]);
    let owner = |domain: &str| lists().find_map(|b| b.owner(domain));

    let sender = msg.map_or(Sender { name: None, local: None, domain: None, host: None }, |m| {
        let (name, addr) = first_address(m.from()).unwrap_or((None, None));
        let host = addr.and_then(domain_of).map(str::to_ascii_lowercase);
        let local = addr.and_then(|a| a.rsplit_once('@')).map(|(l, _)| l);
        Sender { name, local, domain: clues.from_domain.as_deref(), host }
    });
    let sender_is = |b: &Brand| sender.domain.and_then(owner).is_some_and(|o| std::ptr::eq(o, b));
    let sender_text = || sender.domain.unwrap_or("no domain at all");

    // Account-threat language: two distinct phrases, or one in the subject, in the normalised
    // subject and text (the first `ngram_bytes` of them).
    let subject = msg.and_then(|m| m.subject()).unwrap_or("");
    let mut threats: Vec<&'static str> = Vec::new();
    let mut subject_threat = false;
    for m in THREAT_MATCHER.find_iter(&text) {
        let whole =
            (m.start() == 0 || text[m.start() - 1] == b' ') && text.get(m.end()).is_none_or(|&b| b == b' ');
        let phrase = THREATS[m.pattern().as_usize()];
        if whole && !threats.contains(&phrase) {
            subject_threat |= m.start() < subject_end;
            threats.push(phrase);
        }
    }
    let threatened = subject_threat || threats.len() >= 2;
    if threatened {
        let quoted: Vec<String> = threats.iter().take(3).map(|t| format!("'{t}'")).collect();
        say("ACCOUNT_THREAT", format!("It presses with account-threat language: {}.", quoted.join(", ")));
    }

    // Brand impersonation: a brand in the display name, or in a threatening subject, sent from
    // a domain that is not the brand's.
    // A brand's agent ("Jane Doe - State Farm Agent") writes from an agency's own domain.
    let agent = |n: &str| {
        n.split(|c: char| !c.is_alphanumeric())
            .any(|w| w.eq_ignore_ascii_case("agent") || w.eq_ignore_ascii_case("agency"))
    };
    let claimed = sender
        .name
        .filter(|n| !agent(n))
        .and_then(|n| lists().find_map(|b| b.named_by(n)).map(|b| (b, "display name")));
    let claimed = claimed.or_else(|| {
        threatened.then(|| lists().find_map(|b| b.mentioned_in(subject)).map(|b| (b, "subject"))).flatten()
    });
    if let Some((brand, place)) = claimed
        && !sender_is(brand)
    {
        say(
            "BRAND_IMPERSONATION",
            format!("The {place} says {}, but the sender's domain is {}.", brand.name, sender_text()),
        );
    }

    // The distinct hosts of the sender, Reply-To and the links, each with its registrable
    // domain, looked up once: a message's links mostly share a few hosts.
    let reply_to = msg
        .and_then(|m| first_address(m.reply_to()))
        .and_then(|(_, a)| a)
        .and_then(domain_of)
        .map(str::to_ascii_lowercase);
    let mut hosts: Vec<(&str, &str, Option<&str>)> = Vec::with_capacity(urls.hosts().len() + 2);
    if let Some(h) = sender.host.as_deref() {
        hosts.push(("sender's domain", h, sender.domain));
    }
    let reply_to_domain = reply_to.as_deref().and_then(registrable_domain);
    if let Some(h) = reply_to.as_deref().filter(|h| Some(*h) != sender.host.as_deref()) {
        hosts.push(("Reply-To domain", h, reply_to_domain.as_deref()));
    }
    for (h, d) in urls.hosts() {
        hosts.push(("link", h, d.as_deref()));
    }

    // Look-alike domains: each host for a brand's domain in front, each distinct domain once
    // for its label.
    let mut checked: Vec<&str> = Vec::with_capacity(hosts.len());
    for (what, host, domain) in &hosts {
        let Some(domain) = domain else { continue };
        // A host of a domain already looked at is looked at again only for a brand's domain
        // placed in front of it.
        if checked.contains(domain)
            && !host.strip_suffix(domain).is_some_and(|p| p.trim_end_matches('.').contains('.'))
        {
            continue;
        }
        let first = !checked.contains(domain);
        checked.push(domain);
        if owner(domain).is_some() {
            continue;
        }
        let imitated = lists()
            .find_map(|b| {
                b.placed_in_front(host, domain)
                    .or_else(|| first.then(|| b.imitated_by_domain(domain)).flatten())
            })
            // Under no known suffix a name resolves nowhere: more often text run into a name
            // ("www.paypal.comsafe") than a domain anyone registered.
            .filter(|_| psl::suffix(domain.as_bytes()).is_some_and(|s| s.is_known()));
        if let Some(b) = imitated {
            let whose = b.domains.first().map_or(b.name.as_str(), String::as_str);
            let seen = if *what == "link" {
                format!("A link goes to {host}, which")
            } else {
                format!("The {what} {host}")
            };
            say("LOOKALIKE_DOMAIN", format!("{seen} looks like {whose} but is not {}'s.", b.name));
            break;
        }
    }

    // Link tricks: by host, then, for the few links with a query or an IPFS path, by link.
    for (what, host, _) in &hosts {
        if *what != "link" {
            continue;
        }
        let hosting = hosting(host);
        if hosting == Some(Hosting::Shortener) {
            say(
                "SHORTENED_LINK",
                format!("A link goes through the shortener {host}, which hides where it leads."),
            );
        }
        if hosting == Some(Hosting::Ipfs) || host.contains(".ipfs.") {
            say(
                "IPFS_LINK",
                format!("A link leads to IPFS through {host}, where a page cannot be taken down."),
            );
        } else if hosting == Some(Hosting::Free) {
            say(
                "FREE_HOSTING_LINK",
                format!("A link leads to {host}, free hosting where anyone can put up a page."),
            );
        }
    }
    for url in urls.urls().iter().take(64) {
        // Most links have a query (trackers): only one that names another URL in it, or an
        // IPFS or AMP path, is looked at further.
        let ipfs = url.contains("/ipfs/");
        let names_url = url.find('?').is_some_and(|q| {
            let query = &url.as_bytes()[q..];
            query.windows(4).any(|w| w.eq_ignore_ascii_case(b"http"))
        });
        if !ipfs && !names_url && !url.contains("/amp/s/") {
            continue;
        }
        let Some(host) = authority_host(url).map(|h| h.to_ascii_lowercase()) else { continue };
        if ipfs {
            say(
                "IPFS_LINK",
                format!("A link leads to IPFS through {host}, where a page cannot be taken down."),
            );
        }
        if hosting(&host) != Some(Hosting::Rewriter)
            && let Some(target) = redirect_target(url)
            && registrable_domain(&target) != registrable_domain(&host)
        {
            say("REDIRECT_LINK", format!("A link through {host} redirects to {target}."));
        }
    }
    if clues.data_links > 0 {
        say(
            "DATA_URL_LINK",
            "A link carries its page in a data: URL, out of reach of link scanners.".to_owned(),
        );
    }
    if let Some((href, text)) = urls.mismatched_anchor() {
        say("LINK_TEXT_MISMATCH", format!("A link shows {text} but goes to {href}."));
    }

    if let Some(host) = &clues.qr_link {
        say(
            "QR_CODE_LINK",
            format!("An image holds a QR code that leads to {host}, out of sight of the mail's link checks."),
        );
    }

    // Forms and attachments.
    if clues.password_form {
        say("CREDENTIAL_FORM", "The message itself holds a form that asks for a password.".to_owned());
    }
    if let Some((name, what)) = clues.attachments.first() {
        let name = if name.is_empty() { "an unnamed file".to_owned() } else { format!("'{name}'") };
        say("ACTIVE_ATTACHMENT", format!("The attachment {name} carries {what}."));
    }

    if let Some(m) = msg {
        // A reply to nothing: "Re:" without the fields a reply carries.
        let subject_lower = prefix(subject.trim_start(), 8).to_ascii_lowercase();
        let replies =
            ["re:", "re :", "aw:", "sv:", "antw:", "r:"].iter().any(|p| subject_lower.starts_with(p));
        if replies && m.header_raw("In-Reply-To").is_none() && m.header_raw("References").is_none() {
            say(
                "REPLY_WITHOUT_THREAD",
                "The subject says it is a reply, but the message answers no earlier one.".to_owned(),
            );
        }
        // The recipient's own domain as a lure ("example.org Mailbox Admin", "example.org:
        // password expiry"): what a phish aimed at one organisation writes, from elsewhere. Not
        // for list mail, whose To is the list and whose subject tags name it.
        // A domain has a dot: most display names and subjects have none, and cost nothing more.
        let display = sender.name.filter(|n| n.contains('.'));
        let recipient = (display.is_some() || subject.contains('.'))
            .then(|| {
                first_address(m.to()).and_then(|(_, a)| a).and_then(domain_of).and_then(registrable_domain)
            })
            .flatten();
        if let Some(r) = recipient.as_deref()
            && m.header_raw("List-Id").is_none()
            && !sender.domain.is_some_and(|f| is_under(f, r))
        {
            // In a display name an address at the recipient's domain counts too: a name that
            // poses as a colleague's address ("fax@example.org" <x@elsewhere.example>).
            let posing = |n: &str| names_domain(n, r) || address_at(n, r);
            let place = if display.is_some_and(posing) {
                Some("display name")
            } else if names_domain(subject, r) {
                Some("subject")
            } else {
                None
            };
            if let Some(place) = place {
                say(
                    "RECIPIENT_DOMAIN_LURE",
                    format!(
                        "The {place} names {r}, the recipient's own domain, but the sender's domain is {}.",
                        sender_text()
                    ),
                );
            }
        }
        disguise_signals((subject, raw_subject), sender.name, sender.local, &mut say);
        auth_signals(clues, sender.domain, &mut say);
    }

    for s in &found {
        out.flag(ns::SIGNAL, s.name);
    }
    found
}

/// How bulk spam of today disguises itself from filters that compare subjects and read words:
/// a subject padded with spaces, a sender address made up of run-together words for one
/// sending, and a subject or display name in styled letters or opened with a row of symbols.
/// Each was seen on no ham of the corpora in the README's data section but one (FEATURES.md).
fn disguise_signals(
    (subject, raw_subject): (&str, &str),
    name: Option<&str>,
    local: Option<&str>,
    say: &mut impl FnMut(&'static str, String),
) {
    // Read in the field as written too: decoding drops the white space after an encoded word.
    if let Some(run) = padding(subject).max(raw_subject.split('\n').take(16).filter_map(padding).max()) {
        say(
            "PADDED_SUBJECT",
            format!("The subject is padded with a run of {run} spaces, so that no two copies look the same."),
        );
    }
    if let Some(local) = local.filter(|l| made_up(l)) {
        let shown: String = local.chars().take(24).collect();
        let more = if local.len() > 24 { "…" } else { "" };
        say(
            "MADE_UP_SENDER",
            format!(
                "The sender's address begins {shown}{more}, {} letters of run-together words: a name made up \
                 for one sending.",
                local.len()
            ),
        );
    }
    let styled = [("subject", subject), ("display name", name.unwrap_or(""))]
        .into_iter()
        .find_map(|(place, text)| styling(text).map(|how| (place, how)));
    if let Some((place, how)) = styled {
        say("STYLED_TEXT", format!("The {place} {how}, which filters that read words do not read."));
    }
}

/// The longest run of white space inside a subject (or a line of its field) or at its end, when
/// it is 5 or longer: the padding that makes copies of one mail differ. A run at the start is
/// how a field is folded, and a line end is not white space here.
fn padding(subject: &str) -> Option<usize> {
    // Spaces and tabs, byte by byte: padding is ASCII (other white space, such as U+3000,
    // is written alone).
    let text = subject.trim_start().trim_end_matches(['\r', '\n']).as_bytes();
    let (mut run, mut longest) = (0usize, 0usize);
    for &b in &text[..text.len().min(1024)] {
        if b == b' ' || b == b'\t' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    (longest >= 5).then_some(longest)
}

/// A local part of run-together words made up for one sending (`greengridtechnologyenhances…`,
/// `HorizonGuardianRadiantShadow`): letters only, 28 or more of them. Role and person
/// addresses are shorter (`TheBritishAirwaysClub`, 21) or broken by `.`, `-`, `_` or digits;
/// ESPs' bounce addresses are long, but they are in Return-Path, not in From.
fn made_up(local: &str) -> bool {
    local.len() >= 28 && local.bytes().all(|b| b.is_ascii_alphabetic())
}

/// How a subject or display name hides its words, when it does: letters of Unicode's
/// mathematical alphabets (𝑵𝑶𝑻𝑬, 𝗟𝗮𝘀𝘁), or a row of one arrow or mark in front (⇑⇑⇑, ➲➲➲,
/// ㅐㅐ).
fn styling(text: &str) -> Option<String> {
    if text.is_ascii() {
        return None;
    }
    let styled: String = text.chars().filter(|c| ('\u{1D400}'..='\u{1D7FF}').contains(c)).take(8).collect();
    if !styled.is_empty() {
        return Some(format!("is written in styled letters ({styled}…)"));
    }
    let mut chars = text.trim_start_matches(|c: char| c.is_whitespace() || "\"'_#`*.-".contains(c)).chars();
    let (first, second) = (chars.next()?, chars.next()?);
    // Arrows (⇑, ➲, ⤆) and letters of Hangul's jamo used as marks (ㅐ): what this spam opens
    // with. Stars, shapes and emoji (★★★★★ Rate your order, ■■ in a Japanese newsletter, ✨✨)
    // open honest mail too, and are left alone.
    let arrow = matches!(first, '\u{2190}'..='\u{21FF}' | '\u{27F0}'..='\u{27FF}' | '\u{2900}'..='\u{297F}' | '\u{2794}'..='\u{27BF}' | '\u{2B00}'..='\u{2B11}' | '\u{3130}'..='\u{318F}');
    (arrow && first == second).then(|| format!("opens with a row of {first}{first}"))
}

/// Authentication and consistency, what tells honest bulk mail: a DKIM signature of the
/// sender's own domain that verified, DMARC passed, an unsubscribe address at the sender's own
/// domain, one-click unsubscribing.
fn auth_signals(clues: &Clues, from: Option<&str>, say: &mut impl FnMut(&'static str, String)) {
    // `from` is a registrable domain: a name is under it exactly when its registrable domain is
    // `from`, which a comparison of suffixes says without a public-suffix lookup.
    let dkim_aligned = from.and_then(|from| clues.dkim_passed.iter().take(32).find(|d| is_under(d, from)));
    if let Some(d) = dkim_aligned {
        say("DKIM_ALIGNED", format!("A DKIM signature of {d}, the sender's own domain, verified."));
    }
    if clues.dmarc.as_deref() == Some("pass") {
        say("DMARC_PASS", "The sender's domain passed DMARC.".to_owned());
    }
    if let (Some(v), Some(from)) = (&clues.unsubscribe, from) {
        let mut own = v.split(',').take(8).filter_map(|t| {
            let t = t.trim().trim_start_matches('<').trim_end_matches('>');
            match t.strip_prefix("mailto:") {
                Some(addr) => domain_of(addr.split('?').next().unwrap_or(addr)),
                None => authority_of(t),
            }
        });
        if own.any(|host| is_under(host, from)) {
            say(
                "UNSUBSCRIBE_AT_SENDER",
                format!("It offers unsubscribing at {from}, the sender's own domain."),
            );
        }
        if clues.one_click {
            say(
                "ONE_CLICK_UNSUBSCRIBE",
                "It offers one-click unsubscribing, as bulk senders must.".to_owned(),
            );
        }
    }
}

/// Whether `text` holds an address at `domain` (ASCII case ignored): `@domain` ending there or
/// followed by something that cannot continue a name.
fn address_at(text: &str, domain: &str) -> bool {
    let (t, d) = (text.as_bytes(), domain.as_bytes());
    t.windows(d.len() + 1).enumerate().any(|(i, w)| {
        w[0] == b'@'
            && w[1..].eq_ignore_ascii_case(d)
            && t.get(i + w.len()).is_none_or(|&b| !(b.is_ascii_alphanumeric() || b == b'.' || b == b'-'))
    })
}

/// Whether `text` names `domain` on its own (ASCII case ignored): not inside a longer name, and
/// not as the domain of an address (`user@example.org`, which honest services write too).
fn names_domain(text: &str, domain: &str) -> bool {
    let (t, d) = (text.as_bytes(), domain.as_bytes());
    if d.is_empty() || t.len() < d.len() {
        return false;
    }
    let part_of_name = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
    let starts = |i: usize| i == 0 || !(part_of_name(t[i - 1]) || matches!(t[i - 1], b'.' | b'@'));
    let ends = |j: usize| match t.get(j) {
        None => true,
        Some(&b) if part_of_name(b) => false,
        // A dot ends the name only when no label follows it (a full stop, not `example.org.evil`).
        Some(b'.') => !t.get(j + 1).is_some_and(|&c| part_of_name(c)),
        Some(_) => true,
    };
    (0..=t.len() - d.len())
        .any(|i| t[i..i + d.len()].eq_ignore_ascii_case(d) && starts(i) && ends(i + d.len()))
}

/// Whether `name` is the registrable domain `domain` or a name under it (ASCII case ignored).
fn is_under(name: &str, domain: &str) -> bool {
    let (n, d) = (name.trim_end_matches('.').as_bytes(), domain.as_bytes());
    n.len() >= d.len()
        && n[n.len() - d.len()..].eq_ignore_ascii_case(d)
        && (n.len() == d.len() || n[n.len() - d.len() - 1] == b'.')
}

/// The domains of the DKIM results that passed in an Authentication-Results value
/// (`dkim=pass header.d=example.com` or `header.i=@example.com`).
pub(super) fn dkim_pass_domains(value: &str) -> Vec<String> {
    let lower = value.to_ascii_lowercase();
    let mut out = Vec::new();
    for part in lower.split(';').take(32) {
        let part = part.trim();
        if !part.starts_with("dkim=pass") {
            continue;
        }
        for prop in part.split_whitespace() {
            let d = prop
                .strip_prefix("header.d=")
                .or_else(|| prop.strip_prefix("header.i="))
                .map(|d| d.trim_start_matches('@'));
            if let Some(d) = d.map(|d| d.rsplit('@').next().unwrap_or(d)).filter(|d| !d.is_empty()) {
                out.push(
                    d.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-').to_owned(),
                );
            }
        }
    }
    out
}

/// Where a redirecting link sends: a full URL in its query (plain or percent-encoded), as
/// open redirectors and cloaking services take it.
fn redirect_target(url: &str) -> Option<String> {
    let query = &url[url.find('?')? + 1..];
    for param in query.split('&').take(32) {
        let value = param.split_once('=').map_or("", |(_, v)| v);
        let lower = prefix(value, 300).to_ascii_lowercase();
        let decoded = lower.replace("%3a", ":").replace("%2f", "/");
        if decoded.starts_with("http://") || decoded.starts_with("https://") {
            return authority_host(&decoded).map(|h| prefix(&h, 100).to_owned());
        }
    }
    // google.com/url?q=… is handled above; AMP caches carry the target in the path.
    let at = url.find("/amp/s/")?;
    authority_host(&format!("https://{}", &url[at + 7..])).map(|h| prefix(&h, 100).to_owned())
}

#[cfg(test)]
mod tests {
    use warden_core::NamedSink;

    use crate::{Mail, MailConfig};

    /// The signals of a message, as (name, sentence), after checking each is also a feature.
    fn signals_with(raw: &str, config: &MailConfig) -> Vec<(&'static str, String)> {
        let mail = Mail::parse(raw.as_bytes(), config);
        let mut sink = NamedSink::new();
        let found = crate::extract::extract_with(&mail, &mut sink, None).signals;
        let (x, names) = sink.finish();
        let features: Vec<&str> =
            x.hashes().iter().filter_map(|h| names.get(h).map(String::as_str)).collect();
        for s in &found {
            assert!(super::SIGNALS.iter().any(|(n, _)| *n == s.name), "{} is in SIGNALS", s.name);
            let token = format!("sig:{}", s.name);
            assert!(features.contains(&token.as_str()), "{token} is a feature");
            assert!(
                s.sentence.ends_with('.') && s.sentence.chars().next().unwrap().is_uppercase(),
                "{}",
                s.sentence
            );
        }
        assert_eq!(features.iter().filter(|f| f.starts_with("sig:")).count(), found.len());
        found.into_iter().map(|s| (s.name, s.sentence)).collect()
    }

    fn signals(raw: &str) -> Vec<(&'static str, String)> {
        signals_with(raw, &MailConfig::default())
    }

    fn names(found: &[(&'static str, String)]) -> Vec<&'static str> {
        let mut n: Vec<&'static str> = found.iter().map(|s| s.0).collect();
        n.sort_unstable();
        n
    }

    fn sentence<'a>(found: &'a [(&'static str, String)], name: &str) -> &'a str {
        &found.iter().find(|s| s.0 == name).unwrap_or_else(|| panic!("{name} in {found:?}")).1
    }

    const PHISH: &str = "From: \"PayPal Service\" <service@paypa1-secure.xyz>\r\n\
To: you@example.org\r\nSubject: Your account has been limited\r\nMIME-Version: 1.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n\
<p>We noticed unusual activity. Confirm your identity within 24 hours.</p>\
<form action=\"http://paypal.com.secure-login.xyz/login\"><input name=\"email\">\
<input type=\"password\" name=\"pw\"></form>\r\n";

    #[test]
    fn a_brand_phish_names_the_brand_the_look_alike_the_threat_and_the_form() {
        let found = signals(PHISH);
        assert_eq!(
            names(&found),
            ["ACCOUNT_THREAT", "BRAND_IMPERSONATION", "CREDENTIAL_FORM", "LOOKALIKE_DOMAIN"]
        );
        assert_eq!(
            sentence(&found, "BRAND_IMPERSONATION"),
            "The display name says PayPal, but the sender's domain is paypa1-secure.xyz."
        );
        assert_eq!(
            sentence(&found, "LOOKALIKE_DOMAIN"),
            "The sender's domain paypa1-secure.xyz looks like paypal.com but is not PayPal's."
        );
        assert!(sentence(&found, "ACCOUNT_THREAT").contains("'unusual activity'"), "{found:?}");
    }

    #[test]
    fn the_brand_itself_and_a_shop_naming_a_brand_raise_nothing() {
        let real = "From: PayPal <service@paypal.com>\r\nSubject: Your receipt\r\n\r\nSee https://www.paypal.com/activity\r\n";
        assert_eq!(signals(real), []);
        let own_tld =
            "From: Apple Card <no-reply@applecard.apple>\r\nSubject: Your statement\r\n\r\nhello\r\n";
        assert_eq!(signals(own_tld), [], "a domain under the brand's own top-level domain");
        let shop = "From: Deals <deals@retailer.example>\r\nSubject: Apple AirPods and Netflix gift cards on sale\r\n\r\n\
Shop now at https://retailer.example/sale\r\n";
        assert_eq!(signals(shop), []);
        // An insurer's agent writes from the agency's domain; a survey "from" the insurer does not.
        let agent = "From: Jane Doe - State Farm Agent <jane@janedoeinsurance.example>\r\nSubject: Your renewal\r\n\r\nhi\r\n";
        assert_eq!(signals(agent), []);
        let survey =
            "From: State Farm Feedback <survey@drivereadykit.example>\r\nSubject: Win a kit\r\n\r\nhi\r\n";
        assert_eq!(names(&signals(survey)), ["BRAND_IMPERSONATION"]);
        // A threatening subject naming a distinctive brand is enough.
        let threat =
            "From: Support <help@mailer.example>\r\nSubject: Netflix: payment failed\r\n\r\nhello\r\n";
        assert_eq!(
            sentence(&signals(threat), "BRAND_IMPERSONATION"),
            "The subject says Netflix, but the sender's domain is mailer.example."
        );
    }

    #[test]
    fn honest_bulk_mail_shows_its_authentication_and_its_unsubscribe() {
        let bulk = "Authentication-Results: mx.example.org; dkim=pass header.d=news.shop.example header.s=s1;\r\n\tspf=pass smtp.mailfrom=bounce.shop.example; dmarc=pass header.from=shop.example\r\n\
From: Shop <news@shop.example>\r\nSubject: This week's offers\r\n\
List-Unsubscribe: <https://shop.example/u/123>, <mailto:unsubscribe@shop.example?subject=u>\r\n\
List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nOffers at https://shop.example/offers\r\n";
        let found = signals(bulk);
        assert_eq!(
            names(&found),
            ["DKIM_ALIGNED", "DMARC_PASS", "ONE_CLICK_UNSUBSCRIBE", "UNSUBSCRIBE_AT_SENDER"]
        );
        assert_eq!(
            sentence(&found, "DKIM_ALIGNED"),
            "A DKIM signature of news.shop.example, the sender's own domain, verified."
        );
        // A signature of another domain, and an unsubscribe address elsewhere, are not the sender's.
        let other = bulk.replace("header.d=news.shop.example", "header.d=esp.example").replace(
            "List-Unsubscribe: <https://shop.example/u/123>, <mailto:unsubscribe@shop.example?subject=u>",
            "List-Unsubscribe: <https://esp.example/u/123>",
        );
        assert_eq!(names(&signals(&other)), ["DMARC_PASS", "ONE_CLICK_UNSUBSCRIBE"]);
    }

    #[test]
    fn link_tricks_are_named_and_security_rewriters_are_not() {
        let html = "From: a@sender.example\r\nSubject: documents\r\nContent-Type: text/html\r\n\r\n\
<a href=\"https://bit.ly/3abc\">doc</a> <a href=\"https://login-portal.web.app/x\">sign in</a>\
<a href=\"https://ipfs.io/ipfs/QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG\">file</a>\
<a href=\"https://www.google.com/url?q=https://evil.example/landing&sa=D\">open</a>\
<a href=\"data:text/html;base64,PHNjcmlwdD4=\">view</a>\
<a href=\"http://evil.example/pay\">www.paypal.com</a>\
<a href=\"https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fpartner.example%2F\">safe</a>\r\n";
        let found = signals(html);
        assert_eq!(
            names(&found),
            [
                "DATA_URL_LINK",
                "FREE_HOSTING_LINK",
                "IPFS_LINK",
                "LINK_TEXT_MISMATCH",
                "REDIRECT_LINK",
                "SHORTENED_LINK"
            ]
        );
        assert_eq!(
            sentence(&found, "REDIRECT_LINK"),
            "A link through www.google.com redirects to evil.example."
        );
        assert_eq!(
            sentence(&found, "LINK_TEXT_MISMATCH"),
            "A link shows www.paypal.com but goes to evil.example."
        );
    }

    #[test]
    fn attachments_that_carry_forms_scripts_or_a_lone_link_are_named() {
        let with = |name: &str, ctype: &str, body: &str| {
            format!(
                "From: a@sender.example\r\nSubject: invoice\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n\
--b\r\nContent-Type: {ctype}\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n{body}\r\n--b--\r\n"
            )
        };
        let html = signals(&with("Invoice.html", "text/html", "<form action=x><input type=password></form>"));
        assert_eq!(
            sentence(&html, "ACTIVE_ATTACHMENT"),
            "The attachment 'Invoice.html' carries a form asking for a password."
        );
        let svg =
            signals(&with("scan.svg", "image/svg+xml", "<svg><script>window.location='x'</script></svg>"));
        assert_eq!(
            sentence(&svg, "ACTIVE_ATTACHMENT"),
            "The attachment 'scan.svg' carries a script and a redirect."
        );
        let pdf = "%PDF-1.4\n1 0 obj << /Type /Pages /Count 1 >> endobj\n2 0 obj << /Type /Page >> endobj\n\
3 0 obj << /A << /S /URI /URI (https://files-share.example/doc) >> >> endobj\n";
        let found = signals(&with("doc.pdf", "application/pdf", pdf));
        assert_eq!(
            sentence(&found, "ACTIVE_ATTACHMENT"),
            "The attachment 'doc.pdf' carries one page and a link (to files-share.example)."
        );
        let plain_pdf = "%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n";
        assert_eq!(signals(&with("report.pdf", "application/pdf", plain_pdf)), []);
        assert_eq!(signals(&with("notes.txt", "text/plain", "<form><input type=password></form>")), []);
    }

    #[test]
    fn a_qr_code_in_an_image_is_a_link_of_the_message() {
        use crate::extract::qr_images as images;
        let png = |url: &str| {
            let (side, pixels) = images::code(url, 4);
            images::png(side, side, &pixels)
        };
        let image = |url: &str| images::base64_lines(&png(url));
        let with = |body: &str| {
            format!(
                "From: IT Desk <helpdesk@corp-mail.example>\r\nSubject: Scan to keep your mailbox\r\n\
MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary=b\r\n\r\n--b\r\n\
Content-Type: text/html\r\n\r\n<p>Scan the code below with your phone.</p><img src=\"cid:q\">\r\n\
--b\r\nContent-Type: image/png\r\nContent-ID: <q>\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}\r\n--b--\r\n"
            )
        };
        let found = signals(&with(&image("https://microsoft.com.mailbox-verify.xyz/auth")));
        assert_eq!(names(&found), ["LOOKALIKE_DOMAIN", "QR_CODE_LINK"]);
        assert_eq!(
            sentence(&found, "QR_CODE_LINK"),
            "An image holds a QR code that leads to microsoft.com.mailbox-verify.xyz, out of sight of \
the mail's link checks."
        );
        // The same image carried in the markup as a data: URL.
        let png = image("https://qr.example.top/x").replace("\r\n", "");
        let inline = format!(
            "From: a@sender.example\r\nSubject: hello\r\nContent-Type: text/html\r\n\r\n\
<p>Scan me</p><img alt=\"code\" src=\"data:image/png;base64,{png}\">\r\n"
        );
        assert_eq!(
            sentence(&signals(&inline), "QR_CODE_LINK"),
            "An image holds a QR code that leads to qr.example.top, out of sight of the mail's link checks."
        );
        // The same code inside an attached PDF file ("scan the code on the attached notice").
        let (side, pixels) = images::code("https://payroll.example.top/w2", 4);
        let pdf = images::pdf(&[images::pdf_flate(side, side, &pixels, true, true, false)]);
        let attached = format!(
            "From: HR <hr@notices.example>\r\nSubject: Your W-2\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
Scan the code in the attached notice.\r\n--b\r\nContent-Type: application/pdf; name=\"notice.pdf\"\r\n\
Content-Disposition: attachment; filename=\"notice.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
            images::base64_lines(&pdf)
        );
        assert_eq!(
            sentence(&signals(&attached), "QR_CODE_LINK"),
            "An image holds a QR code that leads to payroll.example.top, out of sight of the mail's link checks."
        );
        // A code with no link in it (a Wi-Fi password, a ticket number) is no link.
        assert_eq!(signals(&with(&image("TICKET 4471-2231"))), []);
        // A message with the links of a newsletter: its images are not searched.
        let links: String =
            (0..12).map(|i| format!("<a href=\"https://shop.example.com/p{i}\">item</a>")).collect();
        let newsletter = with(&image("https://microsoft.com.mailbox-verify.xyz/auth"))
            .replace("<p>Scan the code below", &format!("{links}<p>Scan the code below"));
        assert!(!names(&signals(&newsletter)).contains(&"QR_CODE_LINK"));
        // Searching no images: the code is not read.
        let none = MailConfig { qr_images: 0, ..MailConfig::default() };
        let phish = with(&image("https://microsoft.com.mailbox-verify.xyz/auth"));
        assert_eq!(signals_with(&phish, &none), []);
    }

    #[test]
    fn a_name_is_under_a_domain_at_a_label_boundary_only() {
        assert!(super::is_under("example.com", "example.com"));
        assert!(super::is_under("News.Example.COM.", "example.com"));
        assert!(!super::is_under("badexample.com", "example.com"));
        assert!(!super::is_under("example.com.evil.test", "example.com"));
        assert!(!super::is_under("com", "example.com"));
    }

    #[test]
    fn the_recipients_own_domain_from_elsewhere_is_a_lure() {
        let mail = |from: &str, subject: &str| {
            format!("From: {from}\r\nTo: Jose <jose@Example.org>\r\nSubject: {subject}\r\n\r\nhello\r\n")
        };
        let found = signals(&mail("\"example.org Mailbox Admin\" <admin@quota-notice.xyz>", "Mailbox quota"));
        assert_eq!(names(&found), ["RECIPIENT_DOMAIN_LURE"]);
        assert_eq!(
            sentence(&found, "RECIPIENT_DOMAIN_LURE"),
            "The display name names example.org, the recipient's own domain, but the sender's domain is \
quota-notice.xyz."
        );
        let posing = signals(&mail("\"Fax0392@example.org\" <kennadi@milling.test>", "Payment stub"));
        assert!(sentence(&posing, "RECIPIENT_DOMAIN_LURE").starts_with("The display name names example.org"));
        for honest in ["\"jose@example.org.au\" <a@milling.test>", "\"a@example.organic\" <a@milling.test>"] {
            assert!(!names(&signals(&mail(honest, "hi"))).contains(&"RECIPIENT_DOMAIN_LURE"), "{honest}");
        }
        let found = signals(&mail("Helpdesk <it@quota-notice.xyz>", "EXAMPLE.ORG: storage limit reached"));
        assert!(sentence(&found, "RECIPIENT_DOMAIN_LURE").starts_with("The subject names example.org"));
        // The organisation's own mail, an address in a subject (as honest services write it),
        // and names that only contain the domain: nothing.
        for (from, subject) in [
            ("\"example.org IT\" <it@mail.example.org>", "example.org maintenance tonight"),
            ("Google <no-reply@accounts.google.com>", "Security alert for jose@example.org"),
            ("Shop <news@shop.test>", "Deals at myexample.org and example.org.shop.test"),
        ] {
            assert!(
                !names(&signals(&mail(from, subject))).contains(&"RECIPIENT_DOMAIN_LURE"),
                "{from} / {subject}"
            );
        }
        // A list's post: its To is the list, its subject tag names the list's domain.
        let post = mail("Ann <ann@elsewhere.test>", "[example.org] build fails")
            .replace("Subject:", "List-Id: <devel.example.org>\r\nSubject:");
        assert!(!names(&signals(&post)).contains(&"RECIPIENT_DOMAIN_LURE"));
    }

    #[test]
    fn padded_subjects_made_up_senders_and_styled_letters_are_disguises() {
        // The padding is in the field as written, after an encoded word: decoding drops it.
        let padded = "From: Deals <deals@shop.example>\r\n\
Subject: =?UTF-8?B?QkxBQ0sgRlJJREFZIFNhbGU=?=                    _        \r\n\r\nhello\r\n";
        let found = signals(padded);
        assert_eq!(names(&found), ["PADDED_SUBJECT"]);
        assert!(sentence(&found, "PADDED_SUBJECT").contains("a run of 20 spaces"), "{found:?}");
        let folded = "From: Deals <deals@shop.example>\r\nSubject: a long subject that was\r\n     folded\r\n\r\nhi\r\n";
        assert_eq!(signals(folded), [], "a fold's indentation is not padding");
        let made_up = "From: FHA Rate Guide <greengridtechnologyenhancesdistributed@hosting.example>\r\n\
Subject: Lower rates\r\n\r\nhello\r\n";
        let found = signals(made_up);
        assert_eq!(names(&found), ["MADE_UP_SENDER"]);
        assert_eq!(
            sentence(&found, "MADE_UP_SENDER"),
            "The sender's address begins greengridtechnologyenhan…, 38 letters of run-together words: a name \
             made up for one sending."
        );
        for honest in
            ["TheBritishAirwaysClub", "USPSInformeddelivery", "account.notifications.team.desk", "x"]
        {
            let raw = format!("From: Club <{honest}@airline.example>\r\nSubject: News\r\n\r\nhi\r\n");
            assert_eq!(signals(&raw), [], "{honest}");
        }
        let styled = "From: Cloud <a@b.example>\r\nSubject: 𝑵𝑶𝑻𝑬: 𝑨𝒍𝒍 𝒔𝒕𝒐𝒓𝒂𝒈𝒆 is in use\r\n\r\nhi\r\n";
        let found = signals(styled);
        assert_eq!(names(&found), ["STYLED_TEXT"]);
        assert_eq!(
            sentence(&found, "STYLED_TEXT"),
            "The subject is written in styled letters (𝑵𝑶𝑻𝑬𝑨𝒍𝒍𝒔…), which filters that read words do not read."
        );
        let arrows = "From: =?UTF-8?Q?=E2=87=91=E2=87=91=E2=87=91_FastRates?= <a@b.example>\r\nSubject: Rates\r\n\r\nhi\r\n";
        assert_eq!(
            sentence(&signals(arrows), "STYLED_TEXT"),
            "The display name opens with a row of ⇑⇑, which filters that read words do not read."
        );
        for honest in [
            "🎁🎁 Gifts for everyone",
            "✨✨ New arrivals",
            "★★★★★ Rate your order",
            "■■ 今週のお知らせ",
            "Save 30% ✨ today",
            "Größe und Maße",
            "→ Take the survey",
        ] {
            let raw = format!("From: Shop <a@b.example>\r\nSubject: {honest}\r\n\r\nhi\r\n");
            assert_eq!(signals(&raw), [], "{honest}");
        }
    }

    #[test]
    fn a_reply_to_nothing_is_a_tell_and_a_real_reply_is_not() {
        let fake = "From: a@sender.example\r\nSubject: RE: overdue invoice\r\n\r\nplease see\r\n";
        assert_eq!(names(&signals(fake)), ["REPLY_WITHOUT_THREAD"]);
        let real =
            "From: a@sender.example\r\nSubject: Re: lunch\r\nIn-Reply-To: <1@sender.example>\r\n\r\nyes\r\n";
        assert_eq!(signals(real), []);
    }

    #[test]
    fn the_operators_own_brand_is_protected_when_configured() {
        let config = MailConfig {
            own_domains: vec!["examplebank.com".into()],
            own_brands: vec!["Example Bank".into()],
            ..MailConfig::default()
        };
        let spoof =
            "From: \"Example Bank Security\" <alerts@examp1ebank.com>\r\nSubject: notice\r\n\r\nhello\r\n";
        assert_eq!(names(&signals_with(spoof, &config)), ["BRAND_IMPERSONATION", "LOOKALIKE_DOMAIN"]);
        assert_eq!(signals(spoof), [], "unknown without the setting");
        let own = "From: \"Example Bank\" <alerts@examplebank.com>\r\nSubject: notice\r\n\r\nhello\r\n";
        assert_eq!(signals_with(own, &config), []);
    }

    #[test]
    fn garbage_and_unparsed_input_give_no_signal_and_no_panic() {
        for raw in [
            "",
            "\u{0}\u{1}garbage",
            "From: \r\nSubject: re:\r\n\r\n",
            "Content-Type: multipart/mixed; boundary=\r\n\r\n--",
        ] {
            let _ = signals(raw);
        }
    }
}
