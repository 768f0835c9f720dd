//! Exact money.
//!
//! [`Amount`] is one transaction's amount in integer minor units (cents), `0 ..= 1e12`
//! units with at most two decimals. [`MoneySum`] is a signed total of amounts (sums and the
//! net can exceed any single amount and can be negative), held in `i128` cents so that no
//! realistic sum overflows.
//!
//! JSON carries money as numbers. Parsing goes through the *shortest decimal that
//! round-trips the binary number* (what Rust's `Display` for `f64` prints), which for every
//! amount with at most 15 significant digits is exactly the decimal the client wrote:
//! `0.1` parses to 10 cents, `10.505` is rejected for having three decimals. Printing
//! divides the exact integer by 100 once, which yields the binary number nearest to the
//! exact decimal, so JSON encoders print it back without drift.

use std::fmt;
use std::str::FromStr;

use crate::value_error::ValueError;

/// Cents in one unit.
const CENTS_PER_UNIT: u64 = 100;

/// One transaction's amount: exact, non-negative, at most 1e12, at most two decimals.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Amount(u64);

impl Amount {
    /// The largest accepted amount: 1e12 units.
    pub const MAX: Amount = Amount(1_000_000_000_000 * CENTS_PER_UNIT);
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// From integer cents; fails above [`Amount::MAX`].
    pub fn from_cents(cents: u64) -> Result<Self, ValueError> {
        if cents > Self::MAX.0 {
            return Err(ValueError::new("must be at most 1000000000000"));
        }
        Ok(Self(cents))
    }

    /// The amount in integer cents.
    pub const fn cents(self) -> u64 {
        self.0
    }

    /// Parses a JSON number that arrived as a float.
    pub fn from_f64(value: f64) -> Result<Self, ValueError> {
        if !value.is_finite() {
            return Err(ValueError::new("must be a finite number"));
        }
        if value < 0.0 {
            return Err(ValueError::new("must be greater than or equal to 0"));
        }
        if value == 0.0 {
            // Also covers -0.0, whose shortest decimal is "-0".
            return Ok(Self::ZERO);
        }
        if value > 1e12 {
            return Err(ValueError::new("must be at most 1000000000000"));
        }
        // `Display` prints the shortest decimal that round-trips, never in exponent form.
        Self::from_decimal_str(&value.to_string())
    }

    /// The amount a stored float means, rounded to cents half-to-even when its shortest
    /// decimal form has more than two decimals (`0.1 + 0.2` → `0.30`, `12.345` → `12.34`,
    /// `12.355` → `12.36`); the flag says whether it was rounded. For data written by
    /// systems that kept money in floats: the caller keeps the original when the flag is
    /// set. Negative, non-finite and too large values are refused.
    pub fn from_f64_half_even(value: f64) -> Result<(Self, bool), ValueError> {
        if !value.is_finite() {
            return Err(ValueError::new("must be a finite number"));
        }
        if value < 0.0 {
            return Err(ValueError::new("must be greater than or equal to 0"));
        }
        if value > 1e12 {
            return Err(ValueError::new("must be at most 1000000000000"));
        }
        if value == 0.0 {
            return Ok((Self::ZERO, false));
        }
        // The shortest decimal that round-trips, never in exponent form.
        let text = value.to_string();
        let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
        if frac.len() <= 2 {
            return Self::from_decimal_str(&text).map(|a| (a, false));
        }
        let (kept, rest) = frac.split_at(2);
        let base = Self::from_decimal_str(&format!("{whole}.{kept}"))?;
        let first = rest.as_bytes()[0];
        let beyond_half = rest.bytes().skip(1).any(|b| b != b'0');
        let up = match first.cmp(&b'5') {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            // Exactly half: to the even cent.
            std::cmp::Ordering::Equal => beyond_half || base.0 % 2 == 1,
        };
        let cents = if up { base.0 + 1 } else { base.0 };
        Self::from_cents(cents).map(|a| (a, true))
    }

    /// Parses a JSON number that arrived as an unsigned integer.
    pub fn from_units(units: u64) -> Result<Self, ValueError> {
        units
            .checked_mul(CENTS_PER_UNIT)
            .ok_or_else(|| ValueError::new("must be at most 1000000000000"))
            .and_then(Self::from_cents)
    }

