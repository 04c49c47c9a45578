use serde::{Deserialize, Serialize};

/// Limits and switches of mail feature extraction. The defaults suit a mail provider; they are
/// part of a model's metadata, since a model learns what the extractor showed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// Bytes of a message that are parsed at all (default 1 MiB). The rest is not read.
    pub max_scan_bytes: usize,
    /// Bytes of each text or HTML part whose content is analysed (default 64 KiB).
    pub max_part_bytes: usize,
    /// Bytes of normalised text (subject, then bodies) cut into 4-grams (default 2,000).
    pub ngram_bytes: usize,
    /// Body words looked at per message (default 500).
    pub max_words: usize,
    /// Bytes of the raw message, headers included, cut into byte 4-grams (default 2,000).
    pub raw_ngram_bytes: usize,
    /// Leave the trace fields (Received, DKIM-Signature, ARC-*, Authentication-Results,
    /// Received-SPF) out of the raw 4-grams (default false). A model trained on archived
    /// corpora, whose trace describes the archive rather than the sender, should set it; a
    /// model that learns a site's own traffic gains from the trace.
    pub raw_ngrams_skip_trace: bool,
    /// Images (PNG, JPEG, GIF parts of at most 1 MiB) searched for QR codes per message
    /// (default 2; 0 searches none). A code's link is read as a link of the message.
    pub qr_images: usize,
    /// The operator's own domains: mail that looks like theirs without being from them is
    /// caught as a brand's would be (`BRAND_IMPERSONATION`, `LOOKALIKE_DOMAIN`). A setting of the
    /// site, not of the model: a model's own extraction settings never replace it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub own_domains: Vec<String>,
    /// The names the operator's brand goes by in display names ("Example Bank").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub own_brands: Vec<String>,
    /// The two above made into a brand list at first use (matching needs an automaton): a
    /// cache, not a setting; leave it to `..Default::default()`.
    #[serde(skip)]
    pub own: OwnBrands,
}

/// The operator's own brand, built from the settings at first use.
#[derive(Default)]
pub struct OwnBrands(std::sync::OnceLock<Option<crate::brands::Brands>>);

impl OwnBrands {
    /// The brand list `own_brands` and `own_domains` make (`None` without domains).
    pub(crate) fn get(&self, names: &[String], domains: &[String]) -> Option<&crate::brands::Brands> {
        self.0.get_or_init(|| crate::brands::own(names, domains)).as_ref()
    }
}

// A cache, not a setting: a copy builds its own, and it takes no part in comparisons.
impl Clone for OwnBrands {
    fn clone(&self) -> Self {
        OwnBrands::default()
    }
}

impl PartialEq for OwnBrands {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for OwnBrands {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OwnBrands")
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            max_scan_bytes: 1 << 20,
            max_part_bytes: 64 << 10,
            ngram_bytes: 2_000,
            max_words: 500,
            raw_ngram_bytes: 2_000,
            raw_ngrams_skip_trace: false,
            qr_images: 2,
            own_domains: Vec::new(),
            own_brands: Vec::new(),
            own: OwnBrands::default(),
        }
    }
}
