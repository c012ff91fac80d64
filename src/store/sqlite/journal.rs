//! The chat journal: where a chat message and its log entry are made
//! durable before the sender's ack, with one `write` on the caller's
//! thread, and from where the writer thread copies them into SQLite later,
//! many per transaction.
//!
//! Why: committing each message to SQLite before its ack cost about 150 µs
//! of CPU per message at 500 messages a second (W1 of BENCHMARKS.md: 14
//! `pwrite`s, the write lock's `fcntl`s, and two thread hand-offs), more
//! than the whole budget the Node reference leaves. An append to a file of
//! our own is one `pwrite` of a few hundred bytes; what it promises is what
//! a SQLite commit with `synchronous=NORMAL` promised: the message is in the
//! kernel's page cache, so it survives the process being killed (`kill -9`,
//! `tests/e2e/durability.rs`), not a power cut.
//!
//! How it stays correct:
//! - **Positions.** The journal hands out every event-log position of the
//!   store (the writer takes the next one for each event it inserts), so a
//!   journaled entry and an entry written by the writer never collide, and
//!   the writer applies every journaled record whose position is below an
//!   entry's before inserting that entry, in the same transaction: a reader
//!   still never sees position `n` before `n - 1`.
//! - **Read your writes.** A read of messages or of the log first waits
//!   until every record journaled before it is committed
//!   ([`Journal::settled`]); only when some are waiting does that cost a
//!   hand-off to the writer.
//! - **Duplicates.** Only a message whose id is above every id stored or
//!   journaled so far is journaled (ids begin with their time and a
//!   process's counter, so a new message always is); any other goes
//!   through the writer, which sees every stored row and refuses a
//!   duplicate as before.
//! - **Recovery.** Two files take turns: the writer switches appends to the
//!   other (empty) file when it takes the waiting records, and empties the
//!   first once they are committed. On opening, whatever both files hold is
//!   applied (`INSERT OR IGNORE`: a record may already be in SQLite when the
//!   process died between the commit and the emptying) and both are
//!   emptied. A record is a length, a position and a JSON body; a torn last
//!   record (a write cut short by the kill) ends the replay of its file.
//! - **No system call per message.** Each file's first [`MAPPED`] bytes are
//!   reserved on disk and mapped shared into memory, so an append is a copy
//!   into the page cache, as durable against a kill as a `write` (the
//!   kernel owns the dirty pages); a `pwrite` cost about 8 µs per message,
//!   mostly ext4 reserving blocks for a growing file (W1 of BENCHMARKS.md).
//!   A file is emptied by zeroing what it held, never truncated under its
//!   mapping; records past the mapping are written with `pwrite`.
//! - **One owner.** The first file is locked (`flock`) by the process that
//!   owns the store. Another process opening the same file (`create-admin`
//!   beside a running server) gets no journal: it writes through the
//!   writer as before and may not append to the log, whose positions
//!   belong to the owner.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use memmap2::MmapMut;
use serde::{Deserialize, Serialize};

use super::chat_rows::{EventInsert, MessageInsert};
use crate::domain::Position;
use crate::store::{StoreError, StoreResult};

/// Records waiting for the writer beyond which an append is refused (the
/// writer has been failing for a while; memory stays bounded).
const PENDING_LIMIT: usize = 65_536;

/// Waiting records at which the writer is asked to apply at once rather
/// than at the end of its delay: about half a second of chat at 2,000
/// messages a second, a copy of about 12 ms for a read that settles.
pub(super) const APPLY_NOW: usize = 1024;

/// Bytes of each file reserved on disk and written through a shared map:
/// far more than the records of one batch (at most [`APPLY_NOW`] of a few
/// hundred bytes each), so `pwrite` is the exception (a writer that stalls).
const MAPPED: u64 = 4 << 20;

/// Bytes before a record's body: its length (`u32`) and its position
/// (`u64`), little-endian.
const HEADER: usize = 12;

/// A chat message and its log entry, journaled together.
#[derive(Serialize, Deserialize)]
pub(super) struct Record {
    /// Its log entry's position (from the header; not in the body).
    #[serde(skip)]
    position: u64,
    message: MessageInsert,
    event: EventInsert,
}

impl Record {
    /// Copies the record into SQLite (on the writer thread). Already there
    /// (a replay after a crash between commit and emptying) is no error.
    pub(super) fn apply(&self, connection: &rusqlite::Connection) -> StoreResult<()> {
        self.message.run_or_ignore(connection)?;
        self.event.run_at(connection, self.position)
    }
}

