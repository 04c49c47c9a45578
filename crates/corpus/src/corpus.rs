use std::path::{Path, PathBuf};

/// One labelled message of a corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Where the message is.
    pub path: PathBuf,
    /// Its label.
    pub spam: bool,
}

/// Why a corpus could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// The corpus or its index could not be read.
    #[error("{path}: {source}")]
    Io {
        /// What could not be read.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The index has a line it cannot read.
    #[error("{path}:{line}: {what}")]
    Format {
        /// The index file.
        path: PathBuf,
        /// Its 1-based line number.
        line: usize,
        /// What is wrong.
        what: String,
    },
    /// Neither `labels.tsv` nor a TREC index.
    #[error("{0}: not a corpus (expected a folder with labels.tsv or full/index, or a TREC index file)")]
    NotACorpus(PathBuf),
    /// A share of a corpus that is not `@FROM..TO` with 0 ≤ FROM < TO ≤ 100.
    #[error(
        "{0}: a share of a corpus is written CORPUS@FROM..TO, in per cent of its index order (0 ≤ FROM < TO ≤ 100)"
    )]
    BadShare(PathBuf),
}

/// A labelled corpus: its items in their order.
#[derive(Debug, Clone)]
pub struct Corpus {
    /// Where it was read from.
    pub source: PathBuf,
    /// Its messages, in the index's order.
    pub items: Vec<Item>,
}

impl Corpus {
    /// Opens a corpus: a folder with `labels.tsv` (a header line, then
    /// `path<TAB>spam|ham[<TAB>…]`, paths relative to the folder), a folder with a TREC
    /// `full/index`, or a TREC index file itself (lines `spam ../data/inmail.1`, paths relative
    /// to the index file).
    ///
    /// `CORPUS@FROM..TO` is a share of one, in per cent of its index order: for a corpus whose
    /// index is in time order, `@0..60` is its first 60% and `@60..100` the rest, a time split.
    pub fn open(path: &Path) -> Result<Corpus, CorpusError> {
        if !path.exists()
            && let Some((base, share)) = path.to_str().and_then(|p| p.rsplit_once('@'))
        {
            let bad = || CorpusError::BadShare(path.into());
            let (from, to) = share.split_once("..").ok_or_else(bad)?;
            let (from, to): (usize, usize) =
                (from.parse().map_err(|_| bad())?, to.parse().map_err(|_| bad())?);
            if from >= to || to > 100 {
                return Err(bad());
            }
            let mut corpus = Self::open(Path::new(base))?;
            let n = corpus.items.len();
            corpus.items = corpus.items[n * from / 100..n * to / 100].to_vec();
            corpus.source = path.into();
            return Ok(corpus);
        }
        let index = if path.is_dir() {
            if path.join("labels.tsv").is_file() {
                return Self::labels_tsv(path, &path.join("labels.tsv"));
            }
            path.join("full").join("index")
        } else {
            path.to_path_buf()
        };
        if !index.is_file() {
            return Err(CorpusError::NotACorpus(path.into()));
        }
        Self::trec_index(path, &index)
    }

    fn read(path: &Path) -> Result<String, CorpusError> {
        let bytes = std::fs::read(path).map_err(|source| CorpusError::Io { path: path.into(), source })?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn label(word: &str, path: &Path, line: usize) -> Result<bool, CorpusError> {
        match word.trim().to_ascii_lowercase().as_str() {
            "spam" => Ok(true),
            "ham" => Ok(false),
            other => Err(CorpusError::Format {
                path: path.into(),
                line,
                what: format!("label must be spam or ham, not {other:?}"),
            }),
        }
    }

    fn labels_tsv(dir: &Path, file: &Path) -> Result<Corpus, CorpusError> {
        let text = Self::read(file)?;
        let mut items = Vec::new();
        for (n, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut cols = line.split('\t');
            let (Some(p), Some(l)) = (cols.next(), cols.next()) else {
                return Err(CorpusError::Format {
                    path: file.into(),
                    line: n + 1,
                    what: "expected path<TAB>label".into(),
                });
            };
            items.push(Item { path: dir.join(p), spam: Self::label(l, file, n + 1)? });
        }
        Ok(Corpus { source: dir.into(), items })
    }

    fn trec_index(source: &Path, index: &Path) -> Result<Corpus, CorpusError> {
        let text = Self::read(index)?;
        let base = index.parent().unwrap_or(Path::new("."));
        let mut items = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let Some((l, p)) = line.split_once(char::is_whitespace) else {
                return Err(CorpusError::Format {
                    path: index.into(),
                    line: n + 1,
                    what: "expected `spam|ham PATH`".into(),
                });
            };
            items.push(Item { path: base.join(p.trim()), spam: Self::label(l, index, n + 1)? });
        }
        Ok(Corpus { source: source.into(), items })
    }
}

