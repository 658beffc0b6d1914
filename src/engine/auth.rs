//! Staff login for the web UI: argon2 password hashes, sessions behind a
//! random cookie token (stored as its SHA-256), a CSRF token per session,
//! and the limits on password checks (login and password change):
//!
//! * Memory: an Argon2id check takes 19 MiB. They run on [`checks_at_once`]
//!   threads of their own, [`CHECKS_WAITING`] more may wait; any further
//!   attempt is turned away at once as [`Login::Busy`] (503), before the
//!   database is touched.
//! * Guessing: an attempt is counted first, then decided on
//!   (`domain::throttle`: per username and client, per client, global),
//!   in one transaction that holds the counted rows, so parallel attempts
//!   cannot all read the same old count.

use super::{Actor, Engine};
use crate::domain::StaffId;
use crate::domain::access::{Password, SESSION_MAX, session_alive};
use crate::domain::throttle::{Limit, after_check, refused_until};
use crate::error::{Error, Result};
use crate::store::staff::{self, Staff};
use crate::store::{audit, tokens, web};
use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The outcome of a login attempt.
#[derive(Debug)]
pub enum Login {
    /// Logged in: the cookie's token (shown once, only its hash is stored).
    Ok { staff: Box<Staff>, token: String },
    /// Wrong username or password; the two are not told apart.
    Wrong,
    /// Too many failures: no password is checked until then.
    Wait(DateTime<Utc>),
    /// Too many password checks under way: try again in a few seconds.
    Busy,
}

/// The outcome of checking the current password (for a change).
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    Right,
    Wrong,
    Wait(DateTime<Utc>),
    Busy,
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

/// A random URL-safe token (the login form's CSRF token).
pub fn random_token() -> String {
    random_b64(24)
}

/// A long random URL-safe secret (256 bits): a calendar feed's link.
pub fn random_secret() -> String {
    random_b64(32)
}

fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

thread_local! {
    /// Argon2's working memory (19 MiB with the default parameters), kept
    /// by each password thread and reused for every hash, instead of a new
    /// allocation per check: glibc keeps freed blocks of that size around
    /// in per-thread arenas, and the process grew by about 20 MB per check
    /// up to 16 arenas (measured: 346 MB after 30 sequential wrong logins).
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Argon2 into `out` with this thread's reused working memory.
fn argon2_into(a: &Argon2<'_>, params: &Params, pwd: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    BLOCKS.with_borrow_mut(|blocks| {
        let n = params.block_count();
        if blocks.len() != n {
            blocks.resize(n, argon2::Block::default());
        }
        a.hash_password_into_with_memory(pwd, salt, out, blocks.as_mut_slice())
            .is_ok()
    })
}

/// Argon2id with the crate's defaults (19 MiB, 2 passes), the OWASP
/// recommendation, as a PHC string. Blocking: call through [`blocking`].
fn hash_password(p: &Password) -> Result<String> {
    let fail =
        |e: &dyn std::fmt::Display| Error::Internal(anyhow::anyhow!("hashing a password: {e}"));
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt_b64 = SaltString::encode_b64(&salt).map_err(|e| fail(&e))?;
    let params = Params::default();
    let a = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    if !argon2_into(&a, &params, p.expose().as_bytes(), &salt, &mut out) {
        return Err(fail(&"argon2 failed"));
    }
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt_b64.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Whether `candidate` matches a stored PHC string (compared in constant
/// time by `Output`'s equality).
fn verify_password(phc: &str, candidate: &str) -> bool {
    let Ok(h) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(expected), Some(salt)) = (h.hash, h.salt) else {
        return false;
    };
    let (Ok(alg), Ok(params)) = (Algorithm::try_from(h.algorithm), Params::try_from(&h)) else {
        return false;
    };
    let version = match h.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let a = Argon2::new(alg, version, params.clone());
    let mut out = vec![0u8; expected.len()];
    argon2_into(&a, &params, candidate.as_bytes(), salt, &mut out)
        && Output::new(&out).is_ok_and(|o| o == expected)
}

/// A hash of nothing, verified against when the username is unknown, so a
/// wrong username costs as long as a wrong password.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| {
        hash_password(&Password::parse("not a password of anyone").expect("valid")).expect("hash")
    })
}

/// How many Argon2 checks run at once: one per core, at most 4.
pub fn checks_at_once() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4)
}

/// How many more password checks may wait for a turn; beyond that an
/// attempt is turned away (`Busy`).
pub const CHECKS_WAITING: usize = 16;

