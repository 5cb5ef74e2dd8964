//! The identity evidence of a triage: sign-in and directory-audit JSON Lines written by pull,
//! indexed by person (where each person's records stand), and the tenant-wide part kept small
//! (failures per source address, for password spraying). A person's records are read when
//! their mailbox is analysed, so memory stays one mailbox's.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::records::{DirectoryAudit, IdentityKind, SignIn};
use crate::error::AppError;
use crate::output::Manifest;

fn io_error(path: &Path, e: impl std::fmt::Display) -> AppError {
    AppError::Usage(format!("cannot read {}: {e}", path.display()))
}

/// The identity log a file holds: what the manifest beside it says its source was, or without
/// one what its first record looks like. `None` for a file of other records.
pub fn detect(path: &Path) -> Result<Option<IdentityKind>, AppError> {
    let beside = [
        PathBuf::from(format!("{}.manifest.json", path.display())),
        path.with_extension("jsonl.manifest.json"),
    ];
    for manifest in beside {
        if let Ok(manifest) = Manifest::read(&manifest) {
            // A manifest that names another source (an audit log pull) says nothing here.
            if let Some(kind) = IdentityKind::from_source(&manifest.query.source) {
                return Ok(Some(kind));
            }
        }
    }
    Ok(first_record(path)?
        .as_ref()
        .and_then(IdentityKind::of_record))
}

/// The first record of a JSON Lines file (`None` when it is empty or its first line is not a
/// JSON object).
pub fn first_record(path: &Path) -> Result<Option<Value>, AppError> {
    let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
    for line in BufReader::new(file).lines() {
        let line = line.map_err(|e| io_error(path, e))?;
        let line = line.trim_start_matches('\u{feff}').trim();
        if line.is_empty() {
            continue;
        }
        return Ok(serde_json::from_str::<Value>(line)
            .ok()
            .filter(Value::is_object));
    }
    Ok(None)
}

/// Sign-in failures that say a password was tried: 50126 invalid username or password, 50053
/// locked (smart lockout), 50034 no such user (entra-docs, sign-in error codes).
const CREDENTIAL_FAILURES: &[i64] = &[50126, 50053, 50034];

/// One address's sign-in failures across the tenant.
#[derive(Debug, Clone, Default)]
pub struct SpraySource {
    pub failures: u64,
    /// The users whose passwords it tried.
    pub users: BTreeSet<String>,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// The first failures' sign-in ids (at most `IDS_KEPT`).
    pub ids: Vec<String>,
    /// Each user's first successful sign-in from the address after its first failure (one a
    /// user, so an office address with one typo does not keep every later sign-in).
    pub successes: BTreeMap<String, String>,
}

const IDS_KEPT: usize = 50;

/// Where one record stands: its file and byte offset.
type RecordAt = (u32, u64);

/// Every identity file of a triage, indexed by person.
#[derive(Debug, Default)]
pub struct IdentityEvidence {
    files: Vec<(PathBuf, IdentityKind)>,
    index: BTreeMap<String, Vec<RecordAt>>,
    /// Failures per source address, tenant-wide.
    pub spray: BTreeMap<String, SpraySource>,
    /// The users seen signing in (or failing to), tenant-wide.
    pub users_seen: BTreeSet<String>,
    /// The newest record of every file.
    pub newest: Option<DateTime<Utc>>,
}

/// One person's identity records, oldest first.
#[derive(Debug, Clone, Default)]
pub struct PersonEvidence {
    pub signins: Vec<SignIn>,
    pub audits: Vec<DirectoryAudit>,
}

impl IdentityEvidence {
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The people with records, lowercase.
    pub fn people(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(String::as_str)
    }

    /// Reads `path` once: where each person's records stand, and the spraying counts.
    pub fn add_file(&mut self, path: &Path, kind: IdentityKind) -> Result<(), AppError> {
        let file_index = self.files.len() as u32;
        let file = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
        let mut input = BufReader::new(file);
        let (mut line, mut offset) = (String::new(), 0u64);
        for number in 1u64.. {
            line.clear();
            let read = input.read_line(&mut line).map_err(|e| io_error(path, e))?;
            if read == 0 {
                break;
            }
            let at = offset;
            offset += read as u64;
            let Some(record) = parse_line(path, &line, number, kind)? else {
                continue;
            };
            let people: Vec<String> = match kind {
                IdentityKind::SignIns => {
                    let signin = SignIn::from_value(&record);
                    self.count(&signin);
                    vec![signin.user]
                }
                IdentityKind::DirectoryAudits => {
                    let audit = DirectoryAudit::from_value(&record);
                    self.newest = self.newest.max(audit.time);
                    let people: BTreeSet<String> = audit.people().map(str::to_string).collect();
                    people.into_iter().collect()
                }
            };
            for person in people.into_iter().filter(|p| !p.is_empty()) {
                self.index.entry(person).or_default().push((file_index, at));
            }
        }
        self.files.push((path.to_path_buf(), kind));
        Ok(())
    }

    fn count(&mut self, signin: &SignIn) {
        self.newest = self.newest.max(signin.time);
        if !signin.user.is_empty() {
            self.users_seen.insert(signin.user.clone());
        }
        if CREDENTIAL_FAILURES.contains(&signin.error) {
            let source = self.spray.entry(signin.ip.clone()).or_default();
            source.failures += 1;
            source.users.insert(signin.user.clone());
            source.first = source.first.min(signin.time).or(signin.time);
            source.last = source.last.max(signin.time);
            if source.ids.len() < IDS_KEPT {
                source.ids.push(signin.id.clone());
            }
        } else if signin.succeeded() {
            // Only addresses that failed already are followed: the tenant-wide part stays
            // the size of the failures, not of every sign-in.
            if let Some(source) = self.spray.get_mut(&signin.ip) {
                if source.first.is_some_and(|first| Some(first) <= signin.time) {
                    source
                        .successes
                        .entry(signin.user.clone())
                        .or_insert_with(|| signin.id.clone());
                }
            }
        }
    }

