//! Hostile image files through the QR code search: PNG, JPEG and GIF decoding, scaling and
//! quirc's search and decoding. Nothing may panic, and no code's text may pass the bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_mail::extract::qr;

fuzz_target!(|data: &[u8]| {
    for text in qr::codes(data) {
        assert!(text.len() <= qr::MAX_TEXT, "a code's text is bounded");
    }
});
