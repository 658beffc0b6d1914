//! The limits on password checks (login and password change), as pure
//! rules over what the `login_throttle` table counted. The engine counts an
//! attempt first (`store::web::throttle_count`, row locked), asks
//! [`refused_until`] for each limit, and only when none refuses records the
//! check ([`after_check`]) and runs Argon2.
//!
//! Three limits, each its own row:
//! - [`Limit::UserClient`]: one username from one client address. Three
//!   checks are free, then each waits 5 s, doubling up to 15 minutes
//!   (`access::login_wait`); a success clears it. Keyed by client too, so
//!   an attacker's wrong tries never lock the real user out elsewhere.
//! - [`Limit::Client`]: one client address, any usernames: at most
//!   [`CLIENT_MAX_CHECKS`] checks per [`CLIENT_WINDOW`] (spraying many
//!   usernames from one place).
//! - [`Limit::Global`]: everything: at most [`GLOBAL_MAX_CHECKS`] per
//!   [`GLOBAL_WINDOW`] (spraying from many places is slowed to that rate).
//!
//! A successful check is handed back to the client and global budgets
//! (`store::web::throttle_refund`), so they count failures and checks in
//! flight: an office behind one address logging in every morning is not
//! limited by its own successes.

use super::access::login_wait;
use chrono::{DateTime, Duration, Utc};

pub const CLIENT_WINDOW: Duration = Duration::minutes(10);
pub const CLIENT_MAX_CHECKS: i64 = 30;
pub const GLOBAL_WINDOW: Duration = Duration::minutes(1);
pub const GLOBAL_MAX_CHECKS: i64 = 120;

/// Which limit a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Limit {
    Global,
    Client,
    UserClient,
}

/// A row as counted, before this attempt's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub checks: i64,
    pub window_start: DateTime<Utc>,
    pub last_check_at: DateTime<Utc>,
}

fn window(limit: Limit) -> Option<(Duration, i64)> {
    match limit {
        Limit::Global => Some((GLOBAL_WINDOW, GLOBAL_MAX_CHECKS)),
        Limit::Client => Some((CLIENT_WINDOW, CLIENT_MAX_CHECKS)),
        Limit::UserClient => None,
    }
}

/// When this limit refuses an attempt at `now`: until when.
pub fn refused_until(limit: Limit, c: &Counted, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match window(limit) {
        None => login_wait(c.checks, c.last_check_at, now),
        Some((w, max)) => {
            let end = c.window_start + w;
            (now < end && c.checks >= max).then_some(end)
        }
    }
}

/// The row's (checks, window start) once a check at `now` is let through.
pub fn after_check(limit: Limit, c: &Counted, now: DateTime<Utc>) -> (i64, DateTime<Utc>) {
    match window(limit) {
        Some((w, _)) if now >= c.window_start + w => (1, now),
        _ => (c.checks + 1, c.window_start),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    /// Runs `n` attempts at `now` through one limit, as the engine does
    /// (serialised by the row lock): how many were let through.
    fn run(limit: Limit, start: Counted, n: usize, now: DateTime<Utc>) -> (usize, Counted) {
        let mut c = start;
        let mut let_through = 0;
        for _ in 0..n {
            if refused_until(limit, &c, now).is_none() {
                let (checks, window_start) = after_check(limit, &c, now);
                c = Counted {
                    checks,
                    window_start,
                    last_check_at: now,
                };
                let_through += 1;
            }
        }
        (let_through, c)
    }

    fn fresh(now: DateTime<Utc>) -> Counted {
        Counted {
            checks: 0,
            window_start: now,
            last_check_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_burst_gets_only_the_free_checks() {
        let now = t0();
        assert_eq!(run(Limit::UserClient, fresh(now), 100, now).0, 3);
        assert_eq!(run(Limit::Client, fresh(now), 100, now).0, 30);
        assert_eq!(run(Limit::Global, fresh(now), 1000, now).0, 120);
    }

    #[test]
    fn windows_start_again_when_they_end() {
        let now = t0();
        let (_, c) = run(Limit::Client, fresh(now), 30, now);
        assert_eq!(
            refused_until(Limit::Client, &c, now + Duration::minutes(9)),
            Some(now + CLIENT_WINDOW)
        );
        let later = now + CLIENT_WINDOW;
        assert_eq!(refused_until(Limit::Client, &c, later), None);
        assert_eq!(after_check(Limit::Client, &c, later), (1, later));
        let (_, g) = run(Limit::Global, fresh(now), 120, now);
        assert!(refused_until(Limit::Global, &g, now + Duration::seconds(59)).is_some());
        assert!(refused_until(Limit::Global, &g, now + Duration::seconds(60)).is_none());
    }

    #[test]
    fn one_username_and_client_waits_and_doubles() {
        let now = t0();
        let (_, c) = run(Limit::UserClient, fresh(now), 3, now);
        assert_eq!(
            refused_until(Limit::UserClient, &c, now),
            Some(now + Duration::seconds(5))
        );
        let later = now + Duration::seconds(5);
        let (n, c) = run(Limit::UserClient, c, 10, later);
        assert_eq!(n, 1);
        assert_eq!(
            refused_until(Limit::UserClient, &c, later),
            Some(later + Duration::seconds(10))
        );
    }

    proptest! {
        /// However many attempts come at once, a limit lets through no more
        /// than its budget, and the budget is never exceeded within a window.
        #[test]
        fn a_burst_never_exceeds_the_budget(n in 0usize..500, checks in 0i64..200, ago in 0i64..1200) {
            let now = t0();
            let start = Counted { checks, window_start: now - Duration::seconds(ago), last_check_at: now - Duration::seconds(ago) };
            for limit in [Limit::Global, Limit::Client] {
                let (w, max) = window(limit).unwrap();
                let (through, end) = run(limit, start, n, now);
                let fresh_window = now >= start.window_start + w;
                let budget = if fresh_window { max } else { (max - checks).max(0) };
                prop_assert_eq!(through as i64, budget.min(n as i64));
                prop_assert!(end.checks <= max.max(checks));
            }
            let (through, _) = run(Limit::UserClient, start, n, now);
            prop_assert!(through as i64 <= (3 - checks).max(1));
        }
    }
}
