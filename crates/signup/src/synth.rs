//! A simulated week of account sign-ups at a mail provider: genuine users, with the awkward
//! legitimate cases among them, and bulk sign-up campaigns of four styles, every account
//! labelled. It trains a starter model and evaluates the sign-up risk scorer and the account
//! clusterer. It is meant to be hard: no single field gives a campaign away, and the named
//! legitimate groups look like campaigns to a careless rule.
//!
//! [`population`]`(seed, n)` gives exactly `n` sign-ups in time order over the seven days from
//! 2026-03-02T00:00:00Z (a Monday), and one [`Labelled`] row for each. The same seed and count
//! give byte-identical output (a SplitMix64 generator, and only exact arithmetic decides);
//! another seed gives other people, addresses, campaign timings and sizes.
//!
//! # The event
//! ```json
//! {"kind": "signup", "id": "s-1", "time": "2026-03-02T19:04:11Z", "account": "a-7f3k29x1",
//!  "email": "maria.rossi84@libero.it", "display_name": "Maria Rossi",
//!  "recovery_email": "mariarossi@gmail.com", "ip": "79.18.4.77",
//!  "user_agent": "Mozilla/5.0 (...)", "accept_language": "it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7",
//!  "country": "IT", "asn": 3269, "device_id": "d-5c09e1a7b2f4", "captcha": "passed"}
//! ```
//! Ids are `s-1`, `s-2`, … in time order; account ids are random and say nothing of the label.
//! Optional fields are left out as real integrations leave them out: `recovery_email` (there for
//! about a third of genuine users), `display_name` (15% absent), `device_id` (absent for 20% of
//! desktop and 10% of phone sign-ups), `accept_language` (6% absent), `country` and `asn` (5%
//! absent: the enrichment failed), `user_agent` (rarely). `captcha` is always there: `passed`,
//! `failed` or `none` (the flow showed none).
//!
//! # Networks
//! Each network is one invented /16 outside the reserved ranges, with the ASN of a real network
//! of its kind and country: residential ISPs and mobile carriers of every country,
//! universities, companies, hosting providers and VPN providers. Carriers put IPv4 users behind
//! a few CGNAT addresses each (at 10,000 events three a carrier: several sign-ups an address a
//! day) and give a third of their users IPv6; a VPN provider has a dozen exit addresses, which
//! its genuine and abusive users share alike. Residential-proxy exits are ordinary residential
//! and mobile addresses, which is what makes them hard. The blocks do not match real
//! allocations: do not look these addresses up in a real geo database.
//!
//! # Genuine users (80–88% of accounts)
//! - 18 countries (US, GB, DE, FR, IT, ES, BR, MX, IN, ID, NG, JP, PL, TR, VN, PH, RU, BD),
//!   weighted towards the large ones (US 16%, IN 9%, BR 7.5%, … BD 2.3%), each with its own 30
//!   first and 30 last names (with diacritics; for Japan and Russia half the display names in
//!   kanji or Cyrillic; Vietnamese names family first; Russian and Polish surnames agreeing
//!   with the gender), its languages, time zones, ISPs and carriers, iPhone share and free-mail
//!   habits (gmx.de and web.de in Germany, libero.it in Italy, yandex.ru and mail.ru in Russia,
//!   yahoo.co.jp in Japan, …); 12% take the provider's own domain `warden-mail.example`.
//! - Times follow the local day (few at night, the peak at 19–21h local), the weekend a little
//!   busier.
//! - Local parts as people make them: `maria.rossi`, `mariarossi1984`, `maria.rossi84`,
//!   `m.rossi`, `rossi.maria1991`, `maria_rossi`, `maria77`, nicknames (`sunnywolf77`,
//!   `dark_tiger99`), initials (`mgr84`), random-looking handles (`xk_84j`, 4%) and someone
//!   else's name (5%); an address already taken gets digits. Birth years centre on 1992.
//! - Display names mostly as the person writes their name; sometimes the first name only, lower
//!   case, a nickname or another person's name.
//! - Recovery addresses (35%) mostly at another free-mail domain with a related local part.
//! - User agents: Chrome 138–145, Edge, Firefox 140–148, Safari 17–26 on Windows, macOS,
//!   Android and iOS, Samsung Internet, in-app web views; 1% odd ones (Internet Explorer 11,
//!   Chrome 109 on Windows 7, Opera Mini, a television). A device id is random per person.
//! - Captcha: 88% passed, 3% failed, 9% none.
//! - Networks: 30% on their country's carriers, 3% on a VPN, 0.5% from a hosting provider, 3%
//!   travelling (a network abroad, language and names from home), the rest at home on a
//!   residential ISP (45% of them on a phone).
//!
//! ## Named legitimate groups (hard negatives, `abusive: false`)
//! At 10,000 events about two of each of the first three kinds (one each from 3,000 events,
//! one per 5,000 events above; below 3,000 events one each, smaller, from 1,000):
//! - `university-N`: term start: 50–200 students in 2–5 hours from one to three /24s of a
//!   university network, born 2005–2008, 12% foreign students, three or four user-agent strings
//!   for all, 30% with a recovery address at the university's domain.
//! - `carrier-nat-N`: 40–150 unrelated people of one carrier in one day from 2–6 CGNAT
//!   addresses.
//! - `company-N`: 20–60 employees within one or two working hours from one to three addresses
//!   of one corporate /24, all in one pattern at one domain (`first.last@gmail.com`), one user
//!   agent and language for all, recovery addresses at the company's domain.
//! - `family-N` (one per 1,000 events): 2–5 people of one household, one surname, one home
//!   address in a day or two, most on one shared device, parents' and children's birth years.
//! - `internet-cafe-N` (one per 5,000 events): 5–15 strangers over one to three days from one
//!   address, on two to four shared machines with one browser.
//!
//! # Campaigns (abusive, 12–20% of accounts by seed)
//! At 10,000 events there are about 10–20 campaigns of 20–400 accounts (skewed small), a
//! quarter of those after the first six being small ones of 5–15; at least six reach 20 and
//! every style appears. Sizes scale with the square root of the count (at 100,000 events
//! 50–1,000) and the number of campaigns with the rest. All campaigns are numbered together
//! (`drip-1`, `burst-2`, …) and fall among genuine sign-ups in time.
//! 1. `burst-N`, a script: all accounts within an hour at regular intervals (2–20 s, ±5%),
//!    from one to four /24s of one hosting provider; one user agent for all (headless Chrome,
//!    an old Chrome build, an HTTP library such as `python-requests/2.31.0`, or a current
//!    browser string); Accept-Language absent or `en-US` whatever the address's country; local
//!    parts from a template (`[a-z]{6,9}[0-9]{2,4}`, or first and last name and three digits);
//!    listed or freshly registered disposable domains, or free mail; the captcha never shown,
//!    often failed, or mostly solved; the device id absent or new each time.
//! 2. `drip-N`, a slow drip through residential proxies: 2–6 days around the clock at regular
//!    intervals with ±40% jitter; every account from another residential or mobile address in
//!    three to eight countries; user agents rotated from a pool of six to ten real strings;
//!    Accept-Language plausible, matching the address's country half the time; names from the
//!    genuine lists of one or two countries in one template with digits (`maria.rossi318`);
//!    free mail; the captcha passed (a solver service, 4% failed); a fresh device id each time.
//! 3. `random-N`, randomised against single-attribute grouping: each account's local-part
//!    shape, names (from every country alike), user agent and language drawn afresh; but all
//!    within one to five hours from two or three VPN or hosting providers, never a device id,
//!    always a display name and a language, recovery addresses absent or at one disposable
//!    domain, the captcha passed or not shown.
//! 4. `farm-N`, a human farm in BD, VN, NG, PH, IN or ID: working hours (9–18 local) over one
//!    to five days, one to three /24s of one local carrier or ISP, phones only; real names of
//!    the country as `first.last` or `firstlast` and two digits, mostly at gmail.com; the captcha
//!    passed; each phone (one device id, user agent and language) makes 5–10 accounts; recovery
//!    addresses in one series (`rahmantraders214@gmail.com`).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use serde_json::{Map, Value};

/// One simulated week of sign-ups: the events in time order and the truth about each account.
#[derive(Debug, Clone)]
pub struct Population {
    /// The sign-up events, one per account, in time order (the fields are in the module
    /// documentation).
    pub events: Vec<Value>,
    /// The truth about each account: one row per event, in the same order.
    pub labels: Vec<Labelled>,
}

/// The truth about one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled {
    /// The account id, as in its event's `account`.
    pub account: String,
    /// Whether a campaign made it.
    pub abusive: bool,
    /// The campaign (`burst-3`) or named legitimate group (`university-1`); `None` for an
    /// ordinary genuine user.
    pub group: Option<String>,
}

/// The sign-ups of `events` accounts over the seven days from 2026-03-02T00:00:00Z, drawn from
/// `seed`: genuine users, named legitimate groups and campaigns as the module documentation
/// describes.
pub fn population(seed: u64, events: usize) -> Population {
    let mut g = Gen::new(seed, events);
    let share = 0.12 + 0.08 * g.rng.unit();
    g.campaigns((events as f64 * share).round() as usize);
    g.groups();
    while g.drafts.len() < events {
        g.ordinary();
    }
    g.finish()
}

/// 2026-03-02T00:00:00Z, a Monday: the first second simulated.
const START: i64 = 1_772_409_600;
const DAY: i64 = 86_400;
const SPAN: i64 = 7 * DAY;
const OWN_DOMAIN: &str = "warden-mail.example";

/// SplitMix64: deterministic by seed, and no dependency for a generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1).max(1) as usize) as i64
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// About normal, mean 0 and deviation 1, from exact arithmetic only.
    fn normalish(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() + self.unit() - 2.0) * 1.732_050_8
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    fn weighted(&mut self, ws: &[u32]) -> usize {
        self.weighted_by(ws, |w| *w)
    }
    fn weighted_by<T>(&mut self, xs: &[T], w: impl Fn(&T) -> u32) -> usize {
        let mut x = self.below(xs.iter().map(&w).sum::<u32>() as usize) as u32;
        for (i, item) in xs.iter().enumerate() {
            if x < w(item) {
                return i;
            }
            x -= w(item);
        }
        xs.len() - 1
    }
    fn shuffle<T>(&mut self, xs: &mut [T]) {
        for i in (1..xs.len()).rev() {
            xs.swap(i, self.below(i + 1));
        }
    }
    fn chars(&mut self, n: usize, alphabet: &[u8]) -> String {
        (0..n).map(|_| *self.pick(alphabet) as char).collect()
    }
    fn letters(&mut self, n: usize) -> String {
        self.chars(n, b"abcdefghijklmnopqrstuvwxyz")
    }
    fn digits(&mut self, n: usize) -> String {
        self.chars(n, b"0123456789")
    }
}

/// `secs` since the epoch as RFC 3339 UTC (`2026-03-02T00:00:00Z`).
fn rfc3339(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(DAY));
    let s = secs.rem_euclid(DAY);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// The proleptic Gregorian date of a count of days from 1970-01-01 (Howard Hinnant's method).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Residential,
    Mobile,
    University,
    Corporate,
    Hosting,
    Vpn,
}
use Kind::*;

/// A network: one /16 (and for some a /32 of IPv6) of an ASN, with its country and kind.
struct Net {
    asn: u32,
    country: &'static str,
    kind: Kind,
    v4: [u8; 2],
    v6: [u16; 2],
}

const fn net(asn: u32, country: &'static str, kind: Kind, v4: [u8; 2], v6: u32) -> Net {
    Net { asn, country, kind, v4, v6: [(v6 >> 16) as u16, v6 as u16] }
}

/// A country's people: names, languages, time zones, mail habits.
struct Country {
    code: &'static str,
    /// Relative share of genuine sign-ups.
    weight: u32,
    /// Percentage of phones that are iPhones.
    ios: u32,
    /// UTC offsets in minutes; a person has one of them.
    tz: &'static [i32],
    langs: &'static [&'static str],
    /// Free-mail domains with weights, `domain:weight` separated by spaces.
    domains: &'static str,
    /// First names (with diacritics; `_` for a space), male ones before index `fem`.
    first: &'static str,
    last: &'static str,
    /// First and last names in native script, in the same order as the Latin ones (or empty).
    native: [&'static str; 2],
    family_first: bool,
    /// Where female first names begin, for surnames that agree (0: they do not change).
    fem: usize,
}