    /// `person`'s records (lowercase name), read from where they stand.
    pub fn person(&self, person: &str) -> Result<PersonEvidence, AppError> {
        let mut evidence = PersonEvidence::default();
        let Some(places) = self.index.get(person) else {
            return Ok(evidence);
        };
        // Each file's reader and where it stands: a record that follows the last one read is
        // read on without a seek (a person's records of one file are in file order).
        let mut readers: Vec<Option<(BufReader<std::fs::File>, u64)>> =
            self.files.iter().map(|_| None).collect();
        let mut line = String::new();
        for &(file, offset) in places {
            let (path, kind) = &self.files[file as usize];
            let (reader, at) = match &mut readers[file as usize] {
                Some(reader) => reader,
                slot => {
                    let opened = std::fs::File::open(path).map_err(|e| io_error(path, e))?;
                    slot.insert((BufReader::new(opened), 0))
                }
            };
            if *at != offset {
                reader
                    .seek_relative(offset as i64 - *at as i64)
                    .map_err(|e| io_error(path, e))?;
            }
            line.clear();
            let read = reader.read_line(&mut line).map_err(|e| io_error(path, e))?;
            *at = offset + read as u64;
            let record = parse_line(path, &line, 0, *kind)?
                .ok_or_else(|| io_error(path, "it changed while it was read (a record is gone)"))?;
            match kind {
                IdentityKind::SignIns => evidence.signins.push(SignIn::from_value(&record)),
                IdentityKind::DirectoryAudits => {
                    evidence.audits.push(DirectoryAudit::from_value(&record))
                }
            }
        }
        evidence
            .signins
            .sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        evidence
            .audits
            .sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        // One record in two files (a tenant-wide pull and a user's) is one record.
        evidence
            .signins
            .dedup_by(|a, b| a.id == b.id && !a.id.is_empty());
        evidence
            .audits
            .dedup_by(|a, b| a.id == b.id && !a.id.is_empty());
        Ok(evidence)
    }
}

fn parse_line(
    path: &Path,
    line: &str,
    number: u64,
    kind: IdentityKind,
) -> Result<Option<Value>, AppError> {
    let line = line.trim_start_matches('\u{feff}');
    if line.trim().is_empty() {
        return Ok(None);
    }
    let place = if number > 0 {
        format!(" line {number}")
    } else {
        String::new()
    };
    let record: Value = serde_json::from_str(line).map_err(|e| {
        AppError::Usage(format!(
            "{}{place}: not one of the {} pull writes ({e})",
            path.display(),
            kind.name()
        ))
    })?;
    Ok(Some(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signin(id: &str, user: &str, ip: &str, minute: u32, error: i64) -> String {
        json!({"id": id, "createdDateTime": format!("2024-05-01T10:{minute:02}:00Z"),
            "userPrincipalName": user, "ipAddress": ip, "status": {"errorCode": error}})
        .to_string()
    }

    #[test]
    fn a_person_is_read_from_a_tenant_wide_file_and_failures_are_counted_per_address() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signins.jsonl");
        let lines = [
            signin("a", "ann@contoso.com", "1.1.1.1", 1, 0),
            signin("b", "bob@contoso.com", "9.9.9.9", 2, 50126),
            signin("c", "ann@contoso.com", "9.9.9.9", 3, 50126),
            signin("d", "bob@contoso.com", "9.9.9.9", 4, 0),
            signin("e", "ann@contoso.com", "2.2.2.2", 5, 0),
        ];
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        assert_eq!(detect(&path).unwrap(), Some(IdentityKind::SignIns));
        let mut evidence = IdentityEvidence::default();
        evidence.add_file(&path, IdentityKind::SignIns).unwrap();
        let ann = evidence.person("ann@contoso.com").unwrap();
        let ids: Vec<&str> = ann.signins.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "e"]);
        let spray = &evidence.spray["9.9.9.9"];
        assert_eq!((spray.failures, spray.users.len()), (2, 2));
        let successes: Vec<(&str, &str)> = spray
            .successes
            .iter()
            .map(|(u, id)| (u.as_str(), id.as_str()))
            .collect();
        assert_eq!(successes, [("bob@contoso.com", "d")]);
        assert!(!evidence.spray.contains_key("1.1.1.1"));
    }

    #[test]
    fn the_manifest_beside_a_file_names_its_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.jsonl");
        // Records that are not recognisable by shape alone.
        std::fs::write(&path, "{\"id\": \"1\"}\n").unwrap();
        assert_eq!(detect(&path).unwrap(), None);
        let manifest = json!({"tool": "t", "tool_version": "1", "started_at": "", "finished_at": "",
            "status": "complete", "query": {"source": "directory-audits", "base_url": "",
            "api_version": "", "mailbox": "", "filter": "", "paging": "", "page_size": 0,
            "select": null, "first_request": ""}, "records": 1, "pages": 1, "requests": 1,
            "retries": 0, "throttle_waits": 0, "throttle_wait_seconds": 0.0, "files": []});
        std::fs::write(
            dir.path().join("x.jsonl.manifest.json"),
            manifest.to_string(),
        )
        .unwrap();
        assert_eq!(detect(&path).unwrap(), Some(IdentityKind::DirectoryAudits));
    }
}
