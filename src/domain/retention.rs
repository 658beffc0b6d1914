//! What the purge of old message texts removes from the JSON documents
//! that carry a participant's words (journal and task details, stored
//! reply intents): every "text" and every "reason" (a reason given can be
//! health data), at any depth. Everything else stays, so the counts hold.

/// Removes every "text" and "reason" value in a JSON tree; true if any.
pub fn strip_texts(v: &mut serde_json::Value) -> bool {
    match v {
        serde_json::Value::Object(m) => {
            let mut changed = false;
            for k in ["text", "reason"] {
                if m.get(k).is_some_and(|x| !x.is_null()) {
                    m.insert(k.to_string(), serde_json::Value::Null);
                    changed = true;
                }
            }
            for (_, x) in m.iter_mut() {
                changed |= strip_texts(x);
            }
            changed
        }
        serde_json::Value::Array(a) => a.iter_mut().fold(false, |acc, x| strip_texts(x) | acc),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stripping_removes_texts_and_reasons_at_any_depth_and_keeps_the_rest() {
        let mut v = json!({"text": "förhinder, sjuk", "intent": {"intent": "cannot", "reason": "sjuk"},
                           "changed": {"reason": "sjuk", "reply": "cannot"}});
        assert!(strip_texts(&mut v));
        assert_eq!(
            v,
            json!({"text": null, "intent": {"intent": "cannot", "reason": null},
                             "changed": {"reason": null, "reply": "cannot"}})
        );
        assert!(!strip_texts(&mut v), "a second purge changes nothing");
    }
}