/// The tables: networks, countries and word lists, laid out by hand.
#[rustfmt::skip]
mod data {
    use super::{Country, Kind, Net, net};
    use Kind::*;
    // Short names for the network table.
    use Kind::{Corporate as Corp, Hosting as Host, Mobile as Mob, Residential as Res, University as Uni};

    pub(super) static NETS: &[Net] = &[
        net(7922, "US", Res, [73, 140], 0x2601_0140), net(20115, "US", Res, [71, 84], 0x2603_6000),
        net(7018, "US", Res, [99, 24], 0), net(21928, "US", Mob, [174, 201], 0x2607_fb90),
        net(22394, "US", Mob, [108, 41], 0x2600_1000), net(2856, "GB", Res, [86, 128], 0x2a00_23c4),
        net(5089, "GB", Res, [82, 15], 0x2a02_0c7c), net(12576, "GB", Mob, [31, 94], 0x2a01_04c8),
        net(25135, "GB", Mob, [89, 238], 0), net(3320, "DE", Res, [79, 241], 0x2003_00e6),
        net(3209, "DE", Res, [88, 64], 0x2a02_8108), net(6805, "DE", Mob, [89, 204], 0x2a02_3030),
        net(3215, "FR", Res, [90, 45], 0x2a01_cb00), net(12322, "FR", Res, [82, 64], 0x2a01_0e0a),
        net(5410, "FR", Mob, [176, 161], 0x2a04_cec0), net(51207, "FR", Mob, [37, 171], 0x2a04_e200),
        net(3269, "IT", Res, [79, 18], 0), net(12874, "IT", Res, [93, 40], 0x2001_0b07),
        net(1267, "IT", Mob, [151, 36], 0x2a0e_0418), net(30722, "IT", Mob, [5, 90], 0x2a01_058c),
        net(3352, "ES", Res, [83, 43], 0x2a02_9000), net(12479, "ES", Res, [90, 163], 0),
        net(12430, "ES", Mob, [85, 58], 0x2a02_3100), net(28573, "BR", Res, [177, 32], 0x2804_0d41),
        net(26599, "BR", Mob, [187, 72], 0x2804_014c), net(26615, "BR", Mob, [189, 40], 0x2804_0018),
        net(8151, "MX", Res, [189, 203], 0x2806_02f0), net(28403, "MX", Mob, [201, 144], 0x2806_1000),
        net(9829, "IN", Res, [117, 200], 0), net(24560, "IN", Res, [122, 161], 0x2401_4900),
        net(55836, "IN", Mob, [49, 36], 0x2409_40c0), net(45609, "IN", Mob, [106, 203], 0x2401_4901),
        net(7713, "ID", Res, [36, 68], 0), net(23693, "ID", Mob, [114, 125], 0x2404_00c0),
        net(37340, "NG", Res, [102, 89], 0), net(29465, "NG", Mob, [105, 112], 0),
        net(36873, "NG", Mob, [197, 210], 0), net(4713, "JP", Res, [153, 156], 0x240b_0010),
        net(17676, "JP", Res, [126, 15], 0x240b_0250), net(9605, "JP", Mob, [1, 66], 0x2001_0268),
        net(5617, "PL", Res, [83, 27], 0x2a01_0110), net(12912, "PL", Mob, [31, 61], 0x2a00_0f41),
        net(9121, "TR", Res, [88, 241], 0), net(16135, "TR", Mob, [176, 88], 0x2a02_0ff0),
        net(45899, "VN", Res, [113, 161], 0), net(7552, "VN", Mob, [27, 64], 0x2402_0800),
        net(9299, "PH", Res, [112, 198], 0), net(132199, "PH", Mob, [120, 28], 0x2001_0fd8),
        net(10139, "PH", Mob, [49, 145], 0), net(12389, "RU", Res, [95, 24], 0),
        net(8359, "RU", Mob, [176, 59], 0x2a00_1fa0), net(17494, "BD", Res, [103, 4], 0),
        net(24389, "BD", Mob, [37, 111], 0), net(680, "DE", Uni, [141, 20], 0),
        net(786, "GB", Uni, [128, 243], 0), net(11537, "US", Uni, [128, 112], 0),
        net(2200, "FR", Uni, [193, 54], 0), net(137, "IT", Uni, [131, 114], 0),
        net(766, "ES", Uni, [130, 206], 0), net(1916, "BR", Uni, [200, 130], 0),
        net(55824, "IN", Uni, [14, 139], 0), net(202187, "US", Corp, [64, 71], 0),
        net(204901, "DE", Corp, [195, 37], 0), net(206311, "GB", Corp, [185, 73], 0),
        net(208112, "FR", Corp, [185, 22], 0), net(210455, "IT", Corp, [185, 95], 0),
        net(47812, "ES", Corp, [212, 170], 0), net(263114, "BR", Corp, [138, 97], 0),
        net(139201, "IN", Corp, [103, 151], 0), net(58711, "JP", Corp, [210, 130], 0),
        net(197231, "PL", Corp, [185, 153], 0), net(16509, "US", Host, [3, 80], 0),
        net(14061, "US", Host, [159, 65], 0), net(16276, "FR", Host, [51, 77], 0),
        net(24940, "DE", Host, [88, 99], 0), net(63949, "US", Host, [45, 33], 0),
        net(20473, "US", Host, [45, 76], 0), net(51167, "DE", Host, [62, 171], 0),
        net(45102, "SG", Host, [47, 74], 0), net(9009, "RO", Vpn, [185, 220], 0),
        net(60068, "GB", Vpn, [185, 159], 0), net(39351, "SE", Vpn, [193, 138], 0),
        net(51852, "CH", Vpn, [185, 217], 0), net(212238, "NL", Vpn, [149, 102], 0),
        net(136787, "US", Vpn, [193, 37], 0),
    ];

    pub(super) const BASE: Country = Country {
        code: "",
        weight: 0,
        ios: 20,
        tz: &[0],
        langs: &["en-US"],
        domains: "gmail.com:1",
        first: "",
        last: "",
        native: ["", ""],
        family_first: false,
        fem: 0,
    };

