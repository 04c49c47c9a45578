//! The data directory: private to its owner, with an identity that every store file records.
//!
//! Files: `secret.key` (the key of the keyed hashes), `feedback.redb` (labels), `desk.redb`
//! (review queue, labels on entities, audit log), `counters.journal` (the rules' counters),
//! `model.wdm` (the model's checkpoint) and, unless tokens are configured, `admin.token`.
//!
//! **Privacy.** The directory is made 0700 and every file in it 0600. A directory or file that
//! is looser (made by hand, or by an older Warden) is tightened at start, and the tightening is
//! logged.
//!
//! **Identity.** A new directory gets a random identity. `feedback.redb` and `desk.redb`
//! record it in their `meta` tables, the journal in its header; `feedback.redb` also records
//! a check value of `secret.key`, and `desk.redb` one of the audit key; a model checkpoint
//! names the feedback store it learned from. At start every file must be there and say the
//! same: a file that is missing, empty, of another directory, or without an identity (when the
//! others have one), or a key that is missing or not the one the store was written with,
//! refuses start-up with a message naming the file and the way out. A directory made before
//! identities (no file records one) adopts one at its first start. Creating or adopting writes
//! a marker file first (`.warden-init`) and removes it last, so that a crash midway is resumed,
//! never mistaken for damage.
//!
//! **Repair.** `warden serve --repair` starts anyway: it makes what is missing anew (empty),
//! moves a foreign file aside (`<name>.foreign-<unix time>`), takes the key as it is, writes the
//! identity where it is missing, removes every record that fails its checksum (counting them)
//! and keeps every valid one, and records each of these in the audit log.
//!
//! **Rotating the audit key** (`[audit] key_file`) stays possible: a key file whose contents
//! changed is taken as a rotation, logged and audited (`audit.key_rotated`). A key file that is
//! missing is refused like any lost file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase};

use crate::{DESK_FILE, Desk};
use warden_store::feedback::{self, FeedbackStore, hex, random_bytes, write_private};
use warden_store::journal::{self, Header, Journal, Scan};
use warden_store::redbfile::{META, write_txn};

/// The marker of a creation or adoption in progress; holds the identity being given.
const INIT: &str = ".warden-init";
/// The key's file name.
pub const KEY_FILE: &str = "secret.key";
/// The model checkpoint's file name.
pub const CHECKPOINT: &str = "model.wdm";

/// What the way out of a refusal says.
const WAY_OUT: &str = "Restore the files from a backup, or start with `warden serve --repair`: it makes what is \
missing anew (empty), moves a foreign file aside, removes what fails its checksum and keeps every \
valid record, and records what it did in the audit log.";

/// How to open a data directory.
#[derive(Debug, Clone)]
pub struct Options {
    /// Start on a damaged directory by repairing it (`warden serve --repair`).
    pub repair: bool,
    /// The audit key's file (`[audit] key_file`); `None`: `secret.key`.
    pub audit_key_file: Option<PathBuf>,
    /// redb's page cache, per database, in bytes (`[limits] db_cache_bytes`).
    pub db_cache_bytes: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options { repair: false, audit_key_file: None, db_cache_bytes: 64 << 20 }
    }
}

/// Why the data directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// A file cannot be read or written.
    #[error("{0}")]
    Io(String),
    /// Files are missing, empty, damaged or foreign; start-up is refused.
    #[error("the data directory {dir} is damaged; Warden will not start on it:\n{}\n{WAY_OUT}",
        problems.iter().map(|p| format!("- {p}")).collect::<Vec<_>>().join("\n"))]
    Damaged {
        /// The directory.
        dir: String,
        /// What is wrong, a line each, each naming its file.
        problems: Vec<String>,
    },
}

/// An open data directory: its stores, and what opening it did.
pub struct DataDir {
    /// Where it is.
    pub path: PathBuf,
    /// Its identity (32 hex digits).
    pub id: String,
    /// Opened with `--repair`.
    pub repair: bool,
    /// The feedback store (taken by [`crate::Live::open`]).
    pub store: Option<FeedbackStore>,
    /// The desk.
    pub desk: Arc<Desk>,
    /// What start-up did that an operator should know (tightened permissions, an identity
    /// made or adopted, a torn journal tail cut off): logged.
    pub notes: Vec<String>,
    /// What the repair did, and audit-key rotations: logged, and recorded in the audit log.
    pub repairs: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for DataDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataDir").field("path", &self.path).field("id", &self.id).finish_non_exhaustive()
    }
}

/// The files of a data directory.
struct Paths {
    dir: PathBuf,
    key: PathBuf,
    feedback: PathBuf,
    desk: PathBuf,
    journal: PathBuf,
    init: PathBuf,
}

impl Paths {
    fn of(dir: &Path) -> Paths {
        Paths {
            dir: dir.to_owned(),
            key: dir.join(KEY_FILE),
            feedback: dir.join(feedback::FILE),
            desk: dir.join(DESK_FILE),
            journal: dir.join(journal::FILE),
            init: dir.join(INIT),
        }
    }
}

