//! Reads and deletes of many documents by a list of values, inside a transaction's
//! session: `$in` lists of at most [`IN_SLICE`] values each.
//!
//! A server answers `{field: {$in: [...]}}` from the index, then checks every candidate
//! against the list. MongoDB does that check with a set; the pinned MongoDB-wire test
//! server walks the list, so a batch of n values costs n² comparisons there — a 500-id
//! batch of `fido migrate` spent most of its time in them. Slices keep that linear, at
//! the price of one more round trip per slice (a few per batch).

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::{ClientSession, Collection};

/// Most values in one `$in`.
pub(crate) const IN_SLICE: usize = 32;

/// The documents whose `field` is one of `values` (and that match `also`), in `session`.
pub(crate) async fn find_in(
    collection: &Collection<Document>,
    session: &mut ClientSession,
    field: &str,
    values: &[Bson],
    also: &Document,
) -> mongodb::error::Result<Vec<Document>> {
    let mut found = Vec::with_capacity(values.len());
    for slice in values.chunks(IN_SLICE) {
        let mut filter = also.clone();
        filter.insert(field, doc! {"$in": slice.to_vec()});
        let part: Vec<Document> = collection
            .find(filter)
            .session(&mut *session)
            .await?
            .stream(&mut *session)
            .try_collect()
            .await?;
        found.extend(part);
    }
    Ok(found)
}

/// The same outside a transaction.
pub(crate) async fn find_in_plain(
    collection: &Collection<Document>,
    field: &str,
    values: &[Bson],
) -> mongodb::error::Result<Vec<Document>> {
    let mut found = Vec::with_capacity(values.len());
    for slice in values.chunks(IN_SLICE) {
        let part: Vec<Document> = collection
            .find(doc! {field: {"$in": slice.to_vec()}})
            .await?
            .try_collect()
            .await?;
        found.extend(part);
    }
    Ok(found)
}

/// Deletes the documents whose `_id` is one of `ids`, in `session`.
pub(crate) async fn delete_ids(
    collection: &Collection<Document>,
    session: &mut ClientSession,
    ids: &[Bson],
) -> mongodb::error::Result<()> {
    for slice in ids.chunks(IN_SLICE) {
        collection
            .delete_many(doc! {"_id": {"$in": slice.to_vec()}})
            .session(&mut *session)
            .await?;
    }
    Ok(())
}
