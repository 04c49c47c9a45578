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
        }
    }
}
