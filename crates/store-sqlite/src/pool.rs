//! A tiny connection pool: N connections, an async semaphore with N permits, and the
//! blocking work on tokio's blocking pool. Waiting for a connection never blocks a runtime
//! thread, and a blocking thread is only taken once a connection is guaranteed free.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use fido_domain::StoreError;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::errors::map_error;

pub(crate) struct Pool {
    idle: Arc<Mutex<Vec<Connection>>>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

/// Puts the connection back even if the work panicked.
struct Lease {
    conn: Option<Connection>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock(&self.idle).push(conn);
        }
    }
}

fn lock(m: &Mutex<Vec<Connection>>) -> MutexGuard<'_, Vec<Connection>> {
    // The vector is consistent at every point, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Pool {
    pub(crate) fn new(conns: Vec<Connection>) -> Self {
        let permits = Arc::new(Semaphore::new(conns.len()));
        Self {
            idle: Arc::new(Mutex::new(conns)),
            permits,
        }
    }

    /// Runs `work` on a pooled connection, off the async runtime.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let idle = Arc::clone(&self.idle);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = lock(&idle).pop();
            let mut lease = Lease { conn, idle };
            let conn = lease.conn.as_mut().ok_or_else(|| {
                StoreError::Internal("no idle connection despite a permit".into())
            })?;
            work(conn).map_err(map_error)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("store task failed: {e}")))?
    }
}
