//! Writes seeds for the GeoIP fuzzer into a folder: a small database of each layout and an ASN
//! CSV file, so that the fuzzer starts from inputs that get deep into the readers.

use warden_geo::write::{Value, Writer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: geo_seeds DIR")?;
    std::fs::create_dir_all(&dir)?;
    let mut city = Writer::v6("GeoLite2-City");
    let rome = Value::map([
        ("city", Value::map([("names", Value::map([("en", Value::str("Rome"))]))])),
        ("country", Value::map([("iso_code", Value::str("IT"))])),
        ("location", Value::map([("time_zone", Value::str("Europe/Rome"))])),
    ]);
    city.insert("203.0.113.0".parse()?, 24, &rome)?;
    std::fs::write(format!("{dir}/city.mmdb"), city.to_bytes()?)?;
    let mut flat = Writer::v4("dbip-city-ipv4");
    let v = Value::map([
        ("country_code", Value::str("BR")),
        ("city", Value::str("Recife")),
        ("timezone", Value::str("America/Recife")),
    ]);
    flat.insert("198.51.100.0".parse()?, 24, &v)?;
    std::fs::write(format!("{dir}/flat.mmdb"), flat.to_bytes()?)?;
    let mut asn = Writer::v6("GeoLite2-ASN");
    let v = Value::map([
        ("autonomous_system_number", Value::U32(3269)),
        ("autonomous_system_organization", Value::str("TI")),
    ]);
    asn.insert("2001:db8::".parse()?, 32, &v)?;
    std::fs::write(format!("{dir}/asn.mmdb"), asn.to_bytes()?)?;
    std::fs::write(
        format!("{dir}/asn.csv"),
        "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n2001:db8::,2001:db8::ffff,64500,Example\n",
    )?;
    Ok(())
}
