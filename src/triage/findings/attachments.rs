//! 4. Attachments: risky AttachmentDetail types, and attachments opened.

use rustc_hash::FxHashMap as HashMap;

use super::super::analyze::*;
use super::super::events::Event;
use crate::triage::category::Category;

pub fn attachments(
    events: &[Event],
    delivered: &HashMap<&str, &Event>,
    findings: &mut Vec<Finding>,
    tables: &mut Vec<Table>,
) {
    let mut attachment_rows = Vec::new();
    let mut risky_items: HashMap<&str, Severity> = HashMap::default();
    for event in events.iter().filter(|e| &*e.kind == "MessageDelivered") {
        let Some(detail) = event.prop("AttachmentDetail") else {
            continue;
        };
        let extensions = attachment_extensions(detail);
        let severity = if extensions
            .iter()
            .any(|x| HIGH_RISK_EXTENSIONS.contains(&x.as_str()))
        {
            Severity::High
        } else if extensions
            .iter()
            .any(|x| LOW_RISK_EXTENSIONS.contains(&x.as_str()))
        {
            Severity::Low
        } else {
            continue;
        };
        risky_items.insert(&*event.item, severity);
        let sender = event
            .prop("SenderSmtpAddress")
            .or(event.prop("From"))
            .unwrap_or("");
        let subject = event.prop("Subject").unwrap_or("");
        findings.push(Finding {
            severity,
            category: Category::Attachment,
            title: format!("Risky attachment {detail:?} from {sender}"),
            detail: format!("delivered {}: subject {subject:?}", stamp(event.time)),
            activity_ids: vec![event.id.to_string()],
        });
        attachment_rows.push(vec![
            stamp(event.time),
            sender.to_string(),
            subject.to_string(),
            detail.to_string(),
            "delivered".into(),
            severity.as_str().into(),
            event.id.to_string(),
        ]);
    }
    for event in events.iter().filter(|e| &*e.kind == "OpenedAnAttachment") {
        let delivery = delivered.get(&*event.item);
        let severity = risky_items.get(&*event.item).copied();
        let subject = delivery.and_then(|d| d.prop("Subject")).unwrap_or("");
        let detail = delivery
            .and_then(|d| d.prop("AttachmentDetail"))
            .unwrap_or("");
        if severity == Some(Severity::High) {
            let mut ids = vec![event.id.to_string()];
            ids.extend(delivery.map(|d| d.id.to_string()));
            findings.push(Finding {
                severity: Severity::High,
                category: Category::Attachment,
                title: format!("Risky attachment opened: {detail:?}"),
                detail: format!(
                    "{} via {}: subject {subject:?}",
                    stamp(event.time),
                    event.app
                ),
                activity_ids: ids,
            });
        }
        attachment_rows.push(vec![
            stamp(event.time),
            String::new(),
            subject.to_string(),
            detail.to_string(),
            "opened".into(),
            severity.map(|s| s.as_str()).unwrap_or("").into(),
            event.id.to_string(),
        ]);
    }
    tables.push(Table {
        name: "attachments",
        columns: vec![
            "Time",
            "Sender",
            "Subject",
            "AttachmentDetail",
            "Event",
            "Risk",
            "Id",
        ],
        rows: cells(attachment_rows),
    });
}

const HIGH_RISK_EXTENSIONS: &[&str] = &[
    "htm", "html", "hta", "exe", "js", "jse", "vbs", "vbe", "wsf", "iso", "img", "lnk", "scr",
    "bat", "cmd", "ps1", "jar", "msi", "docm", "xlsm", "pptm", "svg", "one", "vhd",
];
/// Common in ordinary mail, so listed (low) rather than raised.
const LOW_RISK_EXTENSIONS: &[&str] = &["zip", "rar", "7z", "gz", "pdf", "doc", "xls", "rtf"];
/// Whether an AttachmentDetail value names a high-risk type (a lure's usual payload).
pub fn is_high_risk(detail: &str) -> bool {
    attachment_extensions(detail)
        .iter()
        .any(|x| HIGH_RISK_EXTENSIONS.contains(&x.as_str()))
}

/// File extensions and type words named in an AttachmentDetail value.
fn attachment_extensions(detail: &str) -> Vec<String> {
    detail
        .split(|c: char| !c.is_alphanumeric() && c != '.' && c != '_' && c != '-')
        .filter_map(|word| {
            let lower = word.to_lowercase();
            match lower.rsplit_once('.') {
                Some((_, ext)) if !ext.is_empty() => Some(ext.to_string()),
                _ if !lower.is_empty() => Some(lower),
                _ => None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_details_yield_extensions() {
        assert_eq!(
            attachment_extensions("Remittance_Advice_88213.htm (htm, ByValue)"),
            vec!["htm", "htm", "byvalue"]
        );
        assert!(
            attachment_extensions("notes.docx (docx, ByValue); photo.jpg (jpg, Inline)")
                .contains(&"jpg".to_string())
        );
    }
}
