//! What a real tenant has that looks like an attack and is not, beyond the working days of
//! `tenant`: a conference-room device signed in by device code, a helpdesk admin resetting
//! and registering people's MFA methods, an admin consenting to a well-known app (the same
//! three directory audits a consent phish leaves), mailbox permissions, rules and forwarding
//! set for business reasons, and password spraying: low and slow, from several addresses
//! abroad, legacy authentication (ROPC, `BAV2ROPC`), errors 50126 and 50053, never a success.
//!
//! Activity names, categories and services are entra-docs
//! `docs/identity/monitoring-health/reference-audit-activities.md` (Core Directory
//! ApplicationManagement "Add service principal", "Add delegated permission grant", "Consent to
//! application"; Authentication Methods UserManagement "Admin registered security info",
//! "Admin deleted security info"). Inferred: the `modifiedProperties` wording
//! (`ConsentContext.IsAdminConsent`, `ConsentAction.Permissions`, `DelegatedPermissionGrant.Scope`)
//! and the `additionalDetails` keys, as portal exports show them.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::log::Log;
use super::mailbox::{self, Access};
use super::network::*;
use super::shapes::{guid, user_target, Auth, Device, Initiator, Token, NO_RISK};
use super::tenant::{weekday, Role, User, DOMAIN};

pub const ADD_SERVICE_PRINCIPAL: (&str, &str, &str) = (
    "Add service principal",
    "ApplicationManagement",
    "Core Directory",
);
pub const ADD_GRANT: (&str, &str, &str) = (
    "Add delegated permission grant",
    "ApplicationManagement",
    "Core Directory",
);
pub const CONSENT: (&str, &str, &str) = (
    "Consent to application",
    "ApplicationManagement",
    "Core Directory",
);
const ADMIN_REGISTERED: (&str, &str, &str) = (
    "Admin registered security info",
    "UserManagement",
    "Authentication Methods",
);
const ADMIN_DELETED: (&str, &str, &str) = (
    "Admin deleted security info",
    "UserManagement",
    "Authentication Methods",
);

/// The conference room's resource account.
pub const ROOM: &str = "salle.rhone@tailspin-freight.example";

fn app_target(app: &str, properties: Value) -> Value {
    json!([{
        "id": super::shapes::stable_guid(app),
        "displayName": app,
        "type": "ServicePrincipal",
        "modifiedProperties": properties,
    }])
}

/// The three directory audits of a consent to `app` with `scopes` by `by` from `ip`; their ids.
pub fn consent(
    log: &mut Log,
    at: DateTime<Utc>,
    (by, ip): (&str, &str),
    app: &str,
    scopes: &str,
    admin: bool,
) -> Vec<String> {
    let added = log.audit(
        at,
        ADD_SERVICE_PRINCIPAL,
        Initiator::User { upn: by, ip },
        app_target(app, json!([
            {"displayName": "AccountEnabled", "oldValue": "[]", "newValue": "[true]"},
            {"displayName": "DisplayName", "oldValue": "[]", "newValue": format!("[\"{app}\"]")},
        ])),
        json!([{"key": "AppId", "value": super::shapes::stable_guid(app)}]),
    );
    let granted = log.audit(
        at + Duration::seconds(1),
        ADD_GRANT,
        Initiator::User { upn: by, ip },
        app_target(
            "Microsoft Graph",
            json!([
                {"displayName": "DelegatedPermissionGrant.Scope", "oldValue": null,
                 "newValue": format!("\"{scopes}\"")},
                {"displayName": "DelegatedPermissionGrant.ConsentType", "oldValue": null,
                 "newValue": if admin { "\"AllPrincipals\"" } else { "\"Principal\"" }},
            ]),
        ),
        json!([]),
    );
    let consented = log.audit(
        at + Duration::seconds(1),
        CONSENT,
        Initiator::User { upn: by, ip },
        app_target(
            app,
            json!([
                {"displayName": "ConsentContext.IsAdminConsent", "oldValue": null,
                 "newValue": if admin { "\"True\"" } else { "\"False\"" }},
                {"displayName": "ConsentAction.Permissions", "oldValue": null,
                 "newValue": format!("\"Scope: {scopes}\"")},
            ]),
        ),
        json!([{"key": "User-Agent", "value": EDGE_UA}]),
    );
    vec![added, granted, consented]
}

