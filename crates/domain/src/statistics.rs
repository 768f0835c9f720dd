//! Per-user statistics: what a store computes ([`TransactionTotals`]) and what the service
//! reports ([`StatisticsSummary`]).

use crate::amount::MoneySum;
use crate::time::UtcDay;

/// The raw aggregate a [`StatisticsQuery`](crate::StatisticsQuery) computes inside the
/// database for one user and range.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct TransactionTotals {
    /// How many transactions are in the range.
    pub count: u64,
    /// Sum of the credits, exact.
    pub total_credit: MoneySum,
    /// Sum of the debits, exact.
    pub total_debit: MoneySum,
    /// The UTC day with the most transactions, ties to the earliest; `None` when empty.
    pub busiest_day: Option<UtcDay>,
}

/// A user's statistics over a range (`count >= 1`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StatisticsSummary {
    /// The UTC day with the most transactions; ties go to the earliest day.
    pub busiest_day: UtcDay,
    /// `total / count`, rounded half-to-even to cents.
    pub average: MoneySum,
    /// Sum of every amount, credits plus debits.
    pub total: MoneySum,
    /// How many transactions are in the range.
    pub count: u64,
    /// Sum of the credits.
    pub total_credit: MoneySum,
    /// Sum of the debits.
    pub total_debit: MoneySum,
    /// `total_credit - total_debit`.
    pub net: MoneySum,
}

impl StatisticsSummary {
    /// Derives the summary; `None` when there are no transactions.
    pub fn from_totals(t: TransactionTotals) -> Option<Self> {
        let day = t.busiest_day?;
        if t.count == 0 {
            return None;
        }
        let total = t.total_credit.plus(t.total_debit);
        Some(Self {
            busiest_day: day,
            average: total.average_half_even(t.count),
            total,
            count: t.count,
            total_credit: t.total_credit,
            total_debit: t.total_debit,
            net: t.total_credit.minus(t.total_debit),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_totals_average_and_net() {
        let s = StatisticsSummary::from_totals(TransactionTotals {
            count: 3,
            total_credit: MoneySum::from_cents(1000),
            total_debit: MoneySum::from_cents(2500),
            busiest_day: Some(UtcDay::parse("2026-11-25").unwrap()),
        })
        .unwrap();
        assert_eq!(s.total.cents(), 3500);
        assert_eq!(s.average.cents(), 1167);
        assert_eq!(s.net.cents(), -1500);
        assert_eq!(s.busiest_day, UtcDay::parse("2026-11-25").unwrap());
    }

    #[test]
    fn empty_totals_have_no_summary() {
        assert_eq!(
            StatisticsSummary::from_totals(TransactionTotals::default()),
            None
        );
    }
}
