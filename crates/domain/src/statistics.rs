//! Per-user statistics: what a store computes ([`TransactionTotals`]) and what the service
//! reports ([`StatisticsSummary`], [`Balance`], [`Series`]).

use std::fmt;

use crate::amount::{Amount, MoneySum};
use crate::error::ValueError;
use crate::id::UserId;
use crate::time::{Timestamp, UtcDay, MS_PER_DAY};
use crate::transaction::TransactionType;

/// A user's balance at an instant: the totals of every transaction dated at or before it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Balance {
    /// Whose.
    pub user: UserId,
    /// The instant: transactions dated at or before it count.
    pub as_of: Timestamp,
    /// Sum of the credits, exact.
    pub credits: MoneySum,
    /// Sum of the debits, exact.
    pub debits: MoneySum,
    /// How many transactions count.
    pub count: u64,
}

impl Balance {
    /// How far past the present a balance may be asked for (one day): further ahead it
    /// would only repeat today's, and is more likely a mistaken date.
    pub const MAX_AHEAD_MS: i64 = MS_PER_DAY;

    /// The balance the store's `totals` of `user` up to `as_of` make.
    pub fn from_totals(user: UserId, as_of: Timestamp, totals: &TransactionTotals) -> Self {
        Self {
            user,
            as_of,
            credits: totals.total_credit,
            debits: totals.total_debit,
            count: totals.count,
        }
    }

    /// `credits − debits` (may be negative); zero for a user without transactions.
    pub fn balance(&self) -> MoneySum {
        self.credits.minus(self.debits)
    }
}

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

impl TransactionTotals {
    /// Folds day rows (one per day) into totals; the busiest day is the one with the most
    /// transactions, ties to the earliest.
    pub fn from_days(days: &[DayTotals]) -> Self {
        let mut totals = Self::default();
        let mut busiest: Option<(u64, UtcDay)> = None;
        for d in days {
            totals.count += d.count;
            totals.total_credit = totals.total_credit.plus(d.credit);
            totals.total_debit = totals.total_debit.plus(d.debit);
            let better = match busiest {
                None => true,
                Some((n, day)) => d.count > n || (d.count == n && d.day < day),
            };
            if better {
                busiest = Some((d.count, d.day));
            }
        }
        totals.busiest_day = busiest.map(|(_, day)| day);
        totals
    }
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

/// One UTC day's totals of a user, as a [`StatisticsQuery`](crate::StatisticsQuery) reads
/// them (from daily roll-ups where the store keeps them).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct DayTotals {
    /// The day.
    pub day: UtcDay,
    /// How many transactions (at least one).
    pub count: u64,
    /// Sum of the credits, exact.
    pub credit: MoneySum,
    /// Sum of the debits, exact.
    pub debit: MoneySum,
}

/// How a time series groups days.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Default)]
pub enum Granularity {
    /// One point per UTC day.
    #[default]
    Day,
    /// One point per ISO week (Monday to Sunday, UTC).
    Week,
    /// One point per calendar month (UTC).
    Month,
}

impl Granularity {
    /// `day`, `week` or `month`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
        }
    }

    /// Parses `day`, `week` or `month`.
    pub fn parse(s: &str) -> Result<Self, ValueError> {
        match s {
            "day" => Ok(Self::Day),
            "week" => Ok(Self::Week),
            "month" => Ok(Self::Month),
            _ => Err(ValueError::new("must be day, week or month")),
        }
    }

    /// The label of the period a day falls in: `2026-11-25`, `2026-W48` or `2026-11`.
    pub fn period_of(self, day: UtcDay) -> String {
        match self {
            Self::Day => day.to_string(),
            Self::Week => {
                let (year, week) = day.iso_week();
                format!("{year:04}-W{week:02}")
            }
            Self::Month => day.to_string().chars().take(7).collect(),
        }
    }
}

impl fmt::Display for Granularity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One point of a time series: a period's totals.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SeriesPoint {
    /// The period's label (see [`Granularity::period_of`]).
    pub period: String,
    /// How many transactions.
    pub count: u64,
    /// Sum of the credits.
    pub credit: MoneySum,
    /// Sum of the debits.
    pub debit: MoneySum,
    /// `credit - debit`.
    pub net: MoneySum,
    /// The user's balance just before the period's first transaction in the range: every
    /// transaction dated earlier, whether in the range or not.
    pub opening: MoneySum,
    /// The balance after the period's last transaction in the range: `opening + net`.
    pub closing: MoneySum,
}

/// Balances after each transaction, walking the listing's order (newest first, ties by
/// id): the balance after an item is the balance after the one listed before it, less
/// what that one added. Started from the balance after the first item walked.
///
/// Balances are over every transaction of the user, so a walk only gives them for a
/// listing without filters that skip transactions (a date range is fine: it skips none
/// inside it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct RunningBalance {
    after_next: MoneySum,
}

