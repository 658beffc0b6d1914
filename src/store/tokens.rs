//! API bearer tokens. Only a SHA-256 hash is stored; the token itself is
//! shown once, when created.

use super::{Conn, ms};
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

const PREFIX: &str = "pmn_";

fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token named `name` and returns it in clear text.
pub async fn create(c: &mut Conn, name: &str, now: DateTime<Utc>) -> Result<String> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Error::invalid("a token needs a name (who or what uses it)"));
    }
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!("{PREFIX}{}", hex::encode(bytes));
    sqlx::query("INSERT INTO api_tokens (name, token_hash, created_at) VALUES ($1, $2, $3)")
        .bind(name)
        .bind(hash(&token))
        .bind(ms(now))
        .execute(&mut *c)
        .await?;
    Ok(token)
}

/// The name of the token, if it is valid and not revoked.
pub async fn verify(c: &mut Conn, token: &str) -> Result<Option<String>> {
    if !token.starts_with(PREFIX) {
        return Ok(None);
    }
    Ok(sqlx::query_scalar(
        "SELECT name FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(hash(token))
    .fetch_optional(&mut *c)
    .await?)
}
