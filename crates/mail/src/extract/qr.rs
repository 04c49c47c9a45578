//! QR codes in images: the link of a "scan this code to keep your account" message, which a
//! phone follows and no link scanner of the mail ever sees.
//!
//! PNG, JPEG and GIF images (known by their first bytes, whatever the part says it is) are
//! decoded to grey, scaled down to at most [`MAX_SCANNED_PIXELS`], and searched with `quircs`
//! (a Rust port of quirc). The work is bounded before it starts: images over
//! [`MAX_IMAGE_BYTES`] or [`MAX_DECODED_PIXELS`] are not decoded, and the extractor searches at
//! most `qr_images` images a message (`[mail]`, default 2).

use std::io::Cursor;

/// Bytes of an image file decoded at most: a QR code needs no more.
pub(crate) const MAX_IMAGE_BYTES: usize = 1 << 20;
/// Pixels of an image decoded at most: a phone screenshot (1,080 × 1,920) is within it.
const MAX_DECODED_PIXELS: usize = 2_250_000;
/// Pixels searched for codes at most: larger images are scaled down by a whole factor first, so
/// that the search costs what this many pixels cost, whatever the file.
pub(crate) const MAX_SCANNED_PIXELS: usize = 256 << 10;
/// Codes read from one image at most.
const MAX_CODES: usize = 4;
/// Bytes of a code's text kept (a link is shorter).
pub const MAX_TEXT: usize = 2_048;

/// A greyscale image, one byte a pixel, row by row.
struct Grey {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

/// Whether `bytes` start as a PNG, JPEG or GIF file does.
pub fn is_image(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || bytes.starts_with(&[0xFF, 0xD8, 0xFF])
        || bytes.starts_with(b"GIF87a")
        || bytes.starts_with(b"GIF89a")
}

/// The texts of the QR codes in an image file; empty when it is no image this reads, is too
/// large, or holds no readable code.
pub fn codes(bytes: &[u8]) -> Vec<String> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Vec::new();
    }
    let image = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(bytes)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        jpeg(bytes)
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        gif(bytes)
    } else {
        None
    };
    image.map_or_else(Vec::new, search)
}

/// The texts of the QR codes in a decoded image, scaled down first.
fn search(image: Grey) -> Vec<String> {
    let image = shrink(image);
    // quirc keeps its own bounds (32 finder patterns, 8 codes an image), so what a hostile
    // image can cost is bounded by its pixels.
    let mut decoder = quircs::Quirc::default();
    let mut texts = Vec::new();
    for code in decoder.identify(image.width, image.height, &image.pixels).take(MAX_CODES) {
        let Some(data) = code.ok().and_then(|c| c.decode().ok()) else { continue };
        let mut text =
            String::from_utf8_lossy(&data.payload[..data.payload.len().min(MAX_TEXT)]).into_owned();
        let mut end = text.len().min(MAX_TEXT);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        texts.push(text);
    }
    texts
}

/// Bytes of a PDF file looked through for images.
pub(crate) const MAX_PDF_BYTES: usize = 1 << 20;
/// Image streams of one PDF file looked at, at most.
const MAX_PDF_IMAGES: usize = 8;
/// Bytes before a stream in which its dictionary is looked for.
const MAX_DICT_BYTES: usize = 4096;

/// Whether `bytes` start as a PDF file does (after at most a few bytes of junk, as readers
/// allow), and not as an image does: an image that carries `%PDF-` in a comment is searched as
/// the image it is.
pub fn is_pdf(bytes: &[u8]) -> bool {
    !is_image(bytes) && memchr::memmem::find(&bytes[..bytes.len().min(1024)], b"%PDF-").is_some()
}

