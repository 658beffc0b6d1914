//! Phone numbers in E.164. Staff type numbers every way (`070-123 45 67`,
//! `0046701234567`, `+358 40 ...`); `PhoneNumber::parse` accepts them all,
//! with Sweden as the default region, and only keeps numbers the numbering
//! plan says are valid (the `phonenumber` crate happily parses "12345").
//! Letters are refused: the crate reads them as keypad digits, so a typo
//! like `+4670123456a` would become `+46701234562`, someone else's number.
//!
//! A participant's number is where their SMS go, so it must be a mobile
//! number (`PhoneNumber::parse_mobile`): a landline, a premium-rate or a
//! toll-free number is refused with what it is. `parse` (any valid number)
//! is kept for looking a number up, e.g. the sender of an inbound SMS.

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
    #[error("a phone number cannot contain {0}; write only digits, spaces, dashes and a leading +")]
    NotADigit(String),
    #[error("'{masked}' is {kind}; SMS go only to mobile numbers")]
    NotMobile { masked: String, kind: &'static str },
}

/// The characters a typed number may hold besides digits: a leading `+`,
/// spaces, dashes, dots, slashes and brackets.
fn allowed(c: char) -> bool {
    c.is_ascii_digit() || c.is_whitespace() || matches!(c, '+' | '-' | '.' | '/' | '(' | ')')
}

