//! The shapes of the held-out family's records, one builder each: the Entra ID sign-in (Graph
//! beta `signIn`), the directory audit (Graph v1.0 `directoryAudit`) and the Unified Audit Log's
//! Exchange records (mailbox and admin), with the ids they join on.
//!
//! Documents followed: microsoft-graph-docs-contrib `api-reference/beta/resources/signin.md`
//! (property names and enums: `signInEventTypes` `interactiveUser`/`nonInteractiveUser`,
//! `incomingTokenType` `none`/`primaryRefreshToken`/`refreshToken`, `originalTransferMethod`
//! `none`/`deviceCodeFlow` "used to initiate a session throughout all subsequent request", so a
//! device-code session's refreshes carry it too; `authenticationProtocol` `deviceCode`/`ropc`;
//! `uniqueTokenIdentifier` "a unique base64 encoded request identifier"; risk enums),
//! `api-reference/v1.0/resources/directoryaudit.md`, and MicrosoftDocs/office-365-management-api
//! `office-365-management-activity-api-schema.md` (common schema with its `AppAccessContext`
//! complex type: `AADSessionId`, `UniqueTokenId`, `IssuedAtTime`, `ClientAppId`; the Exchange
//! mailbox and admin schemas). Inferred, not documented: that a mailbox record's `SessionId` is
//! the sign-in's `sessionId` (the brief of this family asks for it; the schema only says "the
//! session"), the id formats (GUIDs and base64 drawn from the seed), `userId` as a fixed GUID
//! per user derived from the name, and `deviceDetail.displayName` wording.

use chrono::{DateTime, SecondsFormat, Utc};
use fastrand::Rng;
use serde_json::{json, Value};

/// The heldout tenant's organization id (its own, not the mock server's).
pub const TENANT_ID: &str = "0c7e5f1a-93d2-4b8e-a1f4-6d2b9e7c3a58";

/// A GUID drawn from `rng`.
pub fn guid(rng: &mut Rng) -> String {
    format_guid(rng.u64(..), rng.u64(..))
}

/// A fixed GUID for `name` (FNV-1a of its bytes, twice), so a user keeps one `userId`.
pub fn stable_guid(name: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut second: u64 = 0x8422_2325_cbf2_9ce4;
    for byte in name.bytes() {
        hash = (hash ^ byte as u64).wrapping_mul(0x100_0000_01b3);
        second = (second ^ hash).wrapping_mul(0x100_0000_01b3);
    }
    format_guid(hash, second)
}

/// 128 bits as a version-4, RFC 4122 variant GUID.
fn format_guid(high: u64, low: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        high >> 32,
        (high >> 16) & 0xffff,
        high & 0xfff,
        0x8000 | (low >> 48) & 0x3fff,
        low & 0xffff_ffff_ffff
    )
}

/// A `uniqueTokenIdentifier`: 16 random bytes, base64url without padding (22 characters).
pub fn token_id(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..22).map(|_| ALPHABET[rng.usize(..64)] as char).collect()
}

/// Graph's time: UTC with milliseconds and `Z`.
pub fn graph_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The audit log's time: UTC without a zone designator.
pub fn ual_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A network a sign-in comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Net {
    pub ip: String,
    pub asn: u32,
    pub country: &'static str,
    pub city: &'static str,
}

/// A device as the sign-in's `deviceDetail` describes it.
#[derive(Debug, Clone)]
pub struct Device {
    pub id: String,
    pub name: String,
    pub os: &'static str,
    pub browser: &'static str,
    pub compliant: bool,
    pub trust: &'static str,
}

/// What the sign-in's risk fields say (the tenant has Entra ID P2).
#[derive(Debug, Clone, Copy)]
pub struct Risk {
    pub level: &'static str,
    pub state: &'static str,
    pub detail: &'static str,
    pub events: &'static [&'static str],
}

pub const NO_RISK: Risk = Risk {
    level: "none",
    state: "none",
    detail: "none",
    events: &[],
};

/// One sign-in's particulars.
#[derive(Debug, Clone)]
pub struct Auth<'a> {
    pub upn: &'a str,
    pub at: DateTime<Utc>,
    pub net: &'a Net,
    /// (`appId`, `appDisplayName`)
    pub app: (&'static str, &'static str),
    /// `clientAppUsed`
    pub client: &'static str,
    pub session: &'a str,
    pub interactive: bool,
    pub incoming: &'static str,
    pub transfer: &'static str,
    pub protocol: &'static str,
    pub device: Option<&'a Device>,
    /// What `deviceDetail` says when no device is known (the browser and system a user agent
    /// names).
    pub agent: (&'static str, &'static str),
    pub user_agent: &'a str,
    pub error: u32,
    /// The second factor satisfied, if any.
    pub mfa: Option<&'static str>,
    pub risk: Risk,
}