/// A store file as found.
enum Found<T> {
    Absent,
    Empty,
    /// There, but redb cannot open it: why.
    Unreadable(String),
    Here(T),
}

impl<T> Found<T> {
    fn here(&self) -> Option<&T> {
        match self {
            Found::Here(t) => Some(t),
            _ => None,
        }
    }
}

/// What to do about a problem when repairing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fix {
    NewKey,
    NewAuditKey,
    /// Make the store anew (empty), moving what is there aside.
    New(Which),
    /// Write the identity into it.
    Adopt(Which),
    /// Take the key as it is: record its check value.
    AcceptKey,
    /// The journal is written again without its damaged bytes.
    Journal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Feedback,
    Desk,
    Journal,
}

impl Which {
    fn file(self) -> &'static str {
        match self {
            Which::Feedback => feedback::FILE,
            Which::Desk => DESK_FILE,
            Which::Journal => journal::FILE,
        }
    }
}

/// Opens the data directory at `path`, making it when it does not exist.
pub fn open(path: &Path, opts: &Options) -> Result<DataDir, DataDirError> {
    let mut wrote_marker = false;
    let opened = open_marked(path, opts, &mut wrote_marker);
    if opened.is_err() && wrote_marker {
        // A start that fails leaves the directory as it found it: no marker to excuse damage later.
        let _ = std::fs::remove_file(path.join(INIT));
    }
    opened
}

