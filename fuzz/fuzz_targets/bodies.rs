//! Hostile bytes as the JSON bodies of the HTTP API — feedback, entity labels, resolutions —
//! and as a labels cursor: parsing and the field checks the handlers run must take any of them
//! without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    warden_server::fuzz_json_bodies(data);
    warden_mail_serve::fuzz_json_bodies(data);
});
