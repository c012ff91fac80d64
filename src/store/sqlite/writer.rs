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

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags};
use tokio::sync::oneshot;

use crate::store::{StoreError, StoreResult};

/// Most writes committed together. A batch this large commits in a few
/// milliseconds; a bound keeps the first writer of a flood from waiting for
/// all the others.
const BATCH: usize = 256;

/// How long a write waits for another process's write lock on the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per SQL text (the writer runs a few dozen).
const STATEMENT_CACHE: usize = 64;

/// One write, run on the writer thread inside the batch's transaction; it
/// returns what answers its caller once the batch's commit is known.
type Job = Box<dyn FnOnce(&Connection) -> Answer + Send>;

/// Answers one caller with its write's outcome, or with the commit's error.
type Answer = Box<dyn FnOnce(Result<(), &str>) + Send>;

/// The handle to the writer thread. Cheap to clone; the thread ends when
/// the last handle is dropped.
#[derive(Clone)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Transactions committed so far (each holds one batch); read by the
    /// tests, and in production by nothing but a debugger.
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Opens the write connection on `path` (already created and migrated)
    /// and starts its thread.
    pub(super) fn start(path: &Path, mmap_bytes: u64) -> StoreResult<Self> {
        let connection = open(path, mmap_bytes).map_err(|error| {
            StoreError::Unavailable(
                anyhow::Error::new(error)
                    .context(format!("opening the SQLite writer on {}", path.display())),
            )
        })?;
        let (jobs, queue) = mpsc::channel();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || serve(&connection, &queue, &counted))
            .map_err(|error| StoreError::Unavailable(error.into()))?;
        Ok(Writer { jobs, commits })
    }

    /// Transactions committed so far: fewer than writes when they share.
    #[cfg(test)]
    pub(super) fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `write` on the writer thread, inside a transaction shared with
    /// the writes queued beside it, and answers once that transaction has
    /// committed (or with its error when it could not).
    pub(super) async fn write<T, W>(&self, write: W) -> StoreResult<T>
    where
        T: Send + 'static,
        W: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
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
            })
        });
        self.jobs.send(job).map_err(|_| stopped())?;
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

/// The thread's loop: wait for a write, take every write queued behind it
/// (up to [`BATCH`]), run them in one transaction, commit, answer them.
fn serve(connection: &Connection, queue: &mpsc::Receiver<Job>, commits: &AtomicU64) {
    let mut batch: Vec<Job> = Vec::with_capacity(BATCH);
    while let Ok(first) = queue.recv() {
        batch.push(first);
        while batch.len() < BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        crate::metrics::sqlite_commit(batch.len());
        commit_batch(connection, batch.drain(..), commits);
    }
}

/// Runs one batch in one transaction, counted in `commits` when it commits
/// (before its callers hear of it).
fn commit_batch(connection: &Connection, jobs: impl Iterator<Item = Job>, commits: &AtomicU64) {
    let mut answers: Vec<Answer> = Vec::with_capacity(BATCH);
    let mut begun = begin(connection);
    for job in jobs {
        if let Err(why) = &begun {
            // No transaction to run in: refused like a failed commit.
            job(connection)(Err(why));
            continue;
        }
        answers.push(job(connection));
        if connection.is_autocommit() {
            // SQLite rolled the whole transaction back on an error (a full
            // disk, an I/O error): the writes before this one are gone
            // too. Tell their callers, and go on in a new transaction.
            fail_all(&mut answers, "the transaction was rolled back");
            begun = begin(connection);
        }
    }
    if begun.is_err() {
        return;
    }
    match control(connection, "COMMIT") {
        Ok(()) => {
            commits.fetch_add(1, Ordering::Relaxed);
            answers.into_iter().for_each(|answer| answer(Ok(())));
        }
        Err(error) => {
            let why = error.to_string();
            if !connection.is_autocommit() {
                let _ = control(connection, "ROLLBACK");
            }
            fail_all(&mut answers, &why);
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

/// Runs one statement (prepared once per SQL text) and returns the number
/// of rows it changed.
pub(super) fn execute(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> StoreResult<usize> {
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.execute(params))
        .map_err(classify)
}

/// Runs one statement that returns at most one row (`RETURNING`), read by
/// `read`.
pub(super) fn optional_row<T>(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Option<T>> {
    use rusqlite::OptionalExtension as _;
    connection
        .prepare_cached(sql)
        .and_then(|mut statement| statement.query_row(params, read).optional())
        .map_err(classify)
}

/// Driver errors, classified as the sqlx side classifies them: unique
/// violations are duplicates; busy, locked, I/O, full and cannot-open mean
/// the store is unavailable; the rest is a bug.
pub(super) fn classify(error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::ConstraintViolation
                if matches!(
                    failure.extended_code,
                    rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                ) =>
            {
                StoreError::Duplicate
            }
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::CannotOpen => StoreError::Unavailable(error.into()),
            _ => StoreError::Internal(error.into()),
        },
        _ => StoreError::Internal(error.into()),
    }
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
            Writer::start(&dir.path().join("w.sqlite3"), 0).unwrap(),
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
}