/// What an append did.
pub(super) enum Appended {
    /// Journaled at this position; `wake` says the writer should be told
    /// (the first record waiting, or enough of them to apply at once).
    Journaled { position: Position, wake: bool },
    /// Not journaled (handed back): its id is not above every id already
    /// stored, so the writer must check it against the table.
    NotNewest(Box<(MessageInsert, EventInsert)>),
}

/// The journal of one store (see the module's documentation).
pub(super) struct Journal {
    state: Mutex<State>,
    /// Records journaled so far (a count: the sequence of the newest).
    journaled: AtomicU64,
    /// Records committed to SQLite so far.
    applied: AtomicU64,
}

struct State {
    files: [File; 2],
    /// The first [`MAPPED`] bytes of each file (`None` where the file system
    /// could not reserve or map them: appends use `pwrite`).
    maps: [Option<MmapMut>; 2],
    /// Bytes written to each file.
    ends: [u64; 2],
    /// The file appends go to.
    current: usize,
    /// The other file is empty (its records are committed), so appends may
    /// switch to it.
    spare_empty: bool,
    /// The position the next log entry takes.
    next_position: u64,
    /// The largest message id stored or journaled.
    newest_message: String,
    /// Journaled, not yet taken by the writer.
    pending: Vec<Record>,
    /// Taken by a write for its log entry, for its batch to keep.
    carried: Option<Taken>,
}

/// The records the writer took, and what committing them allows.
pub(super) struct Taken {
    pub(super) records: Vec<Record>,
    /// Every record up to this sequence is among those taken so far.
    pub(super) through: u64,
    /// The file appends left: empty it once these records are committed.
    pub(super) retired: Option<usize>,
}

/// The journal's files beside the database at `database`.
pub(super) fn paths(database: &Path) -> [PathBuf; 2] {
    ["a", "b"].map(|turn| {
        let mut name = database.as_os_str().to_owned();
        name.push(format!(".chat-journal-{turn}"));
        PathBuf::from(name)
    })
}

fn unavailable(error: impl Into<anyhow::Error>, doing: &str) -> StoreError {
    StoreError::Unavailable(error.into().context(doing.to_owned()))
}

/// Opens the journal's files for the store at `database`, locking the first.
/// `None`: another process holds the lock (it owns the store).
pub(super) fn open_files(database: &Path) -> StoreResult<Option<[File; 2]>> {
    let [a, b] = paths(database);
    let open = |path: &Path| {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|error| unavailable(error, &format!("opening {}", path.display())))
    };
    let first = open(&a)?;
    match first.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(error)) => {
            return Err(unavailable(error, "locking the chat journal"));
        }
    }
    Ok(Some([first, open(&b)?]))
}

/// The records a file holds, oldest first, up to the first torn one.
pub(super) fn read_records(file: &File) -> StoreResult<Vec<Record>> {
    let reading = |error| unavailable(error, "reading the chat journal");
    let length = file.metadata().map_err(reading)?.len();
    let mut bytes = vec![0; usize::try_from(length).map_err(|e| StoreError::Internal(e.into()))?];
    file.read_exact_at(&mut bytes, 0).map_err(reading)?;
    let mut records = Vec::new();
    let mut rest = bytes.as_slice();
    while rest.len() >= HEADER {
        let length = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let position = u64::from_le_bytes(rest[4..HEADER].try_into().expect("8 bytes"));
        let Some(body) = rest.get(HEADER..HEADER + length) else {
            break;
        };
        let Ok(mut record) = serde_json::from_slice::<Record>(body) else {
            break;
        };
        if length == 0 || position == 0 {
            break;
        }
        record.position = position;
        records.push(record);
        rest = &rest[HEADER + length..];
    }
    Ok(records)
}

/// Reserves the first [`MAPPED`] bytes of an empty journal file on disk
/// (so writing through the map cannot fail for want of space: that would be
/// a `SIGBUS`, not an error) and maps them.
fn map(file: &File) -> std::io::Result<MmapMut> {
    use std::os::fd::AsRawFd as _;
    let length = libc::off_t::try_from(MAPPED).map_err(std::io::Error::other)?;
    // SAFETY: an FFI call on a descriptor this function borrows, with no
    // pointer arguments.
    let reserved = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, length) };
    if reserved != 0 {
        return Err(std::io::Error::from_raw_os_error(reserved));
    }
    // SAFETY: the map is undefined behaviour only if the file shrinks under
    // it or another process writes it. The journal's files are this
    // process's alone while it holds the lock, and the journal never
    // truncates them below `MAPPED` (it empties them by zeroing).
    unsafe { MmapMut::map_mut(file) }
}

