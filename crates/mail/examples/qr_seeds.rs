//! Writes the QR fuzz target's seeds: codes in PNG, JPEG and GIF, a photo, a sheet of finder
//! patterns, and PDF files with codes as 8-bit, 1-bit and JPEG images, small enough for the
//! fuzzer. `cargo run -p warden-mail --example qr_seeds -- DIR`
//!
//! With `--eml FILE` it writes instead the QR code phish of `examples/quishing.eml`.

#[path = "../benches/qr_images.rs"]
mod images;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [flag, path] = &args[..]
        && flag == "--eml"
    {
        return std::fs::write(path, quishing());
    }
    let dir =
        std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus/qr".to_owned()));
    std::fs::create_dir_all(&dir)?;
    let (side, code) = images::code("https://a.example/x", 2);
    let photo = images::photo(64);
    let finders = images::finder_sheet(120, 2);
    let seeds = [
        ("code.png", images::png(side, side, &code)),
        ("code.jpg", images::jpeg(side, side, &code)),
        ("code.gif", images::gif(side, side, &code)),
        ("photo.jpg", images::jpeg(64, 64, &photo)),
        ("finders.png", images::png(120, 120, &finders)),
        ("finders.gif", images::gif(120, 120, &finders)),
        ("grey.pdf", images::pdf(&[images::pdf_flate(side, side, &code, false, true, true)])),
        ("mask.pdf", images::pdf(&[images::pdf_flate(side, side, &code, true, true, false)])),
        ("jpeg.pdf", images::pdf(&[images::pdf_jpeg(side, side, images::jpeg(side, side, &code))])),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}

/// A "scan to keep your mailbox" message whose only link is in a QR code of an inline PNG.
fn quishing() -> String {
    let (side, code) = images::code("https://microsoft.com.mailbox-renew.xyz/auth?u=4471", 4);
    let png = images::png(side, side, &code);
    let b64 = images::base64_lines(&png);
    format!(
        "From: \"Microsoft 365 Admin\" <no-reply@office-notify.xyz>\r\n\
To: user@example.org\r\n\
Subject: Action required: your mailbox password expires today\r\n\
Date: Thu, 05 Nov 2026 08:14:09 +0000\r\n\
Message-ID: <q7.2231@office-notify.xyz>\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/related; boundary=\"rel\"\r\n\r\n\
--rel\r\n\
Content-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><p>Your mailbox password expires today.</p>\
<p>To avoid suspension, scan the code below with your phone and confirm your account.</p>\
<img src=\"cid:code@notify\" width=\"{side}\" height=\"{side}\"></body></html>\r\n\
--rel\r\n\
Content-Type: image/png\r\n\
Content-ID: <code@notify>\r\n\
Content-Disposition: inline\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{b64}\r\n--rel--\r\n"
    )
}