/// The texts of the QR codes in the images of a PDF file, searching at most `budget` images
/// (each searched image takes one from it): JPEG streams (`/DCTDecode`) as they are, and
/// `/FlateDecode` pixels of 8-bit grey or RGB and of 1-bit images (masks included), PNG
/// predictors undone. A "scan the code on the attached notice" phish puts its code there.
///
/// A scan for image streams, not a PDF parser (lopdf and pdf parse the whole document,
/// object tables, object streams and encryption, to reach them, and a hostile file's cost with
/// it): an image's dictionary is what lies between the stream and the `obj` before it, its
/// length the `/Length` when it is written there, else the next `endstream`. Images whose size
/// or colour space is written elsewhere are left unread.
pub fn pdf_codes(pdf: &[u8], budget: &mut usize) -> Vec<String> {
    let pdf = &pdf[..pdf.len().min(MAX_PDF_BYTES)];
    let mut texts = Vec::new();
    let (mut at, mut seen) = (0, 0);
    let stream = memchr::memmem::Finder::new(b"stream");
    while *budget > 0 && seen < MAX_PDF_IMAGES {
        let Some(i) = stream.find(&pdf[at..]) else { break };
        let s = at + i;
        // A dictionary is looked for after the last `stream` only: a file of nothing but
        // `stream` costs a pass over it, not 4 KiB a word.
        let last = at;
        at = s + 6;
        if pdf[..s].ends_with(b"end") {
            continue;
        }
        let from = s.saturating_sub(MAX_DICT_BYTES).max(last);
        let Some(j) = memchr::memmem::rfind(&pdf[from..s], b"obj") else { continue };
        let dict = &pdf[from + j + 3..s];
        if !is_image_dict(dict) {
            continue;
        }
        let mut start = at;
        if pdf.get(start) == Some(&b'\r') {
            start += 1;
        }
        if pdf.get(start) == Some(&b'\n') {
            start += 1;
        }
        let by_length =
            number(dict, b"/Length").and_then(|n| start.checked_add(n)).filter(|&e| e <= pdf.len());
        let Some(end) =
            by_length.or_else(|| memchr::memmem::find(&pdf[start..], b"endstream").map(|k| start + k))
        else {
            break;
        };
        at = end;
        seen += 1;
        if let Some(image) = pdf_image(dict, &pdf[start..end]) {
            *budget -= 1;
            texts.extend(search(image));
        }
    }
    texts
}

/// Whether a stream's dictionary says it is an image: `/Subtype /Image`.
fn is_image_dict(dict: &[u8]) -> bool {
    value_of(dict, b"/Subtype").is_some_and(|v| name_is(v, b"/Image"))
}

/// What follows `key` (a name, not the start of a longer one) in `dict`, white space skipped.
fn value_of<'a>(dict: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&dict[from..], key) {
        let after = from + i + key.len();
        from = after;
        if dict.get(after).is_some_and(|b| b.is_ascii_alphanumeric()) {
            continue;
        }
        let rest = &dict[after..];
        let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        return Some(&rest[skip..]);
    }
    None
}

/// Whether `value` starts with the name `name` (not a longer one).
fn name_is(value: &[u8], name: &[u8]) -> bool {
    value.starts_with(name) && !value.get(name.len()).is_some_and(|b| b.is_ascii_alphanumeric())
}

/// The number written directly after `key` (not a reference such as `12 0 R`).
fn number(dict: &[u8], key: &[u8]) -> Option<usize> {
    let v = value_of(dict, key)?;
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    // A reference: the number, white space, a generation number, white space, `R`.
    let mut rest = v[digits..].iter().peekable();
    let mut skip = |pred: fn(&u8) -> bool| {
        let mut n = 0;
        while rest.next_if(|b| pred(b)).is_some() {
            n += 1;
        }
        n
    };
    let reference = skip(u8::is_ascii_whitespace) > 0
        && skip(u8::is_ascii_digit) > 0
        && skip(u8::is_ascii_whitespace) > 0
        && rest.peek() == Some(&&b'R');
    if reference {
        return None;
    }
    std::str::from_utf8(&v[..digits]).ok()?.parse().ok()
}

