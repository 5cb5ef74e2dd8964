//! Who may call: Bearer tokens (some withdrawn, some expiring), Basic on v1.0.

use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::{odata_error, Tenant};

impl Tenant {
    /// The caller's identity (a token), or the error response to send.
    pub(super) fn authenticate(
        &self,
        headers: &HeaderMap,
        version: &str,
    ) -> Result<(String, Option<String>), Response> {
        let Some(authorization) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
            return Err(odata_error(
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ));
        };
        let (token, basic_user) = if let Some(token) = authorization.strip_prefix("Bearer ") {
            (token.trim().to_string(), None)
        } else if let Some(encoded) = authorization.strip_prefix("Basic ") {
            if version != "v1.0" {
                return Err(unauthorized(
                    "Basic authentication is accepted only by the v1.0 endpoint.",
                ));
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok());
            let Some((user, password)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
                return Err(unauthorized("The Basic credentials could not be decoded."));
            };
            (password.to_string(), Some(user.to_ascii_lowercase()))
        } else {
            return Err(odata_error(
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            ));
        };
        let Some(spec) = self.settings.tokens.iter().find(|t| t.token == token) else {
            return Err(unauthorized("The token is not valid."));
        };
        if spec.withdrawn {
            return Err(odata_error(
                StatusCode::FORBIDDEN,
                "ErrorAccessDenied",
                "AppId: \"d3590ed6-52b3-4102-aeff-aad2292ab01c\" is not allowed.",
            ));
        }
        if let Some(ttl) = self.settings.faults.token_ttl {
            let mut first_use = self
                .first_use
                .lock()
                .map_err(|_| unauthorized("internal"))?;
            match first_use.get(&token) {
                Some(first) if first.elapsed() > ttl => {
                    return Err(unauthorized("The token has expired."))
                }
                Some(_) => {}
                None => {
                    first_use.insert(token.clone(), Instant::now());
                }
            }
        }
        Ok((token, basic_user.or_else(|| spec.me.clone())))
    }
}

fn unauthorized(reason: &str) -> Response {
    let diagnostics = format!("2000003;reason=\"{reason}\";error_category=\"invalid_token\"");
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&diagnostics) {
        headers.insert("x-ms-diagnostics", value);
    }
    headers.insert(
        "www-authenticate",
        HeaderValue::from_static(
            "Bearer client_id=\"00000002-0000-0ff1-ce00-000000000000\", error=\"invalid_token\"",
        ),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::super::TokenSpec;

    #[test]
    fn token_specs() {
        let t = TokenSpec::parse("withdrawn:abc=Me@X.com").unwrap();
        assert!(t.withdrawn);
        assert_eq!(t.token, "abc");
        assert_eq!(t.me.as_deref(), Some("me@x.com"));
        assert!(TokenSpec::parse("").is_err());
    }
}