    pub(super) static COUNTRIES: &[Country] = &[
        Country { code: "US", weight: 170, ios: 55, tz: &[-300, -300, -300, -360, -360, -420, -480, -480],
            langs: &["en-US", "en-US", "en-US", "en-US", "en-US", "es-US"],
            domains: "gmail.com:55 yahoo.com:12 outlook.com:8 hotmail.com:8 icloud.com:8 aol.com:4 \
                 proton.me:2 comcast.net:3",
            first: "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara \
                 Richard Susan Joseph Jessica Thomas Sarah Christopher Karen Daniel Emily Matthew Ashley \
                 Tyler Madison Jose Jamal Aaliyah Kevin",
            last: "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez \
                 Lopez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Thompson White Harris Clark \
                 Lewis Robinson Walker Young Nguyen Washington",
            ..BASE
        },
        Country { code: "GB", weight: 60, ios: 50, langs: &["en-GB"],
            domains: "gmail.com:45 hotmail.co.uk:15 outlook.com:10 yahoo.co.uk:10 icloud.com:8 \
                 btinternet.com:5 live.co.uk:4 sky.com:3",
            first: "Oliver George Harry Jack Charlie Thomas Oscar William James Noah Olivia Amelia Isla Ava \
                 Emily Sophie Grace Lily Jessica Chloe Daniel Samuel Ellie Hannah Lucy Megan Callum Rhys \
                 Aisha Mohammed",
            last: "Smith Jones Taylor Brown Williams Wilson Johnson Davies Robinson Wright Thompson Evans \
                 Walker White Roberts Green Hall Wood Jackson Clarke Patel Khan Lewis Hughes Edwards Hill \
                 Moore Harris Ahmed O'Brien",
            ..BASE
        },
        Country { code: "DE", weight: 60, ios: 35, tz: &[60],
            langs: &["de-DE", "de-DE", "de-DE", "de-AT", "tr-DE"],
            domains: "gmail.com:30 gmx.de:22 web.de:22 t-online.de:8 outlook.de:5 yahoo.de:5 posteo.de:2 \
                 freenet.de:4 icloud.com:2",
            first: "Lukas Leon Finn Jonas Paul Felix Maximilian Elias Noah Ben Jürgen Stefan Andreas \
                 Michael Thomas Sabine Anna Lena Laura Lea Sophie Marie Julia Katrin Petra Ursula Jan \
                 Niklas Emma Jörg",
            last: "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer Koch \
                 Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann Hartmann \
                 Lange Werner Krause Lehmann Köhler Yılmaz",
            ..BASE
        },
        Country { code: "FR", weight: 50, ios: 35, tz: &[60], langs: &["fr-FR", "fr-FR", "fr-FR", "fr-BE"],
            domains: "gmail.com:45 orange.fr:12 hotmail.fr:12 yahoo.fr:8 free.fr:6 laposte.net:5 sfr.fr:5 \
                 outlook.fr:4 icloud.com:3",
            first: "Lucas Hugo Louis Gabriel Arthur Jules Nathan Léo Thomas Nicolas Julien Camille Léa \
                 Manon Chloé Emma Inès Sarah Jade Louise Élodie Margaux Mathilde Pierre Antoine Céline \
                 Amandine Mehdi Yasmine Clément",
            last: "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent \
                 Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André Lefèvre \
                 Mercier Dupont Lambert Bonnet François Benali",
            ..BASE
        },
        Country { code: "IT", weight: 40, ios: 30, tz: &[60], langs: &["it-IT"],
            domains: "gmail.com:50 libero.it:15 hotmail.it:10 yahoo.it:8 virgilio.it:6 outlook.it:4 \
                 alice.it:4 tiscali.it:3",
            first: "Francesco Alessandro Lorenzo Matteo Leonardo Andrea Gabriele Riccardo Marco Luca \
                 Giuseppe Giovanni Antonio Sofia Giulia Aurora Alice Ginevra Chiara Francesca Martina Sara \
                 Valentina Elena Federica Alessia Paolo Davide Simone Roberta",
            last: "Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco Bruno Gallo Conti \
                 De_Luca Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro Mariani \
                 Rinaldi Caruso Ferrara Galli Martini Leone",
            ..BASE
        },
        Country { code: "ES", weight: 40, ios: 30, tz: &[60], langs: &["es-ES", "es-ES", "es-ES", "ca-ES"],
            domains: "gmail.com:60 hotmail.com:15 hotmail.es:8 yahoo.es:7 outlook.es:6 icloud.com:4",
            first: "Hugo Martín Lucas Mateo Leo Daniel Alejandro Pablo Manuel Álvaro Javier David José \
                 Antonio Lucía Sofía Martina María Julia Paula Valeria Emma Daniela Carmen Laura Marta Ana \
                 Isabel Sergio Raúl",
            last: "García Rodríguez González Fernández López Martínez Sánchez Pérez Gómez Martín Jiménez \
                 Ruiz Hernández Díaz Moreno Muñoz Álvarez Romero Alonso Gutiérrez Navarro Torres Domínguez \
                 Vázquez Ramos Gil Ramírez Serrano Blanco Molina",
            ..BASE
        },
        Country { code: "BR", weight: 80, ios: 20, tz: &[-180], langs: &["pt-BR"],
            domains: "gmail.com:65 hotmail.com:15 outlook.com:7 yahoo.com.br:7 uol.com.br:3 bol.com.br:3",
            first: "Miguel Arthur Gael Heitor Theo Davi Gabriel Bernardo Samuel João_Pedro Lucas Matheus \
                 Rafael Thiago Helena Alice Laura Maria_Alice Valentina Heloísa Manuela Júlia Beatriz Ana \
                 Larissa Camila Fernanda Juliana Gustavo Felipe",
            last: "Silva Santos Oliveira Souza Rodrigues Ferreira Alves Pereira Lima Gomes Costa Ribeiro \
                 Martins Carvalho Almeida Lopes Soares Fernandes Vieira Barbosa Rocha Dias Nascimento \
                 Andrade Moreira Nunes Marques Machado Mendes dos_Santos",
            ..BASE
        },
        Country { code: "MX", weight: 50, ios: 20, tz: &[-360, -360, -420, -300],
            langs: &["es-MX", "es-MX", "es-419"],
            domains: "gmail.com:60 hotmail.com:20 outlook.com:8 yahoo.com.mx:8 live.com.mx:4",
            first: "Santiago Mateo Sebastián Leonardo Emiliano Diego Miguel_Ángel Daniel Alejandro Jesús \
                 Luis Juan_Carlos Jorge Ximena Valentina María_José Regina Sofía Camila Fernanda Guadalupe \
                 Andrea Mariana Alejandra Itzel Citlali Brenda Karla Arturo Raúl",
            last: "Hernández García Martínez López González Pérez Rodríguez Sánchez Ramírez Cruz Flores \
                 Gómez Morales Vázquez Reyes Jiménez Torres Díaz Gutiérrez Ruiz Mendoza Aguilar Ortiz \
                 Moreno Castillo Romero Álvarez Méndez Chávez Rivera",
            ..BASE
        },
        Country { code: "IN", weight: 100, ios: 8, tz: &[330],
            langs: &["en-IN", "en-IN", "hi-IN", "en-US", "ta-IN", "en-GB"],
            domains: "gmail.com:78 yahoo.co.in:7 rediffmail.com:5 outlook.com:5 hotmail.com:5",
            first: "Aarav Vivaan Aditya Vihaan Arjun Sai Reyansh Ayaan Krishna Ishaan Rahul Amit Rajesh \
                 Suresh Priya Ananya Diya Saanvi Pooja Neha Sneha Kavya Divya Anjali Deepika Rohit Vikram \
                 Sanjay Imran Lakshmi",
            last: "Sharma Verma Gupta Singh Kumar Patel Shah Mehta Reddy Rao Nair Iyer Menon Pillai Das \
                 Banerjee Chatterjee Mukherjee Joshi Kulkarni Deshmukh Jain Agarwal Yadav Khan Ansari \
                 Chauhan Thakur Mishra Pandey",
            ..BASE
        },
        Country { code: "ID", weight: 60, ios: 10, tz: &[420, 420, 480], langs: &["id-ID", "id-ID", "en-US"],
            domains: "gmail.com:82 yahoo.co.id:8 yahoo.com:6 outlook.com:4",
            first: "Budi Agus Andi Dewi Siti Sri Putri Rizky Muhammad Ahmad Fajar Dimas Bayu Eko Wahyu \
                 Indah Ayu Rina Fitri Nurul Dian Arif Hendra Yusuf Intan Kartika Ratna Bagus Rudi Aditya",
            last: "Santoso Wijaya Saputra Hidayat Pratama Setiawan Kurniawan Nugroho Susanto Wibowo Siregar \
                 Nasution Hasibuan Lubis Sihombing Gunawan Halim Rahman Hakim Utomo Purnomo Permana \
                 Firmansyah Syahputra Ramadhan Lestari Wulandari Anggraini Kusuma Sari",
            ..BASE
        },
        Country { code: "NG", weight: 40, ios: 8, tz: &[60], langs: &["en-NG", "en-GB", "en-US"],
            domains: "gmail.com:75 yahoo.com:15 outlook.com:5 hotmail.com:5",
            first: "Chinedu Emeka Ngozi Chiamaka Oluwaseun Adebayo Funmilayo Tunde Yetunde Abubakar Musa \
                 Aisha Fatima Ibrahim Blessing Precious Godwin Emmanuel Chukwuemeka Ifeoma Kelechi Uche \
                 Olumide Temitope Babajide Halima Zainab Samuel Joy Grace",
            last: "Okafor Okeke Eze Nwosu Okonkwo Adeyemi Adeleke Ogunleye Balogun Akinola Bello Abubakar \
                 Mohammed Usman Ibrahim Yusuf Aliyu Obi Nnamdi Chukwu Onyeka Olawale Adewale Danjuma \
                 Afolabi Okoro Ojo Babatunde Uzor Oyelaran",
            ..BASE
        },
        Country { code: "JP", weight: 45, ios: 65, tz: &[540], langs: &["ja-JP"],
            domains: "gmail.com:45 yahoo.co.jp:20 icloud.com:12 docomo.ne.jp:8 ezweb.ne.jp:5 outlook.jp:5 \
                 i.softbank.jp:5",
            first: "Haruto Sota Yuto Ren Minato Hinata Riku Takumi Daiki Kenta Shota Hiroshi Takeshi Kazuki \
                 Yui Hina Aoi Sakura Yuna Mio Rin Miyu Haruka Ayaka Misaki Nanami Yuki Akiko Naoko Kaori",
            last: "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato Yoshida \
                 Yamada Sasaki Yamaguchi Matsumoto Inoue Kimura Hayashi Shimizu Yamazaki Mori Abe Ikeda \
                 Hashimoto Yamashita Ishikawa Nakajima Maeda Fujita Ogawa",
            native: [
                "陽翔 蒼太 悠斗 蓮 湊 陽向 陸 拓海 大輝 健太 翔太 浩 武 和樹 結衣 陽菜 葵 さくら 結菜 澪 凛 \
                     美優 遥 彩花 美咲 七海 由紀 明子 直子 香織",
                "佐藤 鈴木 高橋 田中 渡辺 伊藤 山本 中村 小林 加藤 吉田 山田 佐々木 山口 松本 井上 木村 林 \
                     清水 山崎 森 阿部 池田 橋本 山下 石川 中島 前田 藤田 小川",
            ],
            ..BASE
        },
        Country { code: "PL", weight: 30, ios: 25, tz: &[60], langs: &["pl-PL"], fem: 15,
            domains: "gmail.com:40 wp.pl:18 onet.pl:14 interia.pl:10 o2.pl:10 op.pl:8",
            first: "Jakub Antoni Jan Szymon Filip Aleksander Franciszek Mikołaj Wojciech Kacper Piotr \
                 Krzysztof Tomasz Paweł Łukasz Zuzanna Julia Zofia Hanna Maja Lena Alicja Oliwia Anna \
                 Katarzyna Małgorzata Agnieszka Magdalena Joanna Monika",
            last: "Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański \
                 Woźniak Dąbrowski Kozłowski Jankowski Mazur Kwiatkowski Krawczyk Piotrowski Grabowski \
                 Nowakowski Pawłowski Michalski Król Wieczorek Jabłoński Wróbel Nowicki Majewski Olszewski \
                 Stępień Malinowski",
            ..BASE
        },
        Country { code: "TR", weight: 40, ios: 25, tz: &[180], langs: &["tr-TR"],
            domains: "gmail.com:60 hotmail.com:22 outlook.com:8 yandex.com.tr:6 icloud.com:4",
            first: "Yusuf Eymen Ömer Mustafa Ahmet Mehmet Ali Emir Hüseyin Murat Emre Burak Can Kerem \
                 Zeynep Elif Defne Eylül Ecrin Ayşe Fatma Emine Merve Büşra Esra Selin Derya Gül Hatice \
                 Özge",
            last: "Yılmaz Kaya Demir Şahin Çelik Yıldız Yıldırım Öztürk Aydın Özdemir Arslan Doğan Kılıç \
                 Aslan Çetin Kara Koç Kurt Özkan Şimşek Polat Korkmaz Erdoğan Aktaş Güneş Bulut Keskin \
                 Tekin Acar Ünal",
            ..BASE
        },
        Country { code: "VN", weight: 40, ios: 25, tz: &[420], langs: &["vi-VN", "vi-VN", "en-US"],
            family_first: true,
            domains: "gmail.com:85 yahoo.com.vn:8 yahoo.com:4 outlook.com:3",
            first: "An Anh Bảo Bình Chi Dũng Dương Giang Hà Hải Hạnh Hiếu Hoa Hùng Huy Hương Khánh Lan Linh \
                 Long Mai Minh Nam Ngọc Phương Quân Quang Thảo Trang Tuấn",
            last: "Nguyễn Trần Lê Phạm Hoàng Huỳnh Phan Vũ Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Đinh Trịnh Đào \
                 Mai Cao Lâm Tạ Hà Vương Châu Tô Lương Triệu Quách",
            ..BASE
        },
        Country { code: "PH", weight: 45, ios: 25, tz: &[480], langs: &["en-PH", "en-US", "en-US", "fil-PH"],
            domains: "gmail.com:78 yahoo.com:12 yahoo.com.ph:5 outlook.com:5",
            first: "Juan Jose Mark John_Paul Christian Angelo Carlo Miguel Jerome Rommel Maria Angel \
                 Kristine Princess Joy Mary_Grace Jasmine Nicole Camille Rhea Aileen Marites Jericho Raffy \
                 Bea Kimberly Jessa Rowena Ronaldo Arnel",
            last: "Santos Reyes Cruz Bautista Ocampo Garcia Mendoza Torres Tomas Andrada Castillo Flores \
                 Villanueva Ramos Castro Rivera Aquino Navarro Salazar Mercado Dela_Cruz Gonzales Lopez \
                 Hernandez Aguilar Soriano Manalo Pascual Dizon Magbanua",
            ..BASE
        },
        Country { code: "RU", weight: 40, ios: 30, tz: &[180, 180, 180, 300, 420], langs: &["ru-RU"], fem: 15,
            domains: "yandex.ru:30 mail.ru:28 gmail.com:22 bk.ru:5 list.ru:5 inbox.ru:4 rambler.ru:6",
            first: "Aleksandr Dmitry Maksim Sergey Andrey Aleksey Artyom Ilya Kirill Mikhail Nikita Ivan \
                 Egor Roman Vladimir Anastasia Maria Anna Viktoria Ekaterina Natalia Olga Elena Tatiana \
                 Irina Yulia Daria Polina Svetlana Ksenia",
            last: "Ivanov Smirnov Kuznetsov Popov Vasiliev Petrov Sokolov Mikhailov Novikov Fedorov Morozov \
                 Volkov Alekseev Lebedev Semenov Egorov Pavlov Kozlov Stepanov Nikolaev Orlov Andreev \
                 Makarov Nikitin Zakharov Zaitsev Solovyov Borisov Yakovlev Grigoriev",
            native: [
                "Александр Дмитрий Максим Сергей Андрей Алексей Артём Илья Кирилл Михаил Никита Иван Егор \
                     Роман Владимир Анастасия Мария Анна Виктория Екатерина Наталья Ольга Елена Татьяна \
                     Ирина Юлия Дарья Полина Светлана Ксения",
                "Иванов Смирнов Кузнецов Попов Васильев Петров Соколов Михайлов Новиков Фёдоров Морозов \
                     Волков Алексеев Лебедев Семёнов Егоров Павлов Козлов Степанов Николаев Орлов Андреев \
                     Макаров Никитин Захаров Зайцев Соловьёв Борисов Яковлев Григорьев",
            ],
            ..BASE
        },
        Country { code: "BD", weight: 25, ios: 8, tz: &[360], langs: &["bn-BD", "en-US", "en-GB"],
            domains: "gmail.com:85 yahoo.com:10 outlook.com:5",
            first: "Mohammad Abdul Rahim Karim Hasan Hossain Rakib Sakib Tanvir Rashed Imran Arif Nusrat \
                 Fatema Sumaiya Tasnim Farzana Sharmin Jannat Ayesha Sadia Mim Riya Habib Shakil Mahmud \
                 Jahid Rubel Mithila Tahmina",
            last: "Rahman Hossain Islam Ahmed Khan Chowdhury Akter Begum Uddin Alam Sarkar Miah Sheikh \
                 Talukder Haque Das Roy Mondal Saha Paul Biswas Karim Siddique Bhuiyan Howlader Molla Kabir \
                 Hasan Mahmud Mia",
            ..BASE
        },
    ];

