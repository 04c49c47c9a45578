//! HTML parts: their links, forms, images, scripts and hidden text, and their text.
//!
//! One pass of html5gum's WHATWG tokenizer over the (bounded) part gives both the structural
//! signals and the text a reader would see: character references decoded, scripts, styles
//! and the head left out, block elements separating words while inline ones do not (so
//! `fr<b></b>ee` still reads "free", as it renders). No tree is built: mail HTML is tag soup
//! and only tags, attributes and text matter here.

use html5gum::emitters::callback::{CallbackEmitter, CallbackEvent};
use html5gum::{ForwardingEmitter, Span, Tokenizer};

use super::signals::Clues;
use super::url::UrlCollector;
use super::{Emitter, ns};

/// Links whose target and anchor text are kept, at most.
const MAX_LINKS: usize = 128;
/// Form actions and remote image sources kept, at most.
const MAX_OTHER_URLS: usize = 64;
/// Anchor text kept per link, in bytes.
const MAX_ANCHOR_TEXT: usize = 256;

#[derive(Default)]
struct Signals {
    links: usize,
    images: usize,
    tiny_images: usize,
    forms: usize,
    password: bool,
    scripts: usize,
    iframes: bool,
    embeds: bool,
    hidden: usize,
    refresh: bool,
    base: bool,
    hrefs: Vec<String>,
    /// Anchor texts, aligned with `hrefs`.
    anchor_text: Vec<String>,
    /// Form actions and remote image sources.
    other_urls: Vec<String>,
    /// Images carried in the markup itself (`data:image/…;base64,`), decoded, at most
    /// [`MAX_DATA_IMAGES`].
    data_images: Vec<Vec<u8>>,
}

/// Images in `data:` URLs decoded per part, at most: they are searched for QR codes.
const MAX_DATA_IMAGES: usize = 2;

/// Tag names up to this long are kept; the longest one looked at is `blockquote`.
const MAX_TAG_NAME: usize = 12;

/// A tag name, kept in place (one allocation a tag cost more than reading the tag); a longer
/// name is kept as the empty name, which no signal looks at.
#[derive(Default, Clone, Copy)]
struct TagName {
    bytes: [u8; MAX_TAG_NAME],
    len: u8,
}