impl State {
    /// Writes a record at the end of file `turn`: a copy into its map while
    /// it fits there, a `pwrite` past it.
    fn write_record(&mut self, turn: usize, bytes: &[u8]) -> std::io::Result<()> {
        let end = self.ends[turn];
        let start = usize::try_from(end).map_err(std::io::Error::other)?;
        if let Some(slot) = self.maps[turn]
            .as_mut()
            .and_then(|map| map.get_mut(start..start + bytes.len()))
        {
            slot.copy_from_slice(bytes);
        } else if let Err(error) = self.files[turn].write_all_at(bytes, end) {
            // Nothing half-written may stay before the next record.
            let _ = self.files[turn].set_len(end.max(self.mapped(turn)));
            return Err(error);
        }
        self.ends[turn] = end + bytes.len() as u64;
        Ok(())
    }

    /// Empties file `turn`: zeroes what its map holds, cuts what lies past.
    fn empty(&mut self, turn: usize) -> std::io::Result<()> {
        let end = usize::try_from(self.ends[turn]).map_err(std::io::Error::other)?;
        let mapped = self.mapped(turn);
        if let Some(map) = self.maps[turn].as_mut() {
            let zeroed = end.min(map.len());
            map[..zeroed].fill(0);
        }
        if self.ends[turn] > mapped {
            self.files[turn].set_len(mapped)?;
        }
        self.ends[turn] = 0;
        Ok(())
    }

    /// Bytes of file `turn` under its map.
    fn mapped(&self, turn: usize) -> u64 {
        self.maps[turn].as_ref().map_or(0, |map| map.len() as u64)
    }
}