    /// Relative sign-ups by local hour: few at night, the peak at 19–21h.
    pub(super) const HOURS: [u32; 24] =
        [4, 2, 1, 1, 1, 1, 2, 4, 6, 7, 8, 8, 8, 8, 8, 9, 9, 10, 11, 13, 14, 14, 11, 7];
    pub(super) const WEEKDAYS: [u32; 7] = [10, 10, 10, 10, 10, 11, 12];
    pub(super) const GLOBAL_FREE: &[&str] = &[
        "gmail.com", "outlook.com", "yahoo.com", "hotmail.com", "icloud.com", "proton.me", "aol.com",
        "gmx.net",
    ];
    pub(super) const DISPOSABLE: &[&str] = &[
        "mailinator.com", "yopmail.com", "guerrillamail.com", "sharklasers.com", "10minutemail.com",
        "temp-mail.org", "trashmail.com", "dispostable.com", "getnada.com", "maildrop.cc", "tempmail.plus",
        "mailpoof.com", "emailnax.com", "fexbox.org", "inboxkitten.com", "tmpbox.net",
    ];
    pub(super) const ADJECTIVES: &[&str] = &[
        "sunny", "dark", "happy", "crazy", "little", "silent", "blue", "red", "wild", "cool", "lucky",
        "sweet", "lazy", "brave", "mystic", "shadow", "golden", "tiny", "super", "pink",
    ];
    pub(super) const NOUNS: &[&str] = &[
        "day", "wolf", "cat", "tiger", "dragon", "star", "moon", "rider", "gamer", "angel", "ninja", "fox",
        "bear", "panda", "storm", "queen", "king", "boy", "girl", "soul",
    ];
    pub(super) const LUCKY: &[&str] =
        &["", "1", "7", "12", "13", "21", "23", "69", "77", "88", "99", "123", "007", "2", "10", "11", "22"];
    pub(super) const PLACES: &[&str] = &[
        "northfield", "lakemont", "riverdale", "eastbury", "westhaven", "kingsbridge", "ashford", "fairmont",
        "oakridge", "brookline",
    ];
    pub(super) const CHROME_BUILDS: [i64; 8] = [7204, 7258, 7339, 7390, 7444, 7499, 7559, 7632];
    pub(super) const WIN: &str = "Windows NT 10.0; Win64; x64";
    pub(super) const MAC: &str = "Macintosh; Intel Mac OS X 10_15_7";
    pub(super) const KHTML: &str = "AppleWebKit/537.36 (KHTML, like Gecko)";
    pub(super) const IKHTML: &str = "AppleWebKit/605.1.15 (KHTML, like Gecko)";
    pub(super) const IOS: &[(&str, &str)] = &[
        ("18_6", "26.3"), ("18_6", "26.2"), ("18_6", "26.1"), ("18_7", "18.7"), ("18_6", "18.6"),
        ("17_7", "17.7"),
    ];
    pub(super) const SAFARI: &[&str] = &["26.3", "26.2", "26.1", "18.6", "17.6"];
    pub(super) const ANDROIDS: &[(&str, u32)] = &[
        ("SM-A546B", 14), ("SM-S918B", 15), ("SM-A155F", 14), ("SM-A055F", 14), ("Redmi Note 13", 14),
        ("23108RN04Y", 14), ("TECNO KJ5", 13), ("Infinix X6525", 13), ("vivo 1906", 11), ("CPH2591", 14),
        ("Pixel 8", 16), ("moto g84 5G", 14),
    ];
    pub(super) const ODD_AGENTS: &[&str] = &[
        "Mozilla/5.0 (Windows NT 6.1; Trident/7.0; rv:11.0) like Gecko",
        "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/109.0.0.0 \
         Safari/537.36",
        "Mozilla/5.0 (Linux; U; Android 4.4.2; en-us; GT-I9195 Build/KOT49H) AppleWebKit/534.30 (KHTML, \
         like Gecko) Version/4.0 Mobile Safari/534.30",
        "Opera/9.80 (J2ME/MIDP; Opera Mini/4.5.40312/191.283; U; en) Presto/2.12.423 Version/12.16",
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 \
         Safari/537.36",
        "Mozilla/5.0 (iPad; CPU OS 12_5_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
         Version/12.1.2 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 \
         Chrome/76.0.3809.146 TV Safari/537.36",
    ];
    pub(super) const LIBRARIES: &[&str] = &[
        "python-requests/2.31.0", "python-requests/2.32.3", "okhttp/4.12.0", "Go-http-client/2.0",
        "axios/1.7.9",
    ];
    pub(super) const COMMON_LANGS: &[&str] = &[
        "en-US,en;q=0.9", "en-GB,en;q=0.9", "en-US", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
        "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7", "es-ES,es;q=0.9", "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7",
        "it-IT,it;q=0.9,en-US;q=0.8,en;q=0.7", "en-IN,en;q=0.9",
    ];
    pub(super) const FARM_COUNTRIES: &[&str] = &["BD", "VN", "NG", "PH", "IN", "ID"];
    /// Letters with diacritics and what they become in an address.
    pub(super) const FOLD: &[(&str, &str)] = &[
        ("àáâãäåāăąạảấầẩẫậắằẳẵặ", "a"), ("çćč", "c"), ("đď", "d"), ("èéêëēęěẹẻẽếềểễệ", "e"), ("ğ", "g"),
        ("ìíîïıịỉĩ", "i"), ("łľ", "l"), ("ñńň", "n"), ("òóôõöøōọỏốồổỗộớờởỡợơ", "o"), ("śšş", "s"),
        ("ţť", "t"), ("ùúûüūůụủũưứừửữự", "u"), ("ýỳỵỷỹÿ", "y"), ("źżž", "z"), ("ß", "ss"),
    ];
    /// Campaign styles and their largest size at 10,000 events.
    pub(super) const STYLES: [(&str, f64); 4] =
        [("burst", 400.0), ("drip", 200.0), ("random", 300.0), ("farm", 300.0)];
}
use data::*;

/// A country's lists, split once.
struct Lists {
    first: Vec<&'static str>,
    last: Vec<&'static str>,
    native: [Vec<&'static str>; 2],
    domains: Vec<(&'static str, u32)>,
}

static LISTS: LazyLock<Vec<Lists>> = LazyLock::new(|| {
    let words = |s: &'static str| s.split_whitespace().collect::<Vec<_>>();
    COUNTRIES
        .iter()
        .map(|k| Lists {
            first: words(k.first),
            last: words(k.last),
            native: [words(k.native[0]), words(k.native[1])],
            domains: k
                .domains
                .split_whitespace()
                .map(|d| {
                    let (name, w) = d.split_once(':').expect("domain:weight");
                    (name, w.parse().expect("a weight"))
                })
                .collect(),
        })
        .collect()
});

/// Where a sign-up comes from, as the event says it.
#[derive(Clone, Copy)]
struct Place {
    ip: IpAddr,
    country: Option<&'static str>,
    asn: Option<u32>,
}

/// One sign-up before the ids are given.
struct Draft {
    time: i64,
    email: String,
    display_name: Option<String>,
    recovery: Option<String>,
    at: Place,
    user_agent: Option<String>,
    accept_language: Option<String>,
    device_id: Option<String>,
    captcha: &'static str,
    group: Option<usize>,
}

impl Draft {
    fn into_json(self, n: usize, account: &str) -> Value {
        let mut m = Map::new();
        m.insert("kind".into(), "signup".into());
        m.insert("id".into(), format!("s-{n}").into());
        m.insert("time".into(), rfc3339(self.time).into());
        m.insert("account".into(), account.into());
        m.insert("email".into(), self.email.into());
        m.insert("ip".into(), self.at.ip.to_string().into());
        m.insert("captcha".into(), self.captcha.into());
        let optional = [
            ("display_name", self.display_name),
            ("recovery_email", self.recovery),
            ("user_agent", self.user_agent),
            ("accept_language", self.accept_language),
            ("country", self.at.country.map(String::from)),
            ("device_id", self.device_id),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                m.insert(key.into(), v.into());
            }
        }
        if let Some(asn) = self.at.asn {
            m.insert("asn".into(), asn.into());
        }
        Value::Object(m)
    }
}

/// A person's name: the ASCII forms an address is made of, and the name as they write it.
struct Name {
    first: String,
    last: String,
    shown_first: String,
    shown: String,
}

/// Who a genuine sign-up is: country, birth-year range (`None`: the general one), surname.
#[derive(Clone, Copy)]
struct Who {
    c: usize,
    years: Option<(i64, i64)>,
    last: Option<usize>,
}

fn who(c: usize) -> Who {
    Who { c, years: None, last: None }
}

fn country(code: &str) -> usize {
    COUNTRIES.iter().position(|k| k.code == code).expect("a listed country")
}

fn pick_country(r: &mut Rng) -> usize {
    r.weighted_by(COUNTRIES, |k| k.weight)
}

/// A random network of `kind`, in `country` if given.
fn pick_net(r: &mut Rng, country: Option<&str>, kind: Kind) -> usize {
    let fits = |n: &&Net| n.kind == kind && country.is_none_or(|c| c == n.country);
    let k = r.below(NETS.iter().filter(fits).count());
    NETS.iter().enumerate().filter(|(_, n)| fits(n)).nth(k).expect("a network of that kind").0
}

fn v4(net: &Net, third: u8, fourth: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(net.v4[0], net.v4[1], third, fourth))
}

fn host(r: &mut Rng, net: &Net) -> IpAddr {
    v4(net, r.below(256) as u8, 1 + r.below(254) as u8)
}

fn v6_host(r: &mut Rng, net: &Net) -> IpAddr {
    let mut g = [0u16; 6];
    g.iter_mut().for_each(|x| *x = r.below(65_536) as u16);
    IpAddr::V6(Ipv6Addr::new(net.v6[0], net.v6[1], g[0], g[1], g[2], g[3], g[4], g[5]))
}

/// The event's view of `ip` on `net`: country and ASN, each sometimes missing (5%) unless `always`.
fn place(r: &mut Rng, net: &'static Net, ip: IpAddr, always: bool) -> Place {
    let roll = if always { 1.0 } else { r.unit() };
    let (country, asn) = match roll {
        x if x < 0.04 => (None, None),
        x if x < 0.045 => (None, Some(net.asn)),
        x if x < 0.05 => (Some(net.country), None),
        _ => (Some(net.country), Some(net.asn)),
    };
    Place { ip, country, asn }
}

/// A time by the diurnal curve for a UTC offset in minutes: on local `day` (kept within the
/// week), or on a random day (wrapped round the week).
fn diurnal(r: &mut Rng, tz: i32, day: Option<i64>) -> i64 {
    let d = day.unwrap_or_else(|| r.weighted(&WEEKDAYS) as i64);
    let t = d * DAY + r.weighted(&HOURS) as i64 * 3600 + r.below(3600) as i64 - i64::from(tz) * 60;
    START + if day.is_some() { t.clamp(0, SPAN - 1) } else { t.rem_euclid(SPAN) }
}

/// A local time between `from` and `to` hours on `day`, kept within the week.
fn local_time(r: &mut Rng, tz: i32, day: i64, from: i64, to: i64) -> i64 {
    let t = day * DAY + r.range(from * 3600, to * 3600 - 1) - i64::from(tz) * 60;
    START + t.clamp(0, SPAN - 1)
}

