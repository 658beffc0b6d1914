//! What 46elks posts to our webhooks: an inbound SMS (`id`, `from`, `to`,
//! `message`) or a delivery report (`id`, `status` = sent | delivered |
//! failed), both as forms. 46elks has no signature: the caller proves
//! itself with the shared secret, as the HTTP Basic password or `?secret=`
//! (46elks' delivery-report URL carries credentials in the URL). The
//! statuses are the shared vocabulary; the answer is an empty 200.

use super::NAME;
use crate::channels::sms::webhook::{
    Event, Kind, ParseError, WebhookHandler, form_fields, inbound_event, status_event,
};

/// 46elks' side of the webhooks.
#[derive(Debug, Clone, Copy)]
pub struct Webhook;

impl WebhookHandler for Webhook {
    fn name(&self) -> &'static str {
        NAME
    }

    fn parse(&self, kind: Kind, body: &[u8]) -> Result<Event, ParseError> {
        let f = form_fields(body)?;
        match kind {
            Kind::Inbound => inbound_event(NAME, &f, "id", "from", "message"),
            Kind::Status => status_event(&f, "id", "status"),
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
        let elks = b"id=s1&from=%2B46701234567&to=%2B46766860000&message=Kommer%21";
        assert_eq!(
            Webhook.parse(Kind::Inbound, elks),
            Ok(Event::Inbound {
                gateway_id: "46elks:s1".into(),
                from: "+46701234567".into(),
                text: "Kommer!".into()
            })
        );
        assert_eq!(
            Webhook.parse(Kind::Status, b"id=s1&status=delivered&delivered=2026-01-01"),
            Ok(Event::Status {
                id: "s1".into(),
                status: "delivered".into(),
                error: None
            })
        );
        assert_eq!(
            Webhook.parse(Kind::Inbound, b"id=1&from=x"),
            Err(ParseError::Missing("message"))
        );
    }

    #[test]
    fn a_nul_is_dropped_from_the_text_and_refused_elsewhere() {
        let e = Webhook.parse(
            Kind::Inbound,
            b"id=s1&from=%2B46701234567&message=Kom%00mer",
        );
        assert!(
            matches!(e, Ok(Event::Inbound { ref text, .. }) if text == "Kommer"),
            "{e:?}"
        );
        for (body, field) in [
            (&b"id=s%001&from=%2B46701234567&message=ja"[..], "id"),
            (b"id=s1&from=%2B467%00&message=ja", "from"),
        ] {
            assert_eq!(
                Webhook.parse(Kind::Inbound, body),
                Err(ParseError::Nul(field))
            );
        }
    }

    #[test]
    fn statuses_map_and_the_answer_is_empty() {
        assert_eq!(
            Webhook.outbox_status("delivered"),
            Some(OutboxStatus::Delivered)
        );
        assert_eq!(Webhook.outbox_status("sent"), Some(OutboxStatus::Sent));
        assert_eq!(Webhook.outbox_status("failed"), Some(OutboxStatus::Failed));
        assert_eq!(Webhook.reply(Kind::Inbound), Reply::EMPTY);
        assert_eq!(Webhook.reply(Kind::Status), Reply::EMPTY);
    }
}