impl Journal {
    /// A journal over `files` (already replayed and emptied), handing out
    /// positions after `head` and journaling ids above `newest_message`.
    pub(super) fn new(files: [File; 2], head: u64, newest_message: String) -> Self {
        let maps = [&files[0], &files[1]].map(|file| {
            map(file)
                .inspect_err(|error| {
                    tracing::warn!(%error, "the chat journal is written with pwrite, not mapped");
                })
                .ok()
        });
        Journal {
            state: Mutex::new(State {
                files,
                maps,
                ends: [0, 0],
                current: 0,
                spare_empty: true,
                next_position: head + 1,
                newest_message,
                pending: Vec::new(),
                carried: None,
            }),
            journaled: AtomicU64::new(0),
            applied: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Journals a message and its log entry: one `write`, under a lock that
    /// is never held across anything slower.
    pub(super) fn append(
        &self,
        message: MessageInsert,
        event: EventInsert,
    ) -> StoreResult<Appended> {
        let mut record = Record {
            position: 0,
            message,
            event,
        };
        let mut bytes = vec![0; HEADER];
        serde_json::to_writer(&mut bytes, &record)
            .map_err(|error| StoreError::Internal(error.into()))?;
        let length = u32::try_from(bytes.len() - HEADER)
            .map_err(|error| StoreError::Internal(error.into()))?;
        bytes[..4].copy_from_slice(&length.to_le_bytes());

        let mut state = self.lock();
        if record.message.id.as_str() <= state.newest_message.as_str() {
            drop(state);
            return Ok(Appended::NotNewest(Box::new((
                record.message,
                record.event,
            ))));
        }
        if state.pending.len() >= PENDING_LIMIT {
            return Err(StoreError::Unavailable(anyhow::anyhow!(
                "the SQLite writer is behind: {PENDING_LIMIT} chat messages wait for it"
            )));
        }
        let position = state.next_position;
        bytes[4..HEADER].copy_from_slice(&position.to_le_bytes());
        let current = state.current;
        state
            .write_record(current, &bytes)
            .map_err(|error| unavailable(error, "writing the chat journal"))?;
        state.next_position += 1;
        state.newest_message.clone_from(&record.message.id);
        record.position = position;
        state.pending.push(record);
        // Counted under the lock, so that a writer taking the records reads
        // a count that matches them.
        self.journaled.fetch_add(1, Ordering::AcqRel);
        let waiting = state.pending.len();
        Ok(Appended::Journaled {
            position: Position::new(position),
            wake: waiting == 1 || waiting == APPLY_NOW,
        })
    }

    /// A message the writer stored itself: ids at or below it are checked
    /// against the table from now on.
    pub(super) fn stored_message(&self, id: &str) {
        let mut state = self.lock();
        if id > state.newest_message.as_str() {
            state.newest_message = id.to_owned();
        }
    }

    /// Marks delivered the waiting messages among `ids`, which are removed
    /// from it: they will be inserted as delivered. The rest are in SQLite
    /// already, or in the writer's hands (it commits them before it runs
    /// any later write).
    ///
    /// Why: a live message is delivered well before the writer copies it.
    /// Inserting it undelivered and updating it a moment later wrote the
    /// pages of the undelivered index twice, in two transactions, for
    /// nothing (W1 of BENCHMARKS.md). A mark made here is not in the file:
    /// after a kill the message is replayed undelivered, and delivered
    /// again (at least once, as a lost mark always was).
    pub(super) fn mark_delivered(&self, ids: &mut Vec<String>) {
        let mut state = self.lock();
        if state.pending.is_empty() {
            return;
        }
        ids.retain(|id| {
            match state
                .pending
                .iter_mut()
                .find(|record| record.message.id == *id)
            {
                Some(record) => {
                    record.message.mark_delivered();
                    false
                }
                None => true,
            }
        });
    }

    /// Records waiting for the writer.
    pub(super) fn waiting(&self) -> usize {
        self.lock().pending.len()
    }

    /// The writer takes the waiting records at the start of a batch, and
    /// appends move to the other file when it is empty.
    pub(super) fn take_for_batch(&self) -> Taken {
        let mut state = self.lock();
        let mut taken = self.drain(&mut state);
        taken.retired = (state.spare_empty && state.ends[state.current] > 0).then(|| {
            let retired = state.current;
            state.current = 1 - retired;
            state.spare_empty = false;
            retired
        });
        taken
    }

    /// The writer takes the next log position for an entry it inserts,
    /// with every record journaled before it (they go in first).
    pub(super) fn take_position(&self) -> (Position, Taken) {
        let mut state = self.lock();
        let position = state.next_position;
        state.next_position += 1;
        (Position::new(position), self.drain(&mut state))
    }

    /// Records a write took with its position ([`take_position`]
    /// (Self::take_position)), handed on to its batch.
    pub(super) fn carry(&self, taken: Taken) {
        if taken.records.is_empty() {
            return;
        }
        let mut state = self.lock();
        match &mut state.carried {
            Some(carried) => {
                carried.records.extend(taken.records);
                carried.through = carried.through.max(taken.through);
            }
            None => state.carried = Some(taken),
        }
    }

    /// What writes of the running batch took with their positions.
    pub(super) fn take_carried(&self) -> Option<Taken> {
        self.lock().carried.take()
    }

    /// The writer takes the waiting records for a write that must see them.
    pub(super) fn take_pending(&self) -> Taken {
        self.drain(&mut self.lock())
    }

    /// Every waiting record, with the count they bring the writer to.
    fn drain(&self, state: &mut State) -> Taken {
        Taken {
            records: std::mem::take(&mut state.pending),
            through: self.journaled.load(Ordering::Acquire),
            retired: None,
        }
    }

    /// Every record through `through` is committed; `retired` (a file
    /// appends left before them) holds only committed records and is
    /// emptied.
    pub(super) fn committed(&self, through: u64, retired: Option<usize>) -> StoreResult<()> {
        self.applied.fetch_max(through, Ordering::AcqRel);
        if let Some(file) = retired {
            let mut state = self.lock();
            state
                .empty(file)
                .map_err(|error| unavailable(error, "emptying the chat journal"))?;
            state.spare_empty = true;
        }
        Ok(())
    }

    /// Whether every record journaled so far is committed (a read may go
    /// straight to SQLite).
    pub(super) fn settled(&self) -> bool {
        self.applied.load(Ordering::Acquire) >= self.journaled.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, position: u64) -> (MessageInsert, EventInsert, u64) {
        (
            MessageInsert::for_test(id),
            EventInsert::for_test(),
            position,
        )
    }

    fn journal(dir: &tempfile::TempDir) -> Journal {
        let files = open_files(&dir.path().join("db")).unwrap().unwrap();
        Journal::new(files, 10, String::new())
    }

    fn ids(records: &[Record]) -> Vec<(String, u64)> {
        records
            .iter()
            .map(|r| (r.message.id.clone(), r.position))
            .collect()
    }

    #[test]
    fn appends_take_consecutive_positions_and_are_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(&dir);
        for (i, id) in ["01", "02", "03"].into_iter().enumerate() {
            let (message, event, _) = record(id, 0);
            match journal.append(message, event).unwrap() {
                Appended::Journaled { position, wake } => {
                    assert_eq!(position, Position::new(11 + i as u64));
                    assert_eq!(wake, i == 0, "only the first waiting record wakes");
                }
                Appended::NotNewest(..) => panic!("{id} is newest"),
            }
        }
        let state = journal.lock();
        let replayed = read_records(&state.files[0]).unwrap();
        assert_eq!(
            ids(&replayed),
            [("01".into(), 11), ("02".into(), 12), ("03".into(), 13)]
        );
    }

    #[test]
    fn an_id_not_above_every_stored_one_is_left_to_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(&dir);
        journal.stored_message("05");
        let (message, event, _) = record("04", 0);
        assert!(matches!(
            journal.append(message, event).unwrap(),
            Appended::NotNewest(..)
        ));
        let (message, event, _) = record("05", 0);
        assert!(matches!(
            journal.append(message, event).unwrap(),
            Appended::NotNewest(..)
        ));
        assert!(journal.settled(), "nothing was journaled");
    }

