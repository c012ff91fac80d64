//! The one writer: a thread that owns SQLite's write connection and commits
//! the writes that arrived meanwhile in one transaction (group commit).
//!
//! Why a thread of its own, with `rusqlite` rather than sqlx: sqlx runs each
//! SQLite connection on a worker thread and hops to it and back for every
//! statement, so a chat message (insert, then a log append of three
//! statements) cost about ten thread wake-ups, which were most of the
//! server's CPU in W1 of BENCHMARKS.md (the kernel's task switch at the top
//! of the profile). Here a write is one message to this thread and one
//! answer back, however many statements it runs, and every write that
//! queued while a commit was running shares the next commit.
//!
//! Each write runs inside its own savepoint, so one that fails is undone on
//! its own and the others of its batch still commit. Its caller is answered
//! only after the batch's `COMMIT` returned: an acknowledged write is in the
//! write-ahead log, and survives the process being killed
//! (`tests/e2e/durability.rs`). With `synchronous=NORMAL` it is not synced
//! to disk per commit, so a power cut may lose the last commits, as before.
//!
//! Chat messages take a shorter way to durability: the [`Journal`]. The
//! writer copies what it journaled into SQLite when a write comes, or
//! [`APPLY_DELAY`] after the first record waits, whichever is first: at
//! 500 messages a second, one transaction for several hundred messages
//! instead of one each.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::journal::{APPLY_NOW, Journal, Record, Taken};
use super::statements::classify;
use crate::domain::Position;
use crate::store::{StoreError, StoreResult};

/// Most writes committed together. A batch this large commits in a few
/// milliseconds; a bound keeps the first writer of a flood from waiting for
/// all the others.
const BATCH: usize = 256;

/// How long a write waits for another process's write lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per SQL text (the writer runs a few dozen).
const STATEMENT_CACHE: usize = 64;

/// How long journaled chat messages may wait before the writer copies them
/// into SQLite when no other write comes first. Longer means fewer
/// transactions (less CPU per message) and more messages to copy at once;
/// no sender waits for it (the sender was answered when the message was
/// journaled). A read of messages or of the log settles the journal first,
/// so it may wait for one copy of at most [`APPLY_NOW`] records (about
/// 12 ms). A second rather than 200 ms: a batch writes each page it
/// touched once, and the pages of the two thread indexes are spread over
/// the conversations, so a longer batch writes each of them once for more
/// messages. The writer thread's CPU per message fell from 22 to 24 µs to
/// 12 to 14 µs with 50 pairs chatting at 500 messages a second
/// (BENCHMARKS.md, "Issue 12, the writer's batches"); from 50 ms to 200 ms
/// it had fallen by about a quarter.
pub(super) const APPLY_DELAY: Duration = Duration::from_secs(1);

/// One write, run on the writer thread inside the batch's transaction; it
/// returns what answers its caller once the batch's commit is known.
type Job = Box<dyn FnOnce(&Connection) -> Answer + Send>;

/// Answers one caller with its write's outcome, or with the commit's error.
type Answer = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// What the writer thread is asked to do.
enum Command {
    /// Run a write in the next batch.
    Write(Job),
    /// Run a write in the batch that copies the journal next, within
    /// [`APPLY_DELAY`]: it starts no transaction of its own.
    WhenDue(Job),
    /// Journaled records wait: copy them within [`APPLY_DELAY`] (at once
    /// when [`APPLY_NOW`] wait).
    Apply,
}

/// The handle to the writer thread. Cheap to clone; the thread ends when
/// the last handle is dropped.
#[derive(Clone)]
pub(super) struct Writer(Arc<Shared>);

/// The writers running in this process, by database file. A store opened
/// again on a file whose writer still runs (an in-process restart, a test's
/// second app on one store) shares it: one process has one writer and one
/// chat journal per file, whose positions it hands out alone.
static RUNNING: Mutex<Vec<(PathBuf, Weak<Shared>)>> = Mutex::new(Vec::new());

fn running() -> MutexGuard<'static, Vec<(PathBuf, Weak<Shared>)>> {
    RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Shared {
    jobs: mpsc::Sender<Command>,
    /// The chat journal (`None` in a process that does not own the store).
    journal: Option<Arc<Journal>>,
    /// Transactions committed so far (each holds one batch); read by the
    /// tests, and in production by nothing but a debugger.
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
    /// Writes queued with [`Writer::write_when_due`] and not yet answered:
    /// a read settles them too.
    deferred: Arc<AtomicUsize>,
}

