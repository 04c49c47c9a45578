//! GeoIP databases and ASN CSV files on arbitrary bytes: read, looked up, converted; never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    warden_geo::fuzz(data);
});