/// Every confounder outside the working days; the spraying addresses.
pub fn confounders(
    log: &mut Log,
    people: &[User],
    tokens: &[Token],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<String> {
    conference_room(log, start, end);
    directory_work(log, people, start);
    mailbox_admin(log, people, tokens);
    spraying(log, people, start, end)
}

/// The room's Teams device, signed in by device code once (the resource account has no other
/// client), then refreshing every working morning from the office, reading its calendar.
fn conference_room(log: &mut Log, start: DateTime<Utc>, end: DateTime<Utc>) {
    let device = Device {
        id: guid(&mut log.rng),
        name: "MTR-LYON-RHONE".into(),
        os: "Windows 10",
        browser: "Teams Rooms",
        compliant: true,
        trust: "Azure AD joined",
    };
    let session = guid(&mut log.rng);
    let net = office_nat();
    let mut day = start + Duration::days(3) + Duration::hours(8);
    let mut first = true;
    while day < end {
        if weekday(day) {
            let at = day + Duration::minutes(log.rng.i64(0..30));
            let token = log.sign_in(&Auth {
                upn: ROOM,
                at,
                net: &net,
                app: TEAMS,
                client: "Mobile Apps and Desktop clients",
                session: &session,
                interactive: first,
                incoming: if first { "none" } else { "refreshToken" },
                transfer: "deviceCodeFlow",
                protocol: if first { "deviceCode" } else { "none" },
                device: Some(&device),
                agent: ("Teams Rooms", "Windows 10"),
                user_agent: TEAMS_ROOM_UA,
                error: 0,
                mfa: None,
                risk: NO_RISK,
            });
            let access = Access::new(&token, REST_CLIENT);
            mailbox::sync(
                log,
                &access,
                token.issued + Duration::minutes(1),
                "Calendar",
            );
            first = false;
        }
        day += Duration::days(1);
    }
}

/// The helpdesk resets two people's MFA and registers a phone for them; the admin consents to
/// a well-known app for everyone.
fn directory_work(log: &mut Log, people: &[User], start: DateTime<Utc>) {
    let ip = office_nat().ip;
    let helpdesk = people.iter().find(|u| u.role == Role::Helpdesk);
    let admin = people.iter().find(|u| u.role == Role::Admin);
    if let Some(helpdesk) = helpdesk {
        let mut at = start + Duration::days(6) + Duration::hours(9);
        for user in people.iter().filter(|u| u.role == Role::Office).take(2) {
            log.audit(
                at,
                ADMIN_DELETED,
                Initiator::User {
                    upn: &helpdesk.upn,
                    ip: &ip,
                },
                user_target(&user.upn),
                json!([{"key": "Method", "value": "Microsoft Authenticator"}]),
            );
            log.audit(
                at + Duration::minutes(3),
                ADMIN_REGISTERED,
                Initiator::User {
                    upn: &helpdesk.upn,
                    ip: &ip,
                },
                user_target(&user.upn),
                json!([{"key": "Method", "value": "Phone"}]),
            );
            at += Duration::days(5);
        }
    }
    if let Some(admin) = admin {
        let (app, scopes) = [
            ("DocuSign", "User.Read openid profile offline_access"),
            ("Adobe Acrobat", "User.Read Files.ReadWrite offline_access"),
        ][log.rng.usize(..2)];
        let at = start + Duration::days(9) + Duration::hours(13);
        consent(log, at, (&admin.upn, &ip), app, scopes, true);
    }
}

/// Business as usual in Exchange: the admin gives the finance assistant the shared accounts
/// mailbox and forwards a leaver's mail to their manager; a person files newsletters by rule.
fn mailbox_admin(log: &mut Log, people: &[User], tokens: &[Token]) {
    let Some(admin) = people.iter().find(|u| u.role == Role::Admin) else {
        return;
    };
    let Some(token) = tokens.iter().find(|t| t.upn == admin.upn) else {
        return;
    };
    let at = token.issued + Duration::minutes(25);
    let shared = format!("compta@{DOMAIN}");
    let assistant = people.get(1).map(|u| u.upn.clone()).unwrap_or_default();
    log.admin(
        (&admin.upn, 2),
        Some(token),
        at,
        "Add-MailboxPermission",
        &shared,
        &[
            ("Identity", &shared),
            ("User", &assistant),
            ("AccessRights", "FullAccess"),
            ("InheritanceType", "All"),
        ],
    );
    let leaver = format!("olivier.marchand@{DOMAIN}");
    let manager = people.first().map(|u| u.upn.clone()).unwrap_or_default();
    log.admin(
        (&admin.upn, 2),
        Some(token),
        at + Duration::minutes(4),
        "Set-Mailbox",
        &leaver,
        &[
            ("Identity", &leaver),
            ("ForwardingSmtpAddress", &format!("smtp:{manager}")),
            ("DeliverToMailboxAndForward", "True"),
        ],
    );
    if let Some(token) = tokens
        .iter()
        .find(|t| Some(&t.upn) == people.get(8).map(|u| &u.upn))
    {
        let access = Access::new(token, OUTLOOK_CLIENT);
        mailbox::update_inbox_rules(
            log,
            &access,
            token.issued + Duration::minutes(12),
            (
                "Newsletters",
                "From contains 'newsletter@'",
                "MoveToFolder: Newsletters",
            ),
        );
    }
}

/// Password spraying: four to six addresses, each trying a few people every other day or so,
/// one attempt an hour; a person tried three times is locked out (50053).
fn spraying(
    log: &mut Log,
    people: &[User],
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<String> {
    let count = log.rng.usize(4..=6);
    let mut networks: Vec<_> = SPRAY_NETWORKS.to_vec();
    log.rng.shuffle(&mut networks);
    let mut addresses = Vec::new();
    for network in networks.into_iter().take(count) {
        let net = hosted(&mut log.rng, network);
        let mut at = start + Duration::hours(log.rng.i64(20..90));
        let mut tries: std::collections::BTreeMap<String, u32> = Default::default();
        while at < end {
            for _ in 0..log.rng.usize(2..5) {
                let user = &people[log.rng.usize(..people.len())];
                let tried = tries.entry(user.upn.clone()).or_default();
                *tried += 1;
                let session = guid(&mut log.rng);
                log.sign_in(&Auth {
                    upn: &user.upn,
                    at,
                    net: &net,
                    app: EXCHANGE_ONLINE,
                    client: "Other clients",
                    session: &session,
                    interactive: true,
                    incoming: "none",
                    transfer: "none",
                    protocol: "ropc",
                    device: None,
                    agent: ("", ""),
                    user_agent: SPRAY_UA,
                    error: if *tried >= 3 { 50053 } else { 50126 },
                    mfa: None,
                    risk: NO_RISK,
                });
                at += Duration::minutes(log.rng.i64(50..70));
            }
            at += Duration::hours(log.rng.i64(30..70));
        }
        addresses.push(net.ip);
    }
    addresses.sort();
    addresses
}
