//! What analysts' rules can read of a message: the mail catalogue (version 1), its fields by
//! slot, and the record of one message's facts filled slot by slot.

use warden_rules::{Catalogue, FieldDef, Record, Type, Value};

use crate::MailFacts;

/// The slots of the mail catalogue's fields, as [`MailFacts::record`] fills them.
pub mod slot {
    /// `mail.from_domain`.
    pub const FROM_DOMAIN: usize = 0;
    /// `mail.from_address`.
    pub const FROM_ADDRESS: usize = 1;
    /// `mail.reply_to_domain`.
    pub const REPLY_TO_DOMAIN: usize = 2;
    /// `mail.subject`.
    pub const SUBJECT: usize = 3;
    /// `mail.url_domains`.
    pub const URL_DOMAINS: usize = 4;
    /// `mail.attachment_names`.
    pub const ATTACHMENT_NAMES: usize = 5;
    /// `mail.from_domain_age`.
    pub const FROM_DOMAIN_AGE: usize = 6;
    /// `mail.signals`.
    pub const SIGNALS: usize = 7;
    /// `mail.size`.
    pub const SIZE: usize = 8;
    /// `mail.recipients`.
    pub const RECIPIENTS: usize = 9;
    /// `mail.client_ip`.
    pub const CLIENT_IP: usize = 10;
    /// `mail.helo`.
    pub const HELO: usize = 11;
    /// `mail.spf`.
    pub const SPF: usize = 12;
    /// `mail.dkim`.
    pub const DKIM: usize = 13;
    /// `mail.dmarc`.
    pub const DMARC: usize = 14;
    /// `mail.has_html`.
    pub const HAS_HTML: usize = 15;
    /// `model.probability`.
    pub const MODEL_PROBABILITY: usize = 16;
    /// `model.score`.
    pub const MODEL_SCORE: usize = 17;
}

const FIELDS: [FieldDef; 18] = {
    let [probability, score] = Catalogue::MODEL_FIELDS;
    [
        FieldDef::new("mail.from_domain", Type::Str, "registrable domain of the From address, lower case")
            .naming("domain"),
        FieldDef::new("mail.from_address", Type::Str, "the From address, lower case").naming("address"),
        FieldDef::new("mail.reply_to_domain", Type::Str, "registrable domain of Reply-To, lower case")
            .naming("domain"),
        FieldDef::new("mail.subject", Type::Str, "the decoded Subject"),
        FieldDef::new(
            "mail.url_domains",
            Type::StrList,
            "registrable domains of the URLs in the text and HTML",
        ),
        FieldDef::new("mail.attachment_names", Type::StrList, "file names of the attachments, lower case"),
        FieldDef::new(
            "mail.from_domain_age",
            Type::Int,
            "seconds since the server first saw mail from the From domain (0: this is the first); missing outside the server",
        ),
        FieldDef::new(
            "mail.signals",
            Type::StrList,
            "the named signals found (BRAND_IMPERSONATION, LOOKALIKE_DOMAIN, DKIM_ALIGNED, …; FEATURES.md)",
        ),
        FieldDef::new("mail.size", Type::Int, "size of the raw message in bytes"),
        FieldDef::new("mail.recipients", Type::Int, "addresses in To and Cc"),
        FieldDef::new(
            "mail.client_ip",
            Type::Ip,
            "the client address: the SMTP envelope's when the server has one, else the newest Received hop's",
        )
        .naming("ip"),
        FieldDef::new(
            "mail.helo",
            Type::Str,
            "the HELO name: the envelope's when the server has one, else the newest Received hop's",
        )
        .naming("host"),
        FieldDef::new(
            "mail.spf",
            Type::Str,
            "SPF verdict (pass, fail, softfail, neutral, none, temperror, permerror)",
        ),
        FieldDef::new("mail.dkim", Type::Str, "DKIM verdict"),
        FieldDef::new("mail.dmarc", Type::Str, "DMARC verdict"),
        FieldDef::new("mail.has_html", Type::Bool, "an HTML part is present"),
        probability,
        score,
    ]
};

static MAIL: Catalogue = Catalogue {
    kind: "mail",
    version: 1,
    fields: &FIELDS,
    actions: &["deliver", "junk", "quarantine", "reject"],
};

/// The mail catalogue, version 1.
pub fn catalogue() -> &'static Catalogue {
    &MAIL
}

