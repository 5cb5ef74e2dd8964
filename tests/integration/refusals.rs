//! Fatal answers: each stops the run with a message that says what to do, and exit code 3.

use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::*;

async fn refusal(response: ResponseTemplate) -> (String, i32, usize) {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(response)
        .expect(1)
        .mount(&server)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (result, sleeper) = run(&config(&server.uri(), &dir.path().join("o.jsonl"), &[])).await;
    let error = result.unwrap_err();
    (error.to_string(), error.exit_code(), sleeper.waits().len())
}

#[tokio::test]
async fn expired_token_shows_the_diagnostics_reason() {
    let (message, code, retries) = refusal(
        ResponseTemplate::new(401)
            .insert_header(
                "x-ms-diagnostics",
                "2000003;reason=\"The token has expired.\";error_category=\"invalid_token\"",
            )
            .insert_header("WWW-Authenticate", "Bearer error=\"invalid_token\""),
    )
    .await;
    assert_eq!((code, retries), (3, 0));
    assert!(message.contains("The token has expired."), "{message}");
    assert!(message.contains("get a new one"), "{message}");
}

#[tokio::test]
async fn withdrawn_app_explains_the_2018_withdrawal() {
    let (message, code, _) = refusal(ResponseTemplate::new(403).set_body_json(serde_json::json!({
        "error": {"code": "ErrorAccessDenied", "message": "AppId: \"d3590ed6-52b3-4102-aeff-aad2292ab01c\" is not allowed."}
    })))
    .await;
    assert_eq!(code, 3);
    assert!(
        message.contains("withdrew the Activities API in July 2018"),
        "{message}"
    );
}

#[tokio::test]
async fn forbidden_without_credentials_says_how_to_authenticate() {
    let (message, code, _) = refusal(ResponseTemplate::new(403)).await;
    assert_eq!(code, 3);
    assert!(message.contains("OAUTH_TOKEN"), "{message}");
}

#[tokio::test]
async fn missing_permission_explains_fullaccess_and_propagation() {
    let (message, code, _) = refusal(ResponseTemplate::new(404).set_body_json(serde_json::json!({
        "error": {"code": "ErrorItemNotFound", "message": "The specified object was not found in the store. Default folder ActivityLogs not found."}
    })))
    .await;
    assert_eq!(code, 3);
    assert!(
        message.contains("FullAccess") && message.contains("Mail.Read.Shared"),
        "{message}"
    );
    assert!(message.contains("propagate"), "{message}");
    assert!(message.contains(USER), "{message}");
}

#[tokio::test]
async fn bad_request_shows_the_servers_message_and_the_query() {
    let (message, code, _) = refusal(ResponseTemplate::new(400).set_body_json(serde_json::json!({
        "error": {"code": "ErrorInvalidUrlQueryFilter", "message": "The $filter is not valid."}
    })))
    .await;
    assert_eq!(code, 3);
    assert!(message.contains("The $filter is not valid."), "{message}");
    assert!(message.contains("$orderby=TimeStamp asc"), "{message}");
}