fn open_marked(path: &Path, opts: &Options, wrote_marker: &mut bool) -> Result<DataDir, DataDirError> {
    let p = Paths::of(path);
    let io = |what: &Path| {
        let what = what.to_owned();
        move |e: std::io::Error| DataDirError::Io(format!("{}: {e}", what.display()))
    };
    let mut notes = make_private(path).map_err(io(path))?;
    let marker = match std::fs::read_to_string(&p.init) {
        Ok(text) => Some(parse_id(text.trim()).ok_or_else(|| {
            DataDirError::Io(format!("{}: not an identity; delete it and start again", p.init.display()))
        })?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&p.init)(e)),
    };

    let mut rolled_back = Vec::new();
    let feedback = open_existing(&p.feedback, opts, &mut rolled_back)?;
    let desk_db = open_existing(&p.desk, opts, &mut rolled_back)?;
    let journal = match size(&p.journal) {
        None => Found::Absent,
        Some(0) => Found::Empty,
        Some(_) => Found::Here(Scan::read(&p.journal).map_err(io(&p.journal))?),
    };
    let key = match std::fs::read(&p.key) {
        Ok(b) => Some(b),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&p.key)(e)),
    };

    let fb_meta = feedback.here().map(read_meta).transpose()?.unwrap_or_default();
    let desk_meta = desk_db.here().map(read_meta).transpose()?.unwrap_or_default();
    let claims: [(Which, Option<[u8; 16]>, bool); 3] = [
        (Which::Feedback, fb_meta.dir_id, feedback.here().is_some()),
        (Which::Desk, desk_meta.dir_id, desk_db.here().is_some()),
        (Which::Journal, journal.here().and_then(Scan::identity), journal.here().is_some()),
    ];
    let known = claims.iter().find_map(|c| c.1);
    // New or older than identities, or a creation cut short: no file is held to having one.
    let lenient = marker.is_some() || known.is_none();
    // Nothing of a data directory here yet (a key or a checkpoint alone is what is left of one).
    let fresh = matches!((&feedback, &desk_db, &journal), (Found::Absent, Found::Absent, Found::Absent))
        && (marker.is_some() || (key.is_none() && size(&path.join(CHECKPOINT)).is_none()));
    let id = marker.or(known).map_or_else(|| random_bytes::<16>().map_err(io(path)), Ok)?;
    if lenient && marker.is_none() {
        write_private_replacing(&p.init, hex(&id).as_bytes()).map_err(io(&p.init))?;
        sync_dir(&p.dir).map_err(io(&p.dir))?;
        *wrote_marker = true;
    }

    let mut problems: Vec<(String, Fix)> = Vec::new();
    let mut repairs: Vec<(&'static str, String)> = rolled_back.into_iter().map(|r| ("repair", r)).collect();
    let name = |w: Which| w.file();
    for (which, claim, here) in claims {
        let found_empty = match which {
            Which::Feedback => matches!(feedback, Found::Empty),
            Which::Desk => matches!(desk_db, Found::Empty),
            Which::Journal => matches!(journal, Found::Empty),
        };
        let unreadable = match which {
            Which::Feedback => match &feedback {
                Found::Unreadable(why) => Some(why.clone()),
                _ => None,
            },
            Which::Desk => match &desk_db {
                Found::Unreadable(why) => Some(why.clone()),
                _ => None,
            },
            Which::Journal => None,
        };
        if let Some(why) = unreadable {
            // Made but never finished by a first start cut short: made again. Otherwise damage.
            if marker.is_none() {
                problems.push((
                    format!(
                        "{} cannot be read ({why}): a repair moves it aside and makes an empty one",
                        name(which)
                    ),
                    Fix::New(which),
                ));
            }
            continue;
        }
        match (claim, here) {
            (Some(c), _) if c != id => problems.push((
                format!(
                    "{} belongs to data directory {}, the other files to {}: it was replaced (a repair moves it aside and makes an empty one)",
                    name(which),
                    hex(&c),
                    hex(&id)
                ),
                Fix::New(which),
            )),
            (Some(_), _) => {}
            (None, true) if which == Which::Journal && journal.here().is_some_and(|s| s.header == Header::Damaged) => {
                problems.push((format!("{}: its header is damaged (offset 0)", name(which)), Fix::Adopt(which)))
            }
            (None, true) if lenient => {}
            (None, true) => problems.push((
                format!(
                    "{} records no identity while the other files record {}: it was made by an older Warden or copied from elsewhere",
                    name(which),
                    hex(&id)
                ),
                Fix::Adopt(which),
            )),
            // A creation or adoption cut short: what it had not made yet is made now.
            (None, false) if marker.is_some() => {}
            // A legacy journal could be empty; a legacy directory may predate the desk and
            // the journal (they are made now). The feedback store was always there.
            (None, false) if lenient && (which != Which::Feedback || fresh) && !(found_empty && which == Which::Desk) => {}
            (None, false) => problems.push((
                format!(
                    "{} is {} (the other files of this directory say it was here){}",
                    name(which),
                    if found_empty { "empty" } else { "missing" },
                    match which {
                        Which::Feedback => ": the labels it held are lost unless it is restored",
                        Which::Desk => ": the audit log, review queue and entity labels it held are lost unless it is restored",
                        Which::Journal => ": the rules' counts it held are lost unless it is restored",
                    }
                ),
                Fix::New(which),
            )),
        }
    }
    if let Some(s) = journal.here() {
        for d in &s.damaged {
            problems.push((
                format!(
                    "{}: {} damaged bytes at offset {}, with valid records after them",
                    journal::FILE,
                    d.len,
                    d.offset
                ),
                Fix::Journal,
            ));
        }
    }
    let key: Option<[u8; 32]> = match key {
        Some(b) => match <[u8; 32]>::try_from(b.as_slice()) {
            Ok(k) => Some(k),
            // Written by a first start cut short, before any store recorded its check value.
            Err(_) if marker.is_some() && fb_meta.key_check.is_none() => None,
            Err(_) => {
                problems.push((format!("{KEY_FILE} holds {} bytes, not 32", b.len()), Fix::NewKey));
                None
            }
        },
        None if fresh || (marker.is_some() && fb_meta.key_check.is_none()) => None,
        None => {
            problems.push((
                format!(
                    "{KEY_FILE} is missing: the stored labels' message ids were made with it (a new key would have repeated labels learned again as new)"
                ),
                Fix::NewKey,
            ));
            None
        }
    };
    if let (Some(k), Some(check)) = (key, fb_meta.key_check.as_deref())
        && check != key_check(&k)
    {
        problems.push((
            format!("{KEY_FILE} is not the key {} was written with: it was replaced", feedback::FILE),
            Fix::AcceptKey,
        ));
    }
    let audit_key = match &opts.audit_key_file {
        None => None,
        Some(f) => match std::fs::read(f) {
            Ok(b) => Some(<[u8; 32]>::try_from(b.as_slice()).map_err(|_| {
                DataDirError::Io(format!("{}: [audit] key_file holds {} bytes, not 32", f.display(), b.len()))
            })?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && desk_meta.audit_key_check.is_some() => {
                problems.push((
                    format!(
                        "the audit key {} ([audit] key_file) is missing: the audit log and the counters were keyed with it (to rotate it, write a new key there)",
                        f.display()
                    ),
                    Fix::NewAuditKey,
                ));
                None
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(f)(e)),
        },
    };

    if !problems.is_empty() && !opts.repair {
        if lenient && marker.is_none() {
            // This call wrote the marker: a refusal leaves the directory as it found it.
            let _ = std::fs::remove_file(&p.init);
        }
        return Err(DataDirError::Damaged {
            dir: path.display().to_string(),
            problems: problems.into_iter().map(|(t, _)| t).collect(),
        });
    }
    let fixes: Vec<Fix> = problems.iter().map(|(_, f)| *f).collect();
    for (text, _) in &problems {
        repairs.push(("repair", format!("found: {text}")));
    }

    // The key: made when new or when repairing a lost or bad one.
    let key = match key {
        Some(k) => k,
        None => {
            let k = random_bytes::<32>().map_err(io(&p.key))?;
            if fixes.contains(&Fix::NewKey) {
                aside(&p.key, "damaged").map_err(io(&p.key))?;
                repairs.push(("repair", format!("{KEY_FILE}: made anew")));
            }
            write_private_replacing(&p.key, &k).map_err(io(&p.key))?;
            sync_dir(&p.dir).map_err(io(&p.dir))?;
            k
        }
    };
    let audit_key = match (&opts.audit_key_file, audit_key) {
        (None, _) => key,
        (Some(_), Some(k)) => k,
        (Some(f), None) => {
            let k = random_bytes::<32>().map_err(io(f))?;
            write_private(f, &k).map_err(io(f))?;
            if fixes.contains(&Fix::NewAuditKey) {
                repairs.push(("repair", format!("the audit key {}: made anew", f.display())));
            }
            k
        }
    };

    let cache = opts.db_cache_bytes;
    let mut remake = |which: Which, path: &Path| -> Result<(), DataDirError> {
        if fixes.contains(&Fix::New(which)) {
            let moved = aside(path, "foreign").map_err(io(path))?;
            let what = match moved {
                Some(to) => {
                    format!("{}: moved aside to {} and made anew (empty)", which.file(), to.display())
                }
                None => format!("{}: made anew (empty)", which.file()),
            };
            repairs.push(("repair", what));
        }
        Ok(())
    };
    let feedback_db = match feedback {
        Found::Here(db) if !fixes.contains(&Fix::New(Which::Feedback)) => db,
        found => {
            drop(found);
            remake(Which::Feedback, &p.feedback)?;
            create_db(&p.feedback, cache)?
        }
    };
    let desk_db = match desk_db {
        Found::Here(db) if !fixes.contains(&Fix::New(Which::Desk)) => db,
        found => {
            drop(found);
            remake(Which::Desk, &p.desk)?;
            create_db(&p.desk, cache)?
        }
    };
    let journal = match journal {
        Found::Here(scan) if !fixes.contains(&Fix::New(Which::Journal)) => {
            if let Some(t) = scan.torn {
                notes.push(format!(
                    "{}: a torn last record ({} bytes at offset {}, never acknowledged) was cut off",
                    journal::FILE,
                    t.len,
                    t.offset
                ));
            }
            if fixes.contains(&Fix::Journal) {
                let skipped = scan.damaged.len();
                repairs.push((
                    "repair",
                    format!(
                        "{}: {skipped} damaged region(s) skipped, {} valid records kept",
                        journal::FILE,
                        scan.records.len()
                    ),
                ));
            }
            scan.into_journal(id).map_err(io(&p.journal))?
        }
        found => {
            drop(found);
            remake(Which::Journal, &p.journal)?;
            Journal::create(&p.journal, id).map_err(io(&p.journal))?
        }
    };
    for which in [Which::Feedback, Which::Desk, Which::Journal] {
        if fixes.contains(&Fix::Adopt(which)) {
            repairs.push(("repair", format!("{}: the directory's identity written into it", which.file())));
        }
    }
    if fixes.contains(&Fix::AcceptKey) {
        repairs.push(("repair", format!("{KEY_FILE}: taken as the store's key from now on")));
    }

    let id_hex = hex(&id);
    let checks = [
        (&feedback_db, vec![("dir_id", id_hex.clone()), ("key_check", key_check(&key))]),
        (&desk_db, vec![("dir_id", id_hex.clone()), ("audit_key_check", key_check(&audit_key))]),
    ];
    for (db, pairs) in &checks {
        write_meta(db, pairs).map_err(|e| DataDirError::Io(e.to_string()))?;
    }
    if let Some(before) = desk_meta.audit_key_check.as_deref()
        && before != key_check(&audit_key)
        && !fixes.contains(&Fix::AcceptKey)
        && !fixes.contains(&Fix::NewKey)
    {
        let what = "the audit key changed: identifiers hashed from now on do not link to earlier ones, and the rules' counters start afresh";
        repairs.push(("audit.key_rotated", what.to_owned()));
    }

    let store = FeedbackStore::from_db(feedback_db, key)
        .map_err(|e| damaged_db(path, feedback::FILE, &e.to_string()))?;
    let desk = Desk::from_parts(desk_db, journal, audit_key)
        .map_err(|e| damaged_db(path, DESK_FILE, &e.to_string()))?;
    if opts.repair {
        let removed = store.scrub().map_err(|e| DataDirError::Io(e.to_string()))?;
        repairs.push((
            "repair",
            format!("{}: {removed} damaged records removed, every valid one kept", feedback::FILE),
        ));
        let removed = desk.scrub().map_err(|e| DataDirError::Io(e.to_string()))?;
        repairs.push((
            "repair",
            format!("{DESK_FILE}: {removed} damaged records removed, every valid one kept"),
        ));
    }
    if fresh {
        notes.push(format!("made a new data directory (identity {id_hex})"));
    } else if lenient {
        notes.push(format!(
            "the data directory adopted the identity {id_hex}: every store file records it now"
        ));
    }
    if lenient {
        std::fs::remove_file(&p.init).map_err(io(&p.init))?;
        sync_dir(&p.dir).map_err(io(&p.dir))?;
    }
    Ok(DataDir {
        path: path.to_owned(),
        id: id_hex,
        repair: opts.repair,
        store: Some(store),
        desk,
        notes,
        repairs,
    })
}

fn damaged_db(dir: &Path, file: &str, e: &str) -> DataDirError {
    DataDirError::Damaged { dir: dir.display().to_string(), problems: vec![format!("{file}: {e}")] }
}

/// The check value of a key recorded beside the stores keyed with it: 16 hex digits of a
/// keyed hash, which tell keys apart and say nothing of the key.
pub(crate) fn key_check(key: &[u8; 32]) -> String {
    hex(&blake3::keyed_hash(key, b"warden key check").as_bytes()[..8])
}

fn parse_id(s: &str) -> Option<[u8; 16]> {
    if s.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

fn size(path: &Path) -> Option<u64> {
    std::fs::symlink_metadata(path).ok().map(|m| m.len())
}

#[derive(Default)]
struct Meta {
    dir_id: Option<[u8; 16]>,
    key_check: Option<String>,
    audit_key_check: Option<String>,
}

fn read_meta(db: &Database) -> Result<Meta, DataDirError> {
    let read = || -> Result<Meta, redb::Error> {
        let txn = db.begin_read()?;
        let meta = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Meta::default()),
            Err(e) => return Err(e.into()),
        };
        let get = |k: &str| -> Result<Option<String>, redb::Error> {
            Ok(meta.get(k)?.map(|v| v.value().to_owned()))
        };
        Ok(Meta {
            dir_id: get("dir_id")?.as_deref().and_then(parse_id),
            key_check: get("key_check")?,
            audit_key_check: get("audit_key_check")?,
        })
    };
    read().map_err(|e| DataDirError::Io(format!("reading the identity of a store: {e}")))
}

