//! What kind of mail domain an address is at: the service's own, a free provider's, a
//! disposable one's, or another. Disposable addresses are made to be thrown away, and a bulk
//! sign-up's generator reaches for them; free ones are where people are.
//!
//! The lists are snapshots of maintained ones, dated, under `data/` (their provenance and
//! licence in their first lines; `scripts/email-domains-update.sh` takes a new snapshot):
//! npm `disposable-email-domains` (121,570 domains, and 399 whose every subdomain is
//! disposable) and npm `free-email-domains` (14,125 domains). They are compiled in and read
//! once, on first use.

use std::collections::HashSet;
use std::sync::LazyLock;

/// The class of a mail domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DomainClass {
    /// The service's own (an operator's list): its staff, its aliases.
    Own,
    /// A free provider's (gmail.com, mail.ru, …).
    Free,
    /// A disposable one's (mailinator.com, …).
    Disposable,
    /// Any other: a company's, a school's, a person's own.
    Other,
}

impl DomainClass {
    /// Its name in features and reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainClass::Own => "own",
            DomainClass::Free => "free",
            DomainClass::Disposable => "disposable",
            DomainClass::Other => "other",
        }
    }
}

/// A snapshot's domains: the lines that are not comments.
fn lines(text: &'static str) -> HashSet<&'static str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

static DISPOSABLE: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| lines(include_str!("../../../data/disposable-domains.txt")));
static DISPOSABLE_WILDCARDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| lines(include_str!("../../../data/disposable-wildcards.txt")));
static FREE: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| lines(include_str!("../../../data/free-mail-domains.txt")));

/// The class of `domain` (lower case, as [`crate::event::Address`] keeps it), the service's own
/// domains being `own`: own first, then disposable (the domain, or a domain every subdomain of
/// which is disposable), then free — a domain on both lists is disposable.
pub fn class(domain: &str, own: &[String]) -> DomainClass {
    let domain = domain.trim_end_matches('.');
    if own.iter().any(|o| o.eq_ignore_ascii_case(domain)) {
        return DomainClass::Own;
    }
    if DISPOSABLE.contains(domain) || parents(domain).any(|p| DISPOSABLE_WILDCARDS.contains(p)) {
        return DomainClass::Disposable;
    }
    if FREE.contains(domain) {
        return DomainClass::Free;
    }
    DomainClass::Other
}

/// `domain` and each domain above it: `a.b.c`, `b.c`, `c`.
fn parents(domain: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(domain), |d| d.split_once('.').map(|(_, rest)| rest))
}

#[cfg(test)]
mod tests {
    use super::{DomainClass, class, parents};

    #[test]
    fn domains_are_classed_own_then_disposable_then_free() {
        let none: &[String] = &[];
        assert_eq!(class("gmail.com", none), DomainClass::Free);
        assert_eq!(class("mail.ru", none), DomainClass::Free);
        assert_eq!(class("mailinator.com", none), DomainClass::Disposable);
        assert_eq!(class("yopmail.com", none), DomainClass::Disposable);
        assert_eq!(class("anything.33m.co", none), DomainClass::Disposable, "a wildcard's subdomain");
        assert_eq!(class("0-mail.com", none), DomainClass::Disposable, "on both lists: disposable");
        assert_eq!(class("example.org", none), DomainClass::Other);
        assert_eq!(class("gmail.com.", none), DomainClass::Free, "a trailing dot");
        assert_eq!(
            class("gmail.com", &["GMail.com".to_owned()]),
            DomainClass::Own,
            "the service's own first"
        );
        assert_eq!(class("", none), DomainClass::Other);
        assert_eq!(parents("a.b.c").collect::<Vec<_>>(), ["a.b.c", "b.c", "c"]);
    }

    #[test]
    fn the_snapshots_are_whole_and_dated() {
        for (text, at_least) in [
            (include_str!("../../../data/disposable-domains.txt"), 100_000),
            (include_str!("../../../data/disposable-wildcards.txt"), 300),
            (include_str!("../../../data/free-mail-domains.txt"), 10_000),
        ] {
            assert!(
                text.lines().nth(1).is_some_and(|l| l.contains("npm ") && l.contains("taken 20")),
                "dated"
            );
            let n = super::lines(text).len();
            assert!(n >= at_least, "{n} domains");
        }
    }
}
