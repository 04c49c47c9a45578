//! Labelled corpora and the figures Warden is judged by.
//!
//! - [`Corpus`]: a folder with `labels.tsv`, or a TREC spam-track index file, read as a list
//!   of labelled message paths; messages themselves are read one at a time by the caller, so
//!   memory does not grow with the corpus.
//! - [`metrics`]: ROC AUC (Mann-Whitney, ties at average rank), false-positive rate at a
//!   recall, recall at a false-positive rate, log-loss, a reliability table.
//! - [`plot`]: the ROC curve as SVG with a logarithmic false-positive axis.
//! - [`provenance`]: whether a corpus holds messages of another (Message-ID, body hash).
//! - [`synth`]: a generator of synthetic labelled corpora, for tests and memory runs.
#![deny(missing_docs)]

mod corpus;
pub mod metrics;
pub mod plot;
pub mod provenance;
pub mod synth;

pub use corpus::{Corpus, CorpusError, Item, shuffle};
