//! The mock's own file writing and time parsing: it shares no code with the client it checks,
//! so a bug in the client's parsing or commit cannot hide itself in the emulator's answers.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}: {source}", path.display())]
pub struct MockFileError {
    action: &'static str,
    path: PathBuf,
    source: std::io::Error,
}

/// Streams a file into place: written beside `path` under a hidden name of this process,
/// flushed to disk, then renamed, so nothing half-written ever stands at `path`.
pub fn write_atomically_with(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<File>) -> std::io::Result<()>,
) -> Result<(), MockFileError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let temporary = path.with_file_name(format!(".{name}.{}.mock.tmp", std::process::id()));
    let failed = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| MockFileError {
            action,
            path,
            source,
        }
    };
    let file = File::create(&temporary).map_err(failed("create", &temporary))?;
    let mut out = BufWriter::new(file);
    let written = write(&mut out)
        .and_then(|()| out.flush())
        .and_then(|()| out.get_ref().sync_all());
    drop(out);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(failed("write", &temporary)(e));
    }
    std::fs::rename(&temporary, path).map_err(failed("rename into", path))
}

/// A time as the mock's records and its clients' query strings carry it: RFC 3339, or the
/// service's zone-less form (taken as UTC).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|naive| naive.and_utc())
        })
}

/// The text of a search's `<Query><RawQuery>…</RawQuery>…</Query>` (the Activities API's
/// `Query` property, as the generator writes it), or the property itself when it is plain. A
/// property cut short before `</RawQuery>` (the API cuts long values) gives the text it holds.
pub fn raw_query_text(query: &str) -> String {
    let Some(rest) = query.trim_start().strip_prefix("<Query>") else {
        return query.to_string();
    };
    let Some(raw) = rest.strip_prefix("<RawQuery>") else {
        return String::new();
    };
    let raw = raw.split_once("</RawQuery>").map_or(raw, |(raw, _)| raw);
    quick_xml::escape::unescape(raw)
        .map(|text| text.into_owned())
        .unwrap_or_else(|_| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_and_without_a_zone() {
        let t = parse_time("2018-05-01T10:00:00.5Z").unwrap();
        assert_eq!(parse_time("2018-05-01T12:00:00.5+02:00"), Some(t));
        assert_eq!(parse_time("2018-05-01T10:00:00.5"), Some(t));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn a_query_cut_before_its_closing_tag_keeps_the_text_it_holds() {
        let cut = format!("<Query><RawQuery>invoice &amp; {}", "x".repeat(980));
        assert_eq!(
            raw_query_text(&cut),
            format!("invoice & {}", "x".repeat(980))
        );
        // An entity cut in half is kept as written.
        assert_eq!(raw_query_text("<Query><RawQuery>wire &am"), "wire &am");
    }

    #[test]
    fn the_raw_query_of_a_search() {
        let xml = "<Query><RawQuery>wire &amp; transfer</RawQuery><RankingQuery>any </RankingQuery></Query>";
        assert_eq!(raw_query_text(xml), "wire & transfer");
        assert_eq!(raw_query_text("invoice"), "invoice");
    }
}
