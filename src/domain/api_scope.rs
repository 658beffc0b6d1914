//! What an API token may do: read only or read and write, in one unit or in
//! every unit, until it expires. Pure rules; `web::api` asks them for every
//! request, `store::tokens` stores them.

use super::UnitId;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// A new token's lifetime unless `token create --expires-in-days` says
/// otherwise.
pub const DEFAULT_TOKEN_DAYS: i64 = 90;
/// The longest lifetime a token can be given.
pub const MAX_TOKEN_DAYS: i64 = 3650;

/// Read only, or read and write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenAccess {
    Read,
    Write,
}

impl std::str::FromStr for TokenAccess {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "read" => Ok(TokenAccess::Read),
            "write" => Ok(TokenAccess::Write),
            _ => Err(format!("'{s}' is not a token access: read or write")),
        }
    }
}

/// A token's scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TokenScope {
    pub access: TokenAccess,
    /// `None`: every unit.
    pub unit: Option<UnitId>,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 401: the token has expired.
    Expired,
    /// 403: a write with a read-only token.
    ReadOnly,
    /// 403: data of a unit outside the token's.
    OtherUnit,
}

impl TokenScope {
    /// May a request that writes (`writes`) reach data of `unit` (`None`:
    /// no unit known yet, e.g. a list) at `now` with a token expiring at
    /// `expires_at`?
    pub fn check(
        &self,
        writes: bool,
        unit: Option<UnitId>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        if expires_at.is_some_and(|e| now >= e) {
            return Err(Refusal::Expired);
        }
        if writes && self.access == TokenAccess::Read {
            return Err(Refusal::ReadOnly);
        }
        if !self.in_unit(unit) {
            return Err(Refusal::OtherUnit);
        }
        Ok(())
    }

    /// Whether data of `unit` is inside the scope (`None`: not tied to a
    /// unit, so only an every-unit token's business is decided elsewhere).
    pub fn in_unit(&self, unit: Option<UnitId>) -> bool {
        match (self.unit, unit) {
            (Some(mine), Some(theirs)) => mine == theirs,
            _ => true,
        }
    }
}

/// The expiry of a token made at `now` to live `days` days (1 to
/// [`MAX_TOKEN_DAYS`]).
pub fn expiry(now: DateTime<Utc>, days: i64) -> Result<DateTime<Utc>, String> {
    if !(1..=MAX_TOKEN_DAYS).contains(&days) {
        return Err(format!(
            "a token lives 1-{MAX_TOKEN_DAYS} days (the default is {DEFAULT_TOKEN_DAYS})"
        ));
    }
    Ok(now + Duration::days(days))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap()
    }

    #[test]
    fn the_table() {
        let u1 = Some(UnitId::from_db(1));
        let u2 = Some(UnitId::from_db(2));
        let read_all = TokenScope {
            access: TokenAccess::Read,
            unit: None,
        };
        let write_u1 = TokenScope {
            access: TokenAccess::Write,
            unit: u1,
        };
        let later = Some(now() + Duration::days(1));
        assert_eq!(read_all.check(false, u2, later, now()), Ok(()));
        assert_eq!(
            read_all.check(true, u2, later, now()),
            Err(Refusal::ReadOnly)
        );
        assert_eq!(write_u1.check(true, u1, later, now()), Ok(()));
        assert_eq!(
            write_u1.check(false, u2, later, now()),
            Err(Refusal::OtherUnit)
        );
        assert_eq!(write_u1.check(false, None, later, now()), Ok(()));
        assert_eq!(
            write_u1.check(false, u1, Some(now()), now()),
            Err(Refusal::Expired)
        );
        assert_eq!(write_u1.check(false, u1, None, now()), Ok(()), "no expiry");
    }

    #[test]
    fn lifetimes_are_bounded() {
        assert_eq!(expiry(now(), 90).unwrap(), now() + Duration::days(90));
        assert!(expiry(now(), 0).is_err());
        assert!(expiry(now(), MAX_TOKEN_DAYS + 1).is_err());
        assert_eq!("READ".parse::<TokenAccess>(), Ok(TokenAccess::Read));
        assert!("admin".parse::<TokenAccess>().is_err());
    }

    proptest! {
        /// An expired token is refused whatever else holds; a read-only
        /// token never writes; a unit token never reaches another unit.
        #[test]
        fn laws(write in any::<bool>(), read_only in any::<bool>(), mine in 1i64..4, theirs in 1i64..4,
                all in any::<bool>(), left in -100i64..100) {
            let scope = TokenScope {
                access: if read_only { TokenAccess::Read } else { TokenAccess::Write },
                unit: (!all).then(|| UnitId::from_db(mine)),
            };
            let exp = Some(now() + Duration::minutes(left));
            let r = scope.check(write, Some(UnitId::from_db(theirs)), exp, now());
            if left <= 0 { prop_assert_eq!(r, Err(Refusal::Expired)); }
            else if write && read_only { prop_assert_eq!(r, Err(Refusal::ReadOnly)); }
            else if !all && mine != theirs { prop_assert_eq!(r, Err(Refusal::OtherUnit)); }
            else { prop_assert_eq!(r, Ok(())); }
        }
    }
}
