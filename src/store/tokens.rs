//! API bearer tokens. Only a SHA-256 hash is stored; the token itself is
//! shown once, when created. Each has a scope (read or write; one unit or
//! every unit, `domain::api_scope`) and an expiry; it can be listed and
//! revoked (migration 0010).

use super::{Conn, from_ms, ms, opt_from_ms};
use crate::domain::UnitId;
use crate::domain::api_scope::{self, DEFAULT_TOKEN_DAYS, TokenAccess, TokenScope};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

const PREFIX: &str = "pmn_";

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A stored token, as listed and as a request finds it (never the token).
#[derive(Debug, Clone, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    pub created_at: DateTime<Utc>,
    /// `None`: never (no token made by paminn is without one).
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLS: &str = "id, name, can_write, unit_id, created_at, expires_at, revoked_at";

/// An `api_tokens` row ([`COLS`]) as the `Any` driver decodes it.
#[derive(sqlx::FromRow)]
struct TokenRow {
    id: i64,
    name: String,
    can_write: i64,
    unit_id: Option<i64>,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl From<TokenRow> for TokenInfo {
    fn from(r: TokenRow) -> TokenInfo {
        TokenInfo {
            id: r.id,
            name: r.name,
            scope: TokenScope {
                access: if r.can_write != 0 {
                    TokenAccess::Write
                } else {
                    TokenAccess::Read
                },
                unit: r.unit_id.map(UnitId::from_db),
            },
            created_at: from_ms(r.created_at),
            expires_at: opt_from_ms(r.expires_at),
            revoked_at: opt_from_ms(r.revoked_at),
        }
    }
}

/// Creates a token named `name` with every unit, write access and the
/// default lifetime, and returns it in clear text.
pub async fn create(c: &mut Conn, name: &str, now: DateTime<Utc>) -> Result<String> {
    let scope = TokenScope {
        access: TokenAccess::Write,
        unit: None,
    };
    Ok(create_scoped(c, name, scope, DEFAULT_TOKEN_DAYS, now)
        .await?
        .1)
}

/// Creates a token with a scope, living `days` days; returns its id and
/// the token in clear text.
pub async fn create_scoped(
    c: &mut Conn,
    name: &str,
    scope: TokenScope,
    days: i64,
    now: DateTime<Utc>,
) -> Result<(i64, String)> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("a token needs a name (who or what uses it)"));
    }
    let expires = api_scope::expiry(now, days).map_err(Error::Invalid)?;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", hex::encode(bytes));
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO api_tokens (name, token_hash, created_at, can_write, unit_id, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(name)
    .bind(hash(&token))
    .bind(ms(now))
    .bind(i64::from(scope.access == TokenAccess::Write))
    .bind(scope.unit.map(UnitId::get))
    .bind(ms(expires))
    .fetch_one(&mut *c)
    .await?;
    Ok((id, token))
}

/// The token, if it exists and is not revoked (expired ones too: the
/// caller says "expired" rather than "unknown").
pub async fn verify(c: &mut Conn, token: &str) -> Result<Option<TokenInfo>> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL"
    ));
    Ok(sqlx::query_as::<_, TokenRow>(sql)
        .bind(hash(token))
        .fetch_optional(&mut *c)
        .await?
        .map(TokenInfo::from))
}

/// Every token, revoked ones too, oldest first.
pub async fn list(c: &mut Conn) -> Result<Vec<TokenInfo>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM api_tokens ORDER BY id"));
    Ok(sqlx::query_as::<_, TokenRow>(sql)
        .fetch_all(&mut *c)
        .await?
        .into_iter()
        .map(TokenInfo::from)
        .collect())
}

/// Revokes a token at once. Revoking a revoked one changes nothing.
pub async fn revoke(c: &mut Conn, id: i64, now: DateTime<Utc>) -> Result<TokenInfo> {
    sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(ms(now))
        .bind(id)
        .execute(&mut *c)
        .await?;
    let sql = sqlx::AssertSqlSafe(format!("SELECT {COLS} FROM api_tokens WHERE id = $1"));
    Ok(sqlx::query_as::<_, TokenRow>(sql)
        .bind(id)
        .fetch_optional(&mut *c)
        .await?
        .ok_or_else(|| Error::NotFound(format!("API token {id}")))?
        .into())
}
