//! Retry policy for temporary failures: exponential backoff with jitter,
//! within a budget of attempts.

use chrono::Duration;

#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first send included. A worker that dies while
    /// holding a row also uses one up.
    pub max_attempts: i64,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base: Duration::seconds(30),
            cap: Duration::hours(1),
        }
    }
}

impl RetryPolicy {
    /// The delay after the `attempt`-th failed attempt (1-based):
    /// base · 2^(attempt-1), capped, then scaled by `jitter` in [0.8, 1.2]
    /// so that many rows failing together do not retry together.
    pub fn delay(&self, attempt: i64, jitter: f64) -> Duration {
        let exp = (attempt.max(1) - 1).min(30) as u32;
        let raw = self
            .base
            .num_milliseconds()
            .saturating_mul(1i64 << exp)
            .min(self.cap.num_milliseconds());
        let j = jitter.clamp(0.8, 1.2);
        Duration::milliseconds((raw as f64 * j) as i64)
    }

    pub fn exhausted(&self, attempts: i64) -> bool {
        attempts >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(1, 1.0), Duration::seconds(30));
        assert_eq!(p.delay(2, 1.0), Duration::seconds(60));
        assert_eq!(p.delay(3, 1.0), Duration::seconds(120));
        assert_eq!(p.delay(20, 1.0), Duration::hours(1));
        assert!(!p.exhausted(4) && p.exhausted(5));
    }

    proptest! {
        #[test]
        fn delays_grow_and_stay_within_jitter_bounds(a in 1i64..40, j in 0.0f64..2.0) {
            let p = RetryPolicy::default();
            let d = p.delay(a, j);
            let plain = p.delay(a, 1.0);
            prop_assert!(d >= plain * 8 / 10 && d <= plain * 12 / 10);
            prop_assert!(p.delay(a + 1, 1.0) >= plain);
            prop_assert!(d > Duration::zero());
        }
    }
}
