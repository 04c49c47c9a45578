//! HTML parts: their links, forms, images, scripts and hidden text, and their text.
//!
//! lol_html streams the (bounded) part once for the structural signals; mail-parser's
//! `html_to_text` gives the text that a reader would see, without scripts and styles.

use std::cell::RefCell;

use lol_html::{HtmlRewriter, Settings, element, text};

use super::url::UrlCollector;
use super::{Emitter, ns};

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
pub(super) fn extract(html: &str, urls: &mut UrlCollector, out: &mut Emitter<'_>) -> String {
    let state = RefCell::new(Signals::default());
    let result = {
        let settings = Settings::new()
            .append_element_content_handler(element!("a[href]", |el| {
                let mut s = state.borrow_mut();
                s.links += 1;
                if s.hrefs.len() < 128 {
                    let href = el.get_attribute("href").unwrap_or_default();
                    s.hrefs.push(href);
                    s.anchor_text.push(String::new());
                }
                Ok(())
            }))
            .append_element_content_handler(text!("a[href]", |t| {
                let mut s = state.borrow_mut();
                if let Some(last) = s.anchor_text.last_mut()
                    && last.len() < 256
                {
                    last.push_str(t.as_str());
                }
                Ok(())
            }))
            .append_element_content_handler(element!("img", |el| {
                let mut s = state.borrow_mut();
                s.images += 1;
                if let Some(src) = el.get_attribute("src").filter(|v| v.len() < 2048 && v.contains("://"))
                    && s.other_urls.len() < 64
                {
                    s.other_urls.push(src);
                }
                let tiny = |a: &str| {
                    el.get_attribute(a).is_some_and(|v| matches!(v.trim(), "0" | "1" | "1px" | "0px"))
                };
                if tiny("width") || tiny("height") {
                    s.tiny_images += 1;
                }
                Ok(())
            }))
            .append_element_content_handler(element!("form", |el| {
                let mut s = state.borrow_mut();
                s.forms += 1;
                if let Some(action) = el.get_attribute("action") {
                    s.other_urls.push(action);
                }
                Ok(())
            }))
            .append_element_content_handler(element!("input[type=password]", |_| {
                state.borrow_mut().password = true;
                Ok(())
            }))
            .append_element_content_handler(element!("script", |_| {
                state.borrow_mut().scripts += 1;
                Ok(())
            }))
            .append_element_content_handler(element!("iframe", |_| {
                state.borrow_mut().iframes = true;
                Ok(())
            }))
            .append_element_content_handler(element!("object, embed", |_| {
                state.borrow_mut().embeds = true;
                Ok(())
            }))
            .append_element_content_handler(element!("meta[http-equiv]", |el| {
                if el.get_attribute("http-equiv").is_some_and(|v| v.eq_ignore_ascii_case("refresh")) {
                    state.borrow_mut().refresh = true;
                }
                Ok(())
            }))
            .append_element_content_handler(element!("base[href]", |_| {
                state.borrow_mut().base = true;
                Ok(())
            }))
            .append_element_content_handler(element!("[style]", |el| {
                if el.get_attribute("style").is_some_and(|s| hides(&s)) {
                    state.borrow_mut().hidden += 1;
                }
                Ok(())
            }));
        let mut rewriter = HtmlRewriter::new(settings, |_: &[u8]| {});
        rewriter.write(html.as_bytes()).and_then(|()| rewriter.end())
    };
    if result.is_err() {
        out.flag(ns::HTML, "parse_error");
    }
    let s = state.into_inner();
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
    for url in &s.other_urls {
        urls.push(url);
    }
    for (href, text) in s.hrefs.iter().zip(&s.anchor_text) {
        urls.push(href);
        let text = text.trim();
        if text.contains('.') && !text.contains(' ') {
            urls.push_anchor(href, text);
        }
    }
    let text = mail_parser::decoders::html::html_to_text(html);
    if s.images > 0 && text.trim().len() < 40 {
        out.flag(ns::HTML, "images_without_text");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_styles_are_recognised() {
        assert!(hides("DISPLAY: none"));
        assert!(hides("color:red; font-size: 0px"));
        assert!(!hides("display:block; font-size: 12px"));
        assert!(!hides("opacity:0.9"));
    }
}