/// Lower case ASCII letters and digits only, diacritics folded.
fn ascii(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars().flat_map(char::to_lowercase) {
        if ch.is_ascii_alphanumeric() {
            out.push(ch);
        } else if let Some((_, to)) = FOLD.iter().find(|(from, _)| from.contains(ch)) {
            out.push_str(to);
        }
    }
    out
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

/// The surname as a woman's where the language makes it so (Kowalska, Ivanova, Иванова).
fn feminine(last: &str, female: bool) -> String {
    if !female {
        return last.to_string();
    }
    for (from, to) in [("ski", "ska"), ("cki", "cka")] {
        if let Some(stem) = last.strip_suffix(from) {
            return format!("{stem}{to}");
        }
    }
    match ["ov", "ev", "in"].iter().any(|e| last.ends_with(e)) {
        true => format!("{last}a"),
        false if ["ов", "ев", "ёв", "ин"].iter().any(|e| last.ends_with(e)) => format!("{last}а"),
        false => last.to_string(),
    }
}

/// A name of country `c` (with surname `last` if given) and the surname's index.
fn name(r: &mut Rng, c: usize, last: Option<usize>) -> (Name, usize) {
    let (k, l) = (&COUNTRIES[c], &LISTS[c]);
    let i = r.below(l.first.len());
    let j = last.unwrap_or_else(|| r.below(l.last.len()));
    let female = k.fem > 0 && i >= k.fem;
    let native = !l.native[0].is_empty() && r.chance(0.5);
    let (f, s) = if native { (l.native[0][i], l.native[1][j]) } else { (l.first[i], l.last[j]) };
    let (f, s) = (f.replace('_', " "), feminine(s, female).replace('_', " "));
    let shown = match (native && k.code == "JP", k.family_first) {
        (true, _) if r.chance(0.5) => format!("{s}{f}"),
        (true, _) | (false, true) => format!("{s} {f}"),
        _ => format!("{f} {s}"),
    };
    let n =
        Name { first: ascii(l.first[i]), last: ascii(&feminine(l.last[j], female)), shown_first: f, shown };
    (n, j)
}

fn initial(s: &str) -> &str {
    s.get(..1).unwrap_or("x")
}

fn nick(r: &mut Rng) -> String {
    let (a, b, d) = (*r.pick(ADJECTIVES), *r.pick(NOUNS), r.range(1, 99));
    match r.below(5) {
        0 => format!("{a}{b}{d}"),
        1 => format!("{a}_{b}{d}"),
        2 => format!("{b}{d}"),
        3 => format!("{a}{b}"),
        _ => format!("{b}_{}", r.range(1990, 2012)),
    }
}

/// A random-looking handle such as `xk_84j`.
fn handle(r: &mut Rng) -> String {
    let mut s = r.letters(1);
    for _ in 1..r.range(4, 8) {
        let ch = match r.below(10) {
            0 => "_".to_string(),
            1..=3 => r.digits(1),
            _ => r.letters(1),
        };
        s.push_str(&ch);
    }
    s.trim_end_matches('_').to_string()
}

/// A genuine local part for `n`, born in `year`.
fn local_part(r: &mut Rng, n: &Name, year: i64) -> String {
    let (f, l) = (n.first.as_str(), n.last.as_str());
    let (fi, li) = (initial(f), initial(l));
    let yy = format!("{:02}", year % 100);
    let lucky = *r.pick(LUCKY);
    let local = match r.weighted(&[14, 9, 8, 7, 5, 4, 4, 3, 7, 3, 14, 3, 4, 5]) {
        0 => format!("{f}.{l}"),
        1 => format!("{f}{l}"),
        2 => format!("{f}.{l}{yy}"),
        3 => format!("{f}{l}{year}"),
        4 => format!("{fi}.{l}"),
        5 => format!("{fi}{l}{lucky}"),
        6 => format!("{l}.{f}{year}"),
        7 => format!("{f}_{l}"),
        8 if r.chance(0.5) => format!("{f}{yy}"),
        8 => format!("{f}{lucky}{}", r.digits(1)),
        9 => format!("{f}{li}{lucky}"),
        10 => nick(r),
        11 => format!("{fi}{}{li}{yy}", r.letters(1)),
        12 => handle(r),
        _ => {
            let c = pick_country(r);
            let other = name(r, c, None).0;
            format!("{}{}{lucky}", other.first, other.last)
        }
    };
    local.chars().take(40).collect()
}

fn free_domain(r: &mut Rng, c: usize) -> &'static str {
    let ds = &LISTS[c].domains;
    ds[r.weighted_by(ds, |d| d.1)].0
}

fn fresh_domain(r: &mut Rng) -> String {
    let a = *r.pick(&["mail", "inbox", "post", "box", "letter", "quick", "zen", "nova"]);
    let b = *r.pick(&["ly", "hub", "zone", "bay", "vault", "drop", "spot", "base"]);
    format!("{a}{b}{}.{}", r.range(1, 99), r.pick(&["top", "xyz", "site", "online", "click", "shop"]))
}

fn recovery(r: &mut Rng, c: usize, local: &str, n: &Name, domain: &str) -> String {
    let mut other = free_domain(r, c);
    for _ in 0..4 {
        if other != domain {
            break;
        }
        other = *r.pick(GLOBAL_FREE);
    }
    let l = match r.below(5) {
        0 | 1 => local.to_string(),
        2 => format!("{local}{}", r.below(100)),
        3 => format!("{}.{}", n.first, n.last),
        _ => nick(r),
    };
    format!("{l}@{other}")
}

fn display(r: &mut Rng, n: &Name) -> Option<String> {
    if r.chance(0.15) {
        return None;
    }
    Some(match r.weighted(&[85, 5, 4, 3, 3]) {
        0 => n.shown.clone(),
        1 => n.shown_first.clone(),
        2 => n.shown.to_lowercase(),
        3 => capitalised(&nick(r)),
        _ => {
            let c = pick_country(r);
            name(r, c, None).0.shown
        }
    })
}

fn device(r: &mut Rng) -> String {
    format!("d-{}", r.chars(12, b"0123456789abcdef"))
}

/// An Accept-Language header for a language tag with a region (`de-DE`), in one of the shapes
/// browsers send; sometimes none.
fn chain(r: &mut Rng, tag: &str) -> Option<String> {
    let base = tag.split('-').next().unwrap_or(tag);
    let english = base == "en";
    Some(match r.weighted(&[40, 20, 12, 8, 6, 8, 6]) {
        0 if english => format!("{tag},en;q=0.9"),
        0 => format!("{tag},{base};q=0.9,en-US;q=0.8,en;q=0.7"),
        1 => format!("{tag},{base};q=0.9"),
        2 => tag.to_string(),
        3 => base.to_string(),
        4 if english => format!("{tag},en;q=0.5"),
        4 => format!("{base},en-US;q=0.7,en;q=0.3"),
        5 => "en-US,en;q=0.9".to_string(),
        _ => return None,
    })
}

fn accept_language(r: &mut Rng, c: usize) -> Option<String> {
    let tag = *r.pick(COUNTRIES[c].langs);
    chain(r, tag)
}

/// A Chrome major version, 138–145, recent ones commoner.
fn chrome(r: &mut Rng) -> i64 {
    145 - r.below(8).min(r.below(8)) as i64
}

/// A real-looking user agent of a person in country `c`, on a phone or not.
fn user_agent(r: &mut Rng, c: usize, phone: bool) -> String {
    if r.chance(0.01) {
        return r.pick(ODD_AGENTS).to_string();
    }
    let v = chrome(r);
    let full = format!("{v}.0.{}.{}", CHROME_BUILDS[(v - 138) as usize], r.range(40, 200));
    if phone && r.below(100) < COUNTRIES[c].ios as usize {
        let (os, version) = *r.pick(IOS);
        let head = format!("Mozilla/5.0 (iPhone; CPU iPhone OS {os} like Mac OS X) {IKHTML}");
        return match r.below(20) {
            0..=15 => format!("{head} Version/{version} Mobile/15E148 Safari/604.1"),
            16..=18 => format!("{head} CriOS/{full} Mobile/15E148 Safari/604.1"),
            _ => format!(
                "{head} Mobile/22G86 Instagram {}.0.0.{}.{} (iPhone15,3; iOS {os}; en_US; en)",
                r.range(380, 400),
                r.range(10, 60),
                r.range(50, 120)
            ),
        };
    }
    if phone {
        let (model, android) = *r.pick(ANDROIDS);
        return match r.below(20) {
            0..=14 => {
                format!("Mozilla/5.0 (Linux; Android 10; K) {KHTML} Chrome/{v}.0.0.0 Mobile Safari/537.36")
            }
            15..=17 => format!(
                "Mozilla/5.0 (Linux; Android {android}; {model}) {KHTML} SamsungBrowser/{}.0 Chrome/{}.0.0.0 \
                 Mobile Safari/537.36",
                r.range(27, 29),
                v - 8
            ),
            _ => format!(
                "Mozilla/5.0 (Linux; Android {android}; {model} Build/UP1A.231005.007; wv) {KHTML} \
                 Version/4.0 Chrome/{full} Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/{}.0.0.{}.{};]",
                r.range(500, 530),
                r.range(10, 60),
                r.range(50, 120)
            ),
        };
    }
    let ff = if r.chance(0.1) { 140 } else { 148 - r.below(5).min(r.below(5)) as i64 };
    match r.weighted(&[44, 10, 15, 8, 2, 10, 2, 2, 2]) {
        0 => format!("Mozilla/5.0 ({WIN}) {KHTML} Chrome/{v}.0.0.0 Safari/537.36"),
        1 => format!("Mozilla/5.0 ({MAC}) {KHTML} Chrome/{v}.0.0.0 Safari/537.36"),
        2 => format!("Mozilla/5.0 ({WIN}) {KHTML} Chrome/{v}.0.0.0 Safari/537.36 Edg/{v}.0.0.0"),
        3 => format!("Mozilla/5.0 ({WIN}; rv:{ff}.0) Gecko/20100101 Firefox/{ff}.0"),
        4 => {
            format!("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:{ff}.0) Gecko/20100101 Firefox/{ff}.0")
        }
        5 => format!("Mozilla/5.0 ({MAC}) {IKHTML} Version/{} Safari/605.1.15", r.pick(SAFARI)),
        6 => format!("Mozilla/5.0 (X11; Linux x86_64; rv:{ff}.0) Gecko/20100101 Firefox/{ff}.0"),
        7 => format!("Mozilla/5.0 (X11; Linux x86_64) {KHTML} Chrome/{v}.0.0.0 Safari/537.36"),
        _ => format!("Mozilla/5.0 ({WIN}) {KHTML} Chrome/{v}.0.0.0 Safari/537.36 OPR/{}.0.0.0", v - 15),
    }
}

/// The generator's state while the week is drawn.
struct Gen {
    rng: Rng,
    events: usize,
    drafts: Vec<Draft>,
    /// Group names and whether each is a campaign.
    groups: Vec<(String, bool)>,
    campaigns: usize,
    emails: HashSet<String>,
    /// Per network: the shared addresses of a carrier's CGNAT or a VPN's exits.
    egress: Vec<Vec<IpAddr>>,
}

impl Gen {
    fn new(seed: u64, events: usize) -> Gen {
        let mut rng = Rng(seed ^ 0x5157_A4D1_0C3B_9E27);
        let egress = NETS
            .iter()
            .map(|n| match n.kind {
                Mobile => (0..(events / 3000).max(2)).map(|_| host(&mut rng, n)).collect(),
                Vpn => (0..8 + events / 2500).map(|_| host(&mut rng, n)).collect(),
                _ => Vec::new(),
            })
            .collect();
        let drafts = Vec::with_capacity(events);
        Gen { rng, events, drafts, groups: Vec::new(), campaigns: 0, emails: HashSet::new(), egress }
    }

    fn group(&mut self, kind: &str, abusive: bool) -> usize {
        let n = if abusive {
            self.campaigns += 1;
            self.campaigns
        } else {
            1 + self.groups.iter().filter(|(g, _)| g.rsplit_once('-').is_some_and(|(k, _)| k == kind)).count()
        };
        self.groups.push((format!("{kind}-{n}"), abusive));
        self.groups.len() - 1
    }

    /// `local@domain`, with digits added until no one has it.
    fn unique(&mut self, local: &str, domain: &str) -> String {
        let mut local = local.to_string();
        loop {
            let email = format!("{local}@{domain}");
            if self.emails.insert(email.clone()) {
                return email;
            }
            local.push_str(&self.rng.digits(1));
        }
    }

    /// An address on network `i` as its users get one.
    fn address(&mut self, i: usize) -> Place {
        let (net, r) = (&NETS[i], &mut self.rng);
        let ip = match net.kind {
            Mobile if net.v6[0] != 0 && r.chance(0.35) => v6_host(r, net),
            Mobile | Vpn => *r.pick(&self.egress[i]),
            Residential if net.v6[0] != 0 && r.chance(0.12) => v6_host(r, net),
            _ => host(r, net),
        };
        place(r, net, ip, false)
    }

    /// A genuine person's sign-up.
    fn genuine(&mut self, w: Who, time: i64, at: Place, phone: bool) -> Draft {
        let r = &mut self.rng;
        let year = match w.years {
            Some((lo, hi)) => r.range(lo, hi),
            None => (1992.0 + 11.0 * r.normalish()).round().clamp(1948.0, 2011.0) as i64,
        };
        let n = name(r, w.c, w.last).0;
        let local = local_part(r, &n, year);
        let domain = if r.chance(0.12) { OWN_DOMAIN } else { free_domain(r, w.c) };
        let recovery = r.chance(0.35).then(|| recovery(r, w.c, &local, &n, domain));
        let display_name = display(r, &n);
        let user_agent = (!r.chance(0.005)).then(|| user_agent(r, w.c, phone));
        let accept_language = accept_language(r, w.c);
        let device_id = (!r.chance(if phone { 0.1 } else { 0.2 })).then(|| device(r));
        let captcha = ["passed", "failed", "none"][r.weighted(&[88, 3, 9])];
        let email = self.unique(&local, domain);
        Draft {
            time,
            email,
            display_name,
            recovery,
            at,
            user_agent,
            accept_language,
            device_id,
            captcha,
            group: None,
        }
    }