impl MailFacts {
    /// The rule record of these facts, with the model's probability and log-odds.
    pub fn record(&self, probability: f64, score: f64) -> Record {
        let mut r = Record::new(catalogue());
        let text = |s: &Option<String>| s.clone().map_or(Value::Missing, Value::Str);
        let values = [
            (slot::FROM_DOMAIN, text(&self.from_domain)),
            (slot::FROM_ADDRESS, text(&self.from_address)),
            (slot::REPLY_TO_DOMAIN, text(&self.reply_to_domain)),
            (slot::SUBJECT, text(&self.subject)),
            (slot::URL_DOMAINS, Value::StrList(self.url_domains.clone())),
            (slot::ATTACHMENT_NAMES, Value::StrList(self.attachment_names.clone())),
            (slot::SIGNALS, Value::StrList(self.signals.clone())),
            (
                slot::FROM_DOMAIN_AGE,
                self.from_domain_age.map_or(Value::Missing, |a| Value::Int(a.min(i64::MAX as u64) as i64)),
            ),
            (slot::SIZE, Value::Int(self.size as i64)),
            (slot::RECIPIENTS, Value::Int(self.recipients as i64)),
            (slot::CLIENT_IP, self.client_ip.map_or(Value::Missing, Value::Ip)),
            (slot::HELO, text(&self.helo)),
            (slot::SPF, text(&self.spf)),
            (slot::DKIM, text(&self.dkim)),
            (slot::DMARC, text(&self.dmarc)),
            (slot::HAS_HTML, Value::Bool(self.has_html)),
            (slot::MODEL_PROBABILITY, Value::Float(probability)),
            (slot::MODEL_SCORE, Value::Float(score)),
        ];
        for (slot, value) in values {
            r.put(slot, value).expect("each slot's value has its field's type");
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MailAction;
    use warden_core::Action;

    #[test]
    fn each_slot_is_its_field_and_every_field_is_filled() {
        let slots = [
            (slot::FROM_DOMAIN, "mail.from_domain"),
            (slot::FROM_ADDRESS, "mail.from_address"),
            (slot::REPLY_TO_DOMAIN, "mail.reply_to_domain"),
            (slot::SUBJECT, "mail.subject"),
            (slot::URL_DOMAINS, "mail.url_domains"),
            (slot::ATTACHMENT_NAMES, "mail.attachment_names"),
            (slot::FROM_DOMAIN_AGE, "mail.from_domain_age"),
            (slot::SIGNALS, "mail.signals"),
            (slot::SIZE, "mail.size"),
            (slot::RECIPIENTS, "mail.recipients"),
            (slot::CLIENT_IP, "mail.client_ip"),
            (slot::HELO, "mail.helo"),
            (slot::SPF, "mail.spf"),
            (slot::DKIM, "mail.dkim"),
            (slot::DMARC, "mail.dmarc"),
            (slot::HAS_HTML, "mail.has_html"),
            (slot::MODEL_PROBABILITY, "model.probability"),
            (slot::MODEL_SCORE, "model.score"),
        ];
        assert_eq!(slots.len(), catalogue().fields.len());
        for (slot, name) in slots {
            assert_eq!(catalogue().field(name).map(|f| f.0), Some(slot), "{name}");
        }
        // Every field of a full set of facts has a value.
        let facts = MailFacts {
            from_address: Some("a@example.org".into()),
            from_domain: Some("example.org".into()),
            reply_to_domain: Some("example.net".into()),
            subject: Some("hello".into()),
            client_ip: Some("192.0.2.1".parse().unwrap()),
            helo: Some("mx.example.org".into()),
            spf: Some("pass".into()),
            dkim: Some("pass".into()),
            dmarc: Some("pass".into()),
            from_domain_age: Some(7),
            ..MailFacts::default()
        };
        let r = facts.record(0.25, -1.1);
        for slot in 0..catalogue().fields.len() {
            assert_ne!(r.show(slot), "missing", "{}", catalogue().fields[slot].name);
        }
        assert_eq!(r.show(slot::MODEL_SCORE), "-1.1000");
        assert_eq!(r.show(slot::FROM_DOMAIN), "\"example.org\"");
    }

    #[test]
    fn the_catalogue_names_the_mail_actions_and_the_entities_fields_name() {
        let names: Vec<&str> = MailAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names, catalogue().actions);
        assert_eq!(catalogue().entity_kind("mail.from_domain"), "domain");
        assert_eq!(catalogue().entity_kind("mail.reply_to_domain"), "domain");
        assert_eq!(catalogue().entity_kind("mail.client_ip"), "ip");
        assert_eq!(catalogue().entity_kind("mail.from_address"), "address");
        assert_eq!(catalogue().entity_kind("mail.helo"), "host");
        assert_eq!(catalogue().entity_kind("mail.subject"), "mail.subject");
        assert_eq!(catalogue().entity_kind("no.such_field"), "no.such_field");
    }
}