/// Decodes one image stream of a PDF to grey, when it is one this reads.
fn pdf_image(dict: &[u8], data: &[u8]) -> Option<Grey> {
    let (width, height) = (number(dict, b"/Width")?, number(dict, b"/Height")?);
    if !within_bounds(width, height) {
        return None;
    }
    let filter = value_of(dict, b"/Filter")?;
    let filter = filter
        .strip_prefix(b"[")
        .map_or(filter, |f| &f[f.iter().take_while(|b| b.is_ascii_whitespace()).count()..]);
    if name_is(filter, b"/DCTDecode") {
        return jpeg(data);
    }
    if !name_is(filter, b"/FlateDecode") || value_of(dict, b"/Decode").is_some() {
        return None;
    }
    let mask = value_of(dict, b"/ImageMask").is_some_and(|v| v.starts_with(b"true"));
    let bits = if mask { 1 } else { number(dict, b"/BitsPerComponent")? };
    let colours = match value_of(dict, b"/ColorSpace") {
        _ if mask => 1,
        Some(v) if name_is(v, b"/DeviceGray") => 1,
        Some(v) if name_is(v, b"/DeviceRGB") => 3,
        _ => return None,
    };
    if !matches!((bits, colours), (8, 1) | (8, 3) | (1, 1)) {
        return None;
    }
    let predicted = match number(dict, b"/Predictor") {
        None | Some(1) => false,
        Some(10..=15) => true,
        // TIFF's predictor, or none known.
        Some(_) => return None,
    };
    let row = (width * colours * bits).div_ceil(8);
    let size = (row + usize::from(predicted)) * height;
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib_with_limit(data, size).ok()?;
    if raw.len() < size {
        return None;
    }
    let rows = if predicted { unpredict(&raw, row, (colours * bits).div_ceil(8), height)? } else { raw };
    let mut pixels = Vec::with_capacity(width * height);
    for line in rows.chunks_exact(row).take(height) {
        match (bits, colours) {
            (8, 1) => pixels.extend_from_slice(&line[..width]),
            (8, _) => pixels.extend(line.chunks_exact(3).take(width).map(|p| luma(p[0], p[1], p[2]))),
            // One bit a pixel: 0 is painted (black), as a mask's and a grey image's are.
            _ => {
                pixels.extend((0..width).map(|x| if line[x / 8] & (0x80 >> (x % 8)) == 0 { 0 } else { 255 }))
            }
        }
    }
    Some(Grey { width, height, pixels })
}

/// Undoes PNG predictors (`/Predictor` 10 to 15): each row starts with its filter's byte.
fn unpredict(raw: &[u8], row: usize, bpp: usize, height: usize) -> Option<Vec<u8>> {
    let mut out = vec![0u8; row * height];
    for y in 0..height {
        let line = &raw[y * (row + 1)..(y + 1) * (row + 1)];
        let (kind, line) = (line[0], &line[1..]);
        let (done, rest) = out.split_at_mut(y * row);
        let up = if y == 0 { None } else { Some(&done[(y - 1) * row..]) };
        let cur = &mut rest[..row];
        for x in 0..row {
            let a = if x >= bpp { cur[x - bpp] } else { 0 };
            let b = up.map_or(0, |u| u[x]);
            let c = if x >= bpp { up.map_or(0, |u| u[x - bpp]) } else { 0 };
            let add = match kind {
                0 => 0,
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                4 => paeth(a, b, c),
                _ => return None,
            };
            cur[x] = line[x].wrapping_add(add);
        }
    }
    Some(out)
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}

/// Pixels a side an image needs to be searched: a code meant for a phone's camera is larger,
/// and smaller images (spacers, trackers, icons) are most of a mail's images.
const MIN_SIDE: usize = 40;

/// Whether an image of `width` × `height` may be decoded.
fn within_bounds(width: usize, height: usize) -> bool {
    width >= MIN_SIDE
        && height >= MIN_SIDE
        && width.checked_mul(height).is_some_and(|p| p <= MAX_DECODED_PIXELS)
}

