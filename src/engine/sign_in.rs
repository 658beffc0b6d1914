//! Sign-in through the organisation's identity provider (OpenID Connect),
//! the engine's half: the sign-in's state kept server-side (single use,
//! [`STATE_TTL`]), who the provider's verified claims belong to (the
//! configured claim against `staff.external_id`), provisioning of unknown
//! people when configured, the same session a password login makes, and
//! an audit row for every sign-in, refusal (with its reason code) and
//! provisioning decision. `crate::oidc` talks to the provider.

use super::auth::{open_session, token_hash};
use super::{Actor, Engine};
use crate::domain::sign_in::{self, Failure, MatchClaim, ProvisionRule};
use crate::domain::{Language, StaffId};
use crate::error::{Error, Result};
use crate::store::staff::{self, NewStaff, Staff};
use crate::store::web::OidcState;
use crate::store::{audit, units, web};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

/// How long a sign-in may take at the provider before its state expires.
pub const STATE_TTL: Duration = Duration::minutes(10);

/// Who may sign in, as configured.
#[derive(Debug, Clone)]
pub struct SignInPolicy {
    /// The claim staff are matched by (`staff.external_id`).
    pub match_claim: MatchClaim,
    /// Unknown people get an account when their group claim maps to a
    /// role and unit; off by default.
    pub provisioning: bool,
    /// The claim holding groups or roles (Entra: `groups` or `roles`).
    pub groups_claim: String,
    /// Group value → role and unit, first match wins.
    pub rules: Vec<ProvisionRule>,
}

/// The outcome of a verified sign-in.
#[derive(Debug)]
pub enum SignIn {
    /// Signed in: the session's cookie token (shown once).
    Ok { staff: Box<Staff>, token: String },
    /// Refused, and audited with this reason.
    Refused(Failure),
}

