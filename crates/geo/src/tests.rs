use std::net::IpAddr;

use super::write::{Value, Writer};
use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn save(dir: &Path, name: &str, w: &Writer) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
    path
}

/// A GeoLite2-City-shaped database: Rome for 203.0.113.0/24, a country alone for 2001:db8::/32.
fn maxmind_city(dir: &Path) -> PathBuf {
    let mut w = Writer::v6("GeoLite2-City");
    let rome = Value::map([
        (
            "city",
            Value::map([
                ("geoname_id", Value::U32(3_169_070)),
                ("names", Value::map([("en", Value::str("Rome")), ("it", Value::str("Roma"))])),
            ]),
        ),
        (
            "country",
            Value::map([
                ("iso_code", Value::str("IT")),
                ("names", Value::map([("en", Value::str("Italy"))])),
            ]),
        ),
        (
            "location",
            Value::map([
                ("latitude", Value::F64(41.89)),
                ("longitude", Value::F64(12.48)),
                ("time_zone", Value::str("Europe/Rome")),
            ]),
        ),
    ]);
    w.insert(ip("203.0.113.0"), 24, &rome).unwrap();
    let registered = Value::map([("registered_country", Value::map([("iso_code", Value::str("DE"))]))]);
    w.insert(ip("2001:db8::"), 32, &registered).unwrap();
    save(dir, "city.mmdb", &w)
}

/// An `@ip-location-db` city file, IPv4 only, flat: it knows 198.51.100.0/24 and, less well,
/// the network the MaxMind file knows too.
fn flat_city(dir: &Path) -> PathBuf {
    let mut w = Writer::v4("dbip-city-ipv4");
    let flat = |cc: &str, city: &str, tz: &str| {
        Value::map([
            ("country_code", Value::str(cc)),
            ("state1", Value::str("")),
            ("city", Value::str(city)),
            ("latitude", Value::F64(-23.5)),
            ("longitude", Value::F64(-46.6)),
            ("timezone", Value::str(tz)),
        ])
    };
    w.insert(ip("198.51.100.0"), 24, &flat("br", "São Paulo", "America/Sao_Paulo")).unwrap();
    w.insert(ip("203.0.113.0"), 25, &flat("FR", "Paris", "Europe/Paris")).unwrap();
    save(dir, "dbip-city-ipv4.mmdb", &w)
}

fn asn(dir: &Path) -> PathBuf {
    let mut w = Writer::v6("GeoLite2-ASN");
    let net = |n: u32, org: &str| {
        Value::map([
            ("autonomous_system_number", Value::U32(n)),
            ("autonomous_system_organization", Value::str(org)),
        ])
    };
    w.insert(ip("203.0.113.0"), 24, &net(3269, "Telecom Italia")).unwrap();
    w.insert(ip("2001:db8::"), 32, &net(64_500, "Example IPv6 Net")).unwrap();
    save(dir, "asn.mmdb", &w)
}

