//! Model files: a learner, its metadata, saved atomically and checked on load.
//!
//! Layout (all integers little-endian):
//!
//! | bytes | what |
//! |---|---|
//! | 8 | magic `WARDEN\0M` |
//! | 4 | format version ([`FORMAT_VERSION`]) |
//! | 4 + n | metadata: length, then JSON ([`ModelMeta`]) |
//! | 1 | learner tag: 1 FTRL, 2 naive Bayes |
//! | … | learner state: FTRL `bias z f32, bias √n f32, count u32, count × (index u32, z f32, √n f32)`; naive Bayes `spam docs u64, ham docs u64, count u32, count × (index u32, spam u32, ham u32)` |
//! | 8 | xxh3-64 of every byte before it |
//!
//! A model file holds numbers only: hashed slots and their state, never a token, an address or
//! a corpus string (the metadata names corpora by the paths given to `train`).

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use warden_core::{FeatureVec, Label};
use xxhash_rust::xxh3::xxh3_64;

use crate::rehearsal::Rehearsal;
use crate::{Ftrl, FtrlParams, NaiveBayes, OnlineLearner, RehearsalParams, Warmer};

const MAGIC: &[u8; 8] = b"WARDEN\0M";
/// The model-file format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Why a model could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Not a Warden model at all.
    #[error("not a Warden model file (bad magic bytes)")]
    BadMagic,
    /// Written by another format version.
    #[error("model format version {0} is not supported (this build reads version {FORMAT_VERSION})")]
    UnsupportedVersion(u32),
    /// Damaged or truncated.
    #[error("model file is corrupt: {0}")]
    Corrupt(String),
}

/// Which learner, with its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LearnerSpec {
    /// FTRL-Proximal logistic regression.
    Ftrl(FtrlParams),
    /// Naive Bayes over `2^bits` slots.
    NaiveBayes {
        /// Table size exponent.
        bits: u8,
    },
}

/// What a model file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// The kind of event it scores ([`warden_core::Kind::NAME`]: `mail`).
    pub kind: String,
    /// The learner and its settings.
    pub learner: LearnerSpec,
    /// When it was saved (RFC 3339, UTC).
    pub created: String,
    /// The Warden version that saved it.
    pub warden_version: String,
    /// The corpora it learned from, as given to `train`.
    pub trained_on: Vec<String>,
    /// Messages learned, in all.
    pub messages: u64,
    /// Of which abusive (a model file calls them `spam`, the first kind's word).
    #[serde(rename = "spam")]
    pub abusive: u64,
    /// Of which legitimate (`ham` in a model file).
    #[serde(rename = "ham")]
    pub legitimate: u64,
    /// The extractor's settings when it learned (a model learns what the extractor showed it).
    pub extractor: serde_json::Value,
    /// The version of the extraction code it learned from (`warden_mail::EXTRACTOR_VERSION`
    /// for mail); 0 until an engine first uses the model. Files from before the field was
    /// written read as version 1.
    #[serde(default = "first_extractor_version")]
    pub extractor_version: u32,
    /// True when only slots with a non-zero weight were kept (smaller; predictions identical,
    /// further learning starts those slots afresh).
    pub compact: bool,
    /// How hard examples are learned again (the buffer itself is not saved).
    #[serde(default)]
    pub rehearsal: RehearsalParams,
    /// Set in a server's checkpoint: which feedback store it learned from, and up to which
    /// record, so that a restart teaches it only the records after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<CheckpointMark>,
    /// The kind's action thresholds calibrated for this model (as its engine reads them);
    /// a configuration file's own thresholds come first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<serde_json::Value>,
}

fn first_extractor_version() -> u32 {
    1
}

/// Where a checkpointed model stands in a feedback store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMark {
    /// The store's identity.
    pub store: String,
    /// The last record learned.
    pub seq: u64,
}

