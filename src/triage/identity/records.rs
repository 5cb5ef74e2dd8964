//! Entra ID sign-ins and directory audits as triage holds them: the fields the joins and the
//! session rules read, nothing else (the evidence keeps the rest).
//!
//! Shapes: microsoft-graph-docs-contrib `api-reference/beta/resources/signin.md` (`sessionId`
//! "identifier of the session that was generated during the sign-in", `uniqueTokenIdentifier`,
//! `correlationId`, `autonomousSystemNumber`, `originalTransferMethod` with `deviceCodeFlow`,
//! `signInEventTypes`, `isInteractive`, `riskLevelDuringSignIn`, `riskLevelAggregated`,
//! `riskState`, `deviceDetail`, `location.countryOrRegion`, `status.errorCode`; its
//! `userPrincipalName` "is always in lowercase") and `api-reference/v1.0/resources/
//! directoryaudit.md` (`activityDisplayName`, `activityDateTime`, `initiatedBy.user`,
//! `targetResources[]`, `correlationId`). Inferred: a v1.0 sign-in lacks the beta fields,
//! and is read with them empty.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::record::parse_timestamp;

/// One sign-in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SignIn {
    pub id: String,
    pub time: Option<DateTime<Utc>>,
    /// Lowercase.
    pub user: String,
    pub session: String,
    pub token: String,
    pub correlation: String,
    pub ip: String,
    pub asn: Option<u32>,
    pub country: String,
    pub app_id: String,
    pub app: String,
    pub user_agent: String,
    pub device_id: String,
    pub compliant: bool,
    pub interactive: bool,
    pub error: i64,
    /// `originalTransferMethod` (`deviceCodeFlow`), or `authenticationProtocol` `deviceCode`.
    pub device_code: bool,
    /// The highest of `riskLevelDuringSignIn` and `riskLevelAggregated` (`low`, `medium`,
    /// `high`), or `confirmedCompromised`/`atRisk` from `riskState`; empty when none or hidden.
    pub risk: String,
}

fn text<'a>(value: &'a Value, path: &[&str]) -> &'a str {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn risk_rank(level: &str) -> u8 {
    match level {
        "high" | "confirmedCompromised" => 3,
        "medium" | "atRisk" => 2,
        "low" => 1,
        _ => 0,
    }
}

impl SignIn {
    pub fn from_value(record: &Value) -> Self {
        let interactive = record
            .get("isInteractive")
            .and_then(Value::as_bool)
            .unwrap_or_else(|| {
                record
                    .get("signInEventTypes")
                    .and_then(Value::as_array)
                    .is_some_and(|t| t.iter().any(|t| t == "interactiveUser"))
            });
        let risk = [
            text(record, &["riskLevelDuringSignIn"]),
            text(record, &["riskLevelAggregated"]),
            text(record, &["riskState"]),
        ]
        .into_iter()
        .max_by_key(|level| risk_rank(level))
        .filter(|level| risk_rank(level) > 0)
        .unwrap_or("")
        .to_string();
        SignIn {
            id: text(record, &["id"]).to_string(),
            time: parse_timestamp(text(record, &["createdDateTime"])),
            user: text(record, &["userPrincipalName"]).to_lowercase(),
            session: text(record, &["sessionId"]).to_string(),
            token: text(record, &["uniqueTokenIdentifier"]).to_string(),
            correlation: text(record, &["correlationId"]).to_string(),
            ip: text(record, &["ipAddress"]).to_string(),
            asn: record
                .get("autonomousSystemNumber")
                .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n != 0),
            country: text(record, &["location", "countryOrRegion"]).to_string(),
            app_id: text(record, &["appId"]).to_lowercase(),
            app: text(record, &["appDisplayName"]).to_string(),
            user_agent: text(record, &["userAgent"]).to_string(),
            device_id: text(record, &["deviceDetail", "deviceId"]).to_string(),
            compliant: record
                .pointer("/deviceDetail/isCompliant")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            interactive,
            error: record
                .pointer("/status/errorCode")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            device_code: text(record, &["originalTransferMethod"]) == "deviceCodeFlow"
                || text(record, &["authenticationProtocol"]) == "deviceCode",
            risk,
        }
    }

    pub fn succeeded(&self) -> bool {
        self.error == 0
    }

    /// The network the sign-in came from: its ASN, or without one the address's prefix (/24
    /// for IPv4, /48 for IPv6).
    pub fn network(&self) -> String {
        match self.asn {
            Some(asn) => format!("AS{asn}"),
            None => prefix(&self.ip),
        }
    }
}

/// An address's prefix: /24 for IPv4, /48 for IPv6 (the address itself when it is neither).
pub fn prefix(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let o = v4.octets();
            format!("{}.{}.{}.0/24", o[0], o[1], o[2])
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => ip.to_string(),
    }
}

/// One directory audit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DirectoryAudit {
    pub id: String,
    pub time: Option<DateTime<Utc>>,
    pub activity: String,
    pub result: String,
    pub correlation: String,
    /// `initiatedBy.user.userPrincipalName`, lowercase (empty when an app initiated it).
    pub initiator: String,
    pub initiator_app: String,
    pub ip: String,
    /// The target users' principal names, lowercase.
    pub target_users: Vec<String>,
    /// The other targets: (type, display name, id).
    pub targets: Vec<(String, String, String)>,
    /// What the audit changed, as `name: new value` of `modifiedProperties`.
    pub changes: Vec<String>,
}

