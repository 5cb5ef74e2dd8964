//! Signing in to the Microsoft identity platform (v2.0 endpoints) for the audit log sources:
//! client credentials with a secret or a certificate, or the device-code flow for an analyst
//! at a terminal. Tokens are kept, renewed before they expire, and renewed at once when a
//! service rejects one (`Credentials::renew`), so a collection of many hours never fails on
//! expiry. The OAuth exchanges are the `oauth2` crate's; the certificate's assertion is signed
//! by `jsonwebtoken` (`assertion.rs`).
//!
//! Endpoints follow Microsoft's "OAuth 2.0 client credentials flow" and "device authorization
//! grant flow" documents: `{authority}/{tenant}/oauth2/v2.0/token` and `.../devicecode`.

mod assertion;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, Utc};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, ClientId, ClientSecret, DeviceAuthorizationUrl, RefreshToken, Scope,
    StandardDeviceAuthorizationResponse, TokenResponse, TokenUrl,
};
use tokio::sync::Mutex;

pub use assertion::CertificateKey;

use crate::secret::SecretString;

/// The default `--authority-url`.
pub const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";

/// The largest answer of the identity platform read. A token answer (Microsoft's "OAuth 2.0
/// client credentials flow" and "device authorization grant" documents: `access_token`,
/// `refresh_token`, `expires_in`, ...) is a few KB; a token of many group claims stays far
/// below this.
const MAX_TOKEN_ANSWER_BYTES: u64 = 1024 * 1024;

/// How long one exchange with the identity platform may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);

/// The `oauth2` crate's HTTP client: reqwest with no redirects, a timeout, and the body cap of
/// every answer the tool reads (`crate::wire::read_capped`). The crate's own reqwest client
/// reads an answer whole, so a token endpoint whose body never ends would grow memory without
/// bound.
#[derive(Debug)]
struct TokenHttp {
    client: reqwest::Client,
}

/// Why the identity platform gave no answer to read.
#[derive(Debug, thiserror::Error)]
enum TokenHttpError {
    #[error("cannot reach the token endpoint: {0}")]
    Request(String),
    #[error("the token endpoint's answer is not readable: {0} (a token answer is a few KB): check --authority-url")]
    Body(#[from] crate::wire::BodyError),
}

impl<'c> oauth2::AsyncHttpClient<'c> for TokenHttp {
    type Error = TokenHttpError;
    type Future =
        Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, TokenHttpError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let cannot =
                |e: &dyn std::error::Error| TokenHttpError::Request(crate::wire::error_chain(e));
            let request = reqwest::Request::try_from(request).map_err(|e| cannot(&e))?;
            let response = self.client.execute(request).await.map_err(|e| cannot(&e))?;
            let mut answer = oauth2::http::Response::builder()
                .status(response.status())
                .version(response.version());
            for (name, value) in response.headers() {
                answer = answer.header(name, value);
            }
            let body = crate::wire::read_capped(response, MAX_TOKEN_ANSWER_BYTES).await?;
            answer.body(body).map_err(|e| cannot(&e))
        })
    }
}

/// How the application proves who it is.
#[derive(Debug)]
pub enum Flow {
    /// Client credentials with a client secret.
    Secret(SecretString),
    /// Client credentials with a certificate: a signed client assertion.
    Certificate(CertificateKey),
    /// An analyst signs in at a terminal with a code (delegated permissions).
    DeviceCode,
}

/// One application's sign-in to one resource.
#[derive(Debug)]
pub struct SignIn {
    authority: String,
    tenant: String,
    client_id: String,
    /// The resource's `.default` scope: the real resource, whatever URL the API is reached at,
    /// as each service checks the token's audience.
    scope: String,
    flow: Flow,
    http: TokenHttp,
    token: Mutex<Option<Token>>,
}

#[derive(Debug)]
struct Token {
    access: SecretString,
    refresh: Option<SecretString>,
    /// When it was asked for, on the pull's clock (`crate::clock::Clock`).
    obtained: DateTime<Utc>,
    lifetime: Duration,
}

impl Token {
    /// Whether the token should be replaced now: within a quarter of its lifetime (at most
    /// five minutes) of its expiry, so a request never leaves with a token about to lapse.
    fn due(&self, now: DateTime<Utc>) -> bool {
        let margin = (self.lifetime / 4).min(Duration::from_secs(300));
        let expires = chrono::TimeDelta::from_std(self.lifetime).unwrap_or(chrono::TimeDelta::MAX);
        let margin = chrono::TimeDelta::from_std(margin).unwrap_or(chrono::TimeDelta::MAX);
        self.obtained
            .checked_add_signed(expires - margin)
            .is_none_or(|renew_at| now >= renew_at)
    }
}