/// A learner of either kind.
#[derive(Debug, Clone)]
pub enum Learner {
    /// FTRL-Proximal.
    Ftrl(Ftrl),
    /// Naive Bayes.
    NaiveBayes(NaiveBayes),
}

impl Learner {
    /// An empty learner for a spec.
    pub fn new(spec: &LearnerSpec) -> Self {
        match spec {
            LearnerSpec::Ftrl(p) => Learner::Ftrl(Ftrl::new(*p)),
            LearnerSpec::NaiveBayes { bits } => Learner::NaiveBayes(NaiveBayes::new(*bits)),
        }
    }

    fn inner(&self) -> &dyn OnlineLearner {
        match self {
            Learner::Ftrl(m) => m,
            Learner::NaiveBayes(m) => m,
        }
    }
}

impl OnlineLearner for Learner {
    fn predict(&self, x: &FeatureVec) -> f64 {
        self.inner().predict(x)
    }
    fn learn_scored(&mut self, x: &FeatureVec, label: Label, score: f64) {
        match self {
            Learner::Ftrl(m) => m.learn_scored(x, label, score),
            Learner::NaiveBayes(m) => m.learn_scored(x, label, score),
        }
    }
    fn contribution(&self, hash: u64) -> f64 {
        self.inner().contribution(hash)
    }
    fn predict_contributions(&self, x: &FeatureVec, out: &mut Vec<f64>) -> f64 {
        self.inner().predict_contributions(x, out)
    }
    fn bias(&self) -> f64 {
        self.inner().bias()
    }
    fn warmer(&self) -> Warmer<'_> {
        self.inner().warmer()
    }
}

/// A learner with its metadata.
#[derive(Debug, Clone)]
pub struct Model {
    /// What the file says about itself.
    pub meta: ModelMeta,
    /// The learner.
    pub learner: Learner,
    rehearsal: Rehearsal,
}

impl Model {
    /// An empty model.
    pub fn new(
        kind: &str,
        spec: LearnerSpec,
        extractor: serde_json::Value,
        rehearsal: RehearsalParams,
    ) -> Self {
        Model {
            learner: Learner::new(&spec),
            rehearsal: Rehearsal::new(rehearsal),
            meta: ModelMeta {
                kind: kind.to_owned(),
                learner: spec,
                created: String::new(),
                warden_version: env!("CARGO_PKG_VERSION").into(),
                trained_on: Vec::new(),
                messages: 0,
                abusive: 0,
                legitimate: 0,
                extractor,
                extractor_version: 0,
                compact: false,
                rehearsal,
                checkpoint: None,
                thresholds: None,
            },
        }
    }

    /// The model's version as answers name it: when it was saved (`live` if never) and how
    /// many events it has learned.
    pub fn version(&self) -> String {
        let created = if self.meta.created.is_empty() { "live" } else { &self.meta.created };
        format!("{created}/{}", self.meta.messages)
    }

    /// Learns one event (and rehearses hard ones) and counts it in the metadata.
    pub fn learn(&mut self, x: &FeatureVec, label: Label) {
        let score = self.learner.predict(x);
        self.learn_scored(x, label, score);
    }

    /// [`Model::learn`] when the event's current score is already known.
    pub fn learn_scored(&mut self, x: &FeatureVec, label: Label, score: f64) {
        let p = warden_core::sigmoid(score);
        self.learner.learn_scored(x, label, score);
        let p_true = if label.is_abusive() { p } else { 1.0 - p };
        for (again, label) in self.rehearsal.after(x, label, p_true) {
            self.learner.learn(&again, label);
        }
        self.meta.messages += 1;
        if label.is_abusive() {
            self.meta.abusive += 1;
        } else {
            self.meta.legitimate += 1;
        }
    }

    /// Learns a correction: `x` was learned before with the other label. The earlier lesson
    /// is dropped from the rehearsal buffer (or it would be rehearsed against the correction),
    /// and the new label is learned twice, once to undo the earlier lesson and once to teach.
    pub fn correct(&mut self, x: &FeatureVec, label: Label) {
        self.rehearsal.forget(x);
        self.learn(x, label);
        self.learn(x, label);
    }

