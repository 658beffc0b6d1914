//! Durations as people write them in rules and on the command line:
//! `24h`, `2h`, `30m`, `1d`, `1h30m`. Stored as whole minutes.

use serde::{Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A positive length of time in whole minutes, at most 60 days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span(u32);

const MAX_MINUTES: u32 = 60 * 24 * 60;

impl Span {
    pub fn minutes(m: u32) -> Result<Self, String> {
        if m == 0 || m > MAX_MINUTES {
            Err(format!(
                "a time span must be between 1 minute and 60 days, not {m} minutes"
            ))
        } else {
            Ok(Span(m))
        }
    }
    pub fn as_minutes(self) -> u32 {
        self.0
    }
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::minutes(i64::from(self.0))
    }
    /// Parses a comma-separated list (`24h,2h,30m`), sorted longest first,
    /// without duplicates.
    pub fn parse_list(s: &str) -> Result<Vec<Span>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(part.parse::<Span>()?);
        }
        out.sort_by(|a, b| b.cmp(a));
        out.dedup();
        Ok(out)
    }
}

impl FromStr for Span {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_lowercase();
        let bad = || {
            format!(
                "'{}' is not a time span; write e.g. 24h, 2h, 30m or 1d",
                s.trim()
            )
        };
        if t.is_empty() {
            return Err(bad());
        }
        let mut total: u64 = 0;
        let mut digits = String::new();
        for c in t.chars() {
            if c.is_ascii_digit() {
                digits.push(c);
                continue;
            }
            let unit = match c {
                'd' => 24 * 60,
                'h' | 't' => 60,
                'm' => 1,
                _ => return Err(bad()),
            };
            let n: u64 = digits.parse().map_err(|_| bad())?;
            digits.clear();
            total = total.saturating_add(n.saturating_mul(unit));
        }
        if !digits.is_empty() {
            return Err(bad());
        }
        Span::minutes(u32::try_from(total).unwrap_or(u32::MAX))
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        match (m / 60, m % 60) {
            (0, mm) => write!(f, "{mm}m"),
            (h, 0) => write!(f, "{h}h"),
            (h, mm) => write!(f, "{h}h{mm}m"),
        }
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse_as_written() {
        assert_eq!("24h".parse::<Span>().unwrap().as_minutes(), 1440);
        assert_eq!("2h".parse::<Span>().unwrap().as_minutes(), 120);
        assert_eq!("30m".parse::<Span>().unwrap().as_minutes(), 30);
        assert_eq!("1d".parse::<Span>().unwrap().as_minutes(), 1440);
        assert_eq!("1h30m".parse::<Span>().unwrap().as_minutes(), 90);
        assert_eq!("2t".parse::<Span>().unwrap().as_minutes(), 120);
        for bad in ["", "h", "24", "0m", "-2h", "2 hours", "61d"] {
            assert!(bad.parse::<Span>().is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_are_sorted_longest_first_without_duplicates() {
        let l = Span::parse_list("2h, 24h,30m,2h").unwrap();
        let shown: Vec<String> = l.iter().map(Span::to_string).collect();
        assert_eq!(shown, ["24h", "2h", "30m"]);
        assert!(Span::parse_list("24h,soon").is_err());
    }
}
