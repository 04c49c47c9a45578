//! Sign-ups on the server's generic routes (`POST /v1/signup/check`, `/v1/signup/feedback`):
//! what the pipeline asks of a kind — the event read, its features and the facts analysts'
//! rules read (`signup.*`), the kind's thresholds and its starter model.
//!
//! Not served yet (the binary's list of kinds does not name it): the starter model is untrained
//! until the sign-up simulator trains it, so until then a decision is the rules' and the
//! thresholds' alone.

use serde_json::{Map, Value};
use warden_core::{Reason, Thresholds};
use warden_learn::{FtrlParams, LearnerSpec, Model, RehearsalParams};
use warden_rules::{Catalogue, FieldDef, Record, Type};
use warden_server::kinds::{BadField, JsonKind, Read};

use crate::domain::DomainClass;
use crate::event::{Captcha, Signup, parse};
use crate::features::Derived;
use crate::{SignupAction, SignupKind};

/// What rules read of a sign-up (`warden rules fields --kind signup` will list them).
static FIELDS: [FieldDef; 15] = {
    let [probability, score] = Catalogue::MODEL_FIELDS;
    [
        FieldDef::new("signup.account", Type::Str, "the service's account id, lower case").naming("account"),
        FieldDef::new("signup.email_domain", Type::Str, "the address's domain, lower case").naming("domain"),
        FieldDef::new(
            "signup.email_class",
            Type::Str,
            "own, free, disposable, other; absent without an address",
        ),
        FieldDef::new(
            "signup.local_pattern",
            Type::Str,
            "the local part's character classes (`lllll.lllll99`)",
        ),
        FieldDef::new("signup.local_collapsed", Type::Str, "the same, each run written once (`l.l9`)"),
        FieldDef::new(
            "signup.name_agreement",
            Type::Float,
            "the share of the name's words the address bears out",
        ),
        FieldDef::new("signup.ip", Type::Ip, "the client's address").naming("ip"),
        FieldDef::new("signup.network", Type::Str, "the IPv4 /24 or IPv6 /48 (`203.0.113.0/24`)")
            .naming("network"),
        FieldDef::new("signup.asn", Type::Int, "the autonomous system the edge gave"),
        FieldDef::new("signup.country", Type::Str, "the country the edge gave (upper case)"),
        FieldDef::new(
            "signup.agent",
            Type::Str,
            "the user agent's category (pc, smartphone, crawler, …), or none",
        ),
        FieldDef::new("signup.device", Type::Str, "the service's device id").naming("device"),
        FieldDef::new("signup.captcha", Type::Str, "passed, failed, none or unknown"),
        probability,
        score,
    ]
};

static CATALOGUE: Catalogue = Catalogue {
    kind: "signup",
    version: 1,
    fields: &FIELDS,
    actions: &["allow", "challenge", "review", "block"],
};

/// Sign-ups' rule catalogue.
pub fn catalogue() -> &'static Catalogue {
    &CATALOGUE
}

/// The sign-up kind on the generic routes; `own` is the service's own mail domains.
#[derive(Debug, Clone, Default)]
pub struct Signups {
    /// The service's own mail domains (class `own`).
    pub own: Vec<String>,
}

/// The network of `ip`, as `signup.network` names it.
pub fn network(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
    }
}

/// The facts rules read of `s`, measured as `d`.
pub fn facts(s: &Signup<'_>, d: &Derived) -> Record {
    let text = |v: Option<String>| v.map_or(warden_rules::Value::Missing, warden_rules::Value::Str);
    let local = d.local.as_ref();
    let agent = d.agent.as_ref().map(|a| a.as_ref().map_or("unparsed".to_owned(), |a| a.category.clone()));
    let captcha = match s.captcha {
        Captcha::Passed => "passed",
        Captcha::Failed => "failed",
        Captcha::None => "none",
        Captcha::Unknown => "unknown",
    };
    let values = [
        text(Some(s.account.to_lowercase())),
        text(s.email.as_ref().map(|e| e.domain.clone())),
        text(Some(d.email_class.map_or("absent", DomainClass::as_str).to_owned())),
        text(local.map(|l| l.pattern.clone())),
        text(local.map(|l| l.collapsed.clone())),
        d.agreement.map_or(warden_rules::Value::Missing, warden_rules::Value::Float),
        warden_rules::Value::Ip(s.ip),
        text(Some(network(s.ip))),
        s.asn.map_or(warden_rules::Value::Missing, |a| warden_rules::Value::Int(i64::from(a))),
        text(s.country.map(|c| String::from_utf8_lossy(&c).into_owned())),
        text(Some(agent.unwrap_or_else(|| "none".to_owned()))),
        text(s.device_id.map(str::to_lowercase)),
        text(Some(captcha.to_owned())),
    ];
    let mut record = Record::new(&CATALOGUE);
    for (slot, value) in values.into_iter().enumerate() {
        record.put(slot, value).expect("each slot's type");
    }
    record
}

