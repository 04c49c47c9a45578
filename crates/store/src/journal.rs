//! The rules' counter journal: an append-only file of counter updates (`counters.journal`).
//!
//! Written by hand rather than kept in redb: every check with a counter waits for its updates
//! to be durable, and an append with `fdatasync` costs a third of a redb commit (0.2 ms
//! against 0.5–0.6 ms here), with nothing to index — the journal is only ever read whole, at
//! start and at a rule reload. Housekeeping rewrites the file without the updates older than
//! the longest counter window (write a new file, fsync, rename).
//!
//! The file is a 32-byte header — `WDNJ`, the format (2), the data directory's identity and an
//! xxh3-64 of the header — then records: the payload's length (u32 LE), the payload's xxh3-64,
//! the payload ([`encode_count`]). A batch is acknowledged after its `fdatasync`.
//!
//! What opening finds ([`Scan`]):
//! - a **torn tail**: bytes after the last valid record in which no valid record starts — a
//!   write cut by a crash, never acknowledged. It is cut off, and the caller logs it.
//! - **damage**: bytes that are not a valid record, with valid records after them — a flipped
//!   length or payload in the middle of the file. Nothing is cut: the caller refuses to start,
//!   unless it repairs, in which case the file is written again with every valid record and
//!   without the damaged bytes. The records after the damage are found again because every
//!   record carries its own checksum: the reader looks for the next offset where one holds.
//! - a journal of the first format (no header, no checksums; made before identities) is read
//!   as it always was — whole records up to the first that does not decode — and written again
//!   in this format.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// One counter update, as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournaledCount {
    /// The counter's name.
    pub counter: String,
    /// The entity's keyed hash.
    pub entity: u64,
    /// The counted value's keyed hash (distinct counters).
    pub value: Option<u64>,
    /// When, Unix seconds.
    pub at: u64,
}

/// A counter update as a record's payload: when (u64 LE), the entity (u64 LE), whether a value
/// follows (a byte), the value (u64 LE), the counter's name (UTF-8).
pub fn encode_count(c: &JournaledCount) -> Vec<u8> {
    let mut out = Vec::with_capacity(25 + c.counter.len());
    out.extend_from_slice(&c.at.to_le_bytes());
    out.extend_from_slice(&c.entity.to_le_bytes());
    out.push(u8::from(c.value.is_some()));
    out.extend_from_slice(&c.value.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(c.counter.as_bytes());
    out
}

/// [`encode_count`] undone; `None` for bytes it did not write.
pub fn decode_count(b: &[u8]) -> Option<JournaledCount> {
    let u64_at = |i: usize| Some(u64::from_le_bytes(b.get(i..i + 8)?.try_into().ok()?));
    Some(JournaledCount {
        at: u64_at(0)?,
        entity: u64_at(8)?,
        value: match *b.get(16)? {
            0 => None,
            1 => Some(u64_at(17)?),
            _ => return None,
        },
        counter: String::from_utf8(b.get(25..)?.to_vec()).ok()?,
    })
}

/// The journal's file name in a data directory.
pub const FILE: &str = "counters.journal";

const MAGIC: &[u8; 4] = b"WDNJ";
const FORMAT: u8 = 2;
const HEADER: usize = 32;
const RECORD_HEAD: usize = 12;
/// The largest payload a record may have (a counter's name and its numbers): a record is
/// refused rather than written past it. Bounds the search for the next valid record after
/// damage.
const MAX_PAYLOAD: usize = 64 << 10;

/// A run of bytes in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Where it starts.
    pub offset: u64,
    /// How long it is.
    pub len: u64,
}

/// What the header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    /// The data directory's identity.
    Identity([u8; 16]),
    /// A header whose checksum does not hold.
    Damaged,
    /// The first format: no header.
    Legacy,
}

/// A journal file read and taken apart, before anything is written to it.
#[derive(Debug)]
pub struct Scan {
    path: PathBuf,
    /// The header.
    pub header: Header,
    /// Every valid record, in file order.
    pub records: Vec<JournaledCount>,
    /// Bytes at the end with no valid record in them.
    pub torn: Option<Region>,
    /// Bytes that are not records, with valid records after them.
    pub damaged: Vec<Region>,
}

impl Scan {
    /// Reads and takes apart the journal at `path`.
    pub fn read(path: &Path) -> std::io::Result<Scan> {
        let bytes = std::fs::read(path)?;
        let mut scan = Scan {
            path: path.to_owned(),
            header: Header::Legacy,
            records: Vec::new(),
            torn: None,
            damaged: Vec::new(),
        };
        if bytes.starts_with(MAGIC) {
            scan.header = header(&bytes);
            scan.walk(&bytes, HEADER.min(bytes.len()));
        } else {
            scan.walk_legacy(&bytes);
        }
        Ok(scan)
    }