    /// Serialises the model. `compact` keeps only slots with a non-zero weight (FTRL).
    pub fn to_bytes(&self, compact: bool) -> Vec<u8> {
        let mut meta = self.meta.clone();
        meta.compact = compact && matches!(self.learner, Learner::Ftrl(_));
        if meta.created.is_empty() {
            meta.created = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
        }
        let meta_json = serde_json::to_vec(&meta).expect("metadata serialises");
        let mut out = Vec::with_capacity(1 << 20);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(meta_json.len() as u32).to_le_bytes());
        out.extend_from_slice(&meta_json);
        let put3 = |out: &mut Vec<u8>, entries: Vec<[u32; 3]>| {
            out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
            for e in entries {
                for v in e {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        };
        match &self.learner {
            Learner::Ftrl(m) => {
                out.push(1);
                let (bz, bn) = m.bias_state();
                out.extend_from_slice(&bz.to_le_bytes());
                out.extend_from_slice(&bn.to_le_bytes());
                let entries =
                    m.entries(meta.compact).map(|(i, z, n)| [i, z.to_bits(), n.to_bits()]).collect();
                put3(&mut out, entries);
            }
            Learner::NaiveBayes(m) => {
                out.push(2);
                let (s, h) = m.docs();
                out.extend_from_slice(&s.to_le_bytes());
                out.extend_from_slice(&h.to_le_bytes());
                put3(&mut out, m.entries().map(|(i, s, h)| [i, s, h]).collect());
            }
        }
        let sum = xxh3_64(&out);
        out.extend_from_slice(&sum.to_le_bytes());
        out
    }

    /// Reads a model from bytes, checking magic, version, checksum and every index.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        if bytes.len() < 8 || &bytes[..8] != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let corrupt = |what: &str| ModelError::Corrupt(what.to_owned());
        if bytes.len() < 8 + 4 + 8 {
            return Err(corrupt("truncated header"));
        }
        let (body, sum) = bytes.split_at(bytes.len() - 8);
        let mut r = Reader { bytes: body, pos: 8 };
        let version = r.u32()?;
        if version != FORMAT_VERSION {
            return Err(ModelError::UnsupportedVersion(version));
        }
        if xxh3_64(body).to_le_bytes() != sum {
            return Err(corrupt("checksum mismatch (truncated or damaged file)"));
        }
        let meta_len = r.u32()? as usize;
        let meta: ModelMeta = serde_json::from_slice(r.take(meta_len)?)
            .map_err(|e| ModelError::Corrupt(format!("metadata: {e}")))?;
        let tag = r.take(1)?[0];
        let learner = match (&meta.learner, tag) {
            (LearnerSpec::Ftrl(p), 1) => {
                if !(1..=30).contains(&p.bits) {
                    return Err(corrupt("table size out of range"));
                }
                let bias = (f32::from_bits(r.u32()?), f32::from_bits(r.u32()?));
                let entries = r.entries3()?;
                let m = Ftrl::from_entries(
                    *p,
                    bias,
                    entries.into_iter().map(|[i, z, n]| (i, f32::from_bits(z), f32::from_bits(n))),
                )
                .map_err(|i| ModelError::Corrupt(format!("slot {i} outside the table")))?;
                Learner::Ftrl(m)
            }
            (LearnerSpec::NaiveBayes { bits }, 2) => {
                if !(1..=30).contains(bits) {
                    return Err(corrupt("table size out of range"));
                }
                let docs = (r.u64()?, r.u64()?);
                let entries = r.entries3()?;
                let m = NaiveBayes::from_entries(*bits, docs, entries.into_iter().map(|[i, s, h]| (i, s, h)))
                    .map_err(|i| ModelError::Corrupt(format!("slot {i} outside the table")))?;
                Learner::NaiveBayes(m)
            }
            _ => return Err(corrupt("learner tag does not match the metadata")),
        };
        if r.pos != body.len() {
            return Err(corrupt("trailing bytes after the learner state"));
        }
        let rehearsal = Rehearsal::new(meta.rehearsal);
        Ok(Model { meta, learner, rehearsal })
    }

