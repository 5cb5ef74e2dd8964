//! The `Authorization` header.

use base64::Engine;

use crate::secret::SecretString;

/// OAuth 2.0 Bearer (v2.0, beta) or Basic (v1.0, username and app password).
#[derive(Debug, Clone)]
pub enum Credentials {
    Bearer(SecretString),
    Basic {
        username: String,
        password: SecretString,
    },
}

impl Credentials {
    /// The header value; the only place a secret leaves its wrapper.
    pub fn header_value(&self) -> String {
        match self {
            Credentials::Bearer(token) => format!("Bearer {}", token.expose()),
            Credentials::Basic { username, password } => {
                let pair = format!("{username}:{}", password.expose());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )
            }
        }
    }

    /// The header value as logs and `--dry-run` show it.
    pub fn redacted(&self) -> String {
        match self {
            Credentials::Bearer(_) => "Bearer <redacted>".to_string(),
            Credentials::Basic { username, .. } => format!("Basic <redacted: {username}>"),
        }
    }
}
