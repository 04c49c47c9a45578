//! What a rule can read: the fields of one kind of event, each with its type.
//!
//! A catalogue is versioned: a field is never renamed or given another type within a
//! version, so a rule file that checks against version N keeps meaning the same thing.

use std::net::IpAddr;

/// The type of a field or an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// `true` or `false`.
    Bool,
    /// A whole number.
    Int,
    /// A number with a fraction (the model's probability and score).
    Float,
    /// Text.
    Str,
    /// An IPv4 or IPv6 address.
    Ip,
    /// Several texts (the message's URL domains): a test on it holds when it holds for any one.
    StrList,
}

impl Type {
    /// How the type reads in an error message.
    pub fn describe(self) -> &'static str {
        match self {
            Type::Bool => "a boolean",
            Type::Int => "a whole number",
            Type::Float => "a number",
            Type::Str => "a string",
            Type::Ip => "an IP address",
            Type::StrList => "a list of strings",
        }
    }

    pub(crate) fn numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float)
    }

    pub(crate) fn textual(self) -> bool {
        matches!(self, Type::Str | Type::StrList)
    }
}

/// One field: its name (`mail.from_domain`), type and meaning, and the kind of entity it
/// names, if it names one.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// The name rules use: the kind's name, a dot, the field's.
    pub name: &'static str,
    /// Its type.
    pub ty: Type,
    /// What it holds.
    pub doc: &'static str,
    /// The kind of entity its value names (`domain`, `ip`, `account`), as labels and the desk
    /// record it; `None` when a value is no entity (a subject, a size).
    pub entity: Option<&'static str>,
}

impl FieldDef {
    /// A field that names no entity.
    pub const fn new(name: &'static str, ty: Type, doc: &'static str) -> Self {
        FieldDef { name, ty, doc, entity: None }
    }

    /// The field, naming entities of the kind `entity`.
    pub const fn naming(self, entity: &'static str) -> Self {
        FieldDef { entity: Some(entity), ..self }
    }
}

/// The fields of one kind of event, and the actions a rule may force on it. Each kind's crate
/// has its own catalogue; this crate knows none.
#[derive(Debug, Clone)]
pub struct Catalogue {
    /// The kind of event (`mail`).
    pub kind: &'static str,
    /// The catalogue's version.
    pub version: u32,
    /// Its fields, in slot order.
    pub fields: &'static [FieldDef],
    /// Actions, mildest first: when rules force several, the harshest wins.
    pub actions: &'static [&'static str],
}

impl Catalogue {
    /// The slot and type of a field.
    pub fn field(&self, name: &str) -> Option<(usize, Type)> {
        self.fields.iter().position(|f| f.name == name).map(|i| (i, self.fields[i].ty))
    }

    /// The kind of entity a field names, as labels record it: the field's own entity kind, or
    /// its name when it has none.
    pub fn entity_kind<'a>(&self, field: &'a str) -> &'a str {
        self.fields.iter().find(|f| f.name == field).and_then(|f| f.entity).unwrap_or(field)
    }

    /// The model's output, every catalogue's last two fields: `model.probability` and
    /// `model.score`.
    pub const MODEL_FIELDS: [FieldDef; 2] = [
        FieldDef::new(
            "model.probability",
            Type::Float,
            "the model's probability that the event is abusive, 0 to 1",
        ),
        FieldDef::new("model.score", Type::Float, "the model's log-odds"),
    ];
}

/// A field's value for one event.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Not known for this event: every test on it is false.
    #[default]
    Missing,
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A number.
    Float(f64),
    /// Text.
    Str(String),
    /// An address.
    Ip(IpAddr),
    /// Several texts.
    StrList(Vec<String>),
}

/// One event's fields, by slot, as a catalogue lays them out.
#[derive(Debug, Clone)]
pub struct Record {
    catalogue: &'static Catalogue,
    values: Vec<Value>,
}

/// A value that does not have its field's type.
#[derive(Debug, thiserror::Error)]
#[error("{field} is {expected}, not {given:?}")]
pub struct ValueError {
    field: &'static str,
    expected: &'static str,
    given: Value,
}

