//! The rules' counter journal: an append-only file of counter updates (`counters.journal`).
//!
//! Written by hand rather than kept in redb: every check with a counter waits for its updates
//! to be durable, and an append with `fdatasync` costs a third of a redb commit (0.2 ms
//! against 0.5–0.6 ms here), with nothing to index — the journal is only ever read whole, at
//! start and at a rule reload. Records are a 32-bit length and the update; a crash can leave a
//! torn last record, which the next open cuts off (it was never acknowledged: a batch is
//! acknowledged after its `fdatasync`). Housekeeping rewrites the file without the updates
//! older than the longest counter window (write a new file, fsync, rename).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::desk::JournaledCount;

/// The journal file of a data directory.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
}

impl Journal {
    /// Opens (or creates) `counters.journal` in `dir`, cutting off a torn last record. Returns
    /// the journal and how many bytes were cut.
    pub fn open(dir: &Path) -> std::io::Result<(Journal, u64)> {
        let path = dir.join("counters.journal");
        let mut file = OpenOptions::new().read(true).append(true).create(true).open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let good = whole_records(&bytes);
        let cut = (bytes.len() - good) as u64;
        if cut > 0 {
            file.set_len(good as u64)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::End(0))?;
        Ok((Journal { path, file }, cut))
    }

    /// Appends updates and makes them durable (`fdatasync`) before returning.
    pub fn append<'a>(
        &mut self,
        counts: impl IntoIterator<Item = &'a JournaledCount>,
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for c in counts {
            push_record(&mut buf, c);
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.file.write_all(&buf)?;
        self.file.sync_data()
    }

    /// Every update, in the order written.
    pub fn read_all(&self) -> std::io::Result<Vec<JournaledCount>> {
        let bytes = std::fs::read(&self.path)?;
        Ok(records(&bytes[..whole_records(&bytes)]))
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
        let tmp = self.path.with_extension("journal.tmp");
        let mut buf = Vec::with_capacity(kept.len() * 48);
        for c in kept {
            push_record(&mut buf, c);
        }
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&buf)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().read(true).append(true).open(&self.path)?;
        Ok(dropped)
    }
}

fn push_record(buf: &mut Vec<u8>, c: &JournaledCount) {
    let one = crate::desk::encode_count(c);
    buf.extend_from_slice(&(one.len() as u32).to_le_bytes());
    buf.extend_from_slice(&one);
}

/// The length of the longest prefix of `bytes` made of whole, readable records.
fn whole_records(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(n) = bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize) {
        match bytes.get(at + 4..at + 4 + n) {
            Some(r) if crate::desk::decode_count(r).is_some() => at += 4 + n,
            _ => break,
        }
    }
    at
}

/// The records of whole-record bytes.
fn records(mut bytes: &[u8]) -> Vec<JournaledCount> {
    let mut out = Vec::new();
    while bytes.len() >= 4 {
        let n = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
        if let Some(c) = bytes.get(4..4 + n).and_then(crate::desk::decode_count) {
            out.push(c);
        }
        bytes = &bytes[(4 + n).min(bytes.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(at: u64) -> JournaledCount {
        JournaledCount {
            counter: "per_sender".into(),
            entity: at * 7,
            value: at.is_multiple_of(2).then_some(at),
            at,
        }
    }

    #[test]
    fn updates_read_back_in_order_and_compaction_keeps_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, cut) = Journal::open(dir.path()).unwrap();
        assert_eq!(cut, 0);
        j.append(&[count(1), count(2)]).unwrap();
        j.append(&[count(3)]).unwrap();
        assert_eq!(j.read_all().unwrap(), [count(1), count(2), count(3)]);
        assert_eq!(j.compact(2).unwrap(), 1);
        j.append(&[count(4)]).unwrap();
        assert_eq!(j.read_all().unwrap(), [count(2), count(3), count(4)]);
        drop(j);
        let (j, _) = Journal::open(dir.path()).unwrap();
        assert_eq!(j.read_all().unwrap(), [count(2), count(3), count(4)], "survives reopening");
    }

    #[test]
    fn a_torn_last_record_is_cut_off_at_open_and_appends_go_on_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = Journal::open(dir.path()).unwrap();
        j.append(&[count(1), count(2)]).unwrap();
        drop(j);
        let path = dir.path().join("counters.journal");
        let whole = std::fs::read(&path).unwrap();
        for cut in 1..whole.len() / 2 {
            std::fs::write(&path, &whole[..whole.len() - cut]).unwrap();
            let (mut j, cut_off) = Journal::open(dir.path()).unwrap();
            assert_eq!(cut_off, (whole.len() / 2 - cut) as u64, "cut {cut}");
            assert_eq!(j.read_all().unwrap(), [count(1)]);
            j.append(&[count(3)]).unwrap();
            assert_eq!(j.read_all().unwrap(), [count(1), count(3)]);
        }
    }
}