    fn push(&mut self, mut d: Draft, g: usize) {
        d.group = Some(g);
        self.drafts.push(d);
    }

    /// An ordinary genuine user: their country's day, network and habits.
    fn ordinary(&mut self) {
        let r = &mut self.rng;
        let c = pick_country(r);
        let tz = *r.pick(COUNTRIES[c].tz);
        let time = diurnal(r, tz, None);
        let roll = r.unit();
        let (net, phone) = if roll < 0.03 {
            (pick_net(r, None, Vpn), r.chance(0.4))
        } else if roll < 0.035 {
            (pick_net(r, None, Hosting), false)
        } else {
            let home = COUNTRIES[if roll < 0.065 { pick_country(r) } else { c }].code;
            match r.chance(0.3) {
                true => (pick_net(r, Some(home), Mobile), true),
                false => (pick_net(r, Some(home), Residential), r.chance(0.45)),
            }
        };
        let at = self.address(net);
        let d = self.genuine(who(c), time, at, phone);
        self.drafts.push(d);
    }

    /// Plans campaigns of `budget` accounts in all: six big ones first (each style once),
    /// then big and small ones until the budget is spent.
    fn campaigns(&mut self, budget: usize) {
        let k = (self.events as f64 / 10_000.0).sqrt().clamp(0.25, 2.5);
        let lo = ((20.0 * k).round() as usize).clamp(5, 50);
        let mut order = [0, 1, 2, 3];
        self.rng.shuffle(&mut order);
        let forced = (budget / lo).min(6);
        let (mut left, mut i) = (budget, 0);
        while left > 0 {
            let r = &mut self.rng;
            let style = if i < 4 { order[i] } else { r.below(4) };
            let u = r.unit();
            let big = lo + ((STYLES[style].1 * k - lo as f64).max(0.0) * u * (0.5 + 0.5 * u)) as usize;
            let mut size = if i < forced {
                big.min(left - lo * (forced - i - 1))
            } else if r.chance(0.25) {
                r.range(5, 15) as usize
            } else {
                big
            };
            size = size.min(left);
            if left - size < 5 {
                size = left;
            }
            let g = self.group(STYLES[style].0, true);
            match style {
                0 => self.burst(g, size),
                1 => self.drip(g, size),
                2 => self.random(g, size),
                _ => self.farm(g, size),
            }
            left -= size;
            i += 1;
        }
    }

    fn burst(&mut self, g: usize, n: usize) {
        let r = &mut self.rng;
        let net = &NETS[pick_net(r, None, Hosting)];
        let blocks: Vec<u8> = (0..r.range(1, 4)).map(|_| r.below(256) as u8).collect();
        let interval = (r.range(2, 20) as f64).min(3300.0 / n as f64);
        let t0 = START + r.range(0, SPAN - 3700);
        let agent = match r.below(4) {
            0 => format!(
                "Mozilla/5.0 (X11; Linux x86_64) {KHTML} HeadlessChrome/{}.0.0.0 Safari/537.36",
                chrome(r)
            ),
            1 => format!(
                "Mozilla/5.0 ({WIN}) {KHTML} Chrome/{}.0.{}.{} Safari/537.36",
                r.range(88, 118),
                r.range(4300, 5900),
                r.range(50, 200)
            ),
            2 => r.pick(LIBRARIES).to_string(),
            _ => user_agent(r, 0, false),
        };
        let lang = [None, Some("en-US"), Some("en-US,en;q=0.9")][r.below(3)];
        let letters = r.chance(0.5);
        let c = if r.chance(0.6) { 0 } else { pick_country(r) };
        let domains: Vec<String> = match r.below(5) {
            0 | 1 => (0..r.range(1, 3)).map(|_| r.pick(DISPOSABLE).to_string()).collect(),
            2 => vec![fresh_domain(r)],
            _ => ["gmail.com", "outlook.com", "hotmail.com"].map(String::from).to_vec(),
        };
        let (none, fail) = [(1.0, 0.0), (0.0, 0.3 + 0.4 * r.unit()), (0.0, 0.15)][r.below(3)];
        let (devices, shown) = (r.chance(0.5), r.chance(0.5));
        let recovery_domain = r.chance(0.25).then(|| r.pick(DISPOSABLE).to_string());
        for i in 0..n {
            let r = &mut self.rng;
            let time = t0 + ((i as f64 + 0.1 * (r.unit() - 0.5)) * interval) as i64;
            let nm = name(r, c, None).0;
            let local = match letters {
                true => {
                    let (a, b) = (r.range(6, 9) as usize, r.range(2, 4) as usize);
                    format!("{}{}", r.letters(a), r.digits(b))
                }
                false => format!("{}{}{}", nm.first, nm.last, r.digits(3)),
            };
            let ip = v4(net, *r.pick(&blocks), r.range(1, 254) as u8);
            let at = place(r, net, ip, false);
            let captcha = match (r.chance(none), r.chance(fail)) {
                (true, _) => "none",
                (_, true) => "failed",
                _ => "passed",
            };
            let device_id = devices.then(|| device(r));
            let recovery = recovery_domain.as_ref().map(|d| format!("{}@{d}", r.letters(8)));
            let domain = r.pick(&domains).clone();
            let email = self.unique(&local, &domain);
            let d = Draft {
                time,
                email,
                display_name: shown.then_some(nm.shown),
                recovery,
                at,
                user_agent: Some(agent.clone()),
                accept_language: lang.map(String::from),
                device_id,
                captcha,
                group: None,
            };
            self.push(d, g);
        }
    }

    fn drip(&mut self, g: usize, n: usize) {
        let r = &mut self.rng;
        let countries: Vec<usize> = (0..r.range(3, 8)).map(|_| pick_country(r)).collect();
        let sources: Vec<usize> = (0..r.range(1, 2)).map(|_| pick_country(r)).collect();
        let agents: Vec<String> = (0..r.range(6, 10)).map(|i| user_agent(r, 0, i % 3 == 0)).collect();
        let langs: Vec<&str> = (0..r.range(2, 4)).map(|_| *r.pick(COMMON_LANGS)).collect();
        let template = r.below(5);
        let dur = r.range(2 * DAY + 3600, 6 * DAY);
        let t0 = START + r.range(0, SPAN - dur - 1);
        let step = dur as f64 / n as f64;
        let recovery_mode = r.below(3);
        let recovery_domain = if r.chance(0.5) { fresh_domain(r) } else { r.pick(DISPOSABLE).to_string() };
        let mut used = HashSet::new();
        for i in 0..n {
            let r = &mut self.rng;
            let time = t0 + ((i as f64 + 0.5 + 0.4 * (2.0 * r.unit() - 1.0)) * step) as i64;
            let home = *r.pick(&countries);
            let kind = if r.chance(0.3) { Mobile } else { Residential };
            let net = &NETS[pick_net(r, Some(COUNTRIES[home].code), kind)];
            let ip = loop {
                let ip = host(r, net);
                if used.insert(ip) {
                    break ip;
                }
            };
            let at = place(r, net, ip, false);
            let src = *r.pick(&sources);
            let nm = name(r, src, None).0;
            let (f, l) = (&nm.first, &nm.last);
            let local = match template {
                0 => format!("{f}{l}{}", r.digits(2)),
                1 => format!("{f}.{l}{}", r.digits(3)),
                2 => format!("{f}_{l}{}", r.range(70, 99)),
                3 => format!("{}{l}{}", initial(f), r.digits(4)),
                _ => format!("{l}.{f}{}", r.digits(2)),
            };
            let accept_language =
                if r.chance(0.5) { accept_language(r, home) } else { Some(r.pick(&langs).to_string()) };
            let user_agent = Some(r.pick(&agents).clone());
            let domain =
                ["gmail.com", "outlook.com", "hotmail.com", "yahoo.com"][r.weighted(&[70, 12, 10, 8])];
            let recovery = match recovery_mode {
                0 => None,
                1 => Some(format!("{local}{}@{}", r.digits(2), r.pick(GLOBAL_FREE))),
                _ => Some(format!("{f}{l}@{recovery_domain}")),
            };
            let captcha = if r.chance(0.04) { "failed" } else { "passed" };
            let device_id = r.chance(0.85).then(|| device(r));
            let email = self.unique(&local, domain);
            let d = Draft {
                time,
                email,
                display_name: Some(nm.shown),
                recovery,
                at,
                user_agent,
                accept_language,
                device_id,
                captcha,
                group: None,
            };
            self.push(d, g);
        }
    }

    fn random(&mut self, g: usize, n: usize) {
        let r = &mut self.rng;
        let exits: Vec<usize> = (0..r.range(2, 3))
            .map(|_| {
                let kind = if r.chance(0.8) { Vpn } else { Hosting };
                pick_net(r, None, kind)
            })
            .collect();
        let dur = r.range(3600, 5 * 3600);
        let t0 = START + r.range(0, SPAN - dur - 1);
        let recovery_domain = if r.chance(0.5) { fresh_domain(r) } else { r.pick(DISPOSABLE).to_string() };
        let recovery_share = if r.chance(0.3) { 0.0 } else { 0.3 + 0.5 * r.unit() };
        for _ in 0..n {
            let r = &mut self.rng;
            let time = t0 + r.range(0, dur);
            let i = *r.pick(&exits);
            let net = &NETS[i];
            let ip = if net.kind == Vpn { *r.pick(&self.egress[i]) } else { host(r, net) };
            let at = place(r, net, ip, true);
            let c = r.below(COUNTRIES.len());
            let nm = name(r, c, None).0;
            let year = r.range(1970, 2005);
            let local = local_part(r, &nm, year);
            let other = r.below(COUNTRIES.len());
            let shown = if r.chance(0.5) { nm.shown } else { name(r, other, None).0.shown };
            let phone = r.chance(0.5);
            let user_agent = Some(user_agent(r, c, phone));
            let lc = r.below(COUNTRIES.len());
            let tag = *r.pick(COUNTRIES[lc].langs);
            let accept_language = chain(r, tag).or_else(|| Some(tag.to_string()));
            let recovery = r.chance(recovery_share).then(|| format!("{}@{recovery_domain}", handle(r)));
            let captcha = if r.chance(0.85) { "passed" } else { "none" };
            let domain = *r.pick(GLOBAL_FREE);
            let email = self.unique(&local, domain);
            let d = Draft {
                time,
                email,
                display_name: Some(shown),
                recovery,
                at,
                user_agent,
                accept_language,
                device_id: None,
                captcha,
                group: None,
            };
            self.push(d, g);
        }
    }

