//! The signed client assertion of a certificate sign-in, as Microsoft's "certificate
//! credentials" document describes it: a JWT signed RS256 with the certificate's private key,
//! its header naming the certificate by `x5t` (the base64url SHA-1 thumbprint of its DER), its
//! claims `aud` (the token endpoint), `iss` and `sub` (the client id), `jti`, `nbf` and `exp`.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha1::{Digest, Sha1};

/// A certificate and its private key, read from one PEM file (both blocks, as Entra ID's
/// documentation has an app's certificate exported).
pub struct CertificateKey {
    key: EncodingKey,
    /// base64url SHA-1 of the certificate's DER.
    thumbprint: String,
}

impl std::fmt::Debug for CertificateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CertificateKey(x5t {})", self.thumbprint)
    }
}

/// How long an assertion is valid: Microsoft accepts up to ten minutes.
const ASSERTION_LIFETIME_SECONDS: i64 = 600;

impl CertificateKey {
    /// Reads a PEM text holding a `CERTIFICATE` block and an RSA private key block
    /// (`PRIVATE KEY` or `RSA PRIVATE KEY`).
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let blocks = pem::parse_many(text).map_err(|e| format!("not a PEM file: {e}"))?;
        let certificate = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or("it holds no CERTIFICATE block: put the certificate and its key in one file")?;
        let key = blocks
            .iter()
            .find(|b| b.tag() == "PRIVATE KEY" || b.tag() == "RSA PRIVATE KEY")
            .ok_or("it holds no PRIVATE KEY block: put the certificate and its key in one file")?;
        let key = EncodingKey::from_rsa_pem(pem::encode(key).as_bytes())
            .map_err(|e| format!("its private key is not an RSA key: {e}"))?;
        let thumbprint = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Sha1::digest(certificate.contents()));
        Ok(CertificateKey { key, thumbprint })
    }

    /// A new assertion for `client_id` at `token_url`.
    pub fn assertion(&self, client_id: &str, token_url: &str) -> Result<String, String> {
        #[derive(serde::Serialize)]
        struct Claims<'a> {
            aud: &'a str,
            iss: &'a str,
            sub: &'a str,
            jti: String,
            nbf: i64,
            exp: i64,
        }
        let now = chrono::Utc::now().timestamp();
        let header = Header {
            x5t: Some(self.thumbprint.clone()),
            ..Header::new(Algorithm::RS256)
        };
        let claims = Claims {
            aud: token_url,
            iss: client_id,
            sub: client_id,
            jti: format!("{:032x}", fastrand::u128(..)),
            nbf: now,
            exp: now + ASSERTION_LIFETIME_SECONDS,
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| format!("cannot sign the client assertion: {e}"))
    }
}
