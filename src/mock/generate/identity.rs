//! The tenant's Entra ID logs: sign-ins and directory audits of the same users as the corpus,
//! with the planted BEC told as an identity attack and the confounders a real tenant has.
//!
//! Shapes follow microsoft-graph-docs-contrib `api-reference/beta/resources/signin.md` (the
//! beta `signIn`: `sessionId`, `uniqueTokenIdentifier`, `signInEventTypes`,
//! `autonomousSystemNumber`, `incomingTokenType`, `originalTransferMethod`,
//! `authenticationDetails`, `deviceDetail`, `status.errorCode`) and
//! `api-reference/v1.0/resources/directoryaudit.md`; activity names, categories and services
//! of the audits are entra-docs `docs/identity/monitoring-health/reference-audit-activities.md`
//! ("User registered security info", "Consent to application"). Inferred, not documented: the
//! rhythm of sign-ins (a session a working day, refreshed hourly), the ASNs, and the id
//! formats (GUIDs, drawn from the seed).
//!
//! The attack: an interactive sign-in to OfficeHome through an AiTM proxy at a hosting
//! provider's ASN, MFA satisfied (the victim passed it through the proxy), no device id; its
//! session replayed from the attacker's own addresses as non-interactive sign-ins without a
//! device id; then an MFA method registered and consent to a lookalike app with Mail.Read and
//! offline_access. Confounders: the owner's session moving from office Wi-Fi to a mobile
//! carrier (one session, two addresses, the same compliant device), a dual-stack home (IPv4
//! and IPv6 in one session), a trip abroad with the owner's own device, password spraying
//! (error 50126) against many users, a colleague registering a new phone, an admin consenting
//! to a well-known app.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use fastrand::Rng;
use serde_json::{json, Value};

use super::Corpus;

/// OfficeHome's application id (the first-party app an AiTM kit's landing page is).
pub const OFFICE_HOME: &str = "4765445b-32c6-49b0-83e6-1d93765276ca";
const OUTLOOK: &str = "00000002-0000-0ff1-ce00-000000000000";
/// ASNs (inferred): the office's ISP, a mobile carrier, a home ISP, a foreign hotel's ISP, a
/// hosting provider (the AiTM proxy), the attacker's own networks.
const ASN_OFFICE: u32 = 3320;
const ASN_MOBILE: u32 = 3209;
const ASN_HOME: u32 = 6805;
const ASN_ABROAD: u32 = 3215;
const ASN_HOSTING: u32 = 14061;
const ASN_ATTACKER: u32 = 36873;
const ASN_SPRAY: u32 = 9009;

/// The sign-ins and directory audits of a tenant.
#[derive(Debug, Clone, Default)]
pub struct IdentityLogs {
    pub signins: Vec<Value>,
    pub directory_audits: Vec<Value>,
    /// The attacker's session (`sessionId`) and the lookalike app, when a BEC was planted.
    pub attacker_session: Option<String>,
    pub lookalike_app: Option<String>,
    /// The ids of the directory audits the attacker caused (the MFA method, the consent).
    pub attacker_audit_ids: Vec<String>,
    /// The address the password spraying came from, when the range held it.
    pub spray_address: Option<String>,
}

fn guid(rng: &mut Rng) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        rng.u32(..),
        rng.u16(..),
        rng.u16(..0x1000),
        rng.u16(0x8000..0xc000),
        rng.u64(..0x1_0000_0000_0000)
    )
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One sign-in's particulars.
struct SignIn<'a> {
    user: &'a str,
    at: DateTime<Utc>,
    ip: &'a str,
    asn: u32,
    app: (&'a str, &'a str),
    session: &'a str,
    interactive: bool,
    device: Option<&'a str>,
    country: &'a str,
    user_agent: &'a str,
    error: u32,
    mfa: bool,
}