    fn farm(&mut self, g: usize, n: usize) {
        let r = &mut self.rng;
        let code = *r.pick(FARM_COUNTRIES);
        let c = country(code);
        let kind = if r.chance(0.6) { Mobile } else { Residential };
        let net = &NETS[pick_net(r, Some(COUNTRIES[c].code), kind)];
        let blocks: Vec<u8> = (0..r.range(1, 3)).map(|_| r.below(256) as u8).collect();
        let per = r.range(5, 10) as usize;
        let phones: Vec<(String, String, Option<String>)> = (0..n.div_ceil(per))
            .map(|_| (device(r), user_agent(r, c, true), accept_language(r, c)))
            .collect();
        let mut assign: Vec<usize> = (0..n).map(|i| i % phones.len()).collect();
        r.shuffle(&mut assign);
        let tz = COUNTRIES[c].tz[0];
        let rate = r.range(30, 90);
        let days = ((n as i64 + rate - 1) / rate).clamp(1, 5);
        let first_day = r.range(0, 7 - days);
        let dotted = r.chance(0.7);
        let surname = *r.pick(&LISTS[c].last);
        let trade = r.pick(&["traders", "agency", "it", "telecom", "shop", "online", "bd", "store"]);
        let series = format!("{}{trade}", ascii(surname));
        let series_domain = *r.pick(&["gmail.com", "outlook.com", "yahoo.com"]);
        let first_no = r.range(100, 800) as usize;
        for (i, &p) in assign.iter().enumerate() {
            let r = &mut self.rng;
            let day = first_day + r.range(0, days - 1);
            let time = local_time(r, tz, day, 9, 18);
            let nm = name(r, c, None).0;
            let dd = r.digits(2);
            let local = if dotted {
                format!("{}.{}{dd}", nm.first, nm.last)
            } else {
                format!("{}{}{dd}", nm.first, nm.last)
            };
            let ip = v4(net, *r.pick(&blocks), r.range(2, 254) as u8);
            let at = place(r, net, ip, false);
            let recovery = r.chance(0.9).then(|| format!("{series}{}@{series_domain}", first_no + i));
            let captcha = if r.chance(0.02) { "failed" } else { "passed" };
            let display_name = r.chance(0.95).then_some(nm.shown);
            let domain = ["gmail.com", "yahoo.com", "outlook.com"][r.weighted(&[90, 6, 4])];
            let email = self.unique(&local, domain);
            let (device_id, agent, lang) = phones[p].clone();
            let d = Draft {
                time,
                email,
                display_name,
                recovery,
                at,
                user_agent: Some(agent),
                accept_language: lang,
                device_id: Some(device_id),
                captcha,
                group: None,
            };
            self.push(d, g);
        }
    }

    /// The named legitimate groups, scaled with the count, within what campaigns left.
    fn groups(&mut self) {
        let n = self.events;
        let each =
            if n >= 3000 { ((n as f64 / 5000.0).round() as usize).max(1) } else { usize::from(n >= 1000) };
        let scale = (n as f64 / 3000.0).min(1.0);
        let mut plan = Vec::new();
        for _ in 0..each {
            plan.extend([("university", 50, 200), ("carrier-nat", 40, 150), ("company", 20, 60)]);
        }
        plan.extend(std::iter::repeat_n(("family", 2, 5), n / 1000));
        plan.extend(std::iter::repeat_n(("internet-cafe", 5, 15), n / 5000));
        for (kind, lo, hi) in plan {
            let want = self.rng.range(lo, hi);
            let want = if lo >= 20 { ((want as f64 * scale).round() as i64).max(5) } else { want };
            let size = (want as usize).min(self.events - self.drafts.len());
            if size < 2 {
                return;
            }
            let g = self.group(kind, false);
            match kind {
                "university" => self.university(g, size),
                "carrier-nat" => self.carrier_nat(g, size),
                "company" => self.company(g, size),
                "family" => self.family(g, size),
                _ => self.cafe(g, size),
            }
        }
    }

    fn university(&mut self, g: usize, n: usize) {
        let r = &mut self.rng;
        let net = &NETS[pick_net(r, None, University)];
        let c = country(net.country);
        let blocks: Vec<u8> = (0..r.range(1, 3)).map(|_| r.below(256) as u8).collect();
        let tz = COUNTRIES[c].tz[0];
        let day = r.range(0, 2);
        let start = local_time(r, tz, day, 9, 13);
        let dur = r.range(2 * 3600, 5 * 3600);
        let agents: Vec<String> = (0..r.range(3, 4)).map(|i| user_agent(r, c, i >= 2)).collect();
        let w = *r.pick(PLACES);
        let domain = match net.country {
            "GB" => format!("{w}.ac.uk"),
            "DE" => format!("uni-{w}.de"),
            "FR" => format!("univ-{w}.fr"),
            "IT" => format!("uni{w}.it"),
            "ES" => format!("u{w}.es"),
            "BR" => format!("{w}.edu.br"),
            "IN" => format!("{w}.ac.in"),
            _ => format!("{w}.edu"),
        };
        for _ in 0..n {
            let r = &mut self.rng;
            let cc = if r.chance(0.12) { pick_country(r) } else { c };
            let time = (start + r.range(0, dur)).min(START + SPAN - 1);
            let ip = v4(net, *r.pick(&blocks), r.range(2, 254) as u8);
            let at = place(r, net, ip, false);
            let agent = r.pick(&agents).clone();
            let student = r.chance(0.3).then(|| format!("s{}@student.{domain}", r.digits(7)));
            let mut d = self.genuine(Who { c: cc, years: Some((2005, 2008)), last: None }, time, at, false);
            d.user_agent = Some(agent);
            d.recovery = student.or(d.recovery);
            self.push(d, g);
        }
    }

    fn carrier_nat(&mut self, g: usize, n: usize) {
        let r = &mut self.rng;
        let c = pick_country(r);
        let i = pick_net(r, Some(COUNTRIES[c].code), Mobile);
        let ips: Vec<IpAddr> = (0..r.range(2, 6) as usize)
            .map(|k| self.egress[i].get(k).copied().unwrap_or_else(|| host(r, &NETS[i])))
            .collect();
        let tz = *r.pick(COUNTRIES[c].tz);
        let day = r.range(0, 6);
        for _ in 0..n {
            let r = &mut self.rng;
            let time = diurnal(r, tz, Some(day));
            let ip = *r.pick(&ips);
            let at = place(r, &NETS[i], ip, false);
            let d = self.genuine(who(c), time, at, true);
            self.push(d, g);
        }
    }

    fn company(&mut self, g: usize, n: usize) {
        let r = &mut self.rng;
        let net = &NETS[pick_net(r, None, Corporate)];
        let c = country(net.country);
        let third = r.below(256) as u8;
        let ips: Vec<IpAddr> = (0..r.range(1, 3)).map(|_| v4(net, third, r.range(2, 254) as u8)).collect();
        let tld = match net.country {
            "US" | "IN" => "com",
            "GB" => "co.uk",
            "BR" => "com.br",
            "JP" => "co.jp",
            other => other,
        };
        let a = *r.pick(&["acme", "nordwind", "bluepeak", "silverline", "keystone", "brightpath", "solaris"]);
        let b = *r.pick(&["logistics", "systems", "consulting", "foods", "labs", "group", "partners"]);
        let company = format!("{a}-{b}.{}", tld.to_lowercase());
        let mail = *r.pick(&["gmail.com", "gmail.com", "gmail.com", "outlook.com"]);
        let pattern = r.below(3);
        let agent = user_agent(r, c, false);
        let lang = accept_language(r, c);
        let day = r.range(0, 4);
        let start = local_time(r, COUNTRIES[c].tz[0], day, 9, 15);
        let dur = r.range(3600, 2 * 3600);
        for _ in 0..n {
            let r = &mut self.rng;
            let time = (start + r.range(0, dur)).min(START + SPAN - 1);
            let ip = *r.pick(&ips);
            let at = place(r, net, ip, false);
            let nm = name(r, c, None).0;
            let (f, l) = (&nm.first, &nm.last);
            let local = match pattern {
                0 => format!("{f}.{l}"),
                1 => format!("{f}{l}"),
                _ => format!("{}.{l}", initial(f)),
            };
            let recovery = r.chance(0.85).then(|| format!("{f}.{l}@{company}"));
            let device_id = r.chance(0.6).then(|| device(r));
            let captcha = if r.chance(0.03) { "failed" } else { "passed" };
            let email = self.unique(&local, mail);
            let d = Draft {
                time,
                email,
                display_name: Some(nm.shown),
                recovery,
                at,
                user_agent: Some(agent.clone()),
                accept_language: lang.clone(),
                device_id,
                captcha,
                group: None,
            };
            self.push(d, g);
        }
    }

    fn family(&mut self, g: usize, n: usize) {
        let r = &mut self.rng;
        let c = pick_country(r);
        let i = pick_net(r, Some(COUNTRIES[c].code), Residential);
        let ip = host(r, &NETS[i]);
        let surname = name(r, c, None).1;
        let tablet = r.chance(0.5);
        let shared = (device(r), user_agent(r, c, tablet));
        let tz = *r.pick(COUNTRIES[c].tz);
        let day = r.range(0, 5);
        for k in 0..n {
            let r = &mut self.rng;
            let day = day + r.range(0, 1);
            let time = local_time(r, tz, day, 17, 23);
            let at = place(r, &NETS[i], ip, false);
            let years = if k < 2 { (1968, 1992) } else { (2006, 2013) };
            let (same_device, phone) = (r.chance(0.6), r.chance(0.5));
            let mut d = self.genuine(Who { c, years: Some(years), last: Some(surname) }, time, at, phone);
            if same_device {
                (d.device_id, d.user_agent) = (Some(shared.0.clone()), Some(shared.1.clone()));
            }
            self.push(d, g);
        }
    }

    fn cafe(&mut self, g: usize, n: usize) {
        let r = &mut self.rng;
        let code = *r.pick(FARM_COUNTRIES);
        let c = country(code);
        let i = pick_net(r, Some(COUNTRIES[c].code), Residential);
        let ip = host(r, &NETS[i]);
        let machines: Vec<String> = (0..r.range(2, 4)).map(|_| device(r)).collect();
        let agent = if r.chance(0.5) { ODD_AGENTS[1].to_string() } else { user_agent(r, c, false) };
        let (first_day, days) = (r.range(0, 4), r.range(1, 3));
        let tz = COUNTRIES[c].tz[0];
        for _ in 0..n {
            let r = &mut self.rng;
            let day = first_day + r.range(0, days - 1);
            let time = local_time(r, tz, day, 10, 22);
            let at = place(r, &NETS[i], ip, false);
            let machine = r.pick(&machines).clone();
            let mut d = self.genuine(who(c), time, at, false);
            d.user_agent = Some(agent.clone());
            d.device_id = Some(machine);
            self.push(d, g);
        }
    }

