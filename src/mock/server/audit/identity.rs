//! The identity platform's v2.0 token and device-code endpoints, as Microsoft's "OAuth 2.0
//! client credentials flow", "certificate credentials" and "device authorization grant"
//! documents describe them: form posts in, JSON out, errors as `{"error", "error_description"
//! (AADSTS...), "error_codes"}`.
//!
//! A client assertion is checked for its claims (`aud` this token URL, `iss` = `sub` = the
//! client id, `exp` ahead) and, when the app has a public key, its RS256 signature.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};

use super::{json_response, AuditService, Issued, GRAPH_AUDIENCE, MANAGEMENT_AUDIENCE};

/// An application registered in the mock tenant.
#[derive(Debug, Clone)]
pub struct AppSpec {
    pub client_id: String,
    pub secret: String,
    /// The public key (PEM) of the app's certificate: client assertions must be signed by it.
    pub public_key: Option<String>,
}

impl Default for AppSpec {
    fn default() -> Self {
        AppSpec {
            client_id: "mock-client-id".into(),
            secret: "mock-client-secret".into(),
            public_key: None,
        }
    }
}

fn aad_error(status: StatusCode, error: &str, code: u32, description: &str) -> Response {
    json_response(
        status,
        &json!({
            "error": error,
            "error_description": format!("AADSTS{code}: {description}"),
            "error_codes": [code],
        }),
    )
}

fn form(body: &Bytes) -> std::collections::HashMap<String, String> {
    url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) async fn device_code(
    State(service): State<Arc<AuditService>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form = form(&body);
    if let Err(response) = service.check_tenant(&tenant) {
        return response;
    }
    let Some(app) = form.get("client_id").and_then(|id| service.app(id)) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application not found in the directory.",
        );
    };
    let audience = match audience_of(form.get("scope").map(String::as_str).unwrap_or("")) {
        Ok(audience) => audience,
        Err(response) => return response,
    };
    let device_code = service.fresh("device-");
    let user_code = format!("M{:07}", service.next_serial() % 10_000_000);
    if let Ok(mut devices) = service.devices.lock() {
        devices.insert(device_code.clone(), (0, audience));
    }
    tracing::info!("device code {user_code} issued to {}", app.client_id);
    json_response(
        StatusCode::OK,
        &json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": format!("{}/devicelogin", service.base_url),
            "expires_in": 900,
            "interval": 1,
            "message": format!(
                "To sign in, use a web browser to open the page {}/devicelogin and enter the code {user_code} to authenticate.",
                service.base_url
            ),
        }),
    )
}

pub(super) async fn token(
    State(service): State<Arc<AuditService>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form = form(&body);
    if let Err(response) = service.check_tenant(&tenant) {
        return response;
    }
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("");
    let Some(app) = service.app(field("client_id")) else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory.",
                field("client_id")
            ),
        );
    };
    // The device code and the refresh token carry the resource they were asked for; the
    // client credentials grant names it in its scope.
    let (audience, refresh) = match field("grant_type") {
        "client_credentials" => {
            let audience = match audience_of(field("scope")) {
                Ok(audience) => audience,
                Err(response) => return response,
            };
            if let Err(response) = service.check_client(&app, &form, &tenant) {
                return response;
            }
            (audience, false)
        }
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let Ok(mut devices) = service.devices.lock() else {
                return aad_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", 0, "");
            };
            let Some((polls, audience)) = devices.get_mut(field("device_code")) else {
                return aad_error(
                    StatusCode::BAD_REQUEST,
                    "expired_token",
                    70020,
                    "The provided value for the input parameter 'device_code' is not valid.",
                );
            };
            *polls += 1;
            if *polls <= service.settings.device_pending_polls {
                return aad_error(
                    StatusCode::BAD_REQUEST,
                    "authorization_pending",
                    70016,
                    "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
                );
            }
            let audience = audience.clone();
            devices.remove(field("device_code"));
            (audience, true)
        }
        "refresh_token" => {
            let known = service
                .refresh_tokens
                .lock()
                .map(|mut tokens| tokens.remove(field("refresh_token")))
                .ok()
                .flatten();
            match known {
                Some((client_id, audience))
                    if client_id == app.client_id && !service.settings.refuse_refresh =>
                {
                    (audience, true)
                }
                _ => {
                    return aad_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        70000,
                        "The provided value for the 'refresh_token' is not valid.",
                    )
                }
            }
        }
        other => {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("The app requested an unsupported grant type '{other}'."),
            )
        }
    };
    service.issue(&app, &audience, refresh)
}