fn signin(rng: &mut Rng, s: &SignIn<'_>) -> Value {
    let kind = if s.interactive {
        "interactiveUser"
    } else {
        "nonInteractiveUser"
    };
    let failure = match s.error {
        0 => "Other.",
        50126 => "Error validating credentials due to invalid username or password.",
        _ => "Sign-in failed.",
    };
    let mut details = vec![json!({
        "authenticationStepDateTime": time(s.at),
        "authenticationMethod": if s.interactive { "Password" } else { "Previously satisfied" },
        "succeeded": s.error == 0,
        "authenticationStepRequirement": "Primary authentication",
    })];
    if s.mfa && s.error == 0 {
        details.push(json!({
            "authenticationStepDateTime": time(s.at),
            "authenticationMethod": "Mobile app notification",
            "succeeded": true,
            "authenticationStepRequirement": "Multifactor authentication",
        }));
    }
    json!({
        "id": guid(rng),
        "createdDateTime": time(s.at),
        "userDisplayName": s.user.split('@').next().unwrap_or(s.user),
        "userPrincipalName": s.user,
        "userId": guid(rng),
        "appId": s.app.0,
        "appDisplayName": s.app.1,
        "ipAddress": s.ip,
        "clientAppUsed": "Browser",
        "userAgent": s.user_agent,
        "correlationId": guid(rng),
        "sessionId": s.session,
        "uniqueTokenIdentifier": format!("{:016x}{:06x}", rng.u64(..), rng.u32(..0x100_0000)),
        "signInEventTypes": [kind],
        "isInteractive": s.interactive,
        "autonomousSystemNumber": s.asn,
        "incomingTokenType": if s.interactive { "none" } else { "refreshToken" },
        "originalTransferMethod": "none",
        "authenticationRequirement": if s.mfa { "multiFactorAuthentication" } else { "singleFactorAuthentication" },
        "conditionalAccessStatus": "notApplied",
        "status": {
            "errorCode": s.error,
            "failureReason": failure,
        },
        "deviceDetail": {
            "deviceId": s.device.unwrap_or(""),
            "displayName": if s.device.is_some() { "LAPTOP-OWNER" } else { "" },
            "operatingSystem": "Windows10",
            "browser": "Edge 124.0.0",
            "isCompliant": s.device.is_some(),
            "isManaged": s.device.is_some(),
            "trustType": if s.device.is_some() { "Azure AD joined" } else { "" },
        },
        "location": {"city": "", "state": "", "countryOrRegion": s.country},
        "authenticationDetails": details,
    })
}

fn audit(
    rng: &mut Rng,
    at: DateTime<Utc>,
    (activity, category, service): (&str, &str, &str),
    initiator: &str,
    ip: &str,
    targets: Value,
) -> Value {
    json!({
        "id": format!("Directory_{}_{:05}", guid(rng), rng.u32(..100_000)),
        "category": category,
        "correlationId": guid(rng),
        "result": "success",
        "resultReason": "",
        "activityDisplayName": activity,
        "activityDateTime": time(at),
        "loggedByService": service,
        "operationType": "Add",
        "initiatedBy": {
            "app": null,
            "user": {"id": guid(rng), "displayName": null, "userPrincipalName": initiator, "ipAddress": ip},
        },
        "targetResources": targets,
        "additionalDetails": [],
    })
}

const REGISTER: (&str, &str, &str) = (
    "User registered security info",
    "UserManagement",
    "Authentication Methods",
);
const CONSENT: (&str, &str, &str) = (
    "Consent to application",
    "ApplicationManagement",
    "Core Directory",
);

fn consent_targets(rng: &mut Rng, app: &str, scopes: &str) -> Value {
    json!([{
        "id": guid(rng),
        "displayName": app,
        "type": "ServicePrincipal",
        "modifiedProperties": [
            {"displayName": "ConsentAction.Permissions", "oldValue": null,
             "newValue": format!("\"Scope: {scopes}\"")},
        ],
    }])
}

fn user_target(rng: &mut Rng, user: &str) -> Value {
    json!([{
        "id": guid(rng),
        "displayName": null,
        "type": "User",
        "userPrincipalName": user,
        "modifiedProperties": [],
    }])
}

