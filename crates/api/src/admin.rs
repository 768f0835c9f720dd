//! Operator tasks run by the `fido` binary next to a serving instance.

use fido_domain::{ReencryptProgress, TransactionId};

use crate::settings::Settings;
use crate::wiring::build_service;

/// Re-encrypts every stored name with the first key of `FERNET_KEY`, in batches, on the
/// store `DB_URI` selects. Safe while the API serves traffic; resumable with `after`.
pub async fn reencrypt(
    settings: &Settings,
    batch_size: u32,
    after: Option<TransactionId>,
    progress: impl FnMut(&ReencryptProgress) + Send,
) -> Result<ReencryptProgress, String> {
    let service = build_service(settings).await.map_err(|e| e.to_string())?;
    service
        .reencrypt_names(batch_size, after, progress)
        .await
        .map_err(|e| e.to_string())
}
