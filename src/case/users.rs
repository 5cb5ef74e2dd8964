//! The users file: one UPN per line, `#` comments and blank lines ignored.

use std::collections::HashSet;

/// The mailboxes of a batch, in file order, with what was collapsed.
#[derive(Debug, Default)]
pub struct UserList {
    pub users: Vec<String>,
    /// Notes on duplicates that were collapsed (line numbers included).
    pub notes: Vec<String>,
}

/// Parses a users file; every invalid line is reported with its number.
pub fn read_users(text: &str) -> Result<UserList, Vec<String>> {
    let mut list = UserList::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut first_line = std::collections::HashMap::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        if let Err(problem) = check_upn(entry) {
            errors.push(format!("line {number}: {entry:?} {problem}"));
            continue;
        }
        let key = entry.to_lowercase();
        if seen.insert(key.clone()) {
            first_line.insert(key, number);
            list.users.push(entry.to_string());
        } else {
            list.notes.push(format!(
                "line {number}: {entry} repeats line {} (case-insensitive); pulled once",
                first_line.get(&key).copied().unwrap_or(0)
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if list.users.is_empty() {
        return Err(vec![
            "the users file names no mailbox (one UPN per line)".to_string()
        ]);
    }
    Ok(list)
}

fn check_upn(entry: &str) -> Result<(), &'static str> {
    if entry.chars().any(char::is_whitespace) {
        return Err("contains white space: one UPN per line");
    }
    if entry.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    let Some((local, domain)) = entry.rsplit_once('@') else {
        return Err("is not a user principal name (no @)");
    };
    if local.is_empty()
        || domain.is_empty()
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err("is not a user principal name like user@contoso.com");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_comments_blanks_and_duplicates() {
        let list = read_users(
            "# case 42\nalice@contoso.com\n\n  Bob@Contoso.com  # cfo\nALICE@contoso.com\n",
        )
        .unwrap();
        assert_eq!(list.users, vec!["alice@contoso.com", "Bob@Contoso.com"]);
        assert_eq!(list.notes.len(), 1);
        assert!(list.notes[0].starts_with("line 5:") && list.notes[0].contains("line 2"));
    }

    #[test]
    fn reports_every_bad_line_with_its_number() {
        let errors =
            read_users("ok@contoso.com\nnot-an-upn\nx y@contoso.com\n@contoso.com\nz@localhost\n")
                .unwrap_err();
        let numbers: Vec<&str> = errors
            .iter()
            .map(|e| e.split(':').next().unwrap())
            .collect();
        assert_eq!(numbers, vec!["line 2", "line 3", "line 4", "line 5"]);
        assert!(read_users("# nothing\n").is_err());
    }
}