/// The Entra ID logs of `corpus`'s users over `days` up to `end`, from `seed`.
pub fn identity_logs(corpus: &Corpus, end: DateTime<Utc>, days: u32, seed: u64) -> IdentityLogs {
    let mut rng = Rng::with_seed(seed ^ 0x51_6e_49_6e);
    let mut logs = IdentityLogs::default();
    let users: Vec<String> = corpus.mailboxes.iter().map(|(u, _)| u.clone()).collect();
    let owner_ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
         Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0";
    let start = end - Duration::days(days as i64);
    let victim = corpus.truth.as_ref().map(|t| t.mailbox.clone());
    // Ordinary days: a session a working day from the office, refreshed hourly; the owner of
    // the first mailbox moves to a mobile carrier in the afternoon (one session, the same
    // compliant device) and works from a dual-stack home on Fridays; the second mailbox's
    // owner travels abroad with their own device on days 2 and 3.
    for (n, (user, activities)) in corpus.mailboxes.iter().enumerate() {
        let device = guid(&mut rng);
        // The office: the address the mailbox's own logons come from most.
        let office =
            most_used_address(activities).unwrap_or_else(|| format!("203.0.113.{}", 10 + n % 200));
        for day in 0..days as i64 {
            let day_start = start + Duration::days(day) + Duration::hours(8);
            if day_start + Duration::hours(10) > end {
                break;
            }
            let session = guid(&mut rng);
            let abroad = n == 1 && (2..4).contains(&day);
            let home = day % 7 == 4;
            let (ip, asn, country) = if abroad {
                ("81.2.69.160".to_string(), ASN_ABROAD, "GB")
            } else if home {
                (format!("198.51.100.{}", 20 + n % 200), ASN_HOME, "DE")
            } else {
                (office.clone(), ASN_OFFICE, "DE")
            };
            let mut add = |rng: &mut Rng, at, ip: &str, asn, interactive| {
                logs.signins.push(signin(
                    rng,
                    &SignIn {
                        user,
                        at,
                        ip,
                        asn,
                        app: if interactive {
                            (OFFICE_HOME, "OfficeHome")
                        } else {
                            (OUTLOOK, "Office 365 Exchange Online")
                        },
                        session: &session,
                        interactive,
                        device: Some(&device),
                        country,
                        user_agent: owner_ua,
                        error: 0,
                        mfa: interactive,
                    },
                ))
            };
            add(&mut rng, day_start, &ip, asn, true);
            for hour in 1..9 {
                let at = day_start + Duration::hours(hour) + Duration::minutes(rng.i64(0..50));
                let (ip, asn) = if n == 0 && !home && !abroad && hour >= 6 {
                    (format!("100.64.{}.{}", n % 200, 1 + day % 200), ASN_MOBILE)
                } else if home && hour % 2 == 0 {
                    (format!("2001:db8:{:x}::1", 0x100 + n), ASN_HOME)
                } else {
                    (ip.clone(), asn)
                };
                add(&mut rng, at, &ip, asn, false);
            }
        }
    }
    // Password spraying: one address, error 50126, every user, a minute apart.
    let spray = start + Duration::days((days as i64 / 2).max(1)) + Duration::hours(3);
    if spray < end {
        logs.spray_address = Some("185.220.101.33".into());
        for (n, user) in users.iter().enumerate() {
            let session = guid(&mut rng);
            logs.signins.push(signin(
                &mut rng,
                &SignIn {
                    user,
                    at: spray + Duration::minutes(n as i64),
                    ip: "185.220.101.33",
                    asn: ASN_SPRAY,
                    app: (OFFICE_HOME, "OfficeHome"),
                    session: &session,
                    interactive: true,
                    device: None,
                    country: "NL",
                    user_agent: "python-requests/2.31",
                    error: 50126,
                    mfa: false,
                },
            ));
        }
    }
    // Confounders in the directory: a colleague registers a new phone; an admin consents to a
    // well-known app.
    let admin = users.last().cloned().unwrap_or_default();
    if let Some(colleague) = users.iter().find(|u| Some(*u) != victim.as_ref()) {
        let at = start + Duration::days(1) + Duration::hours(9);
        if at < end {
            let targets = user_target(&mut rng, colleague);
            logs.directory_audits.push(audit(
                &mut rng,
                at,
                REGISTER,
                colleague,
                "203.0.113.11",
                targets,
            ));
            let targets = consent_targets(&mut rng, "Zoom", "User.Read offline_access");
            logs.directory_audits.push(audit(
                &mut rng,
                at + Duration::hours(2),
                CONSENT,
                &admin,
                "203.0.113.12",
                targets,
            ));
        }
    }
    if let (Some(truth), Some(victim)) = (&corpus.truth, &victim) {
        plant_attack(&mut rng, &mut logs, corpus, truth, victim, end);
    }
    logs.signins.sort_by(|a, b| {
        a["createdDateTime"]
            .as_str()
            .cmp(&b["createdDateTime"].as_str())
    });
    logs.directory_audits.sort_by(|a, b| {
        a["activityDateTime"]
            .as_str()
            .cmp(&b["activityDateTime"].as_str())
    });
    logs
}

