//! The allowed signers file, in ssh-keygen's format (ssh-keygen(1), "ALLOWED SIGNERS"):
//! one key a line, `principals [options] keytype base64-key [comment]`, `#` comments and blank
//! lines ignored. Options honoured: `namespaces="..."` (the key signs only in those
//! namespaces), `valid-after=` and `valid-before=` (checked against the current time, as
//! ssh-keygen does for a signature without a certificate), and `cert-authority` (a line for
//! certificates, which a plain key's signature never matches).

use std::path::Path;

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ssh_key::public::KeyData;
use ssh_key::PublicKey;

use crate::error::AppError;

/// One line's key and what it allows.
#[derive(Debug, Clone)]
pub struct AllowedSigner {
    /// The principals, as written (comma-separated patterns).
    pub principals: String,
    key: KeyData,
    namespaces: Option<Vec<String>>,
    valid_after: Option<DateTime<Utc>>,
    valid_before: Option<DateTime<Utc>>,
    cert_authority: bool,
    pub line: usize,
}

#[derive(Debug, Clone, Default)]
pub struct AllowedSigners {
    signers: Vec<AllowedSigner>,
}

impl AllowedSigners {
    pub fn read(path: &Path) -> Result<Self, AppError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            AppError::Usage(format!(
                "cannot read --allowed-signers {}: {e}",
                path.display()
            ))
        })?;
        Self::parse(&text).map_err(|errors| {
            AppError::Usage(format!(
                "--allowed-signers {} has lines to fix (the format is ssh-keygen's: \
                 `PRINCIPALS [OPTIONS] ssh-ed25519 AAAA...`):\n  {}",
                path.display(),
                errors.join("\n  ")
            ))
        })
    }

    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let mut signers = Vec::new();
        let mut errors = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            match parse_line(trimmed, line_no) {
                Ok(signer) => signers.push(signer),
                Err(error) => errors.push(format!("line {line_no}: {error}")),
            }
        }
        if errors.is_empty() {
            Ok(AllowedSigners { signers })
        } else {
            Err(errors)
        }
    }

    /// The principals of every line that allows `key` to sign in `namespace` at `now`.
    pub fn principals_for(
        &self,
        key: &KeyData,
        namespace: &str,
        now: DateTime<Utc>,
    ) -> Vec<String> {
        self.signers
            .iter()
            .filter(|s| !s.cert_authority && &s.key == key)
            .filter(|s| {
                s.namespaces
                    .as_ref()
                    .is_none_or(|list| list.iter().any(|p| glob(p, namespace)))
            })
            .filter(|s| s.valid_after.is_none_or(|t| now >= t))
            .filter(|s| s.valid_before.is_none_or(|t| now < t))
            .map(|s| s.principals.clone())
            .collect()
    }

    pub fn is_empty(&self) -> bool {
        self.signers.is_empty()
    }
}

/// Splits at unquoted whitespace, keeping quotes (options are `name="value"`).
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn is_key_type(field: &str) -> bool {
    field.starts_with("ssh-") || field.starts_with("ecdsa-") || field.starts_with("sk-")
}

fn parse_line(line: &str, line_no: usize) -> Result<AllowedSigner, String> {
    let fields = fields(line);
    let principals = fields
        .first()
        .ok_or("no principals")?
        .trim_matches('"')
        .to_string();
    let (options, key_at) = match fields.get(1) {
        Some(f) if is_key_type(f) => (None, 1),
        Some(f) => (Some(f.as_str()), 2),
        None => return Err("no key after the principals".into()),
    };
    let key_type = fields.get(key_at).ok_or("no key type")?;
    let base64 = fields.get(key_at + 1).ok_or("no key after its type")?;
    let key = PublicKey::from_openssh(&format!("{key_type} {base64}"))
        .map_err(|e| format!("the key cannot be read ({e})"))?;
    let mut signer = AllowedSigner {
        principals,
        key: key.key_data().clone(),
        namespaces: None,
        valid_after: None,
        valid_before: None,
        cert_authority: false,
        line: line_no,
    };
    for option in options.map(split_options).unwrap_or_default() {
        let (name, value) = match option.split_once('=') {
            Some((name, value)) => (name.to_ascii_lowercase(), Some(value.trim_matches('"'))),
            None => (option.to_ascii_lowercase(), None),
        };
        match (name.as_str(), value) {
            ("cert-authority", None) => signer.cert_authority = true,
            ("namespaces", Some(list)) => {
                signer.namespaces = Some(list.split(',').map(|s| s.trim().to_string()).collect())
            }
            ("valid-after", Some(time)) => signer.valid_after = Some(timestamp(time)?),
            ("valid-before", Some(time)) => signer.valid_before = Some(timestamp(time)?),
            _ => return Err(format!("unknown option {option:?}")),
        }
    }
    Ok(signer)
}

