//! Hostile image and PDF files through the QR code search: PNG, JPEG and GIF decoding, PDF image
//! streams (inflating, PNG predictors, 1-bit pixels), scaling and quirc's search and decoding.
//! Nothing may panic, no code's text may pass the bound, and a PDF takes no more images than
//! its budget.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_mail::extract::qr;

fuzz_target!(|data: &[u8]| {
    for text in qr::codes(data) {
        assert!(text.len() <= qr::MAX_TEXT, "a code's text is bounded");
    }
    let mut budget = 2;
    for text in qr::pdf_codes(data, &mut budget) {
        assert!(text.len() <= qr::MAX_TEXT, "a code's text is bounded");
    }
    assert!(budget <= 2);
});