#[test]
fn both_layouts_are_read_and_the_first_file_that_knows_a_field_gives_it() {
    let dir = tempfile::tempdir().unwrap();
    let geo = Geo::open(&[maxmind_city(dir.path()), flat_city(dir.path())], &[asn(dir.path())]).unwrap();
    let rome = geo.lookup(ip("203.0.113.7"));
    assert_eq!(
        rome,
        Place {
            country: Some("IT".into()),
            city: Some("Rome".into()),
            time_zone: Some("Europe/Rome".into()),
            asn: Some(3269),
            as_org: Some("Telecom Italia".into()),
        },
        "the MaxMind file comes first, so its Rome wins over the flat file's Paris"
    );
    let sao_paulo = geo.lookup(ip("198.51.100.200"));
    assert_eq!(sao_paulo.country.as_deref(), Some("BR"), "flat layout, upper-cased");
    assert_eq!(sao_paulo.city.as_deref(), Some("São Paulo"));
    assert_eq!(sao_paulo.time_zone.as_deref(), Some("America/Sao_Paulo"));
    assert_eq!(sao_paulo.asn, None, "no network file knows it");
    let v6 = geo.lookup(ip("2001:db8:1::5"));
    assert_eq!(v6.country.as_deref(), Some("DE"), "the registered country when no other is given");
    assert_eq!(v6.asn, Some(64_500));
    assert_eq!(geo.lookup(ip("::ffff:203.0.113.9")), rome, "an IPv4-mapped address is its IPv4 address");
    assert_eq!(geo.lookup(ip("192.0.2.1")), Place::default(), "an address no file knows");

    // In the other order the flat file's Paris comes first for its half of the network.
    let geo = Geo::open(&[flat_city(dir.path()), maxmind_city(dir.path())], &[]).unwrap();
    assert_eq!(geo.lookup(ip("203.0.113.7")).city.as_deref(), Some("Paris"));
    assert_eq!(geo.lookup(ip("203.0.113.200")).city.as_deref(), Some("Rome"));
    assert!(geo.describe().contains("dbip-city-ipv4.mmdb (dbip-city-ipv4, IPv4)"), "{}", geo.describe());
    assert!(geo.describe().contains("no network databases"), "{}", geo.describe());
}

#[test]
fn without_databases_everything_is_unknown_and_it_says_so() {
    let geo = Geo::none();
    assert!(geo.is_empty());
    assert_eq!(geo.lookup(ip("203.0.113.7")), Place::default());
    assert!(geo.describe().starts_with("no databases"), "{}", geo.describe());
}

#[test]
fn a_missing_or_damaged_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.mmdb");
    let err = Geo::open(std::slice::from_ref(&missing), &[]).unwrap_err();
    assert_eq!(err.path, missing);
    let good = std::fs::read(asn(dir.path())).unwrap();
    for (name, bytes) in [
        ("empty.mmdb", Vec::new()),
        ("text.mmdb", b"country_code,IT\n".to_vec()),
        ("torn.mmdb", good[..good.len() - 40].to_vec()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &bytes).unwrap();
        let err = Geo::open(&[], std::slice::from_ref(&path)).unwrap_err();
        assert_eq!(err.path, path, "{name}");
        assert!(err.to_string().starts_with(&path.display().to_string()), "{err}");
    }
}

#[test]
fn the_writer_refuses_what_it_cannot_write() {
    let mut w = Writer::v4("t");
    assert!(w.insert(ip("2001:db8::"), 32, &Value::U32(1)).is_err(), "IPv6 in an IPv4 file");
    assert!(w.insert(ip("192.0.2.0"), 33, &Value::U32(1)).is_err(), "a prefix longer than the address");
    w.insert(ip("192.0.2.0"), 24, &Value::U32(1)).unwrap();
    assert!(w.insert(ip("192.0.2.128"), 25, &Value::U32(2)).is_err(), "inside a network already mapped");
    assert!(w.insert(ip("192.0.0.0"), 16, &Value::U32(3)).is_err(), "around a network already mapped");
}

proptest::proptest! {
    /// Every address inside an inserted network reads back its value; addresses outside read
    /// nothing (the writer and the reader agree on the tree).
    #[test]
    fn written_networks_read_back(nets in proptest::collection::btree_map(0u32..256, 0u32..1000, 1..20), probe in 0u32..256) {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Writer::v6("GeoLite2-ASN");
        for (&net, &asn) in &nets {
            let base = IpAddr::from([10, 0, net as u8, 0]);
            let value = Value::map([("autonomous_system_number", Value::U32(asn + 1))]);
            w.insert(base, 24, &value).unwrap();
        }
        let path = save(dir.path(), "p.mmdb", &w);
        let geo = Geo::open(&[], &[path]).unwrap();
        let got = geo.lookup(IpAddr::from([10, 0, probe as u8, 77])).asn;
        proptest::prop_assert_eq!(got, nets.get(&probe).map(|a| a + 1));
    }
}