fn write_meta(db: &Database, pairs: &[(&str, String)]) -> Result<(), redb::Error> {
    let txn = write_txn(db)?;
    {
        let mut meta = txn.open_table(META)?;
        for (k, v) in pairs {
            meta.insert(*k, v.as_str())?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Opens a redb file that is there and not empty.
///
/// After an unclean shutdown redb checks its last commit. Warden commits in two phases
/// (`write_txn`), so a last commit that does not verify was damaged after it was written, and the
/// start is refused. A repair keeps a copy of the file, rolls it back to the commit before and
/// reports that (`rolled_back`); when the commit before does not verify either, the file is
/// unreadable and a repair moves it aside. A file last written by an older Warden may hold a
/// one-phase commit a crash cut: redb would roll that back itself, which is refused in the same way
/// unless repairing. (redb tells its repair callback the progress of a repair: 0.3 only when the
/// last commit failed and is being rolled back.)
fn open_existing(
    path: &Path,
    opts: &Options,
    rolled_back: &mut Vec<String>,
) -> Result<Found<Database>, DataDirError> {
    match size(path) {
        None => Ok(Found::Absent),
        Some(0) => Ok(Found::Empty),
        Some(_) => {
            let name = path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned());
            let dir = path.parent().unwrap_or(Path::new("."));
            let refused = |why: &str| {
                damaged_db(
                    dir,
                    &name,
                    &format!(
                        "its last commit does not verify: {why}; a repair rolls back to the commit before it"
                    ),
                )
            };
            let mut opened = open_rolling_back(path, opts);
            if let Err(e) = &opened
                && opts.repair
                && is_damaged_two_phase(path, e)
            {
                let io = |e: std::io::Error| DataDirError::Io(format!("{}: {e}", path.display()));
                let kept = keep_copy(path).map_err(io)?;
                if clear_two_phase_flag(path).map_err(io)? {
                    opened = open_rolling_back(path, opts);
                    if let Ok((_, true)) = &opened {
                        rolled_back.push(format!("{name}: the file as it was is kept as {}", kept.display()));
                    }
                }
            }
            match opened {
                Ok((db, rolled)) => {
                    if rolled {
                        rolled_back.push(format!(
                            "{name}: its last commit did not verify; rolled back to the commit before it"
                        ));
                    }
                    Ok(Found::Here(db))
                }
                Err(redb::DatabaseError::DatabaseAlreadyOpen) => Err(DataDirError::Io(format!(
                    "{}: in use by another process (is another warden serving this data directory?)",
                    path.display()
                ))),
                Err(e) if !opts.repair && is_damaged_two_phase(path, &e) => Err(refused(
                    "it was written in two phases, so no crash cut it: the disk damaged it after it was acknowledged",
                )),
                Err(redb::DatabaseError::RepairAborted) => Err(refused(
                    "a crash cut it (it was never acknowledged) or the disk damaged it (it was): an older Warden \
                     wrote it in one phase and the two cannot be told apart",
                )),
                Err(e) => Ok(Found::Unreadable(e.to_string())),
            }
        }
    }
}

/// Opens `path`; a roll-back of its last commit is aborted unless repairing, and said (`true`).
fn open_rolling_back(path: &Path, opts: &Options) -> Result<(Database, bool), redb::DatabaseError> {
    let fell_back = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, repair) = (Arc::clone(&fell_back), opts.repair);
    let db = redb::Builder::new()
        .set_cache_size(opts.db_cache_bytes)
        .set_repair_callback(move |session| {
            let p = session.progress();
            if p > 0.0 && p < 0.5 {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
                if !repair {
                    session.abort();
                }
            }
        })
        .open(path)?;
    Ok((db, fell_back.load(std::sync::atomic::Ordering::Relaxed)))
}

// redb's file header (its docs/design.md): a 9-byte magic number, then the "god byte", whose
// third bit says the primary commit was written in two phases. redb will not roll such a commit
// back; a repair clears the bit so that redb checks the commit before and rolls back to it.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];
const REDB_TWO_PHASE: u8 = 4;

/// The open failed as a damaged two-phase last commit fails: corruption, with the file's header
/// saying its primary commit is two-phase.
fn is_damaged_two_phase(path: &Path, e: &redb::DatabaseError) -> bool {
    let corrupted = matches!(e, redb::DatabaseError::Storage(redb::StorageError::Corrupted(_)));
    corrupted && read_god_byte(path).is_ok_and(|g| g.is_some_and(|g| g & REDB_TWO_PHASE != 0))
}

fn read_god_byte(path: &Path) -> std::io::Result<Option<u8>> {
    use std::io::Read;
    let mut head = [0u8; 10];
    std::fs::File::open(path)?.read_exact(&mut head)?;
    Ok((head[..9] == REDB_MAGIC).then_some(head[9]))
}

/// Clears the two-phase bit of a redb file's header; `false` when the header is not redb's.
fn clear_two_phase_flag(path: &Path) -> std::io::Result<bool> {
    use std::io::{Seek, SeekFrom, Write};
    let Some(god) = read_god_byte(path)? else { return Ok(false) };
    let mut f = std::fs::OpenOptions::new().write(true).open(path)?;
    f.seek(SeekFrom::Start(9))?;
    f.write_all(&[god & !REDB_TWO_PHASE])?;
    f.sync_all()?;
    Ok(true)
}

/// Copies `path` to `<path>.damaged-<unix time>` (owner-only) before a repair changes it.
fn keep_copy(path: &Path) -> std::io::Result<PathBuf> {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut to = path.as_os_str().to_owned();
    to.push(format!(".damaged-{secs}"));
    let to = PathBuf::from(to);
    write_private_replacing(&to, b"")?;
    std::fs::copy(path, &to)?;
    std::fs::File::open(&to)?.sync_all()?;
    Ok(to)
}

/// Makes a new redb file, readable by its owner only.
fn create_db(path: &Path, cache: usize) -> Result<Database, DataDirError> {
    let err = |e: String| DataDirError::Io(format!("{}: {e}", path.display()));
    write_private_replacing(path, b"").map_err(|e| err(e.to_string()))?;
    redb::Builder::new().set_cache_size(cache).create(path).map_err(|e| err(e.to_string()))
}

/// Renames `path` to `<path>.<why>-<unix time>` when it is there; returns where it went.
fn aside(path: &Path, why: &str) -> std::io::Result<Option<PathBuf>> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
        Ok(m) if m.len() == 0 => {
            std::fs::remove_file(path)?;
            Ok(None)
        }
        Ok(_) => {
            let secs =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            let mut to = path.as_os_str().to_owned();
            to.push(format!(".{why}-{secs}"));
            let to = PathBuf::from(to);
            std::fs::rename(path, &to)?;
            Ok(Some(to))
        }
    }
}