impl JsonKind for Signups {
    type Kind = SignupKind;
    const ENTITY: &'static str = "account";

    fn read(&self, event: &Map<String, Value>, _geo: &warden_geo::Geo) -> Result<Read, BadField> {
        let s = parse(event)?;
        let d = Derived::of(&s, &self.own);
        let mut signals = Vec::new();
        if s.captcha == Captcha::Failed {
            signals.push(Reason::new("CAPTCHA_FAILED", "The sign-up failed its captcha.", 0.0));
        }
        if d.email_class == Some(DomainClass::Disposable) {
            signals.push(Reason::new(
                "DISPOSABLE_ADDRESS",
                "The address is at a disposable mail domain.",
                0.0,
            ));
        }
        Ok(Read {
            entity: s.account.to_owned(),
            features: crate::features::features(&s, &d),
            signals,
            facts: Some(facts(&s, &d)),
        })
    }

    fn thresholds(&self) -> Thresholds<SignupAction> {
        // On the model's log-odds plus rule points: P(abusive) ≈ 0.73 challenges, 0.88 asks an
        // analyst, 0.95 blocks.
        Thresholds::new(
            SignupAction::Allow,
            vec![(1.0, SignupAction::Challenge), (2.0, SignupAction::Review), (3.0, SignupAction::Block)],
        )
        .expect("rising")
    }

    fn starter(&self) -> Model {
        // Untrained: the simulator will train it (see the module).
        let spec = LearnerSpec::Ftrl(FtrlParams { bits: 18, ..FtrlParams::default() });
        Model::new("signup", spec, Value::Null, RehearsalParams { capacity: 0, ..RehearsalParams::default() })
    }

    fn catalogue(&self) -> Option<&'static Catalogue> {
        Some(&CATALOGUE)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::{Value, json};
    use warden_server::kinds::Pipeline;
    use warden_server::testing::{call, state_in};

    use super::{Signups, network};

    fn now() -> String {
        let f = time::format_description::well_known::Rfc3339;
        time::OffsetDateTime::now_utc().format(&f).unwrap()
    }

    #[test]
    fn networks_are_named_by_their_prefix() {
        assert_eq!(network("203.0.113.7".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(network("2001:db8:1:2::7".parse().unwrap()), "2001:db8:1::/48");
    }

    #[tokio::test]
    async fn sign_ups_are_decided_on_the_generic_routes_and_rules_read_their_facts() {
        let dir = tempfile::tempdir().unwrap();
        let rules = dir.path().join("signup.rules");
        std::fs::write(
            &rules,
            r#"
counter signups_per_network: count by signup.network over 1h
rule BURST { description: "many sign-ups from one /24" when: signups_per_network >= 3 then: action block }
rule THROWAWAY { when: signup.email_class == "disposable" then: action challenge }
"#,
        )
        .unwrap();
        let mut settings = warden_server::Settings::default();
        settings.rules.kinds.insert("signup".into(), vec![rules]);
        let state = state_in(&dir.path().join("data"), settings);
        state.register_kind(Arc::new(Pipeline::new(Signups::default()))).unwrap();
        let scan = warden_server::scan_router(state.clone());
        let check = |id: &str, ip: &str, email: &str| {
            let body = json!({"kind": "signup", "id": id, "time": now(), "account": format!("A-{id}"),
                "email": email, "display_name": "Maria Rossi", "ip": ip, "captcha": "passed"})
            .to_string();
            let scan = scan.clone();
            async move {
                let (status, body) = call(scan, "POST", "/v1/signup/check", body.as_bytes()).await;
                (status, serde_json::from_slice::<Value>(&body).unwrap())
            }
        };
        let (status, d) = check("s-1", "203.0.113.7", "maria.rossi84@gmail.com").await;
        assert_eq!(status, 200, "{d}");
        assert_eq!(d["action"], "allow", "{d}");
        assert_eq!(check("s-2", "198.51.100.9", "x1@mailinator.com").await.1["action"], "challenge");
        check("s-3", "203.0.113.8", "paolo@gmail.com").await;
        let third = check("s-4", "203.0.113.9", "anna@gmail.com").await.1;
        assert_eq!(third["action"], "block", "the third from one /24 in an hour: {third}");
        let names: Vec<&str> =
            third["reasons"].as_array().unwrap().iter().filter_map(|r| r["name"].as_str()).collect();
        assert!(names.contains(&"RULE:BURST"), "{names:?}");
        // A bad field is named.
        let (status, e) = check("s-5", "not an address", "a@b.c").await;
        assert_eq!(status, 400);
        assert!(e["error"].as_str().unwrap().contains("`ip`"), "{e}");
    }
}