impl DirectoryAudit {
    pub fn from_value(record: &Value) -> Self {
        let mut target_users = Vec::new();
        let mut targets = Vec::new();
        let mut changes = Vec::new();
        for target in record
            .get("targetResources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let upn = text(target, &["userPrincipalName"]);
            if !upn.is_empty() {
                target_users.push(upn.to_lowercase());
            } else {
                targets.push((
                    text(target, &["type"]).to_string(),
                    text(target, &["displayName"]).to_string(),
                    text(target, &["id"]).to_string(),
                ));
            }
            for change in target
                .get("modifiedProperties")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let value = match change.get("newValue") {
                    Some(Value::String(s)) => s.trim_matches('"').to_string(),
                    Some(Value::Null) | None => String::new(),
                    Some(other) => other.to_string(),
                };
                changes.push(format!("{}: {value}", text(change, &["displayName"])));
            }
        }
        DirectoryAudit {
            id: text(record, &["id"]).to_string(),
            time: parse_timestamp(text(record, &["activityDateTime"])),
            activity: text(record, &["activityDisplayName"]).to_string(),
            result: text(record, &["result"]).to_string(),
            correlation: text(record, &["correlationId"]).to_string(),
            initiator: text(record, &["initiatedBy", "user", "userPrincipalName"]).to_lowercase(),
            initiator_app: text(record, &["initiatedBy", "app", "displayName"]).to_string(),
            ip: text(record, &["initiatedBy", "user", "ipAddress"]).to_string(),
            target_users,
            targets,
            changes,
        }
    }

    /// The people the audit concerns: its initiator and its target users.
    pub fn people(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.initiator.as_str())
            .chain(self.target_users.iter().map(String::as_str))
            .filter(|p| !p.is_empty())
    }
}

/// Which identity log a record is, judged by its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    SignIns,
    DirectoryAudits,
}

impl IdentityKind {
    /// `source` as a pull's manifest names it.
    pub fn from_source(source: &str) -> Option<Self> {
        match source {
            "signins" => Some(IdentityKind::SignIns),
            "directory-audits" => Some(IdentityKind::DirectoryAudits),
            _ => None,
        }
    }

    /// The kind of a record: a sign-in has `createdDateTime` and `userPrincipalName` (and one of
    /// `ipAddress`, `appId`, `status`); a directory audit `activityDateTime` and
    /// `activityDisplayName`.
    pub fn of_record(record: &Value) -> Option<Self> {
        let has = |key: &str| record.get(key).is_some();
        if has("activityDateTime") && has("activityDisplayName") {
            Some(IdentityKind::DirectoryAudits)
        } else if has("createdDateTime")
            && has("userPrincipalName")
            && (has("ipAddress") || has("appId") || has("status"))
        {
            Some(IdentityKind::SignIns)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            IdentityKind::SignIns => "sign-ins",
            IdentityKind::DirectoryAudits => "directory audits",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_beta_signin_is_read_with_its_session_token_network_and_risk() {
        let record = json!({
            "id": "s1", "createdDateTime": "2024-05-01T10:00:00Z",
            "userPrincipalName": "Ann@Contoso.com", "sessionId": "sess",
            "uniqueTokenIdentifier": "tok", "correlationId": "corr", "ipAddress": "64.227.44.21",
            "autonomousSystemNumber": 14061, "appId": "4765445B-32c6-49b0-83e6-1d93765276ca",
            "appDisplayName": "OfficeHome", "isInteractive": true,
            "originalTransferMethod": "deviceCodeFlow", "riskLevelDuringSignIn": "medium",
            "riskLevelAggregated": "hidden", "status": {"errorCode": 0},
            "deviceDetail": {"deviceId": "", "isCompliant": false},
            "location": {"countryOrRegion": "US"}
        });
        let signin = SignIn::from_value(&record);
        assert_eq!(signin.user, "ann@contoso.com");
        assert_eq!(
            (signin.session.as_str(), signin.token.as_str()),
            ("sess", "tok")
        );
        assert_eq!(signin.network(), "AS14061");
        assert!(signin.interactive && signin.device_code && signin.succeeded());
        assert_eq!(signin.risk, "medium");
        assert_eq!(signin.app_id, "4765445b-32c6-49b0-83e6-1d93765276ca");
        assert_eq!(
            IdentityKind::of_record(&record),
            Some(IdentityKind::SignIns)
        );
    }

    #[test]
    fn without_an_asn_the_network_is_the_prefix() {
        let v4 = SignIn {
            ip: "198.51.100.7".into(),
            ..SignIn::default()
        };
        assert_eq!(v4.network(), "198.51.100.0/24");
        assert_eq!(prefix("2001:db8:1:2::1"), "2001:db8:1::/48");
    }

    #[test]
    fn a_directory_audit_names_its_initiator_targets_and_changes() {
        let record = json!({
            "id": "Directory_1", "activityDateTime": "2024-05-01T10:05:00Z",
            "activityDisplayName": "Consent to application", "result": "success",
            "initiatedBy": {"user": {"userPrincipalName": "Ann@contoso.com", "ipAddress": "1.2.3.4"}},
            "targetResources": [{"type": "ServicePrincipal", "displayName": "0utlook", "id": "sp1",
                "modifiedProperties": [{"displayName": "ConsentAction.Permissions",
                    "newValue": "\"Scope: Mail.Read\""}]}]
        });
        let audit = DirectoryAudit::from_value(&record);
        assert_eq!(audit.people().collect::<Vec<_>>(), ["ann@contoso.com"]);
        assert_eq!(audit.targets[0].1, "0utlook");
        assert_eq!(
            audit.changes,
            ["ConsentAction.Permissions: Scope: Mail.Read"]
        );
        assert_eq!(
            IdentityKind::of_record(&record),
            Some(IdentityKind::DirectoryAudits)
        );
        assert_eq!(IdentityKind::of_record(&json!({"Id": 1})), None);
    }
}
