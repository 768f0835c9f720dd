//! The contract every store adapter (a [`Store`]: every storage port, from the
//! [`fido_domain::TransactionStore`] to the [`fido_domain::WriteSwitch`]) must keep: one
//! module per port family, the shared helpers and the macro that runs every check here.

use std::time::Duration;

use fido_domain::{
    Amount, ChangedField, Claim, ClaimRequest, CursorSave, DateRange, EncryptedName, EventKind,
    FailedDelivery, IdempotencyKey, ListFilter, ListQuery, PageRequest, Position, PublisherCursor,
    RecordPatch, SealedKey, StoreError, Timestamp, TransactionId, TransactionRecord,
    TransactionType, UtcDay, Window, Written,
};

use crate::fixtures::{actor, amount, at, fresh_user, record, settle, IdSeq, Lcg};

use TransactionType::{Credit, Debit};

mod events;
mod history;
mod idempotency;
mod statistics;
mod switch;
mod transactions;
mod transfer;

pub use self::events::*;
pub use self::history::*;
pub use self::idempotency::*;
pub use self::statistics::*;
pub use self::switch::*;
pub use self::transactions::*;
pub use self::transfer::*;

/// What a store adapter is: every storage port (the domain's [`fido_domain::Store`]).
pub use fido_domain::Store;

async fn insert_all(store: &dyn Store, records: &[TransactionRecord]) {
    for r in records {
        store.insert(r.clone(), actor()).await.expect("insert");
    }
}

fn page(p: u64, l: u64) -> ListQuery {
    ListQuery::page(PageRequest::new(p, l).expect("valid page"))
}

fn done(w: Written) -> TransactionRecord {
    match w {
        Written::Done(r) => r,
        other => panic!("expected the write to be done, got {other:?}"),
    }
}

fn claim_request(
    scope: &str,
    key: &str,
    fingerprint: &str,
    candidate: TransactionId,
    now: Timestamp,
) -> ClaimRequest {
    ClaimRequest {
        scope: scope.to_owned(),
        key: IdempotencyKey::parse(key).expect("valid key"),
        fingerprint: fingerprint.to_owned(),
        candidate_id: candidate,
        now,
        lease_until: now.plus_millis(30_000),
        expires_at: now.plus_millis(86_400_000),
        take_over: None,
    }
}

/// The feed's last sequence once what waits has been numbered (where a sequencer numbers).
async fn feed_end(store: &dyn Store) -> u64 {
    store.sequence(1000).await.expect("sequence");
    store.events_after(0, 1).await.expect("feed").last_sequence
}

/// Expands to one `#[tokio::test]` per store contract check. `$make` is an expression
/// evaluating to a future of `Option<fixture>`: the fixture derefs to an adapter implementing
/// every storage port ([`fido_domain::Store`]; a `Box`, or a guard that also owns temporary
/// resources); `None` skips the
/// test (see [`crate::service_url`]).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@tests $make;
            insert_then_get_round_trips_every_field,
            get_unknown_is_none,
            duplicate_insert_is_rejected,
            update_changes_only_what_it_sets,
            update_and_delete_of_unknown_are_none,
            delete_returns_the_record_and_removes_it,
            list_orders_and_pages,
            list_of_an_unknown_user_is_empty,
            filters_match_a_brute_force_over_the_rows,
            cursor_walks_see_each_surviving_item_exactly_once,
            totals_are_exact,
            totals_respect_inclusive_ranges,
            busiest_day_ties_to_the_earliest,
            totals_of_an_empty_range_are_zero,
            totals_follow_updates_and_deletes,
            names_come_in_id_order_in_resumable_batches,
            conditional_writes_check_the_version,
            concurrent_updates_lose_nothing,
            idempotency_keys_are_claimed_once_then_replayed,
            idempotency_leases_expiry_and_release,
            concurrent_claims_have_one_winner,
            sealed_parts_are_listed_in_order_and_replaced_by_compare_and_set,
            totals_match_a_brute_force_over_random_writes,
            balances_at_random_instants_match_a_brute_force,
            replacing_a_name_is_compare_and_set,
            events_follow_every_change_in_order,
            failed_writes_write_no_event,
            cursors_move_only_under_the_lease_by_compare_and_set,
            retention_keeps_what_a_publisher_still_needs,
            transfer_lists_in_order_and_puts_back_as_given,
            transfer_moves_keys_events_and_cursors,
            imports_are_changes_with_their_events_and_rollups,
            events_wait_unsequenced_until_numbered,
            concurrent_writers_feed_in_order,
            ping_succeeds,
            the_write_pause_reads_back_as_set,
            transfer_removes_records_as_given,
            every_change_writes_its_history_version,
            failed_writes_write_no_history,
            history_transfers_in_order_and_puts_back_as_given,
            imports_write_history_unless_it_was_carried,
            pruning_history_removes_only_what_is_older,
        );
    };
    (@tests $make:expr; $($check:ident,)*) => {
        $(
            #[tokio::test]
            async fn $check() {
                let Some(store) = $make.await else { return };
                $crate::store::$check(&*store).await;
            }
        )*
    };
}
