//! Images for the QR code bench, the fuzzer's seeds and the tests: codes in PNG, JPEG and GIF,
//! a photo with no code, and a sheet of finder patterns (the search's worst case: every three of
//! them might be a code); and base64 as a mailer writes it.
#![allow(dead_code)] // each user takes what it needs

/// A QR code of `text` as a greyscale image, `scale` pixels a module, a quiet zone of four
/// modules: (side, pixels).
pub fn code(text: &str, scale: usize) -> (usize, Vec<u8>) {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("the text fits a code");
    let modules = code.width();
    let side = (modules + 8) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (mx, my) = (i % modules + 4, i / modules + 4);
            for y in my * scale..(my + 1) * scale {
                pixels[y * side + mx * scale..y * side + (mx + 1) * scale].fill(0);
            }
        }
    }
    (side, pixels)
}

pub fn png(width: usize, height: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.write_header().unwrap().write_image_data(pixels).unwrap();
    out
}

pub fn jpeg(width: usize, height: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, 85)
        .encode(pixels, width as u16, height as u16, jpeg_encoder::ColorType::Luma)
        .unwrap();
    out
}

pub fn gif(width: usize, height: usize, pixels: &[u8]) -> Vec<u8> {
    gif_on(width, height, pixels, [0, 0, 0, 255, 255, 255])
}

/// A GIF of two colours, `palette` (dark, then light, as RGB), for pixels below and above 127.
pub fn gif_on(width: usize, height: usize, pixels: &[u8], palette: [u8; 6]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = gif::Encoder::new(&mut out, width as u16, height as u16, &palette).unwrap();
        let indices: Vec<u8> = pixels.iter().map(|&p| u8::from(p > 127)).collect();
        let frame = gif::Frame {
            width: width as u16,
            height: height as u16,
            buffer: indices.into(),
            ..Default::default()
        };
        encoder.write_frame(&frame).unwrap();
    }
    out
}

/// Standard base64 in lines of 76 characters, as a mailer writes a part.
pub fn base64_lines(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for (i, c) in bytes.chunks(3).enumerate() {
        if i > 0 && i % 19 == 0 {
            out.push_str("\r\n");
        }
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for k in 0..4 {
            out.push(if k <= c.len() { ABC[(n >> (18 - 6 * k)) as usize & 63] as char } else { '=' });
        }
    }
    out
}

/// A photo-like picture with no code: smooth shading and grain.
pub fn photo(side: usize) -> Vec<u8> {
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    (0..side * side)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (px, py) = (i % side, i / side);
            ((px * 200 / side + py * 55 / side) as u64 + (x % 24)) as u8
        })
        .collect()
}

/// A sheet of QR finder patterns (7 × 7 modules each, `scale` pixels a module, two modules
/// apart) filling `side` × `side`.
pub fn finder_sheet(side: usize, scale: usize) -> Vec<u8> {
    let mut pixels = vec![255u8; side * side];
    let step = 9 * scale;
    for oy in (0..side.saturating_sub(7 * scale)).step_by(step) {
        for ox in (0..side.saturating_sub(7 * scale)).step_by(step) {
            for my in 0..7 {
                for mx in 0..7 {
                    let ring = mx.min(my).min(6 - mx).min(6 - my);
                    if ring != 1 {
                        for y in oy + my * scale..oy + (my + 1) * scale {
                            pixels[y * side + ox + mx * scale..y * side + ox + (mx + 1) * scale].fill(0);
                        }
                    }
                }
            }
        }
    }
    pixels
}

/// An image XObject of a PDF file: its dictionary's entries and its stream's bytes.
pub struct PdfImage {
    pub dict: String,
    pub data: Vec<u8>,
}