    /// Records from `at` on; damaged bytes are skipped up to the next offset where a valid
    /// record starts.
    fn walk(&mut self, bytes: &[u8], mut at: usize) {
        while at < bytes.len() {
            if let Some((c, n)) = record_at(bytes, at) {
                self.records.push(c);
                at += n;
                continue;
            }
            let next = (at + 1..bytes.len()).find(|&o| record_at(bytes, o).is_some());
            let end = next.unwrap_or(bytes.len());
            let region = Region { offset: at as u64, len: (end - at) as u64 };
            match next {
                Some(_) => self.damaged.push(region),
                None => self.torn = Some(region),
            }
            at = end;
        }
    }

    /// The first format: whole records up to the first that does not decode; the rest is torn.
    fn walk_legacy(&mut self, bytes: &[u8]) {
        let mut at = 0;
        while let Some(n) =
            bytes.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().expect("4")) as usize)
        {
            match bytes.get(at + 4..at + 4 + n).and_then(decode_count) {
                Some(c) => {
                    self.records.push(c);
                    at += 4 + n;
                }
                None => break,
            }
        }
        if at < bytes.len() {
            self.torn = Some(Region { offset: at as u64, len: (bytes.len() - at) as u64 });
        }
    }

    /// The identity its header records.
    pub fn identity(&self) -> Option<[u8; 16]> {
        match self.header {
            Header::Identity(id) => Some(id),
            _ => None,
        }
    }

    /// Opens the journal for appending under identity `id`. A torn tail is cut off; a file of
    /// the first format, one with damage or a damaged header, or one of another identity is
    /// written again whole, with every valid record (the caller has refused to start on
    /// damage unless it repairs).
    pub fn into_journal(self, id: [u8; 16]) -> std::io::Result<Journal> {
        let clean = self.header == Header::Identity(id) && self.damaged.is_empty();
        if clean {
            let file = OpenOptions::new().read(true).append(true).open(&self.path)?;
            if let Some(t) = self.torn {
                file.set_len(t.offset)?;
                file.sync_all()?;
            }
            return Ok(Journal { path: self.path, file, id, damaged_reads: 0 });
        }
        let mut buf = header_bytes(id);
        for c in &self.records {
            push_record(&mut buf, c)?;
        }
        replace(&self.path, &buf)?;
        let file = OpenOptions::new().read(true).append(true).open(&self.path)?;
        Ok(Journal { path: self.path, file, id, damaged_reads: 0 })
    }
}

/// The journal file of a data directory, open for appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    id: [u8; 16],
    /// Damaged records skipped by reads since open.
    damaged_reads: u64,
}

impl Journal {
    /// Makes a new, empty journal at `path` for the data directory `id` (atomically: a crash
    /// leaves no file or a whole header, never an empty file).
    pub fn create(path: &Path, id: [u8; 16]) -> std::io::Result<Journal> {
        replace(path, &header_bytes(id))?;
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        Ok(Journal { path: path.to_owned(), file, id, damaged_reads: 0 })
    }

    /// Appends updates and makes them durable (`fdatasync`) before returning. A write that
    /// fails part way is cut off again, so that what follows never sits after half a record.
    pub fn append<'a>(
        &mut self,
        counts: impl IntoIterator<Item = &'a JournaledCount>,
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for c in counts {
            push_record(&mut buf, c)?;
        }
        if buf.is_empty() {
            return Ok(());
        }
        let before = self.file.metadata()?.len();
        let written = self.file.write_all(&buf).and_then(|()| self.file.sync_data());
        if written.is_err() {
            let _ = self.file.set_len(before);
        }
        written
    }

    /// Every valid update, in the order written; damaged records are skipped and counted.
    pub fn read_all(&mut self) -> std::io::Result<Vec<JournaledCount>> {
        let mut bytes = Vec::new();
        File::open(&self.path)?.read_to_end(&mut bytes)?;
        let mut scan = Scan {
            path: self.path.clone(),
            header: header(&bytes),
            records: Vec::new(),
            torn: None,
            damaged: Vec::new(),
        };
        scan.walk(&bytes, HEADER.min(bytes.len()));
        self.damaged_reads += scan.damaged.len() as u64 + u64::from(scan.torn.is_some());
        Ok(scan.records)
    }

    /// Damaged records skipped by reads since the journal was opened.
    pub fn damaged_reads(&self) -> u64 {
        self.damaged_reads
    }

    /// Rewrites the journal without the updates before `since` (Unix seconds); returns how
    /// many were dropped. A crash midway leaves the old file or the new one.
    pub fn compact(&mut self, since: u64) -> std::io::Result<u64> {
        let all = self.read_all()?;
        let kept: Vec<&JournaledCount> = all.iter().filter(|c| c.at >= since).collect();
        let dropped = (all.len() - kept.len()) as u64;
        if dropped == 0 {
            return Ok(0);
        }
        let mut buf = header_bytes(self.id);
        for c in kept {
            push_record(&mut buf, c)?;
        }
        let replaced = replace(&self.path, &buf);
        // Once renamed, appends go to the new file even if the directory's fsync failed.
        if let Ok(file) = OpenOptions::new().read(true).append(true).open(&self.path) {
            self.file = file;
        }
        replaced?;
        Ok(dropped)
    }
}

