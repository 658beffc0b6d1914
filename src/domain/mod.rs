//! The domain: pure types and rules. Nothing in here does I/O, awaits, or
//! knows about SQL. Every value that comes from outside (a phone number, a
//! language code, a cron expression, an offset like `24h`) is parsed into a
//! newtype here once, and the rest of the code never re-validates it.

pub mod access;
pub mod api_scope;
pub mod broadcast;
pub mod calendar_feed;
pub mod channel_choice;
pub mod enums;
pub mod event_hooks;
pub mod gates;
pub mod ids;
pub mod journal;
pub mod link;
pub mod matching;
pub mod name;
pub mod outcomes;
pub mod phase;
pub mod phone;
pub mod recurrence;
pub mod reply;
pub mod retention;
pub mod retry;
pub mod review;
pub mod schedule;
pub mod sign_in;
pub mod span;
pub mod spreadsheet;
pub mod template;
pub mod throttle;
pub mod trials;
pub mod urgency;
pub mod wall_clock;
pub mod window;

pub use enums::*;
pub use ids::*;
pub use name::Name;
pub use phase::Phase;
pub use phone::PhoneNumber;
pub use span::Span;

/// Times written as numbers, for the tests of the time-keeping modules.
#[cfg(test)]
pub(crate) mod test_times {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};

    /// A wall-clock time.
    pub fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, mo, d)
            .unwrap()
            .and_hms_opt(h, mi, 0)
            .unwrap()
    }

    /// The same numbers as an instant in UTC.
    pub fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.from_utc_datetime(&at(y, mo, d, h, mi))
    }
}