/// Admission (running + waiting). Process-wide: the memory bound is the
/// process's.
static ADMIT: std::sync::LazyLock<Arc<Semaphore>> =
    std::sync::LazyLock::new(|| Arc::new(Semaphore::new(checks_at_once() + CHECKS_WAITING)));

/// A place in the queue for a password check, or `None` when it is full.
fn admit() -> Option<OwnedSemaphorePermit> {
    ADMIT.clone().try_acquire_owned().ok()
}

type Job = Box<dyn FnOnce() + Send>;

/// The password threads: a fixed set of [`checks_at_once`] threads that
/// run every Argon2 computation in turn. Fixed on purpose, rather than
/// tokio's blocking pool (which starts a new thread whenever all are busy)
/// or a thread-pool crate (a new dependency for these lines): glibc's
/// allocator keeps a freed 19 MiB Argon2 block in the arena of the thread
/// that used it, so the number of threads that ever hash is what bounds
/// the memory kept (`tests/login_load.rs`).
static WORKERS: std::sync::LazyLock<std::sync::mpsc::Sender<Job>> =
    std::sync::LazyLock::new(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..checks_at_once() {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("paminn-password-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start a password thread");
            }
        }
        tx
    });

/// Runs an Argon2 computation on the password threads, in its turn. The
/// admission permit moves along, so a dropped request frees its place only
/// when its computation has ended.
async fn blocking<T: Send + 'static>(
    admitted: Option<OwnedSemaphorePermit>,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    WORKERS
        .send(Box::new(move || {
            let _place = admitted;
            // A panic must not take a password thread with it.
            if let Ok(v) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                let _ = tx.send(v);
            }
        }))
        .map_err(|_| Error::Internal(anyhow::anyhow!("the password threads have stopped")))?;
    rx.await
        .map_err(|_| Error::Internal(anyhow::anyhow!("a password check failed")))
}

/// `candidate` checked against `phc` on a password thread; without a hash,
/// against [`dummy_hash`] (so it costs as long) and refused.
async fn verify_or_dummy(
    admitted: OwnedSemaphorePermit,
    phc: Option<String>,
    candidate: &str,
) -> Result<bool> {
    let candidate = candidate.to_string();
    blocking(Some(admitted), move || match phc {
        Some(h) => verify_password(&h, &candidate),
        None => {
            verify_password(dummy_hash(), &candidate);
            false
        }
    })
    .await
}

/// The three limit rows of an attempt, in the order they are locked.
fn limit_keys(username: &str, client: &str) -> [(Limit, String); 3] {
    [
        (Limit::Global, "global".to_string()),
        (Limit::Client, token_hash(&format!("client\n{client}"))),
        (
            Limit::UserClient,
            token_hash(&format!("user\n{username}\n{client}")),
        ),
    ]
}