impl SignIn {
    pub fn new(
        authority: &str,
        tenant: &str,
        client_id: &str,
        resource: &str,
        flow: Flow,
    ) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            // The token endpoint's answer is final: a redirect there is not followed (the
            // `oauth2` crate's advice, against request forgery).
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TOKEN_TIMEOUT)
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        let http = TokenHttp { client: http };
        Ok(SignIn {
            authority: authority.trim_end_matches('/').to_string(),
            tenant: tenant.to_string(),
            client_id: client_id.to_string(),
            scope: format!("{}/.default", resource.trim_end_matches('/')),
            flow,
            http,
            token: Mutex::new(None),
        })
    }

    /// What the sign-in is, for `--dry-run` and logs (never a secret).
    pub fn describe(&self) -> String {
        let flow = match &self.flow {
            Flow::Secret(_) => "client secret",
            Flow::Certificate(_) => "certificate",
            Flow::DeviceCode => "device code",
        };
        format!(
            "{flow} sign-in of app {} in tenant {} for {}",
            self.client_id, self.tenant, self.scope
        )
    }

    /// The tenant signed in to, as given (`--tenant`).
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The application (client) id signed in as.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The token endpoint (no secret is part of it).
    pub fn token_endpoint(&self) -> String {
        self.endpoint("token")
    }

    /// The claims of the token held now, if one is held and not in use this instant.
    pub fn held_claims(&self) -> Option<TokenClaims> {
        let held = self.token.try_lock().ok()?;
        unverified_claims(held.as_ref()?.access.expose())
    }

    fn endpoint(&self, name: &str) -> String {
        format!("{}/{}/oauth2/v2.0/{name}", self.authority, self.tenant)
    }

    /// A token valid for a while yet on `clock`: the one held, or a new one.
    pub async fn access_token(
        &self,
        clock: &dyn crate::clock::Clock,
    ) -> Result<SecretString, String> {
        let mut held = self.token.lock().await;
        match held.as_ref() {
            Some(token) if !token.due(clock.now()) => Ok(token.access.clone()),
            _ => {
                let previous = held.take();
                let token = self.obtain(previous.and_then(|t| t.refresh), clock).await?;
                let access = token.access.clone();
                *held = Some(token);
                Ok(access)
            }
        }
    }

    /// Drops the held token and obtains a new one (a service rejected it).
    pub async fn renew(&self, clock: &dyn crate::clock::Clock) -> Result<(), String> {
        let mut held = self.token.lock().await;
        let previous = held.take();
        *held = Some(self.obtain(previous.and_then(|t| t.refresh), clock).await?);
        Ok(())
    }

    async fn obtain(
        &self,
        refresh: Option<SecretString>,
        clock: &dyn crate::clock::Clock,
    ) -> Result<Token, String> {
        let token_url = TokenUrl::new(self.endpoint("token"))
            .map_err(|e| format!("--authority-url gives no valid token URL: {e}"))?;
        let client = BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(token_url.clone());
        let started = clock.now();
        let response = match &self.flow {
            Flow::Secret(secret) => client
                .set_client_secret(ClientSecret::new(secret.expose().to_string()))
                .exchange_client_credentials()
                .add_scope(Scope::new(self.scope.clone()))
                .request_async(&self.http)
                .await
                .map_err(|e| self.failure(e))?,
            Flow::Certificate(key) => client
                .exchange_client_credentials()
                .add_scope(Scope::new(self.scope.clone()))
                .add_extra_param(
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                )
                .add_extra_param(
                    "client_assertion",
                    key.assertion(&self.client_id, token_url.as_str())?,
                )
                .request_async(&self.http)
                .await
                .map_err(|e| self.failure(e))?,
            Flow::DeviceCode => {
                let refreshed = match refresh {
                    Some(refresh) => client
                        .exchange_refresh_token(&RefreshToken::new(refresh.expose().to_string()))
                        .add_scope(Scope::new(self.scope.clone()))
                        .request_async(&self.http)
                        .await
                        .map_err(|e| self.failure(e))
                        .inspect_err(|e| tracing::warn!("{e}; asking the analyst to sign in again"))
                        .ok(),
                    None => None,
                };
                match refreshed {
                    Some(response) => response,
                    // No refresh token, or a refused one: the analyst signs in again.
                    None => self.device_code(client).await?,
                }
            }
        };
        let lifetime = response
            .expires_in()
            .unwrap_or(Duration::from_secs(3600))
            .max(Duration::from_secs(1));
        tracing::info!(
            "signed in ({}); the token lasts {} s",
            self.describe(),
            lifetime.as_secs()
        );
        Ok(Token {
            access: SecretString::new(response.access_token().secret()),
            refresh: response
                .refresh_token()
                .map(|r| SecretString::new(r.secret())),
            obtained: started,
            lifetime,
        })
    }

    /// The device-code flow: print the code and where to enter it, then poll as told
    /// (`authorization_pending`: wait the interval; `slow_down`: wait longer).
    async fn device_code(
        &self,
        client: oauth2::Client<
            oauth2::basic::BasicErrorResponse,
            oauth2::basic::BasicTokenResponse,
            oauth2::basic::BasicTokenIntrospectionResponse,
            oauth2::StandardRevocableToken,
            oauth2::basic::BasicRevocationErrorResponse,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
    ) -> Result<oauth2::basic::BasicTokenResponse, String> {
        let device_url = DeviceAuthorizationUrl::new(self.endpoint("devicecode"))
            .map_err(|e| format!("--authority-url gives no valid device code URL: {e}"))?;
        let client = client.set_device_authorization_url(device_url);
        let details: StandardDeviceAuthorizationResponse = client
            .exchange_device_code()
            // offline_access: a refresh token, so a long collection renews without the analyst.
            .add_scope(Scope::new(self.scope.clone()))
            .add_scope(Scope::new("offline_access".into()))
            .request_async(&self.http)
            .await
            .map_err(|e| self.failure(e))?;
        eprintln!(
            "To sign in, open {} and enter the code {} (it expires in {} min).",
            details.verification_uri().as_str(),
            details.user_code().secret(),
            details.expires_in().as_secs().div_ceil(60)
        );
        client
            .exchange_device_access_token(&details)
            .request_async(&self.http, tokio::time::sleep, None)
            .await
            .map_err(|e| self.failure(e))
    }

    /// A failed exchange in words: the identity platform's error and description.
    /// (The description is shown on one line: Microsoft's goes on with `\r\nTrace ID: ...`.)
    fn failure<T: oauth2::ErrorResponse + 'static>(
        &self,
        error: oauth2::RequestTokenError<TokenHttpError, T>,
    ) -> String {
        let detail = match &error {
            oauth2::RequestTokenError::ServerResponse(response) => {
                let value = serde_json::to_value(response).unwrap_or_default();
                let text = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or("");
                format!("{} {}", text("error"), text("error_description"))
            }
            oauth2::RequestTokenError::Request(e) => e.to_string(),
            other => crate::wire::error_chain(other),
        };
        format!(
            "{} at {}: {}; check --tenant, --client-id, the secret or certificate, and that the \
             app has the permission the source needs",
            self.describe(),
            self.endpoint("token"),
            crate::wire::readable(detail.trim())
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_renewed_before_it_expires() {
        let now = Utc::now();
        let token = |lifetime: u64| Token {
            access: SecretString::new("a"),
            refresh: None,
            obtained: now,
            lifetime: Duration::from_secs(lifetime),
        };
        assert!(!token(3600).due(now + Duration::from_secs(3000)));
        assert!(token(3600).due(now + Duration::from_secs(3301)));
        assert!(!token(4).due(now + Duration::from_secs(2)));
        assert!(token(4).due(now + Duration::from_secs(3)));
    }
}

/// Who a token says it was issued to: Microsoft identity platform access tokens carry `oid`
/// (the signed-in user's or the application's object id), `tid` (the tenant) and `appid`
/// (v1.0 tokens) or `azp` (v2.0 tokens), per Microsoft's "Access token claims reference".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenClaims {
    pub object_id: Option<String>,
    pub tenant_id: Option<String>,
    pub application_id: Option<String>,
}

