//! The deployment-wide write pause, in the `switches` table (one row while it holds).

use async_trait::async_trait;
use fido_domain::{StoreError, Timestamp, WritePause, WriteSwitch};
use rusqlite::OptionalExtension;

use crate::SqliteStore;

const WRITES: &str = "writes";

#[async_trait]
impl WriteSwitch for SqliteStore {
    async fn write_pause(&self) -> Result<Option<WritePause>, StoreError> {
        let row: Option<(i64, String)> = self
            .readers
            .run(|conn| {
                conn.prepare_cached("SELECT since, reason FROM switches WHERE name = ?1")?
                    .query_row([WRITES], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .await?;
        row.map(|(since, reason)| {
            Ok(WritePause {
                since: Timestamp::from_millis(since)
                    .map_err(|e| StoreError::Internal(format!("switches.since: {e}")))?,
                reason,
            })
        })
        .transpose()
    }

    async fn set_write_pause(&self, pause: Option<WritePause>) -> Result<(), StoreError> {
        self.writer
            .run(move |conn| match pause {
                Some(p) => conn
                    .prepare_cached(
                        "INSERT INTO switches (name, since, reason) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (name) DO UPDATE SET since = excluded.since, reason = excluded.reason",
                    )?
                    .execute(rusqlite::params![WRITES, p.since.as_millis(), p.reason])
                    .map(drop),
                None => conn
                    .prepare_cached("DELETE FROM switches WHERE name = ?1")?
                    .execute([WRITES])
                    .map(drop),
            })
            .await
    }
}