impl RunningBalance {
    /// A walk whose first item leaves the balance at `after_first`.
    pub fn starting_at(after_first: MoneySum) -> Self {
        Self {
            after_next: after_first,
        }
    }

    /// The balance after `kind`/`amount`, the next item of the walk; steps past it.
    pub fn step(&mut self, kind: TransactionType, amount: Amount) -> MoneySum {
        let after = self.after_next;
        self.after_next = after.minus(signed(kind, amount));
        after
    }
}

/// What a transaction adds to its user's balance: its amount, negative for a debit.
pub fn signed(kind: TransactionType, amount: Amount) -> MoneySum {
    match kind {
        TransactionType::Credit => MoneySum::from(amount),
        TransactionType::Debit => MoneySum::ZERO.minus(MoneySum::from(amount)),
    }
}

/// A user's totals per period, ascending, only periods with transactions.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Series {
    /// How days were grouped.
    pub granularity: Granularity,
    /// The points, oldest first.
    pub points: Vec<SeriesPoint>,
}

impl Series {
    /// The most points a series may have.
    pub const MAX_POINTS: usize = 1000;

    /// Groups ascending day totals into periods; `None` when that makes more than
    /// [`Series::MAX_POINTS`] points.
    pub fn from_days(granularity: Granularity, days: &[DayTotals]) -> Option<Self> {
        let mut points: Vec<SeriesPoint> = Vec::new();
        for d in days {
            let period = granularity.period_of(d.day);
            match points.last_mut() {
                Some(p) if p.period == period => {
                    p.count += d.count;
                    p.credit = p.credit.plus(d.credit);
                    p.debit = p.debit.plus(d.debit);
                }
                _ => points.push(SeriesPoint {
                    period,
                    count: d.count,
                    credit: d.credit,
                    debit: d.debit,
                    net: MoneySum::ZERO,
                    opening: MoneySum::ZERO,
                    closing: MoneySum::ZERO,
                }),
            }
            if points.len() > Self::MAX_POINTS {
                return None;
            }
        }
        let mut balance = MoneySum::ZERO;
        for p in &mut points {
            p.net = p.credit.minus(p.debit);
            p.opening = balance;
            balance = balance.plus(p.net);
            p.closing = balance;
        }
        Some(Self {
            granularity,
            points,
        })
    }

    /// The same series for a user whose balance before its first point was `opening`
    /// (what every transaction dated before the range adds up to): each point's opening
    /// and closing balance move by it. Periods without transactions have no point, so
    /// each point opens where the one before it closed.
    #[must_use]
    pub fn opening_at(mut self, opening: MoneySum) -> Self {
        for p in &mut self.points {
            p.opening = p.opening.plus(opening);
            p.closing = p.closing.plus(opening);
        }
        self
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
    fn days_group_into_weeks_and_months() {
        let day = |d: &str, count, credit| DayTotals {
            day: UtcDay::parse(d).unwrap(),
            count,
            credit: MoneySum::from_cents(credit),
            debit: MoneySum::from_cents(100),
        };
        let days = [
            day("2026-11-29", 1, 500), // a Sunday: ISO week 48
            day("2026-11-30", 2, 700), // the Monday after: week 49, still November
            day("2026-12-01", 1, 0),
        ];
        let weeks = Series::from_days(Granularity::Week, &days).unwrap();
        let labels: Vec<&str> = weeks.points.iter().map(|p| p.period.as_str()).collect();
        assert_eq!(labels, ["2026-W48", "2026-W49"]);
        assert_eq!(weeks.points[1].count, 3);
        assert_eq!(weeks.points[1].net.cents(), 700 - 200);
        let months = Series::from_days(Granularity::Month, &days).unwrap();
        let labels: Vec<&str> = months.points.iter().map(|p| p.period.as_str()).collect();
        assert_eq!(labels, ["2026-11", "2026-12"]);
        assert_eq!(months.points[0].credit.cents(), 1200);
        // Balances chain from the opening one: each point opens where the last closed.
        let chained: Vec<(i128, i128)> = months
            .opening_at(MoneySum::from_cents(-50))
            .points
            .iter()
            .map(|p| (p.opening.cents(), p.closing.cents()))
            .collect();
        assert_eq!(chained, [(-50, -50 + 1200 - 200), (950, 950 - 100)]);
        let many: Vec<DayTotals> = (0..1001)
            .map(|i| DayTotals {
                day: crate::Timestamp::from_millis(i * 86_400_000).unwrap().day(),
                count: 1,
                credit: MoneySum::ZERO,
                debit: MoneySum::ZERO,
            })
            .collect();
        assert!(Series::from_days(Granularity::Day, &many).is_none());
        assert!(Series::from_days(Granularity::Month, &many).is_some());
    }

    #[test]
    fn empty_totals_have_no_summary() {
        assert_eq!(
            StatisticsSummary::from_totals(TransactionTotals::default()),
            None
        );
    }
}
