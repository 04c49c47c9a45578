//! A small writer of MaxMind DB files (format 2.0, 24- or 32-bit records), so that tests and
//! fixtures make their own databases (no test may fetch the free ones), and so that a free ASN
//! list published only as CSV becomes a database ([`crate::convert`]). Written here because no
//! crate on this toolchain writes the format; it writes only what the reader needs (strings,
//! unsigned integers, doubles, maps, arrays), stores each distinct value once, and refuses
//! overlapping networks rather than splitting them.

use std::collections::HashMap;
use std::net::IpAddr;

/// A value of the data section.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A UTF-8 string.
    Str(String),
    /// An unsigned 16-bit integer.
    U16(u16),
    /// An unsigned 32-bit integer.
    U32(u32),
    /// An unsigned 64-bit integer.
    U64(u64),
    /// A double.
    F64(f64),
    /// A map with string keys, in the order given.
    Map(Vec<(String, Value)>),
    /// An array.
    Array(Vec<Value>),
}

impl Value {
    /// A map from `(key, value)` pairs.
    pub fn map<const N: usize>(pairs: [(&str, Value); N]) -> Value {
        Value::Map(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
    }

    /// A string.
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Record {
    Empty,
    Node(u32),
    Data(u32),
}

/// A database being written.
#[derive(Debug)]
pub struct Writer {
    database_type: String,
    ip_version: u16,
    nodes: Vec<[Record; 2]>,
    data: Vec<u8>,
    /// Each distinct value's place in `data`.
    stored: HashMap<Vec<u8>, u32>,
}

/// Why a network cannot be inserted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// An IPv6 network in an IPv4 database, or a prefix longer than the address.
    #[error("{0}")]
    Network(String),
    /// The network overlaps one inserted before.
    #[error("{0} overlaps a network inserted before")]
    Overlap(String),
    /// The tree or the data outgrew 32-bit records.
    #[error("too large for 32-bit records")]
    TooLarge,
}

impl Writer {
    /// An IPv6 database (IPv4 networks go under `::/96`, where readers look for them).
    pub fn v6(database_type: &str) -> Writer {
        Writer {
            database_type: database_type.to_owned(),
            ip_version: 6,
            nodes: vec![[Record::Empty; 2]],
            data: Vec::new(),
            stored: HashMap::new(),
        }
    }

    /// An IPv4 database, as the `@ip-location-db` packages ship one beside an IPv6 one.
    pub fn v4(database_type: &str) -> Writer {
        Writer { ip_version: 4, ..Writer::v6(database_type) }
    }

    /// Maps the network `addr/prefix` to `value`.
    pub fn insert(&mut self, addr: IpAddr, prefix: u8, value: &Value) -> Result<(), WriteError> {
        let name = format!("{addr}/{prefix}");
        let (bits, len): (u128, u8) = match (addr, self.ip_version) {
            (IpAddr::V4(a), 4) => (u128::from(u32::from(a)) << 96, prefix),
            (IpAddr::V4(a), _) => (u128::from(u32::from(a)), prefix.saturating_add(96)),
            (IpAddr::V6(a), 6) => (u128::from(a), prefix),
            (IpAddr::V6(_), _) => {
                return Err(WriteError::Network(format!("{name}: IPv6 in an IPv4 database")));
            }
        };
        let width = if self.ip_version == 4 { 32 } else { 128 };
        if len == 0 || len > width || prefix > if addr.is_ipv4() { 32 } else { 128 } {
            return Err(WriteError::Network(format!("{name}: no such prefix")));
        }
        let mut bytes = Vec::new();
        encode(value, &mut bytes);
        let offset = match self.stored.get(&bytes) {
            Some(&at) => at,
            None => {
                let at = u32::try_from(self.data.len()).map_err(|_| WriteError::TooLarge)?;
                self.data.extend_from_slice(&bytes);
                self.stored.insert(bytes, at);
                at
            }
        };
        let mut node = 0usize;
        for i in 0..len {
            // In an IPv4 database the address sits in the top 32 bits of `bits`.
            let bit = ((bits >> (127 - u32::from(i))) & 1) as usize;
            if i + 1 == len {
                if self.nodes[node][bit] != Record::Empty {
                    return Err(WriteError::Overlap(name));
                }
                self.nodes[node][bit] = Record::Data(offset);
            } else {
                node = match self.nodes[node][bit] {
                    Record::Node(n) => n as usize,
                    Record::Empty => {
                        self.nodes.push([Record::Empty; 2]);
                        let n = self.nodes.len() - 1;
                        self.nodes[node][bit] = Record::Node(n as u32);
                        n
                    }
                    Record::Data(_) => return Err(WriteError::Overlap(name)),
                };
            }
        }
        Ok(())
    }

