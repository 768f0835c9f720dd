//! Property tests of the value types: whatever the input, parsing never panics, and what
//! parses round-trips exactly.

use fido_domain::{Amount, DateRange, FullName, MoneySum, ObjectId, Timestamp};
use proptest::prelude::*;

const MAX_CENTS: u64 = 100_000_000_000_000;
const MIN_MS: i64 = -62_167_219_200_000;
const MAX_MS: i64 = 253_402_300_799_999;

proptest! {
    #[test]
    fn every_amount_survives_json_exactly(cents in 0..=MAX_CENTS) {
        let amount = Amount::from_cents(cents).unwrap();
        let json = serde_json::to_string(&amount).unwrap();
        let back: Amount = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, amount, "{} printed as {}", cents, json);
        let text = amount.to_string();
        prop_assert_eq!(text.parse::<Amount>().unwrap(), amount);
    }

    #[test]
    fn any_float_parses_without_panicking_and_keeps_its_value(x in any::<f64>()) {
        if let Ok(a) = Amount::from_f64(x) {
            prop_assert!((0.0..=1e12).contains(&x) || x == 0.0);
            prop_assert_eq!(a.to_f64(), if x == 0.0 { 0.0 } else { x });
        }
    }

    #[test]
    fn every_two_decimal_number_a_client_can_send_is_accepted_exactly(cents in 0..=MAX_CENTS) {
        // What a JSON parser makes of the client's text "123.45".
        let x: f64 = Amount::from_cents(cents).unwrap().to_string().parse().unwrap();
        prop_assert_eq!(Amount::from_f64(x).unwrap().cents(), cents);
    }

    #[test]
    fn three_decimals_are_always_refused(mills in 0..=MAX_CENTS * 10) {
        prop_assume!(mills % 10 != 0);
        let x: f64 = format!("{}.{:03}", mills / 1000, mills % 1000).parse().unwrap();
        prop_assert!(Amount::from_f64(x).is_err(), "{} was accepted", x);
    }

    #[test]
    fn decimal_text_parsing_never_panics(s in "\\PC{0,30}") {
        let _ = s.parse::<Amount>();
    }

    #[test]
    fn sums_and_averages_are_exact(cents in proptest::collection::vec(0..=MAX_CENTS, 1..50)) {
        let total = cents.iter().fold(MoneySum::ZERO, |acc, c| acc.plus(MoneySum::from(Amount::from_cents(*c).unwrap())));
        prop_assert_eq!(total.cents(), cents.iter().map(|c| i128::from(*c)).sum::<i128>());
        let n = cents.len() as u64;
        let avg = total.average_half_even(n).cents();
        // Within half a cent of the true average, ties to even.
        let doubled = 2 * (total.cents() - avg * i128::from(n));
        prop_assert!(doubled.abs() <= i128::from(n));
        if doubled.abs() == i128::from(n) {
            prop_assert_eq!(avg % 2, 0, "a tie rounds to the even cent");
        }
    }

    #[test]
    fn ids_round_trip_through_hex(bytes in any::<[u8; 12]>()) {
        let id = ObjectId::from_bytes(bytes);
        prop_assert_eq!(id.to_hex().parse::<ObjectId>().unwrap(), id);
        prop_assert_eq!(id.to_hex().to_uppercase().parse::<ObjectId>().unwrap(), id);
    }

    #[test]
    fn id_parsing_accepts_exactly_24_hex_characters(s in "\\PC{0,30}") {
        let valid = s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit());
        prop_assert_eq!(s.parse::<ObjectId>().is_ok(), valid);
    }

    #[test]
    fn names_in_any_unicode_are_validated_never_panic_and_never_leak(s in "\\PC{0,250}|[\\x00-\\x1f ]{0,5}.{0,10}") {
        match FullName::parse(&s) {
            Ok(name) => {
                let kept = name.expose();
                prop_assert_eq!(kept, s.trim());
                prop_assert!((1..=200).contains(&kept.chars().count()));
                prop_assert!(!kept.chars().any(char::is_control));
                prop_assert_eq!(format!("{:?}", name), "FullName(<redacted>)");
            }
            Err(e) => {
                let t = s.trim();
                let old_rules = t.is_empty() || t.chars().count() > 200 || t.chars().any(char::is_control);
                prop_assert!(old_rules || e.to_string().contains("invisible formatting"), "{}", e);
                // Whatever the rules say of it, a stored name reads back as it was.
                let stored = FullName::from_stored(&s);
                prop_assert_eq!(stored.expose(), s.as_str());
                prop_assert!(FullName::api_refusal(&s).is_some());
            }
        }
    }

    #[test]
    fn timestamps_print_and_parse_back(ms in MIN_MS..=MAX_MS) {
        let t = Timestamp::from_millis(ms).unwrap();
        let text = t.to_string();
        prop_assert!(text.ends_with('Z') && text.len() == 24, "{}", text);
        prop_assert_eq!(Timestamp::parse_rfc3339(&text).unwrap(), t);
    }

    #[test]
    fn date_ranges_hold_start_before_end(a in MIN_MS..=MAX_MS, b in MIN_MS..=MAX_MS, probe in MIN_MS..=MAX_MS) {
        let (a, b, probe) = (Timestamp::from_millis(a).unwrap(), Timestamp::from_millis(b).unwrap(), Timestamp::from_millis(probe).unwrap());
        match DateRange::new(Some(a), Some(b)) {
            Ok(r) => {
                prop_assert!(a <= b);
                prop_assert_eq!(r.contains(probe), a <= probe && probe <= b);
            }
            Err(_) => prop_assert!(a > b),
        }
    }

    #[test]
    fn date_bounds_never_panic(s in "\\PC{0,40}") {
        let _ = DateRange::parse_start(&s);
        let _ = DateRange::parse_end(&s);
    }
}
