//! Hostile bytes as a sign-up event's fields: reading them, and the shapes of the names and
//! addresses read, must take any of them without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(serde_json::Value::Object(event)) = serde_json::from_slice(data) else { return };
    let Ok(s) = warden_signup::event::parse(&event) else { return };
    for text in
        [s.email.as_ref().map(|a| a.local), s.display_name, s.user_agent, s.device_id].into_iter().flatten()
    {
        let _ = warden_signup::shape::shape(text);
    }
    if let (Some(name), Some(email)) = (s.display_name, &s.email) {
        let _ = warden_signup::shape::agreement(name, email.local);
    }
});
