//! Any bytes as a CSV file to import: `paminn::import::parse` must never
//! panic, and every line it names (a good row's or a line error's) must be
//! a line of the file (the same laws as the proptest
//! `any_bytes_are_read_without_panicking` in src/import.rs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = paminn::import::parse(data) {
        let lines = data.iter().filter(|b| **b == b'\n').count() as u64 + 1;
        for line in parsed
            .rows
            .iter()
            .map(|r| r.line)
            .chain(parsed.errors.iter().map(|e| e.line))
        {
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
        }
    }
});