/// The claims of a JWT access token, read from its payload WITHOUT checking its signature
/// (the service checks it; this only records what the token says, for provenance). `None`
/// for a token that is not a JWT (an opaque token, or a test's) or says none of these.
pub fn unverified_claims(token: &str) -> Option<TokenClaims> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let text = |name: &str| {
        claims
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let found = TokenClaims {
        object_id: text("oid"),
        tenant_id: text("tid"),
        application_id: text("appid").or_else(|| text("azp")),
    };
    (found != TokenClaims::default()).then_some(found)
}

#[cfg(test)]
mod claims_tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn reads_oid_tid_and_app_without_verifying() {
        let encode = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let token = format!(
            "{}.{}.not-a-signature",
            encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            encode(r#"{"oid":"11111111-2222","tid":"tenant-guid","azp":"app-guid"}"#)
        );
        let claims = unverified_claims(&token).unwrap();
        assert_eq!(claims.object_id.as_deref(), Some("11111111-2222"));
        assert_eq!(claims.tenant_id.as_deref(), Some("tenant-guid"));
        assert_eq!(claims.application_id.as_deref(), Some("app-guid"));
        assert_eq!(unverified_claims("opaque-token"), None);
        assert_eq!(unverified_claims("a.!!!.c"), None);
    }
}