/// The token a sign-in issued, as the records it authorised name it.
#[derive(Debug, Clone)]
pub struct Token {
    pub upn: String,
    pub session: String,
    pub token: String,
    pub issued: DateTime<Utc>,
    pub app_id: String,
    pub ip: String,
}

fn failure_reason(code: u32) -> &'static str {
    match code {
        0 => "Other.",
        50126 => "Error validating credentials due to invalid username or password.",
        50053 => "Account is locked because user tried to sign in too many times with an incorrect user ID or password.",
        _ => "Sign-in failed.",
    }
}

/// The Graph beta `signIn` of `auth`, and the token it issued.
pub fn signin(rng: &mut Rng, auth: &Auth<'_>) -> (Value, Token) {
    let token = token_id(rng);
    let first = if auth.interactive {
        "Password"
    } else {
        "Previously satisfied"
    };
    let mut details = vec![json!({
        "authenticationStepDateTime": graph_time(auth.at),
        "authenticationMethod": first,
        "authenticationMethodDetail": if auth.interactive { "Password in the cloud" } else { "" },
        "succeeded": auth.error == 0,
        "authenticationStepResultDetail": if auth.error == 0 { "Correct password" } else { failure_reason(auth.error) },
        "authenticationStepRequirement": "Primary authentication",
    })];
    if let (Some(method), 0) = (auth.mfa, auth.error) {
        details.push(json!({
            "authenticationStepDateTime": graph_time(auth.at),
            "authenticationMethod": method,
            "authenticationMethodDetail": "",
            "succeeded": true,
            "authenticationStepResultDetail": if auth.interactive { "MFA successfully completed" } else { "MFA requirement satisfied by claim in the token" },
            "authenticationStepRequirement": "Multifactor authentication",
        }));
    }
    let (device_id, name, os, browser, compliant, trust) = match auth.device {
        Some(d) => (
            d.id.as_str(),
            d.name.as_str(),
            d.os,
            d.browser,
            d.compliant,
            d.trust,
        ),
        None => ("", "", auth.agent.1, auth.agent.0, false, ""),
    };
    let display = auth.upn.split('@').next().unwrap_or(auth.upn);
    let value = json!({
        "id": guid(rng),
        "createdDateTime": graph_time(auth.at),
        "userDisplayName": display,
        "userPrincipalName": auth.upn,
        "userId": stable_guid(auth.upn),
        "userType": "member",
        "appId": auth.app.0,
        "appDisplayName": auth.app.1,
        "resourceDisplayName": "Office 365 Exchange Online",
        "resourceId": "00000002-0000-0ff1-ce00-000000000000",
        "ipAddress": auth.net.ip,
        "autonomousSystemNumber": auth.net.asn,
        "clientAppUsed": auth.client,
        "userAgent": auth.user_agent,
        "correlationId": guid(rng),
        "sessionId": auth.session,
        "uniqueTokenIdentifier": token,
        "signInEventTypes": [if auth.interactive { "interactiveUser" } else { "nonInteractiveUser" }],
        "isInteractive": auth.interactive,
        "incomingTokenType": auth.incoming,
        "originalTransferMethod": auth.transfer,
        "authenticationProtocol": auth.protocol,
        "authenticationRequirement": if auth.mfa.is_some() { "multiFactorAuthentication" } else { "singleFactorAuthentication" },
        "conditionalAccessStatus": if auth.error == 0 { "success" } else { "notApplied" },
        "tokenIssuerType": "AzureAD",
        "crossTenantAccessType": "none",
        "status": {
            "errorCode": auth.error,
            "failureReason": failure_reason(auth.error),
            "additionalDetails": null,
        },
        "deviceDetail": {
            "deviceId": device_id,
            "displayName": name,
            "operatingSystem": os,
            "browser": browser,
            "isCompliant": compliant,
            "isManaged": compliant,
            "trustType": trust,
        },
        "location": {
            "city": auth.net.city,
            "state": "",
            "countryOrRegion": auth.net.country,
        },
        "riskLevelDuringSignIn": auth.risk.level,
        "riskLevelAggregated": auth.risk.level,
        "riskState": auth.risk.state,
        "riskDetail": auth.risk.detail,
        "riskEventTypes_v2": auth.risk.events,
        "authenticationDetails": details,
    });
    let issued = Token {
        upn: auth.upn.to_string(),
        session: auth.session.to_string(),
        token,
        issued: auth.at,
        app_id: auth.app.0.to_string(),
        ip: auth.net.ip.clone(),
    };
    (value, issued)
}

/// Who started a directory change: a user, with the address (every change in this family is
/// a user's).
pub enum Initiator<'a> {
    User { upn: &'a str, ip: &'a str },
}

