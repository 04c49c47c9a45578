//! Free ASN lists published as CSV (the `@ip-location-db/asn` npm package:
//! `first,last,number,organisation`, one range a line, IPv4 and IPv6 in files of their own)
//! made into one MaxMind DB in the ASN layout, so that `[geoip] networks` can read them.

use std::io::Read;
use std::net::IpAddr;

use crate::write::{Value, WriteError, Writer};

/// What a conversion did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Converted {
    /// Ranges read.
    pub ranges: u64,
    /// Networks (CIDR blocks) written for them.
    pub networks: u64,
    /// Lines left out, with why (first few), and how many in all.
    pub skipped: Vec<String>,
    /// Lines left out.
    pub skipped_count: u64,
}

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The CSV cannot be read.
    #[error("{0}")]
    Csv(#[from] csv::Error),
    /// The database cannot be written.
    #[error("{0}")]
    Write(#[from] WriteError),
}

/// The CIDR blocks that cover `first..=last` exactly, as (first address, prefix length), in
/// `width`-bit space (32 or 128).
pub fn cidrs(first: u128, last: u128, width: u8) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    let mut start = first;
    loop {
        // The largest block that starts at `start` (aligned) and ends at or before `last`.
        let align = if start == 0 { u32::from(width) } else { start.trailing_zeros().min(u32::from(width)) };
        // The offset of a block's last address from its first: 2^bits - 1.
        let span = |bits: u32| if bits >= 128 { u128::MAX } else { (1u128 << bits) - 1 };
        let mut bits = align;
        while bits > 0 && start + span(bits) > last {
            bits -= 1;
        }
        out.push((start, width - bits as u8));
        let end = start + span(bits);
        if end >= last {
            break;
        }
        start = end + 1;
    }
    out
}

fn parse(ip: &str) -> Option<(u128, u8)> {
    match ip.trim().parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => Some((u128::from(u32::from(a)), 32)),
        IpAddr::V6(a) => Some((u128::from(a), 128)),
    }
}

fn addr(bits: u128, width: u8) -> IpAddr {
    if width == 32 { IpAddr::from((bits as u32).to_be_bytes()) } else { IpAddr::from(bits.to_be_bytes()) }
}

/// Adds the ranges of one CSV file to `w`. A line that is not a range of one family with a
/// number, or that overlaps a range before it, is left out and counted.
pub fn add_asn_csv(w: &mut Writer, input: impl Read, done: &mut Converted) -> Result<(), ConvertError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(input);
    let skip = |done: &mut Converted, line: u64, why: String| {
        done.skipped_count += 1;
        if done.skipped.len() < 10 {
            done.skipped.push(format!("line {line}: {why}"));
        }
    };
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 1;
        let record = record?;
        let (Some(first), Some(last), Some(number)) = (record.get(0), record.get(1), record.get(2)) else {
            skip(done, line, "fewer than three fields".into());
            continue;
        };
        let range = parse(first).zip(parse(last)).filter(|((a, wa), (b, wb))| wa == wb && a <= b);
        let (Some(((a, width), (b, _))), Ok(number)) = (range, number.trim().parse::<u32>()) else {
            skip(done, line, format!("not a range with a number: {first},{last},{number}"));
            continue;
        };
        let mut value = vec![("autonomous_system_number".to_owned(), Value::U32(number))];
        if let Some(org) = record.get(3).map(str::trim).filter(|o| !o.is_empty()) {
            value.push(("autonomous_system_organization".to_owned(), Value::str(org)));
        }
        let value = Value::Map(value);
        done.ranges += 1;
        for (start, prefix) in cidrs(a, b, width) {
            match w.insert(addr(start, width), prefix, &value) {
                Ok(()) => done.networks += 1,
                Err(WriteError::Overlap(net)) => {
                    skip(done, line, format!("{net} overlaps a range before it"))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ranges_become_the_blocks_that_cover_them() {
        assert_eq!(cidrs(0x0100_0000, 0x0100_00ff, 32), [(0x0100_0000, 24)]);
        // 1.0.4.0 - 1.0.7.255 is one /22.
        assert_eq!(cidrs(0x0100_0400, 0x0100_07ff, 32), [(0x0100_0400, 22)]);
        // 10.0.0.1 - 10.0.0.6: .1/32, .2/31, .4/31, .6/32.
        let a = 0x0a00_0000;
        assert_eq!(cidrs(a + 1, a + 6, 32), [(a + 1, 32), (a + 2, 31), (a + 4, 31), (a + 6, 32)]);
        assert_eq!(cidrs(0, u128::from(u32::MAX), 32), [(0, 0)]);
        assert_eq!(cidrs(0, u128::MAX, 128), [(0, 0)]);
    }

    proptest! {
        #[test]
        fn blocks_cover_the_range_exactly_and_in_order(a in 0u32.., len in 0u32..100_000) {
            let (first, last) = (u128::from(a), u128::from(a.saturating_add(len)));
            let blocks = cidrs(first, last, 32);
            let mut next = first;
            for (start, prefix) in blocks {
                prop_assert_eq!(start, next, "contiguous");
                let size = 1u128 << (32 - prefix);
                prop_assert_eq!(start % size, 0, "aligned");
                next = start + size;
            }
            prop_assert_eq!(next, last + 1, "ends at the range's end");
        }
    }

    #[test]
    fn an_asn_csv_becomes_a_database_the_reader_reads() {
        let csv = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
                   1.0.4.0,1.0.7.255,38803,Gtelecom Pty Ltd\n\
                   1.0.4.0,1.0.4.255,1,Overlapping\n\
                   not,a,range\n\
                   2001:db8::,2001:db8:ffff:ffff:ffff:ffff:ffff:ffff,64500,\n";
        let mut w = Writer::v6("ip-location-db-asn");
        let mut done = Converted::default();
        add_asn_csv(&mut w, csv.as_bytes(), &mut done).unwrap();
        assert_eq!((done.ranges, done.networks, done.skipped_count), (4, 3, 2), "{:?}", done.skipped);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("asn.mmdb");
        std::fs::write(&path, w.to_bytes().unwrap()).unwrap();
        let geo = crate::Geo::open(&[], &[path]).unwrap();
        let cf = geo.lookup("1.0.0.1".parse().unwrap());
        assert_eq!((cf.asn, cf.as_org.as_deref()), (Some(13335), Some("Cloudflare, Inc.")));
        assert_eq!(
            geo.lookup("1.0.5.9".parse().unwrap()).asn,
            Some(38803),
            "the overlapping line was left out"
        );
        let v6 = geo.lookup("2001:db8::1".parse().unwrap());
        assert_eq!((v6.asn, v6.as_org), (Some(64500), None));
        assert_eq!(geo.lookup("1.0.8.1".parse().unwrap()).asn, None);
    }
}