fn write_private_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    write_private(path, bytes)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Makes `dir` (mode 0700), or, when it exists, tightens it to 0700 and the files in it to
/// 0600. Returns a line for each change made to an existing directory or file.
pub fn make_private(dir: &Path) -> std::io::Result<Vec<String>> {
    use std::os::unix::fs::PermissionsExt;
    let mut done = Vec::new();
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(dir)?;
            // The new directory's entry in its parent is durable before anything is put in it.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                sync_dir(parent)?;
            }
            return Ok(done);
        }
        Err(e) => return Err(e),
        Ok(m) => {
            let mode = m.permissions().mode() & 0o777;
            if m.is_dir() && mode & 0o077 != 0 {
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
                done.push(format!("{}: mode {mode:04o} tightened to 0700", dir.display()));
            }
        }
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let m = entry.metadata()?;
        let mode = m.permissions().mode() & 0o777;
        if m.is_file() && mode & 0o077 != 0 {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode & 0o700))?;
            done.push(format!(
                "{}: mode {mode:04o} tightened to {:04o}",
                entry.path().display(),
                mode & 0o700
            ));
        }
    }
    Ok(done)
}

/// Makes a directory (and its parents) with mode 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A fresh data directory's feedback store, its desk stopped (unit tests of the store).
#[cfg(test)]
pub(crate) fn store_for_test(dir: &Path) -> FeedbackStore {
    let mut d = open(dir, &Options::default()).expect("a data directory opens");
    d.desk.stop();
    d.store.take().expect("the store")
}