impl TagName {
    fn new(name: &[u8]) -> Self {
        let mut t = TagName::default();
        if name.len() <= MAX_TAG_NAME {
            t.bytes[..name.len()].copy_from_slice(name);
            t.len = name.len() as u8;
        }
        t
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// The start tag being read: its name and the attributes the signals need.
#[derive(Default)]
struct Tag {
    name: TagName,
    /// The attribute whose value comes next, if it is one of those kept.
    pending: Option<Attr>,
    href: Option<String>,
    src: Option<String>,
    /// A `data:image/…;base64,` source, decoded.
    data_image: Option<Vec<u8>>,
    action: Option<String>,
    tiny: bool,
    password: bool,
    refresh: bool,
    hidden: bool,
}

#[derive(Clone, Copy)]
enum Attr {
    Href,
    Src,
    Size,
    Action,
    Type,
    HttpEquiv,
    Style,
}

/// The state of one pass: signals so far, the tag being read, where the text is.
#[derive(Default)]
struct Pass {
    signals: Signals,
    tag: Tag,
    text: String,
    /// Inside script, style, head or template: text not shown.
    hidden_depth: usize,
    /// Inside an `a` with an href: its text is the anchor text.
    in_anchor: bool,
}

impl Pass {
    fn event(&mut self, event: CallbackEvent<'_>) {
        match event {
            CallbackEvent::OpenStartTag { name } => {
                self.tag = Tag { name: TagName::new(name), ..Tag::default() };
            }
            CallbackEvent::AttributeName { name } => {
                self.tag.pending = match name {
                    b"href" => Some(Attr::Href),
                    b"src" => Some(Attr::Src),
                    b"width" | b"height" => Some(Attr::Size),
                    b"action" => Some(Attr::Action),
                    b"type" => Some(Attr::Type),
                    b"http-equiv" => Some(Attr::HttpEquiv),
                    b"style" => Some(Attr::Style),
                    _ => None,
                };
            }
            CallbackEvent::AttributeValue { value } => self.attribute(value),
            CallbackEvent::CloseStartTag { .. } => self.start_tag(),
            CallbackEvent::EndTag { name } => self.end_tag(name),
            CallbackEvent::String { value } => {
                if self.hidden_depth == 0 {
                    let value = utf8(value);
                    self.text.push_str(&value);
                    if self.in_anchor
                        && let Some(anchor) = self.signals.anchor_text.last_mut()
                        && anchor.len() < MAX_ANCHOR_TEXT
                    {
                        anchor.push_str(super::prefix(&value, MAX_ANCHOR_TEXT - anchor.len()));
                    }
                }
            }
            CallbackEvent::Error(_) | CallbackEvent::Comment { .. } | CallbackEvent::Doctype { .. } => {}
        }
    }

    fn attribute(&mut self, value: &[u8]) {
        let Some(attr) = self.tag.pending.take() else { return };
        let text = || utf8(value).into_owned();
        let tag = &mut self.tag;
        match attr {
            Attr::Href => tag.href = Some(text()),
            Attr::Src if value.get(..11).is_some_and(|p| p.eq_ignore_ascii_case(b"data:image/")) => {
                // Decoded only while the part has room for another.
                let room = self.signals.data_images.len() < MAX_DATA_IMAGES;
                let payload =
                    memchr::memmem::find(value, b";base64,").map(|at| &value[at + 8..]).filter(|_| room);
                tag.data_image = payload
                    .filter(|p| p.len() <= super::qr::MAX_IMAGE_BYTES * 4 / 3 + 4)
                    .and_then(mail_parser::decoders::base64::base64_decode);
            }
            Attr::Src if value.len() < 2048 => tag.src = Some(text()),
            Attr::Src => {}
            Attr::Size => tag.tiny |= matches!(value.trim_ascii(), b"0" | b"1" | b"1px" | b"0px"),
            Attr::Action => tag.action = Some(text()),
            Attr::Type => tag.password |= value.eq_ignore_ascii_case(b"password"),
            Attr::HttpEquiv => tag.refresh |= value.eq_ignore_ascii_case(b"refresh"),
            Attr::Style => tag.hidden |= hides(&utf8(value)),
        }
    }

    fn start_tag(&mut self) {
        let tag = std::mem::take(&mut self.tag);
        let s = &mut self.signals;
        s.hidden += usize::from(tag.hidden);
        let name = tag.name;
        match name.as_bytes() {
            b"a" => {
                if let Some(href) = tag.href {
                    s.links += 1;
                    self.in_anchor = s.hrefs.len() < MAX_LINKS;
                    if self.in_anchor {
                        s.hrefs.push(href);
                        s.anchor_text.push(String::new());
                    }
                }
            }
            b"img" => {
                s.images += 1;
                s.tiny_images += usize::from(tag.tiny);
                if let Some(image) = tag.data_image
                    && s.data_images.len() < MAX_DATA_IMAGES
                {
                    s.data_images.push(image);
                }
                if let Some(src) = tag.src.filter(|v| v.contains("://"))
                    && s.other_urls.len() < MAX_OTHER_URLS
                {
                    s.other_urls.push(src);
                }
            }
            b"form" => {
                s.forms += 1;
                if let Some(action) = tag.action
                    && s.other_urls.len() < MAX_OTHER_URLS
                {
                    s.other_urls.push(action);
                }
            }
            b"input" => s.password |= tag.password,
            b"iframe" => s.iframes = true,
            b"object" | b"embed" => s.embeds = true,
            b"meta" => s.refresh |= tag.refresh,
            b"base" => s.base |= tag.href.is_some(),
            b"script" => s.scripts += 1,
            _ => {}
        }
        if hides_content(name.as_bytes()) {
            self.hidden_depth += 1;
        }
        self.separate(name.as_bytes());
    }

    fn end_tag(&mut self, name: &[u8]) {
        if name == b"a" {
            self.in_anchor = false;
        }
        if hides_content(name) {
            self.hidden_depth = self.hidden_depth.saturating_sub(1);
        }
        self.separate(name);
    }

    /// Block elements and line breaks separate words; inline elements do not.
    fn separate(&mut self, name: &[u8]) {
        let block = matches!(
            name,
            b"br"
                | b"p"
                | b"div"
                | b"td"
                | b"th"
                | b"tr"
                | b"li"
                | b"ul"
                | b"ol"
                | b"table"
                | b"tbody"
                | b"h1"
                | b"h2"
                | b"h3"
                | b"h4"
                | b"h5"
                | b"h6"
                | b"hr"
                | b"blockquote"
                | b"pre"
                | b"center"
                | b"body"
                | b"section"
                | b"header"
                | b"footer"
                | b"dt"
                | b"dd"
        );
        if block && !self.text.ends_with(['\n', ' ']) && !self.text.is_empty() {
            self.text.push('\n');
        }
    }
}

/// The callback emitter without the tokenizer's validation of every byte against the spec's
/// parse errors: nearly all mail HTML has some, they say nothing a filter uses, and checking
/// for them cost as much as the rest of the tokenizing.
struct Quiet<E>(E);

impl<E: html5gum::Emitter> ForwardingEmitter for Quiet<E> {
    type Token = E::Token;

    fn inner(&mut self) -> &mut impl html5gum::Emitter<Token = Self::Token> {
        &mut self.0
    }

    fn should_emit_errors(&mut self) -> bool {
        false
    }
}

/// Text the tokenizer gave back. It read a `&str`, so this is UTF-8 but for a character
/// reference to an invalid code point; validating first is much faster than the lossy
/// conversion's byte-by-byte walk.
fn utf8(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// Elements whose content a reader does not see as text.
fn hides_content(name: &[u8]) -> bool {
    matches!(name, b"script" | b"style" | b"head" | b"template" | b"title")
}

/// Inline styles that hide text from the reader while filters still read it.
fn hides(style: &str) -> bool {
    let s: String = style.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    s.contains("display:none")
        || s.contains("visibility:hidden")
        || s.contains("font-size:0")
        || s.contains("font-size:1px")
        || s.contains("opacity:0;")
        || s.ends_with("opacity:0")
        || s.contains("max-height:0")
}

/// Emits the HTML signals of `html` and returns its readable text.
pub(super) fn extract(
    html: &str,
    urls: &mut UrlCollector,
    clues: &mut Clues,
    out: &mut Emitter<'_>,
) -> String {
    let mut pass = Pass::default();
    let mut emitter = CallbackEmitter::new(|event: CallbackEvent<'_>, _: Span<()>| -> Option<()> {
        pass.event(event);
        None
    });
    // Script, style and the like hold raw text, not markup: the tokenizer switches state on
    // their start tags as a tree builder would.
    emitter.naively_switch_states(true);
    for _ in Tokenizer::new_with_emitter(html, Quiet(emitter)) {}
    let Pass { signals: s, text, .. } = pass;
    out.num(ns::HTML, "links", s.links);
    out.num(ns::HTML, "images", s.images);
    for (flag, on) in [
        ("tiny_image", s.tiny_images > 0),
        ("form", s.forms > 0),
        ("password_input", s.password),
        ("script", s.scripts > 0),
        ("iframe", s.iframes),
        ("embed", s.embeds),
        ("hidden_text", s.hidden > 0),
        ("meta_refresh", s.refresh),
        ("base_href", s.base),
    ] {
        if on {
            out.flag(ns::HTML, flag);
        }
    }
    clues.password_form |= s.password && s.forms > 0;
    clues.data_links += s
        .hrefs
        .iter()
        .filter(|h| h.trim_start().get(..5).is_some_and(|p| p.eq_ignore_ascii_case("data:")))
        .count();
    for url in &s.other_urls {
        urls.push(url);
    }
    clues.images.extend(s.data_images);
    for (href, text) in s.hrefs.iter().zip(&s.anchor_text) {
        urls.push(href);
        let text = text.trim();
        if text.contains('.') && !text.contains(' ') {
            urls.push_anchor(href, text);
        }
    }
    if s.images > 0 && text.trim().len() < 40 {
        out.flag(ns::HTML, "images_without_text");
    }
    text
}

#[cfg(test)]
mod tests {
    use warden_core::NamedSink;

    use super::*;

    /// The text and feature names of an HTML part.
    fn run(html: &str) -> (String, Vec<String>, UrlCollector) {
        let mut sink = NamedSink::new();
        let mut urls = UrlCollector::default();
        let text = {
            let mut out = Emitter { sink: &mut sink, buf: String::new() };
            extract(html, &mut urls, &mut Clues::default(), &mut out)
        };
        let (x, names) = sink.finish();
        (text, x.hashes().iter().map(|h| names[h].clone()).collect(), urls)
    }

    #[test]
    fn hidden_styles_are_recognised() {
        assert!(hides("DISPLAY: none"));
        assert!(hides("color:red; font-size: 0px"));
        assert!(!hides("display:block; font-size: 12px"));
        assert!(!hides("opacity:0.9"));
    }

    #[test]
    fn text_is_what_a_reader_sees() {
        let (text, ..) = run("<html><head><title>T</title><style>p{color:red}</style></head>\
             <body><script>var x = '<p>no</p>';</script><p>Fr<b>ee</b> &amp; fast&nbsp;now</p>\
             <div>next</div>line<br>break</body></html>");
        assert!(text.contains("fast\u{a0}now"), "references decoded: {text:?}");
        let words: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(words, ["Free", "&", "fast", "now", "next", "line", "break"]);
    }

    #[test]
    fn structural_signals_are_found() {
        let (_, names, urls) = run(r#"<form action="https://evil.example/login"><input type=PASSWORD></form>
             <img src="https://track.example/p.gif" width="1"><iframe src="x"></iframe>
             <meta http-equiv="Refresh" content="0;url=x"><span style="display:none">pad</span>
             <a href="https://paypa1.example/">www.paypal.com</a><a href=x>plain</a>"#);
        for flag in [
            "html:form",
            "html:password_input",
            "html:tiny_image",
            "html:iframe",
            "html:meta_refresh",
            "html:hidden_text",
            "html:links=2-3",
            "html:images=1",
            "html:images_without_text",
        ] {
            assert!(names.iter().any(|n| n == flag), "{flag} missing from {names:?}");
        }
        assert!(!names.iter().any(|n| n == "html:script"), "{names:?}");
        assert_eq!(urls.anchors(), [("https://paypa1.example/".to_owned(), "www.paypal.com".to_owned())]);
    }

    #[test]
    fn unclosed_and_broken_markup_still_gives_text() {
        let (text, ..) = run("<p>hello <a href='x'>world <div <<>> &bogus; <script>never closed");
        assert!(text.contains("hello") && text.contains("world"), "{text:?}");
        assert!(!text.contains("never"), "{text:?}");
    }
}
