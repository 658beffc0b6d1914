//! Typed ids. An `AppointmentId` can never be passed where a
//! `ParticipantId` is expected, and parsing rejects zero, negatives and
//! non-numbers with a message a person can act on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($name:ident, $what:literal) => {
        #[doc = concat!("The id of a ", $what, ": a positive integer.")]
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(i64);

        impl $name {
            /// Wraps a database id. Ids come from the database's sequences,
            /// so they are positive by construction.
            pub fn from_db(v: i64) -> Self {
                debug_assert!(
                    v > 0,
                    concat!($what, " id from the database must be positive")
                );
                Self(v)
            }
            pub fn get(self) -> i64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        /// For `#[sqlx(try_from = "i64")]` on rows read from the
        /// database; zero and negatives are refused.
        impl TryFrom<i64> for $name {
            type Error = String;
            fn try_from(v: i64) -> Result<Self, Self::Error> {
                if v > 0 {
                    Ok(Self(v))
                } else {
                    Err(format!(concat!("{} is not a ", $what, " id"), v))
                }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().parse::<i64>() {
                    Ok(v) if v > 0 => Ok(Self(v)),
                    _ => Err(format!(
                        concat!("'{}' is not a ", $what, " id (a positive whole number)"),
                        s
                    )),
                }
            }
        }

        /// A positive integer in the API's OpenAPI document.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::Integer)
                    .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                        utoipa::openapi::KnownFormat::Int64,
                    )))
                    .minimum(Some(1))
                    .description(Some(concat!("The id of a ", $what, ".")))
                    .into()
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

id_type!(UnitId, "unit");
id_type!(StaffId, "staff member");
id_type!(ParticipantId, "participant");
id_type!(AppointmentId, "appointment");
id_type!(SeriesId, "series");
id_type!(GroupId, "group");
id_type!(OutboxId, "outbox row");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_only_positive_integers() {
        assert_eq!("42".parse::<ParticipantId>().unwrap().get(), 42);
        assert_eq!(" 7 ".parse::<ParticipantId>().unwrap().get(), 7);
        for bad in ["0", "-1", "abc", "", "1.5"] {
            let err = bad.parse::<ParticipantId>().unwrap_err();
            assert!(err.contains("participant id"), "{bad}: {err}");
        }
    }
}
