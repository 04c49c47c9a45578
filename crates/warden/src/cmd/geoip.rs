//! `warden geoip lookup`: what the `[geoip]` databases say of addresses, one JSON line each,
//! so that an operator can check the files before a server reads them; `warden geoip asn-csv`:
//! a free ASN list published as CSV made into a database `[geoip] networks` can read.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};

#[derive(clap::Subcommand, Debug)]
pub enum Geoip {
    /// What the databases say of addresses: country, city, time zone, ASN (one JSON line each).
    Lookup(Args),
    /// Make a database of ASN ranges from CSV files (`first,last,number,organisation`, as the
    /// `@ip-location-db/asn` package ships them).
    AsnCsv {
        /// The database to write.
        #[arg(long)]
        out: PathBuf,
        /// The CSV files (IPv4 and IPv6 ones go into the same database).
        #[arg(required = true)]
        csv: Vec<PathBuf>,
    },
}

pub fn run(g: Geoip) -> Result<ExitCode> {
    match g {
        Geoip::Lookup(a) => lookup(a),
        Geoip::AsnCsv { out, csv } => asn_csv(&out, &csv).map(|()| ExitCode::SUCCESS),
    }
}

fn asn_csv(out: &std::path::Path, files: &[PathBuf]) -> Result<()> {
    let mut w = warden_geo::write::Writer::v6("ip-location-db-asn");
    let mut done = warden_geo::convert::Converted::default();
    for f in files {
        let input = std::fs::File::open(f).with_context(|| format!("{}", f.display()))?;
        warden_geo::convert::add_asn_csv(&mut w, std::io::BufReader::new(input), &mut done)
            .with_context(|| format!("{}", f.display()))?;
    }
    let bytes = w.to_bytes()?;
    let tmp = out.with_extension("mmdb.tmp");
    std::fs::write(&tmp, &bytes).with_context(|| format!("{}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("{}", out.display()))?;
    for s in &done.skipped {
        eprintln!("left out: {s}");
    }
    eprintln!(
        "{}: {} ranges as {} networks, {} lines left out, {} tree nodes, {} bytes",
        out.display(),
        done.ranges,
        done.networks,
        done.skipped_count,
        w.nodes(),
        bytes.len()
    );
    Ok(())
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configuration file (TOML) whose `[geoip]` names the databases.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Location databases (city or country), after the configuration's.
    #[arg(long = "locations")]
    locations: Vec<PathBuf>,
    /// Network (ASN) databases, after the configuration's.
    #[arg(long = "networks")]
    networks: Vec<PathBuf>,
    /// The addresses.
    #[arg(required = true)]
    ips: Vec<String>,
}

fn lookup(a: Args) -> Result<ExitCode> {
    let mut g = match &a.config {
        Some(path) => warden_server::Settings::read(Some(path), std::env::vars())?.geoip,
        None => Default::default(),
    };
    g.locations.extend(a.locations);
    g.networks.extend(a.networks);
    let geo = warden_server::open_geo(&g)?;
    eprintln!("geoip: {}", geo.describe());
    let mut failed = false;
    for text in &a.ips {
        let line =
            match text.trim().parse::<IpAddr>().with_context(|| format!("{text:?} is not an IP address")) {
                Ok(ip) => {
                    let p = geo.lookup(ip);
                    serde_json::json!({
                        "ip": ip.to_string(), "country": p.country, "city": p.city, "time_zone": p.time_zone,
                        "asn": p.asn, "as_org": p.as_org,
                    })
                }
                Err(e) => {
                    failed = true;
                    serde_json::json!({ "ip": text, "error": format!("{e:#}") })
                }
            };
        println!("{line}");
    }
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
