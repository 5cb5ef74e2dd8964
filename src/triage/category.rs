//! What kind a finding is: each kind carries its MITRE ATT&CK technique and the analyst's next
//! step, so a new kind cannot be added without both.

use serde::Serialize;

/// Serialized as `name()` gives it (kebab-case: `stolen-session`, `mfa-method`; the one-word
/// kinds as they always were).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Logon,
    Session,
    Search,
    Client,
    Attachment,
    Rule,
    Forwarding,
    Hiding,
    /// A new mobile device partnership (Exchange ActiveSync): persistence that outlives a
    /// password reset until the partnership is removed.
    Device,
    /// A sign-in session (or its token) replayed by someone other than the owner.
    StolenSession,
    /// An interactive sign-in proxied by an adversary-in-the-middle kit.
    Aitm,
    /// A device-code sign-in the person did not start (device-code phishing).
    DeviceCode,
    /// Password spraying: one source failing against many users.
    Spraying,
    /// An MFA method registered by the attacker.
    MfaMethod,
    /// Consent or a permission grant to an application, or a service principal added.
    Consent,
    /// Mailbox or SendAs permissions given to another account.
    MailboxPermission,
    /// The unified audit log switched off.
    AuditDisabled,
    /// What an attacker session read.
    Exposure,
}

impl Category {
    /// The name reports and exports use.
    pub fn name(self) -> &'static str {
        match self {
            Category::Logon => "logon",
            Category::Session => "session",
            Category::Search => "search",
            Category::Client => "client",
            Category::Attachment => "attachment",
            Category::Rule => "rule",
            Category::Forwarding => "forwarding",
            Category::Hiding => "hiding",
            Category::Device => "device",
            Category::StolenSession => "stolen-session",
            Category::Aitm => "aitm",
            Category::DeviceCode => "device-code",
            Category::Spraying => "spraying",
            Category::MfaMethod => "mfa-method",
            Category::Consent => "consent",
            Category::MailboxPermission => "mailbox-permission",
            Category::AuditDisabled => "audit-disabled",
            Category::Exposure => "exposure",
        }
    }

    pub fn technique(self) -> &'static str {
        match self {
            Category::Logon | Category::Session => "T1078 Valid Accounts",
            Category::Search | Category::Client => "T1114.002 Remote Email Collection",
            Category::Attachment => "T1566.001 Spearphishing Attachment",
            Category::Rule | Category::Hiding => "T1564.008 Email Hiding Rules",
            Category::Forwarding => "T1114.003 Email Forwarding Rule",
            Category::Device => "T1098.005 Account Manipulation: Device Registration",
            Category::StolenSession => {
                "T1550.004 Use Alternate Authentication Material: Web Session Cookie"
            }
            Category::Aitm => "T1557 Adversary-in-the-Middle",
            Category::DeviceCode => "T1528 Steal Application Access Token",
            Category::Spraying => "T1110.003 Brute Force: Password Spraying",
            Category::MfaMethod => "T1098.005 Account Manipulation: Device Registration",
            Category::Consent => "T1528 Steal Application Access Token",
            Category::MailboxPermission => {
                "T1098.002 Account Manipulation: Additional Email Delegate Permissions"
            }
            Category::AuditDisabled => "T1562.008 Impair Defenses: Disable or Modify Cloud Logs",
            Category::Exposure => "T1114.002 Remote Email Collection",
        }
    }

    pub fn next_step(self) -> &'static str {
        match self {
            Category::Logon => "revoke the user's sessions, reset the password and MFA methods, block the source, and look for it in the other mailboxes",
            Category::Session => "review every action of the session below, then revoke the user's sessions and reset the password",
            Category::Search => "find what the search returned (ResIds) and warn finance that those threads are known to the attacker",
            Category::Client => "disable IMAP and POP for the mailbox and treat the whole mailbox as copied",
            Category::Attachment => "warn finance and the other recipients of the lookalike sender, block its domain, and find the lure in other mailboxes",
            Category::Rule => "remove the rule, read what it moved, deleted or forwarded, and revoke the sessions of whoever made it",
            Category::Forwarding => "remove the forwarding, and treat every message since as copied to that address",
            Category::Hiding => "check inbox rules and forwarding, recover the moved or deleted items and read the thread they hid",
            Category::Device => "ask the owner whether they added this device; if not, remove the partnership (Get-MobileDevice, Remove-MobileDevice), block its device id, revoke the user's sessions and reset the password",
            Category::StolenSession => "revoke the user's sign-in sessions now (Revoke-MgUserSignInSession), then work through the remediation list below",
            Category::Aitm => "revoke the user's sessions, find the phish that led to the proxy, block its domain, and require phishing-resistant MFA",
            Category::DeviceCode => "revoke the user's sessions, find the message with the device code, and block the device code flow by Conditional Access",
            Category::Spraying => "block the source, check every user it tried for a success after the failures, and enforce MFA and smart lockout",
            Category::MfaMethod => "remove the method (Get-MgUserAuthenticationMethod, then remove it), revoke the user's sessions and ask the owner which methods are theirs",
            Category::Consent => "remove the grant and the service principal (Remove-MgOauth2PermissionGrant, Remove-MgServicePrincipal) and review what it read",
            Category::MailboxPermission => "remove the permission (Remove-MailboxPermission, Remove-RecipientPermission) and review what the grantee read or sent",
            Category::AuditDisabled => "switch the audit log back on (Set-AdminAuditLogConfig -UnifiedAuditLogIngestionEnabled $true) and treat the gap as unaudited",
            Category::Exposure => "tell the owners of the messages listed in --exposed that the attacker read them, and warn finance of the threads among them",
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Category;

    #[test]
    fn a_category_serializes_as_its_name() {
        for category in [
            Category::Logon,
            Category::StolenSession,
            Category::Aitm,
            Category::DeviceCode,
            Category::Spraying,
            Category::MfaMethod,
            Category::Consent,
            Category::MailboxPermission,
            Category::AuditDisabled,
            Category::Exposure,
        ] {
            assert_eq!(
                serde_json::to_value(category).unwrap(),
                category.name(),
                "{category:?}"
            );
        }
    }
}