/// The client address a mailbox's logons name most often (`ClientIP`, `IPAddress`).
fn most_used_address(activities: &[crate::mock::store::StoredActivity]) -> Option<String> {
    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
    for activity in activities {
        let Ok(value) = serde_json::from_str::<Value>(&activity.json) else {
            continue;
        };
        let Some(properties) = value["CustomProperties"].as_array() else {
            continue;
        };
        for p in properties {
            if p["Name"] == "ClientIP" || p["Name"] == "IPAddress" {
                if let Some(ip) = p["Value"].as_str().and_then(|v| v.split(',').next()) {
                    if !ip.trim().is_empty() {
                        *counts.entry(ip.trim().to_string()).or_default() += 1;
                    }
                }
            }
        }
    }
    counts
        .into_iter()
        .max_by_key(|(ip, n)| (*n, std::cmp::Reverse(ip.clone())))
        .map(|(ip, _)| ip)
}

/// The first attacker activity in the victim's mailbox: the AiTM sign-in came just before.
fn first_attacker_activity(corpus: &Corpus, truth: &super::Truth) -> Option<DateTime<Utc>> {
    corpus
        .mailboxes
        .iter()
        .flat_map(|(_, activities)| activities.iter())
        .filter(|a| truth.attacker_activity_ids.contains(&a.id))
        .map(|a| DateTime::from_timestamp_nanos(a.time_nanos))
        .min()
}

fn plant_attack(
    rng: &mut Rng,
    logs: &mut IdentityLogs,
    corpus: &Corpus,
    truth: &super::Truth,
    victim: &str,
    end: DateTime<Utc>,
) {
    let Some(first) = first_attacker_activity(corpus, truth) else {
        return;
    };
    let session = guid(rng);
    let proxy_ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
         Gecko) Chrome/124.0.0.0 Safari/537.36";
    let aitm = first - Duration::minutes(20);
    logs.signins.push(signin(
        rng,
        &SignIn {
            user: victim,
            at: aitm,
            ip: "64.227.44.21",
            asn: ASN_HOSTING,
            app: (OFFICE_HOME, "OfficeHome"),
            session: &session,
            interactive: true,
            device: None,
            country: "US",
            user_agent: proxy_ua,
            error: 0,
            mfa: true,
        },
    ));
    let attacker_ua = truth
        .attacker_user_agents
        .first()
        .cloned()
        .unwrap_or_default();
    let mut at = first - Duration::minutes(2);
    for (n, ip) in truth.attacker_ips.iter().cycle().take(12).enumerate() {
        if at >= end {
            break;
        }
        logs.signins.push(signin(
            rng,
            &SignIn {
                user: victim,
                at,
                ip,
                asn: ASN_ATTACKER,
                app: (OUTLOOK, "Office 365 Exchange Online"),
                session: &session,
                interactive: false,
                device: None,
                country: "NG",
                user_agent: &attacker_ua,
                error: 0,
                mfa: false,
            },
        ));
        at += Duration::minutes(25 + 5 * n as i64);
    }
    let ip = truth.attacker_ips.first().cloned().unwrap_or_default();
    let registered = first + Duration::minutes(5);
    if registered < end {
        let targets = user_target(rng, victim);
        let record = audit(rng, registered, REGISTER, victim, &ip, targets);
        logs.attacker_audit_ids
            .extend(record["id"].as_str().map(String::from));
        logs.directory_audits.push(record);
    }
    let consented = first + Duration::minutes(9);
    let app = "0utlook Mail Sync";
    if consented < end {
        let targets = consent_targets(rng, app, "Mail.Read offline_access User.Read");
        let record = audit(rng, consented, CONSENT, victim, &ip, targets);
        logs.attacker_audit_ids
            .extend(record["id"].as_str().map(String::from));
        logs.directory_audits.push(record);
    }
    logs.attacker_session = Some(session);
    logs.lookalike_app = Some(app.into());
}

