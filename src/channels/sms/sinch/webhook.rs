//! What Sinch posts to our webhooks, as JSON: an inbound SMS (`id`,
//! `from`, `to` = [number], `body`; numbers without the leading `+`, which
//! is added) or a per-recipient delivery report (`batch_id`, `recipient`,
//! `status` = Queued | Dispatched | Delivered | Failed | ..., `code`).
//! Sinch's callbacks carry no signature we check: the caller proves itself
//! with the shared secret, as the HTTP Basic password or `?secret=`. The
//! statuses are the shared vocabulary; the answer is an empty 200.

use super::NAME;
use crate::channels::sms::webhook::{
    Event, Fields, Kind, ParseError, WebhookHandler, inbound_event, status_event,
};
use serde_json::Value;

/// Sinch's side of the webhooks.
#[derive(Debug, Clone, Copy)]
pub struct Webhook;

/// The JSON object's strings and numbers by name (and the first of `to`).
fn fields(body: &[u8]) -> Result<Fields, ParseError> {
    let text = std::str::from_utf8(body).map_err(|_| ParseError::NotUtf8)?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m
            .into_iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                Value::Number(n) => Some((k, n.to_string())),
                Value::Array(a) if k == "to" => a
                    .first()
                    .and_then(Value::as_str)
                    .map(|s| (k, s.to_string())),
                _ => None,
            })
            .collect()),
        _ => Err(ParseError::NotJsonObject),
    }
}

impl WebhookHandler for Webhook {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse(&self, kind: Kind, body: &[u8]) -> Result<Event, ParseError> {
        let f = fields(body)?;
        match kind {
            Kind::Inbound => {
                let mut e = inbound_event(NAME, &f, "id", "from", "body")?;
                // Sinch sends numbers without the leading +.
                if let Event::Inbound { from, .. } = &mut e
                    && !from.starts_with('+')
                {
                    from.insert(0, '+');
                }
                Ok(e)
            }
            Kind::Status => status_event(&f, "batch_id", "status"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::sms::webhook::Reply;
    use crate::domain::OutboxStatus;

    #[test]
    fn inbound_and_status_fields() {
        let sinch = br#"{"id": "01X", "from": "46701234567", "to": ["46766860000"], "body": "ja"}"#;
        assert_eq!(
            Webhook.parse(Kind::Inbound, sinch),
            Ok(Event::Inbound {
                gateway_id: "sinch:01X".into(),
                from: "+46701234567".into(),
                text: "ja".into()
            })
        );
        let report = br#"{"type": "recipient_delivery_report_sms", "batch_id": "b1", "recipient": "46701234567", "status": "Failed", "code": 402}"#;
        assert_eq!(
            Webhook.parse(Kind::Status, report),
            Ok(Event::Status {
                id: "b1".into(),
                status: "Failed".into(),
                error: Some("402".into())
            })
        );
        assert_eq!(
            Webhook.parse(Kind::Status, b"[1]"),
            Err(ParseError::NotJsonObject)
        );
    }

    #[test]
    fn a_nul_is_dropped_from_the_text_and_refused_elsewhere() {
        let sinch = br#"{"id": "01X", "from": "46701234567", "body": "ja\u0000"}"#;
        assert!(matches!(
            Webhook.parse(Kind::Inbound, sinch),
            Ok(Event::Inbound { ref text, .. }) if text == "ja"
        ));
        assert_eq!(
            Webhook.parse(
                Kind::Status,
                br#"{"batch_id": "b\u0000", "status": "Delivered"}"#
            ),
            Err(ParseError::Nul("batch_id"))
        );
    }

    #[test]
    fn statuses_map_and_the_answer_is_empty() {
        assert_eq!(
            Webhook.outbox_status("Dispatched"),
            Some(OutboxStatus::Sent)
        );
        assert_eq!(
            Webhook.outbox_status("Delivered"),
            Some(OutboxStatus::Delivered)
        );
        assert_eq!(Webhook.outbox_status("Queued"), None);
        assert_eq!(Webhook.reply(Kind::Inbound), Reply::EMPTY);
        assert_eq!(Webhook.reply(Kind::Status), Reply::EMPTY);
    }
}
