//! The `Authorization` header: a token given by the analyst, Basic, or a token this run signs
//! in for (and renews) itself.

use std::sync::Arc;

use base64::Engine;

use super::error::HttpError;
use crate::secret::SecretString;
use crate::signin::SignIn;

/// OAuth 2.0 Bearer (v2.0, beta) or Basic (v1.0, username and app password), or a sign-in.
#[derive(Debug, Clone)]
pub enum Credentials {
    Bearer(SecretString),
    Basic {
        username: String,
        password: SecretString,
    },
    /// Tokens from the identity platform, fetched when first needed and renewed before they
    /// expire.
    SignIn(Arc<SignIn>),
}

impl Credentials {
    /// The header value; the only place a secret leaves its wrapper. A sign-in's token is
    /// renewed when `clock` says it is about to expire.
    pub async fn header_value(&self, clock: &dyn super::Clock) -> Result<String, String> {
        Ok(match self {
            Credentials::Bearer(token) => format!("Bearer {}", token.expose()),
            Credentials::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
            Credentials::SignIn(sign_in) => {
                format!("Bearer {}", sign_in.access_token(clock).await?.expose())
            }
        })
    }

    /// Whether a rejected token can be replaced by signing in again.
    pub fn renewable(&self) -> bool {
        matches!(self, Credentials::SignIn(_))
    }

    /// Replaces the current token with a new one (after the service rejected it).
    pub async fn renew(&self, clock: &dyn super::Clock) -> Result<(), HttpError> {
        match self {
            Credentials::SignIn(sign_in) => sign_in
                .renew(clock)
                .await
                .map_err(|e| super::Refusal::SignIn(e).into()),
            _ => Ok(()),
        }
    }

    /// What the token in use says about who signed in (read without verifying it), if it is a
    /// JWT that says so.
    pub fn claims(&self) -> Option<crate::signin::TokenClaims> {
        match self {
            Credentials::Bearer(token) => crate::signin::unverified_claims(token.expose()),
            Credentials::Basic { .. } => None,
            Credentials::SignIn(sign_in) => sign_in.held_claims(),
        }
    }

    /// The header value as logs and `--dry-run` show it.
    pub fn redacted(&self) -> String {
        match self {
            Credentials::Bearer(_) => "Bearer <redacted>".to_string(),
            Credentials::Basic { username, .. } => format!("Basic <redacted: {username}>"),
            Credentials::SignIn(sign_in) => format!("Bearer <redacted: {}>", sign_in.describe()),
        }
    }
}
