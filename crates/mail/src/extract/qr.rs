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
    let Some(image) = image.map(shrink) else { return Vec::new() };
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
