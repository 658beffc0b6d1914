//! Any bytes a gateway or Telegram could post to a webhook: read as every
//! SMS gateway's inbound and status body (46elks and Twilio forms, Sinch
//! JSON) and as a Telegram update, with what the bot then reads from it
//! (text, reply, callback data). Nothing may panic, and a parsed SMS text
//! never carries a NUL (`parse_all` checks it). The proptests
//! `arbitrary_bytes_never_panic` and `arbitrary_fields_never_panic` in
//! src/channels/sms/webhook.rs run the same on every `cargo test`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paminn::channels::sms::webhook::parse_all;
use paminn::channels::telegram::parse_update_all;

fuzz_target!(|data: &[u8]| {
    parse_all(data);
    parse_update_all(data);
});
