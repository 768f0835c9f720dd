//! Two small guards against a failing Redis: a circuit breaker that makes calls fail fast
//! for a moment after an error, and a limiter that keeps failure warnings from flooding
//! the logs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Milliseconds since the first call in this process (monotonic).
/// `fido_cache_breaker_open` (described with the others in `fido-observability`).
const BREAKER_OPEN: &str = "fido_cache_breaker_open";

fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Open for `cool_down` after a failure; closed again by any success.
pub(crate) struct Breaker {
    open_until_ms: AtomicU64,
    cool_down_ms: u64,
}

impl Breaker {
    pub(crate) fn new(cool_down: Duration) -> Self {
        Self {
            open_until_ms: AtomicU64::new(0),
            cool_down_ms: u64::try_from(cool_down.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn is_open(&self) -> bool {
        now_ms() < self.open_until_ms.load(Ordering::Relaxed)
    }

    pub(crate) fn trip(&self) {
        self.open_until_ms.store(
            now_ms().saturating_add(self.cool_down_ms),
            Ordering::Relaxed,
        );
        // Recorded through the metrics facade (no exporter here): 1 until a call succeeds.
        metrics::gauge!(BREAKER_OPEN).set(1.0);
    }

    pub(crate) fn close(&self) {
        if self.open_until_ms.swap(0, Ordering::Relaxed) != 0 {
            metrics::gauge!(BREAKER_OPEN).set(0.0);
        }
    }
}

/// At most one warning per interval; the next one says how many were held back.
pub(crate) struct LogLimiter {
    next_ms: AtomicU64,
    suppressed: AtomicU64,
    interval_ms: u64,
}

impl LogLimiter {
    pub(crate) fn new(interval: Duration) -> Self {
        Self {
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX),
        }
    }

    pub(crate) fn warn(&self, operation: &'static str, error: &str) {
        let now = now_ms();
        let next = self.next_ms.load(Ordering::Relaxed);
        if now >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now.saturating_add(self.interval_ms),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(
                operation,
                error,
                suppressed,
                "Redis cache call failed; answering from the store"
            );
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_breaker_opens_on_failure_and_closes_on_success() {
        let b = Breaker::new(Duration::from_secs(60));
        assert!(!b.is_open());
        b.trip();
        assert!(b.is_open());
        b.close();
        assert!(!b.is_open());
    }

    #[test]
    fn the_breaker_reopens_for_calls_after_its_cool_down() {
        let b = Breaker::new(Duration::from_millis(0));
        b.trip();
        assert!(!b.is_open());
    }

    #[test]
    fn the_limiter_lets_one_warning_through_per_interval() {
        let l = LogLimiter::new(Duration::from_secs(60));
        l.warn("x", "first");
        l.warn("x", "second");
        l.warn("x", "third");
        assert_eq!(l.suppressed.load(Ordering::Relaxed), 2);
    }
}
