//! Staff login for the web UI: argon2 password hashes, sessions behind a
//! random cookie token (stored as its SHA-256), a CSRF token per session,
//! and the slow-down after failed logins (`domain::access::login_wait`).

use super::{Actor, Engine};
use crate::domain::StaffId;
use crate::domain::access::{Password, SESSION_MAX, login_wait, session_alive};
use crate::error::{Error, Result};
use crate::store::staff::{self, Staff};
use crate::store::{audit, web};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The outcome of a login attempt.
#[derive(Debug)]
pub enum Login {
    /// Logged in: the cookie's token (shown once, only its hash is stored).
    Ok { staff: Box<Staff>, token: String },
    /// Wrong username or password; the two are not told apart.
    Wrong,
    /// Too many failures: no password is checked until then.
    Wait(DateTime<Utc>),
}

/// A live session and its staff member.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub staff: Staff,
    pub csrf: String,
    pub token_hash: String,
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), the OWASP
/// recommendation. Blocking: call from `spawn_blocking`.
fn hash_password(p: &Password) -> Result<String> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt =
        SaltString::encode_b64(&salt).map_err(|e| Error::Internal(anyhow::anyhow!("salt: {e}")))?;
    Ok(Argon2::default()
        .hash_password(p.expose().as_bytes(), &salt)
        .map_err(|e| Error::Internal(anyhow::anyhow!("hashing a password: {e}")))?
        .to_string())
}

fn verify_password(phc: &str, candidate: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(candidate.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of nothing, verified against when the username is unknown, so a
/// wrong username costs as long as a wrong password.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        hash_password(&Password::parse("not a password of anyone").expect("valid")).expect("hash")
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("password task: {e}")))
}

impl Engine {
    /// Sets a staff member's password and ends their other sessions
    /// (`keep`: the session that made the change, if any).
    pub async fn set_password(
        &self,
        id: StaffId,
        password: &Password,
        keep: Option<&str>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let p = password.clone();
        let phc = blocking(move || hash_password(&p)).await??;
        let mut tx = self.db.begin().await?;
        staff::get(&mut tx, id).await?;
        web::set_password_hash(&mut tx, id, &phc, now).await?;
        web::delete_sessions_of(&mut tx, id, keep).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "staff.password",
            &format!("staff:{id}"),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks a password (for a change of password).
    pub async fn check_password(&self, id: StaffId, candidate: &str) -> Result<bool> {
        let phc = {
            let mut c = self.db.conn().await?;
            web::password_hash(&mut c, id).await?
        };
        let candidate = candidate.to_string();
        blocking(move || match phc {
            Some(h) => verify_password(&h, &candidate),
            None => {
                verify_password(dummy_hash(), &candidate);
                false
            }
        })
        .await
    }

    /// A login attempt. Failures are counted per username (known or not)
    /// and audited; after three, each try waits (see `login_wait`).
    pub async fn login(&self, username: &str, password: &str, now: DateTime<Utc>) -> Result<Login> {
        let username = username.trim().to_lowercase();
        // No username holds a NUL (and PostgreSQL could not look one up).
        if username.is_empty() || username.chars().count() > 40 || username.contains('\0') {
            return Ok(Login::Wrong);
        }
        // Failures are counted by a hash of the name, never the name.
        let name_key = token_hash(&username);
        let (creds, (failures, last)) = {
            let mut c = self.db.conn().await?;
            (
                web::credentials(&mut c, &username).await?,
                web::login_failures(&mut c, &name_key).await?,
            )
        };
        if let Some(until) = login_wait(failures, last, now) {
            return Ok(Login::Wait(until));
        }
        let phc = match &creds {
            Some((_, Some(h), true)) => Some(h.clone()),
            _ => None,
        };
        let candidate = password.to_string();
        let ok = blocking(move || match phc {
            Some(h) => verify_password(&h, &candidate),
            None => {
                verify_password(dummy_hash(), &candidate);
                false
            }
        })
        .await?;
        let mut tx = self.db.begin().await?;
        let known = creds.as_ref().map(|(id, _, _)| *id);
        let Some((id, _, _)) = creds.filter(|_| ok) else {
            web::record_login_failure(&mut tx, &name_key, now).await?;
            // Whose account was tried, when it is one; an unknown name is
            // not written down (it is often a password typed one field up).
            let target = match known {
                Some(id) => format!("staff:{id}"),
                None => "staff:unknown".to_string(),
            };
            audit::append(&mut tx, now, "web", "login.failed", &target, json!({})).await?;
            tx.commit().await?;
            return Ok(Login::Wrong);
        };
        web::clear_login_failures(&mut tx, &name_key).await?;
        let token = random_b64(32);
        let csrf = random_b64(24);
        web::create_session(&mut tx, &token_hash(&token), id, &csrf, now).await?;
        web::purge_sessions(&mut tx, now - SESSION_MAX).await?;
        audit::append(
            &mut tx,
            now,
            &format!("staff:{id}"),
            "login",
            &format!("staff:{id}"),
            json!({}),
        )
        .await?;
        let staff = staff::get(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Login::Ok {
            staff: Box::new(staff),
            token,
        })
    }

    /// The session behind a cookie token, if it is alive and its staff
    /// member active. Marks it used (at most once a minute).
    pub async fn session(&self, token: &str, now: DateTime<Utc>) -> Result<Option<LiveSession>> {
        let hash = token_hash(token);
        let mut c = self.db.conn().await?;
        let Some(s) = web::get_session(&mut c, &hash).await? else {
            return Ok(None);
        };
        if !session_alive(s.created_at, s.last_seen_at, now) {
            web::delete_session(&mut c, &hash).await?;
            return Ok(None);
        }
        let staff = staff::get(&mut c, s.staff_id).await?;
        if !staff.active {
            return Ok(None);
        }
        if now - s.last_seen_at > Duration::minutes(1) {
            web::touch_session(&mut c, &hash, now).await?;
        }
        Ok(Some(LiveSession {
            staff,
            csrf: s.csrf,
            token_hash: hash,
        }))
    }

    pub async fn logout(&self, token_hash: &str, staff: StaffId, now: DateTime<Utc>) -> Result<()> {
        let mut tx = self.db.begin().await?;
        web::delete_session(&mut tx, token_hash).await?;
        audit::append(
            &mut tx,
            now,
            &format!("staff:{staff}"),
            "logout",
            &format!("staff:{staff}"),
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ_per_salt() {
        let p = Password::parse("korrekt häst batteri").unwrap();
        let a = hash_password(&p).unwrap();
        let b = hash_password(&p).unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password(&a, "korrekt häst batteri"));
        assert!(!verify_password(&a, "korrekt hast batteri"));
        assert!(!verify_password("not a phc string", "x"));
    }
}