/// Writes `bytes` as the whole of `path`, atomically (temporary file, fsync, rename, fsync of
/// the directory), readable by its owner only.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("journal.tmp");
    let _ = std::fs::remove_file(&tmp);
    crate::feedback::write_private(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn header_bytes(id: [u8; 16]) -> Vec<u8> {
    let mut h = Vec::with_capacity(HEADER);
    h.extend_from_slice(MAGIC);
    h.extend_from_slice(&[FORMAT, 0, 0, 0]);
    h.extend_from_slice(&id);
    let sum = xxhash_rust::xxh3::xxh3_64(&h);
    h.extend_from_slice(&sum.to_le_bytes());
    h
}

fn header(bytes: &[u8]) -> Header {
    let Some(h) = bytes.get(..HEADER) else { return Header::Damaged };
    let sum = u64::from_le_bytes(h[24..32].try_into().expect("8"));
    if h[4] != FORMAT || sum != xxhash_rust::xxh3::xxh3_64(&h[..24]) {
        return Header::Damaged;
    }
    Header::Identity(h[8..24].try_into().expect("16"))
}

fn push_record(buf: &mut Vec<u8>, c: &JournaledCount) -> std::io::Result<()> {
    let payload = encode_count(c);
    if payload.len() > MAX_PAYLOAD {
        return Err(std::io::Error::other(format!(
            "a counter update of {} bytes (counter name of {} bytes) is past the journal's {MAX_PAYLOAD}",
            payload.len(),
            c.counter.len()
        )));
    }
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
    Ok(())
}

/// The record starting at `at`, and its length, when a valid one starts there.
fn record_at(bytes: &[u8], at: usize) -> Option<(JournaledCount, usize)> {
    let head = bytes.get(at..at + RECORD_HEAD)?;
    let n = u32::from_le_bytes(head[..4].try_into().expect("4")) as usize;
    if n > MAX_PAYLOAD {
        return None;
    }
    let payload = bytes.get(at + RECORD_HEAD..at + RECORD_HEAD + n)?;
    if u64::from_le_bytes(head[4..].try_into().expect("8")) != xxhash_rust::xxh3::xxh3_64(payload) {
        return None;
    }
    Some((decode_count(payload)?, RECORD_HEAD + n))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: [u8; 16] = [9; 16];

    fn count(at: u64) -> JournaledCount {
        JournaledCount {
            counter: "per_sender".into(),
            entity: at * 7,
            value: at.is_multiple_of(2).then_some(at),
            at,
        }
    }

    fn reopen(path: &Path) -> Journal {
        let scan = Scan::read(path).unwrap();
        assert!(scan.damaged.is_empty(), "{scan:?}");
        scan.into_journal(ID).unwrap()
    }

    #[test]
    fn updates_read_back_in_order_and_compaction_keeps_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut j = Journal::create(&path, ID).unwrap();
        j.append(&[count(1), count(2)]).unwrap();
        j.append(&[count(3)]).unwrap();
        assert_eq!(j.read_all().unwrap(), [count(1), count(2), count(3)]);
        assert_eq!(j.compact(2).unwrap(), 1);
        j.append(&[count(4)]).unwrap();
        assert_eq!(j.read_all().unwrap(), [count(2), count(3), count(4)]);
        drop(j);
        let scan = Scan::read(&path).unwrap();
        assert_eq!(scan.identity(), Some(ID), "the header survives compaction");
        let mut j = reopen(&path);
        assert_eq!(j.read_all().unwrap(), [count(2), count(3), count(4)], "survives reopening");
    }

    #[test]
    fn a_torn_last_record_is_cut_off_and_appends_go_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut j = Journal::create(&path, ID).unwrap();
        j.append(&[count(1), count(2)]).unwrap();
        drop(j);
        let whole = std::fs::read(&path).unwrap();
        let record = (whole.len() - HEADER) / 2;
        for cut in 1..record {
            std::fs::write(&path, &whole[..whole.len() - cut]).unwrap();
            let scan = Scan::read(&path).unwrap();
            assert_eq!(scan.torn.map(|t| t.len), Some((record - cut) as u64), "cut {cut}");
            assert!(scan.damaged.is_empty());
            let mut j = scan.into_journal(ID).unwrap();
            assert_eq!(j.read_all().unwrap(), [count(1)]);
            j.append(&[count(3)]).unwrap();
            assert_eq!(j.read_all().unwrap(), [count(1), count(3)]);
        }
        // Zeros where the last batch should be (the file grew, the data never landed): torn.
        let mut zeros = whole.clone();
        zeros.extend_from_slice(&[0; 300]);
        std::fs::write(&path, &zeros).unwrap();
        let scan = Scan::read(&path).unwrap();
        assert_eq!((scan.records.len(), scan.torn.map(|t| t.len), scan.damaged.len()), (2, Some(300), 0));
    }

    #[test]
    fn damage_in_the_middle_is_found_and_the_records_after_it_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut j = Journal::create(&path, ID).unwrap();
        let all: Vec<_> = (1..=50).map(count).collect();
        j.append(&all).unwrap();
        drop(j);
        let whole = std::fs::read(&path).unwrap();
        let third = HEADER + 2 * (RECORD_HEAD + encode_count(&count(1)).len());
        for (what, change) in [
            (
                "length",
                Box::new(|b: &mut Vec<u8>| b[third..third + 4].copy_from_slice(&[0xff; 4]))
                    as Box<dyn Fn(&mut Vec<u8>)>,
            ),
            ("payload", Box::new(|b: &mut Vec<u8>| b[third + RECORD_HEAD + 3] ^= 0x10)),
            ("checksum", Box::new(|b: &mut Vec<u8>| b[third + 5] ^= 0x01)),
        ] {
            let mut bytes = whole.clone();
            change(&mut bytes);
            std::fs::write(&path, &bytes).unwrap();
            let scan = Scan::read(&path).unwrap();
            assert_eq!(scan.torn, None, "{what}");
            assert_eq!(scan.damaged.len(), 1, "{what}");
            assert_eq!(scan.damaged[0].offset, third as u64, "{what}");
            let kept: Vec<_> = all.iter().filter(|c| c.at != 3).cloned().collect();
            assert_eq!(scan.records, kept, "{what}: every record but the damaged one");
            let mut j = scan.into_journal(ID).unwrap();
            assert_eq!(j.read_all().unwrap(), kept, "{what}: written again without the damage");
            assert!(Scan::read(&path).unwrap().damaged.is_empty());
        }
    }

    #[test]
    fn a_first_format_journal_is_read_and_written_again_with_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut old = Vec::new();
        for c in [count(1), count(2)] {
            let p = encode_count(&c);
            old.extend_from_slice(&(p.len() as u32).to_le_bytes());
            old.extend_from_slice(&p);
        }
        old.extend_from_slice(&[5, 0]); // a torn length
        std::fs::write(&path, &old).unwrap();
        let scan = Scan::read(&path).unwrap();
        assert_eq!(scan.header, Header::Legacy);
        assert_eq!(scan.torn.map(|t| t.len), Some(2));
        let mut j = scan.into_journal(ID).unwrap();
        assert_eq!(j.read_all().unwrap(), [count(1), count(2)]);
        assert_eq!(Scan::read(&path).unwrap().identity(), Some(ID));
    }

    #[test]
    fn a_damaged_header_is_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        let mut j = Journal::create(&path, ID).unwrap();
        j.append(&[count(1)]).unwrap();
        drop(j);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[10] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let scan = Scan::read(&path).unwrap();
        assert_eq!((scan.header, scan.records.len()), (Header::Damaged, 1));
    }

    #[test]
    fn a_damaged_payload_is_none_not_a_panic() {
        let c = JournaledCount { counter: "c".into(), entity: 3, value: None, at: 4 };
        let good = encode_count(&c);
        assert_eq!(decode_count(&good), Some(c.clone()));
        for cut in 0..25 {
            assert_eq!(decode_count(&good[..cut]), None, "cut at {cut}");
        }
        let mut flag = good.clone();
        flag[16] = 2;
        assert_eq!(decode_count(&flag), None, "a value flag other than 0 or 1");
    }
}
