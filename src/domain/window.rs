//! The window of sane appointment times: by default one year back and five
//! years ahead of now. A time outside it is almost always a typo (`9999`,
//! `0000`, `1900`) or a misread date (`10.12.26` as year 26), and once
//! stored it would plan reminders nobody wants, or none at all without a
//! word. Every way in (API, staff UI, CLI, CSV) goes through
//! [`Window::check`] via the engine's booking, so the rule lives here once.
//! Operators widen it with `appointment_years_back` / `appointment_years_ahead`.

use chrono::{DateTime, Months, Utc};

/// How far back and ahead of now an appointment may be, in whole years.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub years_back: u32,
    pub years_ahead: u32,
}

impl Default for Window {
    fn default() -> Self {
        Window {
            years_back: 1,
            years_ahead: 5,
        }
    }
}

/// A time outside the window, with what the window is (the error text says
/// why and what is accepted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideWindow {
    pub start: DateTime<Utc>,
    pub earliest: DateTime<Utc>,
    pub latest: DateTime<Utc>,
    pub window: Window,
}

fn years(n: u32) -> String {
    if n == 1 {
        "1 year".into()
    } else {
        format!("{n} years")
    }
}

impl std::fmt::Display for OutsideWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let side = if self.start < self.earliest {
            "too far back"
        } else {
            "too far ahead"
        };
        write!(
            f,
            "{} is {side}: appointment times must be between {} and {} ({} back, {} ahead; \
             a date outside that is most likely a typo; the operator can change the window with \
             appointment_years_back / appointment_years_ahead)",
            self.start.format("%Y-%m-%d"),
            self.earliest.format("%Y-%m-%d"),
            self.latest.format("%Y-%m-%d"),
            years(self.window.years_back),
            years(self.window.years_ahead),
        )
    }
}

impl std::error::Error for OutsideWindow {}

impl Window {
    /// The first and last accepted instant, seen from `now` (calendar
    /// years: from 2026-12-05 the default is 2025-12-05 to 2031-12-05).
    pub fn bounds(&self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let earliest = now
            .checked_sub_months(Months::new(self.years_back.saturating_mul(12)))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let latest = now
            .checked_add_months(Months::new(self.years_ahead.saturating_mul(12)))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        (earliest, latest)
    }

    /// Whether `start` may be booked at `now`; the bounds are included.
    pub fn check(&self, start: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), OutsideWindow> {
        let (earliest, latest) = self.bounds(now);
        if (earliest..=latest).contains(&start) {
            Ok(())
        } else {
            Err(OutsideWindow {
                start,
                earliest,
                latest,
                window: *self,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 9, 0, 0).unwrap()
    }

    #[test]
    fn the_issue_s_dates_are_refused_with_the_window_in_the_reason() {
        let now = at(2026, 12, 5);
        let w = Window::default();
        for (y, m, d) in [(9999, 12, 31), (1, 1, 1), (1900, 1, 1), (26, 12, 10)] {
            let e = w.check(at(y, m, d), now).unwrap_err();
            let text = e.to_string();
            assert!(
                text.contains("2025-12-05") && text.contains("2031-12-05"),
                "{text}"
            );
            assert!(text.contains("1 year back, 5 years ahead"), "{text}");
        }
        assert!(
            w.check(at(9999, 12, 31), now)
                .unwrap_err()
                .to_string()
                .contains("too far ahead")
        );
        assert!(
            w.check(at(1900, 1, 1), now)
                .unwrap_err()
                .to_string()
                .contains("too far back")
        );
    }

    #[test]
    fn the_bounds_are_included_and_ordinary_times_pass() {
        let now = at(2026, 12, 5);
        let w = Window::default();
        let (lo, hi) = w.bounds(now);
        assert_eq!((lo, hi), (at(2025, 12, 5), at(2031, 12, 5)));
        assert!(w.check(lo, now).is_ok() && w.check(hi, now).is_ok());
        assert!(w.check(lo - chrono::Duration::seconds(1), now).is_err());
        assert!(w.check(hi + chrono::Duration::seconds(1), now).is_err());
        for s in [at(2026, 12, 10), at(2026, 1, 1), at(2030, 6, 1)] {
            assert!(w.check(s, now).is_ok());
        }
        let wide = Window {
            years_back: 0,
            years_ahead: 50,
        };
        assert!(wide.check(at(2070, 1, 1), now).is_ok());
        assert!(wide.check(at(2026, 12, 4), now).is_err());
    }

    #[test]
    fn an_absurd_configuration_saturates_instead_of_panicking() {
        let w = Window {
            years_back: u32::MAX,
            years_ahead: u32::MAX,
        };
        let now = at(2026, 12, 5);
        assert!(w.check(at(1, 1, 1), now).is_ok());
        assert!(w.check(at(9999, 12, 31), now).is_ok());
    }

    proptest! {
        /// The law: accepted exactly when between the bounds, and the
        /// bounds bracket now.
        #[test]
        fn accepted_iff_between_the_bounds(
            now_s in 0i64..4_000_000_000,
            start_s in -70_000_000_000i64..250_000_000_000,
            back in 0u32..30,
            ahead in 0u32..30,
        ) {
            let now = Utc.timestamp_opt(now_s, 0).unwrap();
            let start = Utc.timestamp_opt(start_s, 0).unwrap();
            let w = Window { years_back: back, years_ahead: ahead };
            let (lo, hi) = w.bounds(now);
            prop_assert!(lo <= now && now <= hi);
            prop_assert_eq!(w.check(start, now).is_ok(), lo <= start && start <= hi);
        }
    }
}
