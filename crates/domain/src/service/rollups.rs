//! Checking the daily roll-ups against the rows, and repairing them (`fido rollups verify`).

use super::{store_error, TransactionService};
use crate::error::DomainError;
use crate::id::UserId;
use crate::ports::{DailyRollups, RollupDrift, StoreError};

/// What a check of the roll-ups found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollupReport {
    /// Users checked.
    pub users: u64,
    /// Every (user, day) that differed (and, with repair, was fixed).
    pub drift: Vec<RollupDrift>,
    /// Whether the differences were repaired.
    pub repaired: bool,
    /// The last user checked: pass it as `after` to resume.
    pub last_user: Option<UserId>,
    /// `false` when the store keeps no roll-ups (nothing to check).
    pub kept: bool,
}

impl TransactionService {
    /// Compares every user's (or one user's) daily roll-ups with the rows, in batches of
    /// `batch_size` users after `after`, online; with `repair`, fixes each user's roll-ups
    /// atomically. Calls `progress` after each user. Errors: `StoreUnavailable`, `Internal`.
    pub async fn verify_rollups(
        &self,
        only: Option<UserId>,
        repair: bool,
        batch_size: u32,
        after: Option<UserId>,
        progress: impl FnMut(&RollupReport) + Send,
    ) -> Result<RollupReport, DomainError> {
        verify_rollups(
            &*self.ports.rollups,
            only,
            repair,
            batch_size,
            after,
            progress,
        )
        .await
        .map_err(store_error)
    }
}

/// [`TransactionService::verify_rollups`] over a store's roll-ups alone, for tools that
/// have a store but no service (`fido migrate`, `fido copy`, `fido import` rebuild the
/// roll-ups of the store they wrote).
pub async fn verify_rollups(
    rollups: &dyn DailyRollups,
    only: Option<UserId>,
    repair: bool,
    batch_size: u32,
    after: Option<UserId>,
    mut progress: impl FnMut(&RollupReport) + Send,
) -> Result<RollupReport, StoreError> {
    let mut report = RollupReport {
        repaired: repair,
        last_user: after,
        kept: rollups.kept(),
        ..RollupReport::default()
    };
    if !report.kept {
        return Ok(report);
    }
    loop {
        let users = match only {
            Some(user) if report.users == 0 => vec![user],
            Some(_) => Vec::new(),
            None => {
                rollups
                    .users_after(report.last_user, batch_size.max(1))
                    .await?
            }
        };
        if users.is_empty() {
            break;
        }
        for user in users {
            report.drift.extend(rollups.check_user(user, repair).await?);
            report.users += 1;
            report.last_user = Some(user);
            progress(&report);
        }
    }
    Ok(report)
}