/// The Entra ID logs of `corpus` over the days its mailboxes span (up to its newest activity).
pub fn identity_logs_of(corpus: &Corpus, seed: u64) -> IdentityLogs {
    let times = corpus
        .mailboxes
        .iter()
        .flat_map(|(_, activities)| activities.iter().map(|a| a.time_nanos));
    let (Some(first), Some(last)) = (times.clone().min(), times.max()) else {
        return IdentityLogs::default();
    };
    let end = DateTime::from_timestamp_nanos(last) + Duration::seconds(1);
    let days = ((last - first) / 86_400_000_000_000 + 1).clamp(1, 180) as u32;
    identity_logs(corpus, end, days, seed)
}

/// The address of a UAL record's `ClientIPAddress` (`1.2.3.4:443`, `[2001:db8::1]:443`).
fn address_of(text: &str) -> &str {
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match text.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => ip,
        _ => text,
    }
}

/// Gives each of `records` (Unified Audit Log records of `mock::audit_log`) the
/// `AppAccessContext` of the sign-in its session came from: the latest successful sign-in of
/// its user from its address at or before it (`AADSessionId`, `UniqueTokenId`,
/// `IssuedAtTime`, `ClientAppId`, as MicrosoftDocs/office-365-management-api
/// `office-365-management-activity-api-schema.md` names the properties of its
/// `AppAccessContext`). Records without a matching sign-in are left as they are. Opt-in: the
/// records `audit_log::audit_records` makes (and every output built on them) are unchanged.
pub fn add_app_access_context(records: &mut [Value], logs: &IdentityLogs) {
    let mut signins: Vec<(String, &str, DateTime<Utc>, &Value)> = logs
        .signins
        .iter()
        .filter(|s| s["status"]["errorCode"] == 0)
        .filter_map(|s| {
            let at = DateTime::parse_from_rfc3339(s["createdDateTime"].as_str()?).ok()?;
            Some((
                s["userPrincipalName"].as_str()?.to_ascii_lowercase(),
                s["ipAddress"].as_str()?,
                at.with_timezone(&Utc),
                s,
            ))
        })
        .collect();
    signins.sort_by(|a, b| (&a.0, a.1, a.2).cmp(&(&b.0, b.1, b.2)));
    for record in records.iter_mut() {
        let (Some(user), Some(address), Some(at)) = (
            record["UserId"].as_str().map(str::to_ascii_lowercase),
            record["ClientIPAddress"].as_str().map(address_of),
            record["CreationTime"]
                .as_str()
                .and_then(crate::mock::files::parse_time),
        ) else {
            continue;
        };
        let address = address.to_string();
        let found = signins
            .iter()
            .rfind(|(u, ip, t, _)| *u == user && *ip == address && *t <= at);
        if let Some((_, _, _, signin)) = found {
            record["AppAccessContext"] = json!({
                "AADSessionId": signin["sessionId"],
                "UniqueTokenId": signin["uniqueTokenIdentifier"],
                "IssuedAtTime": signin["createdDateTime"],
                "ClientAppId": signin["appId"],
            });
        }
    }
}

/// What `add_session_persistence` planted: the ids of its persistence records.
#[derive(Debug, Clone, Default)]
pub struct SessionPersistence {
    pub persistence_ids: Vec<String>,
}

