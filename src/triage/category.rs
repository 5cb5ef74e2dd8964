//! What kind a finding is: each kind carries its MITRE ATT&CK technique and the analyst's next
//! step, so a new kind cannot be added without both.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
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
        }
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