    /// Parses a plain decimal such as `12`, `12.5` or `0.07` (no sign, no exponent).
    pub fn from_decimal_str(s: &str) -> Result<Self, ValueError> {
        let (whole, frac) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValueError::new("must be a non-negative decimal number"));
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) || (s.contains('.') && frac.is_empty()) {
            return Err(ValueError::new("must be a non-negative decimal number"));
        }
        if frac.len() > 2 {
            return Err(ValueError::new("must have at most 2 decimal places"));
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 13 {
            return Err(ValueError::new("must be at most 1000000000000"));
        }
        let units: u64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| ValueError::new("must be at most 1000000000000"))?
        };
        let mut cents: u64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            let digit = u64::from(b - b'0');
            cents += digit * if i == 0 { 10 } else { 1 };
        }
        let total = units
            .checked_mul(CENTS_PER_UNIT)
            .and_then(|u| u.checked_add(cents))
            .ok_or_else(|| ValueError::new("must be at most 1000000000000"))?;
        Self::from_cents(total)
    }

    /// Parses the text of a number as JSON writes it (`-? int frac? exp?`), exactly: the
    /// decimal value the text denotes, never a binary approximation of it. Trailing zeros
    /// do not count as decimal places (`10.50`, `1.0e1` are fine); more than two places
    /// that matter, anything above [`Amount::MAX`] or below zero is refused (`1e-400` has
    /// too many places, `1E400` is too large). A zero of any sign or exponent is zero.
    pub fn parse_number(text: &str) -> Result<Self, ValueError> {
        let not_a_number = || ValueError::new("must be a number");
        let too_large = || ValueError::new("must be at most 1000000000000");
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], Some(&rest[i + 1..])),
            None => (rest, None),
        };
        let (whole, frac) = match mantissa.split_once('.') {
            Some((w, f)) if !f.is_empty() => (w, f),
            Some(_) => return Err(not_a_number()),
            None => (mantissa, ""),
        };
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let canonical_whole = whole == "0" || (!whole.starts_with('0') && !whole.is_empty());
        if !canonical_whole || !digits_only(whole) || !digits_only(frac) {
            return Err(not_a_number());
        }
        let exponent: i64 = match exponent {
            None => 0,
            Some(e) => {
                let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
                if digits.is_empty() || !digits_only(digits) {
                    return Err(not_a_number());
                }
                // Past 10^±99999 the answer is already known: never parse a huge exponent.
                let significant = digits.trim_start_matches('0');
                let magnitude: i64 = if significant.len() > 5 {
                    99_999
                } else {
                    significant.parse().unwrap_or(0)
                };
                if e.starts_with('-') {
                    -magnitude
                } else {
                    magnitude
                }
            }
        };
        // value = significant × 10^scale, with significant's trailing zeros moved into scale.
        let all_digits = format!("{whole}{frac}");
        let significant = all_digits.trim_start_matches('0');
        if significant.is_empty() {
            return Ok(Self::ZERO);
        }
        if negative {
            return Err(ValueError::new("must be greater than or equal to 0"));
        }
        let trimmed = significant.trim_end_matches('0');
        let scale = exponent - frac.len() as i64 + (significant.len() - trimmed.len()) as i64;
        if scale < -2 {
            return Err(ValueError::new("must have at most 2 decimal places"));
        }
        // In cents: trimmed × 10^(scale + 2). MAX is 10^14 cents, 15 digits.
        let cents_digits = trimmed.len() as i64 + scale + 2;
        if cents_digits > 15 {
            return Err(too_large());
        }
        let mut cents: u64 = trimmed.parse().map_err(|_| too_large())?;
        for _ in 0..(scale + 2) {
            cents = cents.checked_mul(10).ok_or_else(too_large)?;
        }
        Self::from_cents(cents)
    }

    /// The nearest `f64`, for JSON output (exact for every valid amount's decimal form).
    pub fn to_f64(self) -> f64 {
        // Both operands are exact doubles (cents < 2^53), and IEEE division rounds the true
        // quotient once, so this is the double nearest to the decimal value.
        self.0 as f64 / CENTS_PER_UNIT as f64
    }
}