/// A new session for `id` (the password login and the sign-in through the
/// identity provider make the same one): its cookie token, shown once.
/// Sessions past their lifetime are purged on the way.
pub(super) async fn open_session(
    c: &mut crate::store::Conn,
    id: StaffId,
    now: DateTime<Utc>,
) -> Result<String> {
    let token = random_b64(32);
    let csrf = random_b64(24);
    web::create_session(c, &token_hash(&token), id, &csrf, now).await?;
    web::purge_sessions(c, now - SESSION_MAX).await?;
    Ok(token)
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
        let phc = blocking(None, move || hash_password(&p)).await??;
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

    /// Counts an attempt against its limits and decides: `Some(until)`
    /// when refused, else the check is recorded and may run.
    async fn count_attempt(
        &self,
        keys: &[(Limit, String); 3],
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>> {
        let mut tx = self.db.begin().await?;
        let mut rows = Vec::with_capacity(keys.len());
        for (_, key) in keys {
            rows.push(web::throttle_count(&mut tx, key, now).await?);
        }
        let refused = keys
            .iter()
            .zip(&rows)
            .filter_map(|((limit, _), c)| refused_until(*limit, c, now))
            .max();
        if refused.is_none() {
            for ((limit, key), c) in keys.iter().zip(&rows) {
                let (checks, window_start) = after_check(*limit, c, now);
                web::throttle_checked(&mut tx, key, checks, window_start, now).await?;
            }
        }
        tx.commit().await?;
        Ok(refused)
    }

    /// After a right password: the username's row is cleared, the client
    /// and global budgets get the check back; old rows are purged.
    async fn clear_limits(
        c: &mut crate::store::Conn,
        keys: &[(Limit, String); 3],
        now: DateTime<Utc>,
    ) -> Result<()> {
        for (limit, key) in keys {
            match limit {
                Limit::UserClient => web::throttle_clear(c, key).await?,
                Limit::Global | Limit::Client => web::throttle_refund(c, key).await?,
            }
        }
        web::throttle_purge(c, now - Duration::days(1)).await?;
        Ok(())
    }

    /// Checks a staff member's current password (for a change of
    /// password), under the same limits as a login (counted by username
    /// and `client`); a wrong one is audited (`password.failed`).
    pub async fn check_password(
        &self,
        who: &Staff,
        candidate: &str,
        client: &str,
        now: DateTime<Utc>,
    ) -> Result<PasswordCheck> {
        let Some(admitted) = admit() else {
            return Ok(PasswordCheck::Busy);
        };
        let keys = limit_keys(&who.username.to_lowercase(), client);
        if let Some(until) = self.count_attempt(&keys, now).await? {
            return Ok(PasswordCheck::Wait(until));
        }
        let phc = {
            let mut c = self.db.conn().await?;
            web::password_hash(&mut c, who.id).await?
        };
        let ok = verify_or_dummy(admitted, phc, candidate).await?;
        let mut tx = self.db.begin().await?;
        if ok {
            Self::clear_limits(&mut tx, &keys, now).await?;
        } else {
            audit::append(
                &mut tx,
                now,
                &format!("staff:{}", who.id),
                "password.failed",
                &format!("staff:{}", who.id),
                json!({}),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(if ok {
            PasswordCheck::Right
        } else {
            PasswordCheck::Wrong
        })
    }

    /// A login attempt from `client` (its address, or any stable name for
    /// the caller). Counted first against the limits in
    /// `domain::throttle`; failures are audited.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: &str,
        now: DateTime<Utc>,
    ) -> Result<Login> {
        let username = username.trim().to_lowercase();
        // No username holds a NUL (and PostgreSQL could not look one up).
        if username.is_empty() || username.chars().count() > 40 || username.contains('\0') {
            return Ok(Login::Wrong);
        }
        let Some(admitted) = admit() else {
            return Ok(Login::Busy);
        };
        // Names and addresses are counted by a hash, never in the clear.
        let keys = limit_keys(&username, client);
        if let Some(until) = self.count_attempt(&keys, now).await? {
            return Ok(Login::Wait(until));
        }
        let creds = {
            let mut c = self.db.conn().await?;
            web::credentials(&mut c, &username).await?
        };
        let phc = match &creds {
            Some((_, Some(h), true)) => Some(h.clone()),
            _ => None,
        };
        let ok = verify_or_dummy(admitted, phc, password).await?;
        let mut tx = self.db.begin().await?;
        let known = creds.as_ref().map(|(id, _, _)| *id);
        let Some((id, _, _)) = creds.filter(|_| ok) else {
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
        Self::clear_limits(&mut tx, &keys, now).await?;
        let token = open_session(&mut tx, id, now).await?;
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

impl Engine {
    /// A new API token (`paminn token create`), shown once: its id and
    /// text. Audited as `token.create` with its name, scope and days.
    pub async fn create_api_token(
        &self,
        name: &str,
        scope: crate::domain::api_scope::TokenScope,
        days: i64,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<(i64, String)> {
        let mut tx = self.db.begin().await?;
        let (id, t) = tokens::create_scoped(&mut tx, name, scope, days, now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "token.create",
            &format!("token:{id}"),
            json!({ "name": name.trim(), "scope": scope, "days": days }),
        )
        .await?;
        tx.commit().await?;
        Ok((id, t))
    }

    /// Revokes an API token at once (audited as `token.revoke`).
    pub async fn revoke_api_token(
        &self,
        id: i64,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<tokens::TokenInfo> {
        let mut tx = self.db.begin().await?;
        let t = tokens::revoke(&mut tx, id, now).await?;
        audit::append(
            &mut tx,
            now,
            actor.as_str(),
            "token.revoke",
            &format!("token:{id}"),
            json!({ "name": t.name }),
        )
        .await?;
        tx.commit().await?;
        Ok(t)
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
        // The same PHC strings as the crate's own hasher and verifier
        // (hashes stored before the reused working memory still verify).
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let theirs = Argon2::default()
            .hash_password(b"korrekt hast batteri", &salt)
            .unwrap()
            .to_string();
        assert!(verify_password(&theirs, "korrekt hast batteri"));
        assert!(!verify_password(&theirs, "korrekt häst batteri"));
        assert!(
            Argon2::default()
                .verify_password(
                    "korrekt häst batteri".as_bytes(),
                    &PasswordHash::new(&a).unwrap()
                )
                .is_ok()
        );
    }
}
