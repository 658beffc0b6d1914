//! Any bytes a gateway could hand us, read as a reply in both languages.
//! `parse` must never panic, must give the same answer twice, and a reason
//! must be a non-empty piece of what the participant wrote, at most 200
//! characters long (the same laws as the proptest in src/domain/reply.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;
use paminn::domain::Language;
use paminn::domain::reply::{Intent, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for lang in [Language::Sv, Language::En] {
        let intent = parse(&text, lang);
        if let Intent::Cannot {
            reason: Some(reason),
        } = &intent
        {
            assert!(reason.chars().count() <= 200, "reason too long: {reason:?}");
            assert!(
                reason.chars().any(char::is_alphanumeric),
                "empty reason: {reason:?}"
            );
            assert!(
                text.contains(reason.as_str()),
                "reason not from the text: {reason:?}"
            );
        }
        assert_eq!(parse(&text, lang), intent);
    }
});
