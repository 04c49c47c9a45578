//! A catalogue for the tests and the bench, shaped like a mail catalogue: the rules crate
//! knows no kind of event, so its tests bring their own.

use warden_rules::{Catalogue, FieldDef, Type};

const FIELDS: [FieldDef; 12] = {
    let [probability, score] = Catalogue::MODEL_FIELDS;
    [
        FieldDef::new("mail.from_domain", Type::Str, "the sender's domain").naming("domain"),
        FieldDef::new("mail.subject", Type::Str, "the subject"),
        FieldDef::new("mail.url_domains", Type::StrList, "the links' domains"),
        FieldDef::new("mail.attachment_names", Type::StrList, "the attachments' names"),
        FieldDef::new("mail.size", Type::Int, "the size in bytes"),
        FieldDef::new("mail.client_ip", Type::Ip, "the client's address").naming("ip"),
        FieldDef::new("mail.helo", Type::Str, "the HELO name").naming("host"),
        FieldDef::new("mail.spf", Type::Str, "the SPF verdict"),
        FieldDef::new("mail.dkim", Type::Str, "the DKIM verdict"),
        FieldDef::new("mail.has_html", Type::Bool, "an HTML part is present"),
        probability,
        score,
    ]
};

static CATALOGUE: Catalogue = Catalogue {
    kind: "mail",
    version: 1,
    fields: &FIELDS,
    actions: &["deliver", "junk", "quarantine", "reject"],
};

/// The tests' catalogue.
pub fn catalogue() -> &'static Catalogue {
    &CATALOGUE
}