/// A fresh data directory's desk (unit tests of the desk).
#[cfg(test)]
pub(crate) fn desk_for_test(dir: &Path) -> Arc<Desk> {
    open(dir, &Options::default()).expect("a data directory opens").desk
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::TableDefinition;

    fn mode(p: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn opened(dir: &Path, repair: bool) -> Result<DataDir, DataDirError> {
        open(dir, &Options { repair, ..Options::default() })
    }

    fn close(d: DataDir) {
        d.desk.stop();
    }

    #[test]
    fn a_new_directory_is_private_and_its_files_share_one_identity() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let d = opened(&dir, false).unwrap();
        let id = d.id.clone();
        assert!(d.notes.iter().any(|n| n.contains("made a new data directory")), "{:?}", d.notes);
        close(d);
        assert_eq!(mode(&dir), 0o700);
        for f in [KEY_FILE, feedback::FILE, DESK_FILE, journal::FILE] {
            assert_eq!(mode(&dir.join(f)), 0o600, "{f}");
        }
        assert!(!dir.join(INIT).exists());
        let again = opened(&dir, false).unwrap();
        assert_eq!(again.id, id, "the identity stays");
        assert!(again.notes.is_empty() && again.repairs.is_empty(), "{:?} {:?}", again.notes, again.repairs);
    }

    #[test]
    fn each_lost_replaced_or_emptied_file_refuses_start_and_a_repair_starts_anyway() {
        type Damage = fn(&Path, &Path);
        let cases: [(&str, Damage, &str); 6] = [
            (
                "feedback deleted",
                |d, _| std::fs::remove_file(d.join(feedback::FILE)).unwrap(),
                "feedback.redb is missing",
            ),
            ("desk emptied", |d, _| std::fs::write(d.join(DESK_FILE), b"").unwrap(), "desk.redb is empty"),
            (
                "journal deleted",
                |d, _| std::fs::remove_file(d.join(journal::FILE)).unwrap(),
                "counters.journal is missing",
            ),
            ("key deleted", |d, _| std::fs::remove_file(d.join(KEY_FILE)).unwrap(), "secret.key is missing"),
            ("key replaced", |d, _| std::fs::write(d.join(KEY_FILE), [3u8; 32]).unwrap(), "not the key"),
            (
                "desk from elsewhere",
                |d, other| std::fs::copy(other.join(DESK_FILE), d.join(DESK_FILE)).map(|_| ()).unwrap(),
                "desk.redb belongs to data directory",
            ),
        ];
        let tmp = tempfile::tempdir().unwrap();
        let other = tmp.path().join("other");
        close(opened(&other, false).unwrap());
        for (what, damage, needle) in cases {
            let dir = tmp.path().join(what.replace(' ', "-"));
            close(opened(&dir, false).unwrap());
            damage(&dir, &other);
            let e = opened(&dir, false).unwrap_err().to_string();
            assert!(e.contains(needle), "{what}: {e}");
            assert!(e.contains("--repair"), "{what}: the way out is named: {e}");
            let again = opened(&dir, false).unwrap_err().to_string();
            assert_eq!(again, e, "{what}: a refusal changes nothing");
            let repaired = opened(&dir, true).unwrap();
            assert!(
                repaired.repairs.iter().any(|(_, r)| r.contains(needle)),
                "{what}: {:?}",
                repaired.repairs
            );
            close(repaired);
            let d = opened(&dir, false).unwrap();
            assert!(d.repairs.is_empty(), "{what}: repaired for good: {:?}", d.repairs);
            close(d);
        }
    }

    /// A one-phase commit a crash cut looks like one the disk damaged, and start-up refuses both:
    /// every commit must be two-phase for a crash never to stop the server from starting.
    #[test]
    fn the_key_survives_reopening_and_differs_between_directories() {
        let dir = tempfile::tempdir().unwrap();
        let key = store_for_test(dir.path()).message_key(b"hello");
        assert_eq!(store_for_test(dir.path()).message_key(b"hello"), key);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(
            store_for_test(other.path()).message_key(b"hello"),
            key,
            "keys differ between installations"
        );
    }

    #[test]
    fn every_store_commits_in_two_phases() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let d = opened(&dir, false).unwrap();
        for file in [feedback::FILE, DESK_FILE] {
            let god = read_god_byte(&dir.join(file)).unwrap().expect("a redb header");
            assert_ne!(god & REDB_TWO_PHASE, 0, "{file}: its last commit was one-phase");
        }
        close(d);
    }

    #[test]
    fn a_loose_directory_is_tightened_with_a_note() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("admin.token"), "x".repeat(20)).unwrap();
        std::fs::set_permissions(dir.join("admin.token"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let d = opened(&dir, false).unwrap();
        assert!(d.notes.iter().any(|n| n.contains("0755 tightened to 0700")), "{:?}", d.notes);
        assert!(
            d.notes.iter().any(|n| n.contains("admin.token: mode 0644 tightened to 0600")),
            "{:?}",
            d.notes
        );
        close(d);
        assert_eq!((mode(&dir), mode(&dir.join("admin.token"))), (0o700, 0o600));
    }

    /// A data directory as the first format left it: no identities, no checksums.
    #[test]
    fn a_directory_made_before_identities_adopts_one_and_its_records_get_checksums() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        create_private_dir(&dir).unwrap();
        std::fs::write(dir.join(KEY_FILE), [7u8; 32]).unwrap();
        let old_record = |message: u128, spam: bool| {
            let mut v = vec![1u8, u8::from(spam)];
            v.extend_from_slice(&100u64.to_le_bytes());
            v.extend_from_slice(&message.to_le_bytes());
            v.extend_from_slice(&5u64.to_le_bytes());
            v.extend_from_slice(&2u32.to_le_bytes());
            v.extend_from_slice(&11u64.to_le_bytes());
            v.extend_from_slice(&12u64.to_le_bytes());
            v
        };
        {
            let db = redb::Database::create(dir.join(feedback::FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut t = txn.open_table(TableDefinition::<u64, &[u8]>::new("feedback")).unwrap();
                t.insert(1, old_record(41, true).as_slice()).unwrap();
                t.insert(2, old_record(42, false).as_slice()).unwrap();
                let mut m = txn.open_table(TableDefinition::<u128, (u64, bool)>::new("by_message")).unwrap();
                m.insert(41, (1, true)).unwrap();
                m.insert(42, (2, false)).unwrap();
                txn.open_table(META).unwrap().insert("store_id", "00112233445566778899aabbccddeeff").unwrap();
            }
            txn.commit().unwrap();
            let db = redb::Database::create(dir.join(DESK_FILE)).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let entry = "{\"seq\":1,\"at\":5,\"kind\":\"decision\",\"actor\":\"warden:check\"}\n";
                txn.open_table(TableDefinition::<u64, &[u8]>::new("audit"))
                    .unwrap()
                    .insert(1, entry.as_bytes())
                    .unwrap();
                txn.open_table(TableDefinition::<&str, u64>::new("sequences"))
                    .unwrap()
                    .insert("audit", 2)
                    .unwrap();
                let item = "{\"id\":1,\"at\":5,\"status\":\"open\",\"why\":[\"uncertain\"],\"message\":\"0000000000000000000000000000002b\",\"action\":\"deliver\",\"score\":0.1,\"probability\":0.55,\"from_domain\":null,\"subject\":\"old\",\"url_domains\":[],\"attachments\":[],\"reasons\":[]}";
                txn.open_table(TableDefinition::<u64, &[u8]>::new("review"))
                    .unwrap()
                    .insert(1, item.as_bytes())
                    .unwrap();
            }
            txn.commit().unwrap();
        }
        let mut old_journal = Vec::new();
        let c = warden_store::journal::JournaledCount { counter: "c".into(), entity: 1, value: None, at: 9 };
        let p = warden_store::journal::encode_count(&c);
        old_journal.extend_from_slice(&(p.len() as u32).to_le_bytes());
        old_journal.extend_from_slice(&p);
        std::fs::write(dir.join(journal::FILE), &old_journal).unwrap();

        let mut d = opened(&dir, false).unwrap();
        assert!(d.notes.iter().any(|n| n.contains("adopted the identity")), "{:?}", d.notes);
        let store = d.store.take().unwrap();
        let mut seen = Vec::new();
        store
            .for_each_after(0, feedback::OnDamage::Fail, |r| {
                seen.push((r.feedback.message, r.feedback.label.is_abusive()))
            })
            .unwrap();
        assert_eq!(seen, [(41, true), (42, false)], "the old records read, with checksums now");
        assert_eq!(store.id(), "00112233445566778899aabbccddeeff", "the checkpoints' store id stays");
        assert_eq!(d.desk.audit_page(0, 10).unwrap().len(), 1);
        assert_eq!(d.desk.review_page(None, None, 10).unwrap().items[0].subject.as_deref(), Some("old"));
        assert_eq!(d.desk.open_items().unwrap(), 1, "the old item is indexed");
        let mut counts = Vec::new();
        d.desk.counts_since(0, |c| counts.push(c)).unwrap();
        assert_eq!(counts, [c]);
        drop(store);
        close(d);
        let again = opened(&dir, false).unwrap();
        assert!(again.notes.is_empty() && again.repairs.is_empty(), "{:?} {:?}", again.notes, again.repairs);
        close(again);
    }

    #[test]
    fn an_interrupted_creation_is_resumed_not_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        close(opened(&dir, false).unwrap());
        // As if the first start died after the marker and the feedback store, before the rest.
        let id = opened(&dir, false).map(|d| {
            let id = d.id.clone();
            close(d);
            id
        });
        let id = id.unwrap();
        std::fs::write(dir.join(DESK_FILE), b"half a database").unwrap(); // made, never finished
        std::fs::remove_file(dir.join(journal::FILE)).unwrap();
        std::fs::write(dir.join(INIT), &id).unwrap();
        let d = opened(&dir, false).unwrap();
        assert_eq!(d.id, id);
        assert!(!dir.join(INIT).exists());
        close(d);
        close(opened(&dir, false).unwrap());
    }
}