/// What a character that is not part of a number is, for the error
/// (never the number itself).
fn describe(c: char) -> String {
    if c.is_alphabetic() {
        format!("letters ('{c}')")
    } else if c.is_control() || c.is_whitespace() {
        format!("the invisible character U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}

/// What a number that is not a mobile number is, in words.
fn kind_name(t: phonenumber::Type) -> &'static str {
    use phonenumber::Type;
    match t {
        Type::FixedLine => "a landline number",
        Type::PremiumRate => "a premium-rate number",
        Type::TollFree => "a toll-free number",
        Type::SharedCost => "a shared-cost number",
        Type::Voip => "an IP telephony number",
        Type::PersonalNumber => "a personal (forwarding) number",
        Type::Pager => "a pager number",
        Type::Uan | Type::Carrier => "a company switchboard number",
        Type::Voicemail => "a voicemail number",
        _ => "not a mobile number",
    }
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
        Self::parse_full(input, region).map(|(p, _)| p)
    }

    /// Parses a number that SMS will be sent to: it must be valid and a
    /// mobile number (or one the numbering plan cannot tell from a
    /// landline, as in the US). Swedish by default, like `parse`.
    pub fn parse_mobile(input: &str) -> Result<Self, PhoneError> {
        let (p, t) = Self::parse_full(input, phonenumber::country::Id::SE)?;
        match t {
            phonenumber::Type::Mobile | phonenumber::Type::FixedLineOrMobile => Ok(p),
            other => Err(PhoneError::NotMobile {
                masked: p.masked(),
                kind: kind_name(other),
            }),
        }
    }

    /// The number and its type in the numbering plan.
    fn parse_full(
        input: &str,
        region: phonenumber::country::Id,
    ) -> Result<(Self, phonenumber::Type), PhoneError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(PhoneError::Empty);
        }
        if let Some(c) = trimmed.chars().find(|c| !allowed(*c)) {
            return Err(PhoneError::NotADigit(describe(c)));
        }
        // Spacing and punctuation go first: the library refuses some
        // groupings ("+4670-123-4567") it accepts written otherwise.
        let digits: String = trimmed
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        // "0046..." is the Swedish way to dial an international prefix; the
        // library only knows "+" and the region's own prefix, so normalise it.
        let normalised = match digits.strip_prefix("00") {
            Some(rest) => format!("+{rest}"),
            None => digits,
        };
        let parsed = phonenumber::parse(Some(region), &normalised)
            .map_err(|_| PhoneError::Unparseable(mask(trimmed)))?;
        if !phonenumber::is_valid(&parsed) {
            return Err(PhoneError::Invalid(mask(trimmed)));
        }
        let kind = parsed.number_type(&phonenumber::metadata::DATABASE);
        Ok((
            Self(parsed.format().mode(phonenumber::Mode::E164).to_string()),
            kind,
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

/// E.164 in the API's OpenAPI document.
impl utoipa::PartialSchema for PhoneNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^\+[1-9][0-9]{6,14}$"))
            .examples(["+46701234567"])
            .into()
    }
}
impl utoipa::ToSchema for PhoneNumber {}

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

    #[test]
    fn letters_and_other_signs_are_refused_not_read_as_keypad_digits() {
        for typed in [
            "+4670123456a",
            "070-CALL-ME",
            "0701234567 ext",
            "070123456\u{0}7",
            "070*1234567",
        ] {
            let e = PhoneNumber::parse(typed).unwrap_err();
            assert!(matches!(e, PhoneError::NotADigit(_)), "{typed}: {e}");
            assert!(PhoneNumber::parse_mobile(typed).is_err(), "{typed}");
        }
        let e = PhoneNumber::parse("+4670123456a").unwrap_err().to_string();
        assert!(e.contains("letters ('a')") && !e.contains("70123"), "{e}");
        // Brackets, dots and slashes people type are fine.
        assert_eq!(
            PhoneNumber::parse_mobile("(070) 123.45/67")
                .unwrap()
                .as_e164(),
            "+46701234567"
        );
    }

    #[test]
    fn sms_numbers_must_be_mobile_and_say_what_they_are_otherwise() {
        for (typed, kind) in [
            ("08-123 456 78", "landline"),
            ("031-123 45 67", "landline"),
            ("+46 900 123 45 67", "premium-rate"),
            ("0939-123 456", "premium-rate"),
            ("020-123 456", "toll-free"),
        ] {
            PhoneNumber::parse(typed).unwrap_or_else(|e| panic!("{typed} is valid: {e}"));
            let e = PhoneNumber::parse_mobile(typed).unwrap_err().to_string();
            assert!(e.contains(kind) && e.contains("mobile"), "{typed}: {e}");
            assert!(!e.contains("123 45"), "{e}");
        }
        for (typed, e164) in [
            ("070-123 45 67", "+46701234567"),
            ("+46766861004", "+46766861004"),
            ("+4670-123-4567", "+46701234567"),
            ("+46 (0)70-123 45 67", "+46701234567"),
            ("+358 40 123 4567", "+358401234567"),
            ("0047 412 34 567", "+4741234567"),
            ("+44 7911 123456", "+447911123456"),
            // The US plan cannot tell mobiles from landlines: accepted.
            ("+1 201 555 0123", "+12015550123"),
        ] {
            let p = PhoneNumber::parse_mobile(typed).unwrap_or_else(|e| panic!("{typed}: {e}"));
            assert_eq!(p.as_e164(), e164);
        }
    }

    mod laws {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any Swedish mobile number, typed with any spacing, dashes or
            /// prefix, is kept as the same E.164 number.
            #[test]
            fn swedish_mobiles_typed_any_way_are_kept(
                second in prop::sample::select(vec!['0', '2', '3', '6']),
                rest in "[0-9]{7}",
                prefix in prop::sample::select(vec!["0", "+46", "0046", "+46 "]),
                sep in prop::sample::select(vec!["", " ", "-"]),
            ) {
                let national = format!("7{second}{rest}");
                let typed = format!("{prefix}{}{sep}{}{sep}{}", &national[..2], &national[2..5], &national[5..]);
                let p = PhoneNumber::parse_mobile(&typed).unwrap();
                prop_assert_eq!(p.as_e164(), format!("+46{national}"));
            }

            /// A letter anywhere in a number is refused, never dropped or
            /// read as a digit.
            #[test]
            fn a_letter_anywhere_is_refused(
                digits in "[0-9]{9}",
                at in 0usize..10,
                letter in "[a-zA-ZåäöÅÄÖ]",
            ) {
                let mut typed = format!("0{digits}");
                typed.insert_str(at.min(typed.len()), &letter);
                prop_assert!(matches!(PhoneNumber::parse(&typed), Err(PhoneError::NotADigit(_))));
                prop_assert!(matches!(PhoneNumber::parse_mobile(&typed), Err(PhoneError::NotADigit(_))));
            }

            /// Whatever is typed, parsing answers without a panic, and a
            /// mobile number is always also a valid number.
            #[test]
            fn any_text_parses_or_is_refused(s in "\\PC{0,20}") {
                if let Ok(p) = PhoneNumber::parse_mobile(&s) {
                    prop_assert_eq!(PhoneNumber::parse(&s).unwrap(), p);
                }
            }
        }
    }
}