/// Adds to the identity scenario's audit log, in the attacker's session (its last mailbox
/// record's `AppAccessContext`, address and client), what an attacker does after reading: a
/// `MailItemsAccessed` Sync of the Inbox (the whole folder downloaded) and the record with
/// `IsThrottled` True that follows heavy access (Purview's MailItemsAccessed page: a mailbox
/// over its limit is throttled for 24 hours, unaudited), then `Add-MailboxPermission`
/// (FullAccess for an account of the attacker's) and `Set-AdminAuditLogConfig
/// -UnifiedAuditLogIngestionEnabled $false`, as the Management Activity API schema's Exchange
/// mailbox and admin records (`Parameters` of Name/Value pairs) have them. Record ids are
/// drawn from the seed. Only the identity scenario calls this: the mailbox audit log of
/// `audit_log::audit_records` (and every golden output) is unchanged.
pub fn add_session_persistence(
    records: &mut Vec<Value>,
    attacker_session: Option<&str>,
    seed: u64,
) -> SessionPersistence {
    let mut planted = SessionPersistence::default();
    let Some(session) = attacker_session else {
        return planted;
    };
    let Some(last) = records
        .iter()
        .rfind(|r| r["AppAccessContext"]["AADSessionId"] == session)
        .cloned()
    else {
        return planted;
    };
    let Some(at) = last["CreationTime"]
        .as_str()
        .and_then(crate::mock::files::parse_time)
    else {
        return planted;
    };
    let mut rng = Rng::with_seed(seed ^ 0x5e_55_10_4e);
    let mailbox = last["UserId"].as_str().unwrap_or("").to_string();
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let mut record = |minutes: i64, operation: &str, fields: Value| {
        let mut record = last.clone();
        let id = guid(&mut rng);
        record["Id"] = json!(id);
        record["CreationTime"] = json!(stamp(at + Duration::minutes(minutes)));
        record["Operation"] = json!(operation);
        for key in [
            "Folders",
            "OperationProperties",
            "Item",
            "AffectedItems",
            "DestFolder",
            "QueryText",
            "OperationCount",
        ] {
            if let Some(object) = record.as_object_mut() {
                object.remove(key);
            }
        }
        if let (Some(object), Value::Object(extra)) = (record.as_object_mut(), fields) {
            object.extend(extra);
        }
        records.push(record);
        id
    };
    record(
        1,
        "MailItemsAccessed",
        json!({"OperationProperties": [{"Name": "MailAccessType", "Value": "Sync"},
            {"Name": "IsThrottled", "Value": "False"}],
            "Folders": [{"Path": "\\Inbox"}], "OperationCount": 1}),
    );
    record(
        2,
        "MailItemsAccessed",
        json!({"OperationProperties": [{"Name": "MailAccessType", "Value": "Bind"},
            {"Name": "IsThrottled", "Value": "True"}], "OperationCount": 1}),
    );
    let admin = |parameters: Value| {
        json!({"RecordType": 1, "Workload": "Exchange", "ObjectId": mailbox.clone(),
            "Parameters": parameters, "ClientIP": last["ClientIPAddress"].clone()})
    };
    let permission = record(
        3,
        "Add-MailboxPermission",
        admin(json!([{"Name": "Identity", "Value": mailbox.clone()},
            {"Name": "User", "Value": "svc-archive@contoso.com"},
            {"Name": "AccessRights", "Value": "FullAccess"}])),
    );
    let audit_off = record(
        4,
        "Set-AdminAuditLogConfig",
        admin(json!([{"Name": "UnifiedAuditLogIngestionEnabled", "Value": "False"}])),
    );
    planted.persistence_ids = vec![permission, audit_off];
    records.sort_by(|a, b| a["CreationTime"].as_str().cmp(&b["CreationTime"].as_str()));
    planted
}

/// Microsoft Azure CLI's application id (a first-party public client that signs in by device
/// code).
const AZURE_CLI: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";

/// A confounder for device-code phishing, for the identity scenario: `admin` signs in to the
/// Azure CLI by device code (`originalTransferMethod` deviceCodeFlow, `authenticationProtocol`
/// deviceCode, as the beta `signIn` names them) once a week from `address`, each time a session
/// of its own without a device id (the CLI's host is not registered). Sign-ins are appended;
/// the caller keeps them in time order.
pub fn add_device_code_admin(
    signins: &mut Vec<Value>,
    admin: &str,
    address: &str,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    seed: u64,
) {
    let mut rng = Rng::with_seed(seed ^ 0xde_71_ce_c0);
    let mut at = start + Duration::days(1) + Duration::hours(10);
    while at < end {
        let session = guid(&mut rng);
        let mut record = signin(
            &mut rng,
            &SignIn {
                user: admin,
                at,
                ip: address,
                asn: ASN_OFFICE,
                app: (AZURE_CLI, "Microsoft Azure CLI"),
                session: &session,
                interactive: true,
                device: None,
                country: "DE",
                user_agent: "",
                error: 0,
                mfa: true,
            },
        );
        record["originalTransferMethod"] = json!("deviceCodeFlow");
        record["authenticationProtocol"] = json!("deviceCode");
        record["clientAppUsed"] = json!("Mobile Apps and Desktop clients");
        signins.push(record);
        at += Duration::days(7);
    }
}