/// A grey image as `/FlateDecode` pixels: 8 bits a pixel, or 1 bit as an `/ImageMask` (black
/// painted); with `predicted`, each row filtered by a PNG predictor (sub, up, average and Paeth in
/// turn) as `/Predictor 15` says; `/Length` as a reference to another object unless `direct`.
pub fn pdf_flate(
    width: usize,
    height: usize,
    pixels: &[u8],
    one_bit: bool,
    predicted: bool,
    direct: bool,
) -> PdfImage {
    let row = if one_bit { width.div_ceil(8) } else { width };
    let mut rows = vec![0u8; row * height];
    for y in 0..height {
        for x in 0..width {
            let p = pixels[y * width + x];
            if one_bit {
                if p > 127 {
                    rows[y * row + x / 8] |= 0x80 >> (x % 8);
                }
            } else {
                rows[y * row + x] = p;
            }
        }
    }
    let raw = if predicted { png_filter(&rows, row, height) } else { rows };
    let data = miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6);
    let kind = if one_bit {
        "/ImageMask true".to_owned()
    } else {
        "/ColorSpace /DeviceGray /BitsPerComponent 8".to_owned()
    };
    let parms = if predicted {
        format!(
            " /DecodeParms << /Predictor 15 /Colors 1 /BitsPerComponent {} /Columns {width} >>",
            if one_bit { 1 } else { 8 }
        )
    } else {
        String::new()
    };
    let length = if direct { format!("{}", data.len()) } else { "9 0 R".to_owned() };
    PdfImage {
        dict: format!(
            "/Type /XObject /Subtype /Image /Width {width} /Height {height} {kind} /Filter /FlateDecode{parms} /Length {length}"
        ),
        data,
    }
}

/// A JPEG file as a `/DCTDecode` image.
pub fn pdf_jpeg(width: usize, height: usize, jpeg: Vec<u8>) -> PdfImage {
    PdfImage {
        dict: format!(
            "/Type /XObject /Subtype /Image /Width {width} /Height {height} /ColorSpace /DeviceGray \
             /BitsPerComponent 8 /Filter /DCTDecode /Length {}",
            jpeg.len()
        ),
        data: jpeg,
    }
}

/// Rows filtered by PNG predictors, one byte a pixel: each row its filter's byte, then the row.
fn png_filter(rows: &[u8], row: usize, height: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity((row + 1) * height);
    for y in 0..height {
        let kind = (y % 4 + 1) as u8;
        out.push(kind);
        for x in 0..row {
            let cur = rows[y * row + x];
            let a = if x > 0 { rows[y * row + x - 1] } else { 0 };
            let b = if y > 0 { rows[(y - 1) * row + x] } else { 0 };
            let c = if x > 0 && y > 0 { rows[(y - 1) * row + x - 1] } else { 0 };
            let predicted = match kind {
                1 => a,
                2 => b,
                3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                _ => {
                    let p = i16::from(a) + i16::from(b) - i16::from(c);
                    let (pa, pb, pc) =
                        ((p - i16::from(a)).abs(), (p - i16::from(b)).abs(), (p - i16::from(c)).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
            };
            out.push(cur.wrapping_sub(predicted));
        }
    }
    out
}

/// A one-page PDF file that shows `images`, each an object of its own.
pub fn pdf(images: &[PdfImage]) -> Vec<u8> {
    let mut out =
        b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n".to_vec();
    let names: Vec<String> = (0..images.len()).map(|i| format!("/Im{i} {} 0 R", 10 + i)).collect();
    out.extend_from_slice(
        format!(
            "2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n3 0 obj\n<< /Type /Page /Parent 2 0 R \
             /MediaBox [0 0 612 792] /Resources << /XObject << {} >> >> >>\nendobj\n",
            names.join(" ")
        )
        .as_bytes(),
    );
    for (i, image) in images.iter().enumerate() {
        out.extend_from_slice(format!("{} 0 obj\n<< {} >>\nstream\r\n", 10 + i, image.dict).as_bytes());
        out.extend_from_slice(&image.data);
        out.extend_from_slice(b"\r\nendstream\nendobj\n");
    }
    out.extend_from_slice(b"trailer\n<< /Root 1 0 R >>\n%%EOF\n");
    out
}
