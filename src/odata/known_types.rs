//! The activity and application types the reference documents: `--types` and `--app-types`
//! are checked against them (a misspelt type silently matches nothing), and
//! `--allow-unknown-types` lets a new one through.

/// Documented by the blog, and seen in the service's answers.
pub const ACTIVITY_TYPES: &[&str] = &[
    "Delete",
    "Forward",
    "LinkClicked",
    "MarkAsRead",
    "MarkAsUnread",
    "MessageDelivered",
    "MessageSent",
    "Move",
    "OpenedAnAttachment",
    "ReadingPaneDisplayEnd",
    "ReadingPaneDisplayStart",
    "Reply",
    "SearchResult",
    "ServerLogon",
    "Logon",
    "ReplyAll",
    "SearchSuggestionsDisplay",
    "AcceptCalendarEvent",
    "AcceptedMeetingRequest",
    "CancelMeeting",
    "ClutterNotificationSent",
    "ContactCreated",
    "CopyItem",
    "CreateAppointment",
    "CreateFolder",
    "CreateTask",
    "DeclineCalendarEvent",
    "DeclinedMeetingRequest",
    "DeleteCalendarEvent",
    "DeleteFolder",
    "DraftCreated",
    "Error",
    "FavoriteFolder",
    "Flag",
    "FlagCleared",
    "GetUserUnifiedGroups",
    "MarkMessageAsClutter",
    "MarkMessageAsNotClutter",
    "NewMessage",
    "SearchQueryExecute",
    "SearchRefinersDisplay",
    "SearchRequestEnd",
    "SearchSessionStart",
    "SendMeetingRequest",
    "SetConversationAlwaysClutterState",
    "TentativeMeetingRequest",
    "TentativelyAcceptCalendarEvent",
    "UpdateCalendarEvent",
];

pub const APP_TYPES: &[&str] = &[
    "Exchange",
    "IMAP4",
    "Lync",
    "MacMail",
    "MacOutlook",
    "Mobile",
    "Outlook",
    "POP3",
    "Web",
    "Other",
];

/// Why a value is not a known type, with the nearest known one when there is a close one.
pub fn unknown_type(value: &str, known: &[&str]) -> Option<String> {
    if known.contains(&value) {
        return None;
    }
    if let Some(exact) = known.iter().find(|k| k.eq_ignore_ascii_case(value)) {
        return Some(format!("did you mean {exact}? (types are case-sensitive)"));
    }
    let nearest = known
        .iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(&k.to_lowercase(), &value.to_lowercase()),
                *k,
            )
        })
        .min();
    Some(match nearest {
        Some((distance, k)) if distance <= 3 => format!("did you mean {k}?"),
        _ => format!("the documented ones are {}", known.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_documented_type() {
        assert_eq!(unknown_type("ServerLogon", ACTIVITY_TYPES), None);
        assert_eq!(
            unknown_type("ServerLogin", ACTIVITY_TYPES).as_deref(),
            Some("did you mean ServerLogon?")
        );
        assert!(unknown_type("serverlogon", ACTIVITY_TYPES)
            .unwrap()
            .contains("case-sensitive"));
        assert_eq!(
            unknown_type("IMAP", APP_TYPES).as_deref(),
            Some("did you mean IMAP4?")
        );
        assert!(unknown_type("Zzzzzzzzzz", APP_TYPES)
            .unwrap()
            .contains("documented ones are"));
    }
}