/// One write queued to wait for its batch, counted in [`Shared::deferred`]
/// until it is answered (or dropped unanswered, the thread gone).
struct Deferred(Arc<AtomicUsize>);

impl Deferred {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Deferred(count.clone())
    }
}

impl Drop for Deferred {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Writer {
    /// The writer this process already runs on the database at `path`.
    pub(super) fn running(path: &Path) -> Option<Writer> {
        let path = std::fs::canonicalize(path).ok()?;
        running()
            .iter()
            .find(|(running, _)| *running == path)
            .and_then(|(_, shared)| shared.upgrade())
            .map(Writer)
    }

    /// Opens the write connection on `path` (already created and migrated)
    /// and starts its thread, which copies what `journal` takes into SQLite.
    pub(super) fn start(
        path: &Path,
        mmap_bytes: u64,
        journal: Option<Arc<Journal>>,
    ) -> StoreResult<Self> {
        let connection = open(path, mmap_bytes).map_err(|error| {
            StoreError::Unavailable(
                anyhow::Error::new(error)
                    .context(format!("opening the SQLite writer on {}", path.display())),
            )
        })?;
        let (jobs, queue) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        let copied = journal.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || {
                Batches {
                    connection: &connection,
                    journal: copied.as_deref(),
                    commits: &counted,
                    retry: Vec::new(),
                    retired: None,
                }
                .serve(&queue);
            })
            .map_err(|error| StoreError::Unavailable(error.into()))?;
        let writer = Writer(Arc::new(Shared {
            jobs,
            journal,
            commits,
            deferred: Arc::default(),
        }));
        if let Ok(path) = std::fs::canonicalize(path) {
            let mut running = running();
            running.retain(|(_, shared)| shared.strong_count() > 0);
            running.push((path, Arc::downgrade(&writer.0)));
        }
        Ok(writer)
    }

    /// The chat journal (`None` in a process that does not own the store),
    /// also for a write to take its log positions from.
    pub(super) fn journal(&self) -> Option<Arc<Journal>> {
        self.0.journal.clone()
    }

    /// Asks the thread to copy the journaled records soon.
    pub(super) fn wake(&self) {
        // A stopped thread is noticed by the next write.
        let _ = self.0.jobs.send(Command::Apply);
    }

    /// Waits until every record journaled so far, and every write queued
    /// with [`write_when_due`](Self::write_when_due), is in SQLite: what a
    /// read of messages or of the log does first (a delivery mark must be
    /// seen by the next replay of undelivered messages). Free when none
    /// waits.
    pub(super) async fn settle(&self) -> StoreResult<()> {
        let journaled = self.0.journal.as_ref().is_some_and(|j| !j.settled());
        if journaled || self.0.deferred.load(Ordering::SeqCst) > 0 {
            self.write(|_| Ok(())).await
        } else {
            Ok(())
        }
    }

    /// Transactions committed so far: fewer than writes when they share.
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.0.commits.load(Ordering::Relaxed)
    }

    /// Runs `write` on the writer thread, inside a transaction shared with
    /// the writes queued beside it, and answers once that transaction has
    /// committed (or with its error when it could not).
    pub(super) async fn write<T, W>(&self, write: W) -> StoreResult<T>
    where
        T: Send + 'static,
        W: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        self.queue(write, None).await
    }

    /// Runs `write` like [`write`](Self::write), but in the next batch that
    /// is due anyway (journaled records to copy, another write), at the
    /// latest after [`APPLY_DELAY`]: for a write nobody is waiting to read
    /// back at once. Why: each delivery mark that missed its message in the
    /// journal (the message was taken for copying meanwhile) started a
    /// transaction of its own, and with it a commit that wrote the pages of
    /// the batch's indexes again (about 8 extra commits a second beside 5
    /// batches at 500 messages a second, W1 of BENCHMARKS.md).
    pub(super) async fn write_when_due<T, W>(&self, write: W) -> StoreResult<T>
    where
        T: Send + 'static,
        W: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let deferred = Deferred::new(&self.0.deferred);
        self.queue(write, Some(deferred)).await
    }

    /// Queues `write`: for the batch due anyway when it is `deferred`, else
    /// for the next one.
    async fn queue<T, W>(&self, write: W, deferred: Option<Deferred>) -> StoreResult<T>
    where
        T: Send + 'static,
        W: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let command = if deferred.is_some() {
            Command::WhenDue
        } else {
            Command::Write
        };
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |connection| {
            let outcome = in_savepoint(connection, write);
            Box::new(move |commit: Result<(), &str>| {
                let outcome = match commit {
                    Ok(()) => outcome,
                    Err(why) => Err(StoreError::Unavailable(anyhow::anyhow!(
                        "the SQLite commit failed: {why}"
                    ))),
                };
                // The caller may have gone (a dropped request); the write
                // stands either way.
                let _ = reply.send(outcome);
                drop(deferred);
            })
        });
        self.0.jobs.send(command(job)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable(anyhow::anyhow!("the SQLite writer has stopped"))
}