    #[test]
    fn a_torn_last_record_ends_the_replay_and_keeps_the_ones_before() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(&dir);
        for id in ["01", "02"] {
            let (message, event, _) = record(id, 0);
            journal.append(message, event).unwrap();
        }
        let state = journal.lock();
        let whole = state.ends[0];
        // A header with nothing after it (the file grew, the write did not
        // land).
        state.files[0].write_all_at(&[0; HEADER], whole).unwrap();
        let replayed = read_records(&state.files[0]).unwrap();
        assert_eq!(ids(&replayed), [("01".into(), 11), ("02".into(), 12)]);
        // As if the process died in the middle of the second copy (the
        // file is never shorter than its map: the rest reads as zeros).
        state.files[0].write_all_at(&[0; 5], whole - 5).unwrap();
        assert_eq!(
            ids(&read_records(&state.files[0]).unwrap()),
            [("01".into(), 11)]
        );
    }

    #[test]
    fn appends_turn_to_the_other_file_and_a_committed_file_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(&dir);
        let (message, event, _) = record("01", 0);
        journal.append(message, event).unwrap();
        let taken = journal.take_for_batch();
        assert_eq!(ids(&taken.records), [("01".into(), 11)]);
        assert_eq!(taken.retired, Some(0));
        assert!(!journal.settled());
        let (message, event, _) = record("02", 0);
        journal.append(message, event).unwrap();
        // The first file's records are not committed yet: appends stay on
        // the second file.
        let second = journal.take_for_batch();
        assert_eq!(second.retired, None);
        journal.committed(taken.through, taken.retired).unwrap();
        let state = journal.lock();
        assert!(read_records(&state.files[0]).unwrap().is_empty());
        assert_eq!(
            ids(&read_records(&state.files[1]).unwrap()),
            [("02".into(), 12)]
        );
        drop(state);
        assert!(!journal.settled(), "the second record is not committed");
        journal.committed(second.through, second.retired).unwrap();
        assert!(journal.settled());
    }

    #[test]
    fn the_writer_takes_a_position_after_every_journaled_record() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(&dir);
        let (message, event, _) = record("01", 0);
        journal.append(message, event).unwrap();
        let (position, taken) = journal.take_position();
        assert_eq!(position, Position::new(12));
        assert_eq!(ids(&taken.records), [("01".into(), 11)]);
        assert_eq!(journal.waiting(), 0);
    }

    #[test]
    fn a_waiting_message_marked_delivered_is_taken_delivered_and_others_are_left_to_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal(&dir);
        for id in ["01", "02"] {
            let (message, event, _) = record(id, 0);
            journal.append(message, event).unwrap();
        }

        let mut ids = vec!["02".to_owned(), "00".to_owned()];
        journal.mark_delivered(&mut ids);

        assert_eq!(ids, ["00"], "only the message not waiting is left");
        let taken = journal.take_for_batch();
        let delivered: Vec<(&str, bool)> = taken
            .records
            .iter()
            .map(|r| (r.message.id.as_str(), r.message.is_delivered()))
            .collect();
        assert_eq!(delivered, [("01", false), ("02", true)]);
        // Once taken, the writer has them: a mark goes to SQLite.
        let mut ids = vec!["01".to_owned()];
        journal.mark_delivered(&mut ids);
        assert_eq!(ids, ["01"]);
    }

    #[test]
    fn a_second_process_does_not_get_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let _owner = open_files(&dir.path().join("db")).unwrap().unwrap();
        // A second open file description: as another process would hold.
        assert!(open_files(&dir.path().join("db")).unwrap().is_none());
    }
}
