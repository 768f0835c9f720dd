//! The [`MemoryStore`](crate::MemoryStore)'s outbox: events, cursors, failures, leases.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use fido_domain::{
    Backlog, CursorSave, EventPage, FailedDelivery, OutboxEvent, PublisherCursor, StoredEvent,
    Timestamp,
};

/// Everything the event log keeps, behind the store's lock.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    events: VecDeque<StoredEvent>,
    last_sequence: u64,
    pruned_through: u64,
    cursors: HashMap<String, PublisherCursor>,
    failures: BTreeMap<(String, u64), FailedDelivery>,
    leases: HashMap<String, (String, Timestamp)>,
}

impl Outbox {
    pub(crate) fn append(&mut self, event: OutboxEvent) {
        self.last_sequence += 1;
        self.events.push_back(StoredEvent {
            sequence: self.last_sequence,
            event,
        });
    }

    /// Copied events with their sequences (keeping any already there), and the marks.
    pub(crate) fn put(&mut self, events: Vec<StoredEvent>, last: u64, pruned: u64) {
        for event in events {
            if !self.events.iter().any(|e| e.sequence == event.sequence) {
                self.events.push_back(event);
            }
        }
        self.events.make_contiguous().sort_by_key(|e| e.sequence);
        self.last_sequence = self.last_sequence.max(last);
        self.pruned_through = self.pruned_through.max(pruned);
    }

    pub(crate) fn all_cursors(&self) -> Vec<(String, PublisherCursor)> {
        let mut all: Vec<_> = self
            .cursors
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    pub(crate) fn put_cursors(&mut self, cursors: Vec<(String, PublisherCursor)>) {
        self.cursors.extend(cursors);
    }

    pub(crate) fn page(&self, after: u64, limit: u32) -> EventPage {
        EventPage {
            events: self
                .events
                .iter()
                .filter(|e| e.sequence > after)
                .take(limit as usize)
                .cloned()
                .collect(),
            pruned_through: self.pruned_through,
            last_sequence: self.last_sequence,
        }
    }

    pub(crate) fn cursor(&self, publisher: &str) -> PublisherCursor {
        self.cursors.get(publisher).cloned().unwrap_or_default()
    }

    pub(crate) fn save_cursor(&mut self, save: CursorSave) -> bool {
        let holds = self
            .leases
            .get(&save.lease)
            .is_some_and(|(h, _)| *h == save.holder);
        if !holds || self.cursor(&save.publisher) != save.expected {
            return false;
        }
        self.cursors.insert(save.publisher, save.new);
        if let Some(f) = save.failed {
            self.failures.insert((f.publisher.clone(), f.sequence), f);
        }
        true
    }

    pub(crate) fn failed(&self, publisher: &str, after: u64, limit: u32) -> Vec<FailedDelivery> {
        self.failures
            .values()
            .filter(|f| f.publisher == publisher && f.sequence > after)
            .take(limit as usize)
            .cloned()
            .collect()
    }

    pub(crate) fn acquire(
        &mut self,
        lease: &str,
        holder: &str,
        now: Timestamp,
        ttl: Duration,
    ) -> bool {
        let until = now.plus_millis(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let free = match self.leases.get(lease) {
            None => true,
            Some((h, expires)) => h == holder || *expires <= now,
        };
        if free {
            self.leases
                .insert(lease.to_owned(), (holder.to_owned(), until));
        }
        free
    }

    pub(crate) fn release(&mut self, lease: &str, holder: &str) {
        if self.leases.get(lease).is_some_and(|(h, _)| h == holder) {
            self.leases.remove(lease);
        }
    }

    fn lowest(&self, publishers: &[String]) -> Option<u64> {
        publishers
            .iter()
            .map(|p| self.cursor(p).delivered_through)
            .min()
    }

    pub(crate) fn prune(&mut self, before: Timestamp, publishers: &[String]) -> u64 {
        let first_young = self
            .events
            .iter()
            .find(|e| e.event.occurred_at >= before)
            .map(|e| e.sequence);
        let Some(limit) = fido_domain::prune_through(
            self.pruned_through,
            self.last_sequence,
            first_young,
            self.lowest(publishers),
        ) else {
            return 0;
        };
        let mut removed = 0;
        while self.events.front().is_some_and(|e| e.sequence <= limit) {
            self.events.pop_front();
            removed += 1;
        }
        self.pruned_through = limit;
        removed
    }

    pub(crate) fn backlog(&self, publishers: &[String]) -> Backlog {
        let Some(lowest) = self.lowest(publishers) else {
            return Backlog {
                last_sequence: self.last_sequence,
                ..Backlog::default()
            };
        };
        Backlog {
            undelivered: self.last_sequence.saturating_sub(lowest),
            oldest_undelivered_at: self
                .events
                .iter()
                .find(|e| e.sequence > lowest)
                .map(|e| e.event.occurred_at),
            last_sequence: self.last_sequence,
            ..Backlog::default()
        }
    }
}