    /// Reads a model file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io { path: path.into(), source })?;
        Model::from_bytes(&bytes)
    }

    /// Writes the model atomically: a temporary file beside `path`, fsync, rename, fsync of
    /// the directory. A reader sees the old file or the new one, never a part of either.
    pub fn save(&self, path: &Path, compact: bool) -> Result<(), ModelError> {
        self.save_as(path, compact, None)
    }

    /// [`Model::save`], the file readable by its owner only (a server's checkpoint: its
    /// weights say what the installation's users marked as spam).
    pub fn save_private(&self, path: &Path, compact: bool) -> Result<(), ModelError> {
        self.save_as(path, compact, Some(0o600))
    }

    fn save_as(&self, path: &Path, compact: bool, mode: Option<u32>) -> Result<(), ModelError> {
        let io = |source| ModelError::Io { path: path.into(), source };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().ok_or_else(|| io(std::io::Error::other("not a file path")))?;
        let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            if let Some(mode) = mode {
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
            }
            let mut f = options.open(&tmp)?;
            f.write_all(&self.to_bytes(compact))?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            File::open(dir)?.sync_all()
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| ModelError::Corrupt("truncated".into()))?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> Result<u64, ModelError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn entries3(&mut self) -> Result<Vec<[u32; 3]>, ModelError> {
        let n = self.u32()? as usize;
        let raw = self.take(n.checked_mul(12).ok_or_else(|| ModelError::Corrupt("entry count".into()))?)?;
        Ok(raw
            .chunks_exact(12)
            .map(|c| {
                let w = |k: usize| u32::from_le_bytes(c[k * 4..k * 4 + 4].try_into().expect("4 bytes"));
                [w(0), w(1), w(2)]
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trained(spec: LearnerSpec) -> Model {
        let mut m = Model::new("test", spec, serde_json::json!({"k": 1}), RehearsalParams::default());
        for i in 0..50u64 {
            m.learn(&FeatureVec::from_hashes(vec![i % 7, 100 + i % 3, 9999]), Label::of(i % 2 == 0));
        }
        m
    }

    fn specs() -> [LearnerSpec; 2] {
        [
            LearnerSpec::Ftrl(FtrlParams { bits: 12, ..Default::default() }),
            LearnerSpec::NaiveBayes { bits: 12 },
        ]
    }

    #[test]
    fn save_and_load_give_the_same_predictions() {
        let dir = tempfile::tempdir().unwrap();
        for spec in specs() {
            let m = trained(spec);
            let path = dir.path().join("m.wdm");
            m.save(&path, false).unwrap();
            let back = Model::load(&path).unwrap();
            assert_eq!(back.meta.messages, 50);
            assert_eq!(back.meta.learner, m.meta.learner);
            let x = FeatureVec::from_hashes(vec![1, 101, 9999, 4242]);
            assert_eq!(back.learner.predict(&x), m.learner.predict(&x));
            let compact = Model::from_bytes(&m.to_bytes(true)).unwrap();
            assert_eq!(compact.learner.predict(&x), m.learner.predict(&x));
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn damage_is_detected_not_loaded() {
        let bytes = trained(specs()[0].clone()).to_bytes(false);
        assert!(matches!(Model::from_bytes(b"hello"), Err(ModelError::BadMagic)));
        for cut in [9, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(Model::from_bytes(&bytes[..cut]).is_err(), "truncated at {cut}");
        }
        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x40;
        assert!(matches!(Model::from_bytes(&flipped), Err(ModelError::Corrupt(_))));
        let mut newer = bytes;
        newer[8] = 99;
        assert!(matches!(Model::from_bytes(&newer), Err(ModelError::UnsupportedVersion(99))));
    }
}
