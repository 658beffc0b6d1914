//! A participant's programme phase: the step of the programme they are in
//! ("Kartläggning", "Praktik", "Inslussning", "Efterstöd"). Every programme
//! names its own steps, so phases are labels a unit writes, not a closed
//! list in code (like a test provider or a venue: data, not code). Staff
//! filter broadcasts by them; a phase never appears in a message.

use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A phase label: trimmed, runs of whitespace made one space, 1-40
/// characters, no control characters. Two labels that differ only in
/// spacing are the same label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Phase(String);

/// The longest label, in characters.
pub const MAX_CHARS: usize = 40;

impl Phase {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// A value read back from the database, written by `parse` before.
    pub fn from_db(s: String) -> Self {
        Phase(s)
    }
}

impl FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.chars().any(char::is_control) {
            return Err("a programme phase is one line without control characters".into());
        }
        let label = s.split_whitespace().collect::<Vec<_>>().join(" ");
        let n = label.chars().count();
        if n == 0 || n > MAX_CHARS {
            return Err(format!(
                "a programme phase is 1-{MAX_CHARS} characters (e.g. Kartläggning, Praktik), not {n}"
            ));
        }
        Ok(Phase(label))
    }
}

impl TryFrom<String> for Phase {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A unit's own phase label in the API's OpenAPI document.
impl utoipa::PartialSchema for Phase {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(40))
            .into()
    }
}
impl utoipa::ToSchema for Phase {}

impl Serialize for Phase {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn labels_staff_write() {
        for (input, want) in [
            ("Praktik", "Praktik"),
            ("  Kartläggning ", "Kartläggning"),
            ("Fas 2   arbete", "Fas 2 arbete"),
            ("Efterstöd\u{a0}efter avslut", "Efterstöd efter avslut"),
        ] {
            assert_eq!(input.parse::<Phase>().unwrap().as_str(), want, "{input:?}");
        }
    }

    #[test]
    fn refuses_empty_long_and_multiline() {
        for bad in [
            "",
            "   ",
            "Praktik\nFas 2",
            "a\tb",
            &"x".repeat(MAX_CHARS + 1),
        ] {
            let err = bad.parse::<Phase>().unwrap_err();
            assert!(err.contains("programme phase"), "{bad:?}: {err}");
        }
        assert!("ö".repeat(MAX_CHARS).parse::<Phase>().is_ok());
    }

    proptest! {
        /// Parsing is idempotent: a stored label parses to itself, so a
        /// label read back and typed again is the same filter.
        #[test]
        fn parse_is_idempotent(s in "\\PC{0,60}") {
            if let Ok(p) = s.parse::<Phase>() {
                let again = p.as_str().parse::<Phase>().unwrap();
                prop_assert_eq!(&again, &p);
                prop_assert!(p.as_str().chars().count() <= MAX_CHARS);
                prop_assert!(!p.as_str().starts_with(' ') && !p.as_str().ends_with(' '));
                prop_assert!(!p.as_str().contains("  "));
            }
        }
    }
}