impl FromStr for Amount {
    type Err = ValueError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_decimal_str(s)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_cents(f, i128::from(self.0))
    }
}

impl fmt::Debug for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Amount({self})")
    }
}

fn write_cents(f: &mut fmt::Formatter<'_>, cents: i128) -> fmt::Result {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
}

impl serde::Serialize for Amount {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.to_f64())
    }
}

impl<'de> serde::Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Amount;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number with at most 2 decimal places")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Amount, E> {
                Amount::from_units(v).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Amount, E> {
                let units = u64::try_from(v)
                    .map_err(|_| E::custom("must be greater than or equal to 0"))?;
                Amount::from_units(units).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Amount, E> {
                Amount::from_f64(v).map_err(E::custom)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// A signed sum of amounts in exact cents (totals, net). Never overflows in practice:
/// `i128` holds more than 10^36 cents.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MoneySum(i128);

impl MoneySum {
    /// Zero.
    pub const ZERO: MoneySum = MoneySum(0);

    /// From signed integer cents.
    pub const fn from_cents(cents: i128) -> Self {
        Self(cents)
    }

    /// The sum in integer cents.
    pub const fn cents(self) -> i128 {
        self.0
    }

    /// `self + other`, saturating (unreachable for real data, but never a panic).
    pub fn plus(self, other: MoneySum) -> MoneySum {
        MoneySum(self.0.saturating_add(other.0))
    }

    /// `self - other`, saturating.
    pub fn minus(self, other: MoneySum) -> MoneySum {
        MoneySum(self.0.saturating_sub(other.0))
    }

    /// `self / count` rounded half-to-even to whole cents; zero when `count` is zero.
    pub fn average_half_even(self, count: u64) -> MoneySum {
        if count == 0 {
            return MoneySum::ZERO;
        }
        let n = i128::from(count);
        let q = self.0.div_euclid(n);
        let r = self.0.rem_euclid(n);
        let twice = r * 2;
        let round_up = twice > n || (twice == n && q % 2 != 0);
        MoneySum(if round_up { q + 1 } else { q })
    }

    /// The nearest `f64`, for JSON output.
    pub fn to_f64(self) -> f64 {
        const EXACT: i128 = 1 << 53;
        if self.0.abs() < EXACT {
            self.0 as f64 / 100.0
        } else {
            // Beyond 2^53 cents the integer itself is not exact as a double; parse the
            // decimal text instead, which rounds correctly once.
            self.to_string().parse().unwrap_or(f64::MAX)
        }
    }
}

impl From<Amount> for MoneySum {
    fn from(a: Amount) -> Self {
        MoneySum(i128::from(a.0))
    }
}

impl fmt::Display for MoneySum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_cents(f, self.0)
    }
}

impl fmt::Debug for MoneySum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MoneySum({self})")
    }
}

/// Sums up to this many cents in magnitude are exact as a JSON double (2^53).
const EXACT_AS_DOUBLE: i128 = 1 << 53;

impl serde::Serialize for MoneySum {
    /// A JSON number, always exact. Below 2^53 cents it is the shortest double's text, as
    /// clients of the original service read it (`45.0`, `0.3`); above, no double holds
    /// the sum, so the number is written as its exact decimal text
    /// (`977005033345625.47`): still a JSON number, which a client parsing doubles reads
    /// to the nearest one and a client parsing decimals reads exactly. (Written through
    /// `serde_json`'s raw values: sums are for JSON.)
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.abs() < EXACT_AS_DOUBLE {
            return s.serialize_f64(self.to_f64());
        }
        serde_json::value::RawValue::from_string(self.to_string())
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for MoneySum {
    /// Reads a JSON number exactly (what [`Serialize`](serde::Serialize) wrote): at most
    /// two decimals, any magnitude an `i128` of cents holds.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <Box<serde_json::value::RawValue>>::deserialize(d)?;
        MoneySum::parse_exact(raw.get()).ok_or_else(|| {
            serde::de::Error::custom("not a sum of money (a number with at most 2 decimals)")
        })
    }
}

