//! Where an IP address is: its country, its city and time zone, its autonomous system, read
//! from MaxMind-format databases (`.mmdb`, with the `maxminddb` crate). Any number of files
//! give locations and any number give networks (ASNs), so that a country file and a city file,
//! or an IPv4 file and an IPv6 file, work together: each field comes from the first file, in
//! the order given, that knows it.
//!
//! Both layouts free databases come in are read:
//! - MaxMind's GeoIP2 and GeoLite2: `country.iso_code` (else `registered_country.iso_code`),
//!   `city.names.en`, `location.time_zone`;
//! - the flat layout of the `@ip-location-db` npm packages: `country_code`, `city`, `timezone`.
//!
//! ASN databases share one layout: `autonomous_system_number`, `autonomous_system_organization`.
//!
//! Without databases everything still works: every lookup answers "unknown", and
//! [`Geo::describe`] says so (the server shows it in `/readyz`).

pub mod convert;
pub mod write;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What is known of an address; `None` where no database knows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Place {
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// The city's English name.
    pub city: Option<String>,
    /// The IANA time zone (`Europe/Rome`).
    pub time_zone: Option<String>,
    /// The autonomous system's number.
    pub asn: Option<u32>,
    /// The autonomous system's organisation.
    pub as_org: Option<String>,
}

/// Why a database cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", path.display())]
pub struct GeoError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub error: String,
}

/// One open database.
struct Db {
    path: PathBuf,
    reader: maxminddb::Reader<Vec<u8>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The databases in use.
#[derive(Debug, Default)]
pub struct Geo {
    locations: Vec<Db>,
    networks: Vec<Db>,
}

/// A record as either layout writes it; fields absent from a file stay `None`.
#[derive(Debug, Default, Deserialize)]
struct Record {
    country: Option<Country>,
    registered_country: Option<Country>,
    city: Option<City>,
    location: Option<Location>,
    country_code: Option<String>,
    timezone: Option<String>,
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Country {
    iso_code: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Location {
    time_zone: Option<String>,
}

/// A city: a name (flat layout) or a map of names by language (GeoIP2).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum City {
    Name(String),
    Names { names: Option<BTreeMap<String, String>> },
}

impl Geo {
    /// No databases: every lookup answers "unknown".
    pub fn none() -> Geo {
        Geo::default()
    }

    /// Opens location databases and network (ASN) databases. A file that cannot be read or is
    /// not a MaxMind DB is an error naming it.
    pub fn open(locations: &[PathBuf], networks: &[PathBuf]) -> Result<Geo, GeoError> {
        let open = |path: &PathBuf| -> Result<Db, GeoError> {
            let bytes =
                std::fs::read(path).map_err(|e| GeoError { path: path.clone(), error: e.to_string() })?;
            let reader = maxminddb::Reader::from_source(bytes).map_err(|e| GeoError {
                path: path.clone(),
                error: format!("not a MaxMind DB file ({e})"),
            })?;
            Ok(Db { path: path.clone(), reader })
        };
        Ok(Geo {
            locations: locations.iter().map(open).collect::<Result<_, _>>()?,
            networks: networks.iter().map(open).collect::<Result<_, _>>()?,
        })
    }

    /// Whether no database is open.
    pub fn is_empty(&self) -> bool {
        self.locations.is_empty() && self.networks.is_empty()
    }

    /// What an operator should know: the files in use and what each holds, or that there are
    /// none and what that means.
    pub fn describe(&self) -> String {
        if self.is_empty() {
            return "no databases ([geoip] locations and networks are empty): countries, time zones and ASNs \
                    are unknown unless the caller gives them; scripts/geoip-install.sh installs free ones"
                .to_owned();
        }
        let list = |dbs: &[Db]| {
            dbs.iter()
                .map(|d| {
                    format!(
                        "{} ({}, IPv{})",
                        d.path.display(),
                        d.reader.metadata().database_type,
                        d.reader.metadata().ip_version
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let none =
            |dbs: &[Db], what: &str| if dbs.is_empty() { format!("no {what} databases") } else { list(dbs) };
        format!(
            "locations: {}; networks: {}",
            none(&self.locations, "location"),
            none(&self.networks, "network")
        )
    }

    /// What the databases know of `ip` (an IPv4-mapped IPv6 address is looked up as IPv4).
    pub fn lookup(&self, ip: IpAddr) -> Place {
        let ip = ip.to_canonical();
        let mut place = Place::default();
        for db in &self.locations {
            let Some(r) = read(db, ip) else { continue };
            let country = (r.country.and_then(|c| c.iso_code))
                .or(r.country_code)
                .or_else(|| r.registered_country.and_then(|c| c.iso_code));
            fill(&mut place.country, country.map(|c| c.to_ascii_uppercase()));
            fill(
                &mut place.city,
                r.city.and_then(|c| match c {
                    City::Name(n) => Some(n),
                    City::Names { names } => names.and_then(|mut n| n.remove("en")),
                }),
            );
            fill(&mut place.time_zone, r.location.and_then(|l| l.time_zone).or(r.timezone));
        }
        for db in &self.networks {
            let Some(r) = read(db, ip) else { continue };
            fill(&mut place.asn, r.autonomous_system_number);
            fill(&mut place.as_org, r.autonomous_system_organization);
        }
        place
    }

    /// The files in use, locations first.
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.locations.iter().chain(&self.networks).map(|d| d.path.as_path())
    }
}

/// Takes `bytes` as a database and as an ASN CSV file, and looks addresses up: whatever the
/// bytes, it returns. For the fuzzer (`fuzz/fuzz_targets/geo.rs`).
#[doc(hidden)]
pub fn fuzz(bytes: &[u8]) {
    if let Ok(reader) = maxminddb::Reader::from_source(bytes.to_vec()) {
        let db = Db { path: PathBuf::from("fuzz.mmdb"), reader };
        let geo = Geo { locations: vec![], networks: vec![] };
        for ip in ["0.0.0.0", "203.0.113.7", "255.255.255.255", "::", "2001:db8::1", "ffff::1"] {
            let _ = read(&db, ip.parse().expect("an address"));
        }
        let geo = Geo { locations: vec![db], ..geo };
        let _ = geo.lookup("198.51.100.1".parse().expect("an address"));
        let _ = geo.describe();
    }
    let mut w = write::Writer::v6("fuzz");
    let mut done = convert::Converted::default();
    if convert::add_asn_csv(&mut w, bytes, &mut done).is_ok() {
        let _ = w.to_bytes();
    }
}

/// Sets `slot` unless an earlier file set it; empty strings count as unknown.
fn fill<T: PartialEq + Default>(slot: &mut Option<T>, value: Option<T>) {
    if slot.is_none() {
        *slot = value.filter(|v| *v != T::default());
    }
}

/// The record of `ip` in `db`: `None` when the file has none, cannot hold the address (IPv6 in
/// an IPv4 file) or its record cannot be read.
fn read(db: &Db, ip: IpAddr) -> Option<Record> {
    if ip.is_ipv6() && db.reader.metadata().ip_version == 4 {
        return None;
    }
    db.reader.lookup(ip).ok()?.decode::<Record>().ok().flatten()
}

#[cfg(test)]
mod tests;