fn open(path: &Path, mmap_bytes: u64) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The file is already in WAL mode (set when it was migrated). The
    // writer never checkpoints: a checkpoint inside a commit would hold up
    // every write queued behind it (see `spawn_checkpoints`). Statement
    // journals (a multi-row UPDATE such as the delivery marks needs one)
    // stay in memory instead of a file created and deleted every time.
    connection.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
         PRAGMA wal_autocheckpoint = 0; PRAGMA mmap_size = {mmap_bytes}; \
         PRAGMA temp_store = MEMORY;"
    ))?;
    Ok(connection)
}

/// On the writer thread, for a log entry inserted now: the next position,
/// after every journaled record (copied first, in this transaction, so that
/// positions become visible in order).
pub(super) fn entry_position(journal: &Journal, connection: &Connection) -> StoreResult<Position> {
    let (position, taken) = journal.take_position();
    copy_taken(journal, connection, taken)?;
    Ok(position)
}

/// On the writer thread, before a write that must see every journaled
/// message (one that may have the same id): copies them in first.
pub(super) fn copy_journaled(journal: &Journal, connection: &Connection) -> StoreResult<()> {
    copy_taken(journal, connection, journal.take_pending())
}

fn copy_taken(journal: &Journal, connection: &Connection, taken: Taken) -> StoreResult<()> {
    let copied = taken
        .records
        .iter()
        .try_for_each(|record| record.apply(connection));
    // Carried to the batch whatever happened here: if this write is undone,
    // the batch copies them again after it.
    journal.carry(taken);
    copied
}

/// The writer thread's state between batches.
struct Batches<'a> {
    connection: &'a Connection,
    journal: Option<&'a Journal>,
    commits: &'a AtomicU64,
    /// Journaled records whose commit failed: copied again first.
    retry: Vec<Record>,
    /// A journal file to empty once nothing is left to retry.
    retired: Option<usize>,
}