/// The resource of the one `.default` scope asked for (`offline_access` may stand beside it).
fn audience_of(scope: &str) -> Result<String, Response> {
    let resources: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| *s != "offline_access")
        .collect();
    match resources.as_slice() {
        [one] => match one.strip_suffix("/.default") {
            Some(resource @ (GRAPH_AUDIENCE | MANAGEMENT_AUDIENCE)) => Ok(resource.to_string()),
            _ => Err(aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                70011,
                &format!(
                    "The provided value for the input parameter 'scope' is not valid. The scope {one} is not valid."
                ),
            )),
        },
        _ => Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            "The provided value for the input parameter 'scope' is not valid: give one resource's .default scope.",
        )),
    }
}

impl AuditService {
    fn app(&self, client_id: &str) -> Option<AppSpec> {
        self.settings
            .apps
            .iter()
            .find(|a| a.client_id == client_id)
            .cloned()
    }

    pub(super) fn check_tenant(&self, tenant: &str) -> Result<(), Response> {
        if tenant == self.settings.tenant_id || tenant.ends_with(".onmicrosoft.com") {
            return Ok(());
        }
        Err(aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        ))
    }

    /// A client secret, or a client assertion.
    fn check_client(
        &self,
        app: &AppSpec,
        form: &std::collections::HashMap<String, String>,
        tenant: &str,
    ) -> Result<(), Response> {
        let invalid = |code: u32, description: &str| {
            aad_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                code,
                description,
            )
        };
        if let Some(secret) = form.get("client_secret") {
            return if *secret == app.secret {
                Ok(())
            } else {
                Err(invalid(
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
                ))
            };
        }
        let Some(assertion) = form.get("client_assertion") else {
            return Err(invalid(
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ));
        };
        if form.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err(invalid(
                700023,
                "The client_assertion_type is not jwt-bearer.",
            ));
        }
        let token_url = format!("{}/{tenant}/oauth2/v2.0/token", self.base_url);
        check_assertion(assertion, app, &token_url).map_err(|e| invalid(700027, &e))
    }

    fn issue(&self, app: &AppSpec, audience: &str, refresh: bool) -> Response {
        let ttl = self.settings.token_ttl;
        let access = self.fresh("mock-access-");
        if let Ok(mut issued) = self.issued.lock() {
            issued.insert(
                access.clone(),
                Issued {
                    audience: audience.to_string(),
                    expires: Instant::now() + ttl,
                },
            );
        }
        self.counters.tokens_issued.fetch_add(1, Ordering::Relaxed);
        let seconds = self.settings.announced_ttl.unwrap_or(ttl).as_secs().max(1);
        let mut body = json!({
            "token_type": "Bearer",
            "expires_in": seconds,
            "ext_expires_in": seconds,
            "access_token": access,
        });
        if refresh {
            let refresh_token = self.fresh("mock-refresh-");
            if let Ok(mut tokens) = self.refresh_tokens.lock() {
                tokens.insert(
                    refresh_token.clone(),
                    (app.client_id.clone(), audience.to_string()),
                );
            }
            body["refresh_token"] = Value::String(refresh_token);
            body["scope"] = Value::String(format!("{audience}/.default offline_access"));
        }
        json_response(StatusCode::OK, &body)
    }
}

/// Checks a client assertion's claims, and its signature when the app has a public key.
fn check_assertion(assertion: &str, app: &AppSpec, token_url: &str) -> Result<(), String> {
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, _signature] = parts.as_slice() else {
        return Err("The client assertion is not a JWT.".into());
    };
    let decode = |part: &str| -> Result<Value, String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| "The client assertion is not base64url.".to_string())?;
        serde_json::from_slice(&bytes).map_err(|_| "The client assertion is not JSON.".to_string())
    };
    let (header, claims) = (decode(header)?, decode(claims)?);
    if header["alg"] != "RS256" || !header["x5t"].is_string() {
        return Err("The client assertion must be RS256 with an x5t header.".into());
    }
    if claims["aud"] != token_url {
        return Err(format!(
            "The audience claim {} is not the token endpoint {token_url}.",
            claims["aud"]
        ));
    }
    if claims["iss"] != app.client_id.as_str() || claims["sub"] != app.client_id.as_str() {
        return Err("The iss and sub claims must be the client id.".into());
    }
    let now = chrono::Utc::now().timestamp();
    if claims["exp"].as_i64().is_none_or(|exp| exp <= now) {
        return Err("The client assertion has expired.".into());
    }
    if let Some(public_key) = &app.public_key {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_key.as_bytes())
            .map_err(|e| format!("The app's public key is not usable: {e}"))?;
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[token_url]);
        jsonwebtoken::decode::<Value>(assertion, &key, &validation)
            .map_err(|e| format!("The client assertion's signature is not valid: {e}"))?;
    }
    Ok(())
}
