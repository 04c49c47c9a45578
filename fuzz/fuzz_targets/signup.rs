//! Hostile bytes as sign-up events, through the whole kind: the event read, the shapes of its
//! names and addresses, its features at the door, the memory of the sign-ups before it and the
//! clusterer, the model and the decision. A sequence of events shares one kind (one memory and
//! one clusterer), so that what one event leaves is what the next is measured against; any
//! input is a decision or an error, never a panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use warden_server::kinds::{Context, Pipeline, Served};
use warden_signup::kind::Signups;

static KIND: LazyLock<Pipeline<Signups>> = LazyLock::new(|| Pipeline::new(Signups::default()));

fuzz_target!(|data: &[u8]| {
    let geo = warden_geo::Geo::none();
    // One event a line: a few events in one input share the memory and the clusters.
    for line in data.split(|&b| b == b'\n').take(16) {
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) else { continue };
        if let serde_json::Value::Object(event) = &value
            && let Ok(s) = warden_signup::event::parse(event)
        {
            for text in
                [s.email.as_ref().map(|a| a.local), s.display_name, s.user_agent, s.device_id].into_iter().flatten()
            {
                let _ = warden_signup::shape::shape(text);
            }
            if let (Some(name), Some(email)) = (s.display_name, &s.email) {
                let _ = warden_signup::shape::agreement(name, email.local);
            }
        }
        let _ = KIND.decide(&value, 0, u64::MAX, Context { at: 0, geo: &geo, seed: 7 });
        let _ = KIND.later();
    }
});