fn png(bytes: &[u8]) -> Option<Grey> {
    let mut decoder =
        png::Decoder::new_with_limits(Cursor::new(bytes), png::Limits { bytes: MAX_DECODED_PIXELS * 8 });
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().ok()?;
    let (width, height) = (reader.info().width as usize, reader.info().height as usize);
    if !within_bounds(width, height) {
        return None;
    }
    let mut buf = vec![0; reader.output_buffer_size()?];
    let frame = reader.next_frame(&mut buf).ok()?;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let channels = frame.color_type.samples();
    let line = frame.line_size;
    if !within_bounds(width, height) || line < width * channels || buf.len() < line * height {
        return None;
    }
    let mut pixels = Vec::with_capacity(width * height);
    for row in buf.chunks_exact(line).take(height) {
        for px in row[..width * channels].chunks_exact(channels) {
            pixels.push(match channels {
                // Grey, or grey and alpha: transparent counts as white, as a mail reader shows it.
                1 => px[0],
                2 => blend(px[0], px[1]),
                3 => luma(px[0], px[1], px[2]),
                _ => blend(luma(px[0], px[1], px[2]), px[3]),
            });
        }
    }
    Some(Grey { width, height, pixels })
}

fn jpeg(bytes: &[u8]) -> Option<Grey> {
    use zune_jpeg::zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    let options = DecoderOptions::default()
        .jpeg_set_out_colorspace(ColorSpace::Luma)
        .set_max_width(MAX_DECODED_PIXELS)
        .set_max_height(MAX_DECODED_PIXELS);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().ok()?;
    let info = decoder.info()?;
    let (width, height) = (usize::from(info.width), usize::from(info.height));
    if !within_bounds(width, height) {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    (pixels.len() == width * height).then_some(Grey { width, height, pixels })
}

fn gif(bytes: &[u8]) -> Option<Grey> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::RGBA);
    options
        .set_memory_limit(gif::MemoryLimit::Bytes(std::num::NonZeroU64::new(MAX_DECODED_PIXELS as u64 * 4)?));
    let mut decoder = options.read_info(Cursor::new(bytes)).ok()?;
    let (width, height) = (usize::from(decoder.width()), usize::from(decoder.height()));
    if !within_bounds(width, height) {
        return None;
    }
    // The first frame, placed on a white screen of the image's size.
    let frame = decoder.read_next_frame().ok()??;
    let mut pixels = vec![255u8; width * height];
    let (left, top, fw, fh) = (
        usize::from(frame.left),
        usize::from(frame.top),
        usize::from(frame.width),
        usize::from(frame.height),
    );
    if fw == 0 || fh == 0 || frame.buffer.len() < fw * fh * 4 {
        return None;
    }
    for (y, row) in frame.buffer.chunks_exact(fw * 4).take(fh).enumerate() {
        let Some(out_row) = pixels.get_mut((top + y) * width..(top + y + 1) * width) else { break };
        for (x, px) in row.chunks_exact(4).enumerate() {
            if let Some(p) = out_row.get_mut(left + x) {
                *p = blend(luma(px[0], px[1], px[2]), px[3]);
            }
        }
    }
    Some(Grey { width, height, pixels })
}

/// Rec. 601 luma, in integers.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

/// A grey value with `alpha` over white.
fn blend(grey: u8, alpha: u8) -> u8 {
    let a = u32::from(alpha);
    ((u32::from(grey) * a + 255 * (255 - a) + 127) / 255) as u8
}

