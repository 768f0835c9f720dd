//! From the domain's stored events to the wire form (the `domain` feature).

use fido_domain::{
    ChangedField, EventKind, StoredEvent, TransactionSnapshot, EVENT_SCHEMA_VERSION,
};

use crate::{Event, EventType, PreviousValues, TransactionData};

fn data(s: &TransactionSnapshot) -> TransactionData {
    TransactionData {
        id: s.id.to_string(),
        user_id: s.user_id.to_string(),
        transaction_amount: s.amount.to_f64(),
        transaction_amount_cents: s.amount.cents(),
        transaction_type: s.kind.as_str().to_owned(),
        transaction_date: s.transaction_date.to_string(),
        created_at: s.created_at.to_string(),
        updated_at: s.updated_at.to_string(),
        version: s.version,
    }
}

fn field_name(f: ChangedField) -> &'static str {
    match f {
        ChangedField::FullName => "full_name",
        ChangedField::Amount => "transaction_amount",
        ChangedField::Kind => "transaction_type",
    }
}

impl Event {
    /// The wire form of a stored event; `None` for an event without a transaction (a
    /// store never writes one).
    pub fn from_stored(stored: &StoredEvent) -> Option<Self> {
        let e = &stored.event;
        let subject = e.subject()?;
        let kind = match e.kind {
            EventKind::Created => EventType::Created,
            EventKind::Updated => EventType::Updated,
            EventKind::Deleted => EventType::Deleted,
        };
        let previous = match (e.kind, &e.before, &e.after) {
            (EventKind::Updated, Some(before), Some(after)) => Some(PreviousValues {
                transaction_amount: (before.amount != after.amount).then(|| before.amount.to_f64()),
                transaction_amount_cents: (before.amount != after.amount)
                    .then(|| before.amount.cents()),
                transaction_type: (before.kind != after.kind)
                    .then(|| before.kind.as_str().to_owned()),
                updated_at: before.updated_at.to_string(),
                version: before.version,
            }),
            _ => None,
        };
        Some(Self {
            id: e.id.to_string(),
            kind,
            schema_version: EVENT_SCHEMA_VERSION,
            sequence: stored.sequence,
            occurred_at: e.occurred_at.to_string(),
            user_id: subject.user_id.to_string(),
            transaction_id: subject.id.to_string(),
            data: data(subject),
            previous,
            changed_fields: e
                .changed
                .iter()
                .map(|f| field_name(*f).to_owned())
                .collect(),
        })
    }
}