/// One step of SplitMix64: reproducible on every platform and in every future version, which
/// is all the shuffles and the corpus generator need (published figures quote seeds).
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Shuffles `items` reproducibly for `seed` (Fisher-Yates over [`splitmix64`]).
pub fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    for i in (1..items.len()).rev() {
        let j = (splitmix64(&mut state) % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_is_a_slice_of_the_index_order_and_a_bad_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let lines: String =
            (0..10).map(|i| format!("m/{i}\t{}\n", if i % 2 == 0 { "spam" } else { "ham" })).collect();
        std::fs::write(d.path().join("labels.tsv"), format!("path\tlabel\n{lines}")).unwrap();
        let share = |s: &str| Corpus::open(Path::new(&format!("{}@{s}", d.path().display())));
        let names = |c: Corpus| {
            c.items
                .iter()
                .map(|i| i.path.file_name().unwrap().to_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(share("0..60").unwrap()), ["0", "1", "2", "3", "4", "5"]);
        assert_eq!(names(share("60..100").unwrap()), ["6", "7", "8", "9"]);
        for bad in ["60..60", "0..101", "x..5", "5", "70..20"] {
            assert!(matches!(share(bad), Err(CorpusError::BadShare(_))), "{bad}");
        }
    }

    #[test]
    fn reads_labels_tsv_and_trec_index() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("labels.tsv"), "path\tlabel\tsubset\na/1\tspam\tx\n\nb/2\tham\n").unwrap();
        let c = Corpus::open(d).unwrap();
        assert_eq!(
            c.items,
            vec![Item { path: d.join("a/1"), spam: true }, Item { path: d.join("b/2"), spam: false }]
        );

        let t = d.join("trec");
        std::fs::create_dir_all(t.join("full")).unwrap();
        std::fs::write(t.join("full/index"), "spam ../data/inmail.1\nham ../data/inmail.2\n").unwrap();
        for c in [Corpus::open(&t).unwrap(), Corpus::open(&t.join("full/index")).unwrap()] {
            assert_eq!(c.items.len(), 2);
            assert_eq!(c.items[0].path, t.join("full/../data/inmail.1"));
            assert!(c.items[0].spam && !c.items[1].spam);
        }
    }

    #[test]
    fn bad_indexes_say_where() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("labels.tsv"), "h\nx\tmaybe\n").unwrap();
        let e = Corpus::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("labels.tsv:2") && e.contains("maybe"), "{e}");
        let e = Corpus::open(&dir.path().join("nothing")).unwrap_err();
        assert!(matches!(e, CorpusError::NotACorpus(_)));
    }

    #[test]
    fn shuffle_is_a_seeded_permutation() {
        let mut a: Vec<u32> = (0..100).collect();
        let mut b = a.clone();
        shuffle(&mut a, 1);
        shuffle(&mut b, 1);
        assert_eq!(a, b);
        let mut c: Vec<u32> = (0..100).collect();
        shuffle(&mut c, 2);
        assert_ne!(a, c);
        a.sort();
        assert_eq!(a, (0..100).collect::<Vec<_>>());
    }
}