impl Batches<'_> {
    /// The thread's loop: wait for a write (or for journaled records to be
    /// due), take every write queued behind it (up to [`BATCH`]), run them
    /// with the journaled records in one transaction, commit, answer them.
    fn serve(&mut self, queue: &mpsc::Receiver<Command>) {
        let mut jobs: Vec<Job> = Vec::with_capacity(BATCH);
        let mut due: Option<Instant> = None;
        loop {
            let next = match due {
                None => queue
                    .recv()
                    .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
                Some(at) => queue.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            match next {
                Ok(Command::Write(job)) => jobs.push(job),
                Ok(Command::WhenDue(job)) => {
                    jobs.push(job);
                    if jobs.len() < BATCH {
                        due.get_or_insert_with(|| Instant::now() + APPLY_DELAY);
                        continue;
                    }
                }
                Ok(Command::Apply) => {
                    let waiting = self.journal.map_or(0, Journal::waiting);
                    if waiting < APPLY_NOW {
                        due.get_or_insert_with(|| Instant::now() + APPLY_DELAY);
                        continue;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // The store is gone: copy what is left, then stop.
                    self.commit_batch(&mut jobs);
                    return;
                }
            }
            while jobs.len() < BATCH {
                match queue.try_recv() {
                    Ok(Command::Write(job) | Command::WhenDue(job)) => jobs.push(job),
                    Ok(Command::Apply) => {}
                    Err(_) => break,
                }
            }
            crate::metrics::sqlite_commit(jobs.len());
            self.commit_batch(&mut jobs);
            // Records that could not be committed are tried again later.
            due = (!self.retry.is_empty()).then(|| Instant::now() + APPLY_DELAY);
        }
    }

    /// Runs one batch in one transaction: the journaled records first, then
    /// each write in its savepoint. Counted in `commits` when it commits
    /// (before its callers hear of it).
    fn commit_batch(&mut self, jobs: &mut Vec<Job>) {
        let connection = self.connection;
        let taken = self.journal.map(Journal::take_for_batch);
        let mut records = std::mem::take(&mut self.retry);
        let mut through = 0;
        if let Some(taken) = taken {
            records.extend(taken.records);
            through = taken.through;
            if taken.retired.is_some() {
                self.retired = taken.retired;
            }
        }
        if jobs.is_empty() && records.is_empty() {
            return;
        }
        let mut answers: Vec<Answer> = Vec::with_capacity(jobs.len());
        let mut begun = begin_with(connection, &records);
        for job in jobs.drain(..) {
            if let Err(why) = &begun {
                // No transaction to run in: refused like a failed commit.
                job(connection)(Err(why));
                continue;
            }
            answers.push(job(connection));
            if let Some(carried) = self.journal.and_then(Journal::take_carried) {
                // Taken by the write for its log entry; copied again in case
                // its savepoint undid them (already there: ignored).
                copy(connection, &carried.records);
                through = through.max(carried.through);
                records.extend(carried.records);
            }
            if connection.is_autocommit() {
                // SQLite rolled the whole transaction back on an error (a full
                // disk, an I/O error): the writes before this one are gone
                // too. Tell their callers, and go on in a new transaction.
                fail_all(&mut answers, "the transaction was rolled back");
                begun = begin_with(connection, &records);
            }
        }
        let committed = begun.is_ok() && {
            match control(connection, "COMMIT") {
                Ok(()) => true,
                Err(error) => {
                    let why = error.to_string();
                    if !connection.is_autocommit() {
                        let _ = control(connection, "ROLLBACK");
                    }
                    fail_all(&mut answers, &why);
                    false
                }
            }
        };
        if !committed {
            tracing::error!(
                records = records.len(),
                "journaled chat messages could not be copied into SQLite; trying again"
            );
            self.retry = records;
            return;
        }
        self.commits.fetch_add(1, Ordering::Relaxed);
        if let Some(journal) = self.journal
            && let Err(error) = journal.committed(through, self.retired.take())
        {
            tracing::warn!(%error, "the chat journal could not be emptied");
        }
        answers.into_iter().for_each(|answer| answer(Ok(())));
    }
}

/// Begins the batch's transaction with the journaled `records` in it.
fn begin_with(connection: &Connection, records: &[Record]) -> Result<(), String> {
    begin(connection)?;
    copy(connection, records);
    if connection.is_autocommit() {
        return Err("the transaction was rolled back while copying the chat journal".into());
    }
    Ok(())
}

/// Copies journaled records into the open transaction. A record that
/// cannot be copied is a bug (its message id was checked, its position is
/// free); it is logged and stays in the journal file until it is emptied.
fn copy(connection: &Connection, records: &[Record]) {
    for record in records {
        if let Err(error) = record.apply(connection) {
            tracing::error!(%error, "a journaled chat message could not be copied into SQLite");
        }
    }
}

/// `BEGIN IMMEDIATE`: the batch takes the file's write lock up front, so a
/// writer in another process makes it wait (busy timeout) rather than fail
/// halfway through.
fn begin(connection: &Connection) -> Result<(), String> {
    control(connection, "BEGIN IMMEDIATE").map_err(|error| error.to_string())
}

/// Runs one transaction-control statement, prepared once: these run for
/// every write, and parsing them again each time showed in profiles.
fn control(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(drop)
}

fn fail_all(answers: &mut Vec<Answer>, why: &str) {
    for answer in answers.drain(..) {
        answer(Err(why));
    }
}

/// Runs one write in a savepoint: undone on its own when it fails.
fn in_savepoint<T>(
    connection: &Connection,
    write: impl FnOnce(&Connection) -> StoreResult<T>,
) -> StoreResult<T> {
    control(connection, "SAVEPOINT write").map_err(classify)?;
    let outcome = write(connection);
    if !connection.is_autocommit() {
        if outcome.is_err() {
            control(connection, "ROLLBACK TO write").map_err(classify)?;
        }
        control(connection, "RELEASE write").map_err(classify)?;
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (Writer, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let setup = Connection::open(dir.path().join("w.sqlite3")).unwrap();
        setup
            .execute_batch(
                "PRAGMA journal_mode = WAL; \
                 CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE);",
            )
            .unwrap();
        drop(setup);
        (
            Writer::start(&dir.path().join("w.sqlite3"), 0, None).unwrap(),
            dir,
        )
    }

    fn insert(connection: &Connection, value: &str) -> StoreResult<()> {
        connection
            .prepare_cached("INSERT INTO t (v) VALUES (?)")
            .and_then(|mut statement| statement.execute([value]))
            .map_err(classify)?;
        Ok(())
    }

    fn rows(dir: &tempfile::TempDir) -> i64 {
        Connection::open(dir.path().join("w.sqlite3"))
            .unwrap()
            .query_row("SELECT COUNT(*) FROM t", [], |row| row.get(0))
            .unwrap()
    }

    #[tokio::test]
    async fn a_write_is_committed_before_its_caller_hears_of_it() {
        let (writer, dir) = writer();
        writer.write(|c| insert(c, "a")).await.unwrap();
        assert_eq!(rows(&dir), 1, "read from another connection");
    }

    #[tokio::test]
    async fn a_failed_write_is_undone_alone_and_its_batch_commits() {
        let (writer, dir) = writer();
        writer.write(|c| insert(c, "taken")).await.unwrap();
        // Many at once, so that the failing ones share batches with others.
        let writes: Vec<_> = (0..200)
            .map(|i| {
                let writer = writer.clone();
                tokio::spawn(async move {
                    writer
                        .write(move |c| {
                            insert(c, &format!("v{i}"))?;
                            if i % 10 == 0 {
                                // Its first insert succeeded; this one breaks
                                // the unique rule, and both must be undone.
                                insert(c, "taken")?;
                            }
                            Ok(())
                        })
                        .await
                })
            })
            .collect();
        let mut duplicates = 0;
        for (i, write) in writes.into_iter().enumerate() {
            match write.await.unwrap() {
                Ok(()) => assert_ne!(i % 10, 0),
                Err(StoreError::Duplicate) => duplicates += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert_eq!(duplicates, 20);
        assert_eq!(rows(&dir), 1 + 180);
    }

    #[tokio::test]
    async fn writes_queued_during_a_commit_share_the_next_one() {
        let (writer, dir) = writer();
        // Keep the thread busy, so that the next writes queue behind it.
        let (started, running) = mpsc::channel::<()>();
        let (release, hold) = mpsc::channel::<()>();
        let busy = {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .write(move |_| {
                        started.send(()).unwrap();
                        hold.recv().unwrap();
                        Ok(())
                    })
                    .await
            })
        };
        tokio::task::spawn_blocking(move || running.recv().unwrap())
            .await
            .unwrap();
        // The first poll of a write queues it.
        let mut queued: Vec<_> = (0..5)
            .map(|i| Box::pin(writer.write(move |c| insert(c, &format!("q{i}")))))
            .collect();
        for write in &mut queued {
            assert!(futures::poll!(write).is_pending());
        }
        assert_eq!(writer.commits(), 0);
        release.send(()).unwrap();
        busy.await.unwrap().unwrap();
        for write in queued {
            write.await.unwrap();
        }
        assert_eq!(rows(&dir), 5);
        assert_eq!(writer.commits(), 2, "the five queued writes in one commit");
    }

    #[tokio::test]
    async fn a_write_when_due_waits_for_the_next_batch_and_starts_none_of_its_own() {
        let (writer, dir) = writer();
        let started = Instant::now();
        let mut deferred = Box::pin(writer.write_when_due(|c| insert(c, "later")));
        assert!(futures::poll!(&mut deferred).is_pending());
        // A write that wants its commit now takes the deferred one along.
        writer.write(|c| insert(c, "now")).await.unwrap();
        deferred.await.unwrap();
        assert_eq!(rows(&dir), 2);
        assert_eq!(writer.commits(), 1, "both writes in one commit");
        assert!(
            started.elapsed() < APPLY_DELAY,
            "it did not wait for its delay"
        );

        // Alone, it is committed once its delay is over.
        writer.write_when_due(|c| insert(c, "alone")).await.unwrap();
        assert!(started.elapsed() >= APPLY_DELAY);
        assert_eq!((rows(&dir), writer.commits()), (3, 2));

        // A read settles it at once.
        let waiting = Instant::now();
        let mut deferred = Box::pin(writer.write_when_due(|c| insert(c, "read")));
        assert!(futures::poll!(&mut deferred).is_pending());
        writer.settle().await.unwrap();
        assert_eq!(rows(&dir), 4);
        assert!(waiting.elapsed() < APPLY_DELAY);
        deferred.await.unwrap();
        assert_eq!(writer.0.deferred.load(Ordering::SeqCst), 0);
    }
}