/// A Graph v1.0 `directoryAudit`. `activity` is (activityDisplayName, category,
/// loggedByService) as entra-docs `reference-audit-activities.md` lists them.
pub fn directory_audit(
    rng: &mut Rng,
    at: DateTime<Utc>,
    (activity, category, service): (&str, &str, &str),
    initiator: Initiator<'_>,
    targets: Value,
    details: Value,
) -> Value {
    let initiated = match initiator {
        Initiator::User { upn, ip } => json!({
            "app": null,
            "user": {"id": stable_guid(upn), "displayName": null,
                     "userPrincipalName": upn, "ipAddress": ip},
        }),
    };
    let operation = if activity.starts_with("Add")
        || activity.contains("registered")
        || activity.starts_with("Register")
    {
        "Add"
    } else if activity.contains("deleted") || activity.starts_with("Delete") {
        "Delete"
    } else if activity.starts_with("Consent") {
        "Assign"
    } else {
        "Update"
    };
    json!({
        "id": format!("Directory_{}_{}", guid(rng), token_id(rng).get(..8).unwrap_or("")),
        "category": category,
        "correlationId": guid(rng),
        "result": "success",
        "resultReason": "",
        "activityDisplayName": activity,
        "activityDateTime": graph_time(at),
        "loggedByService": service,
        "operationType": operation,
        "initiatedBy": initiated,
        "targetResources": targets,
        "additionalDetails": details,
    })
}

/// The `targetResources` naming one user.
pub fn user_target(upn: &str) -> Value {
    json!([{
        "id": stable_guid(upn),
        "displayName": null,
        "type": "User",
        "userPrincipalName": upn,
        "modifiedProperties": [],
    }])
}

/// A mailbox record's client: what the UAL writes as `ClientInfoString`.
#[derive(Debug, Clone)]
pub struct Client {
    pub info: String,
    /// `LogonType`: 0 owner, 1 admin, 2 delegate.
    pub logon_type: u32,
}

/// The common and Exchange mailbox fields of a UAL record made through `token`, with its
/// `AppAccessContext` and `SessionId`.
pub fn mailbox_base(
    rng: &mut Rng,
    token: &Token,
    client: &Client,
    mailbox: &str,
    at: DateTime<Utc>,
    operation: &str,
) -> Value {
    let address = if token.ip.contains(':') {
        format!("[{}]:{}", token.ip, rng.u16(49152..65535))
    } else {
        format!("{}:{}", token.ip, rng.u16(49152..65535))
    };
    json!({
        "Id": guid(rng),
        "RecordType": 2,
        "CreationTime": ual_time(at),
        "Operation": operation,
        "OrganizationId": TENANT_ID,
        "UserType": 0,
        "UserKey": stable_guid(&token.upn),
        "Workload": "Exchange",
        "ResultStatus": "Succeeded",
        "UserId": token.upn,
        "ClientIPAddress": address,
        "ClientInfoString": client.info,
        "ExternalAccess": false,
        "LogonType": client.logon_type,
        "MailboxGuid": stable_guid(mailbox),
        "MailboxOwnerUPN": mailbox,
        "OrganizationName": "tailspinfreight.onmicrosoft.com",
        "SessionId": token.session,
        "AppAccessContext": app_access_context(token),
    })
}

/// The `AppAccessContext` of records made through `token`.
pub fn app_access_context(token: &Token) -> Value {
    json!({
        "AADSessionId": token.session,
        "UniqueTokenId": token.token,
        "IssuedAtTime": ual_time(token.issued),
        "ClientAppId": token.app_id,
    })
}

/// An Exchange admin record (`RecordType` 1): a cmdlet run by `actor` (`UserType` 0 a
/// regular user, 2 an admin), through `token` when the cmdlet came from a signed-in session
/// (OWA or Exchange Online PowerShell).
pub fn admin_record(
    rng: &mut Rng,
    (actor, user_type): (&str, u32),
    token: Option<&Token>,
    at: DateTime<Utc>,
    cmdlet: &str,
    object: &str,
    parameters: &[(&str, &str)],
) -> Value {
    let parameters: Vec<Value> = parameters
        .iter()
        .map(|(name, value)| json!({"Name": name, "Value": value}))
        .collect();
    let mut record = json!({
        "Id": guid(rng),
        "RecordType": 1,
        "CreationTime": ual_time(at),
        "Operation": cmdlet,
        "OrganizationId": TENANT_ID,
        "UserType": user_type,
        "UserKey": stable_guid(actor),
        "Workload": "Exchange",
        "ResultStatus": "True",
        "UserId": actor,
        "ObjectId": object,
        "ExternalAccess": false,
        "OrganizationName": "tailspinfreight.onmicrosoft.com",
        "OriginatingServer": format!("PAXP193MB{:04} (15.20.8{:03}.021)", rng.u16(1000..9999), rng.u16(100..999)),
        "Parameters": parameters,
    });
    if let Some(token) = token {
        record["ClientIP"] = json!(token.ip);
        record["SessionId"] = json!(token.session);
        record["AppAccessContext"] = app_access_context(token);
    }
    record
}
