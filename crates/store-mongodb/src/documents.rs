//! The document layout, both ways. See `docs/mongodb.md`.

use fido_domain::{
    Amount, EncryptedName, ObjectId, StoreError, Timestamp, TransactionId, TransactionRecord,
    TransactionType, UserId,
};
use mongodb::bson::{self, doc, Document};

pub(crate) fn object_id(id: ObjectId) -> bson::oid::ObjectId {
    bson::oid::ObjectId::from_bytes(id.bytes())
}

pub(crate) fn bson_date(t: Timestamp) -> bson::DateTime {
    bson::DateTime::from_millis(t.as_millis())
}

pub(crate) fn cents(amount: Amount) -> i64 {
    // Amount::MAX is 1e14 cents, far below i64::MAX.
    i64::try_from(amount.cents()).unwrap_or(i64::MAX)
}

pub(crate) fn record_to(r: &TransactionRecord) -> Document {
    doc! {
        "_id": object_id(r.id.object_id()),
        "user_id": object_id(r.user_id.object_id()),
        "full_name": r.full_name.as_str(),
        "amount_cents": cents(r.amount),
        "transaction_type": r.kind.as_str(),
        "transaction_date": bson_date(r.transaction_date),
        "created_at": bson_date(r.created_at),
        "updated_at": bson_date(r.updated_at),
        "version": i64::try_from(r.version).unwrap_or(i64::MAX),
    }
}

fn corrupt(field: &str) -> StoreError {
    StoreError::Internal(format!("a stored transaction has an invalid {field}"))
}

pub(crate) fn record_from(d: &Document) -> Result<TransactionRecord, StoreError> {
    if !d.contains_key("amount_cents") && d.contains_key("transaction_amount") {
        // The original service's layout: not readable until `fido migrate` ran.
        return Err(StoreError::MigrationRequired(
            "a document written by the original service; run `fido migrate`".into(),
        ));
    }
    let oid = |field: &str| {
        d.get_object_id(field)
            .map(|o| ObjectId::from_bytes(o.bytes()))
            .map_err(|_| corrupt(field))
    };
    let date = |field: &str| {
        d.get_datetime(field)
            .map_err(|_| corrupt(field))
            .and_then(|t| Timestamp::from_millis(t.timestamp_millis()).map_err(|_| corrupt(field)))
    };
    let amount = d
        .get_i64("amount_cents")
        .ok()
        .and_then(|c| u64::try_from(c).ok())
        .and_then(|c| Amount::from_cents(c).ok())
        .ok_or_else(|| corrupt("amount_cents"))?;
    Ok(TransactionRecord {
        id: TransactionId::new(oid("_id")?),
        user_id: UserId::new(oid("user_id")?),
        full_name: EncryptedName::new(d.get_str("full_name").map_err(|_| corrupt("full_name"))?),
        amount,
        kind: d
            .get_str("transaction_type")
            .ok()
            .and_then(|k| k.parse::<TransactionType>().ok())
            .ok_or_else(|| corrupt("transaction_type"))?,
        transaction_date: date("transaction_date")?,
        created_at: date("created_at")?,
        updated_at: date("updated_at")?,
        version: match d.get("version") {
            // Documents written before versions existed are at version 1.
            None => 1,
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_i32().map(i64::from))
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| *n >= 1)
                .ok_or_else(|| corrupt("version"))?,
        },
    })
}

/// Parses a Decimal128's text (`"123"`, `"-4"`, `"1.23E+5"`, `"120.00"`) into a whole
/// number; `None` if it is not an integer or does not fit.
pub(crate) fn parse_decimal_cents(text: &str) -> Option<i128> {
    let (mantissa, exponent) = match text.split_once(['E', 'e']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa.strip_prefix('+').unwrap_or(mantissa)),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // value = digits × 10^(exponent − fraction length)
    let scale = exponent - i32::try_from(fraction.len()).ok()?;
    let mut value: i128 = digits.parse().ok()?;
    if scale >= 0 {
        value = value.checked_mul(10_i128.checked_pow(u32::try_from(scale).ok()?)?)?;
    } else {
        let divisor = 10_i128.checked_pow(u32::try_from(-scale).ok()?)?;
        if value % divisor != 0 {
            return None;
        }
        value /= divisor;
    }
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::parse_decimal_cents as p;

    #[test]
    fn decimal_text_to_whole_cents() {
        assert_eq!(p("0"), Some(0));
        assert_eq!(p("100000000000041"), Some(100_000_000_000_041));
        assert_eq!(p("-42"), Some(-42));
        assert_eq!(p("1.23E+5"), Some(123_000));
        assert_eq!(p("120.00"), Some(120));
        assert_eq!(p("1E+20"), Some(100_000_000_000_000_000_000));
        assert_eq!(p("1.5"), None);
        assert_eq!(p("NaN"), None);
        assert_eq!(p("Infinity"), None);
        assert_eq!(p(""), None);
    }
}
