//! Phone numbers in E.164. Staff type numbers every way (`070-123 45 67`,
//! `0046701234567`, `+358 40 ...`); `PhoneNumber::parse` accepts them all,
//! with Sweden as the default region, and only keeps numbers the numbering
//! plan says are valid (the `phonenumber` crate happily parses "12345").

use serde::{Serialize, Serializer};
use std::fmt;

/// A valid phone number, stored as E.164 (`+46701234567`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("phone number is empty")]
    Empty,
    #[error("'{0}' is not a phone number")]
    Unparseable(String),
    #[error("'{0}' is not a valid number in its country's numbering plan")]
    Invalid(String),
}

impl PhoneNumber {
    /// Parses a number as typed by a person; a number without a country
    /// code is taken as Swedish.
    pub fn parse(input: &str) -> Result<Self, PhoneError> {
        Self::parse_in_region(input, phonenumber::country::Id::SE)
    }

    pub fn parse_in_region(
        input: &str,
        region: phonenumber::country::Id,
    ) -> Result<Self, PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        // "0046..." is the Swedish way to dial an international prefix; the
        // library only knows "+" and the region's own prefix, so normalise it.
        let normalised = match trimmed.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => trimmed.to_string(),
        };
        let parsed = phonenumber::parse(Some(region), &normalised)
            .map_err(|_| PhoneError::Unparseable(mask(trimmed)))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid(mask(trimmed)));
        }
        Ok(Self(
            parsed.format().mode(phonenumber::Mode::E164).to_string(),
        ))
    }

    /// Re-wraps a number read back from our own database, where only
    /// parsed numbers are ever written.
    pub fn from_db(e164: String) -> Self {
        Self(e164)
    }

    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The form that may appear in logs and error messages: country code and
    /// the last two digits, e.g. `+46*******67`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

/// Masks all but the first three and last two characters of a number-like
/// string, so logs and errors never carry a whole number.
pub fn mask(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 5 {
        return "*".repeat(chars.len());
    }
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| {
            if i < 3 || i >= chars.len() - 2 {
                *c
            } else {
                '*'
            }
        })
        .collect()
}

/// Masks every phone-number-like run (6 or more digits, optionally with a
/// leading + and spaces or dashes inside) in free text, e.g. a gateway's
/// error message, before it goes to a log.
pub fn mask_numbers_in(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || (chars[i] == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len()
            && (chars[j].is_ascii_digit()
                || (matches!(chars[j], ' ' | '-')
                    && chars.get(j + 1).is_some_and(char::is_ascii_digit)))
        {
            j += 1;
        }
        let run: String = chars[i..j].iter().collect();
        if run.chars().filter(char::is_ascii_digit).count() >= 6 {
            out.push_str(&mask(&run));
        } else {
            out.push_str(&run);
        }
        i = j;
    }
    out
}

impl fmt::Display for PhoneNumber {
    /// Display is the masked form: a `PhoneNumber` that ends up in a log line
    /// by accident does not leak. Use `as_e164` where the full number is
    /// needed (sending, the database, the participant's own view).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swedish_numbers_typed_every_way_become_e164() {
        for typed in [
            "070-123 45 67",
            "0701234567",
            "+46 70 123 45 67",
            "0046701234567",
            "+46701234567",
            " 070 123 45 67 ",
        ] {
            let p = PhoneNumber::parse(typed).unwrap_or_else(|e| panic!("{typed}: {e}"));
            assert_eq!(p.as_e164(), "+46701234567", "{typed}");
        }
    }

    #[test]
    fn foreign_numbers_keep_their_country() {
        assert_eq!(
            PhoneNumber::parse("+358 40 123 4567").unwrap().as_e164(),
            "+358401234567"
        );
        assert_eq!(
            PhoneNumber::parse("0047 412 34 567").unwrap().as_e164(),
            "+4741234567"
        );
    }

    #[test]
    fn junk_and_impossible_numbers_are_rejected() {
        assert_eq!(PhoneNumber::parse("  "), Err(PhoneError::Empty));
        assert!(matches!(
            PhoneNumber::parse("12345"),
            Err(PhoneError::Invalid(_))
        ));
        assert!(PhoneNumber::parse("hej").is_err());
        assert!(PhoneNumber::parse("070-12").is_err());
    }

    #[test]
    fn numbers_inside_gateway_errors_are_masked_and_other_numbers_kept() {
        assert_eq!(
            mask_numbers_in("The 'To' number +46701234567 is not valid (code 21211)"),
            "The 'To' number +46*******67 is not valid (code 21211)"
        );
        assert_eq!(
            mask_numbers_in("070-123 45 67 failed"),
            "070********67 failed"
        );
        assert_eq!(
            mask_numbers_in("HTTP 503 after 10 s"),
            "HTTP 503 after 10 s"
        );
    }

    #[test]
    fn display_and_errors_never_show_the_whole_number() {
        let p = PhoneNumber::parse("0701234567").unwrap();
        assert_eq!(p.to_string(), "+46*******67");
        assert_eq!(format!("{p:?}"), "PhoneNumber(+46*******67)");
        let err = PhoneNumber::parse("+46 70 000").unwrap_err().to_string();
        assert!(!err.contains("70 000"), "{err}");
    }
}
