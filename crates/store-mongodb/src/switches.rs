//! The deployment-wide write pause: `fido_meta {_id: "writes", since, reason}` while it
//! holds.

use async_trait::async_trait;
use fido_domain::{StoreError, Timestamp, WritePause, WriteSwitch};
use mongodb::bson::{doc, DateTime};

use crate::MongoStore;

const WRITES: &str = "writes";

#[async_trait]
impl WriteSwitch for MongoStore {
    async fn write_pause(&self) -> Result<Option<WritePause>, StoreError> {
        let Some(found) = self
            .bounded(self.meta.find_one(doc! {"_id": WRITES}))
            .await?
        else {
            return Ok(None);
        };
        let since = found
            .get_datetime("since")
            .map_err(|_| StoreError::Internal("fido_meta writes.since is not a date".into()))?;
        Ok(Some(WritePause {
            since: Timestamp::from_millis(since.timestamp_millis())
                .map_err(|e| StoreError::Internal(format!("fido_meta writes.since: {e}")))?,
            reason: found.get_str("reason").unwrap_or_default().to_owned(),
        }))
    }

    async fn set_write_pause(&self, pause: Option<WritePause>) -> Result<(), StoreError> {
        match pause {
            Some(p) => {
                self.bounded(
                    self.meta
                        .replace_one(
                            doc! {"_id": WRITES},
                            doc! {"_id": WRITES, "since": DateTime::from_millis(p.since.as_millis()),
                                  "reason": p.reason},
                        )
                        .upsert(true),
                )
                .await?;
            }
            None => {
                self.bounded(self.meta.delete_one(doc! {"_id": WRITES}))
                    .await?;
            }
        }
        Ok(())
    }
}
