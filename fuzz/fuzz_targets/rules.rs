//! The rule language's lexer, parser and checker on arbitrary text: an error or a rule set,
//! never a panic; a rule set that checks is evaluated on an empty and a filled record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_rules::{Record, RuleSet, Value};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // List files are not fuzzed here: a path that names one is read from an empty folder.
    let dir = std::env::temp_dir().join("warden-fuzz-rules-empty");
    let catalogue = warden_mail::catalogue();
    if let Ok(set) = RuleSet::compile(&[("fuzz.rules", text, &dir)], catalogue) {
        let mut r = Record::new(catalogue);
        set.evaluate(&r);
        let _ = r.set("mail.subject", Value::Str("Ünïcode SUBJECT".into()));
        let _ = r.set("mail.url_domains", Value::StrList(vec!["a.example".into(), "B.EXAMPLE".into()]));
        let _ = r.set("mail.size", Value::Int(i64::MAX));
        let _ = r.set("model.probability", Value::Float(f64::NAN));
        let _ = r.set("mail.client_ip", Value::Ip("::1".parse().unwrap()));
        let out = set.evaluate(&r);
        for &i in &out.fired {
            let _ = set.rules()[i].explain(&r);
        }
    }
});
