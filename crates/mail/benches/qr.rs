//! What searching an image for QR codes costs (one core): `cargo bench -p warden-mail --bench qr`.
//!
//! Codes of an ordinary size in PNG, JPEG and GIF, and in PDF files (1-bit with PNG
//! predictors, and JPEG); a large PNG scaled down before the search; a photo with no code; and
//! sheets of finder patterns, the search's worst case, which bound what a hostile image can cost.

use criterion::{Criterion, criterion_group, criterion_main};
use warden_mail::extract::qr;

#[path = "qr_images.rs"]
mod images;

fn bench(c: &mut Criterion) {
    let url = "https://login.example-verify.xyz/session?id=8842";
    let (side, code) = images::code(url, 5);
    let (big, big_code) = images::code(url, 35);
    let cases = [
        (format!("code {side}px png"), images::png(side, side, &code)),
        (format!("code {side}px jpeg"), images::jpeg(side, side, &code)),
        (format!("code {side}px gif"), images::gif(side, side, &code)),
        (format!("code {big}px png"), images::png(big, big, &big_code)),
        ("photo 1000px jpeg".to_owned(), images::jpeg(1000, 1000, &images::photo(1000))),
        ("finders 700px/3 png".to_owned(), images::png(700, 700, &images::finder_sheet(700, 3))),
        ("finders 700px/1 png".to_owned(), images::png(700, 700, &images::finder_sheet(700, 1))),
    ];
    let mut g = c.benchmark_group("qr");
    g.sample_size(10);
    for (name, bytes) in &cases {
        let found = qr::codes(bytes);
        eprintln!("{name}: {} bytes, {} code(s)", bytes.len(), found.len());
        g.bench_function(name.as_str(), |b| b.iter(|| qr::codes(std::hint::black_box(bytes))));
    }
    let pdfs = [
        (
            format!("code {side}px pdf 1-bit"),
            images::pdf(&[images::pdf_flate(side, side, &code, true, true, false)]),
        ),
        (
            format!("code {side}px pdf jpeg"),
            images::pdf(&[images::pdf_jpeg(side, side, images::jpeg(side, side, &code))]),
        ),
    ];
    let search = |pdf: &[u8]| {
        let mut budget = 2;
        qr::pdf_codes(pdf, &mut budget)
    };
    for (name, bytes) in &pdfs {
        eprintln!("{name}: {} bytes, {} code(s)", bytes.len(), search(bytes).len());
        g.bench_function(name.as_str(), |b| b.iter(|| search(std::hint::black_box(bytes))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