/// Options are comma-separated; a comma inside quotes belongs to the value.
fn split_options(options: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in options.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `YYYYMMDD[HHMM[SS]]`, local time unless it ends in `Z` (UTC), as ssh-keygen reads it.
fn timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    let (digits, utc) = match text.strip_suffix(['Z', 'z']) {
        Some(digits) => (digits, true),
        None => (text, false),
    };
    let naive = match digits.len() {
        8 => NaiveDate::parse_from_str(digits, "%Y%m%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
        12 => NaiveDateTime::parse_from_str(digits, "%Y%m%d%H%M").ok(),
        14 => NaiveDateTime::parse_from_str(digits, "%Y%m%d%H%M%S").ok(),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?} is not a time of the form YYYYMMDD[HHMM[SS]][Z]"))?;
    if utc {
        Ok(Utc.from_utc_datetime(&naive))
    } else {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| format!("{text:?} does not exist in the local time zone"))
    }
}

/// ssh's pattern matching: `*` any run of characters, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    fn matches(p: &[char], t: &[char]) -> bool {
        match (p.first(), t.first()) {
            (None, None) => true,
            (Some('*'), _) => matches(&p[1..], t) || (!t.is_empty() && matches(p, &t[1..])),
            (Some('?'), Some(_)) => matches(&p[1..], &t[1..]),
            (Some(a), Some(b)) if a == b => matches(&p[1..], &t[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    matches(&p, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOhEEoPIiu4Ga0kgRbkj5hoeNjHR2JYvgX/jNTbcrE2z";

    #[test]
    fn reads_keys_options_and_comments() {
        let text = format!(
            "# analysts\n\nanalyst@contoso.com {KEY} laptop\n\
             \"a@x,b@x\" namespaces=\"o365-*,git\",valid-after=20200101 {KEY}\n\
             ca@x cert-authority {KEY}\n\
             old@x valid-before=20200101Z {KEY}\n"
        );
        let signers = AllowedSigners::parse(&text).unwrap();
        let key = PublicKey::from_openssh(KEY).unwrap();
        let now = Utc::now();
        assert_eq!(
            signers.principals_for(key.key_data(), "o365-activities", now),
            vec!["analyst@contoso.com", "a@x,b@x"]
        );
        // Another namespace: only the line without a namespace restriction.
        assert_eq!(
            signers.principals_for(key.key_data(), "file", now),
            vec!["analyst@contoso.com"]
        );
    }

    #[test]
    fn names_the_lines_to_fix() {
        let errors =
            AllowedSigners::parse("a@x\nb@x ssh-ed25519 notbase64\nc@x bogus ").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("line 1:"), "{errors:?}");
        assert!(
            errors[1].starts_with("line 2: the key cannot be read"),
            "{errors:?}"
        );
        let errors = AllowedSigners::parse(&format!("a@x frobnicate {KEY}")).unwrap_err();
        assert!(errors[0].contains("unknown option"), "{errors:?}");
    }

    #[test]
    fn globs_as_ssh_does() {
        assert!(glob("o365-*", "o365-activities"));
        assert!(glob("o365-activitie?", "o365-activities"));
        assert!(!glob("git", "o365-activities"));
    }
}