    /// Networks' tree nodes so far.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The database's bytes: search tree (24-bit records when they suffice, else 32-bit), data
    /// section, metadata.
    pub fn to_bytes(&self) -> Result<Vec<u8>, WriteError> {
        let count = self.nodes.len() as u64;
        let value = |r: Record| -> u64 {
            match r {
                Record::Empty => count,
                Record::Node(n) => u64::from(n),
                Record::Data(off) => count + 16 + u64::from(off),
            }
        };
        let largest = count + 16 + self.data.len() as u64;
        let record_size: u16 = if largest < 1 << 24 {
            24
        } else if largest < 1 << 32 {
            32
        } else {
            return Err(WriteError::TooLarge);
        };
        let skip = if record_size == 24 { 1 } else { 0 };
        let mut out = Vec::with_capacity(self.nodes.len() * 8 + 16 + self.data.len() + 256);
        for [left, right] in &self.nodes {
            out.extend_from_slice(&(value(*left) as u32).to_be_bytes()[skip..]);
            out.extend_from_slice(&(value(*right) as u32).to_be_bytes()[skip..]);
        }
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let metadata = Value::map([
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(1_780_000_000)),
            ("database_type", Value::str(&self.database_type)),
            ("description", Value::map([("en", Value::str("written by warden-geo for a test"))])),
            ("ip_version", Value::U16(self.ip_version)),
            ("languages", Value::Array(vec![Value::str("en")])),
            ("node_count", Value::U32(self.nodes.len() as u32)),
            ("record_size", Value::U16(record_size)),
        ]);
        encode(&metadata, &mut out);
        Ok(out)
    }
}

/// The control byte(s) of a value: its type (extended types, 8 and up, in a byte of their own)
/// and its size.
fn control(kind: u8, size: usize, out: &mut Vec<u8>) {
    let (head, extra): (u8, Vec<u8>) = match size {
        0..29 => (size as u8, vec![]),
        29..285 => (29, vec![(size - 29) as u8]),
        285..65_821 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if kind < 8 {
        out.push(kind << 5 | head);
    } else {
        out.push(head);
        out.push(kind - 7);
    }
    out.extend_from_slice(&extra);
}

fn unsigned(kind: u8, n: u64, out: &mut Vec<u8>) {
    let bytes = n.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    control(kind, 8 - skip, out);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => {
            control(2, s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        Value::F64(x) => {
            control(3, 8, out);
            out.extend_from_slice(&x.to_be_bytes());
        }
        Value::U16(n) => unsigned(5, u64::from(*n), out),
        Value::U32(n) => unsigned(6, u64::from(*n), out),
        Value::U64(n) => unsigned(9, *n, out),
        Value::Map(pairs) => {
            control(7, pairs.len(), out);
            for (k, v) in pairs {
                encode(&Value::Str(k.clone()), out);
                encode(v, out);
            }
        }
        Value::Array(items) => {
            control(11, items.len(), out);
            for v in items {
                encode(v, out);
            }
        }
    }
}
