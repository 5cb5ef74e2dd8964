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

/// The DER of the OID id-ecPublicKey (1.2.840.10045.2.1), in a PKCS #8 EC key.
const EC_OID: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];

const KEEP_FILE_PRIVATE: &str = "readable only by you: chmod 600";

/// How long an assertion is valid: Microsoft accepts up to ten minutes.
const ASSERTION_LIFETIME_SECONDS: i64 = 600;

impl CertificateKey {
    /// Reads a PEM text holding a `CERTIFICATE` block and an unencrypted RSA private key block
    /// (`PRIVATE KEY` or `RSA PRIVATE KEY`). An encrypted key or one of another kind (EC, say)
    /// is refused saying so and how to make one that serves.
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let blocks = pem::parse_many(text).map_err(|e| format!("not a PEM file: {e}"))?;
        let certificate = blocks
            .iter()
            .find(|b| b.tag() == "CERTIFICATE")
            .ok_or("it holds no CERTIFICATE block: put the certificate and its key in one file")?;
        let key = blocks
            .iter()
            .find(|b| b.tag().ends_with("PRIVATE KEY"))
            .ok_or("it holds no PRIVATE KEY block: put the certificate and its key in one file")?;
        // PKCS #8's encrypted form, or OpenSSL's older one (a `Proc-Type: 4,ENCRYPTED` header).
        let encrypted = key.tag() == "ENCRYPTED PRIVATE KEY"
            || key
                .headers()
                .get("Proc-Type")
                .is_some_and(|v| v.contains("ENCRYPTED"));
        if encrypted {
            return Err(format!(
                "its private key is encrypted (a passphrase protects it), and the tool reads \
                 only an unencrypted one: write a decrypted copy with `openssl rsa -in KEY.pem \
                 -out plain-key.pem` (keep it as safe as the original), and put the certificate \
                 and that key in one file ({KEEP_FILE_PRIVATE})"
            ));
        }
        let not_rsa = |kind: &str| {
            format!(
                "its private key is {kind}not an RSA key: a client assertion is signed with \
                 RS256 (Microsoft's \"certificate credentials\" document), which needs one. Make \
                 an RSA certificate (`openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem \
                 -out cert.pem -days 365 -subj /CN=o365-activities`), upload cert.pem to the \
                 app registration, and give both in one file ({KEEP_FILE_PRIVATE})"
            )
        };
        if key.tag() != "PRIVATE KEY" && key.tag() != "RSA PRIVATE KEY" {
            let kind = key.tag().trim_end_matches("PRIVATE KEY").trim();
            return Err(not_rsa(&format!("an {kind} key, ")));
        }
        let key = EncodingKey::from_rsa_pem(pem::encode(key).as_bytes()).map_err(|_| {
            // PKCS #8 names its algorithm by OID: id-ecPublicKey (1.2.840.10045.2.1) or not.
            let ec = key.contents().windows(EC_OID.len()).any(|w| w == EC_OID);
            not_rsa(if ec { "an EC key, " } else { "" })
        })?;
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
        // The wall clock (`crate::clock`): the identity platform checks `nbf` and `exp`
        // against its own clock, whatever the pull's says.
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
