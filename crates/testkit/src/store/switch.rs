//! The write switch: the pause reads back as set.

use super::*;

/// The write pause reads back as set, and is gone once lifted.
pub async fn the_write_pause_reads_back_as_set(store: &dyn Store) {
    let pause = fido_domain::WritePause {
        since: Timestamp::from_millis(1_765_000_000_123).expect("time"),
        reason: "switch-over to the new cluster".into(),
    };
    store.set_write_pause(None).await.expect("lift");
    assert_eq!(store.write_pause().await.expect("read"), None);
    store
        .set_write_pause(Some(pause.clone()))
        .await
        .expect("pause");
    assert_eq!(
        store.write_pause().await.expect("read"),
        Some(pause.clone())
    );
    // Setting it again replaces it.
    let again = fido_domain::WritePause {
        reason: "again".into(),
        ..pause
    };
    store
        .set_write_pause(Some(again.clone()))
        .await
        .expect("pause again");
    assert_eq!(store.write_pause().await.expect("read"), Some(again));
    store.set_write_pause(None).await.expect("lift");
    assert_eq!(store.write_pause().await.expect("read"), None);
}