impl Record {
    /// A record with every field missing.
    pub fn new(catalogue: &'static Catalogue) -> Self {
        Record { catalogue, values: vec![Value::Missing; catalogue.fields.len()] }
    }

    /// Sets a field by name. Unknown names and values of the wrong type are errors.
    pub fn set(&mut self, name: &str, value: Value) -> Result<(), ValueError> {
        let Some((slot, _)) = self.catalogue.field(name) else {
            return Err(ValueError { field: "no such field", expected: "a catalogue field", given: value });
        };
        self.put(slot, value)
    }

    /// Sets the field in `slot`, as a kind fills its record (no name to look up). A value of the
    /// wrong type is an error.
    pub fn put(&mut self, slot: usize, value: Value) -> Result<(), ValueError> {
        let field = &self.catalogue.fields[slot];
        let fits = matches!(
            (&value, field.ty),
            (Value::Missing, _)
                | (Value::Bool(_), Type::Bool)
                | (Value::Int(_), Type::Int)
                | (Value::Float(_), Type::Float)
                | (Value::Str(_), Type::Str)
                | (Value::Ip(_), Type::Ip)
                | (Value::StrList(_), Type::StrList)
        );
        if !fits {
            return Err(ValueError { field: field.name, expected: field.ty.describe(), given: value });
        }
        self.values[slot] = value;
        Ok(())
    }

    /// Sets every field to missing, keeping the allocations.
    pub fn clear(&mut self) {
        self.values.iter_mut().for_each(|v| *v = Value::Missing);
    }

    /// A field's value as a rule's explanation shows it (texts quoted and cut at 80
    /// characters, lists at 8 items).
    pub fn show(&self, slot: usize) -> String {
        let text = |s: &str| {
            let cut: String = s.chars().take(80).collect();
            format!("{cut:?}{}", if cut.len() < s.len() { "…" } else { "" })
        };
        match &self.values[slot] {
            Value::Missing => "missing".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Float(x) => format!("{x:.4}"),
            Value::Str(s) => text(s),
            Value::Ip(ip) => ip.to_string(),
            Value::StrList(l) => {
                let shown: Vec<String> = l.iter().take(8).map(|s| text(s)).collect();
                format!("[{}{}]", shown.join(", "), if l.len() > 8 { ", …" } else { "" })
            }
        }
    }

    /// A text or address value as a counter's key (texts without case), hashed with `seed`;
    /// `None` when missing.
    pub(crate) fn key(&self, slot: usize, seed: u64) -> Option<u64> {
        match &self.values[slot] {
            Value::Str(s) => Some(key_of(s.to_lowercase().as_bytes(), seed)),
            Value::Ip(ip) => Some(key_of(
                &match ip {
                    IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
                    IpAddr::V6(v6) => v6.octets(),
                },
                seed,
            )),
            _ => None,
        }
    }

    /// The keys of a text, address or list-of-texts value (none when missing).
    pub(crate) fn keys(&self, slot: usize, seed: u64) -> Vec<u64> {
        match &self.values[slot] {
            Value::StrList(l) => l.iter().map(|s| key_of(s.to_lowercase().as_bytes(), seed)).collect(),
            _ => self.key(slot, seed).into_iter().collect(),
        }
    }

    /// A text or address value as the entity a label names (texts in lower case).
    pub(crate) fn entity(&self, slot: usize) -> Option<String> {
        match &self.values[slot] {
            Value::Str(s) if !s.is_empty() => Some(s.to_lowercase()),
            Value::Ip(ip) => Some(ip.to_string()),
            _ => None,
        }
    }

    #[inline]
    pub(crate) fn get(&self, slot: usize) -> &Value {
        &self.values[slot]
    }

    /// The catalogue the record follows.
    pub fn catalogue(&self) -> &'static Catalogue {
        self.catalogue
    }
}

/// The counters' hash seed until one is set ([`crate::RuleSet::set_key_seed`]).
pub(crate) const DEFAULT_KEY_SEED: u64 = 0x7761_7264_656e;

/// A 64-bit hash of a counter key under `seed`: counters keep hashes, never the identifiers.
fn key_of(bytes: &[u8], seed: u64) -> u64 {
    use std::hash::BuildHasher;
    foldhash::quality::FixedState::with_seed(seed).hash_one(bytes)
}
