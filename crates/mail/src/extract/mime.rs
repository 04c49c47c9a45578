//! MIME structure, charsets and encodings, attachments; hands text and HTML parts on.

use mail_parser::{Message, MimeHeaders, PartType};

use super::html;
use super::qr;
use super::signals::Clues;
use super::text::TextCollector;
use super::url::UrlCollector;
use super::{Emitter, ns, prefix};
use crate::MailConfig;

/// MIME parts looked at per message, at most.
const MAX_PARTS: usize = 64;

pub(super) fn extract<'m>(
    msg: &'m Message<'_>,
    config: &MailConfig,
    texts: &mut TextCollector<'m>,
    urls: &mut UrlCollector,
    clues: &mut Clues,
    out: &mut Emitter<'_>,
) -> Vec<&'m [u8]> {
    let parts = &msg.parts;
    out.num(ns::MIME, "parts", parts.len());
    let (mut plain, mut html_parts, mut attachments) = (0, 0, 0);
    let mut structure = String::new();
    let mut images = Vec::new();
    for (i, part) in parts.iter().take(MAX_PARTS).enumerate() {
        let ctype = part.content_type().map_or_else(
            || "none".to_owned(),
            |ct| {
                let mut t = String::with_capacity(32);
                t.push_str(ct.ctype());
                t.push('/');
                t.push_str(ct.subtype().unwrap_or(""));
                t.make_ascii_lowercase();
                t
            },
        );
        if i < 6 {
            if !structure.is_empty() {
                structure.push(',');
            }
            structure.push_str(prefix(&ctype, 40));
        }
        out.pair(ns::MIME, "type", prefix(&ctype, 60));
        if let Some(cs) = part.content_type().and_then(|ct| ct.attribute("charset")) {
            out.pair(ns::MIME, "charset", &prefix(cs, 30).to_ascii_lowercase());
        }
        if let Some(cte) = part.content_transfer_encoding() {
            out.pair(ns::MIME, "cte", &prefix(cte, 30).to_ascii_lowercase());
        }
        if part.is_encoding_problem {
            out.flag(ns::MIME, "encoding_problem");
        }
        let is_attachment = part.attachment_name().is_some()
            || part.content_disposition().is_some_and(|d| d.ctype().eq_ignore_ascii_case("attachment"));
        match &part.body {
            PartType::Text(t) if !is_attachment => {
                plain += 1;
                texts.push_body(t);
            }
            PartType::Html(h) if !is_attachment => {
                html_parts += 1;
                let h = prefix(h, config.max_part_bytes);
                let text = html::extract(h, urls, clues, out);
                texts.push_owned_body(text);
            }
            PartType::Message(_) => out.flag(ns::MIME, "nested_message"),
            PartType::Multipart(_) => {}
            _ => {
                attachments += 1;
                attachment(part.attachment_name(), &ctype, part.len(), out);
                let bytes = part.contents();
                clues.attachment(part.attachment_name(), &ctype, bytes);
                if images.len() < config.qr_images
                    && ((bytes.len() <= qr::MAX_IMAGE_BYTES && qr::is_image(bytes)) || qr::is_pdf(bytes))
                {
                    images.push(bytes);
                }
            }
        }
    }
    out.pair(ns::MIME, "structure", &structure);
    out.num(ns::ATTACH, "count", attachments);
    if html_parts > 0 && plain == 0 {
        out.flag(ns::MIME, "html_only");
    }
    images
}

fn attachment(name: Option<&str>, ctype: &str, len: usize, out: &mut Emitter<'_>) {
    out.pair(ns::ATTACH, "type", prefix(ctype, 60));
    out.num(ns::ATTACH, "size", len);
    let Some(name) = name else { return };
    let lower = name.to_lowercase();
    let mut pieces = lower.rsplit('.');
    let ext = pieces.next().filter(|e| e.len() <= 8 && *e != lower).unwrap_or("");
    out.pair(ns::ATTACH, "ext", ext);
    // "invoice.pdf.exe": a harmless-looking extension in front of the real one.
    if pieces
        .next()
        .is_some_and(|e| matches!(e, "pdf" | "doc" | "docx" | "xls" | "xlsx" | "jpg" | "png" | "txt"))
        && pieces.next().is_some()
    {
        out.flag(ns::ATTACH, "double_extension");
    }
    if matches!(
        ext,
        "exe" | "scr" | "js" | "vbs" | "bat" | "cmd" | "com" | "pif" | "jar" | "hta" | "lnk" | "iso" | "img"
    ) {
        out.flag(ns::ATTACH, "executable");
    }
}
