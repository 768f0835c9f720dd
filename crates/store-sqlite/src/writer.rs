//! Group commit: the one writer connection on a thread of its own, committing every write
//! that queued up meanwhile in a single transaction.
//!
//! With `synchronous = FULL` each commit waits for the disk (an fsync). Committing writes
//! one by one makes the disk's latency the ceiling of the write rate; here a batch of
//! concurrent writes shares one fsync. Durability is unchanged: a caller's write returns
//! only after the commit that contains it. Each write runs inside its own SAVEPOINT, so a
//! failing write (a duplicate id, a stale version) is undone alone and its neighbours
//! still commit.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc;

use fido_domain::StoreError;
use rusqlite::Connection;
use std::sync::Arc;

use tokio::sync::{oneshot, Notify};

use crate::errors::map_error;

/// Writes queued while a batch commits join the next one; at most this many per batch.
const MAX_BATCH: usize = 256;

type Output = Box<dyn Any + Send>;
type Job = Box<dyn FnOnce(&Connection) -> rusqlite::Result<Output> + Send>;

struct Request {
    job: Job,
    reply: oneshot::Sender<Result<Output, StoreError>>,
}

/// A handle to the writer thread. Dropping the last handle ends the thread.
pub(crate) struct Writer {
    queue: mpsc::Sender<Request>,
    commits: Arc<Notify>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Writer { .. }")
    }
}

impl Writer {
    /// Moves `conn` to a new writer thread.
    pub(crate) fn start(conn: Connection) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Request>();
        let commits = Arc::new(Notify::new());
        let signal = commits.clone();
        std::thread::Builder::new()
            .name("fido-sqlite-writer".into())
            .spawn(move || run(&conn, &jobs, &signal))?;
        Ok(Self { queue, commits })
    }

    /// Signalled after every commit (a waiter that missed one still finds the permit).
    pub(crate) fn commits(&self) -> Arc<Notify> {
        self.commits.clone()
    }

    /// Runs `work` in the next batch and returns its result once that batch has committed.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |conn| work(conn).map(|t| Box::new(t) as Output));
        self.queue
            .send(Request { job, reply })
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        let output = answer
            .await
            .map_err(|_| StoreError::Internal("the store's writer dropped a write".into()))??;
        output
            .downcast::<T>()
            .map(|t| *t)
            .map_err(|_| StoreError::Internal("a write returned an unexpected type".into()))
    }
}

fn run(conn: &Connection, jobs: &mpsc::Receiver<Request>, commits: &Notify) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        if commit(conn, batch) {
            commits.notify_one();
        }
    }
}

/// One transaction for the whole batch, one savepoint per write; `true` when committed.
fn commit(conn: &Connection, batch: Vec<Request>) -> bool {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let e = map_error(e);
        for request in batch {
            let _ = request.reply.send(Err(e.clone()));
        }
        return false;
    }
    let mut done = Vec::with_capacity(batch.len());
    for request in batch {
        let outcome = match conn.execute_batch("SAVEPOINT write") {
            Err(e) => Err(map_error(e)),
            // A panicking write must not take the writer thread (and every later write)
            // down with it: it is undone like a failed one.
            Ok(()) => match std::panic::catch_unwind(AssertUnwindSafe(|| (request.job)(conn))) {
                Ok(Ok(output)) => conn
                    .execute_batch("RELEASE write")
                    .map(|()| output)
                    .map_err(map_error),
                Ok(Err(e)) => {
                    // Undo this write alone; the rest of the batch goes on.
                    let _ = conn.execute_batch("ROLLBACK TO write; RELEASE write");
                    Err(map_error(e))
                }
                Err(_) => {
                    let _ = conn.execute_batch("ROLLBACK TO write; RELEASE write");
                    Err(StoreError::Internal(
                        "a write panicked; it was undone".into(),
                    ))
                }
            },
        };
        done.push((request.reply, outcome));
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            for (reply, outcome) in done {
                let _ = reply.send(outcome);
            }
            true
        }
        Err(e) => {
            // Nothing of the batch is stored: every write in it fails.
            let _ = conn.execute_batch("ROLLBACK");
            let e = map_error(e);
            for (reply, _) in done {
                let _ = reply.send(Err(e.clone()));
            }
            false
        }
    }
}