    /// Sorts the sign-ups by time and gives them ids and opaque account ids.
    fn finish(mut self) -> Population {
        self.emails = HashSet::new();
        let mut drafts = std::mem::take(&mut self.drafts);
        drafts.sort_by_key(|d| d.time);
        let mut accounts = HashSet::with_capacity(drafts.len());
        let mut events = Vec::with_capacity(drafts.len());
        let mut labels = Vec::with_capacity(drafts.len());
        for (i, d) in drafts.into_iter().enumerate() {
            let account = loop {
                let a = format!("a-{}", self.rng.chars(8, b"0123456789abcdefghijklmnopqrstuvwxyz"));
                if accounts.insert(a.clone()) {
                    break a;
                }
            };
            let group = d.group.map(|g| &self.groups[g]);
            labels.push(Labelled {
                account: account.clone(),
                abusive: group.is_some_and(|g| g.1),
                group: group.map(|g| g.0.clone()),
            });
            events.push(d.into_json(i + 1, &account));
        }
        Population { events, labels }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    fn text<'a>(e: &'a Value, k: &str) -> Option<&'a str> {
        e.get(k).and_then(Value::as_str)
    }

    /// Seconds since the start; every time is in March 2026.
    fn secs(e: &Value) -> i64 {
        let t = text(e, "time").unwrap();
        assert!(t.starts_with("2026-03-") && t.ends_with('Z') && t.len() == 20, "{t}");
        let n = |a: usize, b: usize| t[a..b].parse::<i64>().unwrap();
        (n(8, 10) - 2) * DAY + n(11, 13) * 3600 + n(14, 16) * 60 + n(17, 19)
    }

    /// The events of each group.
    fn by_group(p: &Population) -> BTreeMap<String, Vec<&Value>> {
        let mut m: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
        for (e, l) in p.events.iter().zip(&p.labels) {
            if let Some(g) = &l.group {
                m.entry(g.clone()).or_default().push(e);
            }
        }
        m
    }

    fn distinct<'a>(es: &[&'a Value], k: &str) -> HashSet<&'a str> {
        es.iter().filter_map(|e| text(e, k)).collect()
    }

    fn span(es: &[&Value]) -> i64 {
        es.iter().map(|e| secs(e)).max().unwrap() - es.iter().map(|e| secs(e)).min().unwrap()
    }

    fn campaign(group: &str) -> bool {
        STYLES.iter().any(|s| group.starts_with(s.0))
    }

    fn slash24(ip: &str) -> String {
        ip.rsplit_once('.').map_or(ip, |(a, _)| a).to_string()
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_other_people() {
        let json = |p: &Population| serde_json::to_string(&p.events).unwrap();
        let (a, b, c) = (population(7, 3000), population(7, 3000), population(8, 3000));
        assert_eq!(json(&a), json(&b));
        assert_eq!(a.labels, b.labels);
        assert_ne!(json(&a), json(&c));
        let differ = |k: &str| a.events.iter().zip(&c.events).filter(|(x, y)| x[k] != y[k]).count();
        assert!(differ("email") > 2900 && differ("ip") > 2900, "other people, other addresses");
        let campaigns = |p: &Population| {
            let groups = by_group(p).into_iter().filter(|(g, _)| campaign(g));
            groups.map(|(_, es)| (es.len(), secs(es[0]))).collect::<BTreeSet<_>>()
        };
        let (ca, cc) = (campaigns(&a), campaigns(&c));
        assert!(!ca.is_empty() && !cc.is_empty());
        assert_ne!(ca, cc, "campaign sizes and timings");
    }

    #[test]
    fn counts_order_span_ids_and_labels_hold() {
        for n in [0, 1, 17, 999, 2500, 10_000] {
            let p = population(n as u64 + 3, n);
            assert_eq!((p.events.len(), p.labels.len()), (n, n));
            let times: Vec<i64> = p.events.iter().map(secs).collect();
            assert!(times.windows(2).all(|w| w[0] <= w[1]), "in time order");
            assert!(times.iter().all(|t| (0..SPAN).contains(t)), "within the week");
            let mut accounts = HashSet::new();
            for (i, (e, l)) in p.events.iter().zip(&p.labels).enumerate() {
                assert_eq!(text(e, "id"), Some(format!("s-{}", i + 1).as_str()));
                assert_eq!(text(e, "account"), Some(l.account.as_str()));
                assert!(accounts.insert(l.account.clone()), "one label per account");
                let a = l.account.strip_prefix("a-").unwrap();
                assert!(a.len() == 8 && a.bytes().all(|b| b.is_ascii_alphanumeric()), "opaque: {a}");
                assert!(l.group.is_some() || !l.abusive, "a campaign account has its campaign");
            }
        }
        assert_eq!(rfc3339(START), "2026-03-02T00:00:00Z");
        assert_eq!(rfc3339(START + SPAN - 1), "2026-03-08T23:59:59Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn every_event_keeps_the_contract() {
        let p = population(11, 10_000);
        let (mut v6, mut odd_names, mut no_device, mut no_country, mut failed, mut genuine) =
            (0, 0, 0, 0, 0, 0);
        let mut emails = HashSet::new();
        for (e, l) in p.events.iter().zip(&p.labels) {
            let m = e.as_object().expect("an object");
            assert_eq!(text(e, "kind"), Some("signup"));
            let email = text(e, "email").unwrap();
            let (local, domain) = email.split_once('@').unwrap();
            assert!(!local.is_empty() && domain.contains('.'), "{email}");
            assert!(emails.insert(email), "one account per address");
            let ip: IpAddr = text(e, "ip").unwrap().parse().expect("an address");
            match ip {
                IpAddr::V4(a) => assert!(!matches!(a.octets()[0], 0 | 10 | 127 | 224..), "{a}"),
                IpAddr::V6(a) => {
                    v6 += 1;
                    assert!((0x2000..0x4000).contains(&a.segments()[0]), "{a}")
                }
            }
            assert!(matches!(text(e, "captcha"), Some("passed" | "failed" | "none")));
            for k in
                ["display_name", "recovery_email", "user_agent", "accept_language", "country", "device_id"]
            {
                assert!(m.get(k).is_none_or(Value::is_string), "{k}");
            }
            assert!(m.get("asn").is_none_or(Value::is_u64));
            assert!(text(e, "device_id").is_none_or(|d| d.starts_with("d-")));
            assert!(text(e, "recovery_email").is_none_or(|r| r.contains('@')));
            if !l.abusive {
                genuine += 1;
                no_device += usize::from(!m.contains_key("device_id"));
                no_country += usize::from(!m.contains_key("country"));
                failed += usize::from(text(e, "captcha") == Some("failed"));
                odd_names += usize::from(text(e, "display_name").is_some_and(|n| !n.is_ascii()));
            }
        }
        let share = |x: usize| x as f64 / genuine as f64;
        assert!(v6 > 200, "some IPv6: {v6}");
        assert!(odd_names > 300, "names with diacritics and in native scripts: {odd_names}");
        assert!((0.05..0.3).contains(&share(no_device)), "{}", share(no_device));
        assert!((0.02..0.1).contains(&share(no_country)), "{}", share(no_country));
        assert!((0.01..0.06).contains(&share(failed)), "{}", share(failed));
    }

    #[test]
    fn ten_thousand_events_hold_every_campaign_style_and_legitimate_group() {
        for seed in [1, 2, 3] {
            let p = population(seed, 10_000);
            let groups = by_group(&p);
            let abusive = p.labels.iter().filter(|l| l.abusive).count() as f64 / 1e4;
            assert!((0.10..=0.25).contains(&abusive), "{abusive}");
            let campaigns: Vec<_> = groups.iter().filter(|(g, _)| campaign(g)).collect();
            assert!(campaigns.iter().filter(|(_, es)| es.len() >= 20).count() >= 6);
            assert!((6..=30).contains(&campaigns.len()), "{}", campaigns.len());
            for (style, _) in STYLES {
                assert!(campaigns.iter().any(|(g, _)| g.starts_with(style)), "{style}");
            }
            for kind in ["university-", "carrier-nat-", "company-", "family-", "internet-cafe-"] {
                assert!(groups.keys().any(|g| g.starts_with(kind)), "{kind}");
            }
            for l in &p.labels {
                assert_eq!(l.abusive, l.group.as_deref().is_some_and(campaign), "{l:?}");
            }
        }
    }

    #[test]
    fn campaigns_have_their_styles_shapes() {
        let (mut seen, ps) = (HashMap::new(), [population(5, 10_000), population(6, 10_000)]);
        for (g, es) in ps.iter().flat_map(by_group) {
            let style = g.rsplit_once('-').unwrap().0.to_string();
            *seen.entry(style.clone()).or_insert(0) += 1;
            let ips = distinct(&es, "ip");
            match style.as_str() {
                "burst" => {
                    assert!(span(&es) < 2 * 3600, "{g} within two hours");
                    assert!(ips.iter().map(|ip| slash24(ip)).collect::<HashSet<_>>().len() <= 4, "{g}");
                    assert_eq!(distinct(&es, "user_agent").len(), 1, "{g} one user agent");
                }
                "drip" => {
                    assert!(span(&es) > DAY || es.len() < 5, "{g} over days");
                    assert_eq!(ips.len(), es.len(), "{g} each from another address");
                    assert!(distinct(&es, "country").len() >= 2 || es.len() < 10, "{g} proxies abroad");
                }
                "random" => {
                    assert!(span(&es) <= 5 * 3600, "{g}");
                    let asns: HashSet<_> = es.iter().filter_map(|e| e["asn"].as_u64()).collect();
                    assert!(asns.len() <= 3, "{g} few providers");
                    assert!(es.iter().all(|e| e.get("device_id").is_none()), "{g}");
                    if es.len() >= 20 {
                        assert!(distinct(&es, "user_agent").len() > es.len() / 3, "{g} varied agents");
                    }
                }
                "farm" => {
                    let devices = distinct(&es, "device_id");
                    assert!(
                        devices.len() * 5 <= es.len() + 9,
                        "{g} phones reused: {} for {}",
                        devices.len(),
                        es.len()
                    );
                    assert!(es.iter().all(|e| e.get("device_id").is_some()));
                    let hours: HashSet<i64> = es.iter().map(|e| secs(e) % DAY / 3600).collect();
                    assert!(hours.len() <= 10, "{g} working hours only");
                }
                _ => {}
            }
        }
        assert!(seen.len() >= 4 + 5, "{seen:?}");
    }

    #[test]
    fn legitimate_groups_look_like_campaigns_at_first_sight() {
        let p = population(9, 10_000);
        for (g, es) in by_group(&p) {
            let ips = distinct(&es, "ip");
            let kind = g.rsplit_once('-').unwrap().0;
            match kind {
                "carrier-nat" => {
                    assert!(ips.len() <= 6 && es.len() >= 3 * ips.len(), "{g} shares addresses");
                    assert!(span(&es) < DAY + 14 * 3600, "{g} in a day");
                }
                "university" => {
                    assert!(span(&es) <= 5 * 3600 && es.len() >= 20, "{g}");
                    assert!(ips.iter().map(|ip| slash24(ip)).collect::<HashSet<_>>().len() <= 3);
                    assert!(distinct(&es, "user_agent").len() <= 4);
                }
                "company" => {
                    assert!(span(&es) <= 2 * 3600, "{g}");
                    assert_eq!(distinct(&es, "user_agent").len(), 1);
                    let domains: HashSet<_> = es
                        .iter()
                        .filter_map(|e| text(e, "recovery_email")?.split_once('@'))
                        .map(|x| x.1)
                        .collect();
                    assert_eq!(domains.len(), 1, "{g} recovery at the company");
                }
                "internet-cafe" => assert_eq!(ips.len(), 1),
                _ => {}
            }
        }
    }

    #[test]
    fn genuine_users_keep_local_hours_and_share_carrier_addresses() {
        let p = population(13, 10_000);
        let (mut evening, mut night) = (0, 0);
        let mut per_ip_day: HashMap<(String, i64), usize> = HashMap::new();
        for (e, l) in p.events.iter().zip(&p.labels) {
            if l.group.is_some() {
                continue;
            }
            if text(e, "accept_language").is_some_and(|a| a.starts_with("de-DE"))
                && text(e, "country") == Some("DE")
            {
                match (secs(e) / 3600 + 1) % 24 {
                    18..=22 => evening += 1,
                    2..=5 => night += 1,
                    _ => {}
                }
            }
            *per_ip_day.entry((text(e, "ip").unwrap().to_string(), secs(e) / DAY)).or_default() += 1;
        }
        assert!(evening > 4 * night.max(1), "evening {evening}, night {night}");
        assert!(per_ip_day.values().filter(|&&n| n >= 3).count() >= 10, "CGNAT addresses shared");
    }

    #[test]
    fn the_tables_are_consistent() {
        let blocks: HashSet<[u8; 2]> = NETS.iter().map(|n| n.v4).collect();
        assert_eq!(blocks.len(), NETS.len(), "one /16 a network");
        assert!(NETS.iter().all(|n| !matches!(n.v4[0], 0 | 10 | 100 | 127 | 169 | 172 | 192 | 198 | 224..)));
        for (k, l) in COUNTRIES.iter().zip(LISTS.iter()) {
            for kind in [Residential, Mobile] {
                assert!(NETS.iter().any(|n| n.country == k.code && n.kind == kind), "{} {kind:?}", k.code);
            }
            assert!((20..=40).contains(&l.first.len()) && (20..=40).contains(&l.last.len()), "{}", k.code);
            if !l.native[0].is_empty() {
                assert_eq!(
                    (l.native[0].len(), l.native[1].len()),
                    (l.first.len(), l.last.len()),
                    "{}",
                    k.code
                );
            }
            for w in l.first.iter().chain(&l.last) {
                let folded: usize = w.chars().filter(|c| !c.is_ascii()).count();
                let known =
                    w.chars().flat_map(char::to_lowercase).filter(|c| FOLD.iter().any(|f| f.0.contains(*c)));
                assert_eq!(folded, known.count(), "{w} folds");
            }
            assert!(k.langs.iter().all(|t| t.contains('-')));
        }
        for code in FARM_COUNTRIES {
            country(code);
        }
        assert_eq!(ascii("Nguyễn Đặng"), "nguyendang");
        assert_eq!(feminine("Kowalski", true), "Kowalska");
        assert_eq!(feminine("Иванов", true), "Иванова");
    }

    #[test]
    fn a_hundred_thousand_events_are_made() {
        let p = population(42, 100_000);
        assert_eq!(p.events.len(), 100_000);
        let abusive = p.labels.iter().filter(|l| l.abusive).count();
        assert!((10_000..=25_000).contains(&abusive), "{abusive}");
    }
}