impl Engine {
    /// Keeps a sign-in's state (as its SHA-256), nonce, PKCE verifier and
    /// where to go afterwards, until the provider sends the browser back.
    pub async fn oidc_begin(
        &self,
        state: &str,
        nonce: &str,
        pkce_verifier: &str,
        next: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut tx = self.db.begin().await?;
        web::purge_oidc_states(&mut tx, now - STATE_TTL).await?;
        web::insert_oidc_state(
            &mut tx,
            &token_hash(state),
            &OidcState {
                nonce: nonce.to_string(),
                pkce_verifier: pkce_verifier.to_string(),
                next_path: next.to_string(),
                created_at: now,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Takes a state once: `None` when it is unknown, was used already (a
    /// replay) or is older than [`STATE_TTL`].
    pub async fn oidc_take_state(
        &self,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<OidcState>> {
        let mut c = self.db.conn().await?;
        let s = web::take_oidc_state(&mut c, &token_hash(state)).await?;
        Ok(s.filter(|s| {
            now - s.created_at <= STATE_TTL && s.created_at <= now + Duration::minutes(1)
        }))
    }

    /// Audits a refused sign-in (`login.oidc.failed` with the reason code;
    /// never a token).
    pub async fn oidc_refused(
        &self,
        reason: Failure,
        staff: Option<StaffId>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let mut c = self.db.conn().await?;
        refused(&mut c, reason, staff, json!({}), now).await
    }

    /// Signs in the person a verified id_token's `claims` name: the staff
    /// member whose `external_id` is the configured claim's value, or a
    /// new one when provisioning maps their group; the same session as a
    /// password login, with the id_token kept for logout.
    pub async fn oidc_sign_in(
        &self,
        policy: &SignInPolicy,
        claims: &Value,
        id_token: &str,
        now: DateTime<Utc>,
    ) -> Result<SignIn> {
        let mut tx = self.db.begin().await?;
        let Some(value) = sign_in::claim_value(claims, &policy.match_claim) else {
            let detail = json!({ "claim": policy.match_claim.as_str() });
            refused(&mut tx, Failure::NoClaim, None, detail, now).await?;
            tx.commit().await?;
            return Ok(SignIn::Refused(Failure::NoClaim));
        };
        let s = match staff::by_external_id(&mut tx, &value).await? {
            Some(s) => s,
            None => match provision(&mut tx, policy, claims, &value, now).await? {
                Some(s) => s,
                None => {
                    tx.commit().await?;
                    return Ok(SignIn::Refused(Failure::NoAccount));
                }
            },
        };
        if !s.active {
            refused(&mut tx, Failure::Inactive, Some(s.id), json!({}), now).await?;
            tx.commit().await?;
            return Ok(SignIn::Refused(Failure::Inactive));
        }
        let token = open_session(&mut tx, s.id, now).await?;
        web::set_session_id_token(&mut tx, &token_hash(&token), id_token).await?;
        audit::append(
            &mut tx,
            now,
            &format!("staff:{}", s.id),
            "login",
            &format!("staff:{}", s.id),
            json!({ "method": "oidc" }),
        )
        .await?;
        tx.commit().await?;
        Ok(SignIn::Ok {
            staff: Box::new(s),
            token,
        })
    }

    /// The provider's id_token a session was signed in with, if any (for
    /// RP-initiated logout).
    pub async fn session_id_token(&self, token_hash: &str) -> Result<Option<String>> {
        let mut c = self.db.conn().await?;
        web::session_id_token(&mut c, token_hash).await
    }

    /// Sets or clears a staff member's identity-provider id (the staff
    /// page), audited as `staff.external_id` (set or cleared, not the
    /// value).
    pub async fn set_staff_external_id(
        &self,
        id: StaffId,
        external_id: &str,
        claim: &MatchClaim,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Staff> {
        let value = sign_in::normalise_external_id(external_id, claim).map_err(Error::invalid)?;
        let mut tx = self.db.begin().await?;
        let before = staff::get(&mut tx, id).await?;
        if before.external_id == value {
            return Ok(before);
        }
        staff::set_external_id(&mut tx, id, value.as_deref()).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "staff.external_id",
            &format!("staff:{id}"),
            json!({ "set": value.is_some() }),
        )
        .await?;
        let s = staff::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(s)
    }
}

async fn refused(
    c: &mut crate::store::Conn,
    reason: Failure,
    staff: Option<StaffId>,
    mut detail: Value,
    now: DateTime<Utc>,
) -> Result<()> {
    let target = staff.map_or_else(|| "staff:unknown".to_string(), |id| format!("staff:{id}"));
    if let Some(m) = detail.as_object_mut() {
        m.insert("reason".into(), json!(reason.as_str()));
    }
    audit::append(c, now, "web", "login.oidc.failed", &target, detail).await
}

/// An unknown person: an account when provisioning is on and one of their
/// groups maps to a role and unit; else `None`. Either way the decision
/// is audited (`staff.provision`, or `login.oidc.failed` with
/// `no_account` and why).
async fn provision(
    c: &mut crate::store::Conn,
    policy: &SignInPolicy,
    claims: &Value,
    value: &str,
    now: DateTime<Utc>,
) -> Result<Option<Staff>> {
    // The claim's value is written down so an admin can give the right
    // account this identity; it is a work identity, not a secret.
    let detail = |why: &str| json!({ "claim": policy.match_claim.as_str(), "value": value, "provisioning": why });
    if !policy.provisioning {
        refused(c, Failure::NoAccount, None, detail("off"), now).await?;
        return Ok(None);
    }
    let groups = sign_in::groups(claims, &policy.groups_claim);
    let Some(rule) = sign_in::provision_rule(&policy.rules, &groups) else {
        refused(
            c,
            Failure::NoAccount,
            None,
            detail("no_matching_group"),
            now,
        )
        .await?;
        return Ok(None);
    };
    let unit = match units::resolve(c, &rule.unit).await {
        Ok(u) => u,
        Err(Error::NotFound(_)) => {
            tracing::warn!(unit = %rule.unit, "oidc provisioning: the mapped unit does not exist");
            refused(c, Failure::NoAccount, None, detail("unknown_unit"), now).await?;
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    let username = free_username(c, &username_base(claims, value)).await?;
    let name = display_name(claims).unwrap_or_else(|| username.clone());
    let s = staff::create(
        c,
        &NewStaff {
            unit: Some(unit.id),
            name,
            username,
            role: rule.role,
            language: Language::Sv,
        },
        now,
    )
    .await?;
    staff::set_external_id(c, s.id, Some(value)).await?;
    audit::append(
        c,
        now,
        "oidc",
        "staff.provision",
        &format!("staff:{}", s.id),
        json!({ "role": rule.role, "unit": unit.id.get(), "group": rule.group }),
    )
    .await?;
    staff::get(c, s.id).await.map(Some)
}

/// A person's name from the token (`name`, or given and family name),
/// when it is a valid staff name.
fn display_name(claims: &Value) -> Option<String> {
    let s = |k: &str| claims.get(k).and_then(Value::as_str).map(str::trim);
    let name = match (s("name"), s("given_name"), s("family_name")) {
        (Some(n), _, _) if !n.is_empty() => n.to_string(),
        (_, Some(g), Some(f)) => format!("{g} {f}"),
        _ => return None,
    };
    crate::domain::Name::parse(&name, "a staff name", 100)
        .ok()
        .map(|n| n.as_str().to_string())
}

/// A username from `preferred_username` or the e-mail's local part (else
/// the matched value), folded to a-z 0-9 . _ -.
fn username_base(claims: &Value, value: &str) -> String {
    let from = claims
        .get("preferred_username")
        .or_else(|| claims.get("email"))
        .and_then(Value::as_str)
        .unwrap_or(value);
    let local = from.split('@').next().unwrap_or(from).to_lowercase();
    let mut u: String = local
        .chars()
        .map(|c| match c {
            'å' | 'ä' => 'a',
            'ö' => 'o',
            c if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') => c,
            _ => '-',
        })
        .take(34)
        .collect();
    if u.chars().count() < 2 {
        u = "staff".into();
    }
    u
}

/// `base`, or `base-2`, `base-3`, ... whichever is free.
async fn free_username(c: &mut crate::store::Conn, base: &str) -> Result<String> {
    for n in 1..1000 {
        let candidate = if n == 1 {
            base.to_string()
        } else {
            format!("{base}-{n}")
        };
        if staff::id_by_username(c, &candidate).await?.is_none() {
            return Ok(candidate);
        }
    }
    Err(Error::Conflict(format!("no free username like '{base}'")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_come_from_the_token() {
        let c = json!({ "preferred_username": "Åsa.Öberg@kommun.se" });
        assert_eq!(username_base(&c, "x"), "asa.oberg");
        assert_eq!(
            username_base(&json!({}), "SE2321000016-1234"),
            "se2321000016-1234"
        );
        assert_eq!(username_base(&json!({ "email": "@x" }), "v"), "staff");
        assert_eq!(
            display_name(&json!({ "given_name": "Anna", "family_name": "Berg" })).as_deref(),
            Some("Anna Berg")
        );
        assert_eq!(display_name(&json!({ "name": "" })), None);
    }
}