/// The image scaled down by the smallest whole factor that brings it to
/// [`MAX_SCANNED_PIXELS`], each pixel the mean of the block it stands for.
fn shrink(image: Grey) -> Grey {
    let (w, h) = (image.width, image.height);
    let mut f = 1;
    while (w / f) * (h / f) > MAX_SCANNED_PIXELS {
        f += 1;
    }
    if f == 1 {
        return image;
    }
    let (sw, sh) = (w / f, h / f);
    let mut pixels = Vec::with_capacity(sw * sh);
    for by in 0..sh {
        for bx in 0..sw {
            let mut sum = 0u32;
            for y in by * f..(by + 1) * f {
                sum += image.pixels[y * w + bx * f..y * w + (bx + 1) * f]
                    .iter()
                    .map(|&p| u32::from(p))
                    .sum::<u32>();
            }
            pixels.push((sum / (f * f) as u32) as u8);
        }
    }
    Grey { width: sw, height: sh, pixels }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::qr_images as images;

    fn code_png(text: &str, scale: usize) -> Vec<u8> {
        let (side, pixels) = images::code(text, scale);
        images::png(side, side, &pixels)
    }

    #[test]
    fn a_code_in_a_png_is_read() {
        let url = "https://login-verify.example.xyz/account?id=7";
        assert_eq!(codes(&code_png(url, 4)), vec![url.to_owned()]);
    }

    fn in_pdf(pdf: &[u8], budget: usize) -> (Vec<String>, usize) {
        let mut left = budget;
        let codes = pdf_codes(pdf, &mut left);
        (codes, budget - left)
    }

    #[test]
    fn codes_in_the_images_of_a_pdf_are_read() {
        let url = "https://docs-review.example.xyz/s/93";
        let (side, pixels) = images::code(url, 4);
        assert!(is_pdf(&images::pdf(&[])));
        for (what, image) in [
            ("8-bit grey", images::pdf_flate(side, side, &pixels, false, false, true)),
            ("8-bit grey, PNG predictors", images::pdf_flate(side, side, &pixels, false, true, true)),
            (
                "a 1-bit mask, predictors, length by reference",
                images::pdf_flate(side, side, &pixels, true, true, false),
            ),
            ("1-bit, length by reference", images::pdf_flate(side, side, &pixels, true, false, false)),
            ("JPEG", images::pdf_jpeg(side, side, images::jpeg(side, side, &pixels))),
        ] {
            assert_eq!(in_pdf(&images::pdf(&[image]), 2), (vec![url.to_owned()], 1), "{what}");
        }
    }

    #[test]
    fn a_pdf_s_images_are_searched_within_the_budget() {
        let code = |u: &str| {
            let (side, pixels) = images::code(u, 3);
            images::pdf_flate(side, side, &pixels, false, false, true)
        };
        let pdf = images::pdf(&[
            code("https://a.example/1"),
            code("https://b.example/2"),
            code("https://c.example/3"),
        ]);
        assert_eq!(
            in_pdf(&pdf, 2),
            (vec!["https://a.example/1".to_owned(), "https://b.example/2".to_owned()], 2)
        );
        assert_eq!(in_pdf(&pdf, 0), (Vec::new(), 0));
        // A photo is searched (and takes from the budget) but holds nothing.
        let photo = images::pdf_flate(200, 200, &images::photo(200), false, false, true);
        assert_eq!(in_pdf(&images::pdf(&[photo]), 2), (Vec::new(), 1));
    }

    #[test]
    fn broken_and_oversized_pdf_images_are_left_unread() {
        let url = "https://x.example/";
        let (side, pixels) = images::code(url, 4);
        let good = images::pdf(&[images::pdf_flate(side, side, &pixels, false, false, true)]);
        // Cut anywhere, the file gives what it still holds and never panics.
        for cut in (0..good.len()).step_by(7) {
            let (codes, _) = in_pdf(&good[..cut], 2);
            assert!(codes.is_empty() || codes == [url], "cut at {cut}");
        }
        // Sizes that lie: more pixels than the bound, or than the stream holds.
        let text = String::from_utf8_lossy(&good).into_owned();
        for lie in [format!("/Width {}", 20_000), format!("/Width {}", side + 1), "/Width 10 0 R".to_owned()]
        {
            let bad = text.replacen(&format!("/Width {side}"), &lie, 1);
            assert_eq!(in_pdf(bad.as_bytes(), 2), (Vec::new(), 0), "{lie}");
        }
        // A stream that inflates without end is stopped at the image's size.
        let bomb = images::PdfImage {
            dict: "/Subtype /Image /Width 1000 /Height 1000 /ColorSpace /DeviceGray /BitsPerComponent 8 \
                   /Filter /FlateDecode"
                .to_owned(),
            data: miniz_oxide::deflate::compress_to_vec_zlib(&vec![0u8; 64 << 20], 9),
        };
        assert_eq!(in_pdf(&images::pdf(&[bomb]), 2), (Vec::new(), 0));
        // Not images, or in colours this does not read.
        for other in ["/Subtype /Form", "/Subtype /ImageB", "/Subtype /Image /ColorSpace /DeviceCMYK"] {
            let bad = text.replacen("/Subtype /Image", other, 1).replacen(
                "/ColorSpace /DeviceGray",
                "",
                usize::from(other.contains("CMYK")),
            );
            assert_eq!(in_pdf(bad.as_bytes(), 2), (Vec::new(), 0), "{other}");
        }
        assert_eq!(in_pdf(b"%PDF-1.7 stream stream endstream obj stream", 2), (Vec::new(), 0));
        let mut by_reference = images::pdf_flate(side, side, &pixels, false, false, true);
        by_reference.dict = by_reference.dict.replacen("/Width", "/Length 12 10 R /Width", 1);
        assert_eq!(
            in_pdf(&images::pdf(&[by_reference]), 2),
            (vec![url.to_owned()], 1),
            "a length by a reference of generation 10: read to endstream"
        );
        assert_eq!(number(b"/Length 12 10 R", b"/Length"), None);
        assert_eq!(number(b"/Length 12 /Filter", b"/Length"), Some(12));
        // An image whose first bytes are an image's is one, whatever else it carries.
        let mut png = code_png(url, 4);
        png.extend_from_slice(b"%PDF-1.4");
        assert!(!is_pdf(&png) && is_image(&png));
    }

    #[test]
    fn a_code_in_a_jpeg_is_read() {
        let url = "https://scan.example.net/r/abc";
        let (side, pixels) = images::code(url, 6);
        let out = images::jpeg(side, side, &pixels);
        assert_eq!(codes(&out), vec![url.to_owned()]);
    }

    #[test]
    fn a_code_in_a_gif_on_a_colour_palette_is_read() {
        let url = "https://gif.example.org/";
        let (side, pixels) = images::code(url, 4);
        // Dark blue on pale yellow: the code is read by contrast, not by black and white.
        let out = images::gif_on(side, side, &pixels, [20, 20, 120, 250, 245, 200]);
        assert_eq!(codes(&out), vec![url.to_owned()]);
    }

    #[test]
    fn a_large_image_is_scaled_down_and_still_read() {
        // 41 pixels a module: about 1,500 pixels a side, eight times the pixels searched.
        let url = "https://big.example.com/";
        let png = code_png(url, 41);
        assert!(png.len() <= MAX_IMAGE_BYTES);
        assert_eq!(codes(&png), vec![url.to_owned()]);
    }

    #[test]
    fn no_code_no_image_and_broken_images_give_nothing() {
        assert!(codes(b"").is_empty());
        assert!(codes(b"GIF89a").is_empty());
        assert!(codes(b"plain text that is not an image").is_empty());
        let png = code_png("https://a.example/", 3);
        for cut in [8, 20, 40, png.len() / 2, png.len() - 5] {
            assert!(codes(&png[..cut]).is_empty(), "cut at {cut}");
        }
        // An image of no code: a white square.
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, 100, 100);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.write_header().unwrap().write_image_data(&[255u8; 10_000]).unwrap();
        assert!(codes(&out).is_empty());
    }

    #[test]
    fn a_gif_frame_of_no_width_is_no_image() {
        // A 120 × 120 screen of two colours whose one frame is 0 × 0 (found by the fuzzer).
        let gif = b"GIF89a\x78\x00\x78\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff\x2c\x1c\x00\x00\x00\x00\x00\x00\x00\x50\x02\xff";
        assert!(codes(gif).is_empty());
    }

    #[test]
    fn images_too_large_to_decode_are_not_decoded() {
        // A valid PNG of one pixel whose header is made to claim 5,000 × 5,000, its checksum
        // mended: refused from the header, before any pixel is read.
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, 1, 1);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.write_header().unwrap().write_image_data(&[0]).unwrap();
        // The signature (8), the IHDR length and name (8), then width and height.
        out[16..20].copy_from_slice(&5_000u32.to_be_bytes());
        out[20..24].copy_from_slice(&5_000u32.to_be_bytes());
        let crc = crc32fast::hash(&out[12..29]);
        out[29..33].copy_from_slice(&crc.to_be_bytes());
        assert!(png::Decoder::new(Cursor::new(&out[..])).read_info().is_ok(), "the header reads");
        assert!(!within_bounds(5_000, 5_000));
        assert!(codes(&out).is_empty());
    }
}
