//! Sign-in through the organisation's identity provider: the pure rules.
//! Which claim names a staff member ([`MatchClaim`]), reading its value
//! out of a verified id_token's claims ([`claim_value`]), which group or
//! role claim value provisions which role in which unit
//! ([`provision_rule`]), and the closed set of reasons a sign-in fails
//! ([`Failure`], the audit row's `reason`). No I/O: `crate::oidc` talks to
//! the provider, `engine::sign_in` decides and records.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The claim a staff member is matched by: `email`, `preferred_username`,
/// `sub`, or a custom claim (an HSA-id, Entra's `oid`): 1-64 characters of
/// letters, digits, `_`, `-`, `.`, `:` or `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchClaim(String);

impl MatchClaim {
    pub fn parse(s: &str) -> Result<MatchClaim, String> {
        let t = s.trim();
        let ok = (1..=64).contains(&t.chars().count())
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/'));
        if ok {
            Ok(MatchClaim(t.to_string()))
        } else {
            Err(format!(
                "oidc_match_claim '{s}' is not a claim name (e.g. email, preferred_username, sub)"
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether values of this claim are compared without case (e-mail
    /// addresses and user names are, by every provider we know).
    fn case_insensitive(&self) -> bool {
        matches!(self.0.as_str(), "email" | "preferred_username" | "upn")
    }
}

/// The value of `claim` in a verified token's claims, as the text staff
/// are matched by: a non-empty string (trimmed; e-mail and usernames in
/// lower case) or a number; at most 200 characters. `None` when the
/// provider did not send it.
pub fn claim_value(claims: &Value, claim: &MatchClaim) -> Option<String> {
    let v = match claims.get(claim.as_str())? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    if v.is_empty() || v.chars().count() > 200 || v.chars().any(char::is_control) {
        return None;
    }
    Some(if claim.case_insensitive() {
        v.to_lowercase()
    } else {
        v
    })
}

/// An identity-provider id as typed by an admin on the staff page: the
/// same normalisation as [`claim_value`], empty meaning none.
pub fn normalise_external_id(s: &str, claim: &MatchClaim) -> Result<Option<String>, String> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let as_claims = serde_json::json!({ claim.as_str(): s });
    claim_value(&as_claims, claim)
        .map(Some)
        .ok_or_else(|| "an identity-provider id is 1-200 characters on one line".to_string())
}

/// One line of the provisioning map: a value of the group claim, and the
/// role and unit (name or id) an unknown person with it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvisionRule {
    pub group: String,
    pub role: crate::domain::Role,
    pub unit: String,
}

/// The values of the group claim: a list of strings, or one string.
pub fn groups(claims: &Value, claim: &str) -> Vec<String> {
    match claims.get(claim) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// The first rule (in the configured order) whose group the person has.
pub fn provision_rule<'a>(
    rules: &'a [ProvisionRule],
    groups: &[String],
) -> Option<&'a ProvisionRule> {
    rules.iter().find(|r| groups.contains(&r.group))
}

/// Why a sign-in through the provider was refused: the audit row's
/// `reason`, never a token or a claim's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The callback's state is unknown, used already or too old.
    State,
    /// The provider answered with an error (the user cancelled, ...).
    ProviderError,
    /// Discovery, JWKS or the token endpoint failed.
    Provider,
    /// The code exchange was refused (a wrong PKCE verifier, a used code).
    Exchange,
    /// No id_token in the token response.
    NoIdToken,
    /// The signature did not verify (no matching key after a refetch).
    Signature,
    /// The token is for another client.
    Audience,
    /// The token is from another issuer.
    Issuer,
    /// The token has expired (or is not valid yet).
    Expired,
    /// The nonce does not match the one sent.
    Nonce,
    /// Any other defect of the token.
    Token,
    /// The configured claim is missing.
    NoClaim,
    /// No account has this identity and none may be made.
    NoAccount,
    /// The account is switched off.
    Inactive,
}

impl Failure {
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::State => "state",
            Failure::ProviderError => "provider_error",
            Failure::Provider => "provider_unreachable",
            Failure::Exchange => "code_exchange",
            Failure::NoIdToken => "no_id_token",
            Failure::Signature => "signature",
            Failure::Audience => "audience",
            Failure::Issuer => "issuer",
            Failure::Expired => "expired",
            Failure::Nonce => "nonce",
            Failure::Token => "token",
            Failure::NoClaim => "no_claim",
            Failure::NoAccount => "no_account",
            Failure::Inactive => "inactive",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;
    use serde_json::json;

    #[test]
    fn claim_names_are_checked() {
        for ok in [
            "email",
            "preferred_username",
            "sub",
            "oid",
            "hsa_id",
            "urn:x/hsaid",
        ] {
            assert!(MatchClaim::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "e mail", "a\"b", "x".repeat(65).as_str()] {
            assert!(MatchClaim::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_read_and_normalised() {
        let c = json!({ "email": " Anna@Kommun.SE ", "sub": "AbC", "n": 42, "e": "", "l": ["x"] });
        let m = |s: &str| MatchClaim::parse(s).unwrap();
        assert_eq!(
            claim_value(&c, &m("email")).as_deref(),
            Some("anna@kommun.se")
        );
        assert_eq!(claim_value(&c, &m("sub")).as_deref(), Some("AbC"));
        assert_eq!(claim_value(&c, &m("n")).as_deref(), Some("42"));
        assert_eq!(claim_value(&c, &m("e")), None);
        assert_eq!(claim_value(&c, &m("l")), None);
        assert_eq!(claim_value(&c, &m("missing")), None);
        assert_eq!(
            normalise_external_id(" Anna@Kommun.SE", &m("email")),
            Ok(Some("anna@kommun.se".into()))
        );
        assert_eq!(normalise_external_id("  ", &m("email")), Ok(None));
        assert_eq!(
            normalise_external_id("SE123", &m("hsa_id")),
            Ok(Some("SE123".into()))
        );
        assert!(normalise_external_id("a\nb", &m("sub")).is_err());
    }

    #[test]
    fn the_first_matching_rule_provisions() {
        let rules = vec![
            ProvisionRule {
                group: "coord".into(),
                role: Role::Coordinator,
                unit: "Norr".into(),
            },
            ProvisionRule {
                group: "lots".into(),
                role: Role::Lots,
                unit: "Norr".into(),
            },
        ];
        let g = groups(&json!({ "groups": ["other", "lots", "coord"] }), "groups");
        assert_eq!(
            provision_rule(&rules, &g).map(|r| r.role),
            Some(Role::Coordinator)
        );
        let g = groups(&json!({ "groups": "lots" }), "groups");
        assert_eq!(provision_rule(&rules, &g).map(|r| r.role), Some(Role::Lots));
        assert_eq!(provision_rule(&rules, &groups(&json!({}), "groups")), None);
    }
}