impl MoneySum {
    /// Parses decimal text (`-12.3`, `977005033345625.47`, `45.0`) exactly; `None` for
    /// more than two decimals, an exponent or anything else.
    fn parse_exact(text: &str) -> Option<MoneySum> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (units, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if units.is_empty() || !all_digits(units) || !all_digits(fraction) {
            return None;
        }
        let fraction = fraction.trim_end_matches('0');
        if fraction.len() > 2 {
            return None;
        }
        let cents = units
            .parse::<i128>()
            .ok()?
            .checked_mul(100)?
            .checked_add(format!("{fraction:0<2}").parse::<i128>().ok()?)?;
        Some(MoneySum(if negative { -cents } else { cents }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_above_2_to_the_53_cents_stay_exact_in_json() {
        let big = MoneySum(97_700_503_334_562_547);
        assert_eq!(serde_json::to_string(&big).unwrap(), "977005033345625.47");
        assert_eq!(
            serde_json::to_string(&MoneySum(-big.0)).unwrap(),
            "-977005033345625.47"
        );
        assert_eq!(
            serde_json::to_string(&MoneySum(4500)).unwrap(),
            "45.0",
            "below 2^53 cents: byte-identical to before"
        );
        assert_eq!(serde_json::to_string(&MoneySum(30)).unwrap(), "0.3");
        for sum in [
            big,
            MoneySum(-big.0),
            MoneySum(4500),
            MoneySum(30),
            MoneySum(-7),
            MoneySum(0),
        ] {
            let text = serde_json::to_string(&sum).unwrap();
            assert_eq!(
                serde_json::from_str::<MoneySum>(&text).unwrap(),
                sum,
                "{text}"
            );
        }
        assert!(serde_json::from_str::<MoneySum>("1.234").is_err());
        assert!(serde_json::from_str::<MoneySum>("1e3").is_err());
    }

    #[test]
    fn floats_round_half_to_even_and_say_so() {
        let cents =
            |v: f64| Amount::from_f64_half_even(v).map(|(a, adjusted)| (a.cents(), adjusted));
        assert_eq!(cents(12.5), Ok((1250, false)));
        assert_eq!(cents(0.1), Ok((10, false)));
        assert_eq!(cents(0.1 + 0.2), Ok((30, true)));
        assert_eq!(cents(12.345), Ok((1234, true)));
        assert_eq!(cents(12.355), Ok((1236, true)));
        assert_eq!(cents(12.3451), Ok((1235, true)));
        assert_eq!(cents(0.005), Ok((0, true)));
        assert_eq!(cents(0.015), Ok((2, true)));
        assert_eq!(cents(999.999), Ok((100_000, true)));
        assert_eq!(cents(0.0), Ok((0, false)));
        assert!(cents(-0.01).is_err());
        assert!(cents(f64::NAN).is_err());
        assert!(cents(f64::INFINITY).is_err());
        assert!(cents(2e12).is_err());
    }

    #[test]
    fn number_texts_are_parsed_exactly() {
        let ok = |t: &str| Amount::parse_number(t).map(Amount::cents);
        assert_eq!(ok("0.1"), Ok(10));
        assert_eq!(ok("10.50"), Ok(1050));
        assert_eq!(ok("10.5000000000000000"), Ok(1050));
        assert_eq!(ok("1e2"), Ok(10_000));
        assert_eq!(ok("1.5E+1"), Ok(1500));
        assert_eq!(ok("125e-2"), Ok(125));
        assert_eq!(ok("1000000000000"), Ok(Amount::MAX.cents()));
        assert_eq!(ok("1000000000000.00"), Ok(Amount::MAX.cents()));
        assert_eq!(ok("-0.0"), Ok(0));
        assert_eq!(ok("0e-400"), Ok(0));
        let rule = |t: &str| Amount::parse_number(t).unwrap_err().to_string();
        assert_eq!(
            rule("1000000000000.0000001"),
            "must have at most 2 decimal places"
        );
        assert_eq!(
            rule("0.009999999999999999999"),
            "must have at most 2 decimal places"
        );
        assert_eq!(
            rule("10.5000000000000001"),
            "must have at most 2 decimal places"
        );
        assert_eq!(rule("1e-400"), "must have at most 2 decimal places");
        assert_eq!(rule("1E400"), "must be at most 1000000000000");
        assert_eq!(rule("1000000000000.01"), "must be at most 1000000000000");
        assert_eq!(
            rule("1e99999999999999999999"),
            "must be at most 1000000000000"
        );
        assert_eq!(rule("-0.01"), "must be greater than or equal to 0");
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "0x10", "1_0", "NaN", "1.2.3",
        ] {
            assert_eq!(rule(bad), "must be a number", "{bad:?}");
        }
    }

    fn json_amount(s: &str) -> Result<Amount, String> {
        serde_json::from_str::<Amount>(s).map_err(|e| e.to_string())
    }

    #[test]
    fn parses_json_numbers_exactly() {
        assert_eq!(json_amount("0.1").unwrap().cents(), 10);
        assert_eq!(json_amount("0.10").unwrap().cents(), 10);
        assert_eq!(json_amount("10.5").unwrap().cents(), 1050);
        assert_eq!(json_amount("10").unwrap().cents(), 1000);
        assert_eq!(json_amount("0").unwrap().cents(), 0);
        assert_eq!(json_amount("-0.0").unwrap().cents(), 0);
        assert_eq!(json_amount("1e2").unwrap().cents(), 10000);
        assert_eq!(
            json_amount("999999999999.99").unwrap().cents(),
            99_999_999_999_999
        );
        assert_eq!(json_amount("1000000000000").unwrap(), Amount::MAX);
    }

    #[test]
    fn rejects_invalid_amounts() {
        for bad in [
            "-1",
            "-0.01",
            "10.505",
            "0.001",
            "1000000000000.01",
            "1e13",
            "\"10\"",
            "null",
            "true",
        ] {
            assert!(json_amount(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn prints_back_without_drift() {
        for s in [
            "0.1",
            "0.3",
            "10.5",
            "45.0",
            "999999999999.99",
            "1000000000000.0",
            "0.07",
        ] {
            let a = json_amount(s).unwrap();
            assert_eq!(serde_json::to_string(&a).unwrap(), s);
        }
    }

    #[test]
    fn decimal_strings() {
        assert_eq!("12".parse::<Amount>().unwrap().cents(), 1200);
        assert_eq!("0012.30".parse::<Amount>().unwrap().cents(), 1230);
        for bad in ["", ".5", "5.", "1.2.3", "+1", "1e3", " 1", "abc"] {
            assert!(bad.parse::<Amount>().is_err(), "{bad:?}");
        }
        assert_eq!(Amount::from_cents(1230).unwrap().to_string(), "12.30");
    }

    #[test]
    fn tenths_sum_exactly() {
        let a = json_amount("0.10").unwrap();
        let b = json_amount("0.20").unwrap();
        let sum = MoneySum::from(a).plus(b.into());
        assert_eq!(sum.cents(), 30);
        assert_eq!(serde_json::to_string(&sum).unwrap(), "0.3");
    }

    #[test]
    fn average_rounds_half_to_even() {
        // 0.05 / 2 = 0.025 -> 0.02 (2 is even); 0.15 / 2 = 0.075 -> 0.08.
        assert_eq!(MoneySum::from_cents(5).average_half_even(2).cents(), 2);
        assert_eq!(MoneySum::from_cents(15).average_half_even(2).cents(), 8);
        // 10 / 3 = 3.333.. -> 3.33; 20 / 3 = 6.666.. -> 6.67.
        assert_eq!(MoneySum::from_cents(1000).average_half_even(3).cents(), 333);
        assert_eq!(MoneySum::from_cents(2000).average_half_even(3).cents(), 667);
        assert_eq!(MoneySum::from_cents(7).average_half_even(0), MoneySum::ZERO);
    }

    #[test]
    fn negative_sums_print_and_read_back() {
        let net = MoneySum::from_cents(-1050);
        assert_eq!(net.to_string(), "-10.50");
        let json = serde_json::to_string(&net).unwrap();
        assert_eq!(json, "-10.5");
        assert_eq!(serde_json::from_str::<MoneySum>(&json).unwrap(), net);
    }
}
